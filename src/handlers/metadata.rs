//! Metadata: the live brokers and the topics asked for (all when none are
//! named), each partition's leader, replicas and ISR, from this node's copy
//! of the metadata image. Unknown topics are auto-created when the client
//! allows it and auto.create.topics.enable is on.
//!
//! As in Kafka, a topic needs DESCRIBE: one the session may not describe
//! is left out of an all-topics answer and answered
//! TOPIC_AUTHORIZATION_FAILED when named (without saying whether it
//! exists); auto-creation needs CREATE on the cluster or the topic.
//! Authorized operations, when asked for, are the session's.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authorize::{self, OPERATIONS_OMITTED};
use super::topics;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::TopicMeta;
use crate::shard::Shard;
use uuid::Uuid;

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
    let ops_asked = request.include_topic_authorized_operations;
    let may_describe = |name: &str| authorize::topic(shard, session, operation::DESCRIBE, name);
    let ops = |name: &str| authorize::topic_operations(shard, session, ops_asked, name);
    let mut topics_out = Vec::new();
    match wanted {
        None => {
            let all: Vec<TopicMeta> = shard.topics.borrow().iter().cloned().collect();
            let visible = all.iter().filter(|m| may_describe(&m.name));
            topics_out.extend(visible.map(|m| describe(shard, m, version, ops(&m.name))));
        }
        Some(requested) => {
            for topic in requested {
                let name = match topic.name {
                    Some(name) => name.0.to_string(),
                    None => match topics::by_id(shard, topic.topic_id) {
                        Some(meta) if may_describe(&meta.name) => meta.name,
                        // Ids are not secret: a denied one is named back.
                        found => {
                            let code = match found {
                                Some(_) => ResponseError::TopicAuthorizationFailed,
                                None => ResponseError::UnknownTopicId,
                            };
                            topics_out
                                .push(failed(None, code.code()).with_topic_id(topic.topic_id));
                            continue;
                        }
                    },
                };
                if !may_describe(&name) {
                    let code = ResponseError::TopicAuthorizationFailed.code();
                    topics_out.push(failed(Some(name), code));
                    continue;
                }
                let creator = auto_create.then_some(session);
                topics_out.push(match authorize::resolve(shard, &name, creator).await {
                    Ok(meta) => describe(shard, &meta, version, ops(&name)),
                    Err(code) if code == ResponseError::TopicAuthorizationFailed.code() => {
                        failed(Some(name), code)
                    }
                    Err(code) => {
                        let ops = ops(&name);
                        failed(Some(name), code).with_topic_authorized_operations(ops)
                    }
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
        .with_cluster_authorized_operations(authorize::cluster_operations(
            shard,
            session,
            request.include_cluster_authorized_operations,
        ))
}

/// A topic answered with an error alone.
fn failed(name: Option<String>, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
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
