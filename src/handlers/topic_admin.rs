//! Shared by AlterConfigs, IncrementalAlterConfigs, DescribeConfigs and
//! CreatePartitions: sending a topic, broker or group config change to the
//! controller, reading dynamic configs from the shard's metadata image, and
//! naming resources.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::security_common::{mismatch, outcome, submit};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::security_commands::DynamicConfigsCommand;
use crate::config::dynamic::{ConfigEdit, Configs, Target};
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
/// broker's id (as on Kafka, a broker answers for itself), "" for the
/// cluster-wide broker defaults, or any group id.
pub fn dynamic_target(shard: &Shard, resource_type: i8, name: &str) -> Result<Target, Outcome> {
    let me = shard.identity.node_id;
    match resource_type {
        BROKER if name.is_empty() => Ok(Target::ClusterDefault),
        BROKER if name == me.to_string() => Ok(Target::Broker(me)),
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            Some(format!("broker {name:?} is not this broker")),
        )),
        _ => Ok(Target::Group(name.to_string())),
    }
}

/// The dynamic configs set on `target`, as this shard's image has them.
pub fn dynamic_configs(shard: &Shard, target: &Target) -> Configs {
    shard.image.borrow().dynamic_configs.get(target)
}

/// Edits `target`'s dynamic configs through the active controller, which
/// validates the result against the configs it has then.
pub async fn set_dynamic_configs(
    shard: &Rc<Shard>,
    target: Target,
    edit: ConfigEdit,
    validate_only: bool,
) -> Outcome {
    let command = Command::DynamicConfigs(DynamicConfigsCommand {
        target,
        edit,
        validate_only,
    });
    match submit(shard, command).await {
        Ok(Reply::Done) => (0, None),
        Ok(_) => mismatch(),
        Err(refusal) => outcome(refusal),
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
