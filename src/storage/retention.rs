//! Log start offset, DeleteRecords and retention (retention.ms /
//! retention.bytes) of a [`PartitionLog`].
//!
//! Owns: moving the log start offset (never backwards) and persisting it
//! when it sits inside a segment (`checkpoint`), choosing whole non-active
//! segments to delete from the oldest end, and removing them: first from
//! the in-memory list (one synchronous step, so appends and reads never see
//! half a deletion), then their files. A reader that already holds an
//! `Rc<DmaFile>` of a deleted segment finishes its read: the inode lives
//! until the last handle closes. Must not: delete or write the active
//! segment (it asks the flusher to roll it), or hold the state borrow
//! across an await.

use futures_channel::oneshot;

use super::checkpoint;
use super::log::{Inner, PartitionLog, State};
use super::recovery::remove_segment_files;
use super::segment::Segment;
use super::StorageError;

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    /// The log start offset after the pass.
    pub log_start_offset: i64,
    /// The active segment was rolled because all of it was past retention.ms.
    pub rolled: bool,
}

impl State {
    /// Removes the oldest non-active segments for which `expired(segment,
    /// next segment's base, bytes of the log still kept)` holds, stopping at
    /// the first that is kept; moves the log start offset past them.
    fn take_oldest(&mut self, mut expired: impl FnMut(&Segment, i64, u64) -> bool) -> Vec<Segment> {
        if self.truncating {
            return Vec::new(); // the truncation owns the segment list; next pass
        }
        let mut total: u64 = self.segments.iter().map(Segment::size).sum();
        let mut n = 0;
        while n + 1 < self.segments.len() {
            let next_base = self.segments[n + 1].base_offset;
            if !expired(&self.segments[n], next_base, total) {
                break;
            }
            total -= self.segments[n].size();
            n += 1;
        }
        let removed: Vec<Segment> = self.segments.drain(..n).collect();
        if let Some(first) = self.segments.first() {
            self.start = self.start.max(first.base_offset);
        }
        if !removed.is_empty() {
            self.refresh_max_timestamp();
        }
        removed
    }

    /// Recomputes the log's max timestamp after segments left or were
    /// rewritten: the largest over the remaining segments, ignoring a batch
    /// not yet below the high watermark (its flusher round publishes it).
    pub fn refresh_max_timestamp(&mut self) {
        let hw = self.durable_end;
        self.max_ts = self
            .segments
            .iter()
            .filter_map(Segment::max_timestamp)
            .filter(|&(_, off)| off < hw)
            .reduce(|a, b| if b.0 > a.0 { b } else { a });
    }
}

/// Keeps the leader-epoch cache within the log (Kafka's
/// `truncateFromStart`) after the log start moved.
fn trim_epochs(inner: &Inner, st: &mut State) {
    if st.epochs.truncate_from_start(st.start) {
        inner.epoch_file.store(&st.epochs);
    }
}

/// Unlinks the files of segments already out of the in-memory list.
fn delete_files(inner: &Inner, removed: Vec<Segment>) -> (usize, u64) {
    let bytes = removed.iter().map(Segment::size).sum();
    let n = removed.len();
    for seg in removed {
        let base = seg.base_offset;
        drop(seg); // unmaps its indexes; open reads keep their file handle
        remove_segment_files(&inner.dir, base);
        tracing::debug!(dir = %inner.dir.display(), base, "deleted segment");
    }
    (n, bytes)
}

impl PartitionLog {
    /// DeleteRecords: makes `offset` (-1: the high watermark) the log start
    /// offset if it is higher, persists it, deletes the segments entirely
    /// below it (never the active one) and returns the new log start.
    /// An offset above the high watermark, or negative other than -1, is
    /// [`StorageError::OffsetOutOfRange`].
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let inner = self.inner();
        let (target, current) = {
            let st = inner.st.borrow();
            if let Some(e) = &st.failed {
                return Err(e.clone());
            }
            let hw = st.high_watermark();
            let target = if offset == -1 { hw } else { offset };
            if !(0..=hw).contains(&target) {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    high_watermark: hw,
                });
            }
            (target, st.start)
        };
        if target <= current {
            return Ok(current);
        }
        // Durable first: a crash after this point restarts from `target`.
        // No await since the check above, so no other change interleaved.
        checkpoint::write_log_start(&inner.dir, target)?;
        let removed = {
            let mut st = inner.st.borrow_mut();
            st.start = st.start.max(target);
            let removed = st.take_oldest(|_, next_base, _| next_base <= target);
            trim_epochs(inner, &mut st);
            removed
        };
        delete_files(inner, removed);
        Ok(self.log_start_offset())
    }

    /// One retention pass at `now_ms` (-1 = unlimited for either limit).
    /// Deletes whole non-active segments from the oldest while one of
    /// these holds: its largest timestamp is older than now - retention_ms;
    /// the log would still hold at least retention_bytes without it
    /// (Kafka's rule); it lies entirely below the log start offset. If the
    /// active segment is non-empty and entirely past retention.ms it is
    /// rolled first (as Kafka does), so it goes in the same pass.
    pub async fn enforce_retention(
        &self,
        retention_ms: i64,
        retention_bytes: i64,
        now_ms: i64,
    ) -> Result<RetentionOutcome, StorageError> {
        let inner = self.inner();
        let cutoff = (retention_ms >= 0).then(|| now_ms.saturating_sub(retention_ms));
        let mut rolled = false;
        if let Some(cutoff) = cutoff {
            let roll = {
                let mut st = inner.st.borrow_mut();
                if let Some(e) = &st.failed {
                    return Err(e.clone());
                }
                let active = st.segments.last();
                let expired = active.is_some_and(|a| {
                    a.size() > 0 && a.max_timestamp().is_some_and(|(ts, _)| ts < cutoff)
                });
                (expired && st.flusher_running && !st.closing).then(|| {
                    let (tx, rx) = oneshot::channel();
                    st.roll_waiters.push(tx);
                    rx
                })
            };
            if let Some(rx) = roll {
                inner.wake.notify();
                rx.await.unwrap_or(Err(StorageError::Closed))?;
                rolled = true;
            }
        }
        let removed = {
            let mut st = inner.st.borrow_mut();
            let start = st.start;
            let removed = st.take_oldest(|seg, next_base, total| {
                let by_time =
                    cutoff.is_some_and(|c| seg.max_timestamp().is_none_or(|(ts, _)| ts < c));
                let by_size = retention_bytes >= 0
                    && total.saturating_sub(seg.size()) >= retention_bytes as u64;
                by_time || by_size || next_base <= start
            });
            trim_epochs(inner, &mut st);
            removed
        };
        let (segments_deleted, bytes_deleted) = delete_files(inner, removed);
        Ok(RetentionOutcome {
            segments_deleted,
            bytes_deleted,
            log_start_offset: self.log_start_offset(),
            rolled,
        })
    }
}
