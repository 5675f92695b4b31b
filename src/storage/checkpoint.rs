//! Small durable text files in a partition directory: the log start offset
//! (`log-start-offset`) and the cleaner's record of cleaned segments
//! (`cleaner-checkpoint`).
//!
//! Owns: their formats and the atomic replace (write `<name>.tmp`, fsync it,
//! rename over `<name>`, fsync the directory), so a crash leaves either the
//! old or the new content, never a torn one. Must not: be called on a hot
//! path (each write is two fsyncs on the shard thread), or fail an open on a
//! damaged file (a bad file reads as absent; both files are advisory
//! lower bounds that recovery can do without).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::recovery::sync_dir;
use super::StorageError;

pub const LOG_START_FILE: &str = "log-start-offset";
pub const CLEANER_FILE: &str = "cleaner-checkpoint";

fn io_err(ctx: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(format!("{ctx} {}", path.display()), e)
}

/// Replaces `dir/name` with `contents` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, contents: &str) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("write", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| io_err("rename", &tmp, e))?;
    sync_dir(dir)
}

fn read(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!("read {}: {e}; ignoring it", path.display());
            None
        }
    }
}

/// The persisted log start offset (0 when absent or unreadable).
pub fn read_log_start(dir: &Path) -> i64 {
    let Some(s) = read(dir, LOG_START_FILE) else {
        return 0;
    };
    s.trim().parse().unwrap_or_else(|_| {
        tracing::warn!(dir = %dir.display(), "bad {LOG_START_FILE}; ignoring it");
        0
    })
}

pub fn write_log_start(dir: &Path, offset: i64) -> Result<(), StorageError> {
    write_atomic(dir, LOG_START_FILE, &format!("{offset}\n"))
}

/// Segment base offset → time (ms) the cleaner first rewrote it. A line per
/// segment: `<base> <first_cleaned_ms>`. Bad lines are skipped (the segment
/// then counts as never cleaned: dirty, and its tombstones kept longer).
pub fn read_cleaned(dir: &Path) -> BTreeMap<i64, i64> {
    let Some(s) = read(dir, CLEANER_FILE) else {
        return BTreeMap::new();
    };
    s.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

pub fn write_cleaned(dir: &Path, cleaned: &BTreeMap<i64, i64>) -> Result<(), StorageError> {
    let mut s = String::new();
    for (base, ms) in cleaned {
        s.push_str(&format!("{base} {ms}\n"));
    }
    write_atomic(dir, CLEANER_FILE, &s)
}
