//! `fjord-lifecycle-bench`: produce latency with and without the broker's
//! log maintenance at work (see perf/lifecycle-latency.sh).
//!
//! * `latency ADDR SECONDS`: one producer, one 1 KiB record per request,
//!   acks=all, one request in flight, on its own topic; prints p50 / p99 /
//!   p99.9 / max.
//! * `churn ADDR SECONDS MBPS`: background load at a fixed rate, half to a
//!   compacted topic (1,000 keys, rewritten over and over) and half to a
//!   topic with retention.bytes, both with small segments, so the cleaner and
//!   retention have steady work when the broker lets them run.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};

#[path = "common/wire.rs"]
mod wire;
use wire::{create_topic, s, Conn};

/// One v2 batch of `count` records of `size` bytes, keyed `key(i)`.
fn batch(count: usize, size: usize, key: impl Fn(usize) -> Option<Bytes>) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let value = Bytes::from(vec![b'x'; size]);
    let records = (0..count).map(|i| (key(i), Some(value.clone()))).collect();
    fjord::storage::records::encode_plain_batch(records, now).expect("encode batch")
}

fn produce(conn: &mut Conn, topic: &str, records: Bytes) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let response = conn.call(9, &request);
    response.responses[0].partition_responses[0].error_code
}

fn latency(addr: &str, seconds: u64) {
    let topic = "lifecycle-latency";
    create_topic(addr, topic, 1, &[]);
    let mut conn = Conn::open(addr);
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let records = batch(1, 1024, |_| None);
        let t = Instant::now();
        assert_eq!(produce(&mut conn, topic, records), 0, "produce failed");
        hist.record(t.elapsed().as_micros() as u64).expect("record");
    }
    println!(
        "latency: {} produces, p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        hist.len(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
}

fn churn(addr: &str, seconds: u64, mbps: f64) {
    let compacted = "lifecycle-compacted";
    let retained = "lifecycle-retained";
    create_topic(
        addr,
        compacted,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            ("min.cleanable.dirty.ratio", "0.1"),
        ],
    );
    create_topic(
        addr,
        retained,
        1,
        &[("retention.bytes", "8388608"), ("segment.bytes", "1048576")],
    );
    let mut conn = Conn::open(addr);
    // 16 records of 1 KiB per request, alternating topics, paced to `mbps`.
    let per_request = 16.0 * 1024.0;
    let interval = Duration::from_secs_f64(per_request / (mbps * 1e6));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let (mut n, mut sent) = (0usize, 0u64);
    while Instant::now() < end {
        let topic = if n % 2 == 0 { compacted } else { retained };
        let base = n * 16;
        let records = batch(16, 1024, |i| {
            Some(Bytes::from(format!("key-{}", (base + i) % 1000)))
        });
        assert_eq!(
            produce(&mut conn, topic, records),
            0,
            "churn produce failed"
        );
        n += 1;
        sent += per_request as u64;
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    println!("churn: {n} requests, {:.1} MB", sent as f64 / 1e6);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fjord-lifecycle-bench ADDR latency SECONDS | ADDR churn SECONDS MBPS";
    let (Some(addr), Some(mode)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let num = |i: usize, default: f64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    match mode.as_str() {
        "latency" => latency(addr, num(3, 30.0) as u64),
        "churn" => churn(addr, num(3, 40.0) as u64, num(4, 10.0)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
