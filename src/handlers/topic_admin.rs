//! Shared by AlterConfigs, IncrementalAlterConfigs and CreatePartitions:
//! sending a topic, broker or group config change to the controller and
//! naming resources.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use crate::config::dynamic::{DynamicCall, DynamicReply, Target};
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

/// Kafka's resource types in the config APIs.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const GROUP: i8 = 32;

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

/// The dynamic-config target a BROKER or GROUP resource names: this
/// broker's id only (fjord has no cluster-wide broker defaults), or any
/// group id.
pub fn dynamic_target(shard: &Shard, resource_type: i8, name: &str) -> Result<Target, Outcome> {
    match resource_type {
        BROKER if name == shard.identity.node_id.to_string() => Ok(Target::Broker),
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            Some(format!("broker {name:?} is not this broker")),
        )),
        _ => Ok(Target::Group(name.to_string())),
    }
}

fn controller_unavailable() -> Outcome {
    (
        ResponseError::NotController.code(),
        Some("controller unavailable".into()),
    )
}

/// The dynamic configs currently set on `target`.
pub async fn dynamic_configs(
    shard: &Rc<Shard>,
    target: Target,
) -> Result<BTreeMap<String, String>, Outcome> {
    let call = ShardRequest::DynamicConfigs(DynamicCall::Get(target));
    match router::to_controller(shard, call).await {
        Some(ShardResponse::DynamicConfigs(DynamicReply::Current(configs))) => Ok(configs),
        Some(ShardResponse::DynamicConfigs(DynamicReply::Set(outcome))) => Err(outcome),
        _ => Err(controller_unavailable()),
    }
}

/// Replaces `target`'s dynamic configs with `configs` through the controller.
pub async fn set_dynamic_configs(
    shard: &Rc<Shard>,
    target: Target,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    let call = DynamicCall::Set {
        target,
        configs,
        validate_only,
    };
    match router::to_controller(shard, ShardRequest::DynamicConfigs(call)).await {
        Some(ShardResponse::DynamicConfigs(DynamicReply::Set(outcome))) => outcome,
        _ => controller_unavailable(),
    }
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
