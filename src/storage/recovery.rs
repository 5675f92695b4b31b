//! Opening a partition directory after a clean stop or a crash.
//!
//! Owns: finding segments, scanning them (length sane, magic 2, CRC ok,
//! offsets increasing), truncating a torn or zero-padded tail, validating
//! or rebuilding indexes, replaying producer state and rebuilding the
//! leader-epoch cache (`epochs`). Must not: leave a duplicate offset. Every segment but the last was
//! truncated and synced before its successor was created, so a sealed
//! segment that does not scan clean to its end is corruption: it is cut at
//! the first bad batch and every later segment removed (Kafka does the same).
//!
//! Offset gaps are allowed everywhere: compaction leaves them inside and
//! between sealed segments, and a follower stores its leader's batches as
//! they are (gaps included) in its active segment. So every segment's
//! batches need only increasing offsets, the first at or after the
//! segment's base, and a segment may start above its predecessor's end.
//!
//! Before listing segments, leftovers of an interrupted compaction are
//! settled (see `cleaner`): `*.cleaned` files are deleted; a `<base>.log.swap`
//! means the rewritten segment was complete, so its `.swap` files replace
//! the originals; index `.swap` files without a `.log.swap` are deleted.
//! The persisted log start offset is read here too (`checkpoint`).
//!
//! Every segment is scanned in full (producer state has no snapshots yet),
//! so opening costs one sequential read of the log.

use std::path::Path;
use std::rc::Rc;

use glommio::io::DmaFile;

use super::batch::{self, BatchHeader, HEADER_LEN, MIN_BATCH_LENGTH};
use super::checkpoint;
use super::epochs::{self, EpochCache, EpochFile};
use super::index::{OffsetIndex, TimeIndex};
use super::producer_state::ProducerState;
use super::segment::{self, BatchInfo, Segment};
use super::txn_state::{self, TxnState};
use super::{LogConfig, StorageError};

const SCAN_CHUNK: usize = 1 << 20;

pub struct Recovered {
    pub segments: Vec<Segment>,
    pub producers: ProducerState,
    pub txns: TxnState,
    /// The leader-epoch cache: the persisted file reconciled with the scan.
    pub epochs: EpochCache,
    pub log_end: i64,
    /// The persisted log start offset (0 if none); the caller bounds it by
    /// the first segment's base and the log end.
    pub log_start: i64,
}

/// Where a scan stopped.
struct ScanEnd {
    /// Bytes of valid batches from the start of the file.
    valid_len: u64,
    next_offset: i64,
    first_max_ts: Option<i64>,
}

fn io_err(ctx: &str, path: &Path, e: impl Into<std::io::Error>) -> StorageError {
    StorageError::io(format!("{ctx} {}", path.display()), e.into())
}

/// Base offsets of the `.log` files in `dir`, sorted.
fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(base) = stem.parse::<i64>() {
                bases.push(base);
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Reads exactly `[pos, pos + len)`; `len` must lie within the file's
/// known size (DmaFile::read_at may misreport lengths past EOF).
pub async fn read_exact(file: &DmaFile, pos: u64, len: usize) -> Result<Vec<u8>, StorageError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let got = file
        .read_at(pos, len)
        .await
        .map_err(|e| StorageError::io("read segment".into(), e.into()))?;
    if got.len() != len {
        return Err(StorageError::Corrupt(format!(
            "short read at {pos}: {} of {len} bytes",
            got.len()
        )));
    }
    Ok(got.to_vec())
}

/// A batch stored at `pos` is acceptable if its header is sane, it fits in
/// the file, its CRC matches and its offsets are at or after `expected`
/// (the previous batch's end, or the segment's base).
fn check_stored(buf: &[u8], expected: i64) -> Option<BatchHeader> {
    let h = batch::validate(buf).ok()?;
    (h.base_offset >= expected && h.last_offset_delta >= 0).then_some(h)
}

/// What a scan rebuilds from the batches it visits.
#[derive(Default)]
pub(super) struct Replayed {
    pub producers: ProducerState,
    pub txns: TxnState,
    pub epochs: EpochCache,
}

impl Replayed {
    /// `batch`: the whole batch `h` heads (a control batch's marker is in
    /// its record).
    fn visit(&mut self, h: &BatchHeader, batch: &[u8]) {
        self.producers.replay(h);
        let marker = txn_state::control_marker(h, batch);
        self.txns.record(h, h.base_offset, h.last_offset(), marker);
        self.epochs.assign(h.leader_epoch, h.base_offset);
    }
}

/// How many bytes the batch at the start of `buf` needs, if its header
/// looks plausible; None if it cannot be a batch (end of valid data).
fn needed(buf: &[u8], remaining_in_file: u64) -> Option<usize> {
    let h = BatchHeader::decode(buf).ok()?;
    if h.magic != 2 || h.batch_length < MIN_BATCH_LENGTH {
        return None;
    }
    let total = h.total_len();
    (total as u64 <= remaining_in_file).then_some(total)
}

/// Scans batches from the start of `file` (of `file_len` bytes), calling
/// `visit(header, batch, position)` for each valid one, until the first
/// invalid.
async fn scan(
    file: &DmaFile,
    file_len: u64,
    base: i64,
    visit: &mut dyn FnMut(&BatchHeader, &[u8], u64),
) -> Result<ScanEnd, StorageError> {
    let mut buf: Vec<u8> = Vec::new();
    let (mut buf_pos, mut read_pos) = (0u64, 0u64);
    let mut end = ScanEnd {
        valid_len: 0,
        next_offset: base,
        first_max_ts: None,
    };
    loop {
        let mut at = 0usize;
        let mut want = HEADER_LEN;
        let mut stop = false;
        while buf.len() - at >= HEADER_LEN {
            let Some(total) = needed(&buf[at..], file_len - (buf_pos + at as u64)) else {
                stop = true;
                break;
            };
            if buf.len() - at < total {
                want = total;
                break;
            }
            let Some(h) = check_stored(&buf[at..at + total], end.next_offset) else {
                stop = true;
                break;
            };
            visit(&h, &buf[at..at + total], buf_pos + at as u64);
            end.first_max_ts.get_or_insert(h.max_timestamp);
            end.next_offset = h.last_offset() + 1;
            at += total;
        }
        buf.drain(..at);
        buf_pos += at as u64;
        end.valid_len = buf_pos;
        if stop || read_pos >= file_len {
            return Ok(end);
        }
        let len = (want.max(SCAN_CHUNK) as u64).min(file_len - read_pos) as usize;
        buf.extend(read_exact(file, read_pos, len).await?);
        read_pos += len as u64;
    }
}

/// Checks, during a scan, that every index entry names a real batch start.
#[derive(Default)]
struct IndexCheck {
    next_offset_entry: usize,
    next_time_entry: usize,
    bad: bool,
}

impl IndexCheck {
    fn visit(&mut self, oi: &OffsetIndex, ti: &TimeIndex, h: &BatchHeader, pos: u64) {
        if self.next_offset_entry < oi.len() {
            let (off, p) = oi.get(self.next_offset_entry);
            if p == pos {
                self.bad |= off != h.base_offset;
                self.next_offset_entry += 1;
            } else {
                self.bad |= p < pos; // skipped past it: not a batch start
            }
        }
        while self.next_time_entry < ti.len() {
            let (ts, off) = ti.get(self.next_time_entry);
            if off > h.base_offset {
                break;
            }
            self.bad |= off != h.base_offset || ts != h.max_timestamp;
            self.next_time_entry += 1;
        }
    }

    fn all_seen(&self, oi: &OffsetIndex, ti: &TimeIndex) -> bool {
        !self.bad && self.next_offset_entry == oi.len() && self.next_time_entry == ti.len()
    }
}

fn info(h: &BatchHeader) -> BatchInfo {
    BatchInfo {
        base_offset: h.base_offset,
        last_offset: h.last_offset(),
        max_timestamp: h.max_timestamp,
        len: h.total_len() as u64,
    }
}

/// Opens a sealed segment's indexes if present and structurally valid.
fn existing_indexes(dir: &Path, base: i64, log_len: u64) -> Option<(OffsetIndex, TimeIndex)> {
    let oi = OffsetIndex::open_existing(&segment::segment_path(dir, base, "index"), base).ok()?;
    let ti = TimeIndex::open_existing(&segment::segment_path(dir, base, "timeindex"), base).ok()?;
    if let Err(e) = oi.validate(log_len) {
        tracing::warn!("rebuilding offset index: {e}");
        return None;
    }
    if let Err(e) = ti.validate(i64::MAX) {
        tracing::warn!("rebuilding time index: {e}");
        return None;
    }
    Some((oi, ti))
}

/// Verifies a sealed segment against its existing indexes in one scan,
/// replaying producer state. Returns the segment if the indexes held and
/// the file scanned clean; None (state replayed up to where the scan
/// stopped, exactly where a rebuild scan stops too) otherwise. The flag
/// says whether producer state was replayed.
async fn open_verified(
    dir: &Path,
    file: &Rc<DmaFile>,
    base: i64,
    file_len: u64,
    replayed: &mut Replayed,
    cfg: &LogConfig,
) -> Result<(Option<Segment>, bool), StorageError> {
    let Some((oi, ti)) = existing_indexes(dir, base, file_len) else {
        return Ok((None, false));
    };
    let mut check = IndexCheck::default();
    let mut max_ts: Option<(i64, i64)> = None;
    let end = scan(file, file_len, base, &mut |h, batch, pos| {
        check.visit(&oi, &ti, h, pos);
        if max_ts.is_none_or(|(ts, _)| h.max_timestamp > ts) {
            max_ts = Some((h.max_timestamp, h.base_offset));
        }
        replayed.visit(h, batch);
    })
    .await?;
    if end.valid_len != file_len || !check.all_seen(&oi, &ti) {
        tracing::warn!(base, "segment does not match its indexes; rebuilding");
        return Ok((None, true));
    }
    let mut seg = Segment::assemble(file.clone(), base, oi, ti, cfg);
    seg.restore(file_len, end.next_offset, max_ts);
    seg.mark_sealed();
    Ok((Some(seg), true))
}

/// Scans a segment rebuilding its indexes (and replaying producer state
/// unless `producers` is None). Returns it and where it ends.
async fn open_rebuilt(
    dir: &Path,
    file: &Rc<DmaFile>,
    base: i64,
    file_len: u64,
    mut replayed: Option<&mut Replayed>,
    cfg: &LogConfig,
) -> Result<(Segment, ScanEnd), StorageError> {
    let (oi, ti) = segment::create_indexes(dir, base, cfg)?;
    let mut seg = Segment::assemble(file.clone(), base, oi, ti, cfg);
    let end = scan(file, file_len, base, &mut |h, batch, pos| {
        let ok = seg.record(&info(h), pos);
        debug_assert!(ok, "index sized for the segment");
        if let Some(r) = replayed.as_deref_mut() {
            r.visit(h, batch);
        }
    })
    .await?;
    Ok((seg, end))
}

/// Removes a segment's three files (after corruption cut the log short,
/// or retention deleted it).
pub fn remove_segment_files(dir: &Path, base: i64) {
    for ext in ["log", "index", "timeindex"] {
        let p = segment::segment_path(dir, base, ext);
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::warn!("remove {}: {e}", p.display());
        }
    }
}

/// Makes `seg` (ending at `valid_len`) the active segment: garbage after
/// the last valid batch removed, the partial last block kept in memory.
async fn activate(
    seg: &mut Segment,
    file_len: u64,
    first_ms: Option<i64>,
) -> Result<(), StorageError> {
    let file = seg.file();
    let size = seg.size();
    if file_len != size {
        tracing::warn!(
            base = seg.base_offset,
            size,
            file_len,
            "truncating torn log tail"
        );
        segment::truncate_and_sync(&file, size).await?;
    }
    let align = file.alignment();
    let tail_start = size - size % align;
    let tail = read_exact(&file, tail_start, (size - tail_start) as usize).await?;
    seg.activate(tail, first_ms);
    Ok(())
}

/// Opens (creating if needed) and repairs the partition in `dir`.
pub async fn recover(dir: &Path, cfg: &LogConfig) -> Result<Recovered, StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
    settle_compaction_leftovers(dir)?;
    let bases = list_segments(dir)?;
    let mut replayed = Replayed::default();
    let mut segments: Vec<Segment> = Vec::new();
    for (i, &base) in bases.iter().enumerate() {
        let expected = segments.last().map(|s: &Segment| s.next_offset());
        if expected.is_some_and(|e| e > base) {
            tracing::error!(
                base,
                ?expected,
                "overlapping segment offsets; dropping the rest of the log"
            );
            bases[i..]
                .iter()
                .for_each(|&b| remove_segment_files(dir, b));
            break;
        }
        let path = segment::segment_path(dir, base, "log");
        let file = Rc::new(segment::open_log_file(&path, false).await?);
        let file_len = file
            .file_size()
            .await
            .map_err(|e| io_err("stat", &path, e))?;
        let is_last = i + 1 == bases.len();
        let mut was_replayed = false;
        if !is_last {
            let verified = open_verified(dir, &file, base, file_len, &mut replayed, cfg).await?;
            if let (Some(seg), _) = verified {
                segments.push(seg);
                continue;
            }
            was_replayed = verified.1;
        }
        let replay = (!was_replayed).then_some(&mut replayed);
        let (mut seg, end) = open_rebuilt(dir, &file, base, file_len, replay, cfg).await?;
        if is_last || end.valid_len < file_len {
            if !is_last {
                tracing::error!(base, "corrupt sealed segment; dropping later segments");
                bases[i + 1..]
                    .iter()
                    .for_each(|&b| remove_segment_files(dir, b));
            }
            activate(&mut seg, file_len, end.first_max_ts).await?;
            segments.push(seg);
            break;
        }
        seg.finish_seal()?;
        segments.push(seg);
    }
    if segments.is_empty() {
        let base = 0;
        segments.push(Segment::create(dir, base, cfg).await?);
        sync_dir(dir)?;
    }
    let log_end = segments.last().map_or(0, Segment::next_offset);
    let file = EpochFile::new(dir);
    let stored = file.load();
    let epochs = epochs::merge_recovered(&stored, &replayed.epochs, log_end);
    if epochs != stored {
        file.store(&epochs);
    }
    Ok(Recovered {
        segments,
        producers: replayed.producers,
        txns: replayed.txns,
        epochs,
        log_end,
        log_start: checkpoint::read_log_start(dir),
    })
}

/// Replays every batch of the given segment files (file, base, size), in
/// order: the producer state and epochs a truncation leaves. A batch that
/// does not scan is corruption here (the files were recovered or written by
/// this process).
pub(super) async fn replay_segments(
    files: &[(Rc<DmaFile>, i64, u64)],
) -> Result<Replayed, StorageError> {
    let mut replayed = Replayed::default();
    for (file, base, size) in files {
        let end = scan(file, *size, *base, &mut |h, batch, _| {
            replayed.visit(h, batch)
        })
        .await?;
        if end.valid_len != *size {
            return Err(StorageError::Corrupt(format!(
                "segment {base} does not scan to its end {size} ({} valid)",
                end.valid_len
            )));
        }
    }
    Ok(replayed)
}

/// Reopens the segment at `base` (just truncated on disk) as the active
/// segment, rebuilding its indexes. The old index files are unlinked first
/// so the old segment's mappings stay valid (on the old inodes) until it is
/// dropped.
pub(super) async fn reopen_active(
    dir: &Path,
    base: i64,
    cfg: &LogConfig,
) -> Result<Segment, StorageError> {
    for ext in ["index", "timeindex"] {
        let p = segment::segment_path(dir, base, ext);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &p, e)),
        }
    }
    let path = segment::segment_path(dir, base, "log");
    let file = Rc::new(segment::open_log_file(&path, false).await?);
    let file_len = file
        .file_size()
        .await
        .map_err(|e| io_err("stat", &path, e))?;
    let (mut seg, end) = open_rebuilt(dir, &file, base, file_len, None, cfg).await?;
    activate(&mut seg, file_len, end.first_max_ts).await?;
    Ok(seg)
}

/// Settles what an interrupted compaction left (see the module doc).
fn settle_compaction_leftovers(dir: &Path) -> Result<(), StorageError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    let mut changed = false;
    let remove = |name: &str| {
        let p = dir.join(name);
        std::fs::remove_file(&p).map_err(|e| io_err("remove", &p, e))
    };
    for n in names.iter().filter(|n| n.ends_with(".cleaned")) {
        tracing::warn!(dir = %dir.display(), "removing unfinished compaction output {n}");
        remove(n)?;
        changed = true;
    }
    for n in names.iter().filter(|n| n.ends_with(".log.swap")) {
        let stem = n.trim_end_matches(".log.swap");
        tracing::warn!(dir = %dir.display(), "completing interrupted compaction swap of {stem}");
        for ext in ["index", "timeindex", "log"] {
            let from = dir.join(format!("{stem}.{ext}.swap"));
            if from.exists() {
                let to = dir.join(format!("{stem}.{ext}"));
                std::fs::rename(&from, &to).map_err(|e| io_err("rename", &from, e))?;
            }
        }
        changed = true;
    }
    for n in names.iter().filter(|n| n.ends_with("index.swap")) {
        let stem = n
            .trim_end_matches(".timeindex.swap")
            .trim_end_matches(".index.swap");
        if !names.contains(&format!("{stem}.log.swap")) {
            remove(n)?;
            changed = true;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes file creations and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync dir", dir, e))
}
