//! Record-level views of a stored batch, for the few operations that need
//! more than the batch header: ListOffsets by timestamp (the exact record);
//! and building a plain batch for records the broker writes itself.
//! Decompresses; never used on the produce/fetch path.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::batch::BatchHeader;

/// The offset and timestamp of the first record in `batch` (one whole stored
/// v2 batch) at or above `min_offset` whose timestamp is at least `ts`. A
/// LogAppendTime batch stamps every record with its max timestamp. None if
/// the batch cannot be decoded; Some(None) if no record qualifies.
pub fn first_record_at_or_after(
    header: &BatchHeader,
    batch: &[u8],
    ts: i64,
    min_offset: i64,
) -> Option<Option<(i64, i64)>> {
    let mut buf = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut buf).ok()?;
    let mut records = set.records.iter().filter(|r| r.offset >= min_offset);
    if header.is_log_append_time() {
        let first = records.next().map(|r| r.offset);
        return Some(
            first
                .filter(|_| header.max_timestamp >= ts)
                .map(|o| (o, header.max_timestamp)),
        );
    }
    Some(
        records
            .find(|r| r.timestamp >= ts)
            .map(|r| (r.offset, r.timestamp)),
    )
}

/// One uncompressed v2 batch holding `records` (key, value) with offsets
/// from 0, no producer id, all stamped `now_ms`: what the broker writes for
/// itself (group records) and what the perf tools send.
pub fn encode_plain_batch(
    records: Vec<(Option<Bytes>, Option<Bytes>)>,
    now_ms: i64,
) -> Result<Bytes, String> {
    encode_batch_as(records, now_ms, None)
}

/// [`encode_plain_batch`], inside producer `(id, epoch)`'s transaction
/// when given (the transactional attribute set, still no sequence): what
/// the group coordinator writes for TxnOffsetCommit.
pub fn encode_batch_as(
    records: Vec<(Option<Bytes>, Option<Bytes>)>,
    now_ms: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, String> {
    let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // offset - sequence constant keeps every record in one batch;
            // the batch's base sequence is then -1, as for non-idempotent
            // producers.
            sequence: i as i32 - 1,
            timestamp: now_ms,
            key,
            value,
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// The control batch that ends a transaction (Kafka's EndTransactionMarker):
/// one record whose key is (version 0, type) and whose value is (version 0,
/// coordinator epoch), transactional and control bits set, no sequence.
pub fn encode_marker(spec: &super::txn_log::MarkerSpec, now_ms: i64) -> Result<Bytes, String> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&spec.marker.code().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&spec.coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: spec.producer_id,
        producer_epoch: spec.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &[record], &options).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}
