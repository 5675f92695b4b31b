//! Kafka's sparse segment indexes, memory-mapped: `.index` (offset → file
//! position) and `.timeindex` (max timestamp so far → offset).
//!
//! Owns: the on-disk entry formats (big-endian, Kafka's layout), lookup,
//! append, structural validation, preallocation and trimming. Must not: read
//! the log file or decide when to add entries (the segment does), nor be
//! trusted after a crash without validation: an active index is rebuilt from
//! the log, a sealed one is checked first.
//!
//! The open/set_len/msync calls are ordinary blocking syscalls on the shard
//! thread; they only happen on segment open, roll and close.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

/// An offset index entry: relative offset (u32), file position (u32).
const OFFSET_ENTRY: usize = 8;
/// A time index entry: timestamp (i64), relative offset (u32).
const TIME_ENTRY: usize = 12;

/// A file of fixed-size entries, mapped read-write.
struct MmapIndex {
    path: PathBuf,
    file: File,
    map: MmapMut,
    entry_size: usize,
    entries: usize,
    /// The file length was not a multiple of the entry size (corrupt).
    ragged: bool,
}

impl MmapIndex {
    /// Maps an existing index as is (a sealed segment's, trimmed).
    fn open_existing(path: &Path, entry_size: usize) -> io::Result<MmapIndex> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len() as usize;
        // SAFETY: the file is owned by this shard alone; nobody else truncates
        // it while mapped (trim unmaps first).
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(MmapIndex {
            path: path.to_path_buf(),
            file,
            map,
            entry_size,
            entries: len / entry_size,
            ragged: !len.is_multiple_of(entry_size),
        })
    }

    /// Creates (or empties) an index preallocated to `prealloc` bytes.
    fn create(path: &Path, entry_size: usize, prealloc: u64) -> io::Result<MmapIndex> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let cap = (prealloc as usize / entry_size).max(2) * entry_size;
        file.set_len(cap as u64)?;
        // SAFETY: as in open_existing.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(MmapIndex {
            path: path.to_path_buf(),
            file,
            map,
            entry_size,
            entries: 0,
            ragged: false,
        })
    }

    fn capacity(&self) -> usize {
        self.map.len() / self.entry_size
    }

    fn entry(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.entries);
        &self.map[i * self.entry_size..(i + 1) * self.entry_size]
    }

    fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        if self.entries >= self.capacity() {
            return false;
        }
        let at = self.entries * self.entry_size;
        self.map[at..at + self.entry_size].copy_from_slice(entry);
        self.entries += 1;
        true
    }

    /// Largest i with key(i) <= target, by binary search (keys sorted).
    fn floor<K: Ord>(&self, target: K, key: impl Fn(&[u8]) -> K) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Flushes, unmaps, shrinks the file to its entries, maps it again.
    fn trim(&mut self) -> io::Result<()> {
        self.map.flush()?;
        let used = (self.entries * self.entry_size) as u64;
        // Unmap before shrinking: touching a mapped page past EOF is SIGBUS.
        self.map = MmapMut::map_anon(0)?;
        self.file.set_len(used)?;
        self.file.sync_all()?;
        // SAFETY: as in open_existing.
        self.map = unsafe { MmapMut::map_mut(&self.file)? };
        self.ragged = false;
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Converts an absolute offset to the u32 stored on disk. The segment rolls
/// before any offset could be more than i32::MAX past its base.
fn relative(base: i64, offset: i64) -> u32 {
    let rel = offset - base;
    assert!(
        (0..=i32::MAX as i64).contains(&rel),
        "offset outside segment"
    );
    rel as u32
}

/// `.index`: sparse map from offset to the file position of a batch start.
pub struct OffsetIndex {
    base: i64,
    inner: MmapIndex,
}

impl OffsetIndex {
    pub fn open_existing(path: &Path, base: i64) -> io::Result<OffsetIndex> {
        let inner = MmapIndex::open_existing(path, OFFSET_ENTRY)?;
        Ok(OffsetIndex { base, inner })
    }

    pub fn create(path: &Path, base: i64, prealloc: u64) -> io::Result<OffsetIndex> {
        let inner = MmapIndex::create(path, OFFSET_ENTRY, prealloc)?;
        Ok(OffsetIndex { base, inner })
    }

    pub fn len(&self) -> usize {
        self.inner.entries
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries == 0
    }

    pub fn is_full(&self) -> bool {
        self.inner.entries >= self.inner.capacity()
    }

    /// Entries the preallocated file can hold.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Entry i as (absolute offset, position).
    pub fn get(&self, i: usize) -> (i64, u64) {
        let e = self.inner.entry(i);
        (self.base + i64::from(u32_at(e, 0)), u64::from(u32_at(e, 4)))
    }

    /// Records that the batch starting at `offset` is at `position`.
    /// Returns false when the index is full (the segment must roll).
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        debug_assert!(self.is_empty() || self.get(self.len() - 1).0 < offset);
        assert!(position <= u32::MAX as u64, "position outside segment");
        let mut e = [0u8; OFFSET_ENTRY];
        e[..4].copy_from_slice(&relative(self.base, offset).to_be_bytes());
        e[4..].copy_from_slice(&(position as u32).to_be_bytes());
        self.inner.push(&e)
    }

    /// The last entry at or before `offset`, or (base, 0) when none: a
    /// position from which a forward scan reaches the batch holding `offset`.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        let rel = (offset - self.base).clamp(0, u32::MAX as i64) as u32;
        match self.inner.floor(rel, |e| u32_at(e, 0)) {
            Some(i) => self.get(i),
            None => (self.base, 0),
        }
    }

    /// The last entry whose position is at or before `position`.
    pub fn floor_position(&self, position: u64) -> Option<(i64, u64)> {
        let p = position.min(u64::from(u32::MAX)) as u32;
        self.inner.floor(p, |e| u32_at(e, 4)).map(|i| self.get(i))
    }

    /// Structural check: entries strictly increasing in offset and position,
    /// positions inside the log. Pointing at real batch starts is checked by
    /// the recovery scan.
    pub fn validate(&self, log_size: u64) -> Result<(), String> {
        if self.inner.ragged {
            return Err(format!(
                "{}: size not a multiple of 8",
                self.path().display()
            ));
        }
        let mut prev: Option<(i64, u64)> = None;
        for i in 0..self.len() {
            let (off, pos) = self.get(i);
            if pos >= log_size {
                return Err(format!(
                    "entry {i}: position {pos} past log size {log_size}"
                ));
            }
            if let Some((po, pp)) = prev {
                if off <= po || pos <= pp {
                    return Err(format!("entry {i}: ({off}, {pos}) not after ({po}, {pp})"));
                }
            }
            prev = Some((off, pos));
        }
        Ok(())
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.inner.trim()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `.timeindex`: sparse map from the segment's running max timestamp to the
/// offset of the batch that first reached it. Timestamps strictly increase.
pub struct TimeIndex {
    base: i64,
    inner: MmapIndex,
}

impl TimeIndex {
    pub fn open_existing(path: &Path, base: i64) -> io::Result<TimeIndex> {
        let inner = MmapIndex::open_existing(path, TIME_ENTRY)?;
        Ok(TimeIndex { base, inner })
    }

    pub fn create(path: &Path, base: i64, prealloc: u64) -> io::Result<TimeIndex> {
        let inner = MmapIndex::create(path, TIME_ENTRY, prealloc)?;
        Ok(TimeIndex { base, inner })
    }

    pub fn len(&self) -> usize {
        self.inner.entries
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries == 0
    }

    /// Full, keeping one slot for the final entry written when sealing.
    pub fn is_full(&self) -> bool {
        self.inner.entries + 1 >= self.inner.capacity()
    }

    /// Entries the preallocated file can hold.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Entry i as (timestamp, absolute offset).
    pub fn get(&self, i: usize) -> (i64, i64) {
        let e = self.inner.entry(i);
        (i64_at(e, 0), self.base + i64::from(u32_at(e, 8)))
    }

    pub fn last(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last
    /// entry's (Kafka keeps the index strictly increasing). Returns false
    /// only when an entry was due but the index is full.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        if self.last().is_some_and(|(ts, _)| ts >= timestamp) {
            return true;
        }
        let mut e = [0u8; TIME_ENTRY];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&relative(self.base, offset).to_be_bytes());
        self.inner.push(&e)
    }

    /// The last entry with timestamp <= `ts`.
    pub fn lookup(&self, ts: i64) -> Option<(i64, i64)> {
        self.inner.floor(ts, |e| i64_at(e, 0)).map(|i| self.get(i))
    }

    /// Structural check: timestamps strictly increasing, offsets
    /// non-decreasing and below `next_offset`.
    pub fn validate(&self, next_offset: i64) -> Result<(), String> {
        if self.inner.ragged {
            return Err(format!(
                "{}: size not a multiple of 12",
                self.path().display()
            ));
        }
        let mut prev: Option<(i64, i64)> = None;
        for i in 0..self.len() {
            let (ts, off) = self.get(i);
            if off >= next_offset {
                return Err(format!("entry {i}: offset {off} past end {next_offset}"));
            }
            if let Some((pt, po)) = prev {
                if ts <= pt || off < po {
                    return Err(format!("entry {i}: ({ts}, {off}) not after ({pt}, {po})"));
                }
            }
            prev = Some((ts, off));
        }
        Ok(())
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.inner.trim()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_append_trim_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::create(&path, 100, 80).unwrap();
        assert_eq!(idx.lookup(150), (100, 0));
        for (i, off) in [110, 120, 130].iter().enumerate() {
            assert!(idx.append(*off, (i as u64 + 1) * 4096));
        }
        assert_eq!(idx.lookup(105), (100, 0));
        assert_eq!(idx.lookup(110), (110, 4096));
        assert_eq!(idx.lookup(125), (120, 8192));
        assert_eq!(idx.lookup(10_000), (130, 12288));
        idx.validate(20_000).unwrap();
        assert!(idx.validate(12288).is_err());
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        drop(idx);
        let idx = OffsetIndex::open_existing(&path, 100).unwrap();
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.lookup(125), (120, 8192));
    }

    #[test]
    fn offset_index_full_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::create(&path, 0, 16).unwrap();
        assert!(idx.append(1, 10));
        assert!(idx.append(2, 20));
        assert!(idx.is_full());
        assert!(!idx.append(3, 30));
        drop(idx);
        // Preallocated zeros past the used entries look like repeated
        // (0, 0) entries: validation must catch them.
        std::fs::write(&path, [0u8; 24]).unwrap();
        let idx = OffsetIndex::open_existing(&path, 0).unwrap();
        assert!(idx.validate(100).is_err());
        std::fs::write(&path, [0u8; 13]).unwrap();
        let idx = OffsetIndex::open_existing(&path, 0).unwrap();
        assert!(idx.validate(100).is_err());
    }

    #[test]
    fn time_index_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::create(&path, 10, 1200).unwrap();
        assert!(idx.lookup(5).is_none());
        assert!(idx.maybe_append(1000, 10));
        assert!(idx.maybe_append(900, 11)); // not larger: skipped
        assert!(idx.maybe_append(2000, 20));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(999), None);
        assert_eq!(idx.lookup(1500), Some((1000, 10)));
        assert_eq!(idx.lookup(2000), Some((2000, 20)));
        idx.validate(21).unwrap();
        assert!(idx.validate(20).is_err());
        idx.trim().unwrap();
        assert_eq!(idx.last(), Some((2000, 20)));
    }
}
