//! The controller shard's work: creating and deleting topics, changing their
//! configs and partition counts, handing out producer ids. Each change is
//! made durable first (directories, the topic's config file) and then
//! broadcast to every shard, which applies it (`service::apply_upsert`)
//! before the change is acknowledged.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::messages::*;
use super::service::execute;
use super::topics;
use super::{Shard, CONTROLLER_SHARD};
use crate::config::dynamic::{DynamicCall, DynamicReply};
use crate::config::topic;
use crate::security::SecurityCall;

/// Controller: create `name` with `partitions` partitions on every shard.
pub(super) async fn create_topic(
    shard: &Rc<Shard>,
    name: String,
    partitions: i32,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> ShardResponse {
    debug_assert_eq!(shard.id, CONTROLLER_SHARD);
    if !topics::valid_topic_name(&name) {
        let msg = format!("topic name {name:?} is not valid");
        return ShardResponse::TopicCreated(
            ResponseError::InvalidTopicException.code(),
            Some(msg),
            None,
        );
    }
    if partitions < 1 {
        let msg = "number of partitions must be at least 1".to_string();
        return ShardResponse::TopicCreated(
            ResponseError::InvalidPartitions.code(),
            Some(msg),
            None,
        );
    }
    // A create of the same name in flight: answer after it has reached every
    // shard, so the caller finds the topic wherever it looks next.
    while shard.creating.borrow().contains(&name) {
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
    }
    if shard.topics.borrow().get(&name).is_some() {
        let msg = format!("topic '{name}' already exists");
        return ShardResponse::TopicCreated(
            ResponseError::TopicAlreadyExists.code(),
            Some(msg),
            None,
        );
    }
    if let Err(msg) = validate_configs(&configs) {
        return ShardResponse::TopicCreated(ResponseError::InvalidConfig.code(), Some(msg), None);
    }
    let meta = TopicMeta {
        name: name.clone(),
        id: uuid::Uuid::new_v4(),
        partitions,
        configs,
    };
    if validate_only {
        return ShardResponse::TopicCreated(0, None, Some(meta));
    }
    shard.creating.borrow_mut().insert(name.clone());
    let created = create_dirs(shard, &meta);
    let response = match created {
        Ok(()) => {
            broadcast(shard, |_| ShardRequest::TopicUpsert { meta: meta.clone() }).await;
            tracing::info!(topic = name, partitions, "created topic");
            ShardResponse::TopicCreated(0, None, Some(meta))
        }
        Err(e) => {
            tracing::error!(topic = name, "create topic: {e}");
            ShardResponse::TopicCreated(
                ResponseError::KafkaStorageError.code(),
                Some(e.to_string()),
                None,
            )
        }
    };
    shard.creating.borrow_mut().remove(&name);
    response
}

/// The topic's config file, then its partition directories: a crash in
/// between leaves no topic (no directories) or the whole topic.
fn create_dirs(shard: &Shard, meta: &TopicMeta) -> std::io::Result<()> {
    topics::write_topic_configs(&shard.data_dir, &meta.name, &meta.configs)?;
    for p in 0..meta.partitions {
        topics::ensure_partition_dir(&shard.data_dir, &meta.name, p, meta.id)?;
    }
    Ok(())
}

fn validate_configs(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs.iter().try_for_each(|(k, v)| topic::validate(k, v))
}

fn unknown_topic(name: &str) -> ShardResponse {
    ShardResponse::TopicAltered(
        ResponseError::UnknownTopicOrPartition.code(),
        Some(format!("topic '{name}' does not exist")),
    )
}

/// Controller: replace `name`'s config overrides with `configs`.
pub(super) async fn alter_configs(
    shard: &Rc<Shard>,
    name: String,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> ShardResponse {
    let Some(mut meta) = shard.topics.borrow().get(&name).cloned() else {
        return unknown_topic(&name);
    };
    if let Err(msg) = validate_configs(&configs) {
        return ShardResponse::TopicAltered(ResponseError::InvalidConfig.code(), Some(msg));
    }
    if validate_only || meta.configs == configs {
        return ShardResponse::TopicAltered(0, None);
    }
    if let Err(e) = topics::write_topic_configs(&shard.data_dir, &name, &configs) {
        tracing::error!(topic = name, "writing topic configs: {e}");
        return ShardResponse::TopicAltered(
            ResponseError::KafkaStorageError.code(),
            Some(e.to_string()),
        );
    }
    meta.configs = configs;
    tracing::info!(topic = name, configs = ?meta.configs, "altered topic configs");
    broadcast(shard, |_| ShardRequest::TopicUpsert { meta: meta.clone() }).await;
    ShardResponse::TopicAltered(0, None)
}

/// Controller: grow `name` to `count` partitions.
pub(super) async fn create_partitions(
    shard: &Rc<Shard>,
    name: String,
    count: i32,
    validate_only: bool,
) -> ShardResponse {
    let Some(mut meta) = shard.topics.borrow().get(&name).cloned() else {
        return unknown_topic(&name);
    };
    if count <= meta.partitions {
        let msg = format!(
            "topic '{name}' has {} partitions; the count can only grow",
            meta.partitions
        );
        return ShardResponse::TopicAltered(ResponseError::InvalidPartitions.code(), Some(msg));
    }
    if validate_only {
        return ShardResponse::TopicAltered(0, None);
    }
    for p in meta.partitions..count {
        if let Err(e) = topics::ensure_partition_dir(&shard.data_dir, &name, p, meta.id) {
            tracing::error!(topic = name, partition = p, "create partition: {e}");
            return ShardResponse::TopicAltered(
                ResponseError::KafkaStorageError.code(),
                Some(e.to_string()),
            );
        }
    }
    tracing::info!(
        topic = name,
        from = meta.partitions,
        to = count,
        "added partitions"
    );
    meta.partitions = count;
    broadcast(shard, |_| ShardRequest::TopicUpsert { meta: meta.clone() }).await;
    ShardResponse::TopicAltered(0, None)
}

/// Controller: delete `name` on every shard.
pub(super) async fn delete_topic(shard: &Rc<Shard>, name: String) -> ShardResponse {
    let Some(meta) = shard.topics.borrow().get(&name).cloned() else {
        return ShardResponse::TopicDeleted(ResponseError::UnknownTopicOrPartition.code(), None);
    };
    broadcast(shard, |_| ShardRequest::TopicRemove { name: name.clone() }).await;
    if let Err(e) = topics::write_topic_configs(&shard.data_dir, &name, &BTreeMap::new()) {
        tracing::warn!(topic = name, "removing topic configs: {e}");
    }
    tracing::info!(topic = name, "deleted topic");
    ShardResponse::TopicDeleted(0, Some(meta.id))
}

/// Sends a request to every shard (this one included) and waits for all.
async fn broadcast(shard: &Rc<Shard>, make: impl Fn(usize) -> ShardRequest) {
    let mut remote = Vec::new();
    for target in 0..shard.shard_count() {
        if target != shard.id {
            remote.push(shard.mesh.send(target, make(target)).await);
        }
    }
    Box::pin(execute(shard, make(shard.id))).await;
    for reply in remote {
        // A shard that is shutting down drops the request; nothing to undo.
        let _ = reply.await;
    }
}

/// Controller: runs an ACL or SCRAM call against the stored state.
pub(super) fn security(shard: &Rc<Shard>, call: SecurityCall) -> ShardResponse {
    let mut store = shard.security.borrow_mut();
    let reply = match store.as_mut() {
        Some(store) => crate::security::handle(store, call),
        // Only reachable if a non-controller shard is asked: refuse each item.
        None => crate::security::not_controller(call),
    };
    ShardResponse::Security(reply)
}

/// Controller: reads or changes the broker's and groups' dynamic configs.
pub(super) fn dynamic_configs(shard: &Rc<Shard>, call: DynamicCall) -> ShardResponse {
    let mut store = shard.dynamic_configs.borrow_mut();
    let reply = match store.as_mut() {
        Some(store) => store.handle(call),
        None => DynamicReply::Set((
            ResponseError::NotController.code(),
            Some("dynamic configs live on the controller".into()),
        )),
    };
    ShardResponse::DynamicConfigs(reply)
}

pub(super) fn allocate_producer_id(shard: &Rc<Shard>) -> Result<i64, String> {
    let mut block = shard.producer_ids.borrow_mut();
    let block = block
        .as_mut()
        .ok_or_else(|| "producer ids are allocated by the controller shard".to_string())?;
    block.allocate().map_err(|e| e.to_string())
}
