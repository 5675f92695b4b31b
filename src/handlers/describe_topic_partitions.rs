//! DescribeTopicPartitions (KIP-966; `kafka-topics.sh --describe` uses it):
//! per partition its leader, leader epoch, replicas, ISR and eligible leader
//! replicas, from this node's metadata image. Paginated: topics in name
//! order from the cursor, at most `response_partition_limit` partitions per
//! response, and a cursor naming where the next page starts.
//!
//! As in Kafka, a topic needs DESCRIBE: undescribable ones are left out
//! of an all-topics answer, and named ones reached in the page are answered
//! TOPIC_AUTHORIZATION_FAILED after the others. Every topic answered
//! carries the session's authorized operations.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use crate::cluster::image::TopicImage;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::Shard;

/// Kafka's cap on partitions per response.
const MAX_PARTITIONS: i32 = 2000;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = shard.image.borrow().clone();
    let all_topics = request.topics.is_empty();
    let mut names: Vec<String> = if all_topics {
        image.topics.keys().cloned().collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &request.cursor {
        Some(c) => (c.topic_name.0.to_string(), c.partition_index.max(0)),
        None => (String::new(), 0),
    };
    let mut budget = request.response_partition_limit.clamp(1, MAX_PARTITIONS);
    let mut topics = Vec::new();
    let mut denied = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        if !authorize::topic(shard, session, operation::DESCRIBE, &name) {
            if !all_topics {
                denied.push(unauthorized(&name));
            }
            continue;
        }
        let ops = || shard.authorized_operations(session, resource::TOPIC, &name);
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let Some(topic) = image.topics.get(&name) else {
            topics.push(unknown(&name).with_topic_authorized_operations(ops()));
            continue;
        };
        if budget == 0 {
            next_cursor = Some(cursor(&name, first));
            break;
        }
        let count = topic.partitions.len() as i32;
        let last = (first + budget).min(count);
        topics.push(describe(topic, first, last).with_topic_authorized_operations(ops()));
        budget -= last - first;
        if last < count {
            next_cursor = Some(cursor(&name, last));
            break;
        }
    }
    topics.extend(denied);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_index(partition)
}

fn unknown(name: &str) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
}

/// A named topic the session may not describe: no id, no partitions.
fn unauthorized(name: &str) -> DescribeTopicPartitionsResponseTopic {
    unknown(name).with_error_code(ResponseError::TopicAuthorizationFailed.code())
}

fn describe(topic: &TopicImage, first: i32, last: i32) -> DescribeTopicPartitionsResponseTopic {
    let ids = |ids: &[i32]| ids.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    let partitions = (first..last)
        .filter_map(|p| Some((p, topic.partitions.get(p as usize)?)))
        .map(|(p, state)| {
            let error = if state.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            DescribeTopicPartitionsResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p)
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_replica_nodes(ids(&state.replicas))
                .with_isr_nodes(ids(&state.isr))
                .with_eligible_leader_replicas(Some(ids(&state.elr)))
                .with_last_known_elr(Some(ids(&state.last_known_elr)))
                .with_offline_replicas(Vec::new())
        })
        .collect();
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}
