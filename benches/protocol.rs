//! Wire-protocol micro-benchmarks: decoding request frames the way the
//! broker does (`fjord::protocol::dispatch::decode_request`, i.e.
//! kafka-protocol's decoders under fjord's panic guard) and encoding
//! length-prefixed response frames (`fjord::protocol::codec::encode_response`).
//!
//! Why: every request pays one decode and one encode on the shard thread
//! that owns the connection. Produce carries the batch bytes through decode
//! and Fetch carries them through encode, so these show whether the codec
//! copies or re-walks the record bytes, and what the fixed per-request cost
//! is for the small control-plane requests (Metadata, Fetch without data).
//!
//! Frames are built in setup (request header with kafka-protocol's
//! `Encodable`; bodies by hand, see `Body`, since fjord's kafka-protocol
//! features do not include request encoding) at versions current clients
//! send, and checked by decoding them once; only the decode or encode call
//! is timed.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, ProduceRequest, ProduceResponse,
    RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use fjord::protocol::codec::encode_response;
use fjord::protocol::dispatch::decode_request;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const METADATA_VERSION: i16 = 12;
const PARTITIONS: i32 = 8;

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("bench-topic"))
}

/// A request frame as read off the socket (without the 4-byte length): the
/// header encoded by kafka-protocol, then `body` (already encoded).
fn request_frame(api_key: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some(StrBytes::from_static_str("rdkafka-bench")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.request_header_version(version))
        .expect("header encodes");
    buf.put_slice(body);
    buf.freeze()
}

/// Minimal writer for flexible-version (KIP-482) request bodies.
///
/// fjord enables kafka-protocol's `broker` feature only, under which request
/// bodies are `Decodable` but not `Encodable`; enabling `client` would change
/// the dependency line in Cargo.toml, so the three request bodies are
/// written by hand here and checked by decoding them in setup.
#[derive(Default)]
struct Body(BytesMut);

impl Body {
    fn i8(&mut self, v: i8) -> &mut Self {
        self.0.put_i8(v);
        self
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.put_i16(v);
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.put_i32(v);
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.put_i64(v);
        self
    }
    fn uvarint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.0.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.put_u8(v as u8);
        self
    }
    /// Compact array/string/bytes length: N + 1 (0 means null).
    fn compact_len(&mut self, n: usize) -> &mut Self {
        self.uvarint(n as u64 + 1)
    }
    fn compact_str(&mut self, s: &str) -> &mut Self {
        self.compact_len(s.len()).raw(s.as_bytes())
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.put_slice(b);
        self
    }
    /// An empty tagged-field section.
    fn no_tags(&mut self) -> &mut Self {
        self.uvarint(0)
    }
}

/// Produce v9: acks=all, one topic, partition 0 carrying `batch`.
fn produce_frame(batch: &[u8]) -> Bytes {
    let mut b = Body::default();
    b.uvarint(0) // transactional_id: null
        .i16(-1) // acks
        .i32(30_000) // timeout_ms
        .compact_len(1) // topic_data
        .compact_str("bench-topic")
        .compact_len(1) // partition_data
        .i32(0) // index
        .compact_len(batch.len()) // records
        .raw(batch)
        .no_tags() // partition
        .no_tags() // topic
        .no_tags(); // request
    request_frame(ApiKey::Produce, PRODUCE_VERSION, &b.0)
}

/// Fetch v12 as a consumer sends it: one topic, 8 partitions, 1 MiB each.
fn fetch_frame() -> Bytes {
    let mut b = Body::default();
    b.i32(-1) // replica_id
        .i32(500) // max_wait_ms
        .i32(1) // min_bytes
        .i32(52_428_800) // max_bytes
        .i8(0) // isolation_level
        .i32(0) // session_id
        .i32(-1) // session_epoch
        .compact_len(1) // topics
        .compact_str("bench-topic")
        .compact_len(PARTITIONS as usize);
    for p in 0..PARTITIONS {
        b.i32(p) // partition
            .i32(0) // current_leader_epoch
            .i64(1_000_000 + i64::from(p)) // fetch_offset
            .i32(-1) // last_fetched_epoch
            .i64(-1) // log_start_offset
            .i32(1 << 20) // partition_max_bytes
            .no_tags();
    }
    b.no_tags() // topic
        .compact_len(0) // forgotten_topics_data
        .compact_str("") // rack_id
        .no_tags();
    request_frame(ApiKey::Fetch, FETCH_VERSION, &b.0)
}

/// Metadata v12 for one topic by name, auto-creation allowed.
fn metadata_frame() -> Bytes {
    let mut b = Body::default();
    b.compact_len(1) // topics
        .raw(&[0u8; 16]) // topic_id: zero uuid
        .compact_str("bench-topic")
        .no_tags()
        .i8(1) // allow_auto_topic_creation
        .i8(0) // include_topic_authorized_operations
        .no_tags();
    request_frame(ApiKey::Metadata, METADATA_VERSION, &b.0)
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_request");

    let batch = Bytes::from(common::record_batch(16 << 10, 1000, 1_700_000_000_000));
    let frame = produce_frame(&batch);
    // Sanity: the frame decodes to what was meant, batch unchanged.
    let (header, req) = decode_request::<ProduceRequest>(frame.clone()).expect("produce decodes");
    assert_eq!(
        (header.correlation_id, req.acks, req.timeout_ms),
        (42, -1, 30_000)
    );
    assert_eq!(req.topic_data[0].name, topic());
    assert_eq!(
        req.topic_data[0].partition_data[0].records.as_ref(),
        Some(&batch)
    );
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("produce_v9_16KiB_batch", |b| {
        b.iter(|| decode_request::<ProduceRequest>(black_box(frame.clone())).unwrap())
    });

    let frame = fetch_frame();
    let (_, req) = decode_request::<FetchRequest>(frame.clone()).expect("fetch decodes");
    assert_eq!(req.topics[0].topic, topic());
    assert_eq!(req.topics[0].partitions.len(), PARTITIONS as usize);
    assert_eq!(req.topics[0].partitions[7].fetch_offset, 1_000_007);
    assert_eq!(req.topics[0].partitions[7].partition_max_bytes, 1 << 20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("fetch_v12_8_partitions", |b| {
        b.iter(|| decode_request::<FetchRequest>(black_box(frame.clone())).unwrap())
    });

    let frame = metadata_frame();
    let (_, req) = decode_request::<MetadataRequest>(frame.clone()).expect("metadata decodes");
    assert_eq!(req.topics.unwrap()[0].name, Some(topic()));
    assert!(req.allow_auto_topic_creation);
    g.throughput(Throughput::Elements(1));
    g.bench_function("metadata_v12_1_topic", |b| {
        b.iter(|| decode_request::<MetadataRequest>(black_box(frame.clone())).unwrap())
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_response");

    let record_set = Bytes::from(common::record_batch(64 << 10, 1000, 1_700_000_000_000));
    let partitions: Vec<PartitionData> = (0..PARTITIONS)
        .map(|p| {
            PartitionData::default()
                .with_partition_index(p)
                .with_high_watermark(2_000_000)
                .with_last_stable_offset(2_000_000)
                .with_log_start_offset(0)
                .with_records(Some(record_set.clone()))
        })
        .collect();
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(topic())
        .with_partitions(partitions)]);
    let frame = encode_response(ApiKey::Fetch, FETCH_VERSION, 42, &response).unwrap();
    assert!(frame.len() > PARTITIONS as usize * record_set.len());
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("fetch_v12_8x64KiB", |b| {
        b.iter(|| encode_response(ApiKey::Fetch, FETCH_VERSION, 42, black_box(&response)).unwrap())
    });

    let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(topic())
        .with_partition_responses(vec![PartitionProduceResponse::default()
            .with_index(0)
            .with_base_offset(1_000_000)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(0)])]);
    g.throughput(Throughput::Elements(1));
    g.bench_function("produce_v9_1_partition", |b| {
        b.iter(|| {
            encode_response(ApiKey::Produce, PRODUCE_VERSION, 42, black_box(&response)).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .without_plots();
    targets = decode, encode
}
criterion_main!(benches);
