//! Log compaction (cleanup.policy=compact) of a [`PartitionLog`].
//!
//! Owns: choosing what to clean (closed segments below the last stable
//! offset whose largest timestamp is older than min.compaction.lag.ms, when
//! the dirty ratio or max.compaction.lag.ms asks for it), the key → latest
//! offset map (aborted transactions' records are not values: they are
//! removed, as Kafka's cleaner does; markers are kept), the per-record keep
//! rule, writing each rewritten segment aside and swapping
//! it in crash-safely, and the `cleaner-checkpoint` (when each segment was
//! first cleaned: the dirty ratio and the tombstone horizon derive from it).
//! Must not: touch the active segment, change any kept record's offset (a
//! batch keeps its base and last offset; gaps are allowed), hold the state
//! borrow across an await, or run long without yielding to the executor.
//!
//! Crash safety: `<base>.{log,index,timeindex}.cleaned` are written and
//! synced; then renamed to `.swap` (the `.log` last: `<base>.log.swap` is
//! the commit point), the directory synced, then each `.swap` renamed over
//! the original (`.log` last) and the directory synced again. Recovery
//! deletes `.cleaned` files and completes a swap whose `.log.swap` exists
//! (`recovery`). The in-memory segment is replaced in the same synchronous
//! step as the renames, so a reader sees the old file or the new one; one
//! that started on the old file finishes on it (the inode outlives the
//! rename while open).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::DmaFile;

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::checkpoint;
use super::filter::{self, RawRecord};
use super::index::{OffsetIndex, TimeIndex};
use super::log::{Inner, PartitionLog};
use super::recovery::{read_exact, sync_dir};
use super::segment::{self, BatchInfo, Segment};
use super::txn_state::AbortedRanges;
use super::StorageError;

/// Read unit of the cleaner, and the size of its writes.
const CHUNK: usize = 1 << 20;

/// Kafka's compaction settings of a topic (ms; -1 where Kafka allows it).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionConfig {
    /// delete.retention.ms: how long a tombstone stays after the segment
    /// holding it was first cleaned.
    pub delete_retention_ms: i64,
    /// min.compaction.lag.ms: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// max.compaction.lag.ms: a dirty record older than this forces a
    /// cleaning whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// min.cleanable.dirty.ratio: clean only when never-cleaned bytes are
    /// at least this share of the cleanable bytes.
    pub min_cleanable_dirty_ratio: f64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            delete_retention_ms: 24 * 3600 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
        }
    }
}

/// What one compaction run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactionStats {
    /// Bytes read from segment files (key map pass and rewrite pass).
    pub bytes_read: u64,
    /// Bytes of the rewritten segments swapped in.
    pub bytes_written: u64,
    pub records_kept: u64,
    pub records_removed: u64,
    pub segments_rewritten: usize,
    /// Dirty ratio of the cleanable range when the run started.
    pub dirty_ratio: f64,
    /// Nothing was cleaned: nothing cleanable, ratio below the minimum, or
    /// another compaction of this log was running.
    pub skipped: bool,
}

#[cfg(test)]
thread_local! {
    /// Test hook: stop (as if killed) after swap step n (1: `.cleaned`
    /// written; 2: index `.swap`s renamed; 3: `.log.swap` renamed; 4:
    /// indexes renamed over the originals).
    pub(super) static CRASH_AFTER_STEP: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

fn crash_point(_step: u8) -> Result<(), StorageError> {
    #[cfg(test)]
    if CRASH_AFTER_STEP.with(std::cell::Cell::get) == _step {
        return Err(StorageError::Corrupt(format!(
            "simulated crash after step {_step}"
        )));
    }
    Ok(())
}

/// A closed segment as the run saw it.
struct Source {
    base: i64,
    file: Rc<DmaFile>,
    size: u64,
}

/// Sequential whole-batch reader over one segment file.
struct BatchReader {
    file: Rc<DmaFile>,
    size: u64,
    buf: Vec<u8>,
    buf_pos: u64,
    at: usize,
    bytes_read: u64,
}

impl BatchReader {
    fn new(src: &Source) -> BatchReader {
        BatchReader {
            file: src.file.clone(),
            size: src.size,
            buf: Vec::new(),
            buf_pos: 0,
            at: 0,
            bytes_read: 0,
        }
    }

    /// The next stored batch (validated, CRC included), or None at the end.
    async fn next(&mut self) -> Result<Option<(BatchHeader, Vec<u8>)>, StorageError> {
        let pos = self.buf_pos + self.at as u64;
        if pos + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        self.fill(HEADER_LEN).await?;
        let corrupt = |e: String| StorageError::Corrupt(format!("compaction read at {pos}: {e}"));
        let h = BatchHeader::decode(&self.buf[self.at..]).map_err(|e| corrupt(e.to_string()))?;
        if h.magic != 2 || h.batch_length < batch::MIN_BATCH_LENGTH {
            return Err(corrupt(format!("bad stored batch header {h:?}")));
        }
        let len = h.total_len();
        if pos + len as u64 > self.size {
            return Err(corrupt("batch past segment end".into()));
        }
        self.fill(len).await?;
        let bytes = self.buf[self.at..self.at + len].to_vec();
        let h = batch::validate(&bytes).map_err(|e| corrupt(e.to_string()))?;
        self.at += len;
        Ok(Some((h, bytes)))
    }

    /// Makes at least `want` bytes available from `at`.
    async fn fill(&mut self, want: usize) -> Result<(), StorageError> {
        if self.buf.len() - self.at >= want {
            return Ok(());
        }
        self.buf.drain(..self.at);
        self.buf_pos += self.at as u64;
        self.at = 0;
        let read_from = self.buf_pos + self.buf.len() as u64;
        let n = (want.max(CHUNK) as u64).min(self.size - read_from) as usize;
        self.buf.extend(read_exact(&self.file, read_from, n).await?);
        self.bytes_read += n as u64;
        Ok(())
    }
}

/// Writes a new segment file sequentially with aligned DMA writes.
struct SegmentWriter {
    file: Rc<DmaFile>,
    pending: Vec<u8>,
    written: u64,
}

impl SegmentWriter {
    async fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= CHUNK {
            let align = self.file.alignment() as usize;
            let n = self.pending.len() - self.pending.len() % align;
            self.flush(n).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, n: usize) -> Result<(), StorageError> {
        let padded = n.next_multiple_of(self.file.alignment() as usize);
        let mut buf = self.file.alloc_dma_buffer(padded);
        let out = buf.as_bytes_mut();
        out[..n].copy_from_slice(&self.pending[..n]);
        out[n..].fill(0);
        segment::write_buffer(&self.file, self.written, buf).await?;
        self.pending.drain(..n);
        self.written += n as u64;
        Ok(())
    }

    /// Writes the rest, cuts the padding off, syncs. Returns the size.
    async fn finish(mut self) -> Result<u64, StorageError> {
        let size = self.written + self.pending.len() as u64;
        if !self.pending.is_empty() {
            self.flush(self.pending.len()).await?;
        }
        segment::truncate_and_sync(&self.file, size).await?;
        Ok(size)
    }
}

fn cleaned_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    segment::segment_path(dir, base, &format!("{ext}.cleaned"))
}

/// Resets the log's `cleaning` flag however the run ends.
struct CleaningGuard<'a>(&'a Inner);

impl Drop for CleaningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.st.try_borrow_mut() {
            st.cleaning = false;
        }
    }
}

/// Per-run context of the keep rule.
struct Keep<'a> {
    latest: &'a HashMap<Vec<u8>, i64>,
    /// Producer id → base offset of its last batch in the closed segments.
    last_batch: &'a HashMap<i64, i64>,
    /// Batches of aborted transactions are removed.
    aborted: &'a AbortedRanges,
    /// Tombstones of the segment being rewritten may be dropped.
    drop_tombstones: bool,
}

impl Keep<'_> {
    /// What is left of a batch whose records all go: an empty batch if it
    /// is its producer's last (the producer's state needs it), else
    /// nothing.
    fn producers_last(&self, h: &BatchHeader, bytes: &[u8]) -> Option<Vec<u8>> {
        let last =
            h.producer_id >= 0 && self.last_batch.get(&h.producer_id) == Some(&h.base_offset);
        last.then(|| filter::empty_batch(h, bytes))
    }

    fn record(&self, r: &RawRecord<'_>) -> bool {
        let Some(key) = r.key else { return true };
        if self.latest.get(key).is_some_and(|&o| o > r.offset) {
            return false;
        }
        !(r.tombstone && self.drop_tombstones)
    }

    /// The stored form of `batch` after filtering (None: drop it) and the
    /// counts of records kept and removed.
    fn batch(&self, h: &BatchHeader, bytes: Vec<u8>) -> (Option<Vec<u8>>, u64, u64) {
        let all = h.record_count.max(0) as u64;
        if h.is_control() {
            return (Some(bytes), all, 0);
        }
        if h.is_transactional() && self.aborted.contains(h.producer_id, h.base_offset) {
            return (self.producers_last(h, &bytes), 0, all);
        }
        let body = match filter::records_body(h, &bytes) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(base = h.base_offset, "compaction keeps a batch as is: {e}");
                return (Some(bytes), all, 0);
            }
        };
        let records = match filter::parse_records(h, &body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(base = h.base_offset, "compaction keeps a batch as is: {e}");
                return (Some(bytes), all, 0);
            }
        };
        let kept: Vec<RawRecord<'_>> = records.iter().copied().filter(|r| self.record(r)).collect();
        let (k, removed) = (kept.len() as u64, (records.len() - kept.len()) as u64);
        if removed == 0 {
            return (Some(bytes), k, 0);
        }
        if kept.is_empty() {
            return (self.producers_last(h, &bytes), 0, removed);
        }
        match filter::rebuild(h, &bytes, &kept) {
            Ok(out) => (Some(out), k, removed),
            Err(e) => {
                tracing::warn!(base = h.base_offset, "compaction keeps a batch as is: {e}");
                (Some(bytes), all, 0)
            }
        }
    }
}

impl PartitionLog {
    /// One compaction run at `now_ms` (see the module doc for the rules).
    pub async fn compact(
        &self,
        cfg: &CompactionConfig,
        now_ms: i64,
    ) -> Result<CompactionStats, StorageError> {
        let inner = self.inner();
        let mut stats = CompactionStats::default();
        let (closed, max_ts, aborted) = {
            let mut st = inner.st.borrow_mut();
            if let Some(e) = &st.failed {
                return Err(e.clone());
            }
            if st.cleaning || st.closing || st.truncating {
                stats.skipped = true;
                return Ok(stats);
            }
            st.cleaning = true;
            // Only segments wholly below the last stable offset: a record
            // of an undecided transaction is not yet a value of its key.
            let lso = st.last_stable_offset();
            let n = st.segments[..st.segments.len().saturating_sub(1)]
                .iter()
                .take_while(|s| s.next_offset() <= lso)
                .count();
            let aborted = st.txns.aborted_ranges();
            let closed: Vec<Source> = st.segments[..n]
                .iter()
                .map(|s| Source {
                    base: s.base_offset,
                    file: s.file(),
                    size: s.size(),
                })
                .collect();
            let max_ts: Vec<Option<i64>> = st.segments[..n]
                .iter()
                .map(|s| s.max_timestamp().map(|m| m.0))
                .collect();
            (closed, max_ts, aborted)
        };
        let _guard = CleaningGuard(inner);
        let mut cleaned = checkpoint::read_cleaned(&inner.dir);
        cleaned.retain(|base, _| closed.iter().any(|s| s.base == *base));
        // Cleanable: the closed segments up to the first one holding a
        // record younger than min.compaction.lag.ms.
        let lag_cutoff = now_ms.saturating_sub(cfg.min_compaction_lag_ms.max(0));
        let n_clean = max_ts
            .iter()
            .take_while(|m| m.is_none_or(|ts| ts <= lag_cutoff))
            .count();
        let cleanable = &closed[..n_clean];
        let total: u64 = cleanable.iter().map(|s| s.size).sum();
        let dirty: u64 = cleanable
            .iter()
            .filter(|s| !cleaned.contains_key(&s.base))
            .map(|s| s.size)
            .sum();
        stats.dirty_ratio = if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        };
        let forced = self
            .max_lag_exceeded(cfg, now_ms, cleanable, &cleaned, &mut stats)
            .await?;
        if cleanable.is_empty() || (stats.dirty_ratio < cfg.min_cleanable_dirty_ratio && !forced) {
            stats.skipped = true;
            return Ok(stats);
        }

        // Key map over every closed segment: records after the cleanable
        // range are newer values too.
        let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut last_batch: HashMap<i64, i64> = HashMap::new();
        for src in &closed {
            let mut r = BatchReader::new(src);
            while let Some((h, bytes)) = r.next().await? {
                if h.producer_id >= 0 {
                    last_batch.insert(h.producer_id, h.base_offset);
                }
                let is_aborted =
                    h.is_transactional() && aborted.contains(h.producer_id, h.base_offset);
                if !h.is_control() && !is_aborted {
                    map_keys(&h, &bytes, &mut latest);
                }
                glommio::yield_if_needed().await;
            }
            stats.bytes_read += r.bytes_read;
        }

        let mut rewritten = Vec::new();
        for src in cleanable {
            let horizon = cleaned
                .get(&src.base)
                .is_some_and(|&first| first.saturating_add(cfg.delete_retention_ms) <= now_ms);
            let keep = Keep {
                latest: &latest,
                last_batch: &last_batch,
                aborted: &aborted,
                drop_tombstones: horizon,
            };
            if self.rewrite(src, &keep, &mut stats).await? {
                rewritten.push(src.base);
            }
        }
        for base in rewritten {
            cleaned.entry(base).or_insert(now_ms);
        }
        let dir = inner.dir.clone();
        super::off_shard(move || checkpoint::write_cleaned(&dir, &cleaned)).await?;
        Ok(stats)
    }

    /// Whether the oldest never-cleaned cleanable segment's first batch is
    /// older than max.compaction.lag.ms (Kafka uses the first batch's
    /// timestamp too).
    async fn max_lag_exceeded(
        &self,
        cfg: &CompactionConfig,
        now_ms: i64,
        cleanable: &[Source],
        cleaned: &BTreeMap<i64, i64>,
        stats: &mut CompactionStats,
    ) -> Result<bool, StorageError> {
        if cfg.max_compaction_lag_ms < 0 || cfg.max_compaction_lag_ms == i64::MAX {
            return Ok(false);
        }
        let Some(src) = cleanable.iter().find(|s| !cleaned.contains_key(&s.base)) else {
            return Ok(false);
        };
        let mut r = BatchReader::new(src);
        let first = r.next().await?;
        stats.bytes_read += r.bytes_read;
        Ok(first.is_some_and(|(h, _)| {
            h.max_timestamp < now_ms.saturating_sub(cfg.max_compaction_lag_ms)
        }))
    }

    /// Rewrites one segment and swaps it in. False if the segment was
    /// deleted meanwhile (retention): the output is discarded.
    async fn rewrite(
        &self,
        src: &Source,
        keep: &Keep<'_>,
        stats: &mut CompactionStats,
    ) -> Result<bool, StorageError> {
        let inner = self.inner();
        let dir = &inner.dir;
        let cfg = inner.config();
        let path = cleaned_path(dir, src.base, "log");
        let file = Rc::new(segment::open_log_file(&path, true).await?);
        // Entries are added per index.interval.bytes written, at most one per
        // batch: this bound always holds for the rewritten (smaller) segment.
        let entries = src.size / cfg.index_interval_bytes.max(1) + 4;
        let io = |p: &Path, e| StorageError::io(format!("create {}", p.display()), e);
        let oi_path = cleaned_path(dir, src.base, "index");
        let oi =
            OffsetIndex::create(&oi_path, src.base, entries * 8).map_err(|e| io(&oi_path, e))?;
        let ti_path = cleaned_path(dir, src.base, "timeindex");
        let ti =
            TimeIndex::create(&ti_path, src.base, entries * 12).map_err(|e| io(&ti_path, e))?;
        let mut seg = Segment::assemble(file.clone(), src.base, oi, ti, &cfg);
        let mut out = SegmentWriter {
            file,
            pending: Vec::new(),
            written: 0,
        };
        let mut r = BatchReader::new(src);
        let mut size = 0u64;
        while let Some((h, bytes)) = r.next().await? {
            let (kept, k, removed) = keep.batch(&h, bytes);
            stats.records_kept += k;
            stats.records_removed += removed;
            if let Some(b) = kept {
                let info = BatchInfo {
                    base_offset: h.base_offset,
                    last_offset: h.last_offset(),
                    max_timestamp: batch::BatchHeader::decode(&b)
                        .map_or(h.max_timestamp, |n| n.max_timestamp),
                    len: b.len() as u64,
                };
                seg.record(&info, size);
                size += info.len;
                out.write(&b).await?;
            }
            glommio::yield_if_needed().await;
        }
        stats.bytes_read += r.bytes_read;
        let written = out.finish().await?;
        debug_assert_eq!(written, size);
        seg.finish_seal()?;
        let owned_dir = dir.to_path_buf();
        super::off_shard(move || sync_dir(&owned_dir)).await?;
        crash_point(1)?;
        // From here to the in-memory swap nothing awaits.
        // A truncation may have cut or replaced the segment meanwhile (it
        // reopens what it keeps, so the file handle differs) or be running.
        let still_there = {
            let st = inner.st.borrow();
            !st.truncating
                && st.segments.iter().any(|s| {
                    s.base_offset == src.base
                        && Rc::ptr_eq(&s.file(), &src.file)
                        && s.is_sealed()
                        && s.size() == src.size
                })
        };
        if !still_there {
            drop(seg);
            for ext in ["log", "index", "timeindex"] {
                let _ = std::fs::remove_file(cleaned_path(dir, src.base, ext));
            }
            return Ok(false);
        }
        swap_files(dir, src.base)?;
        let mut st = inner.st.borrow_mut();
        let Some(i) = st.segments.iter().position(|s| s.base_offset == src.base) else {
            return Err(StorageError::Closed);
        };
        st.segments[i] = seg;
        let next_base = st.segments.get(i + 1).map_or(st.log_end, |s| s.base_offset);
        inner.cache.invalidate_below(next_base);
        st.refresh_max_timestamp();
        stats.bytes_written += written;
        stats.segments_rewritten += 1;
        Ok(true)
    }
}

/// Records every keyed record of a batch as the latest for its key.
fn map_keys(h: &BatchHeader, bytes: &[u8], latest: &mut HashMap<Vec<u8>, i64>) {
    let Ok(body) = filter::records_body(h, bytes) else {
        return;
    };
    let Ok(records) = filter::parse_records(h, &body) else {
        return;
    };
    for r in records {
        if let Some(k) = r.key {
            match latest.get_mut(k) {
                Some(o) => *o = (*o).max(r.offset),
                None => {
                    latest.insert(k.to_vec(), r.offset);
                }
            }
        }
    }
}

/// The renames of the swap protocol (module doc), `.log` last each time.
fn swap_files(dir: &Path, base: i64) -> Result<(), StorageError> {
    let rename = |from: PathBuf, to: PathBuf| {
        std::fs::rename(&from, &to)
            .map_err(|e| StorageError::io(format!("rename {}", from.display()), e))
    };
    let swap = |ext: &str| segment::segment_path(dir, base, &format!("{ext}.swap"));
    rename(cleaned_path(dir, base, "index"), swap("index"))?;
    rename(cleaned_path(dir, base, "timeindex"), swap("timeindex"))?;
    crash_point(2)?;
    rename(cleaned_path(dir, base, "log"), swap("log"))?;
    sync_dir(dir)?;
    crash_point(3)?;
    rename(swap("index"), segment::segment_path(dir, base, "index"))?;
    rename(
        swap("timeindex"),
        segment::segment_path(dir, base, "timeindex"),
    )?;
    crash_point(4)?;
    rename(swap("log"), segment::segment_path(dir, base, "log"))?;
    sync_dir(dir)
}
