//! The read path of [`PartitionLog`]: whole batches from `[offset, end)`,
//! `end` the high watermark or (followers) the durable end.
//!
//! `read_data` answers with [`ReadData`]: the hot-tail cache's own `Bytes`
//! (never concatenated), or a byte range of a segment file together with a
//! buffered (page-cache) descriptor of that file, which the caller hands to
//! splice(2) so the record bytes never enter user space. `read` is the same
//! walk, materialized into one `Bytes` by a direct read (group loading,
//! tests, benchmarks).
//!
//! Owns: finding the start batch and a whole-batch end within the limits.
//! The end is found from the offset index (every entry is a batch start)
//! plus a short header walk, so a cold read touches a few 4 KiB blocks of
//! headers, not the records it returns. Must not: read at or past the high
//! watermark (consumers) or the durable end (`read_data_replica`, a leader
//! serving followers), or return a partial batch.
//!
//! Why a second, buffered descriptor: segments are written with O_DIRECT,
//! which bypasses (and invalidates) the page cache. Cold reads go through
//! the page cache so the kernel's read-ahead works and a second consumer of
//! the same backlog reads memory; it is reopened through
//! `/proc/self/fd/<dma fd>`, which names the very inode the log writes, even
//! after compaction renamed or retention unlinked its path.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::DmaFile;

use super::batch::HEADER_LEN;
use super::log::{segment_for, State};
use super::reader::Window;
use super::records;
use super::segment::Segment;
use super::{PartitionLog, ReadError, StorageError};

/// Most bytes one read answers with (unless its first batch alone is
/// larger and `min_one`): a client asking for gigabytes gets them in turns.
const MAX_READ: usize = 16 << 20;

/// Disk reads made only to walk batch headers: one block's worth.
const HEADER_WINDOW: usize = 4 << 10;

/// What a read found: whole batches, in offset order.
#[derive(Debug)]
pub enum ReadData {
    /// From the hot-tail cache, one `Bytes` per batch.
    Memory(Vec<Bytes>),
    /// Bytes `[pos, pos + len)` of a segment file.
    File(FileSlice),
}

/// A byte range of a segment and a page-cache descriptor of its file, owned
/// by the slice (closing it never affects the log).
#[derive(Debug)]
pub struct FileSlice {
    pub file: OwnedFd,
    pub pos: u64,
    pub len: u64,
}

impl ReadData {
    pub fn empty() -> ReadData {
        ReadData::Memory(Vec::new())
    }

    pub fn len(&self) -> usize {
        match self {
            ReadData::Memory(batches) => batches.iter().map(Bytes::len).sum(),
            ReadData::File(slice) => slice.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the batches of one read are, before choosing how to hand them out.
enum Located {
    Memory(Vec<Bytes>),
    Disk {
        file: Rc<DmaFile>,
        base: i64,
        pos: u64,
        len: u64,
    },
}

/// Which end a read stops at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// The high watermark: consumers.
    HighWatermark,
    /// The durable end: a leader serving its followers.
    Durable,
    /// The last stable offset: read_committed consumers.
    LastStable,
}

impl PartitionLog {
    /// Whole batches from the one holding `offset`, up to `max_bytes` (at
    /// least one if `min_one`), below the high watermark, from one segment.
    pub async fn read_data(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadData, ReadError> {
        self.read_data_below(offset, max_bytes, min_one, Limit::HighWatermark)
            .await
    }

    /// [`PartitionLog::read_data`] below the last stable offset instead of
    /// the high watermark: what read_committed consumers get (with the
    /// aborted transactions the read overlaps, `aborted_transactions`).
    pub async fn read_data_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadData, ReadError> {
        self.read_data_below(offset, max_bytes, min_one, Limit::LastStable)
            .await
    }

    /// [`PartitionLog::read_data`] below the durable end instead of the
    /// high watermark: what a leader sends its followers.
    pub async fn read_data_replica(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadData, ReadError> {
        self.read_data_below(offset, max_bytes, min_one, Limit::Durable)
            .await
    }

    async fn read_data_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        limit: Limit,
    ) -> Result<ReadData, ReadError> {
        Ok(
            match self.locate(offset, max_bytes, min_one, limit).await? {
                Located::Memory(batches) => ReadData::Memory(batches),
                Located::Disk { len: 0, .. } => ReadData::empty(),
                Located::Disk {
                    file,
                    base,
                    pos,
                    len,
                } => ReadData::File(FileSlice {
                    file: self.page_cache_fd(&file, base)?,
                    pos,
                    len,
                }),
            },
        )
    }

    /// [`PartitionLog::read_data`] as one contiguous buffer.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Bytes, ReadError> {
        self.read_copied(offset, max_bytes, min_one, false).await
    }

    /// [`PartitionLog::read`], below the last stable offset if `committed`.
    pub async fn read_copied(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        committed: bool,
    ) -> Result<Bytes, ReadError> {
        let limit = match committed {
            true => Limit::LastStable,
            false => Limit::HighWatermark,
        };
        let found = self.locate(offset, max_bytes, min_one, limit).await?;
        Ok(match found {
            Located::Memory(batches) => concat(batches),
            Located::Disk { file, pos, len, .. } => {
                Bytes::from(super::recovery::read_exact(&file, pos, len as usize).await?)
            }
        })
    }

    async fn locate(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        limit: Limit,
    ) -> Result<Located, ReadError> {
        let end = {
            let st = self.inner().st.borrow();
            let (log_start, log_end) = (st.log_start(), st.log_end);
            if offset < log_start || offset > log_end {
                return Err(ReadError::OffsetOutOfRange {
                    offset,
                    log_start,
                    log_end,
                });
            }
            let end = match limit {
                Limit::HighWatermark => st.high_watermark(),
                Limit::Durable => st.durable_end,
                Limit::LastStable => st.last_stable_offset(),
            };
            if offset >= end {
                return Ok(Located::Memory(Vec::new()));
            }
            let cached = self.inner().cache.read(offset, max_bytes, min_one, end);
            self.inner().stats.cache_read(cached.is_some());
            if let Some(batches) = cached {
                return Ok(Located::Memory(batches));
            }
            end
        };
        // Compaction leaves gaps: an offset past a segment's last batch is
        // answered from the next segment (as Kafka does).
        let mut target = offset;
        loop {
            let (seg, next_base) = {
                let st = self.inner().st.borrow();
                let seg = segment_for(&st.segments, target).ok_or(StorageError::Closed)?;
                let i = st
                    .segments
                    .partition_point(|s| s.base_offset <= seg.base_offset);
                let view = SegmentView::of(&st, seg, target, end, max_bytes.min(MAX_READ));
                (view, st.segments.get(i).map(|s| s.base_offset))
            };
            if let Some(found) = seg.extent(offset, max_bytes.min(MAX_READ), min_one).await? {
                return Ok(found);
            }
            match next_base {
                Some(b) if b < end => target = b,
                Some(_) => return Ok(Located::Memory(Vec::new())),
                None => {
                    return Err(StorageError::Corrupt(format!(
                        "offset {offset} not found in its segment"
                    ))
                    .into())
                }
            }
        }
    }

    /// First record at or above the log start offset whose timestamp is at
    /// least `ts`: (its offset, its timestamp); None if no record below the
    /// high watermark qualifies.
    pub async fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let mut after = i64::MIN; // base of the last segment searched
        loop {
            let (file, from, limit, hw, start) = {
                let st = self.inner().st.borrow();
                let start = st.log_start();
                let seg = st.segments.iter().find(|s| {
                    s.base_offset > after
                        && s.next_offset() > start
                        && s.max_timestamp().is_some_and(|(m, _)| m >= ts)
                });
                let Some(seg) = seg else { return Ok(None) };
                after = seg.base_offset;
                let from = seg.position_for_timestamp(ts).max(seg.position_for(start));
                (seg.file(), from, seg.size(), st.high_watermark(), start)
            };
            let mut w = Window::new(file, limit);
            let mut pos = from;
            loop {
                let found = w
                    .find(pos, |h| {
                        (h.max_timestamp >= ts && h.last_offset() >= start) || h.base_offset >= hw
                    })
                    .await?;
                let Some((at, h)) = found else { break };
                if h.base_offset >= hw {
                    return Ok(None);
                }
                // The time index finds the batch; the exact record is inside
                // it. A batch that cannot be decoded answers with its base.
                let bytes = w.bytes(at, h.total_len()).await?;
                match records::first_record_at_or_after(&h, bytes, ts, start) {
                    Some(Some(found)) => return Ok(Some(found)),
                    Some(None) => pos = at + h.total_len() as u64,
                    None => return Ok(Some((h.base_offset.max(start), h.max_timestamp))),
                }
            }
        }
    }

    /// A new page-cache descriptor of the segment file behind `file`.
    fn page_cache_fd(&self, file: &DmaFile, base: i64) -> Result<OwnedFd, StorageError> {
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let opened = OpenOptions::new()
            .read(true)
            .open(&path)
            .map_err(|e| StorageError::io(format!("reopen segment {base} for reading"), e))?;
        Ok(OwnedFd::from(opened))
    }
}

/// One buffer; a single batch is handed over without a copy.
fn concat(mut batches: Vec<Bytes>) -> Bytes {
    match batches.len() {
        1 => batches.swap_remove(0),
        _ => batches.concat().into(),
    }
}

/// What a read needs of one segment, copied out of the state borrow (the
/// walk awaits disk reads).
struct SegmentView {
    file: Rc<DmaFile>,
    base: i64,
    /// Index position to start the header walk from.
    from: u64,
    /// Bytes of the segment holding only batches below the durable end.
    readable: u64,
    /// The read's end offset when it falls inside `readable` (a high
    /// watermark below the durable end), with the index position below it:
    /// `readable` is then cut at the first batch reaching it.
    cut: Option<(i64, u64)>,
    /// The last indexed batch start within `max_bytes` of `from`: a batch
    /// boundary near where the read will end, so only a few headers after
    /// it need reading.
    hint: Option<u64>,
}

impl SegmentView {
    fn of(st: &State, seg: &Segment, target: i64, end: i64, max_bytes: usize) -> SegmentView {
        let readable = if end <= seg.base_offset {
            0
        } else if seg.next_offset() <= st.durable_end {
            seg.size()
        } else if seg.base_offset == st.hw_mark.0 {
            st.hw_mark.1
        } else {
            0
        };
        let cut = (end < seg.next_offset().min(st.durable_end) && end > seg.base_offset)
            .then(|| (end, seg.position_for(end).min(readable)));
        let from = seg.position_for(target).min(readable);
        let hint = seg
            .offset_index()
            .floor_position((from + max_bytes as u64).min(readable))
            .map(|(_, p)| p)
            .filter(|&p| p > from && p < readable);
        SegmentView {
            file: seg.file(),
            base: seg.base_offset,
            from,
            readable,
            cut,
            hint,
        }
    }

    /// Cuts `readable` at the first batch reaching the cut offset (a short
    /// walk from the index entry below it). Returns whether it applied.
    async fn apply_cut(&mut self, w: &mut Window) -> Result<bool, StorageError> {
        let Some((end, from)) = self.cut.take() else {
            return Ok(false);
        };
        if let Some((pos, _)) = w.find(from, |h| h.last_offset() >= end).await? {
            self.readable = pos;
            self.from = self.from.min(pos);
            self.hint = self.hint.filter(|&p| p < pos);
            *w = Window::with_read_size(self.file.clone(), pos, HEADER_WINDOW);
        }
        Ok(true)
    }

    /// The batches holding `offset` onwards within the limits, or None when
    /// no batch of this segment (below the read's end) reaches `offset`.
    async fn extent(
        mut self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Option<Located>, StorageError> {
        let mut w = Window::with_read_size(self.file.clone(), self.readable, HEADER_WINDOW);
        let cut = self.apply_cut(&mut w).await?;
        let Some((start, first)) = w.find(self.from, |h| h.last_offset() >= offset).await? else {
            // Below the read's end but inside the batch that reaches it.
            return Ok(cut.then(|| Located::Memory(Vec::new())));
        };
        let first_end = start + first.total_len() as u64;
        let limit = start + max_bytes as u64;
        let end = if first_end > limit {
            if min_one {
                first_end
            } else {
                start
            }
        } else if limit >= self.readable {
            self.readable
        } else {
            // Walk the few batches after the index hint that still fit.
            let mut end = self
                .hint
                .filter(|&p| p > first_end && p <= limit)
                .unwrap_or(first_end);
            while end + HEADER_LEN as u64 <= self.readable {
                let Some((_, h)) = w.find(end, |_| true).await? else {
                    break;
                };
                let next = end + h.total_len() as u64;
                if next > limit {
                    break;
                }
                end = next;
            }
            end
        };
        debug_assert!(end <= self.readable && end >= start);
        Ok(Some(Located::Disk {
            file: self.file,
            base: self.base,
            pos: start,
            len: end - start,
        }))
    }
}
