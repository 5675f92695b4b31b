//! Shards: one pinned glommio executor per core, the partitions each owns, and
//! the messages between them.
//!
//! A [`Shard`] is the per-core state: its copy of the topic table, the logs of
//! the partitions it owns, its end of the mesh. It is `!Send` and lives in an
//! `Rc` on its executor. Handlers reach partitions only through the routing
//! functions in `router`, which run local work in place and send the rest to
//! the owning shard; nothing here touches another shard's memory.

mod apply_image;
mod authorization;
pub mod broker_connection;
pub mod cluster_view;
pub mod connection_limits;
pub mod controller;
pub mod controller_link;
pub mod follower_fetch;
pub mod interbroker_client;
pub mod internal_log;
pub mod listeners;
mod login_warnings;
pub mod maintenance;
pub mod mesh;
pub mod messages;
pub mod produce;
pub mod publish;
pub mod replication;
pub mod replication_stats;
pub mod router;
pub mod runtime;
pub mod service;
pub mod topic_policy;
pub mod topics;
pub mod txn_coordinator;
pub mod txn_markers;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::cluster::image::MetadataImage;
use crate::cluster::node::ClusterNode;

use crate::config::topic::TopicConfig;
use crate::config::BrokerConfig;
use crate::storage::{LogConfig, PartitionLog, ShardStorage};

use mesh::Mesh;
use topics::TopicTable;

/// The shard that runs this node's part of the cluster (quorum, broker
/// registration) and takes every metadata change to the active controller.
pub const CONTROLLER_SHARD: usize = 0;

/// How clients reach this broker (Metadata's broker list).
#[derive(Clone, Debug)]
pub struct BrokerIdentity {
    pub node_id: i32,
    /// This process's registration id: an image naming another (an earlier
    /// run's) is out of date about this broker.
    pub incarnation: uuid::Uuid,
    /// The inter-broker listener as advertised (followers fetch from it).
    pub host: String,
    pub port: i32,
    /// Every client listener as advertised.
    pub listeners: Vec<crate::cluster::image::ListenerEndpoint>,
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
    /// The cluster's metadata as this node last applied it (handed to every
    /// shard by message; never changed in place).
    pub image: RefCell<Arc<MetadataImage>>,
    /// The active controller's node id when the image was published (-1:
    /// unknown).
    pub controller_id: Cell<i32>,
    /// Set once the first image has arrived: the shard serves only then.
    pub image_received: Cell<bool>,
    /// Controller shard only: this node in the cluster.
    pub cluster: RefCell<Option<Rc<ClusterNode>>>,
    /// Controller shard only: the rest of the producer-id block the active
    /// controller granted this node, `[next, end)`.
    pub producer_ids: Cell<(i64, i64)>,
    pub stopping: Cell<bool>,
    /// Each known topic's effective config (overrides over broker defaults).
    pub topic_configs: RefCell<HashMap<String, Rc<TopicConfig>>>,
    pub metrics: crate::metrics::ShardMetrics,
    /// The consumer groups this shard coordinates.
    pub groups: RefCell<crate::group::Coordinator>,
    /// The transactions of the `__transaction_state` partitions led here.
    pub txns: RefCell<txn_coordinator::TxnHost>,
    /// Writes response frames: vectored sends for memory, splice for files.
    pub sender: crate::net::Sender,
    /// The partitions this shard leads and the fetch sessions of those it
    /// follows.
    pub replication: RefCell<replication::ShardReplication>,
    /// authorizer.class.name, super.users, allow.everyone.if.no.acl.found.
    pub authorizer: crate::security::authorizer::AuthorizerConfig,
    /// How followers connect to leaders (TLS, SASL login).
    pub interbroker_client: interbroker_client::InterBrokerClient,
    /// Idle connections to other brokers for one-off requests (transaction
    /// markers); fetch sessions hold their own.
    pub broker_connections: RefCell<broker_connection::IdleConnections>,
    /// Client quota sensors and whether any quota is set.
    pub throttle: crate::protocol::throttle::ShardThrottle,
    /// Connection limits, and (controller shard) the broker's connections.
    pub connections: connection_limits::ConnectionGate,
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
