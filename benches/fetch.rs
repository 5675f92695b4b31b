//! Fetch-path micro-benchmarks: building and encoding a Fetch response for
//! 8 partitions × 64 KiB of stored batches.
//!
//! `handlers::fetch::handle` needs a running shard (topic metadata, the
//! cross-shard router, long-poll waits), so it is not called here. Instead
//! these benchmarks time the same steps for the case where all 8 partitions
//! are local and data is available:
//!
//! * `in_memory`: given the 8 record sets as `Bytes` (what the shard reads
//!   return), frame the response (v12) the way the handler does
//!   (`protocol::fetch_frame`: framing written around the records, which
//!   are not copied). `in_memory_copying_encode` is the same response
//!   through kafka-protocol's encoder, which copies every record into one
//!   buffer: the cost the zero-copy framing removes.
//! * `log_read_hot_cache` / `log_read_disk`: `PartitionLog::read_data` of
//!   one 64 KiB batch from each of 8 partition logs on a glommio executor,
//!   then the same framing. The hot-cache case is a tailing consumer served
//!   from the in-memory tail cache; the disk case (cache budget 0) finds the
//!   batches through the offset index and a 4 KiB header read and answers
//!   with a file slice (the bytes would then be spliced to the socket, not
//!   read). `log_read_disk_copying` reads the same bytes into memory with
//!   O_DIRECT (`PartitionLog::read`, the `fjord.fetch.splice=false` path).
//!   Successive iterations read the next of 32 batches per log (16 MiB in
//!   all). Logs are created and filled outside the timed region.
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

use fjord::net::Frame;
use fjord::protocol::codec::encode_response;
use fjord::protocol::fetch_frame::{self, TopicData};
use fjord::storage::{LogConfig, PartitionLog, ReadData};

const VERSION: i16 = 12;
const PARTITIONS: usize = 8;
const BATCH_LEN: usize = 64 << 10;
const BATCHES_PER_LOG: i64 = 32;
const BASE_TS: i64 = 1_700_000_000_000;

/// What one partition read returned: (high watermark, log start, records).
type ReadResult = (i64, i64, Bytes);

/// Frames the response as the fetch handler does for v12 (topic names, log
/// start offsets), around the records as read.
fn frame(results: Vec<(i64, i64, ReadData)>) -> Frame {
    let partitions = results
        .into_iter()
        .enumerate()
        .map(|(i, (hw, start, records))| fetch_frame::PartitionData {
            index: i as i32,
            error_code: 0,
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: start,
            records,
            aborted: Vec::new(),
            diverging_epoch: None,
            current_leader: None,
        })
        .collect();
    let topic = TopicData {
        name: TopicName(StrBytes::from_static_str("bench-topic")),
        id: uuid::Uuid::nil(),
        partitions,
    };
    fetch_frame::encode(VERSION, 7, vec![topic], &[])
}

/// The same response through kafka-protocol's encoder (one copied buffer).
fn respond_copying(results: &[ReadResult]) -> Bytes {
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
    let as_read = || {
        results
            .iter()
            .map(|(hw, start, r)| (*hw, *start, ReadData::Memory(vec![r.clone()])))
            .collect::<Vec<_>>()
    };
    assert_eq!(frame(as_read()).len(), respond_copying(&results).len());
    let mut g = c.benchmark_group("fetch_8x64KiB");
    g.throughput(Throughput::Bytes((PARTITIONS * BATCH_LEN) as u64));
    g.bench_function("in_memory", |b| b.iter(|| frame(black_box(as_read()))));
    g.bench_function("in_memory_copying_encode", |b| {
        b.iter(|| respond_copying(black_box(&results)))
    });
    g.finish();
}

/// On a fresh executor: opens and fills 8 logs (untimed), then times
/// `iters` rounds of reading one batch from each log and encoding the
/// response. Batches are read round robin so the disk case does not reread
/// one block.
fn timed_reads(cfg: LogConfig, batch: Bytes, iters: u64, copying: bool) -> Duration {
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
            let start = Instant::now();
            for i in 0..iters {
                let offset = (i as i64 % BATCHES_PER_LOG) * records;
                let mut results = Vec::with_capacity(PARTITIONS);
                for log in &logs {
                    let data = if copying {
                        let bytes = log.read(offset, BATCH_LEN, true).await.expect("read");
                        ReadData::Memory(vec![bytes])
                    } else {
                        log.read_data(offset, BATCH_LEN, true).await.expect("read")
                    };
                    debug_assert_eq!(data.len(), BATCH_LEN);
                    results.push((log.high_watermark(), log.log_start_offset(), data));
                }
                black_box(frame(results));
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
    let cases = [
        ("log_read_hot_cache", hot, false),
        ("log_read_disk", disk.clone(), false),
        ("log_read_disk_copying", disk, true),
    ];
    for (name, cfg, copying) in cases {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| timed_reads(cfg.clone(), batch.clone(), iters, copying))
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
