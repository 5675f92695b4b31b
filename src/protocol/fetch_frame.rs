//! The Fetch response (v4–v18), framed by fjord around the record bytes.
//!
//! kafka-protocol encodes into one contiguous buffer, which would copy every
//! record. Here the framing is written into small buffers and the records
//! stay what the log returned: cache `Bytes` or a file slice for splice.
//! Field order and encodings follow Kafka's FetchResponse schema; the unit
//! tests check the bytes are identical to kafka-protocol's encoding for
//! every version.
//!
//! Owns: the wire layout of the Fetch response. Must not: decide what a
//! response holds (the handler does), or omit a field a version has.
//! Fields fjord never sets (preferred read replica, the other tagged
//! fields) are written as their defaults: -1, none. The aborted
//! transactions are an empty list when the consumer reads uncommitted.
//!
//! The tagged fields — a partition's DivergingEpoch (tag 0, KIP-320) and
//! CurrentLeader (tag 1, KIP-951), v12+, and
//! the response's NodeEndpoints (tag 0, v16+) — are written only when they
//! hold something other than their default, as Kafka does: tagged fields
//! at their default are omitted, so versions and responses without them
//! carry no tags at all.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use uuid::Uuid;

use crate::net::{Chunk, Frame};
use crate::storage::ReadData;

pub struct TopicData {
    pub name: TopicName,
    pub id: Uuid,
    pub partitions: Vec<PartitionData>,
}

pub struct PartitionData {
    pub index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub records: ReadData,
    /// READ_COMMITTED: (producer id, first offset) of the aborted
    /// transactions the records overlap; empty otherwise.
    pub aborted: Vec<(i64, i64)>,
    /// KIP-320 (v12+, tag 0): where a follower's log diverges from this
    /// leader's, (epoch, end offset); written only when set.
    pub diverging_epoch: Option<(i32, i64)>,
    /// KIP-951: the partition's leader, when this broker is not it.
    /// Written in flexible versions (v12+) unless it is the default (-1, -1).
    pub current_leader: Option<CurrentLeader>,
}

/// A partition's leader and its epoch (Kafka's LeaderIdAndEpoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurrentLeader {
    pub leader_id: i32,
    pub leader_epoch: i32,
}

impl CurrentLeader {
    /// The schema's default, which is never written.
    const UNKNOWN: CurrentLeader = CurrentLeader {
        leader_id: -1,
        leader_epoch: -1,
    };
}

/// A broker named as a partition's current leader (Kafka's NodeEndpoint).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// Framing bytes in order, with record chunks between them.
struct Writer {
    chunks: Vec<Chunk>,
    buf: BytesMut,
    flexible: bool,
}

impl Writer {
    fn array_len(&mut self, n: usize) {
        if self.flexible {
            put_varint(&mut self.buf, n as u32 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
    }

    fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }

    fn records(&mut self, records: ReadData) {
        let len = records.len();
        if self.flexible {
            put_varint(&mut self.buf, len as u32 + 1);
        } else {
            self.buf.put_i32(len as i32);
        }
        if len == 0 {
            return;
        }
        let framing = std::mem::take(&mut self.buf).freeze();
        self.chunks.push(Chunk::Memory(framing));
        match records {
            ReadData::Memory(batches) => self.chunks.extend(batches.into_iter().map(Chunk::Memory)),
            ReadData::File(slice) => self.chunks.push(Chunk::File(slice)),
        }
    }

    fn topic_name(&mut self, name: &TopicName) {
        let bytes = name.0.as_bytes();
        if self.flexible {
            put_varint(&mut self.buf, bytes.len() as u32 + 1);
        } else {
            self.buf.put_i16(bytes.len() as i16);
        }
        self.buf.put_slice(bytes);
    }

    /// A tagged-field section holding the fields given, in tag order (only
    /// flexible versions have one).
    fn tagged_fields(&mut self, fields: &[(u32, BytesMut)]) {
        if !self.flexible {
            return;
        }
        put_varint(&mut self.buf, fields.len() as u32);
        for (tag, value) in fields {
            put_varint(&mut self.buf, *tag);
            put_varint(&mut self.buf, value.len() as u32);
            self.buf.put_slice(value);
        }
    }
}

/// EpochEndOffset: epoch, end offset, no tagged fields.
fn epoch_end_offset_field(epoch: i32, end_offset: i64) -> BytesMut {
    let mut b = BytesMut::with_capacity(13);
    b.put_i32(epoch);
    b.put_i64(end_offset);
    b.put_u8(0);
    b
}

/// LeaderIdAndEpoch: leader id, epoch, no tagged fields.
fn current_leader_field(leader: &CurrentLeader) -> BytesMut {
    let mut b = BytesMut::with_capacity(9);
    b.put_i32(leader.leader_id);
    b.put_i32(leader.leader_epoch);
    b.put_u8(0);
    b
}

/// A compact array of NodeEndpoint: id, host, port, rack (compact
/// nullable), no tagged fields.
fn node_endpoints_field(endpoints: &[NodeEndpoint]) -> BytesMut {
    let mut b = BytesMut::with_capacity(16 + 32 * endpoints.len());
    put_varint(&mut b, endpoints.len() as u32 + 1);
    for e in endpoints {
        b.put_i32(e.node_id);
        put_compact_string(&mut b, Some(&e.host));
        b.put_i32(e.port);
        put_compact_string(&mut b, e.rack.as_deref());
        b.put_u8(0);
    }
    b
}

fn put_compact_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => buf.put_u8(0),
        Some(s) => {
            put_varint(buf, s.len() as u32 + 1);
            buf.put_slice(s.as_bytes());
        }
    }
}

/// The whole response frame: length prefix, header, body. `node_endpoints`
/// (the leaders named by the partitions' `current_leader`) are written from
/// v16 on, when there are any.
pub fn encode(
    version: i16,
    correlation_id: i32,
    topics: Vec<TopicData>,
    node_endpoints: &[NodeEndpoint],
) -> Frame {
    encode_throttled(version, correlation_id, topics, node_endpoints, 0)
}

/// [`encode`] with a throttle time (a client over its quota).
pub fn encode_throttled(
    version: i16,
    correlation_id: i32,
    topics: Vec<TopicData>,
    node_endpoints: &[NodeEndpoint],
    throttle_ms: i32,
) -> Frame {
    debug_assert!((4..=18).contains(&version));
    let mut w = Writer {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(256),
        flexible: version >= 12,
    };
    w.buf.put_i32(correlation_id);
    w.no_tagged_fields(); // response header v1
    w.buf.put_i32(throttle_ms);
    if version >= 7 {
        w.buf.put_i16(0); // error_code
        w.buf.put_i32(0); // session_id: sessionless
    }
    w.array_len(topics.len());
    for topic in topics {
        if version <= 12 {
            w.topic_name(&topic.name);
        }
        if version >= 13 {
            w.buf.put_slice(topic.id.as_bytes());
        }
        w.array_len(topic.partitions.len());
        for p in topic.partitions {
            w.buf.put_i32(p.index);
            w.buf.put_i16(p.error_code);
            w.buf.put_i64(p.high_watermark);
            w.buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                w.buf.put_i64(p.log_start_offset);
            }
            w.array_len(p.aborted.len());
            for (producer_id, first_offset) in &p.aborted {
                w.buf.put_i64(*producer_id);
                w.buf.put_i64(*first_offset);
                w.no_tagged_fields();
            }
            if version >= 11 {
                w.buf.put_i32(-1); // preferred_read_replica
            }
            w.records(p.records);
            let diverging = p
                .diverging_epoch
                .map(|(epoch, end)| (0, epoch_end_offset_field(epoch, end)));
            let leader = p
                .current_leader
                .filter(|l| *l != CurrentLeader::UNKNOWN)
                .map(|l| (1, current_leader_field(&l)));
            let tagged: Vec<(u32, BytesMut)> = diverging.into_iter().chain(leader).collect();
            w.tagged_fields(&tagged);
        }
        w.no_tagged_fields();
    }
    let endpoints = (version >= 16 && !node_endpoints.is_empty())
        .then(|| (0, node_endpoints_field(node_endpoints)));
    w.tagged_fields(endpoints.as_slice());
    let Writer {
        mut chunks, buf, ..
    } = w;
    if !buf.is_empty() {
        chunks.push(Chunk::Memory(buf.freeze()));
    }
    let size: usize = chunks.iter().map(Chunk::len).sum();
    chunks.insert(
        0,
        Chunk::Memory(Bytes::copy_from_slice(&(size as i32).to_be_bytes())),
    );
    Frame::Chunks(chunks)
}

fn put_varint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
#[path = "fetch_frame_tests.rs"]
mod tests;
