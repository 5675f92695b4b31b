//! The partition log: Kafka's on-disk layout written with O_DIRECT through
//! glommio, one owner shard per partition.
//!
//! Owns: segments, indexes, crash recovery, group-committed durability,
//! the durable end vs the high watermark the replication layer sets,
//! truncation, the leader-epoch cache, idempotent-producer checks, the hot-tail batch cache within the shard's
//! budget. Must not: know the wire protocol or the replication protocol
//! (callers decide epochs, truncation offsets and the high watermark), share state across threads (everything is `!Send`), or
//! decompress records on the produce/fetch path (`records` does, for
//! ListOffsets by time, and `filter`, for compaction). Retention and
//! compaction run only when called (`enforce_retention` / `compact`, with
//! the topic's settings and the time passed in); storage has no timers.
//!
//! Files: `batch` (v2 header parsing), `index` (mmapped `.index` /
//! `.timeindex`), `segment` (one `.log` + indexes), `producer_state`
//! (idempotence), `recovery` (open and repair a directory), `cache` (hot
//! tail of one partition), `budget` (the shard's cache budget and LRU), `reader` (disk reads, data waits), `flusher` (the per-partition write/sync task), `log`
//! ([`PartitionLog`], the public type; its module doc describes the API),
//! `retention` (log start offset, DeleteRecords, retention.ms/bytes),
//! `cleaner` (compaction and its crash-safe segment swap), `filter`
//! (record-level rewrite of one batch, with decompression; compaction only),
//! `checkpoint` (small atomically replaced files: log start offset, cleaner
//! state), `epochs` (the persisted leader-epoch cache), `replica` (what
//! replication uses: the follower's append, the replication high watermark
//! and its waits, epoch queries), `truncate` (`truncate_to` /
//! `truncate_fully`, run by the flusher).

pub mod batch;
mod budget;
mod cache;
mod checkpoint;
mod cleaner;
mod epochs;
mod filter;
mod flusher;
pub mod index;
mod log;
pub mod producer_state;
mod read;
mod reader;
pub mod records;
mod recovery;
mod replica;
mod retention;
pub mod segment;
mod stats;
mod truncate;
pub mod txn_log;
pub mod txn_state;

use std::io;
use std::rc::Rc;

pub use self::budget::{BudgetSnapshot, CacheBudget};
pub use self::cleaner::{CompactionConfig, CompactionStats};

/// Runs blocking file-system work (fsync of a small file or a directory) on
/// glommio's blocking thread pool, so the shard keeps serving meanwhile. Only
/// for work whose callers do not rely on "no await in between".
pub(crate) async fn off_shard<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(f).await
}
pub use self::log::{Appended, PartitionLog};
pub use self::read::{FileSlice, ReadData};
pub use self::retention::RetentionOutcome;
pub use self::stats::{IoObserver, StatsSnapshot};
pub use self::txn_log::MarkerSpec;

/// What every log of one shard shares: the hot-tail cache budget and the
/// observer of I/O samples. The shard makes one and passes it to each log
/// it opens ([`PartitionLog::open_shared`]); clones share.
#[derive(Clone)]
pub struct ShardStorage {
    pub cache: CacheBudget,
    pub io: Rc<dyn IoObserver>,
}

impl ShardStorage {
    pub fn new(cache_budget_bytes: usize, io: Rc<dyn IoObserver>) -> ShardStorage {
        ShardStorage {
            cache: CacheBudget::new(cache_budget_bytes),
            io,
        }
    }

    /// A log's own budget and no observer ([`PartitionLog::open`]).
    pub(crate) fn private(cache_budget_bytes: usize) -> ShardStorage {
        ShardStorage::new(cache_budget_bytes, Rc::new(stats::NoObserver))
    }
}

/// Storage settings of one partition (Kafka's names in comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// log.segment.bytes (capped at i32::MAX: positions are u32 in indexes).
    pub segment_bytes: u64,
    /// log.roll.ms: roll once the active segment's first append is this old.
    pub segment_ms: u64,
    /// log.index.interval.bytes: bytes of log between offset index entries.
    pub index_interval_bytes: u64,
    /// log.index.size.max.bytes: preallocated size of each index file.
    pub segment_index_bytes: u64,
    /// log.flush.interval.messages. With both flush intervals None (the
    /// default) every acknowledged append is fdatasync'ed first.
    pub flush_interval_messages: Option<u64>,
    /// log.flush.interval.ms: periodic fdatasync when set.
    pub flush_interval_ms: Option<u64>,
    /// Most bytes this partition may keep in the hot-tail batch cache, a
    /// cap within the shard's [`CacheBudget`] (usize::MAX: no cap; 0: no
    /// caching, every read goes to the files).
    pub cache_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 << 20,
            flush_interval_messages: None,
            flush_interval_ms: None,
            cache_bytes: 8 << 20,
        }
    }
}

impl LogConfig {
    /// True when appends are acknowledged only after an fdatasync.
    pub fn sync_every_append(&self) -> bool {
        self.flush_interval_messages.is_none() && self.flush_interval_ms.is_none()
    }
}

/// A storage failure. Cloneable so one I/O error can fail many waiters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {message}")]
    Io {
        context: String,
        kind: io::ErrorKind,
        message: String,
    },
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// An earlier I/O error stopped the log; nothing more is acknowledged.
    #[error("log stopped after an I/O error: {0}")]
    Stopped(String),
    #[error("log closed")]
    Closed,
    /// DeleteRecords named an offset above the high watermark (or a
    /// negative one other than -1): Kafka's OFFSET_OUT_OF_RANGE.
    #[error("offset {offset} out of range (high watermark {high_watermark})")]
    OffsetOutOfRange { offset: i64, high_watermark: i64 },
    /// The log was truncated below the offset a waiter needed (a follower
    /// truncating, or a leader that lost leadership): the data it waited
    /// for is gone and will not become durable.
    #[error("log truncated to {0}")]
    Truncated(i64),
}

impl StorageError {
    pub fn io(context: String, e: io::Error) -> StorageError {
        StorageError::Io {
            context,
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Why an append was refused. Nothing of the request was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// Bad length, bad CRC, truncated batch (Kafka: CORRUPT_MESSAGE).
    #[error("corrupt batch: {0}")]
    Corrupt(String),
    #[error("unsupported record batch magic (only v2)")]
    UnsupportedMagic,
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    /// A transaction marker from an older coordinator epoch than the
    /// producer's last marker here (Kafka: TRANSACTION_COORDINATOR_FENCED).
    #[error("transaction coordinator fenced")]
    CoordinatorFenced,
    /// The log failed (I/O error) or is closed.
    #[error("log not accepting appends: {0}")]
    Stopped(String),
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cache;
#[cfg(test)]
mod tests_compaction;
#[cfg(test)]
mod tests_maintenance;
#[cfg(test)]
mod tests_read;
#[cfg(test)]
mod tests_replica;
#[cfg(test)]
mod tests_truncate;
#[cfg(test)]
mod tests_txn;
