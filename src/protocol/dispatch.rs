//! From a request frame to the future of its response frame.
//!
//! `start` runs in the connection's read loop, in request order. It decodes
//! the request and, for Produce, performs the ordered part (appends and
//! cross-shard sends) before returning; everything else happens inside the
//! returned future, which the connection runs concurrently with later
//! requests and awaits in order when writing responses.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::codec::decode;
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
) -> Result<Pending, String> {
    let key = if frame.len() >= 2 {
        frame.slice(0..2).get_i16()
    } else {
        -1
    };
    shard.metrics.request(key);
    let started = Instant::now();
    let size = frame.len();
    let pending = start_inner(shard, frame, session)
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
) -> Result<Pending, String> {
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

    macro_rules! respond {
        ($request:ty, $handler:path) => {{
            let request: $request = decode(&mut frame, version)?;
            let shard = shard.clone();
            let session = session.clone();
            Ok(Box::pin(async move {
                let response = $handler(&shard, &session, version, request).await;
                framed(api_key, version, correlation_id, &response)
            }) as Pending)
        }};
    }

    use kafka_protocol::messages as m;
    match api_key {
        ApiKey::Produce => {
            let request: m::ProduceRequest = decode(&mut frame, version)?;
            let pending = handlers::produce::start(shard, session, version, request).await;
            Ok(Box::pin(async move {
                match pending.await {
                    Some(response) => framed(api_key, version, correlation_id, &response),
                    None => Ok(None),
                }
            }))
        }
        ApiKey::Fetch => {
            let request: m::FetchRequest = decode(&mut frame, version)?;
            let shard = shard.clone();
            let session = session.clone();
            Ok(Box::pin(async move {
                let frame =
                    handlers::fetch::handle(&shard, &session, version, request, correlation_id)
                        .await;
                Ok(Some(frame))
            }))
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
            let client_id = header
                .client_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            let client_host = format!("/{}", session.host);
            let shard = shard.clone();
            let session = session.clone();
            Ok(Box::pin(async move {
                let response = handlers::join_group::handle(
                    &shard,
                    &session,
                    version,
                    request,
                    client_id,
                    client_host,
                )
                .await;
                framed(api_key, version, correlation_id, &response)
            }))
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
