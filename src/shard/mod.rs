//! Shards: one pinned glommio executor per core, the partitions each owns, and
//! the messages between them.
//!
//! A [`Shard`] is the per-core state: its copy of the topic table, the logs of
//! the partitions it owns, its end of the mesh. It is `!Send` and lives in an
//! `Rc` on its executor. Handlers reach partitions only through the routing
//! functions in `router`, which run local work in place and send the rest to
//! the owning shard; nothing here touches another shard's memory.

pub mod controller;
pub mod maintenance;
pub mod mesh;
pub mod messages;
pub mod producer_ids;
pub mod router;
pub mod runtime;
pub mod service;
pub mod topic_policy;
pub mod topics;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use crate::config::topic::TopicConfig;
use crate::config::BrokerConfig;
use crate::storage::{LogConfig, PartitionLog, ShardStorage};

use mesh::Mesh;
use producer_ids::ProducerIdBlock;
use topics::TopicTable;

/// The shard that creates and deletes topics and hands out producer ids.
pub const CONTROLLER_SHARD: usize = 0;

/// How clients reach this broker (Metadata's broker list).
#[derive(Clone, Debug)]
pub struct BrokerIdentity {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
}

/// Per-core broker state. See the module doc.
pub struct Shard {
    pub id: usize,
    pub config: BrokerConfig,
    pub data_dir: PathBuf,
    pub identity: BrokerIdentity,
    pub topics: RefCell<TopicTable>,
    /// Logs of the partitions this shard owns: topic → partition → log.
    pub logs: RefCell<HashMap<String, HashMap<i32, PartitionLog>>>,
    /// Shared by every log opened here: the fjord.batch.cache.bytes budget
    /// and the metrics' I/O histograms.
    pub storage: ShardStorage,
    pub mesh: Rc<Mesh>,
    /// Controller only: topics being created, so a second create of the same
    /// name while the first is in flight is refused.
    pub creating: RefCell<HashSet<String>>,
    /// Controller only.
    pub producer_ids: RefCell<Option<ProducerIdBlock>>,
    /// Controller only: ACL bindings and SCRAM credentials.
    pub security: RefCell<Option<crate::security::SecurityStore>>,
    /// Controller only: broker and group configs set at run time.
    pub dynamic_configs: RefCell<Option<crate::config::dynamic::DynamicConfigs>>,
    pub stopping: Cell<bool>,
    /// Each known topic's effective config (overrides over broker defaults).
    pub topic_configs: RefCell<HashMap<String, Rc<TopicConfig>>>,
    pub metrics: crate::metrics::ShardMetrics,
    /// The consumer groups this shard coordinates.
    pub groups: RefCell<crate::group::Coordinator>,
    /// Writes response frames: vectored sends for memory, splice for files.
    pub sender: crate::net::Sender,
}

impl Shard {
    pub fn shard_count(&self) -> usize {
        self.mesh.shard_count()
    }

    pub fn owner_of(&self, topic: &str, partition: i32) -> usize {
        topics::owner(topic, partition, self.shard_count())
    }

    pub fn log(&self, topic: &str, partition: i32) -> Option<PartitionLog> {
        self.logs.borrow().get(topic)?.get(&partition).cloned()
    }

    pub fn log_config(&self) -> LogConfig {
        log_config(&self.config)
    }

    /// The effective config of `topic` (broker defaults if unknown).
    pub fn topic_config(&self, topic: &str) -> Rc<TopicConfig> {
        if let Some(c) = self.topic_configs.borrow().get(topic) {
            return c.clone();
        }
        Rc::new(TopicConfig::resolve(&self.config, &Default::default()))
    }
}

/// A partition's storage settings under its topic's config.
pub fn topic_log_config(broker: &BrokerConfig, topic: &TopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: topic.segment_bytes,
        segment_ms: topic.segment_ms,
        index_interval_bytes: topic.index_interval_bytes,
        segment_index_bytes: topic.segment_index_bytes,
        flush_interval_messages: topic.flush_messages,
        flush_interval_ms: topic.flush_ms,
        ..log_config(broker)
    }
}

/// Storage settings for a partition, from the broker's Kafka-named settings.
pub fn log_config(config: &BrokerConfig) -> LogConfig {
    LogConfig {
        segment_bytes: config.log_segment_bytes,
        segment_ms: config.log_roll_ms,
        index_interval_bytes: config.log_index_interval_bytes,
        segment_index_bytes: config.log_index_size_max_bytes,
        flush_interval_messages: config.log_flush_interval_messages,
        flush_interval_ms: config.log_flush_interval_ms,
        cache_bytes: config.partition_cache_bytes(),
    }
}

pub type ShardRef = Rc<Shard>;
