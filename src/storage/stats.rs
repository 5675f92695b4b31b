//! Per-partition counters the storage keeps for observability: fdatasyncs
//! and their time, bytes written, hot-tail cache hits and misses. Plain
//! `Cell`s (a partition lives on one shard); the shard's metrics task reads
//! snapshots. Distributions (fdatasync latency, group-commit size) are not
//! kept here: each sample goes to the shard's [`IoObserver`] as it happens.
//! Must not: know any metrics library.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::log::PartitionLog;

/// Receives I/O samples on the log's shard as they happen. The shard's
/// metrics implement it with unsynchronized histograms; storage only calls.
pub trait IoObserver {
    /// One fdatasync of a segment took `took`.
    fn fsynced(&self, took: Duration);
    /// One group commit (a flusher round: everything one sync covers in
    /// the default mode) wrote `bytes` of batches.
    fn committed(&self, bytes: u64);
}

/// Drops every sample (logs opened without a shard).
pub(super) struct NoObserver;

impl IoObserver for NoObserver {
    fn fsynced(&self, _: Duration) {}
    fn committed(&self, _: u64) {}
}

pub(super) struct LogStats {
    io: Rc<dyn IoObserver>,
    fsyncs: Cell<u64>,
    fsync_micros: Cell<u64>,
    written_bytes: Cell<u64>,
    cache_hits: Cell<u64>,
    cache_misses: Cell<u64>,
}

/// A point-in-time copy of a partition's counters (running totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub fsyncs: u64,
    pub fsync_micros: u64,
    pub written_bytes: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

impl LogStats {
    pub fn new(io: Rc<dyn IoObserver>) -> LogStats {
        LogStats {
            io,
            fsyncs: Cell::default(),
            fsync_micros: Cell::default(),
            written_bytes: Cell::default(),
            cache_hits: Cell::default(),
            cache_misses: Cell::default(),
        }
    }

    pub fn fsynced(&self, took: Duration) {
        add(&self.fsyncs, 1);
        add(&self.fsync_micros, took.as_micros() as u64);
        self.io.fsynced(took);
    }

    pub fn committed(&self, bytes: u64) {
        self.io.committed(bytes);
    }

    pub fn written(&self, bytes: u64) {
        add(&self.written_bytes, bytes);
    }

    pub fn cache_read(&self, hit: bool) {
        add(
            if hit {
                &self.cache_hits
            } else {
                &self.cache_misses
            },
            1,
        );
    }
}

impl PartitionLog {
    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner().stats;
        StatsSnapshot {
            fsyncs: s.fsyncs.get(),
            fsync_micros: s.fsync_micros.get(),
            written_bytes: s.written_bytes.get(),
            cache_hits: s.cache_hits.get(),
            cache_misses: s.cache_misses.get(),
        }
    }
}

impl std::ops::Add for StatsSnapshot {
    type Output = StatsSnapshot;

    fn add(self, o: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            fsyncs: self.fsyncs + o.fsyncs,
            fsync_micros: self.fsync_micros + o.fsync_micros,
            written_bytes: self.written_bytes + o.written_bytes,
            cache_hits: self.cache_hits + o.cache_hits,
            cache_misses: self.cache_misses + o.cache_misses,
        }
    }
}
