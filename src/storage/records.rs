//! Record-level views of a stored batch, for the few operations that need
//! more than the batch header: ListOffsets by timestamp (the exact record) and,
//! later, compaction. Decompresses; never used on the produce/fetch path.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

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
