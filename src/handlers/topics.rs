//! Topic lookups shared by handlers: by name or id, with Kafka's
//! auto-creation (auto.create.topics.enable, num.partitions).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::shard::messages::{ShardRequest, ShardResponse, TopicMeta};
use crate::shard::router;
use crate::shard::Shard;

/// The topic named `name`, created first when it is missing and
/// `auto_create` (and the broker setting) allow it.
pub async fn resolve(shard: &Rc<Shard>, name: &str, auto_create: bool) -> Result<TopicMeta, i16> {
    if let Some(meta) = shard.topics.borrow().get(name) {
        return Ok(meta.clone());
    }
    if !(auto_create && shard.config.auto_create_topics_enable) {
        return Err(ResponseError::UnknownTopicOrPartition.code());
    }
    let topic = NewTopic {
        partitions: -1,
        replication_factor: -1,
        ..Default::default()
    };
    match create(shard, name, topic, false).await {
        (0, _, Some(meta)) => Ok(meta),
        (code, _, _) if code == ResponseError::TopicAlreadyExists.code() => shard
            .topics
            .borrow()
            .get(name)
            .cloned()
            .ok_or(ResponseError::UnknownTopicOrPartition.code()),
        (code, _, _) => Err(code),
    }
}

/// Asks the controller to create a topic: (error code, message, topic).
/// A topic to create: -1 partitions / replication factor take the
/// broker defaults; `assignments` (replicas per partition) win over both.
#[derive(Default)]
pub struct NewTopic {
    pub partitions: i32,
    pub replication_factor: i16,
    pub assignments: Vec<Vec<i32>>,
    pub configs: std::collections::BTreeMap<String, String>,
}

pub async fn create(
    shard: &Rc<Shard>,
    name: &str,
    topic: NewTopic,
    validate_only: bool,
) -> (i16, Option<String>, Option<TopicMeta>) {
    let request = ShardRequest::CreateTopic {
        name: name.to_string(),
        partitions: topic.partitions,
        replication_factor: topic.replication_factor,
        assignments: topic.assignments,
        validate_only,
        configs: topic.configs,
    };
    match router::to_controller(shard, request).await {
        Some(ShardResponse::TopicCreated(code, message, meta)) => (code, message, meta),
        _ => (
            ResponseError::NotController.code(),
            Some("controller unavailable".into()),
            None,
        ),
    }
}

pub fn by_id(shard: &Shard, id: Uuid) -> Option<TopicMeta> {
    shard.topics.borrow().by_id(id).cloned()
}
