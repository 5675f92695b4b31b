//! A topic's rules for what a producer may append, checked on the owning
//! shard before the log sees the bytes: max.message.bytes, the timestamp
//! window, keys on compacted topics, and compression.type recompression.
//!
//! Only batch headers are read on the common path. Records are decoded only
//! when the topic asks for it (compacted topics, a named compression codec),
//! so default topics keep the bytes-in, bytes-out path.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use crate::config::topic::TopicConfig;
use crate::storage::batch::{self, BatchHeader};

/// Why a partition's records were refused.
#[derive(Debug)]
pub struct Refusal {
    pub error: ResponseError,
    pub message: String,
    /// The offending records (index within their batch, reason), for
    /// ProduceResponse's record_errors: clients fail just those records.
    pub records: Vec<(i32, String)>,
}

fn refuse(error: ResponseError, message: String) -> Refusal {
    Refusal {
        error,
        message,
        records: Vec::new(),
    }
}

/// The bytes to append (the producer's, or recompressed), or why not.
pub fn check(records: &Bytes, cfg: &TopicConfig, now_ms: i64) -> Result<Bytes, Refusal> {
    // Malformed batches are the log's to refuse (CORRUPT_MESSAGE): stop at
    // the first header that does not parse and let the append report it.
    for h in headers(records) {
        if h.total_len() > cfg.max_message_bytes {
            return Err(refuse(
                ResponseError::MessageTooLarge,
                format!(
                    "batch of {} bytes exceeds max.message.bytes {}",
                    h.total_len(),
                    cfg.max_message_bytes
                ),
            ));
        }
        if !cfg.log_append_time {
            check_timestamps(&h, cfg, now_ms)?;
        }
    }
    if !cfg.compact && cfg.compression.is_none() {
        return Ok(records.clone());
    }
    let headers: Vec<BatchHeader> = headers(records).collect();
    let sets = decode(records)?;
    if cfg.compact {
        // Record indexes within their batch (offset delta), as Kafka names
        // them in record_errors.
        let keyless: Vec<(i32, String)> = sets
            .iter()
            .zip(&headers)
            .flat_map(|(set, h)| set.records.iter().map(move |r| (r, h.base_offset)))
            .filter(|(r, _)| r.key.is_none() && !r.control)
            .map(|(r, base)| {
                (
                    (r.offset - base) as i32,
                    "compacted topic requires a key".to_string(),
                )
            })
            .collect();
        if !keyless.is_empty() {
            return Err(Refusal {
                error: ResponseError::InvalidRecord,
                message: "compacted topic requires a key on every record".into(),
                records: keyless,
            });
        }
    }
    match cfg.compression.as_deref() {
        Some(codec) => recompress(records, &headers, sets, codec),
        None => Ok(records.clone()),
    }
}

/// The headers of the batches laid end to end in `records`, up to the first
/// that does not parse. Reads headers only; allocates nothing.
fn headers(records: &[u8]) -> impl Iterator<Item = BatchHeader> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = batch::parse(records.get(at..)?).ok()?;
        if h.total_len() == 0 {
            return None;
        }
        at += h.total_len();
        Some(h)
    })
}

/// message.timestamp.before/after.max.ms against the batch's first and
/// largest timestamps (producers write the first record's time as the base).
fn check_timestamps(h: &BatchHeader, cfg: &TopicConfig, now_ms: i64) -> Result<(), Refusal> {
    let too_old = now_ms.saturating_sub(h.base_timestamp) > cfg.timestamp_before_max_ms;
    let too_new = h.max_timestamp.saturating_sub(now_ms) > cfg.timestamp_after_max_ms;
    if too_old || too_new {
        let ts = if too_new {
            h.max_timestamp
        } else {
            h.base_timestamp
        };
        return Err(refuse(
            ResponseError::InvalidTimestamp,
            format!(
                "timestamp {ts} is outside [now - {}, now + {}] ms (message.timestamp.before/after.max.ms)",
                cfg.timestamp_before_max_ms, cfg.timestamp_after_max_ms
            ),
        ));
    }
    Ok(())
}

fn decode(records: &Bytes) -> Result<Vec<kafka_protocol::records::RecordSet>, Refusal> {
    let mut buf = records.clone();
    RecordBatchDecoder::decode_all(&mut buf).map_err(|e| {
        refuse(
            ResponseError::CorruptMessage,
            format!("undecodable batch: {e}"),
        )
    })
}

fn codec(name: &str) -> Compression {
    match name {
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Re-encodes every batch with the topic's codec (Kafka's compression.type
/// other than "producer"). Batches already in that codec are kept as sent.
fn recompress(
    records: &Bytes,
    headers: &[BatchHeader],
    sets: Vec<kafka_protocol::records::RecordSet>,
    name: &str,
) -> Result<Bytes, Refusal> {
    let target = codec(name);
    if sets.iter().all(|s| s.compression == target) {
        return Ok(records.clone());
    }
    let mut out = BytesMut::with_capacity(records.len());
    for (set, h) in sets.iter().zip(headers) {
        let options = RecordEncodeOptions {
            version: 2,
            compression: target,
        };
        let mut one = BytesMut::new();
        RecordBatchEncoder::encode(&mut one, &set.records, &options).map_err(|e| {
            refuse(
                ResponseError::CorruptMessage,
                format!("re-encoding to {name}: {e}"),
            )
        })?;
        // The encoder may split a batch; a produced batch must stay one so
        // sequence numbers and offsets keep their meaning.
        if headers_in(&one) != 1 {
            return Err(refuse(
                ResponseError::InvalidRecord,
                format!(
                    "batch at base {} cannot be recompressed as one",
                    h.base_offset
                ),
            ));
        }
        out.extend_from_slice(&one);
    }
    Ok(out.freeze())
}

fn headers_in(bytes: &BytesMut) -> usize {
    headers(bytes).count()
}
