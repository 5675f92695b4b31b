//! Record-level surgery on one stored v2 batch, for compaction: list its
//! records (offset, timestamp, key, tombstone?) and rebuild it keeping some.
//!
//! Owns: decompression/recompression (kafka-protocol's codecs), the record
//! wire layout (varints), and the rule for a rebuilt batch header: base
//! offset, lastOffsetDelta, baseTimestamp, producer id/epoch, base
//! sequence, leader epoch and attributes (codec, timestamp type,
//! transactional) are kept; record count, maxTimestamp (CreateTime: the
//! largest kept record's), length and CRC are recomputed. Kept records are
//! copied byte for byte, so their offset and timestamp deltas stay valid.
//! kafka-protocol's `RecordBatchEncoder` is not used for the rebuild: it
//! derives the base offset and lastOffsetDelta from the records given and
//! drops the timestamp-type bit, while Kafka's cleaner keeps the batch's
//! last offset (producer state depends on it).
//!
//! Must not: panic on any stored bytes (everything is bounds checked;
//! a batch that does not parse is an error, and the cleaner keeps it as is).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// One record of a batch, as compaction sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    /// Null value.
    pub tombstone: bool,
    /// The whole record as stored (length prefix included).
    pub bytes: &'a [u8],
}

/// Reads a zigzag varint (at most 10 bytes) at `*at`.
fn varlong(b: &[u8], at: &mut usize) -> Result<i64, String> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*at).ok_or("truncated varint")?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    Err("varint too long".into())
}

fn varint(b: &[u8], at: &mut usize) -> Result<i32, String> {
    i32::try_from(varlong(b, at)?).map_err(|_| "varint out of range".to_string())
}

/// The uncompressed records section of `batch` (a whole stored batch).
pub fn records_body(h: &BatchHeader, batch: &[u8]) -> Result<Bytes, String> {
    let mut raw = Bytes::copy_from_slice(batch.get(HEADER_LEN..).ok_or("short batch")?);
    let take = |b: &mut Bytes| Ok(std::mem::take(b));
    let out = match h.compression() {
        0 => Ok(raw),
        1 => codec::Gzip::decompress(&mut raw, take),
        2 => codec::Snappy::decompress(&mut raw, take),
        3 => codec::Lz4::decompress(&mut raw, take),
        4 => codec::Zstd::decompress(&mut raw, take),
        c => return Err(format!("unknown compression {c}")),
    };
    out.map_err(|e| format!("decompress: {e}"))
}

/// The records of a batch whose uncompressed records section is `body`.
pub fn parse_records<'a>(h: &BatchHeader, body: &'a [u8]) -> Result<Vec<RawRecord<'a>>, String> {
    let mut out = Vec::with_capacity(h.record_count.clamp(0, 1 << 16) as usize);
    let mut at = 0usize;
    while at < body.len() {
        let start = at;
        let len = usize::try_from(varint(body, &mut at)?).map_err(|_| "negative record length")?;
        let end = at
            .checked_add(len)
            .filter(|&e| e <= body.len())
            .ok_or("record past batch end")?;
        let rec = &body[..end];
        at += 1; // attributes
        let ts_delta = varlong(rec, &mut at)?;
        let off_delta = varint(rec, &mut at)?;
        let key_len = varint(rec, &mut at)?;
        let key = if key_len < 0 {
            None
        } else {
            let k_end = at + key_len as usize;
            let k = rec.get(at..k_end).ok_or("key past record end")?;
            at = k_end;
            Some(k)
        };
        let value_len = varint(rec, &mut at)?;
        if at > end {
            return Err("record fields past record end".into());
        }
        let timestamp = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(ts_delta)
        };
        out.push(RawRecord {
            offset: h.base_offset.wrapping_add(i64::from(off_delta)),
            timestamp,
            key,
            tombstone: value_len < 0,
            bytes: &body[start..end],
        });
        at = end;
    }
    if out.len() != h.record_count.max(0) as usize {
        return Err(format!(
            "{} records found, header says {}",
            out.len(),
            h.record_count
        ));
    }
    Ok(out)
}

fn put_header(out: &mut Vec<u8>, batch: &[u8], records: i32, max_ts: i64, attributes: i16) {
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[35..43].copy_from_slice(&max_ts.to_be_bytes());
    out[57..61].copy_from_slice(&records.to_be_bytes());
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let len = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = batch::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// `batch` rebuilt with only `kept` (a non-empty subset of its records, in
/// order), compressed with the batch's own codec.
pub fn rebuild(h: &BatchHeader, batch: &[u8], kept: &[RawRecord<'_>]) -> Result<Vec<u8>, String> {
    let max_ts = if h.is_log_append_time() {
        h.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(h.max_timestamp)
    };
    let mut out = Vec::with_capacity(batch.len());
    put_header(&mut out, batch, kept.len() as i32, max_ts, h.attributes);
    let mut body = BytesMut::new();
    let fill = |b: &mut BytesMut| {
        kept.iter().for_each(|r| b.put_slice(r.bytes));
        Ok(())
    };
    let done = match h.compression() {
        0 => codec::None::compress(&mut body, fill),
        1 => codec::Gzip::compress(&mut body, fill),
        2 => codec::Snappy::compress(&mut body, fill),
        3 => codec::Lz4::compress(&mut body, fill),
        4 => codec::Zstd::compress(&mut body, fill),
        c => return Err(format!("unknown compression {c}")),
    };
    done.map_err(|e| format!("compress: {e}"))?;
    out.extend_from_slice(&body);
    Ok(finish(out))
}

/// A header-only batch (no records, no codec) keeping the batch's offsets,
/// producer fields and sequence: what Kafka's cleaner leaves for the last
/// batch of a producer so idempotence state survives a restart.
pub fn empty_batch(h: &BatchHeader, batch: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    put_header(&mut out, batch, 0, h.max_timestamp, h.attributes & !0x7);
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn record(offset: i64, key: Option<&str>, value: Option<&str>) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 1000 + offset,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        }
    }

    #[test]
    fn rebuild_keeps_offsets_and_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let recs = vec![
                record(0, Some("a"), Some("1")),
                record(1, Some("b"), None),
                record(2, None, Some("3")),
                record(3, Some("a"), Some("4")),
            ];
            let mut buf = BytesMut::new();
            let opts = RecordEncodeOptions {
                version: 2,
                compression,
            };
            RecordBatchEncoder::encode(&mut buf, &recs, &opts).unwrap();
            let h = batch::validate(&buf).unwrap();
            let body = records_body(&h, &buf).unwrap();
            let parsed = parse_records(&h, &body).unwrap();
            assert_eq!(parsed.len(), 4);
            assert_eq!(parsed[1].key, Some(&b"b"[..]));
            assert!(parsed[1].tombstone && !parsed[0].tombstone);
            assert_eq!(parsed[2].key, None);
            assert_eq!((parsed[3].offset, parsed[3].timestamp), (3, 1003));
            let kept = [parsed[1], parsed[2]];
            let out = rebuild(&h, &buf, &kept).unwrap();
            let h2 = batch::validate(&out).unwrap();
            assert_eq!(h2.base_offset, 0);
            assert_eq!(h2.last_offset(), 3, "last offset kept");
            assert_eq!(h2.record_count, 2);
            assert_eq!(h2.max_timestamp, 1002);
            assert_eq!(h2.compression(), compression as u8);
            assert_eq!((h2.producer_id, h2.base_sequence), (7, 0));
            let set = RecordBatchDecoder::decode(&mut Bytes::from(out)).unwrap();
            let offs: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
            assert_eq!(offs, vec![1, 2]);
            assert_eq!(set.records[1].value.as_deref(), Some(&b"3"[..]));

            let empty = empty_batch(&h, &buf);
            let h3 = batch::validate(&empty).unwrap();
            assert_eq!(
                (h3.record_count, h3.last_offset(), h3.compression()),
                (0, 3, 0)
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let recs = vec![record(0, Some("k"), Some("v"))];
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &recs, &opts).unwrap();
        let h = batch::validate(&buf).unwrap();
        for cut in 0..buf.len() - HEADER_LEN {
            let body = &buf[HEADER_LEN..HEADER_LEN + cut];
            assert!(parse_records(&h, body).is_err());
        }
        let mut body = buf[HEADER_LEN..].to_vec();
        for i in 0..body.len() {
            body[i] ^= 0xa5;
            let _ = parse_records(&h, &body);
            body[i] ^= 0xa5;
        }
    }
}
