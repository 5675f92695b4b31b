//! The messages shards exchange. Everything here is `Send` plain data: a
//! request names partitions by topic name and index, carries record bytes as
//! `Bytes`, and gets back Kafka error codes, never storage types.

use bytes::Bytes;
use uuid::Uuid;

pub use crate::storage::ReadData;

/// A topic as every shard knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic config overrides (Kafka names → values); the rest are the
    /// broker's defaults.
    pub configs: std::collections::BTreeMap<String, String>,
}

/// Records for one partition of a produce request.
pub struct ProducePart {
    pub topic: String,
    pub partition: i32,
    pub records: Bytes,
    /// The leader epoch the connection's shard saw this node lead in:
    /// stamped on the batches, and the owner refuses if it no longer leads
    /// in it.
    pub leader_epoch: i32,
    /// WriteTxnMarkers: append this transaction marker (the broker's own
    /// control batch) instead of `records`.
    pub marker: Option<crate::storage::MarkerSpec>,
}

/// Outcome of appending to one partition.
#[derive(Clone, Debug)]
pub struct ProduceResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub base_offset: i64,
    pub log_start_offset: i64,
    /// The broker time stamped on the batches (LogAppendTime topics), or -1.
    pub log_append_time_ms: i64,
    /// Records that made the batch invalid: (index in batch, reason).
    pub record_errors: Vec<(i32, String)>,
}

/// One partition to read.
#[derive(Clone, Debug)]
pub struct FetchPart {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub max_bytes: usize,
    /// Set when a follower broker fetches (replication), not a consumer.
    pub replica: Option<ReplicaFetch>,
    /// A consumer with isolation_level READ_COMMITTED: read below the last
    /// stable offset, with the aborted transactions the read overlaps.
    pub read_committed: bool,
}

/// Who a follower's fetch comes from and what its log ends with.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaFetch {
    pub replica_id: i32,
    /// The follower's broker epoch (KIP-903), -1 if not sent.
    pub broker_epoch: i64,
    /// The epoch of the follower's last batch (KIP-320), -1 if none.
    pub last_fetched_epoch: i32,
}

/// What a read of one partition found.
#[derive(Debug)]
pub struct FetchResult {
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub records: ReadData,
    /// READ_COMMITTED: (producer id, first offset) of the aborted
    /// transactions in the range read.
    pub aborted: Vec<(i64, i64)>,
    /// Data beyond it is what a long poll waits for: the high watermark
    /// for consumers, the durable end for followers.
    pub readable_end: i64,
    /// A follower's log diverges from the leader's: (epoch, end offset).
    pub diverging_epoch: Option<(i32, i64)>,
}

impl FetchResult {
    /// Nothing read, only an error.
    pub fn failed(error_code: i16) -> FetchResult {
        FetchResult {
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            records: ReadData::empty(),
            aborted: Vec::new(),
            readable_end: -1,
            diverging_epoch: None,
        }
    }
}

/// One offset lookup on a partition's log.
#[derive(Clone, Debug)]
pub struct OffsetQuery {
    pub topic: String,
    pub partition: i32,
    pub kind: OffsetKind,
}

#[derive(Clone, Copy, Debug)]
pub enum OffsetKind {
    /// ListOffsets: Kafka's timestamp (-1 latest, -2 earliest, -3 max
    /// timestamp, else a time in ms).
    Timestamp(i64),
    /// ListOffsets latest (-1) under READ_COMMITTED: the last stable offset.
    LastStable,
    /// OffsetForLeaderEpoch: where this epoch (or the nearest lower one the
    /// log has) ends; answered as (end offset, that epoch as `timestamp`).
    EpochEnd(i32),
}

#[derive(Clone, Debug)]
pub struct OffsetAnswer {
    pub error_code: i16,
    pub offset: i64,
    pub timestamp: i64,
}

/// One partition of a DeleteRecords request.
#[derive(Clone, Debug)]
pub struct DeleteRecordsPart {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Error code and the partition's new log start offset (low watermark).
#[derive(Clone, Debug)]
pub struct DeleteRecordsResult {
    pub error_code: i16,
    pub low_watermark: i64,
}

/// A request to another shard.
pub enum ShardRequest {
    /// Append, in order, then answer once every part is durable (or at once
    /// with acks=0).
    Produce {
        acks: i16,
        /// acks=all waits at most this long for the in-sync replicas.
        timeout_ms: i32,
        parts: Vec<ProducePart>,
    },
    Fetch {
        parts: Vec<FetchPart>,
    },
    /// Answer as soon as any part has data at or past its offset, or after
    /// `timeout_ms`.
    WaitForData {
        parts: Vec<FetchPart>,
        timeout_ms: u64,
    },
    ListOffsets {
        queries: Vec<OffsetQuery>,
    },
    /// DescribeLogDirs: size and offset lag of each (topic, partition).
    LogDirs {
        parts: Vec<(String, i32)>,
    },
    /// To the controller shard (0): create a topic through the active
    /// controller. `partitions` / `replication_factor` -1: the defaults;
    /// `assignments`: explicit replicas per partition, or empty.
    CreateTopic {
        name: String,
        partitions: i32,
        replication_factor: i16,
        assignments: Vec<Vec<i32>>,
        validate_only: bool,
        configs: std::collections::BTreeMap<String, String>,
    },
    /// To the controller: replace a topic's config overrides.
    AlterTopicConfigs {
        name: String,
        configs: std::collections::BTreeMap<String, String>,
        validate_only: bool,
    },
    /// To the controller: grow a topic to `count` partitions.
    CreatePartitions {
        name: String,
        count: i32,
        assignments: Vec<Vec<i32>>,
        validate_only: bool,
    },
    /// To the controller shard: delete a topic everywhere.
    DeleteTopic {
        name: String,
    },
    /// From the controller shard: a new metadata image. Open the
    /// partitions this shard now holds, delete those gone, then answer.
    Metadata {
        image: std::sync::Arc<crate::cluster::image::MetadataImage>,
        controller_id: i32,
    },
    /// Move each partition's log start offset up to `offset` (-1 = the high
    /// watermark).
    DeleteRecords {
        parts: Vec<DeleteRecordsPart>,
    },
    /// The producers each partition keeps state for (DescribeProducers).
    DescribeProducers {
        parts: Vec<(String, i32)>,
    },
    /// To the controller: a fresh producer id.
    AllocateProducerId,
    /// To the controller shard: the metadata quorum's state.
    DescribeQuorum,
    /// To the coordinator of a group (the owner of `partition` of
    /// `__consumer_offsets`); ListGroups goes to every shard.
    Group {
        partition: i32,
        call: crate::group::types::GroupCall,
    },
    /// To the coordinator of a transactional id (the owner of its
    /// `__transaction_state` partition); ListTransactions goes to every shard.
    Txn(super::txn_coordinator::TxnCall),
    /// To the controller shard: commit a change through the active
    /// controller (ACLs, SCRAM credentials, dynamic configs) and answer
    /// once this node has applied it.
    Submit(crate::cluster::commands::Command),
    /// To the controller shard: a client connection from `ip` opened here;
    /// refused past the connection limits when `enforce` (`protected`, on
    /// the inter-broker listener: past the per-address one only).
    OpenConnection {
        ip: std::net::IpAddr,
        enforce: bool,
        protected: bool,
    },
    /// To the controller shard: a connection it counted has closed.
    CloseConnection {
        ip: std::net::IpAddr,
    },
}

/// The answer to a [`ShardRequest`], variant for variant.
pub enum ShardResponse {
    Produce(Vec<ProduceResult>),
    Fetch(Vec<FetchResult>),
    DataReady,
    ListOffsets(Vec<OffsetAnswer>),
    /// None for a partition not held here.
    LogDirs(Vec<Option<super::replication_stats::LogDirEntry>>),
    /// Kafka error code (0 = created) and message.
    TopicCreated(i16, Option<String>, Option<TopicMeta>),
    TopicDeleted(i16, Option<Uuid>),
    /// Kafka error code (0 = done) and message of a config or partition change.
    TopicAltered(i16, Option<String>),
    /// Metadata image applied on this shard.
    Applied,
    ProducerId(Result<i64, String>),
    /// The quorum's state, or (error code, message).
    Quorum(Result<crate::cluster::wire::QuorumState, (i16, String)>),
    DeleteRecords(Vec<DeleteRecordsResult>),
    /// Per part: its producers, or NOT_LEADER_OR_FOLLOWER.
    Producers(Vec<Result<Vec<crate::storage::txn_log::ActiveProducer>, i16>>),
    Group(Result<crate::group::types::GroupReply, kafka_protocol::error::ResponseError>),
    Txn(super::txn_coordinator::TxnAnswer),
    Submitted(Result<crate::cluster::commands::Reply, crate::cluster::commands::Refusal>),
    ConnectionOpened(Result<(), crate::quota::connections::Refused>),
    ConnectionClosed,
}
