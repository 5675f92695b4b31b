//! From a request frame to the future of its response frame.
//!
//! `start` runs in the connection's read loop, in request order. It decodes
//! the request and, for Produce, performs the ordered part (appends and
//! cross-shard sends) before returning; everything else happens inside the
//! returned future, which the connection runs concurrently with later
//! requests and awaits in order when writing responses.
//!
//! Client quotas (`throttle`) are looked up once the header names the
//! client id; without any, a request costs one flag check more.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::codec::decode;
use super::throttle::{self, ConnectionThrottle};
use super::{unimplemented, versions};
use crate::handlers;
use crate::net::Frame;
use crate::security::session::Session;
use crate::shard::Shard;

/// The response frame to write, or `None` when Kafka sends no response
/// (Produce with acks=0). An `Err` closes the connection.
pub type Pending = Pin<Box<dyn Future<Output = Result<Option<Frame>, String>>>>;

/// Decodes `frame` (without its length prefix) and starts handling it.
/// `Err` means the frame is not a request fjord can answer: the connection is
/// closed and the reason logged once.
pub async fn start(
    shard: &Rc<Shard>,
    frame: Bytes,
    session: &Rc<Session>,
    throttle: &Rc<ConnectionThrottle>,
) -> Result<Pending, String> {
    let key = if frame.len() >= 2 {
        frame.slice(0..2).get_i16()
    } else {
        -1
    };
    shard.metrics.request(key);
    let started = Instant::now();
    let size = frame.len();
    let pending = start_inner(shard, frame, session, throttle, started)
        .await
        .inspect_err(|_| shard.metrics.error(key))?;
    // Produce and Fetch also get their bytes and latency recorded.
    let Ok(api @ (ApiKey::Produce | ApiKey::Fetch)) = ApiKey::try_from(key) else {
        return Ok(pending);
    };
    let shard = shard.clone();
    Ok(Box::pin(async move {
        let response = pending.await;
        if let Ok(frame) = &response {
            let took = started.elapsed();
            match api {
                ApiKey::Produce => shard.metrics.produced(size, took),
                _ => shard
                    .metrics
                    .fetched(frame.as_ref().map_or(0, Frame::len), took),
            }
        }
        response
    }))
}

async fn start_inner(
    shard: &Rc<Shard>,
    mut frame: Bytes,
    session: &Rc<Session>,
    throttle: &Rc<ConnectionThrottle>,
    started: Instant,
) -> Result<Pending, String> {
    let size = frame.len();
    if frame.len() < 8 {
        return Err(format!(
            "request frame of {} bytes is too short",
            frame.len()
        ));
    }
    let key = frame.slice(0..2).get_i16();
    let version = frame.slice(2..4).get_i16();
    let Ok(api_key) = ApiKey::try_from(key) else {
        return Err(format!("unknown API key {key}"));
    };
    if api_key == ApiKey::ApiVersions && !versions::is_supported(api_key, version) {
        // KIP-511: answer an unknown ApiVersions version with a v0 response
        // carrying UNSUPPORTED_VERSION and our ranges, so the client retries.
        let correlation_id = frame.slice(4..8).get_i32();
        let body = handlers::api_versions::unsupported_version();
        return Ok(ready(super::codec::encode_response(
            api_key,
            0,
            correlation_id,
            &body,
        )));
    }
    if !versions::is_supported(api_key, version) {
        let correlation_id = frame.slice(4..8).get_i32();
        return match unimplemented::error_reply(api_key, version, correlation_id) {
            Some(reply) => {
                tracing::debug!("{api_key:?} v{version} is not implemented: error reply");
                Ok(ready(Ok(reply)))
            }
            None => Err(format!("{api_key:?} v{version} is not supported")),
        };
    }
    let header_version = api_key.request_header_version(version);
    let header: RequestHeader = decode(&mut frame, header_version)?;
    let correlation_id = header.correlation_id;
    let client_id = header.client_id.as_deref();
    let quota = throttle::for_request(shard, throttle, session, client_id, started);

    macro_rules! respond {
        ($request:ty, $handler:path) => {{
            let request: $request = decode(&mut frame, version)?;
            let shard = shard.clone();
            let session = session.clone();
            let quota = quota.clone();
            Ok(throttle::timed(
                &quota.clone(),
                Box::pin(async move {
                    let mut response = $handler(&shard, &session, version, request).await;
                    throttle::respond(&shard, quota.as_deref(), &mut response);
                    framed(api_key, version, correlation_id, &response)
                }),
            ))
        }};
    }

    use kafka_protocol::messages as m;
    match api_key {
        ApiKey::Produce => {
            let request: m::ProduceRequest = decode(&mut frame, version)?;
            // Counted on arrival, so the reader is muted before the next.
            let produce_throttle = quota.as_ref().map_or(0, |q| q.produce(shard, size));
            let pending = handlers::produce::start(shard, session, version, request).await;
            let shard = shard.clone();
            let timed_quota = quota.clone();
            let pending = Box::pin(async move {
                match pending.await {
                    Some(mut response) => {
                        throttle::respond(&shard, quota.as_deref(), &mut response);
                        let ms = response.throttle_time_ms.max(produce_throttle);
                        response.throttle_time_ms = ms;
                        framed(api_key, version, correlation_id, &response)
                    }
                    None => Ok(None),
                }
            });
            Ok(throttle::timed(&timed_quota, pending))
        }
        ApiKey::Fetch => {
            let mut request: m::FetchRequest = decode(&mut frame, version)?;
            // Followers are not clients: no quota.
            let quota = quota.filter(|_| handlers::fetch::replica_id(&request, version).is_none());
            if let Some(cap) = quota.as_ref().and_then(|q| q.fetch_cap(shard)) {
                let cap = i32::try_from(cap).unwrap_or(i32::MAX);
                request.max_bytes = match request.max_bytes {
                    m if m <= 0 => cap,
                    m => m.min(cap),
                };
            }
            let shard = shard.clone();
            let session = session.clone();
            let timed_quota = quota.clone();
            let pending = Box::pin(async move {
                let reply = handlers::fetch::handle(&shard, &session, version, request).await;
                let frame = reply.encode(version, correlation_id, 0);
                let Some(quota) = quota else {
                    return Ok(Some(frame));
                };
                match quota.fetch(&shard, frame.len()) {
                    0 => Ok(Some(frame)),
                    // Over a quota: an empty response, as Kafka answers.
                    ms => {
                        let empty = handlers::fetch::FetchReply::default();
                        Ok(Some(empty.encode(version, correlation_id, ms)))
                    }
                }
            });
            Ok(throttle::timed(&timed_quota, pending))
        }
        ApiKey::ListOffsets => respond!(m::ListOffsetsRequest, handlers::list_offsets::handle),
        ApiKey::Metadata => respond!(m::MetadataRequest, handlers::metadata::handle),
        ApiKey::ApiVersions => respond!(m::ApiVersionsRequest, handlers::api_versions::handle),
        ApiKey::CreateTopics => respond!(m::CreateTopicsRequest, handlers::create_topics::handle),
        ApiKey::DeleteTopics => respond!(m::DeleteTopicsRequest, handlers::delete_topics::handle),
        ApiKey::InitProducerId => {
            respond!(m::InitProducerIdRequest, handlers::init_producer_id::handle)
        }
        ApiKey::DescribeConfigs => {
            respond!(
                m::DescribeConfigsRequest,
                handlers::describe_configs::handle
            )
        }
        ApiKey::FindCoordinator => {
            respond!(
                m::FindCoordinatorRequest,
                handlers::find_coordinator::handle
            )
        }
        ApiKey::JoinGroup => {
            let request: m::JoinGroupRequest = decode(&mut frame, version)?;
            let client_id = client_id.unwrap_or_default().to_string();
            let client_host = format!("/{}", session.host);
            let shard = shard.clone();
            let session = session.clone();
            let timed_quota = quota.clone();
            let pending = Box::pin(async move {
                let mut response = handlers::join_group::handle(
                    &shard,
                    &session,
                    version,
                    request,
                    client_id,
                    client_host,
                )
                .await;
                throttle::respond(&shard, quota.as_deref(), &mut response);
                framed(api_key, version, correlation_id, &response)
            });
            Ok(throttle::timed(&timed_quota, pending))
        }
        ApiKey::SyncGroup => respond!(m::SyncGroupRequest, handlers::sync_group::handle),
        ApiKey::Heartbeat => respond!(m::HeartbeatRequest, handlers::heartbeat::handle),
        ApiKey::LeaveGroup => respond!(m::LeaveGroupRequest, handlers::leave_group::handle),
        ApiKey::OffsetCommit => respond!(m::OffsetCommitRequest, handlers::offset_commit::handle),
        ApiKey::OffsetFetch => respond!(m::OffsetFetchRequest, handlers::offset_fetch::handle),
        ApiKey::ListGroups => respond!(m::ListGroupsRequest, handlers::list_groups::handle),
        ApiKey::DescribeGroups => {
            respond!(m::DescribeGroupsRequest, handlers::describe_groups::handle)
        }
        ApiKey::DeleteGroups => respond!(m::DeleteGroupsRequest, handlers::delete_groups::handle),
        ApiKey::OffsetDelete => respond!(m::OffsetDeleteRequest, handlers::offset_delete::handle),
        ApiKey::AlterConfigs => respond!(m::AlterConfigsRequest, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => respond!(
            m::IncrementalAlterConfigsRequest,
            handlers::incremental_alter_configs::handle
        ),
        ApiKey::CreatePartitions => {
            respond!(
                m::CreatePartitionsRequest,
                handlers::create_partitions::handle
            )
        }
        ApiKey::DescribeLogDirs => {
            respond!(
                m::DescribeLogDirsRequest,
                handlers::describe_log_dirs::handle
            )
        }
        ApiKey::OffsetForLeaderEpoch => respond!(
            m::OffsetForLeaderEpochRequest,
            handlers::offset_for_leader_epoch::handle
        ),
        ApiKey::DeleteRecords => {
            respond!(m::DeleteRecordsRequest, handlers::delete_records::handle)
        }
        ApiKey::AddPartitionsToTxn => respond!(
            m::AddPartitionsToTxnRequest,
            handlers::add_partitions_to_txn::handle
        ),
        ApiKey::EndTxn => respond!(m::EndTxnRequest, handlers::end_txn::handle),
        ApiKey::DescribeTransactions => respond!(
            m::DescribeTransactionsRequest,
            handlers::describe_transactions::handle
        ),
        ApiKey::ListTransactions => respond!(
            m::ListTransactionsRequest,
            handlers::list_transactions::handle
        ),
        ApiKey::AddOffsetsToTxn => respond!(
            m::AddOffsetsToTxnRequest,
            handlers::add_offsets_to_txn::handle
        ),
        ApiKey::TxnOffsetCommit => respond!(
            m::TxnOffsetCommitRequest,
            handlers::txn_offset_commit::handle
        ),
        ApiKey::DescribeProducers => respond!(
            m::DescribeProducersRequest,
            handlers::describe_producers::handle
        ),
        ApiKey::WriteTxnMarkers => respond!(
            m::WriteTxnMarkersRequest,
            handlers::write_txn_markers::handle
        ),
        ApiKey::DescribeQuorum => {
            respond!(m::DescribeQuorumRequest, handlers::describe_quorum::handle)
        }
        ApiKey::DescribeTopicPartitions => respond!(
            m::DescribeTopicPartitionsRequest,
            handlers::describe_topic_partitions::handle
        ),
        ApiKey::DescribeCluster => respond!(
            m::DescribeClusterRequest,
            handlers::describe_cluster::handle
        ),
        ApiKey::CreateAcls => respond!(m::CreateAclsRequest, handlers::create_acls::handle),
        ApiKey::DescribeAcls => respond!(m::DescribeAclsRequest, handlers::describe_acls::handle),
        ApiKey::DeleteAcls => respond!(m::DeleteAclsRequest, handlers::delete_acls::handle),
        ApiKey::DescribeUserScramCredentials => respond!(
            m::DescribeUserScramCredentialsRequest,
            handlers::describe_user_scram_credentials::handle
        ),
        ApiKey::AlterUserScramCredentials => respond!(
            m::AlterUserScramCredentialsRequest,
            handlers::alter_user_scram_credentials::handle
        ),
        ApiKey::ElectLeaders => respond!(m::ElectLeadersRequest, handlers::elect_leaders::handle),
        ApiKey::AlterPartitionReassignments => respond!(
            m::AlterPartitionReassignmentsRequest,
            handlers::alter_partition_reassignments::handle
        ),
        ApiKey::ListPartitionReassignments => respond!(
            m::ListPartitionReassignmentsRequest,
            handlers::list_partition_reassignments::handle
        ),
        ApiKey::DescribeClientQuotas => respond!(
            m::DescribeClientQuotasRequest,
            handlers::describe_client_quotas::handle
        ),
        ApiKey::AlterClientQuotas => respond!(
            m::AlterClientQuotasRequest,
            handlers::alter_client_quotas::handle
        ),
        other => Err(format!("{other:?} is advertised but has no handler")),
    }
}

fn ready(result: Result<Bytes, String>) -> Pending {
    Box::pin(std::future::ready(result.map(|b| Some(Frame::Whole(b)))))
}

/// A response encoded and framed, ready to write.
fn framed<T: kafka_protocol::protocol::Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Option<Frame>, String> {
    super::codec::encode_response(api_key, version, correlation_id, body)
        .map(|b| Some(Frame::Whole(b)))
}

/// Decodes a request of type `T` from a complete frame body (header
/// included), as the broker does. Used by the fuzz tests and benchmarks.
pub fn decode_request<T: Decodable>(mut frame: Bytes) -> Result<(RequestHeader, T), String> {
    if frame.len() < 8 {
        return Err("short frame".into());
    }
    let key = frame.slice(0..2).get_i16();
    let version = frame.slice(2..4).get_i16();
    let api_key = ApiKey::try_from(key).map_err(|_| format!("unknown API key {key}"))?;
    let header: RequestHeader = decode(&mut frame, api_key.request_header_version(version))?;
    let body = decode(&mut frame, version)?;
    Ok((header, body))
}
