//! Truncation of a [`PartitionLog`]: `truncate_to` (a follower dropping
//! batches its leader does not have) and `truncate_fully` (a follower whose
//! fetch offset fell below the leader's log start restarts empty).
//!
//! The caller's half only queues the request (appends are refused from
//! then on, retention and compaction stand aside, batches not yet handed to
//! the flusher that the truncation removes are dropped) and waits. The
//! flusher runs the rest between rounds, so no write is in flight: first
//! one synchronous step that lowers the log end, durable end, high
//! watermark, cache and epoch cache (readers never see what is going
//! away; waiters for removed offsets fail with `Truncated`), then the file
//! work, then the rebuilt active segment and producer state are swapped in.
//!
//! Crash safety: later segments are deleted newest first, then the segment
//! holding the cut is truncated and synced; at every step the files hold a
//! prefix of the old log, which recovery accepts. `truncate_fully` creates
//! its empty segment before deleting the old ones (recovery drops segments
//! that overlap their predecessor), then records the new log start.
//!
//! Producer state is rebuilt by rescanning every remaining segment, as
//! recovery does: simple and certainly right, and truncation is rare (a
//! leader change), so the cost of one sequential read of the log is fine.
//!
//! Owns: the truncation steps. Must not: hold the state borrow across an
//! await, run anywhere but in the flusher task, or leave the log end inside
//! a batch.

use futures_channel::oneshot;

use super::checkpoint;
use super::log::{Inner, PartitionLog, State};
use super::reader::Window;
use super::recovery::{self, remove_segment_files, sync_dir};
use super::segment::{self, Segment};
use super::StorageError;

/// A truncation request, queued for the flusher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truncation {
    /// Remove every batch holding an offset at or above this.
    To(i64),
    /// Remove everything; the log restarts empty at this offset.
    Fully(i64),
}

impl PartitionLog {
    /// Removes every batch with an offset at or above `offset` (a batch
    /// holding `offset` goes whole). The log end becomes the end of the last
    /// batch kept (`offset` itself when the cut is at a batch boundary with
    /// no gap below). No-op if `offset` >= the log end; at or below the log
    /// start it is [`PartitionLog::truncate_fully`]`(offset)`. The durable
    /// end and the replication high watermark come down with it; durable and
    /// `wait_for_hw` waiters of removed offsets fail with
    /// [`StorageError::Truncated`]. Appends made while it runs are refused
    /// with `AppendError::Stopped`.
    pub async fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                high_watermark: self.high_watermark(),
            });
        }
        self.request(Truncation::To(offset)).await
    }

    /// Deletes every segment and restarts the log empty at `new_start`: log
    /// start = log end = durable end = `new_start`, producer state and epoch
    /// cache cleared (a follower whose fetch offset is below its leader's
    /// log start).
    pub async fn truncate_fully(&self, new_start: i64) -> Result<(), StorageError> {
        if new_start < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset: new_start,
                high_watermark: self.high_watermark(),
            });
        }
        self.request(Truncation::Fully(new_start)).await
    }

    /// A truncation is queued or running: the log end is about to move
    /// down (a follower becoming leader waits for it to settle).
    pub fn is_truncating(&self) -> bool {
        self.inner().st.borrow().truncating
    }

    async fn request(&self, t: Truncation) -> Result<(), StorageError> {
        let inner = self.inner();
        let rx = {
            let mut st = inner.st.borrow_mut();
            if let Some(e) = &st.failed {
                return Err(e.clone());
            }
            if st.closing || !st.flusher_running {
                return Err(StorageError::Closed);
            }
            let cut = match t {
                Truncation::To(o) if o >= st.log_end && st.truncations.is_empty() => {
                    // No data goes, but an epoch assigned at the log end
                    // with nothing written in it does: a follower that was
                    // leader for an empty epoch must stop naming it as its
                    // last fetched epoch, or its leader sends it back here
                    // forever.
                    if st.epochs.truncate_from_end(o) {
                        inner.epoch_file.store(&st.epochs);
                    }
                    return Ok(());
                }
                Truncation::To(o) => o,
                Truncation::Fully(_) => i64::MIN,
            };
            st.truncating = true;
            // Never written, so dropped here; the flusher fixes the rest.
            st.pending.retain(|p| p.last < cut);
            let (tx, rx) = oneshot::channel();
            st.truncations.push_back((t, tx));
            rx
        };
        inner.wake.notify();
        rx.await.unwrap_or(Err(StorageError::Closed))
    }
}

/// The flusher's half: runs the oldest queued truncation and answers it.
pub(super) async fn run(inner: &Inner, t: Truncation) -> Result<(), StorageError> {
    let result = match t {
        Truncation::To(offset) => truncate_to(inner, offset).await,
        Truncation::Fully(start) => truncate_fully(inner, start).await,
    };
    let tx = {
        let mut st = inner.st.borrow_mut();
        let tx = st.truncations.pop_front().map(|(_, tx)| tx);
        st.truncating = !st.truncations.is_empty();
        tx
    };
    if let Some(tx) = tx {
        let _ = tx.send(result.clone());
    }
    result
}

/// Lowers every bound of the log to `end` (nothing at or above it is
/// readable, waited for, cached or in the epoch cache any more).
fn lower_to(inner: &Inner, st: &mut State, end: i64) {
    st.log_end = st.log_end.min(end);
    st.durable_end = st.durable_end.min(end);
    st.replicated = st.replicated.map(|r| r.min(end));
    inner.cache.truncate_from(end);
    if st.epochs.truncate_from_end(end) {
        inner.epoch_file.store(&st.epochs);
    }
    fail_waiters_from(st, end);
    st.refresh_max_timestamp();
}

/// Fails durable and high-watermark waiters of offsets at or above `end`.
fn fail_waiters_from(st: &mut State, end: i64) {
    let failed = StorageError::Truncated(end);
    let durable = st.durable.split_off(&end);
    let hw = st.hw_waiters.split_off(&end);
    for tx in durable.into_values().chain(hw.into_values()).flatten() {
        let _ = tx.send(Err(failed.clone()));
    }
}

/// The segment holding the cut, as seen before the file work.
struct Cut {
    base: i64,
    file: std::rc::Rc<glommio::io::DmaFile>,
    size: u64,
    /// Index position to walk from towards the cut.
    from: u64,
    /// Offset after its last batch.
    next: i64,
    /// The segment was the active one and nothing after it goes.
    active: bool,
}

/// The last segment starting below `offset`; None when the log must be
/// emptied instead (`offset` at or below the log start).
fn find_cut(st: &State, offset: i64) -> Option<Cut> {
    let i = st.segments.partition_point(|s| s.base_offset < offset);
    if offset <= st.start || i == 0 {
        return None;
    }
    let s = &st.segments[i - 1];
    Some(Cut {
        base: s.base_offset,
        file: s.file(),
        size: s.size(),
        from: s.position_for(offset),
        next: s.next_offset(),
        active: i == st.segments.len() && !s.is_sealed(),
    })
}

async fn truncate_to(inner: &Inner, offset: i64) -> Result<(), StorageError> {
    let cut = find_cut(&inner.st.borrow(), offset);
    let Some(cut) = cut else {
        return truncate_fully(inner, offset).await;
    };
    // The first batch holding an offset >= `offset`: the byte and offset
    // bound of what is kept.
    let mut w = Window::new(cut.file.clone(), cut.size);
    let found = w.find(cut.from, |h| h.last_offset() >= offset).await?;
    let (pos, bound) = match found {
        Some((pos, h)) => (pos, h.base_offset),
        None => (cut.size, cut.next),
    };
    let later = {
        let mut st = inner.st.borrow_mut();
        let i = st.segments.partition_point(|s| s.base_offset <= cut.base);
        let later: Vec<i64> = st.segments.drain(i..).map(|s| s.base_offset).collect();
        st.hw_mark = (cut.base, pos);
        lower_to(inner, &mut st, bound);
        later
    };
    for &base in later.iter().rev() {
        remove_segment_files(&inner.dir, base);
    }
    if !later.is_empty() {
        sync_dir(&inner.dir)?;
    }
    if pos < cut.size {
        segment::truncate_and_sync(&cut.file, pos).await?;
    }
    if pos < cut.size || !cut.active {
        let seg = recovery::reopen_active(&inner.dir, cut.base, &inner.config()).await?;
        install_active(inner, seg)?;
    }
    replay_producers(inner).await
}

/// Puts the reopened segment in place of the old one (the last), and sets
/// the log's ends to where it ends.
fn install_active(inner: &Inner, seg: Segment) -> Result<(), StorageError> {
    let mut st = inner.st.borrow_mut();
    let last = st.segments.last_mut().ok_or(StorageError::Closed)?;
    debug_assert_eq!(last.base_offset, seg.base_offset);
    *last = seg;
    let (base, size, end) = (last.base_offset, last.size(), last.next_offset());
    st.hw_mark = (base, size);
    lower_to(inner, &mut st, end);
    Ok(())
}

/// Rebuilds the producer state from the remaining segments.
async fn replay_producers(inner: &Inner) -> Result<(), StorageError> {
    let files: Vec<_> = {
        let st = inner.st.borrow();
        let files = st.segments.iter();
        files.map(|s| (s.file(), s.base_offset, s.size())).collect()
    };
    let replayed = recovery::replay_segments(&files).await?;
    let mut st = inner.st.borrow_mut();
    st.producers = replayed.producers;
    st.txns = replayed.txns;
    Ok(())
}

async fn truncate_fully(inner: &Inner, start: i64) -> Result<(), StorageError> {
    let old: Vec<i64> = {
        let mut st = inner.st.borrow_mut();
        // Dropped here: unmaps their indexes before files are recreated.
        let old = std::mem::take(&mut st.segments);
        st.start = start;
        st.log_end = start;
        st.durable_end = start;
        st.replicated = st.replicated.map(|r| r.min(start));
        st.hw_mark = (start, 0);
        st.max_ts = None;
        st.producers = Default::default();
        st.txns = Default::default();
        if st.epochs.clear() {
            inner.epoch_file.store(&st.epochs);
        }
        fail_waiters_from(&mut st, i64::MIN);
        inner.cache.clear();
        old.iter().map(|s| s.base_offset).collect()
    };
    let seg = Segment::create(&inner.dir, start, &inner.config()).await?;
    sync_dir(&inner.dir)?;
    for &base in old.iter().filter(|&&b| b != start) {
        remove_segment_files(&inner.dir, base);
    }
    sync_dir(&inner.dir)?;
    checkpoint::write_log_start(&inner.dir, start)?;
    inner.st.borrow_mut().segments.push(seg);
    Ok(())
}
