//! Storage micro-benchmarks: the per-batch work of the produce path and the
//! index lookups of the read path.
//!
//! * `batch_validate`: `fjord::storage::batch::validate_produced` (header
//!   parse, length/magic checks and CRC32C over the batch) on realistic
//!   uncompressed v2 batches of 16 KiB and 1 MiB. Every produced batch pays
//!   this once, so it bounds produce throughput per core.
//! * `index_lookup`: binary search of a memory-mapped offset index and time
//!   index of 100k entries (a full-ish 1 GiB segment), at random targets.
//!   Every fetch that misses the hot-tail cache and every ListOffsets by
//!   timestamp does one.
//! * `log_append_64KiB`: `PartitionLog::append` of 64 KiB batches on a real
//!   glommio executor, with the flusher writing O_DIRECT to files in Cargo's
//!   target scratch dir (a real disk, not tmpfs); timed until the data is
//!   acknowledged (`Appended::durable`). Two durability modes:
//!   `periodic_flush` (log.flush.interval.ms = 1 h, so no fdatasync during
//!   the run: acknowledged once written) and `fsync_each` (the default:
//!   acknowledged after fdatasync). `sequential` awaits each append before
//!   the next (one write, and in fsync mode one fdatasync, per append);
//!   `window16` keeps 16 appends in flight like a pipelining producer, so
//!   writes and syncs are shared (group commit). Log open/close and the
//!   executor start are outside the timed region.

mod common;

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use fjord::storage::batch::validate_produced;
use fjord::storage::index::{OffsetIndex, TimeIndex};
use fjord::storage::{Appended, LogConfig, PartitionLog};

const INDEX_ENTRIES: usize = 100_000;
/// Distinct lookup targets, cycled through (a power of two).
const TARGETS: usize = 4096;
const BASE_TS: i64 = 1_700_000_000_000;

fn validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch_validate");
    for (name, len) in [("16KiB", 16usize << 10), ("1MiB", 1 << 20)] {
        let batch = common::record_batch(len, 1000, BASE_TS);
        assert_eq!(batch.len(), len);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &batch, |b, batch| {
            b.iter(|| validate_produced(black_box(batch)).unwrap())
        });
    }
    g.finish();
}

/// Deterministic pseudo-random targets in [0, max).
fn targets(max: i64) -> Vec<i64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..TARGETS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % max as u64) as i64
        })
        .collect()
}

fn index_lookup(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(common::scratch_dir()).unwrap();
    // One entry per 4 KiB of log holding ~16 records, as with
    // log.index.interval.bytes=4096 and 250-byte records.
    let base = 5_000_000i64;
    let mut offsets = OffsetIndex::create(
        &dir.path().join("bench.index"),
        base,
        (INDEX_ENTRIES * 8) as u64,
    )
    .unwrap();
    let mut times = TimeIndex::create(
        &dir.path().join("bench.timeindex"),
        base,
        ((INDEX_ENTRIES + 2) * 12) as u64,
    )
    .unwrap();
    for i in 0..INDEX_ENTRIES as i64 {
        assert!(offsets.append(base + i * 16, (i * 4096) as u64));
        assert!(times.maybe_append(BASE_TS + i * 10, base + i * 16));
    }
    assert_eq!((offsets.len(), times.len()), (INDEX_ENTRIES, INDEX_ENTRIES));

    let mut g = c.benchmark_group("index_lookup");
    g.throughput(Throughput::Elements(1));

    let offset_targets: Vec<i64> = targets(INDEX_ENTRIES as i64 * 16)
        .into_iter()
        .map(|t| base + t)
        .collect();
    let mut i = 0usize;
    g.bench_function("offset_100k", |b| {
        b.iter(|| {
            let t = offset_targets[i & (TARGETS - 1)];
            i = i.wrapping_add(1);
            offsets.lookup(black_box(t))
        })
    });

    let time_targets: Vec<i64> = targets(INDEX_ENTRIES as i64 * 10)
        .into_iter()
        .map(|t| BASE_TS + t)
        .collect();
    let mut i = 0usize;
    g.bench_function("time_100k", |b| {
        b.iter(|| {
            let t = time_targets[i & (TARGETS - 1)];
            i = i.wrapping_add(1);
            times.lookup(black_box(t))
        })
    });
    g.finish();
}

/// Opens a fresh log on a new glommio executor, appends `iters` copies of
/// `batch` keeping up to `window` appends unacknowledged, and returns the
/// time from the first append to the last acknowledgement.
fn timed_appends(cfg: LogConfig, batch: Bytes, iters: u64, window: usize) -> Duration {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let dir = tempfile::tempdir_in(common::scratch_dir()).unwrap();
            let log = PartitionLog::open(dir.path().join("bench-0"), cfg)
                .await
                .expect("open log");
            let mut in_flight: VecDeque<Appended> = VecDeque::with_capacity(window);
            let start = Instant::now();
            for _ in 0..iters {
                if in_flight.len() >= window {
                    let oldest = in_flight.pop_front().unwrap();
                    oldest.durable.await.expect("durable");
                }
                let appended = log.append(&batch, 0, BASE_TS).expect("append");
                in_flight.push_back(appended);
            }
            for appended in in_flight {
                appended.durable.await.expect("durable");
            }
            let elapsed = start.elapsed();
            log.close().await.expect("close");
            elapsed
        })
        .expect("start executor")
        .join()
        .expect("executor")
}

fn log_append(c: &mut Criterion) {
    let batch = Bytes::from(common::record_batch(64 << 10, 1000, BASE_TS));
    let periodic = LogConfig {
        flush_interval_ms: Some(3_600_000),
        ..LogConfig::default()
    };
    let fsync = LogConfig::default();
    assert!(!periodic.sync_every_append() && fsync.sync_every_append());

    let mut g = c.benchmark_group("log_append_64KiB");
    g.throughput(Throughput::Bytes(batch.len() as u64));
    for (mode, cfg) in [("periodic_flush", &periodic), ("fsync_each", &fsync)] {
        for (name, window) in [("sequential", 1usize), ("window16", 16)] {
            g.bench_function(BenchmarkId::new(mode, name), |b| {
                b.iter_custom(|iters| timed_appends(cfg.clone(), batch.clone(), iters, window))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = cpu;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .without_plots();
    targets = validate, index_lookup
}
criterion_group! {
    name = io;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .sample_size(20)
        .without_plots();
    targets = log_append
}
criterion_main!(cpu, io);
