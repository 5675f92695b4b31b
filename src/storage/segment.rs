//! One log segment: the `.log` DmaFile, its two indexes, base offset,
//! logical size, max timestamp, and (while active) the unaligned tail block.
//!
//! Owns: file naming, where a batch lands in the file, index entry policy
//! (one offset entry per index.interval.bytes, time entries on a new max),
//! the aligned write buffer (tail block + new batches + zero padding), the
//! roll decision and sealing. Must not: hold a RefCell borrow across an await
//! (the async steps are free functions taking an `Rc<DmaFile>`), issue two
//! writes at once (the flusher serializes them), or parse record contents.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{DmaBuffer, DmaFile, OpenOptions};

use super::index::{OffsetIndex, TimeIndex};
use super::{LogConfig, StorageError};

/// Path of a segment file: base offset as 20 zero-padded digits + ext.
pub fn segment_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// What the segment needs to know about a batch it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub len: u64,
}

pub struct Segment {
    pub base_offset: i64,
    file: Rc<DmaFile>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Logical bytes written (excludes the zero padding of the last block).
    size: u64,
    /// Offset after the last batch written.
    next_offset: i64,
    /// Largest batch max timestamp and the base offset of its batch.
    max_timestamp: Option<(i64, i64)>,
    /// Time of the first append (or the first batch's timestamp after a
    /// restart), for segment.ms rolls.
    first_append_ms: Option<i64>,
    bytes_since_index: u64,
    index_interval: u64,
    /// Bytes [align_down(size), size): rewritten with the next write.
    tail: Vec<u8>,
    sealed: bool,
}

thread_local! {
    /// Devices (st_dev) whose glommio iopoll probe this thread already ran.
    static PROBED_DEVICES: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Works around a glommio 0.9 bug: the first DmaFile a thread opens on a
/// device decides (once, per thread) whether the device supports iopoll, by
/// reading that file's first block. On an empty file the read "succeeds"
/// with 0 bytes, the device is taken as pollable, and every later DMA read
/// on it fails with EOPNOTSUPP. So the first open per device is made on a
/// non-empty scratch file.
async fn ensure_iopoll_probed(dir: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::MetadataExt;
    let io = |e: io::Error| StorageError::io(format!("iopoll probe in {}", dir.display()), e);
    let dev = std::fs::metadata(dir).map_err(io)?.dev();
    if PROBED_DEVICES.with(|p| p.borrow().contains(&dev)) {
        return Ok(());
    }
    let probe = dir.join(".fjord-dma-probe");
    std::fs::write(&probe, [0u8; 4096]).map_err(io)?;
    let opened = DmaFile::open(&probe).await;
    let _ = std::fs::remove_file(&probe);
    opened
        .map_err(|e| io(e.into()))?
        .close()
        .await
        .map_err(|e| io(e.into()))?;
    PROBED_DEVICES.with(|p| p.borrow_mut().push(dev));
    Ok(())
}

/// Opens a `.log` for reading and writing, creating it if missing.
pub async fn open_log_file(path: &Path, truncate: bool) -> Result<DmaFile, StorageError> {
    ensure_iopoll_probed(path.parent().unwrap_or(Path::new("."))).await?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .dma_open(path)
        .await
        .map_err(|e| StorageError::io(format!("open {}", path.display()), e.into()))
}

impl Segment {
    /// A fresh, empty active segment (files created or emptied).
    pub async fn create(dir: &Path, base: i64, cfg: &LogConfig) -> Result<Segment, StorageError> {
        let file = open_log_file(&segment_path(dir, base, "log"), true).await?;
        let (offset_index, time_index) = create_indexes(dir, base, cfg)?;
        Ok(Segment::assemble(
            Rc::new(file),
            base,
            offset_index,
            time_index,
            cfg,
        ))
    }

    /// Wraps recovered parts; the caller replays batches with [`Segment::record`]
    /// when the indexes were rebuilt, or sets state with [`Segment::restore`].
    pub fn assemble(
        file: Rc<DmaFile>,
        base: i64,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        cfg: &LogConfig,
    ) -> Segment {
        Segment {
            base_offset: base,
            file,
            offset_index,
            time_index,
            size: 0,
            next_offset: base,
            max_timestamp: None,
            first_append_ms: None,
            bytes_since_index: 0,
            index_interval: cfg.index_interval_bytes.max(1),
            tail: Vec::new(),
            sealed: false,
        }
    }

    pub fn file(&self) -> Rc<DmaFile> {
        self.file.clone()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.max_timestamp
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// Position to start scanning from to find `offset` (offset index).
    pub fn position_for(&self, offset: i64) -> u64 {
        self.offset_index.lookup(offset).1
    }

    /// Position to start scanning from to find the first batch whose max
    /// timestamp is >= `ts` (time index, then offset index).
    pub fn position_for_timestamp(&self, ts: i64) -> u64 {
        match self.time_index.lookup(ts) {
            Some((_, offset)) => self.position_for(offset),
            None => 0,
        }
    }

    /// Accounts for a batch stored at `position` (new write or recovery
    /// replay): size, offsets, timestamps and index entries. Returns false
    /// if an index is full (the caller rolls before that can happen).
    pub fn record(&mut self, b: &BatchInfo, position: u64) -> bool {
        debug_assert_eq!(position, self.size, "batches are contiguous");
        // Offsets increase; gaps only in segments compaction rewrote.
        debug_assert!(b.base_offset >= self.next_offset, "offsets increase");
        if self
            .max_timestamp
            .is_none_or(|(ts, _)| b.max_timestamp > ts)
        {
            self.max_timestamp = Some((b.max_timestamp, b.base_offset));
        }
        let mut ok = true;
        // Kafka's rule: entries once more than index.interval.bytes were
        // written since the last ones; the offset entry points at the batch
        // that crosses the interval, the time entry at the batch that first
        // reached the running max timestamp.
        if self.bytes_since_index > self.index_interval {
            ok &= self.offset_index.append(b.base_offset, position);
            if let Some((ts, off)) = self.max_timestamp {
                ok &= self.time_index.maybe_append(ts, off);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += b.len;
        self.size = position + b.len;
        self.next_offset = b.last_offset + 1;
        ok
    }

    /// State of a sealed segment whose indexes were found valid.
    pub fn restore(&mut self, size: u64, next_offset: i64, max_ts: Option<(i64, i64)>) {
        self.size = size;
        self.next_offset = next_offset;
        self.max_timestamp = max_ts;
    }

    /// Makes this recovered segment the active one: `tail` holds the bytes
    /// of its last partial block, `first_ms` its roll clock.
    pub fn activate(&mut self, tail: Vec<u8>, first_ms: Option<i64>) {
        debug_assert_eq!(tail.len() as u64, self.size % self.file.alignment());
        self.tail = tail;
        self.first_append_ms = first_ms;
        self.sealed = false;
    }

    /// Whether `b` (appended at `append_ms`) must go to a new segment.
    /// `pending` = bytes and batches already planned for this segment.
    pub fn needs_roll(
        &self,
        b: &BatchInfo,
        append_ms: i64,
        pending: (u64, usize),
        cfg: &LogConfig,
    ) -> bool {
        let size = self.size + pending.0;
        let batches = pending.1 + 1;
        // Index entries hold offsets relative to the base as u32; a
        // follower's batch far past an (even empty) segment's base needs a
        // segment of its own.
        if b.last_offset - self.base_offset > i32::MAX as i64 {
            return true;
        }
        if size == 0 {
            return false; // an empty segment takes any other batch
        }
        let max_bytes = cfg.segment_bytes.clamp(1, i32::MAX as u64);
        size + b.len > max_bytes
            || self
                .first_append_ms
                .is_some_and(|t| append_ms.saturating_sub(t) >= cfg.segment_ms as i64)
            || self.offset_index.len() + batches >= self.offset_index.capacity()
            || self.time_index.len() + batches + 1 >= self.time_index.capacity()
    }

    /// Builds the one aligned buffer for a write of `batches`: the tail
    /// block, the batches, zero padding. Returns (file position, buffer,
    /// tail after this write).
    pub fn plan_write(&self, batches: &[Bytes]) -> (u64, DmaBuffer, Vec<u8>) {
        assert!(!self.sealed, "write to a sealed segment");
        let align = self.file.alignment();
        let pos = self.size - self.tail.len() as u64;
        debug_assert_eq!(pos % align, 0);
        let data: usize = batches.iter().map(Bytes::len).sum();
        let logical = self.tail.len() + data;
        let padded = logical.next_multiple_of(align as usize);
        let mut buf = self.file.alloc_dma_buffer(padded);
        let out = buf.as_bytes_mut();
        out[..self.tail.len()].copy_from_slice(&self.tail);
        let mut at = self.tail.len();
        for b in batches {
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        }
        // Zero padding: recovery stops at the first non-batch, and zeros
        // read as an invalid batch length.
        out[logical..].fill(0);
        let tail_start = logical - logical % align as usize;
        let tail = out[tail_start..logical].to_vec();
        (pos, buf, tail)
    }

    /// Applies a completed write planned by [`Segment::plan_write`].
    pub fn commit_write(&mut self, batches: &[BatchInfo], tail: Vec<u8>, append_ms: i64) {
        for b in batches {
            let ok = self.record(b, self.size);
            debug_assert!(ok, "index full despite roll check");
        }
        self.first_append_ms.get_or_insert(append_ms);
        self.tail = tail;
        debug_assert_eq!(self.tail.len() as u64, self.size % self.file.alignment());
    }

    /// The synchronous end of sealing (after the file was truncated and
    /// synced): final time index entry, indexes trimmed and flushed.
    pub fn finish_seal(&mut self) -> Result<(), StorageError> {
        if let Some((ts, off)) = self.max_timestamp {
            // Kafka appends the segment's max as a last entry so the sealed
            // segment's max timestamp is known without a scan; skip if full.
            let _ = self.time_index.maybe_append(ts, off);
        }
        self.trim_indexes()?;
        self.tail = Vec::new();
        self.sealed = true;
        Ok(())
    }

    /// Marks a recovered segment whose indexes were verified as sealed.
    pub fn mark_sealed(&mut self) {
        self.tail = Vec::new();
        self.sealed = true;
    }

    pub fn trim_indexes(&mut self) -> Result<(), StorageError> {
        let path = self.offset_index.path().to_path_buf();
        self.offset_index
            .trim()
            .map_err(|e| StorageError::io(format!("trim {}", path.display()), e))?;
        let path = self.time_index.path().to_path_buf();
        self.time_index
            .trim()
            .map_err(|e| StorageError::io(format!("trim {}", path.display()), e))
    }

    pub fn flush_indexes(&self) -> io::Result<()> {
        self.offset_index.flush()?;
        self.time_index.flush()
    }
}

/// Creates (or empties) both preallocated indexes of a segment.
pub fn create_indexes(
    dir: &Path,
    base: i64,
    cfg: &LogConfig,
) -> Result<(OffsetIndex, TimeIndex), StorageError> {
    let p = segment_path(dir, base, "index");
    let oi = OffsetIndex::create(&p, base, cfg.segment_index_bytes)
        .map_err(|e| StorageError::io(format!("create {}", p.display()), e))?;
    let p = segment_path(dir, base, "timeindex");
    let ti = TimeIndex::create(&p, base, cfg.segment_index_bytes)
        .map_err(|e| StorageError::io(format!("create {}", p.display()), e))?;
    Ok((oi, ti))
}

/// Writes a planned buffer; the whole buffer must land.
pub async fn write_buffer(file: &DmaFile, pos: u64, buf: DmaBuffer) -> Result<(), StorageError> {
    let want = buf.len();
    let n = file
        .write_at(buf, pos)
        .await
        .map_err(|e| StorageError::io("write segment".into(), e.into()))?;
    if n != want {
        return Err(StorageError::io(
            "write segment".into(),
            io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write {n} of {want}"),
            ),
        ));
    }
    Ok(())
}

/// The asynchronous part of sealing: cut the padding off and make the
/// final size durable before a newer segment exists (recovery relies on
/// every non-last segment ending exactly at its last batch).
pub async fn truncate_and_sync(file: &DmaFile, size: u64) -> Result<(), StorageError> {
    file.truncate(size)
        .await
        .map_err(|e| StorageError::io("truncate segment".into(), e.into()))?;
    file.fdatasync()
        .await
        .map_err(|e| StorageError::io("fdatasync segment".into(), e.into()))
}
