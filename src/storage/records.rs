//! Record-level views of a stored batch, for the few operations that need
//! more than the batch header: ListOffsets by timestamp (the exact record) and,
//! later, compaction. Decompresses; never used on the produce/fetch path.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::batch::BatchHeader;

/// The offset and timestamp of the first record in `batch` (one whole stored
/// v2 batch) whose timestamp is at least `ts`. A LogAppendTime batch stamps
/// every record with its max timestamp, so its first record answers.
pub fn first_record_at_or_after(header: &BatchHeader, batch: &[u8], ts: i64) -> Option<(i64, i64)> {
    if header.is_log_append_time() {
        return (header.max_timestamp >= ts).then_some((header.base_offset, header.max_timestamp));
    }
    let mut buf = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut buf).ok()?;
    set.records
        .iter()
        .find(|r| r.timestamp >= ts)
        .map(|r| (r.offset, r.timestamp))
}
