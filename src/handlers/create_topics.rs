//! CreateTopics: through the controller shard, with topic configs (validated
//! there: INVALID_CONFIG names the bad one) and validate_only. A single broker
//! can hold only replication factor 1; explicit replica assignments are
//! refused rather than ignored.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topics;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        // Explicit assignments may only name this broker, one replica each,
        // for partitions 0..n; they then fix the partition count.
        let node = shard.identity.node_id;
        let assigned_here = topic.assignments.iter().enumerate().all(|(i, a)| {
            a.partition_index == i as i32 && a.broker_ids.len() == 1 && a.broker_ids[0].0 == node
        });
        let partitions = if !topic.assignments.is_empty() {
            topic.assignments.len() as i32
        } else if topic.num_partitions == -1 {
            shard.config.num_partitions
        } else {
            topic.num_partitions
        };
        let refusal = if !matches!(topic.replication_factor, -1 | 1) {
            Some((
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {} is larger than the 1 available broker",
                    topic.replication_factor
                ),
            ))
        } else if !assigned_here {
            Some((
                ResponseError::InvalidReplicaAssignment,
                format!("replica assignments may only name broker {node}, once per partition"),
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
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let result = match refusal {
            Some((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
            None => match topics::create(shard, &name, partitions, configs, request.validate_only)
                .await
            {
                (0, _, Some(meta)) if version >= 7 => result
                    .with_topic_id(meta.id)
                    .with_num_partitions(meta.partitions)
                    .with_replication_factor(1),
                (0, _, Some(meta)) if version >= 5 => result
                    .with_num_partitions(meta.partitions)
                    .with_replication_factor(1),
                (0, _, Some(_)) => result,
                (code, message, _) => result
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            },
        };
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}
