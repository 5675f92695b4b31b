//! The controller shard's (0) part in metadata changes: each admin request
//! becomes a cluster command, committed through the active controller
//! (`crate::cluster`), and is answered once this node's shards have applied
//! it (ACL, SCRAM and dynamic-config changes come as ready-made commands).
//! Also this node's producer-id block.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::messages::*;
use super::{Shard, CONTROLLER_SHARD};
use crate::cluster::commands::{Command, Refusal, Reply};

/// Runs `command` through the cluster; `Err` carries the Kafka error.
pub(super) async fn submit(shard: &Rc<Shard>, command: Command) -> Result<Reply, Refusal> {
    debug_assert_eq!(shard.id, CONTROLLER_SHARD);
    let node = shard.cluster.borrow().clone();
    let Some(node) = node else {
        return Err(Refusal {
            code: ResponseError::NotController.code(),
            message: "the cluster is not started on this shard".into(),
        });
    };
    node.submit(command).await.map(|(_, reply)| reply)
}

/// The topic as this shard now knows it.
fn topic_meta(shard: &Shard, name: &str) -> Option<TopicMeta> {
    shard.topics.borrow().get(name).cloned()
}

pub(super) async fn create_topic(
    shard: &Rc<Shard>,
    name: String,
    partitions: i32,
    replication_factor: i16,
    assignments: Vec<Vec<i32>>,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> ShardResponse {
    let command = Command::CreateTopic {
        name: name.clone(),
        partitions,
        replication_factor,
        assignments,
        configs: configs.clone(),
        validate_only,
    };
    match submit(shard, command).await {
        Ok(Reply::TopicCreated {
            id,
            partitions,
            replication_factor,
        }) => {
            let meta = match topic_meta(shard, &name) {
                Some(meta) if !validate_only => meta,
                _ => TopicMeta {
                    name,
                    id,
                    partitions,
                    configs,
                },
            };
            let _ = replication_factor;
            ShardResponse::TopicCreated(0, None, Some(meta))
        }
        Ok(other) => unexpected_created(other),
        Err(refusal) => ShardResponse::TopicCreated(refusal.code, Some(refusal.message), None),
    }
}

fn unexpected_created(reply: Reply) -> ShardResponse {
    ShardResponse::TopicCreated(
        ResponseError::UnknownServerError.code(),
        Some(format!("unexpected controller reply {reply:?}")),
        None,
    )
}

fn altered(outcome: Result<Reply, Refusal>) -> ShardResponse {
    match outcome {
        Ok(_) => ShardResponse::TopicAltered(0, None),
        Err(refusal) => ShardResponse::TopicAltered(refusal.code, Some(refusal.message)),
    }
}

/// Replaces `name`'s config overrides with `configs`.
pub(super) async fn alter_configs(
    shard: &Rc<Shard>,
    name: String,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> ShardResponse {
    let command = Command::AlterTopicConfigs {
        name,
        configs,
        validate_only,
    };
    altered(submit(shard, command).await)
}

/// Grows `name` to `count` partitions.
pub(super) async fn create_partitions(
    shard: &Rc<Shard>,
    name: String,
    count: i32,
    assignments: Vec<Vec<i32>>,
    validate_only: bool,
) -> ShardResponse {
    let command = Command::CreatePartitions {
        name,
        count,
        assignments,
        validate_only,
    };
    altered(submit(shard, command).await)
}

pub(super) async fn delete_topic(shard: &Rc<Shard>, name: String) -> ShardResponse {
    match submit(shard, Command::DeleteTopic { name }).await {
        Ok(Reply::TopicDeleted { id }) => ShardResponse::TopicDeleted(0, Some(id)),
        Ok(_) => ShardResponse::TopicDeleted(ResponseError::UnknownServerError.code(), None),
        Err(refusal) => ShardResponse::TopicDeleted(refusal.code, None),
    }
}

/// A producer id from this node's block, asking the active controller for
/// a new block (committed in the metadata log, so never handed out twice)
/// when it is used up.
pub(super) async fn allocate_producer_id(shard: &Rc<Shard>) -> Result<i64, String> {
    let (next, end) = shard.producer_ids.get();
    if next < end {
        shard.producer_ids.set((next + 1, end));
        return Ok(next);
    }
    let command = Command::AllocateProducerIds {
        node_id: shard.node_id(),
    };
    match submit(shard, command).await {
        Ok(Reply::ProducerIds { first, size }) if size > 0 => {
            // Another allocation may have finished while this one waited.
            let (next, end) = shard.producer_ids.get();
            if next < end {
                shard.producer_ids.set((next + 1, end));
                return Ok(next);
            }
            shard.producer_ids.set((first + 1, first + size));
            Ok(first)
        }
        Ok(other) => Err(format!("unexpected controller reply {other:?}")),
        Err(refusal) => Err(refusal.message),
    }
}

pub(super) async fn describe_quorum(
    shard: &Rc<Shard>,
) -> Result<crate::cluster::wire::QuorumState, (i16, String)> {
    let node = shard.cluster.borrow().clone();
    let Some(node) = node else {
        return Err((
            ResponseError::NotController.code(),
            "cluster not started".into(),
        ));
    };
    node.describe_quorum()
        .await
        .map_err(|refusal| (refusal.code, refusal.message))
}
