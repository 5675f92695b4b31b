//! The active controller's request handling, sans-IO: a command and the
//! current image in, the records to commit and the reply out. Nothing
//! changes until the records are committed and applied (`image`), so the
//! same code runs for every controller and a lost leadership loses nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::image::MetadataImage;
use super::records::MetadataRecord;

/// Broker settings the controller needs to fill in defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Defaults {
    pub num_partitions: i32,
    pub default_replication_factor: i16,
}

/// A change asked of the active controller (from any broker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateTopic {
        name: String,
        /// -1: num.partitions (ignored when `assignments` is given).
        partitions: i32,
        /// -1: default.replication.factor (ignored with `assignments`).
        replication_factor: i16,
        /// Explicit replicas per partition 0..n, or empty to place them.
        assignments: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// Replicas of each new partition, or empty to place them.
        assignments: Vec<Vec<i32>>,
        validate_only: bool,
    },
    /// Replaces the topic's overrides with `configs`.
    AlterTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    RegisterBroker {
        node_id: i32,
        incarnation: Uuid,
        host: String,
        port: i32,
        rack: Option<String>,
    },
    AllocateProducerIds {
        node_id: i32,
    },
}

/// What a committed command answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    TopicCreated {
        id: Uuid,
        partitions: i32,
        replication_factor: i16,
    },
    TopicDeleted {
        id: Uuid,
    },
    Done,
    /// The broker epoch is the offset of the registration record, which
    /// only the committer knows: the driver fills it in.
    Registered,
    /// Ids `[first, first + size)`.
    ProducerIds {
        first: i64,
        size: i64,
    },
}

/// A refusal: Kafka error code and message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: i16,
    pub message: String,
}

/// Records to commit (possibly none) and the reply once they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub records: Vec<MetadataRecord>,
    pub reply: Reply,
}

pub fn plan(
    image: &MetadataImage,
    defaults: &Defaults,
    command: &Command,
) -> Result<Plan, Refusal> {
    let _ = (image, defaults, command);
    todo!("cluster::commands::plan")
}

pub fn bootstrap(cluster_id: String) -> Vec<MetadataRecord> {
    let _ = cluster_id;
    todo!()
}

pub fn seed_topic(
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
    node_id: i32,
) -> Vec<MetadataRecord> {
    let _ = (name, id, partitions, configs, node_id);
    todo!()
}
