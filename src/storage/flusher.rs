//! The per-partition flusher task: group commit of queued appends.
//!
//! Each round takes everything pending (capped at WRITE_CAP bytes), writes
//! it with one aligned `write_at` per segment touched (tail block + new
//! batches + padding), updates the indexes, then in fsync mode issues one
//! `fdatasync`, and only then advances the durable end (and with it, unless
//! the replication layer holds it back, the high watermark) and wakes
//! durable and data waiters. Appends arriving meanwhile form the next round.
//! In periodic mode the durable end moves after the write and fdatasync runs
//! when flush_interval_messages or flush_interval_ms is reached. Rolls and
//! truncations (`truncate`) happen here, between writes.
//!
//! Owns: every write, sync, truncate and roll of the log files. Must not:
//! run two writes to a file at once (it is the only writer and awaits each),
//! hold the state borrow across an await, or acknowledge after an I/O error
//! (the log stops: waiters fail, appends are refused).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::log::{Inner, Pending};
use super::recovery::sync_dir;
use super::segment::{self, BatchInfo, Segment};
use super::truncate::{self, Truncation};
use super::StorageError;

/// Largest single write; more pending data waits for the next round.
const WRITE_CAP: usize = 4 << 20;

/// A one-waiter wake-up flag (the flusher is its only waiter).
#[derive(Default)]
pub struct Notify {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// Written but not yet fdatasync'ed (periodic mode).
#[derive(Default)]
struct Unsynced {
    messages: u64,
    since: Option<Instant>,
}

enum Step {
    Write(Vec<Pending>),
    Sync,
    /// Retention asked for the active segment to be closed.
    Roll,
    /// `truncate_to` / `truncate_fully` (nothing is pending or in flight).
    Truncate(Truncation),
    Wait(Option<Duration>),
    Exit,
}

pub async fn run(inner: Rc<Inner>) {
    let mut unsynced = Unsynced::default();
    loop {
        let result = match next_step(&inner, &unsynced) {
            Step::Write(round) => write_round(&inner, round, &mut unsynced).await,
            Step::Sync => sync_active(&inner, &mut unsynced).await,
            Step::Roll => requested_roll(&inner, &mut unsynced).await,
            Step::Truncate(t) => {
                // The truncation syncs what it keeps of the active segment.
                unsynced = Unsynced::default();
                truncate::run(&inner, t).await
            }
            Step::Wait(timeout) => {
                wait(&inner, timeout).await;
                Ok(())
            }
            Step::Exit => break,
        };
        if let Err(e) = result {
            fail(&inner, e);
            break;
        }
    }
    let mut st = inner.st.borrow_mut();
    st.flusher_running = false;
    for tx in st.close_waiters.drain(..) {
        let _ = tx.send(());
    }
    let err = st.failed.clone().unwrap_or(StorageError::Closed);
    let hw_waiters = std::mem::take(&mut st.hw_waiters).into_values().flatten();
    let truncations: Vec<_> = st.truncations.drain(..).map(|(_, tx)| tx).collect();
    let roll: Vec<_> = st.roll_waiters.drain(..).collect();
    let all: Vec<_> = roll
        .into_iter()
        .chain(hw_waiters)
        .chain(truncations)
        .collect();
    for tx in all {
        let _ = tx.send(Err(err.clone()));
    }
}

fn next_step(inner: &Inner, unsynced: &Unsynced) -> Step {
    let mut st = inner.st.borrow_mut();
    if st.failed.is_some() {
        return Step::Exit;
    }
    if !st.pending.is_empty() {
        let mut round = Vec::new();
        let mut bytes = 0;
        while let Some(p) = st.pending.front() {
            if !round.is_empty() && bytes + p.data.len() > WRITE_CAP {
                break;
            }
            bytes += p.data.len();
            round.extend(st.pending.pop_front());
        }
        return Step::Write(round);
    }
    if let Some((t, _)) = st.truncations.front() {
        return Step::Truncate(*t);
    }
    let due = sync_due_in(inner, unsynced);
    if due == Some(Duration::ZERO) || (st.closing && unsynced.messages > 0) {
        return Step::Sync;
    }
    if st.closing {
        return Step::Exit;
    }
    if !st.roll_waiters.is_empty() {
        return Step::Roll;
    }
    Step::Wait(due)
}

/// Time until the periodic flush is due (None: nothing to flush or no
/// time-based flush configured).
fn sync_due_in(inner: &Inner, unsynced: &Unsynced) -> Option<Duration> {
    let since = unsynced.since?;
    let ms = inner.config().flush_interval_ms?;
    Some(Duration::from_millis(ms).saturating_sub(since.elapsed()))
}

async fn wait(inner: &Inner, timeout: Option<Duration>) {
    match timeout {
        Some(t) => {
            futures_lite::future::or(inner.wake.wait(), glommio::timer::sleep(t)).await;
        }
        None => inner.wake.wait().await,
    }
}

/// Writes one round, syncs per the mode, then publishes it.
async fn write_round(
    inner: &Inner,
    round: Vec<Pending>,
    unsynced: &mut Unsynced,
) -> Result<(), StorageError> {
    debug_assert!(!round.is_empty());
    let mut i = 0;
    while i < round.len() {
        let (n, roll) = plan_group(inner, &round[i..]);
        if n > 0 {
            write_group(inner, &round[i..i + n]).await?;
            i += n;
        }
        if roll {
            // A follower's batches may start past the active segment's end
            // (the leader's log has a gap): the new segment starts at the
            // next batch, so its offsets stay within i32 of its base.
            let next_base = round.get(i).map(|p| p.base);
            roll_segment(inner, unsynced, next_base).await?;
        }
    }
    let last = round.last().map_or(-1, |p| p.last);
    inner
        .stats
        .committed(round.iter().map(|p| p.data.len() as u64).sum());
    let messages: u64 = round.iter().map(|p| p.records).sum();
    let cfg = inner.config();
    if cfg.sync_every_append() {
        fdatasync_active(inner).await?;
    } else {
        unsynced.messages += messages;
        unsynced.since.get_or_insert_with(Instant::now);
        if cfg
            .flush_interval_messages
            .is_some_and(|n| unsynced.messages >= n)
        {
            sync_active(inner, unsynced).await?;
        }
    }
    let max_ts = round
        .iter()
        .map(|p| (p.max_ts, p.base))
        .reduce(|a, b| if b.0 > a.0 { b } else { a });
    publish(inner, last + 1, max_ts);
    Ok(())
}

fn info(p: &Pending) -> BatchInfo {
    BatchInfo {
        base_offset: p.base,
        last_offset: p.last,
        max_timestamp: p.max_ts,
        len: p.data.len() as u64,
    }
}

/// How many of `batches` fit in the active segment, and whether it must
/// roll after them.
fn plan_group(inner: &Inner, batches: &[Pending]) -> (usize, bool) {
    let st = inner.st.borrow();
    let Some(active) = st.segments.last() else {
        return (0, true);
    };
    let cfg = inner.config();
    let mut planned = (0u64, 0usize);
    for p in batches {
        if active.needs_roll(&info(p), p.append_ms, planned, &cfg) {
            return (planned.1, true);
        }
        planned = (planned.0 + p.data.len() as u64, planned.1 + 1);
    }
    (planned.1, false)
}

async fn write_group(inner: &Inner, group: &[Pending]) -> Result<(), StorageError> {
    let data: Vec<Bytes> = group.iter().map(|p| p.data.clone()).collect();
    inner
        .stats
        .written(data.iter().map(|d| d.len() as u64).sum());
    let (file, pos, buf, tail) = {
        let st = inner.st.borrow();
        let active = st.segments.last().ok_or(StorageError::Closed)?;
        let (pos, buf, tail) = active.plan_write(&data);
        (active.file(), pos, buf, tail)
    };
    segment::write_buffer(&file, pos, buf).await?;
    let infos: Vec<BatchInfo> = group.iter().map(info).collect();
    let append_ms = group.first().map_or(0, |p| p.append_ms);
    let mut st = inner.st.borrow_mut();
    let active = st.segments.last_mut().ok_or(StorageError::Closed)?;
    active.commit_write(&infos, tail, append_ms);
    Ok(())
}

/// Seals the active segment (truncate, fdatasync, trim indexes) and starts
/// a new one at the next offset. The order makes every non-last segment
/// end exactly at its last batch on disk before its successor exists.
async fn roll_segment(
    inner: &Inner,
    unsynced: &mut Unsynced,
    next_base: Option<i64>,
) -> Result<(), StorageError> {
    let (file, size, next) = {
        let st = inner.st.borrow();
        let active = st.segments.last().ok_or(StorageError::Closed)?;
        let next = active.next_offset().max(next_base.unwrap_or(i64::MIN));
        (active.file(), active.size(), next)
    };
    segment::truncate_and_sync(&file, size).await?;
    *unsynced = Unsynced::default(); // the seal synced everything written
    inner
        .st
        .borrow_mut()
        .segments
        .last_mut()
        .ok_or(StorageError::Closed)?
        .finish_seal()?;
    let cfg = inner.config();
    let seg = Segment::create(&inner.dir, next, &cfg).await?;
    sync_dir(&inner.dir)?;
    tracing::debug!(dir = %inner.dir.display(), base = next, "rolled segment");
    inner.st.borrow_mut().segments.push(seg);
    Ok(())
}

/// Rolls for retention (nothing is pending: the round before wrote it all)
/// unless the active segment is empty, then answers the waiters.
async fn requested_roll(inner: &Inner, unsynced: &mut Unsynced) -> Result<(), StorageError> {
    let empty = {
        let st = inner.st.borrow();
        st.segments.last().is_none_or(|s| s.size() == 0)
    };
    let result = if empty {
        Ok(())
    } else {
        roll_segment(inner, unsynced, None).await
    };
    let waiters = std::mem::take(&mut inner.st.borrow_mut().roll_waiters);
    for tx in waiters {
        let _ = tx.send(result.clone());
    }
    result
}

async fn fdatasync_active(inner: &Inner) -> Result<(), StorageError> {
    let file = {
        let st = inner.st.borrow();
        st.segments.last().ok_or(StorageError::Closed)?.file()
    };
    let started = Instant::now();
    let synced = file
        .fdatasync()
        .await
        .map_err(|e| StorageError::io("fdatasync segment".into(), e.into()));
    inner.stats.fsynced(started.elapsed());
    synced
}

async fn sync_active(inner: &Inner, unsynced: &mut Unsynced) -> Result<(), StorageError> {
    fdatasync_active(inner).await?;
    *unsynced = Unsynced::default();
    Ok(())
}

/// Moves the durable end to `end` (and the log's max timestamp to the
/// round's, if larger) and wakes whoever waited for it or for the high
/// watermark it may raise.
fn publish(inner: &Inner, end: i64, round_max_ts: Option<(i64, i64)>) {
    let mut st = inner.st.borrow_mut();
    debug_assert!(end >= st.durable_end, "durable end moves forward");
    st.durable_end = end;
    // The round is written: the active segment ends exactly at `end`.
    if let Some(active) = st.segments.last() {
        debug_assert_eq!(active.next_offset(), end);
        if active.next_offset() == end {
            st.hw_mark = (active.base_offset, active.size());
        }
    }
    if let Some(m) = round_max_ts {
        if st.max_ts.is_none_or(|(ts, _)| m.0 > ts) {
            st.max_ts = Some(m);
        }
    }
    let ready = st.take_ready();
    drop(st);
    ready.fire();
}

/// Stops the log after an I/O error: nothing more is acknowledged.
fn fail(inner: &Inner, e: StorageError) {
    tracing::error!(dir = %inner.dir.display(), "partition log stopped: {e}");
    let mut st = inner.st.borrow_mut();
    let stopped = StorageError::Stopped(e.to_string());
    st.failed = Some(stopped.clone());
    st.pending.clear();
    inner.cache.clear();
    let waiters = std::mem::take(&mut st.durable);
    let hw_waiters = std::mem::take(&mut st.hw_waiters);
    let truncations: Vec<_> = st.truncations.drain(..).map(|(_, tx)| tx).collect();
    drop(st);
    let all = waiters
        .into_values()
        .chain(hw_waiters.into_values())
        .flatten();
    for tx in all.chain(truncations) {
        let _ = tx.send(Err(stopped.clone()));
    }
}
