//! What replication needs of a [`PartitionLog`]: the follower's append
//! (batches stored exactly as the leader wrote them), the replication high
//! watermark and its waits, and the leader-epoch cache's queries.
//!
//! Owns: the replica append's checks (every batch valid, offsets at or
//! after the log end and increasing, epochs never decreasing) and the
//! high-watermark setter. Must not: rewrite a replica batch in any way,
//! run idempotence checks on it (the leader did; producer state is only
//! replayed so a follower that becomes leader knows its producers), or know
//! the replication protocol (the caller decides offsets and epochs).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_channel::oneshot;

use super::batch::{self, BatchHeader};
use super::log::{append_error, Appended, Pending, State};
use super::reader::{DataWait, WaitKind};
use super::txn_state;
use super::{AppendError, PartitionLog, StorageError};

/// Checks every batch of a replica append; returns them with their bytes.
fn plan_replica(st: &State, records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, AppendError> {
    let invalid = |m: String| Err(AppendError::InvalidRecord(m));
    let mut rest = records.clone();
    let mut expected = st.log_end;
    let mut latest = st.epochs.latest_epoch();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let h = batch::validate(&rest).map_err(append_error)?;
        if h.last_offset_delta < 0 {
            return invalid(format!("lastOffsetDelta {}", h.last_offset_delta));
        }
        if h.base_offset < expected {
            return invalid(format!(
                "replica append out of order: batch at {} below {expected}",
                h.base_offset
            ));
        }
        let Some(next) = h
            .base_offset
            .checked_add(i64::from(h.last_offset_delta) + 1)
        else {
            return invalid("offset overflow".into());
        };
        if h.leader_epoch >= 0 {
            if latest.is_some_and(|l| h.leader_epoch < l) {
                return invalid(format!(
                    "replica batch at {} has leader epoch {} below {latest:?}",
                    h.base_offset, h.leader_epoch
                ));
            }
            latest = Some(h.leader_epoch);
        }
        expected = next;
        let data = rest.split_to(h.total_len());
        out.push((h, data));
    }
    if out.is_empty() {
        return invalid("no record batches".into());
    }
    Ok(out)
}

impl PartitionLog {
    /// Appends batches fetched from the leader exactly as they are: no
    /// offset, epoch or timestamp rewriting, no idempotence checks. All or
    /// nothing: every batch must be valid (CRC, magic 2, lengths), the first
    /// at or after the log end (gaps allowed: a compacted leader has them),
    /// each after the previous one's last offset, and no batch's leader
    /// epoch below the latest known (`InvalidRecord` otherwise). The log end
    /// becomes the last batch's last offset + 1; a batch with a newer epoch
    /// adds an epoch-cache entry at its base offset. Durability, cache and
    /// indexes are as for [`PartitionLog::append`].
    pub fn append_replica(&self, records: &Bytes, now_ms: i64) -> Result<Appended, AppendError> {
        let inner = self.inner();
        let mut st = inner.st.borrow_mut();
        st.accepting()?;
        let planned = plan_replica(&st, records)?;
        let mut epochs_changed = false;
        for (h, data) in planned.iter() {
            st.producers.replay(h);
            let marker = txn_state::control_marker(h, data);
            st.txns.record(h, h.base_offset, h.last_offset(), marker);
            epochs_changed |= st.epochs.assign(h.leader_epoch, h.base_offset);
            inner
                .cache
                .push(h.base_offset, h.last_offset(), data.clone());
            st.pending.push_back(Pending {
                base: h.base_offset,
                last: h.last_offset(),
                max_ts: h.max_timestamp,
                records: h.record_count.max(0) as u64,
                append_ms: now_ms,
                data: data.clone(),
            });
        }
        if epochs_changed {
            inner.epoch_file.store(&st.epochs);
        }
        let base_offset = planned.first().map_or(st.log_end, |(h, _)| h.base_offset);
        let last_offset = planned
            .last()
            .map_or(st.log_end - 1, |(h, _)| h.last_offset());
        st.log_end = last_offset + 1;
        let durable = st.durable_after(last_offset);
        drop(st);
        inner.wake.notify();
        Ok(Appended {
            base_offset,
            last_offset,
            duplicate: false,
            durable,
        })
    }

    /// Sets the replication layer's high watermark. `None`: the high
    /// watermark follows the durable end (standalone, or an ISR of one).
    /// `Some(x)`: it is `x`, bounded by the durable end (and not below the
    /// log start). It may go down (a follower truncating), though callers
    /// normally only raise it; waiters are woken when it rises.
    pub fn set_high_watermark(&self, hw: Option<i64>) {
        let mut st = self.inner().st.borrow_mut();
        st.replicated = hw;
        let ready = st.take_ready();
        drop(st);
        ready.fire();
    }

    /// Resolves once the durable end is above `offset` (a leader's
    /// long-polled follower fetch).
    pub fn wait_for_durable(&self, offset: i64) -> impl Future<Output = ()> + 'static {
        DataWait::new(self.inner().clone(), WaitKind::Durable, offset)
    }

    /// Resolves Ok once the high watermark is above `offset` (acks=all);
    /// Err if the log fails or closes first, or is truncated below it.
    pub fn wait_for_hw(
        &self,
        offset: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), StorageError>>>> {
        let mut st = self.inner().st.borrow_mut();
        if st.high_watermark() > offset {
            return Box::pin(std::future::ready(Ok(())));
        }
        if let Some(e) = &st.failed {
            return Box::pin(std::future::ready(Err(e.clone())));
        }
        if !st.flusher_running {
            return Box::pin(std::future::ready(Err(StorageError::Closed)));
        }
        let (tx, rx) = oneshot::channel();
        st.hw_waiters.entry(offset).or_default().push(tx);
        Box::pin(async move { rx.await.unwrap_or(Err(StorageError::Closed)) })
    }

    /// A new leader records that `epoch` starts at `start_offset` (its log
    /// end) before any append in it (Kafka's `assignEpochStartOffset`).
    /// Ignored unless `epoch` is newer than the latest known.
    pub fn assign_epoch_start(&self, epoch: i32, start_offset: i64) {
        let inner = self.inner();
        let mut st = inner.st.borrow_mut();
        if st.epochs.assign(epoch, start_offset) {
            inner.epoch_file.store(&st.epochs);
        }
    }

    /// The epoch of the latest epoch-cache entry (a follower's
    /// LastFetchedEpoch).
    pub fn latest_epoch(&self) -> Option<i32> {
        self.inner().st.borrow().epochs.latest_epoch()
    }

    /// Kafka's `endOffsetFor` (OffsetForLeaderEpoch): for the latest epoch,
    /// (it, log end); otherwise the largest known epoch <= `epoch` (or
    /// `epoch` itself if none) with the start offset of the first higher
    /// epoch. None for -1 or when no higher epoch is known.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let st = self.inner().st.borrow();
        st.epochs.end_offset_for(epoch, st.log_end)
    }

    /// The epoch cache's entries: (epoch, start offset), increasing.
    pub fn leader_epochs(&self) -> Vec<(i32, i64)> {
        self.inner().st.borrow().epochs.entries().to_vec()
    }
}
