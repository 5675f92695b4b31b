//! The records of `__transaction_state`, in Kafka's layout so Kafka's tools
//! can read fjord's topic and fjord can load Kafka's. The key is
//! TransactionLogKey v0: `[i16 0][string transactional id]`. The value is
//! TransactionLogValue, version-prefixed: version 0 is fixed-width (what
//! Kafka writes at transaction.version 1, and what fjord writes); version 1
//! is flexible (compact strings and arrays, with the previous and next
//! producer id and the client's transaction version as tagged fields).
//! A null value is a tombstone: the transactional id expired.
//!
//! Must not: trust a length before the bytes it counts are there, or panic:
//! any bytes give a record or an error (unknown tagged fields are skipped,
//! as Kafka's generated readers do).

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use protobuf::{CodedInputStream, CodedOutputStream};

use super::metadata::{TopicPartition, TxnState, NO_PRODUCER_ID};

pub const KEY_VERSION: i16 = 0;
/// The value version fjord writes: Kafka's for transaction.version 1.
pub const VALUE_VERSION: i16 = 0;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record ends early")]
    Truncated,
    #[error("unknown key version {0}")]
    KeyVersion(i16),
    #[error("unknown value version {0}")]
    ValueVersion(i16),
    #[error("unknown transaction state {0}")]
    State(i8),
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// A TransactionLogValue as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    /// Version 1 only (tag 0); -1 otherwise.
    pub prev_producer_id: i64,
    /// Version 1 only (tag 1); -1 otherwise.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// Always empty for Empty: Kafka writes them as null and ignores them.
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_ms: i64,
    pub start_ms: i64,
    /// Version 1 only (tag 2); 0 otherwise.
    pub client_txn_version: i16,
}

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(KEY_VERSION);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn decode_key(bytes: &[u8]) -> Result<String, RecordError> {
    let mut r = Reader(bytes);
    match r.i16()? {
        KEY_VERSION => r.string(),
        v => Err(RecordError::KeyVersion(v)),
    }
}

/// Encodes `v` as value `version` (0 or 1).
pub fn encode_value(v: &TxnLogValue, version: i16) -> Bytes {
    debug_assert!(version == 0 || version == 1, "value version {version}");
    let flexible = version >= 1;
    let mut b = BytesMut::new();
    b.put_i16(version);
    b.put_i64(v.producer_id);
    b.put_i16(v.producer_epoch);
    b.put_i32(v.timeout_ms);
    b.put_i8(v.state.id());
    let topics = by_topic(&v.partitions);
    match (v.state == TxnState::Empty, flexible) {
        (true, false) => b.put_i32(-1),
        (true, true) => put_uvarint(&mut b, 0),
        (false, false) => {
            b.put_i32(topics.len() as i32);
            for (topic, ids) in &topics {
                put_str(&mut b, topic);
                b.put_i32(ids.len() as i32);
                ids.iter().for_each(|p| b.put_i32(*p));
            }
        }
        (false, true) => {
            put_uvarint(&mut b, topics.len() as u32 + 1);
            for (topic, ids) in &topics {
                put_uvarint(&mut b, topic.len() as u32 + 1);
                b.put_slice(topic.as_bytes());
                put_uvarint(&mut b, ids.len() as u32 + 1);
                ids.iter().for_each(|p| b.put_i32(*p));
                put_uvarint(&mut b, 0); // the struct's tagged fields
            }
        }
    }
    b.put_i64(v.last_update_ms);
    b.put_i64(v.start_ms);
    if flexible {
        // Tagged fields in tag order, each only when not its default.
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        if v.prev_producer_id != NO_PRODUCER_ID {
            tags.push((0, v.prev_producer_id.to_be_bytes().to_vec()));
        }
        if v.next_producer_id != NO_PRODUCER_ID {
            tags.push((1, v.next_producer_id.to_be_bytes().to_vec()));
        }
        if v.client_txn_version != 0 {
            tags.push((2, v.client_txn_version.to_be_bytes().to_vec()));
        }
        put_uvarint(&mut b, tags.len() as u32);
        for (tag, data) in tags {
            put_uvarint(&mut b, tag);
            put_uvarint(&mut b, data.len() as u32);
            b.put_slice(&data);
        }
    }
    b.freeze()
}

pub fn decode_value(bytes: &[u8]) -> Result<TxnLogValue, RecordError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::ValueVersion(version));
    }
    let flexible = version == 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status = r.i8()?;
    let state = TxnState::from_id(status).ok_or(RecordError::State(status))?;
    let mut partitions = BTreeSet::new();
    let topics = if flexible {
        r.uvarint()?.checked_sub(1).map(|n| n as u64)
    } else {
        match r.i32()? {
            -1 => None,
            n if n < 0 => return Err(RecordError::Malformed("negative array length")),
            n => Some(n as u64),
        }
    };
    // Each round consumes bytes or fails, so a huge count ends quickly.
    for _ in 0..topics.unwrap_or(0) {
        let topic = if flexible {
            r.compact_string()?
        } else {
            r.string()?
        };
        let count = if flexible {
            r.uvarint()?
                .checked_sub(1)
                .ok_or(RecordError::Malformed("null partition ids"))? as u64
        } else {
            u64::try_from(r.i32()?).map_err(|_| RecordError::Malformed("null partition ids"))?
        };
        for _ in 0..count {
            partitions.insert((topic.clone(), r.i32()?));
        }
        if flexible {
            r.tagged_fields(|_, _| Ok(()))?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let mut v = TxnLogValue {
        producer_id,
        prev_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        timeout_ms,
        state,
        partitions: if state == TxnState::Empty {
            BTreeSet::new()
        } else {
            partitions
        },
        last_update_ms,
        start_ms,
        client_txn_version: 0,
    };
    if flexible {
        r.tagged_fields(|tag, data| {
            let wrong = RecordError::Malformed("tagged field size");
            match tag {
                0 => v.prev_producer_id = i64::from_be_bytes(data.try_into().map_err(|_| wrong)?),
                1 => v.next_producer_id = i64::from_be_bytes(data.try_into().map_err(|_| wrong)?),
                2 => v.client_txn_version = i16::from_be_bytes(data.try_into().map_err(|_| wrong)?),
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(v)
}

/// A whole record: the transactional id, and its value (None: tombstone).
pub fn decode(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, Option<TxnLogValue>), RecordError> {
    let id = decode_key(key)?;
    Ok((id, value.map(decode_value).transpose()?))
}

fn by_topic(partitions: &BTreeSet<TopicPartition>) -> Vec<(&str, Vec<i32>)> {
    let mut out: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, p) in partitions {
        match out.last_mut() {
            Some((t, ids)) if *t == topic.as_str() => ids.push(*p),
            _ => out.push((topic, vec![*p])),
        }
    }
    out
}

fn put_str(b: &mut BytesMut, s: &str) {
    // Transactional ids and topic names are checked to fit by the coordinator.
    debug_assert!(s.len() <= i16::MAX as usize, "string of {} bytes", s.len());
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

// Kafka's unsigned varint is protobuf's (unsigned LEB128), so the protobuf
// crate fjord already uses for raft messages encodes and decodes it.
fn put_uvarint(b: &mut BytesMut, n: u32) {
    let mut out = Vec::with_capacity(5);
    let mut stream = CodedOutputStream::vec(&mut out);
    let written = stream.write_raw_varint32(n).and_then(|_| stream.flush());
    debug_assert!(written.is_ok(), "writing to a Vec cannot fail");
    drop(stream);
    b.put_slice(&out);
}

/// Bounds-checked reads over the record's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn i8(&mut self) -> Result<i8, RecordError> {
        self.0.try_get_i8().map_err(|_| RecordError::Truncated)
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        self.0.try_get_i16().map_err(|_| RecordError::Truncated)
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        self.0.try_get_i32().map_err(|_| RecordError::Truncated)
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        self.0.try_get_i64().map_err(|_| RecordError::Truncated)
    }

    fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut stream = CodedInputStream::from_bytes(self.0);
        let n = stream
            .read_raw_varint32()
            .map_err(|_| RecordError::Malformed("bad varint"))?;
        let used = (stream.pos() as usize).min(self.0.len());
        self.0 = &self.0[used..];
        Ok(n)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < len {
            return Err(RecordError::Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn utf8(&mut self, len: usize) -> Result<String, RecordError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_string)
            .map_err(|_| RecordError::Malformed("invalid UTF-8"))
    }

    fn string(&mut self) -> Result<String, RecordError> {
        let len =
            usize::try_from(self.i16()?).map_err(|_| RecordError::Malformed("null string"))?;
        self.utf8(len)
    }

    fn compact_string(&mut self) -> Result<String, RecordError> {
        let len = self
            .uvarint()?
            .checked_sub(1)
            .ok_or(RecordError::Malformed("null string"))?;
        self.utf8(len as usize)
    }

    /// Reads a tagged-field section, handing each field to `field`.
    fn tagged_fields(
        &mut self,
        mut field: impl FnMut(u32, &[u8]) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let len = self.uvarint()? as usize;
            let data = self.take(len)?;
            field(tag, data)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
