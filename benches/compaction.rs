//! Compaction throughput: `PartitionLog::compact` over a 64 MiB log of 1000
//! keys (16 records of ~1 KiB per batch, batches cycling uncompressed / lz4
//! / zstd, 8 MiB segments), every record old enough to be cleaned and
//! min.cleanable.dirty.ratio 0 so each run cleans the whole closed range.
//!
//! The log is built once; each iteration copies its directory, opens it
//! (recovery scan, not timed) and times one `compact` on a real glommio
//! executor with O_DIRECT files in Cargo's target scratch dir. Throughput is
//! the run's `bytes_read` (the key-map pass and the rewrite pass both read
//! the cleanable segments, so it is about twice the log size).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use fjord::storage::batch::compute_crc;
use fjord::storage::{CompactionConfig, CompactionStats, LogConfig, PartitionLog};

const LOG_BYTES: u64 = 64 << 20;
const KEYS: u64 = 1000;
const PER_BATCH: u64 = 16;
const VALUE_LEN: usize = 1000;
const NOW: i64 = 1_700_000_000_000;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 8 << 20,
        flush_interval_ms: Some(3_600_000),
        ..LogConfig::default()
    }
}

/// A batch of PER_BATCH records for keys (n..n+16) % KEYS; values half
/// pseudo-random, half text, so the codecs have something to do.
fn batch(n: u64, compression: Compression) -> Bytes {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let records: Vec<Record> = (0..PER_BATCH)
        .map(|i| {
            let mut value = Vec::with_capacity(VALUE_LEN);
            while value.len() < VALUE_LEN / 2 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                value.extend_from_slice(&x.to_le_bytes());
            }
            while value.len() < VALUE_LEN {
                value.extend_from_slice(b"compaction benchmark value ");
            }
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: NOW - 3_600_000,
                key: Some(Bytes::from(format!("key-{:06}", (n + i) % KEYS))),
                value: Some(Bytes::from(value)),
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    buf[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // not idempotent
    let crc = compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

fn on_executor<T: Send + 'static, F, Fut>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .expect("start executor")
        .join()
        .expect("executor")
}

/// Builds the template log in `dir`; returns its size in bytes.
fn build(dir: PathBuf) -> u64 {
    on_executor(move || async move {
        let log = PartitionLog::open(dir, log_config()).await.unwrap();
        let codecs = [Compression::None, Compression::Lz4, Compression::Zstd];
        let (mut bytes, mut n) = (0u64, 0u64);
        while bytes < LOG_BYTES {
            let b = batch(n * PER_BATCH, codecs[n as usize % codecs.len()]);
            bytes += b.len() as u64;
            let a = log.append(&b, 0, NOW).unwrap();
            if n % 64 == 0 {
                a.durable.await.unwrap();
            }
            n += 1;
        }
        log.close().await.unwrap();
        bytes
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Opens a copy of the template and times one compaction.
fn timed_compact(template: &Path, scratch: &Path) -> (Duration, CompactionStats) {
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let path = dir.path().join("p");
    copy_dir(template, &path);
    on_executor(move || async move {
        let log = PartitionLog::open(path, log_config()).await.unwrap();
        let cfg = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        let start = Instant::now();
        let stats = log.compact(&cfg, NOW).await.unwrap();
        let took = start.elapsed();
        assert!(stats.segments_rewritten > 0, "{stats:?}");
        log.close().await.unwrap();
        (took, stats)
    })
}

fn compaction(c: &mut Criterion) {
    let scratch = common::scratch_dir();
    let template_dir = tempfile::tempdir_in(&scratch).unwrap();
    let template = template_dir.path().join("template");
    let size = build(template.clone());
    let (_, probe) = timed_compact(&template, &scratch);
    eprintln!("log {size} bytes; one run: {probe:?}");

    let mut g = c.benchmark_group("compaction");
    g.throughput(Throughput::Bytes(probe.bytes_read));
    g.bench_function("64MiB_1k_keys_mixed_codecs", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| timed_compact(&template, &scratch).0)
                .sum()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .sample_size(10)
        .without_plots();
    targets = compaction
}
criterion_main!(benches);
