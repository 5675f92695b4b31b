//! Fetch-path micro-benchmarks: building and encoding a Fetch response for
//! 8 partitions × 64 KiB of stored batches.
//!
//! `handlers::fetch::handle` needs a running shard (topic metadata, the
//! cross-shard router, long-poll waits), so it is not called here. Instead
//! these benchmarks time the same steps for the case where all 8 partitions
//! are local and data is available:
//!
//! * `in_memory`: given the 8 record sets as `Bytes` (what the shard reads
//!   return), build the `FetchResponse` the way the handler's
//!   `respond_topic` does and encode the framed response (v12). This is the
//!   per-fetch cost on top of the reads; the same 512 KiB are encoded every
//!   iteration, so they stay in the CPU caches.
//! * `log_read_hot_cache` / `log_read_disk`: `PartitionLog::read` of one
//!   64 KiB batch from each of 8 partition logs on a glommio executor, then
//!   the same build and encode. The hot-cache case is a tailing consumer
//!   served from the in-memory tail cache; the disk case (cache budget 0)
//!   goes through the offset index and an O_DIRECT read. Successive
//!   iterations read the next of 32 batches per log (16 MiB in all), so the
//!   encode copies from memory rather than from cache. Logs are created and
//!   filled outside the timed region.
//!
//! Why: Fetch is where the bytes leave the broker; these show how close the
//! read + encode path is to memcpy speed and what a cache miss costs.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use fjord::protocol::codec::encode_response;
use fjord::storage::{LogConfig, PartitionLog};

const VERSION: i16 = 12;
const PARTITIONS: usize = 8;
const BATCH_LEN: usize = 64 << 10;
const BATCHES_PER_LOG: i64 = 32;
const BASE_TS: i64 = 1_700_000_000_000;

/// What one partition read returned: (high watermark, log start, records).
type ReadResult = (i64, i64, Bytes);

/// Builds the response as the fetch handler does for v12 (topic names, log
/// start offsets) and encodes the frame.
fn respond(results: &[ReadResult]) -> Bytes {
    let partitions = results
        .iter()
        .enumerate()
        .map(|(i, (hw, start, records))| {
            PartitionData::default()
                .with_partition_index(i as i32)
                .with_error_code(0)
                .with_high_watermark(*hw)
                .with_last_stable_offset(*hw)
                .with_log_start_offset(*start)
                .with_records(Some(records.clone()))
        })
        .collect();
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("bench-topic")))
        .with_partitions(partitions)]);
    encode_response(ApiKey::Fetch, VERSION, 7, &response).expect("encode")
}

fn in_memory(c: &mut Criterion, batch: &Bytes) {
    // Distinct buffers per partition, as reads from different logs would be.
    let results: Vec<ReadResult> = (0..PARTITIONS)
        .map(|_| (1_000_000, 0, Bytes::copy_from_slice(batch)))
        .collect();
    assert!(respond(&results).len() > PARTITIONS * BATCH_LEN);
    let mut g = c.benchmark_group("fetch_8x64KiB");
    g.throughput(Throughput::Bytes((PARTITIONS * BATCH_LEN) as u64));
    g.bench_function("in_memory", |b| b.iter(|| respond(black_box(&results))));
    g.finish();
}

/// On a fresh executor: opens and fills 8 logs (untimed), then times
/// `iters` rounds of reading one batch from each log and encoding the
/// response. Batches are read round robin so the disk case does not reread
/// one block.
fn timed_reads(cfg: LogConfig, batch: Bytes, iters: u64) -> Duration {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let dir = tempfile::tempdir_in(common::scratch_dir()).unwrap();
            let records = common::record_count(&batch);
            let mut logs = Vec::with_capacity(PARTITIONS);
            for p in 0..PARTITIONS {
                let log = PartitionLog::open(dir.path().join(format!("bench-{p}")), cfg.clone())
                    .await
                    .expect("open log");
                let mut last = None;
                for _ in 0..BATCHES_PER_LOG {
                    last = Some(log.append(&batch, 0, BASE_TS).expect("append").durable);
                }
                last.unwrap().await.expect("durable");
                assert_eq!(log.high_watermark(), BATCHES_PER_LOG * records);
                logs.push(log);
            }
            let mut results: Vec<ReadResult> = Vec::with_capacity(PARTITIONS);
            let start = Instant::now();
            for i in 0..iters {
                let offset = (i as i64 % BATCHES_PER_LOG) * records;
                results.clear();
                for log in &logs {
                    let data = log.read(offset, BATCH_LEN, true).await.expect("read");
                    debug_assert_eq!(data.len(), BATCH_LEN);
                    results.push((log.high_watermark(), log.log_start_offset(), data));
                }
                black_box(respond(&results));
            }
            let elapsed = start.elapsed();
            for log in &logs {
                log.close().await.expect("close");
            }
            elapsed
        })
        .expect("start executor")
        .join()
        .expect("executor")
}

fn log_read(c: &mut Criterion, batch: &Bytes) {
    let periodic = LogConfig {
        flush_interval_ms: Some(3_600_000),
        ..LogConfig::default()
    };
    let hot = LogConfig {
        cache_bytes: 8 << 20, // holds all 32 × 64 KiB of a log
        ..periodic.clone()
    };
    let disk = LogConfig {
        cache_bytes: 0,
        ..periodic
    };
    let mut g = c.benchmark_group("fetch_8x64KiB");
    // Each sample also opens and fills 8 logs (untimed): give it room.
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes((PARTITIONS * BATCH_LEN) as u64));
    for (name, cfg) in [("log_read_hot_cache", hot), ("log_read_disk", disk)] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| timed_reads(cfg.clone(), batch.clone(), iters))
        });
    }
    g.finish();
}

fn fetch(c: &mut Criterion) {
    let batch = Bytes::from(common::record_batch(BATCH_LEN, 1000, BASE_TS));
    in_memory(c, &batch);
    log_read(c, &batch);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .without_plots();
    targets = fetch
}
criterion_main!(benches);
