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
//! Fields fjord never sets (aborted transactions, preferred read replica,
//! tagged fields) are written as their defaults: an empty list, -1, none.

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
}

/// The whole response frame: length prefix, header, body.
pub fn encode(version: i16, correlation_id: i32, topics: Vec<TopicData>) -> Frame {
    debug_assert!((4..=18).contains(&version));
    let mut w = Writer {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(256),
        flexible: version >= 12,
    };
    w.buf.put_i32(correlation_id);
    w.no_tagged_fields(); // response header v1
    w.buf.put_i32(0); // throttle_time_ms
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
            w.array_len(0); // aborted_transactions: none
            if version >= 11 {
                w.buf.put_i32(-1); // preferred_read_replica
            }
            w.records(p.records);
            w.no_tagged_fields();
        }
        w.no_tagged_fields();
    }
    w.no_tagged_fields();
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
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response as kp;
    use kafka_protocol::messages::{ApiKey, FetchResponse};

    fn sample(version: i16) -> (Vec<TopicData>, FetchResponse) {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for t in 0..3u8 {
            let name = TopicName(format!("topic-{t}").into());
            let id = Uuid::from_bytes([t + 1; 16]);
            let mut parts = Vec::new();
            let mut kparts = Vec::new();
            for p in 0..(t as i32 + 1) {
                let batches: Vec<Bytes> = (0..p)
                    .map(|b| Bytes::from(vec![b as u8 + t; 100 + 37 * b as usize]))
                    .collect();
                let all: Vec<u8> = batches.iter().flat_map(|b| b.to_vec()).collect();
                parts.push(PartitionData {
                    index: p,
                    error_code: if p == 2 { 1 } else { 0 },
                    high_watermark: 1000 + p as i64,
                    last_stable_offset: 1000 + p as i64,
                    log_start_offset: if version >= 5 { 7 } else { -1 },
                    records: ReadData::Memory(batches),
                });
                kparts.push(
                    kp::PartitionData::default()
                        .with_partition_index(p)
                        .with_error_code(if p == 2 { 1 } else { 0 })
                        .with_high_watermark(1000 + p as i64)
                        .with_last_stable_offset(1000 + p as i64)
                        .with_log_start_offset(if version >= 5 { 7 } else { -1 })
                        .with_records(Some(Bytes::from(all))),
                );
            }
            ours.push(TopicData {
                name: name.clone(),
                id,
                partitions: parts,
            });
            theirs.push(
                kp::FetchableTopicResponse::default()
                    .with_topic(if version <= 12 {
                        name
                    } else {
                        TopicName::default()
                    })
                    .with_topic_id(if version >= 13 { id } else { Uuid::nil() })
                    .with_partitions(kparts),
            );
        }
        (ours, FetchResponse::default().with_responses(theirs))
    }

    fn flatten(frame: Frame) -> Vec<u8> {
        match frame {
            Frame::Whole(b) => b.to_vec(),
            Frame::Chunks(chunks) => chunks
                .into_iter()
                .flat_map(|c| match c {
                    Chunk::Memory(b) => b.to_vec(),
                    Chunk::File(_) => panic!("memory only in this test"),
                })
                .collect(),
        }
    }

    #[test]
    fn identical_to_kafka_protocol_for_every_version() {
        for version in 4..=18 {
            let (ours, theirs) = sample(version);
            let want = super::super::codec::encode_response(ApiKey::Fetch, version, 42, &theirs)
                .expect("encode");
            let got = flatten(encode(version, 42, ours));
            assert_eq!(got, want.to_vec(), "Fetch v{version}");
        }
    }

    #[test]
    fn varints() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            // Unsigned LEB128, as Kafka's flexible versions write lengths.
            let (mut back, mut shift) = (0u64, 0);
            for (i, byte) in b.iter().enumerate() {
                back |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                assert_eq!(byte & 0x80 == 0, i == b.len() - 1);
            }
            assert_eq!(back, u64::from(v));
        }
    }
}
