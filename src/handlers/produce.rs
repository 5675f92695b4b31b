//! Produce: append each partition's record batches on the shard that owns it.
//!
//! Split in two so pipelined requests keep their order: [`start`] resolves
//! topics and hands every partition's bytes to its owner (appends are ordered
//! at that moment); the future it returns waits for durability and builds the
//! response. With acks=0 there is no response at all, as in Kafka.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::authorize::{self, TopicRef};
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::cluster_view::NotHere;
use crate::shard::messages::{ProducePart, ProduceResult};
use crate::shard::{router, Shard};
use crate::storage::batch;

pub type PendingProduce = Pin<Box<dyn Future<Output = Option<ProduceResponse>>>>;

/// Where a partition's answer comes from: an error decided here, or the
/// n-th routed part.
enum Slot {
    Failed(i16),
    /// Another broker leads the partition (or none does): KIP-951's
    /// current leader goes with the error.
    NotHere(NotHere),
    Routed(usize),
}

struct TopicSlots {
    name: TopicName,
    id: Uuid,
    partitions: Vec<(i32, Slot)>,
}

pub async fn start(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: ProduceRequest,
) -> PendingProduce {
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    // Denied partitions are never routed: nothing unauthorized is written,
    // whatever acks says.
    let transaction_refused = transaction_refusal(shard, session, &request);
    let unverified = match transaction_refused {
        None => super::txn_verify::refused(shard, version, &request).await,
        Some(_) => Default::default(),
    };
    let refused = |topic: &str, partition: i32| match unverified.is_empty() {
        true => None,
        false => unverified.get(&(topic.to_string(), partition)).copied(),
    };
    let write = |name: &str| authorize::topic(shard, session, operation::WRITE, name);
    let mut parts = Vec::new();
    let mut topics_out = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let named = match version >= 13 {
            true => TopicRef::Id(topic.topic_id),
            false => TopicRef::Name(topic.name.0.as_str()),
        };
        let resolved = match transaction_refused {
            Some(code) => Err(code),
            None => authorize::topic_meta(shard, named, &write, Some(session)).await,
        };
        let mut slots = TopicSlots {
            name: topic.name.clone(),
            id: topic.topic_id,
            partitions: Vec::with_capacity(topic.partition_data.len()),
        };
        for data in topic.partition_data {
            let slot = match (&resolved, data.records) {
                _ if !valid_acks => Slot::Failed(ResponseError::InvalidRequiredAcks.code()),
                (Err(code), _) => Slot::Failed(*code),
                (Ok(meta), _) if data.index < 0 || data.index >= meta.partitions => {
                    Slot::Failed(ResponseError::UnknownTopicOrPartition.code())
                }
                (Ok(_), None) => Slot::Failed(ResponseError::InvalidRecord.code()),
                // A transactional batch its coordinator did not confirm.
                (Ok(meta), Some(_)) if refused(&meta.name, data.index).is_some() => {
                    Slot::Failed(refused(&meta.name, data.index).unwrap_or_default())
                }
                (Ok(meta), Some(records)) => match shard.check_leader(&meta.name, data.index) {
                    Err(not_here) => Slot::NotHere(not_here),
                    Ok(leader_epoch) => {
                        parts.push(ProducePart {
                            topic: meta.name.clone(),
                            partition: data.index,
                            records,
                            leader_epoch,
                            marker: None,
                        });
                        Slot::Routed(parts.len() - 1)
                    }
                },
            };
            slots.partitions.push((data.index, slot));
        }
        topics_out.push(slots);
    }
    let pending = router::produce(shard, acks, request.timeout_ms, parts).await;
    let endpoints = leader_endpoints(shard, &topics_out, version, &session.listener);
    Box::pin(async move {
        let results = pending.await;
        if acks == 0 {
            return None;
        }
        Some(
            ProduceResponse::default()
                .with_responses(
                    topics_out
                        .into_iter()
                        .map(|t| respond_topic(t, &results, version))
                        .collect(),
                )
                .with_node_endpoints(endpoints),
        )
    })
}

/// Kafka's checks of a produce carrying transactional batches, each
/// partition answering with the code: a transactional id, else
/// INVALID_TXN_STATE (batches no coordinator could ever end would hold
/// every read_committed consumer of the partition at their offset); WRITE
/// on that id with an authorizer, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
fn transaction_refusal(shard: &Shard, session: &Session, request: &ProduceRequest) -> Option<i16> {
    let transactional = request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_deref())
        .any(batch::any_transactional);
    if !transactional {
        return None;
    }
    let Some(id) = request.transactional_id.as_ref() else {
        return Some(ResponseError::InvalidTxnState.code());
    };
    let allowed = shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, id);
    (!allowed).then(|| ResponseError::TransactionalIdAuthorizationFailed.code())
}

/// KIP-467 (v8+): which records made the batch invalid.
fn record_errors(r: &ProduceResult, version: i16) -> Vec<BatchIndexAndErrorMessage> {
    if version < 8 {
        return Vec::new();
    }
    r.record_errors
        .iter()
        .map(|(index, why)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(*index)
                .with_batch_index_error_message(Some(StrBytes::from_string(why.clone())))
        })
        .collect()
}

fn respond_topic(
    topic: TopicSlots,
    results: &[ProduceResult],
    version: i16,
) -> TopicProduceResponse {
    // log_start_offset exists from v5 on, error_message from v8.
    let start = |o: i64| if version >= 5 { o } else { -1 };
    let message = |m: &Option<String>| {
        m.clone()
            .filter(|_| version >= 8)
            .map(StrBytes::from_string)
    };
    let partitions = topic
        .partitions
        .into_iter()
        .map(|(index, slot)| {
            let base = PartitionProduceResponse::default()
                .with_index(index)
                .with_log_append_time_ms(-1);
            match slot {
                Slot::Failed(code) => base
                    .with_error_code(code)
                    .with_base_offset(-1)
                    .with_log_start_offset(-1),
                Slot::NotHere(not_here) => {
                    let leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(not_here.leader))
                        .with_leader_epoch(not_here.leader_epoch);
                    let base = base
                        .with_error_code(not_here.error_code)
                        .with_base_offset(-1)
                        .with_log_start_offset(-1);
                    if version >= 10 {
                        base.with_current_leader(leader)
                    } else {
                        base
                    }
                }
                Slot::Routed(i) => match results.get(i) {
                    Some(r) => base
                        .with_error_code(r.error_code)
                        .with_error_message(message(&r.error_message))
                        .with_base_offset(r.base_offset)
                        .with_log_start_offset(start(r.log_start_offset))
                        .with_log_append_time_ms(if version >= 2 {
                            r.log_append_time_ms
                        } else {
                            -1
                        })
                        .with_record_errors(record_errors(r, version)),
                    None => base.with_error_code(ResponseError::UnknownServerError.code()),
                },
            }
        })
        .collect();
    let (name, id) = if version >= 13 {
        (TopicName::default(), topic.id)
    } else {
        (topic.name, Uuid::nil())
    };
    TopicProduceResponse::default()
        .with_name(name)
        .with_topic_id(id)
        .with_partition_responses(partitions)
}

/// KIP-951 (v10+): the endpoints of the leaders named in NOT_LEADER errors,
/// so the client moves without asking for metadata.
fn leader_endpoints(
    shard: &Shard,
    topics: &[TopicSlots],
    version: i16,
    listener: &str,
) -> Vec<NodeEndpoint> {
    if version < 10 {
        return Vec::new();
    }
    let leaders =
        topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|(_, slot)| match slot {
                Slot::NotHere(n) => Some(n.leader),
                _ => None,
            });
    shard
        .leader_endpoints(leaders, listener)
        .into_iter()
        .map(|b| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port)
                .with_rack(b.rack.map(StrBytes::from_string))
        })
        .collect()
}
