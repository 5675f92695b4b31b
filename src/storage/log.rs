//! [`PartitionLog`]: the public, shard-local handle to one partition's log.
//!
//! ```text
//! PartitionLog::open(dir, LogConfig) -> Result<PartitionLog, StorageError>   (async; spawns the flusher)
//! open_shared(dir, LogConfig, &ShardStorage) -> same, in the shard's cache budget
//! append(&self, records: &Bytes, leader_epoch: i32, now_ms: i64) -> Result<Appended, AppendError>  (sync)
//! log_start_offset / log_end_offset / durable_end / high_watermark (&self) -> i64
//! read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes, ReadError>  (async; read.rs)
//! read_data(&self, offset, max_bytes, min_one) -> Result<ReadData, ReadError>  (async; read.rs: cache Bytes or a file slice for splice)
//! read_data_replica(&self, offset, max_bytes, min_one) -> same, below the durable end (read.rs)
//! offset_for_timestamp(&self, ts: i64) -> Result<Option<(offset, max_ts)>, StorageError>  (async; read.rs)
//! max_timestamp(&self) -> Option<(max_ts, offset)>
//! wait_for_data(&self, offset: i64) -> impl Future<Output = ()> + 'static
//! close(&self) / delete(self) -> Result<(), StorageError>  (async)
//! update_config(&self, LogConfig) / config(&self) -> LogConfig
//! append_with(&self, records, leader_epoch, now_ms, log_append_time: bool) -> Result<Appended, AppendError>
//! delete_records_before(&self, offset: i64) -> Result<i64, StorageError>  (async; retention.rs)
//! enforce_retention(&self, retention_ms, retention_bytes, now_ms) -> Result<RetentionOutcome, StorageError>  (async; retention.rs)
//! compact(&self, &CompactionConfig, now_ms) -> Result<CompactionStats, StorageError>  (async; cleaner.rs)
//! append_replica(&self, records, now_ms) -> Result<Appended, AppendError>  (replica.rs)
//! set_high_watermark(&self, Option<i64>); wait_for_durable(offset); wait_for_hw(offset)  (replica.rs)
//! assign_epoch_start / latest_epoch / end_offset_for_epoch / leader_epochs  (replica.rs, epochs.rs)
//! truncate_to(&self, offset) / truncate_fully(&self, new_start) -> Result<(), StorageError>  (async; truncate.rs)
//! ```
//!
//! Semantics: `append` validates every batch first (all or nothing), runs
//! the idempotence checks, assigns offsets in call order, rewrites
//! baseOffset/leaderEpoch in a copy of the bytes, queues them for the
//! flusher and puts them in the hot-tail cache. `Appended::durable`
//! resolves once the flusher wrote them and (default mode) fdatasync'ed; the
//! durable end moves at the same moment. The high watermark is the durable
//! end (a fresh log), or the replication layer's value bounded by it
//! (`set_high_watermark`), so readers never see data that a crash could take
//! back. `read` serves [offset, hw): OffsetOutOfRange only
//! below the log start or above the log end offset (as Kafka); an offset in
//! [hw, log end] reads empty; an offset in a gap compaction left is answered
//! with the next batch. `max_timestamp` works at batch granularity (the
//! batch's base offset, its maxTimestamp); `offset_for_timestamp` answers
//! the exact record, at or above the log start offset.
//!
//! The log start offset starts at the first segment's base and moves only
//! forward: DeleteRecords (persisted in `log-start-offset`, so it survives a
//! restart even inside a segment) and retention (deleting whole segments).
//! `update_config` applies to the next roll decision and new segments.
//! `append_with(.., true)` stamps LogAppendTime: timestamp-type bit,
//! maxTimestamp = now, CRC recomputed; indexes use the stamped time.
//! Retention and compaction only ever remove or replace closed segments;
//! see `retention` and `cleaner` for their rules and crash safety.
//!
//! Owns: the shared state of a partition and the read path. Must not: await
//! while holding the state borrow, or write files (the flusher does).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use futures_channel::oneshot;

use super::batch::{self, BatchError, BatchHeader, Batches};
use super::cache::PartitionCache;
use super::epochs::{EpochCache, EpochFile};
use super::flusher::{self, Notify};
use super::producer_state::{BatchMeta, ProducerState, SeqCheck, SeqError, Staged};
use super::reader::{DataWait, WaitKind};
use super::recovery;
use super::segment::Segment;
use super::truncate::Truncation;
use super::txn_log::Origin;
use super::txn_state::{self, TxnState};
use super::{AppendError, LogConfig, ShardStorage, StorageError};

/// A batch queued for the flusher.
pub(super) struct Pending {
    pub base: i64,
    pub last: i64,
    pub max_ts: i64,
    pub records: u64,
    pub append_ms: i64,
    pub data: Bytes,
}

pub(super) type DurableTx = oneshot::Sender<Result<(), StorageError>>;

pub(super) struct State {
    pub segments: Vec<Segment>,
    /// The log start offset: at or above the first segment's base (it sits
    /// inside the first segment after DeleteRecords).
    pub start: i64,
    pub log_end: i64,
    /// The durable end: offsets below it are written and (fsync mode)
    /// synced locally. The flusher moves it.
    pub durable_end: i64,
    /// The replication layer's high watermark (None: follow `durable_end`);
    /// see [`State::high_watermark`].
    pub replicated: Option<i64>,
    /// (segment base, size) at the last durable-end move: bytes below it in
    /// that segment hold only batches below `durable_end`.
    pub hw_mark: (i64, u64),
    pub max_ts: Option<(i64, i64)>,
    pub pending: VecDeque<Pending>,
    pub producers: ProducerState,
    /// Open and aborted transactions, the last stable offset's inputs.
    pub txns: TxnState,
    /// Durable waiters by the last offset they need.
    pub durable: BTreeMap<i64, Vec<DurableTx>>,
    /// wait_for_hw waiters by the offset the high watermark must pass.
    pub hw_waiters: BTreeMap<i64, Vec<DurableTx>>,
    /// wait_for_data / wait_for_durable registrations: id → (what, offset,
    /// waker).
    pub data_waiters: BTreeMap<u64, (WaitKind, i64, Waker)>,
    pub next_waiter_id: u64,
    pub failed: Option<StorageError>,
    /// No more appends; the flusher drains and exits.
    pub closing: bool,
    pub closed: bool,
    pub flusher_running: bool,
    pub close_waiters: Vec<oneshot::Sender<()>>,
    /// Retention asked the flusher to roll the active segment.
    pub roll_waiters: Vec<DurableTx>,
    /// A compaction is running (one at a time).
    pub cleaning: bool,
    /// Leader epochs and their start offsets (persisted by `Inner::epoch_file`).
    pub epochs: EpochCache,
    /// Truncations asked of the flusher, in order. While any is queued or
    /// running, appends are refused and retention/compaction stand aside.
    pub truncations: VecDeque<(Truncation, DurableTx)>,
    pub truncating: bool,
}

pub(super) struct Inner {
    pub dir: PathBuf,
    /// Changed live by [`PartitionLog::update_config`]; read with `config()`.
    pub cfg: RefCell<LogConfig>,
    pub st: RefCell<State>,
    pub wake: Notify,
    pub stats: super::stats::LogStats,
    pub epoch_file: EpochFile,
    /// Outside `st` so the shard's budget can evict from it at any time.
    pub cache: Rc<PartitionCache>,
}

/// Keeps the flusher alive while any handle exists; the last handle
/// dropped without `close` stops it (pending data is still written).
struct Handle {
    inner: Rc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(mut st) = self.inner.st.try_borrow_mut() {
            st.closing = true;
        }
        self.inner.wake.notify();
    }
}

/// A partition's log; cheap to clone, owned by one shard (`!Send`).
#[derive(Clone)]
pub struct PartitionLog {
    handle: Rc<Handle>,
}

/// Result of an accepted append.
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The append was a retry of batches already in the log (idempotent
    /// producer): nothing was appended; offsets are the original ones.
    pub duplicate: bool,
    /// Resolves when the data is durable (fsync mode) or written (periodic
    /// mode). Errors if the log failed before that.
    pub durable: Pin<Box<dyn Future<Output = Result<(), StorageError>>>>,
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("base_offset", &self.base_offset)
            .field("last_offset", &self.last_offset)
            .field("duplicate", &self.duplicate)
            .finish_non_exhaustive()
    }
}

pub(super) fn append_error(e: BatchError) -> AppendError {
    match e {
        BatchError::UnsupportedMagic(_) => AppendError::UnsupportedMagic,
        BatchError::InvalidRecord(m) => AppendError::InvalidRecord(m),
        e @ (BatchError::Truncated { .. }
        | BatchError::BadLength(_)
        | BatchError::BadCrc { .. }) => AppendError::Corrupt(e.to_string()),
    }
}

fn seq_error(e: SeqError) -> AppendError {
    match e {
        SeqError::InvalidProducerEpoch => AppendError::InvalidProducerEpoch,
        SeqError::OutOfOrderSequence => AppendError::OutOfOrderSequence,
    }
}

/// A batch accepted by the checks, with its assigned base offset.
struct Planned {
    header: BatchHeader,
    base: i64,
    at: usize,
}

/// Outcome of checking an append.
enum Plan {
    Append(Vec<Planned>, Staged, i64),
    Duplicate(BatchMeta),
}

impl Inner {
    /// A copy of the current config (never borrowed across an await).
    pub fn config(&self) -> LogConfig {
        self.cfg.borrow().clone()
    }
}

impl State {
    pub fn log_start(&self) -> i64 {
        self.start
    }

    pub(super) fn accepting(&self) -> Result<(), AppendError> {
        if let Some(e) = &self.failed {
            return Err(AppendError::Stopped(e.to_string()));
        }
        if self.closing {
            return Err(AppendError::Stopped("log closed".into()));
        }
        if self.truncating {
            // Refused rather than queued: only a follower truncates, and it
            // appends after its truncation returned.
            return Err(AppendError::Stopped("log is being truncated".into()));
        }
        Ok(())
    }

    /// Validates every batch and runs producer checks, changing nothing.
    /// Control batches (transaction markers) are the broker's own: refused
    /// from clients.
    fn plan(&self, records: &Bytes, origin: Origin) -> Result<Plan, AppendError> {
        let mut planned = Vec::new();
        let mut staged = Staged::default();
        let (mut next, mut at) = (self.log_end, 0usize);
        for item in Batches::new(records.clone()) {
            let (h, data) = item.map_err(append_error)?;
            if h.is_control() && origin == Origin::Client {
                return Err(AppendError::InvalidRecord(
                    "control batches are written by the broker, not by clients".into(),
                ));
            }
            if let Some(m) = txn_state::control_marker(&h, &data) {
                let last = self.txns.coordinator_epoch(h.producer_id);
                if last.is_some_and(|e| m.coordinator_epoch < e) {
                    return Err(AppendError::CoordinatorFenced);
                }
            }
            match self.producers.check(&staged, &h).map_err(seq_error)? {
                SeqCheck::Duplicate(meta) => return Ok(Plan::Duplicate(meta)),
                SeqCheck::Append | SeqCheck::Unchecked => {}
            }
            let last = next
                .checked_add(i64::from(h.last_offset_delta))
                .ok_or_else(|| AppendError::InvalidRecord("offset overflow".into()))?;
            self.producers.stage(&mut staged, &h, next, last);
            planned.push(Planned {
                header: h,
                base: next,
                at,
            });
            at += data.len();
            next = last + 1;
        }
        if planned.is_empty() {
            return Err(AppendError::InvalidRecord("no record batches".into()));
        }
        Ok(Plan::Append(planned, staged, next))
    }

    /// What consumers may read below: the replication layer's high
    /// watermark bounded by the durable end (and not below the log start,
    /// unless nothing is durable there yet), or the durable end itself.
    pub fn high_watermark(&self) -> i64 {
        match self.replicated {
            None => self.durable_end,
            Some(x) => x.max(self.start).min(self.durable_end),
        }
    }

    /// A future resolving once `last_offset` is below the durable end.
    pub(super) fn durable_after(
        &mut self,
        last_offset: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), StorageError>>>> {
        if last_offset < self.durable_end {
            return Box::pin(std::future::ready(Ok(())));
        }
        if let Some(e) = &self.failed {
            return Box::pin(std::future::ready(Err(e.clone())));
        }
        let (tx, rx) = oneshot::channel();
        self.durable.entry(last_offset).or_default().push(tx);
        Box::pin(async move { rx.await.unwrap_or(Err(StorageError::Closed)) })
    }
}

impl PartitionLog {
    /// [`PartitionLog::open_shared`] with a cache budget of its own
    /// (`config.cache_bytes`) and no I/O observer.
    pub async fn open(dir: PathBuf, config: LogConfig) -> Result<PartitionLog, StorageError> {
        let own = ShardStorage::private(config.cache_bytes);
        PartitionLog::open_shared(dir, config, &own).await
    }

    /// Opens (creating if missing) and recovers the partition in `dir`,
    /// then spawns its flusher on the current executor. Its hot-tail cache
    /// draws on `shard.cache`; I/O samples go to `shard.io`.
    pub async fn open_shared(
        dir: PathBuf,
        config: LogConfig,
        shard: &ShardStorage,
    ) -> Result<PartitionLog, StorageError> {
        let rec = recovery::recover(&dir, &config).await?;
        let max_ts = rec
            .segments
            .iter()
            .filter_map(Segment::max_timestamp)
            .reduce(|a, b| if b.0 > a.0 { b } else { a });
        let first_base = rec.segments.first().map_or(0, |s| s.base_offset);
        let hw_mark = rec
            .segments
            .last()
            .map_or((0, 0), |s| (s.base_offset, s.size()));
        let start = rec.log_start.max(first_base).min(rec.log_end);
        let mut epochs = rec.epochs;
        if epochs.truncate_from_start(start) {
            EpochFile::new(&dir).store(&epochs);
        }
        let st = State {
            segments: rec.segments,
            start,
            log_end: rec.log_end,
            durable_end: rec.log_end,
            replicated: None,
            hw_mark,
            max_ts,
            pending: VecDeque::new(),
            producers: rec.producers,
            txns: rec.txns,
            durable: BTreeMap::new(),
            hw_waiters: BTreeMap::new(),
            data_waiters: BTreeMap::new(),
            next_waiter_id: 0,
            failed: None,
            closing: false,
            closed: false,
            flusher_running: true,
            close_waiters: Vec::new(),
            roll_waiters: Vec::new(),
            cleaning: false,
            epochs,
            truncations: VecDeque::new(),
            truncating: false,
        };
        let inner = Rc::new(Inner {
            dir: dir.clone(),
            cache: PartitionCache::new(&shard.cache, config.cache_bytes),
            cfg: RefCell::new(config),
            st: RefCell::new(st),
            wake: Notify::default(),
            stats: super::stats::LogStats::new(shard.io.clone()),
            epoch_file: EpochFile::new(&dir),
        });
        glommio::spawn_local(flusher::run(inner.clone())).detach();
        Ok(PartitionLog {
            handle: Rc::new(Handle { inner }),
        })
    }

    pub(super) fn inner(&self) -> &Rc<Inner> {
        &self.handle.inner
    }

    /// Applies a changed topic config: segment.bytes, segment.ms, index
    /// settings apply to the next roll decision and new segments; flush
    /// settings to the next flusher round; the cache cap at once. Touches
    /// neither the state nor the files, so it is safe at any moment.
    pub fn update_config(&self, cfg: LogConfig) {
        let inner = self.inner();
        inner.cache.set_cap(cfg.cache_bytes);
        *inner.cfg.borrow_mut() = cfg;
        inner.wake.notify();
    }

    /// The current config.
    pub fn config(&self) -> LogConfig {
        self.inner().config()
    }

    /// Appends the batches in `records` with their CreateTime timestamps
    /// (see the module doc). Synchronous: offsets are assigned in call order.
    pub fn append(
        &self,
        records: &Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        self.append_with(records, leader_epoch, now_ms, false)
    }

    /// [`PartitionLog::append`]; with `log_append_time` (topic
    /// message.timestamp.type=LogAppendTime) every stored batch is stamped
    /// with `now_ms`: timestamp-type bit set, maxTimestamp = `now_ms`, CRC
    /// recomputed. The time index and max timestamp use the stamped time.
    pub fn append_with(
        &self,
        records: &Bytes,
        leader_epoch: i32,
        now_ms: i64,
        log_append_time: bool,
    ) -> Result<Appended, AppendError> {
        self.append_from(
            records,
            leader_epoch,
            now_ms,
            log_append_time,
            Origin::Client,
        )
    }

    pub(super) fn append_from(
        &self,
        records: &Bytes,
        leader_epoch: i32,
        now_ms: i64,
        log_append_time: bool,
        origin: Origin,
    ) -> Result<Appended, AppendError> {
        let inner = self.inner();
        let mut st = inner.st.borrow_mut();
        st.accepting()?;
        let (planned, staged, next) = match st.plan(records, origin)? {
            Plan::Duplicate(meta) => {
                return Ok(Appended {
                    base_offset: meta.base_offset,
                    last_offset: meta.last_offset,
                    duplicate: true,
                    durable: st.durable_after(meta.last_offset),
                })
            }
            Plan::Append(p, s, n) => (p, s, n),
        };
        // One copy: the request buffer is shared and must not be mutated.
        let mut buf = BytesMut::from(&records[..]);
        for p in &planned {
            batch::set_offset_and_epoch(&mut buf[p.at..], p.base, leader_epoch);
            if log_append_time {
                let end = p.at + p.header.total_len();
                batch::set_log_append_time(&mut buf[p.at..end], now_ms);
            }
        }
        let all = buf.freeze();
        for p in &planned {
            let data = all.slice(p.at..p.at + p.header.total_len());
            let last = p.base + i64::from(p.header.last_offset_delta);
            let marker = txn_state::control_marker(&p.header, &data);
            st.txns.record(&p.header, p.base, last, marker);
            inner.cache.push(p.base, last, data.clone());
            st.pending.push_back(Pending {
                base: p.base,
                last,
                max_ts: if log_append_time {
                    now_ms
                } else {
                    p.header.max_timestamp
                },
                records: p.header.record_count.max(0) as u64,
                append_ms: now_ms,
                data,
            });
        }
        st.producers.commit(staged);
        let base_offset = st.log_end;
        // A lower epoch than the latest would be an upstream bug; the cache
        // ignores it rather than refusing the append.
        if st.epochs.assign(leader_epoch, base_offset) {
            inner.epoch_file.store(&st.epochs);
        }
        st.log_end = next;
        let durable = st.durable_after(next - 1);
        drop(st);
        inner.wake.notify();
        Ok(Appended {
            base_offset,
            last_offset: next - 1,
            duplicate: false,
            durable,
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.inner().st.borrow().log_start()
    }

    /// The next offset to assign.
    pub fn log_end_offset(&self) -> i64 {
        self.inner().st.borrow().log_end
    }

    /// Offsets below it are readable by consumers: see
    /// [`PartitionLog::set_high_watermark`]; by default the durable end.
    pub fn high_watermark(&self) -> i64 {
        self.inner().st.borrow().high_watermark()
    }

    /// Offsets below it are durable (fsync mode) or written (periodic mode)
    /// locally.
    pub fn durable_end(&self) -> i64 {
        self.inner().st.borrow().durable_end
    }

    /// The largest batch max timestamp below the durable end, with the
    /// base offset of its batch.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.inner().st.borrow().max_ts
    }

    /// Resolves once the high watermark is above `offset`.
    pub fn wait_for_data(&self, offset: i64) -> impl Future<Output = ()> + 'static {
        DataWait::new(self.inner().clone(), WaitKind::HighWatermark, offset)
    }

    /// Writes and syncs everything pending, stops the flusher, truncates the
    /// active segment to its logical size and trims its indexes.
    pub async fn close(&self) -> Result<(), StorageError> {
        let inner = self.inner();
        let rx = {
            let mut st = inner.st.borrow_mut();
            if st.closed {
                return Ok(());
            }
            st.closing = true;
            let (tx, rx) = oneshot::channel();
            st.close_waiters.push(tx);
            st.flusher_running.then_some(rx)
        };
        inner.wake.notify();
        if let Some(rx) = rx {
            let _ = rx.await;
        }
        let (file, size) = {
            let st = inner.st.borrow();
            if let Some(e) = &st.failed {
                return Err(e.clone());
            }
            let Some(active) = st.segments.last() else {
                return Ok(());
            };
            (active.file(), active.size())
        };
        super::segment::truncate_and_sync(&file, size).await?;
        let mut st = inner.st.borrow_mut();
        if let Some(active) = st.segments.last_mut() {
            active.finish_seal()?;
        }
        st.closed = true;
        Ok(())
    }

    /// Closes the log and removes its directory (DeleteTopics).
    pub async fn delete(self) -> Result<(), StorageError> {
        if let Err(e) = self.close().await {
            tracing::warn!("closing a log being deleted: {e}");
        }
        let dir = self.inner().dir.clone();
        self.inner().st.borrow_mut().segments.clear();
        self.inner().cache.clear(); // its bytes go back to the shard now
        std::fs::remove_dir_all(&dir)
            .map_err(|e| StorageError::io(format!("remove {}", dir.display()), e))
    }
}

/// The segment holding `offset` (the last one whose base is <= it); None
/// only once the log was deleted.
pub(super) fn segment_for(segments: &[Segment], offset: i64) -> Option<&Segment> {
    let i = segments.partition_point(|s| s.base_offset <= offset);
    segments.get(i.saturating_sub(1))
}
