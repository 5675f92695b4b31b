//! CreateTopics: through the active controller (forwarded from any broker),
//! with topic configs (validated there: INVALID_CONFIG names the bad one),
//! replication factor and explicit replica assignments, and validate_only.
//!
//! Authorized here, on the broker that has the session (the controller
//! takes the request as given), with Kafka's rules: CREATE on the cluster
//! or the topic, else TOPIC_AUTHORIZATION_FAILED; the created topic's
//! partition count and replication factor (v5+) need DESCRIBE_CONFIGS on
//! it, else its config error is TOPIC_AUTHORIZATION_FAILED.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, topics};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let create_any = authorize::cluster(shard, session, operation::CREATE);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if !create_any && !authorize::topic(shard, session, operation::CREATE, &name) {
            // Kafka's controller answers with this message.
            let message = Some("Authorization failed.".to_string());
            let code = ResponseError::TopicAuthorizationFailed.code();
            results.push(failed(result, code, message));
            continue;
        }
        let assignments: Vec<Vec<i32>> = topic
            .assignments
            .iter()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect();
        let in_order = topic
            .assignments
            .iter()
            .enumerate()
            .all(|(i, a)| a.partition_index == i as i32);
        let refusal = if !in_order {
            Some((
                ResponseError::InvalidReplicaAssignment,
                "replica assignments must list partitions 0..n in order".to_string(),
            ))
        } else if !assignments.is_empty()
            && (topic.num_partitions != -1 || topic.replication_factor != -1)
        {
            Some((
                ResponseError::InvalidRequest,
                "both assignments and a partition count or replication factor were given"
                    .to_string(),
            ))
        } else {
            topic.configs.iter().find(|c| c.value.is_none()).map(|c| {
                (
                    ResponseError::InvalidConfig,
                    format!("topic config {} has no value", c.name.as_str()),
                )
            })
        };
        let configs = topic
            .configs
            .iter()
            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
            .collect();
        let result = match refusal {
            Some((error, message)) => failed(result, error.code(), Some(message)),
            None => {
                let new = topics::NewTopic {
                    partitions: topic.num_partitions,
                    replication_factor: topic.replication_factor,
                    assignments,
                    configs,
                };
                match topics::create(shard, &name, new, request.validate_only).await {
                    (0, _, Some(meta)) => {
                        let factor = replication_factor(shard, &meta.name);
                        let result = if version >= 7 {
                            result.with_topic_id(meta.id)
                        } else {
                            result
                        };
                        let describable =
                            authorize::topic(shard, session, operation::DESCRIBE_CONFIGS, &name);
                        match (version >= 5, describable) {
                            (false, _) => result,
                            (true, true) => result
                                .with_num_partitions(meta.partitions)
                                .with_replication_factor(factor),
                            (true, false) => result
                                .with_topic_config_error_code(
                                    ResponseError::TopicAuthorizationFailed.code(),
                                )
                                .with_num_partitions(-1)
                                .with_replication_factor(-1),
                        }
                    }
                    (code, message, _) => failed(result, code, message),
                }
            }
        };
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn failed(
    result: CreatableTopicResult,
    code: i16,
    message: Option<String>,
) -> CreatableTopicResult {
    result
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

/// The topic's replication factor as this broker's image has it.
fn replication_factor(shard: &Shard, topic: &str) -> i16 {
    shard
        .partition_state(topic, 0)
        .map_or(1, |p| p.replicas.len() as i16)
}
