//! Transactions: the core of Kafka's transaction coordinator, sans-IO.
//!
//! Each transactional id lives in one `__transaction_state` partition
//! (Kafka's hash of the id modulo the partition count); the leader of that
//! partition coordinates it. [`TxnCoordinator`] holds the ids of the
//! partitions this shard leads and follows Kafka's rules (transaction
//! versions 1 and 2) for InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, DescribeTransactions and ListTransactions. Every change is two
//! phase, as Kafka's pending state: a request yields a record ([`Write`]) for
//! the caller to append and replicate; reporting the write applies it and
//! yields what follows ([`Action`]: the reply, markers to write, the
//! Complete record). `metadata` is one id's state and transitions,
//! `records` the log's bytes, `coordinator` the requests (`version2` where
//! transaction version 2 differs), `completion` the second phase and the
//! timers.
//!
//! Must not: do I/O, read a clock, or know about shards: messages and
//! `now_ms` come in, replies and actions go out. Producer ids come from the
//! caller (the controller allocates them).

mod completion;
pub mod coordinator;
#[cfg(test)]
mod harness;
pub mod metadata;
pub mod records;
pub mod types;
mod version2;

pub use coordinator::{Loaded, TxnCoordinator};
pub use metadata::{TopicPartition, TxnMetadata, TxnState, TxnVersion};
pub use types::{
    coordinator_error, is_transient, Action, Fenced, Listed, Listing, Marker, Plan, Reply, Token,
    TxnDescription, Write,
};

/// The topic of the coordinator's log.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// Kafka's transaction.state.log.num.partitions default.
pub const DEFAULT_PARTITIONS: i32 = 50;
/// Where AddOffsetsToTxn's group partition lives.
pub use crate::group::OFFSETS_TOPIC;

/// The `__transaction_state` partition of `transactional_id`, as Kafka's
/// TransactionStateManager.partitionFor: `Utils.abs(hashCode) % count`,
/// where `Utils.abs(i32::MIN)` is 0.
pub fn partition_for(transactional_id: &str, partition_count: i32) -> i32 {
    let hash = crate::util::java_hash(transactional_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partition_count.max(1)
}
