//! The leader-epoch cache of one partition (Kafka's `LeaderEpochFileCache`):
//! which leader epoch started at which offset, persisted in the partition
//! directory as `leader-epoch-checkpoint` (Kafka's text format: a version
//! line "0", a count line, then one "epoch startOffset" line per entry).
//!
//! Owns: the entries (strictly increasing in epoch and in start offset),
//! their rules (assign, truncate from either end, `end_offset_for`) and the
//! file. Must not: read the log (recovery rebuilds the entries from its scan
//! and [`merge_recovered`] reconciles them with the file), or fail an append
//! because the file could not be written: the file is advisory (recovery
//! re-derives every entry whose batches are still in the log), so a failed
//! write is logged and retried at the next change.

use std::path::{Path, PathBuf};

use super::checkpoint;

pub const EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// (epoch, start offset) entries of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    pub fn new() -> EpochCache {
        EpochCache::default()
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start`, if it is newer than the latest
    /// entry (negative epochs mean "none" and are ignored, as in Kafka).
    /// Returns whether the entries changed. A start offset not above the
    /// latest entry's replaces that entry's place: Kafka drops entries whose
    /// start is not below the new one so both columns stay increasing.
    pub fn assign(&mut self, epoch: i32, start: i64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|l| epoch <= l) {
            return false;
        }
        while self.entries.last().is_some_and(|&(_, s)| s >= start) {
            self.entries.pop();
        }
        self.entries.push((epoch, start));
        true
    }

    /// Kafka's `endOffsetFor`: the epoch at or below `epoch` that the log
    /// knows and the offset where the next higher epoch starts (the log end
    /// for the latest epoch); None when undefined (-1, or no higher epoch).
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        if epoch < 0 {
            return None;
        }
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end));
        }
        let higher = self.entries.iter().find(|e| e.0 > epoch)?;
        let floor = self.entries.iter().rev().find(|e| e.0 <= epoch);
        Some((floor.map_or(epoch, |f| f.0), higher.1))
    }

    /// Drops entries starting at or after `end` (the log was truncated to
    /// `end`). Returns whether anything changed.
    pub fn truncate_from_end(&mut self, end: i64) -> bool {
        let n = self.entries.len();
        self.entries.retain(|&(_, s)| s < end);
        n != self.entries.len()
    }

    /// The log start moved to `start`: entries entirely below it go, and the
    /// latest entry at or below it now starts at `start` (Kafka's
    /// `truncateFromStart`). Returns whether anything changed.
    pub fn truncate_from_start(&mut self, start: i64) -> bool {
        let Some(i) = self.entries.iter().rposition(|&(_, s)| s <= start) else {
            return false;
        };
        if i == 0 && self.entries[0].1 == start {
            return false;
        }
        self.entries.drain(..i);
        self.entries[0].1 = start;
        true
    }

    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    fn to_text(&self) -> String {
        let mut s = format!("0\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            s.push_str(&format!("{e} {o}\n"));
        }
        s
    }

    /// Parses the file's text; None if it is malformed in any way.
    fn from_text(text: &str) -> Option<EpochCache> {
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let n: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = EpochCache::new();
        for line in lines.by_ref().take(n) {
            let (e, o) = line.trim().split_once(' ')?;
            let (e, o): (i32, i64) = (e.parse().ok()?, o.trim().parse().ok()?);
            let ordered = cache
                .entries
                .last()
                .is_none_or(|&(le, lo)| e > le && o > lo);
            if e < 0 || o < 0 || !ordered {
                return None;
            }
            cache.entries.push((e, o));
        }
        (cache.entries.len() == n).then_some(cache)
    }
}

/// Where one partition's epoch cache is persisted.
pub struct EpochFile {
    dir: PathBuf,
}

impl EpochFile {
    pub fn new(dir: &Path) -> EpochFile {
        EpochFile {
            dir: dir.to_path_buf(),
        }
    }

    /// The persisted entries; empty (with a warning) when missing or bad.
    pub fn load(&self) -> EpochCache {
        let path = self.dir.join(EPOCH_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return EpochCache::new(),
            Err(e) => {
                tracing::warn!("read {}: {e}; ignoring it", path.display());
                return EpochCache::new();
            }
        };
        EpochCache::from_text(&text).unwrap_or_else(|| {
            tracing::warn!("bad {}; ignoring it", path.display());
            EpochCache::new()
        })
    }

    /// Writes `cache` atomically (blocking: two fsyncs, only when the
    /// entries change, i.e. once per leader epoch or truncation). A failure
    /// is logged, not returned (see the module doc).
    pub fn store(&self, cache: &EpochCache) {
        if let Err(e) = checkpoint::write_atomic(&self.dir, EPOCH_FILE, &cache.to_text()) {
            tracing::warn!(dir = %self.dir.display(), "writing {EPOCH_FILE}: {e}");
        }
    }
}

/// Reconciles the persisted entries with those a full scan of the log found
/// (`scanned`, every batch from the first segment on): the scan is the truth
/// for offsets it covered; the file adds only older history (epochs whose
/// batches retention or compaction removed, or an earlier start of the
/// first scanned epoch). Entries at or past `log_end` are dropped.
pub fn merge_recovered(file: &EpochCache, scanned: &EpochCache, log_end: i64) -> EpochCache {
    let mut out = EpochCache::new();
    let first = scanned.entries.first().copied();
    for &(e, s) in &file.entries {
        let older = first.is_none_or(|(fe, fs)| e < fe && s < fs);
        if older && s < log_end {
            out.entries.push((e, s));
        }
    }
    for (i, &(e, mut s)) in scanned.entries.iter().enumerate() {
        if i == 0 {
            if let Some(&(_, fs)) = file.entries.iter().find(|&&(fe, _)| fe == e) {
                let after_prev = out.entries.last().is_none_or(|&(_, ps)| fs > ps);
                if fs < s && after_prev {
                    s = fs;
                }
            }
        }
        out.assign(e, s);
    }
    out.truncate_from_end(log_end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        EpochCache {
            entries: entries.to_vec(),
        }
    }

    #[test]
    fn assign_only_newer_epochs() {
        let mut c = EpochCache::new();
        assert!(c.assign(1, 0));
        assert!(!c.assign(1, 5));
        assert!(!c.assign(0, 5));
        assert!(!c.assign(-1, 5));
        assert!(c.assign(3, 10));
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        // A newer epoch at an offset not above the latest start replaces it.
        assert!(c.assign(4, 10));
        assert_eq!(c.entries(), &[(1, 0), (4, 10)]);
        assert_eq!(c.latest_epoch(), Some(4));
    }

    #[test]
    fn end_offset_for_table() {
        let c = cache(&[(1, 0), (3, 10), (6, 20)]);
        let end = 30;
        let cases = [
            (-1, None),
            (0, Some((0, 0))),
            (1, Some((1, 10))),
            (2, Some((1, 10))),
            (3, Some((3, 20))),
            (5, Some((3, 20))),
            (6, Some((6, 30))),
            (7, None),
        ];
        for (epoch, want) in cases {
            assert_eq!(c.end_offset_for(epoch, end), want, "epoch {epoch}");
        }
        assert_eq!(EpochCache::new().end_offset_for(0, 5), None);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 10), (6, 20)]);
        assert!(!c.truncate_from_end(21));
        assert!(c.truncate_from_end(20));
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        assert!(!c.truncate_from_start(0));
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries(), &[(3, 12)]);
        let mut c = cache(&[(1, 0), (3, 10)]);
        assert!(c.truncate_from_start(10));
        assert_eq!(c.entries(), &[(3, 10)]);
        assert!(!c.truncate_from_start(10));
    }

    #[test]
    fn text_round_trip_and_bad_files() {
        let c = cache(&[(1, 0), (3, 10)]);
        assert_eq!(c.to_text(), "0\n2\n1 0\n3 10\n");
        assert_eq!(EpochCache::from_text(&c.to_text()), Some(c));
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n1 0\n",
            "0\n2\n3 0\n1 10\n",
            "0\n1\nx y\n",
        ] {
            assert_eq!(EpochCache::from_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn merge_keeps_older_history_and_trusts_the_scan() {
        let file = cache(&[(1, 0), (2, 5), (4, 40)]);
        // Retention removed offsets below 8: the scan starts inside epoch 2.
        let scanned = cache(&[(2, 8), (3, 20)]);
        assert_eq!(
            merge_recovered(&file, &scanned, 30).entries(),
            &[(1, 0), (2, 5), (3, 20)]
        );
        assert_eq!(
            merge_recovered(&file, &EpochCache::new(), 30).entries(),
            &[(1, 0), (2, 5)]
        );
    }
}
