//! Metadata: the live brokers and the topics asked for (all when none are
//! named), each partition's leader, replicas and ISR, from this node's copy
//! of the metadata image. Unknown topics are auto-created when the client
//! allows it and auto.create.topics.enable is on. Authorized
//! operations, when asked for, are everything Kafka supports on a topic or
//! the cluster: fjord allows every operation (see `crate::security`).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::topics;
use crate::security::acl::{authorized_operations, resource};
use crate::security::session::Session;
use crate::shard::messages::TopicMeta;
use crate::shard::Shard;
use uuid::Uuid;

/// Kafka's "authorized operations not requested" marker.
const OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    // v0 sends an empty list for "all topics"; v1+ sends null.
    let wanted = match request.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let auto_create = version < 4 || request.allow_auto_topic_creation;
    let topic_ops = operations(request.include_topic_authorized_operations, resource::TOPIC);
    let cluster_ops = operations(
        request.include_cluster_authorized_operations,
        resource::CLUSTER,
    );
    let mut topics_out = Vec::new();
    match wanted {
        None => {
            let all: Vec<TopicMeta> = shard.topics.borrow().iter().cloned().collect();
            topics_out.extend(all.iter().map(|m| describe(shard, m, version, topic_ops)));
        }
        Some(requested) => {
            for topic in requested {
                let name = match topic.name {
                    Some(name) => name.0.to_string(),
                    None => match topics::by_id(shard, topic.topic_id) {
                        Some(meta) => meta.name,
                        None => {
                            topics_out.push(
                                MetadataResponseTopic::default()
                                    .with_error_code(ResponseError::UnknownTopicId.code())
                                    .with_topic_id(topic.topic_id)
                                    .with_topic_authorized_operations(OPERATIONS_OMITTED),
                            );
                            continue;
                        }
                    },
                };
                topics_out.push(match topics::resolve(shard, &name, auto_create).await {
                    Ok(meta) => describe(shard, &meta, version, topic_ops),
                    Err(code) => MetadataResponseTopic::default()
                        .with_error_code(code)
                        .with_name(Some(TopicName(StrBytes::from_string(name))))
                        .with_topic_authorized_operations(OPERATIONS_OMITTED),
                });
            }
        }
    }
    let brokers = shard
        .live_brokers(&session.listener)
        .into_iter()
        .map(|(node, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
                .with_rack(rack.map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id((version >= 2).then(|| StrBytes::from_string(shard.cluster_id())))
        .with_controller_id(BrokerId(if version >= 1 {
            shard.controller_for_clients(&session.listener)
        } else {
            -1
        }))
        .with_topics(topics_out)
        .with_cluster_authorized_operations(cluster_ops)
}

/// The authorized-operations field: Kafka's bit field when the client
/// asked (v8+), else its "not requested" marker.
fn operations(requested: bool, resource_type: i8) -> i32 {
    if requested {
        authorized_operations(resource_type)
    } else {
        OPERATIONS_OMITTED
    }
}

fn describe(shard: &Shard, meta: &TopicMeta, version: i16, ops: i32) -> MetadataResponseTopic {
    let partitions = (0..meta.partitions)
        .map(|p| {
            let base = MetadataResponsePartition::default().with_partition_index(p);
            let Some(state) = shard.partition_state(&meta.name, p) else {
                return base
                    .with_error_code(ResponseError::LeaderNotAvailable.code())
                    .with_leader_id(BrokerId(-1));
            };
            let ids = |ids: &[i32]| ids.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
            let error = if state.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            base.with_error_code(error)
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(if version >= 7 { state.leader_epoch } else { -1 })
                .with_replica_nodes(ids(&state.replicas))
                .with_isr_nodes(ids(&state.isr))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(meta.name.clone()))))
        .with_topic_id(if version >= 10 { meta.id } else { Uuid::nil() })
        .with_is_internal(version >= 1 && meta.name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(ops)
}
