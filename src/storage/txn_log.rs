//! A partition log's transactional side (`txn_state` holds the rules):
//! the last stable offset, the aborted transactions a read_committed
//! fetch returns, and the markers the transaction coordinator writes.
//!
//! Owns: reaching that state through the log. Must not: decide whether a
//! marker is due (the coordinator does) or await while borrowing state.

use bytes::Bytes;

use super::log::{Appended, State};
use super::records::encode_marker;
use super::txn_state::Marker;
use super::{AppendError, PartitionLog};

/// Who writes an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A producer's batches.
    Client,
    /// The broker's own transaction markers.
    Coordinator,
}

impl State {
    /// Read_committed consumers read below this (Kafka's LSO).
    pub fn last_stable_offset(&self) -> i64 {
        self.txns.last_stable_offset(self.high_watermark())
    }
}

/// A commit or abort marker to write for one producer.
#[derive(Debug, Clone, Copy)]
pub struct MarkerSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub marker: Marker,
    pub coordinator_epoch: i32,
}

/// One producer a partition knows (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// -1 when it has written no batch in this epoch.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// -1 when no marker of its has been written here.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, -1 if none.
    pub current_txn_start_offset: i64,
}

impl PartitionLog {
    /// The producers this partition keeps state for, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let st = self.inner().st.borrow();
        let mut out: Vec<ActiveProducer> = st
            .producers
            .producers()
            .map(|(pid, epoch, last)| ActiveProducer {
                producer_id: pid,
                producer_epoch: epoch,
                last_sequence: last.map_or(-1, |b| b.last_seq),
                last_timestamp: last.map_or(-1, |b| b.max_timestamp),
                coordinator_epoch: st.txns.coordinator_epoch(pid).unwrap_or(-1),
                current_txn_start_offset: st.txns.open_since(pid).unwrap_or(-1),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// The last stable offset: below the high watermark, and below the
    /// first offset of any transaction not yet decided and replicated.
    pub fn last_stable_offset(&self) -> i64 {
        let mut st = self.inner().st.borrow_mut();
        let hw = st.high_watermark();
        st.txns.prune_stable(hw);
        st.txns.last_stable_offset(hw)
    }

    /// (producer id, first offset) of the aborted transactions a read of
    /// [`from`, `to`) overlaps.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let mut st = self.inner().st.borrow_mut();
        let start = st.log_start();
        st.txns.forget_before(start);
        st.txns.aborted_between(from, to)
    }

    /// Whether `producer_id` has a transaction open in this partition.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.inner().st.borrow().txns.is_open(producer_id)
    }

    /// Whether the producer, at this epoch, has a transaction open here:
    /// its batches already began it, so the coordinator has the partition
    /// (Kafka's hasOngoingTransaction, which spares the verification).
    pub fn has_ongoing_transaction(&self, producer_id: i64, producer_epoch: i16) -> bool {
        let st = self.inner().st.borrow();
        st.txns.is_open(producer_id) && st.producers.epoch(producer_id) == Some(producer_epoch)
    }

    /// Appends the control batch ending `spec`'s transaction here.
    pub fn append_marker(
        &self,
        spec: MarkerSpec,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        let batch: Bytes = encode_marker(&spec, now_ms)
            .map_err(|e| AppendError::InvalidRecord(format!("marker: {e}")))?;
        self.append_from(&batch, leader_epoch, now_ms, false, Origin::Coordinator)
    }
}
