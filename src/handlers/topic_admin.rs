//! Shared by AlterConfigs, IncrementalAlterConfigs and CreatePartitions:
//! sending a topic change to the controller and naming resources.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

/// Kafka's resource types in the config APIs.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

/// The outcome of one resource: error code and message.
pub type Outcome = (i16, Option<String>);

pub async fn to_controller(shard: &Rc<Shard>, request: ShardRequest) -> Outcome {
    match router::to_controller(shard, request).await {
        Some(ShardResponse::TopicAltered(code, message)) => (code, message),
        _ => (
            ResponseError::NotController.code(),
            Some("controller unavailable".into()),
        ),
    }
}

/// Replaces `topic`'s overrides with `configs` through the controller.
pub async fn set_topic_configs(
    shard: &Rc<Shard>,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    let request = ShardRequest::AlterTopicConfigs {
        name: topic.to_string(),
        configs,
        validate_only,
    };
    to_controller(shard, request).await
}

/// The answer for a broker resource: its settings are static in fjord.
pub fn broker_refusal() -> Outcome {
    (
        ResponseError::InvalidRequest.code(),
        Some("broker settings are static: use --config or --set at start".into()),
    )
}

pub fn unsupported_resource(resource_type: i8) -> Outcome {
    (
        ResponseError::InvalidRequest.code(),
        Some(format!("unsupported resource type {resource_type}")),
    )
}

/// A topic's current overrides, or UNKNOWN_TOPIC_OR_PARTITION.
pub fn current_overrides(shard: &Shard, topic: &str) -> Result<BTreeMap<String, String>, Outcome> {
    match shard.topics.borrow().get(topic) {
        Some(meta) => Ok(meta.configs.clone()),
        None => Err((
            ResponseError::UnknownTopicOrPartition.code(),
            Some(format!("topic '{topic}' does not exist")),
        )),
    }
}
