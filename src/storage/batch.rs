//! Kafka record batch (magic v2) headers: parsing, validation, iteration and
//! the few in-place rewrites the broker is allowed to make.
//!
//! Owns: the 61-byte header layout, CRC32C checks, splitting a produce
//! request's `records` into batches. Must not: decompress or decode records,
//! allocate per record, or panic on any input bytes (every read is bounds
//! checked; hostile lengths become errors).

use bytes::Bytes;

/// Bytes of the v2 batch header.
pub const HEADER_LEN: usize = 61;
/// baseOffset + batchLength: the part of a batch not counted by batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal batchLength (a header with no records).
pub const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("truncated batch: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("bad batch length {0}")]
    BadLength(i32),
    #[error("bad CRC: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("unsupported magic {0}")]
    UnsupportedMagic(i8),
    #[error("invalid record: {0}")]
    InvalidRecord(String),
}

/// The decoded fixed header of one v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Decodes the header fields only (no length, magic or CRC checks).
    /// `Truncated` if fewer than 61 bytes are given.
    pub fn decode(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let Some(b) = buf.get(..HEADER_LEN) else {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        };
        Ok(BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, BATCH_LENGTH),
            leader_epoch: be_i32(b, LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            record_count: be_i32(b, RECORD_COUNT),
        })
    }

    /// Whole batch size on disk: 12 + batchLength. Only meaningful once the
    /// length was checked (`parse` does), so it is never negative.
    pub fn total_len(&self) -> usize {
        debug_assert!(self.batch_length >= MIN_BATCH_LENGTH);
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    pub fn compression(&self) -> u8 {
        (self.attributes & 0x7) as u8
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Sequence of the last record, wrapping past i32::MAX to 0 as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        wrapping_seq_add(self.base_sequence, self.last_offset_delta)
    }
}

/// `seq + delta` in Kafka's sequence space (0..=i32::MAX, wrapping to 0).
/// Negative inputs (hostile headers) are clamped to 0 rather than trusted.
pub fn wrapping_seq_add(seq: i32, delta: i32) -> i32 {
    let seq = seq.max(0) as i64;
    let sum = seq + delta.max(0) as i64;
    (sum % (i32::MAX as i64 + 1)) as i32
}

/// Parses and checks a header against the bytes that follow it: length sane
/// and fully present, magic 2. Does not check the CRC (see [`validate`]).
pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    // Magic sits before the length-dependent part; report it first so an old
    // client gets UnsupportedMagic rather than a confusing length error.
    if let Some(&magic) = buf.get(MAGIC) {
        if magic as i8 != 2 {
            return Err(BatchError::UnsupportedMagic(magic as i8));
        }
    }
    let header = BatchHeader::decode(buf)?;
    if header.batch_length < MIN_BATCH_LENGTH {
        return Err(BatchError::BadLength(header.batch_length));
    }
    let total = header.total_len();
    if buf.len() < total {
        return Err(BatchError::Truncated {
            need: total,
            have: buf.len(),
        });
    }
    Ok(header)
}

/// Whether a batch laid end to end in `records` is transactional (Kafka's
/// `ProduceRequest.hasTransactionalRecords`). Reads headers only (no CRC),
/// stopping at the first that does not parse: the append validates.
pub fn any_transactional(records: &[u8]) -> bool {
    first_transactional(records).is_some()
}

/// The header of the first transactional batch laid end to end in
/// `records` (headers only, as [`any_transactional`]).
pub fn first_transactional(records: &[u8]) -> Option<BatchHeader> {
    let mut rest = records;
    while let Ok(header) = parse(rest) {
        if header.is_transactional() {
            return Some(header);
        }
        rest = rest.get(header.total_len()..)?;
    }
    None
}

/// CRC32C as stored in the header: over attributes..end of batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    batch.get(ATTRIBUTES..).map(crc32c::crc32c).unwrap_or(0)
}

/// Full check of a stored or produced batch at the start of `buf`:
/// [`parse`] plus the CRC over exactly this batch.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse(buf)?;
    let computed = compute_crc(&buf[..header.total_len()]);
    if computed != header.crc {
        return Err(BatchError::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Extra checks for a batch arriving from a producer: it must carry records
/// and its offset delta must match its record count (fjord never stores
/// compacted batches, so the two always agree).
pub fn validate_produced(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = validate(buf)?;
    if h.record_count <= 0 {
        return Err(BatchError::InvalidRecord(format!(
            "record count {} (a batch must hold records)",
            h.record_count
        )));
    }
    if h.last_offset_delta != h.record_count - 1 {
        return Err(BatchError::InvalidRecord(format!(
            "lastOffsetDelta {} does not match record count {}",
            h.last_offset_delta, h.record_count
        )));
    }
    // Each record is at least 7 bytes (length, attributes, 3 varints,
    // key/value lengths, header count): a larger count is a lie.
    let body = h.total_len() - HEADER_LEN;
    if h.record_count as usize > body / 7 + 1 && h.compression() == 0 {
        return Err(BatchError::InvalidRecord(format!(
            "record count {} cannot fit in {body} bytes",
            h.record_count
        )));
    }
    Ok(h)
}

/// Iterates the batches laid end to end in a `Bytes` (a produce request's
/// records field). Yields each header with a zero-copy slice of its batch;
/// stops after the first error.
pub struct Batches {
    rest: Bytes,
    failed: bool,
}

impl Batches {
    pub fn new(records: Bytes) -> Batches {
        Batches {
            rest: records,
            failed: false,
        }
    }
}

impl Iterator for Batches {
    type Item = Result<(BatchHeader, Bytes), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match validate_produced(&self.rest) {
            Ok(h) => {
                let batch = self.rest.split_to(h.total_len());
                Some(Ok((h, batch)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Rewrites the two fields the broker owns. Neither is covered by the CRC.
/// The caller must pass a buffer holding at least a header.
pub fn set_offset_and_epoch(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    assert!(batch.len() >= HEADER_LEN, "not a batch header");
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// For topics with message.timestamp.type=LogAppendTime: sets the
/// timestamp-type bit and maxTimestamp to `now_ms`, then recomputes the CRC
/// (both fields are covered by it). `batch` must be exactly one whole batch.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    assert!(batch.len() >= HEADER_LEN, "not a batch header");
    let attrs = be_i16(batch, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-built batches for tests across the storage module.
    use super::*;

    /// Appends a zigzag varint.
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// Options for [`batch`].
    #[derive(Clone, Copy)]
    pub struct Spec {
        pub records: i32,
        pub timestamp: i64,
        pub producer_id: i64,
        pub producer_epoch: i16,
        pub base_sequence: i32,
        pub value_len: usize,
    }

    impl Default for Spec {
        fn default() -> Self {
            Spec {
                records: 1,
                timestamp: 1_000,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                value_len: 10,
            }
        }
    }

    /// A valid uncompressed v2 batch with `spec.records` records whose
    /// values are `value_len` bytes; record i has timestamp `timestamp + i`.
    pub fn batch(spec: Spec) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..spec.records {
            let mut rec = Vec::new();
            rec.push(0u8); // attributes
            varint(&mut rec, i as i64); // timestamp delta
            varint(&mut rec, i as i64); // offset delta
            varint(&mut rec, -1); // null key
            varint(&mut rec, spec.value_len as i64);
            rec.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, spec.value_len));
            varint(&mut rec, 0); // no headers
            varint(&mut body, rec.len() as i64);
            body.extend_from_slice(&rec);
        }
        let mut b = Vec::with_capacity(HEADER_LEN + body.len());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(spec.records - 1).to_be_bytes());
        b.extend_from_slice(&spec.timestamp.to_be_bytes());
        let max_ts = spec.timestamp + i64::from(spec.records - 1);
        b.extend_from_slice(&max_ts.to_be_bytes());
        b.extend_from_slice(&spec.producer_id.to_be_bytes());
        b.extend_from_slice(&spec.producer_epoch.to_be_bytes());
        b.extend_from_slice(&spec.base_sequence.to_be_bytes());
        b.extend_from_slice(&spec.records.to_be_bytes());
        b.extend_from_slice(&body);
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// [`batch`] with the transactional attribute set (a producer's batch
    /// inside a transaction).
    pub fn transactional(spec: Spec) -> Vec<u8> {
        let mut b = batch(spec);
        b[ATTRIBUTES + 1] |= TRANSACTIONAL_BIT as u8;
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// `n` simple batches of `records` records each, concatenated.
    pub fn batches(n: usize, records: i32) -> Bytes {
        let mut all = Vec::new();
        for _ in 0..n {
            all.extend(batch(Spec {
                records,
                ..Spec::default()
            }));
        }
        Bytes::from(all)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_batch_parses() {
        let b = batch(Spec {
            records: 3,
            ..Spec::default()
        });
        let h = validate_produced(&b).unwrap();
        assert_eq!(h.total_len(), b.len());
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.max_timestamp, 1_002);
    }

    #[test]
    fn any_transactional_reads_every_header() {
        let plain = batch(Spec::default());
        let mut transactional = batch(Spec::default());
        transactional[ATTRIBUTES + 1] |= TRANSACTIONAL_BIT as u8;
        assert!(!any_transactional(&[plain.clone(), plain.clone()].concat()));
        assert!(any_transactional(
            &[plain.clone(), transactional.clone()].concat()
        ));
        // A batch that does not parse ends the walk.
        assert!(!any_transactional(&[&plain[..20], &transactional].concat()));
        assert!(!any_transactional(&[]));
    }

    #[test]
    fn crc_corruption_detected() {
        let mut b = batch(Spec::default());
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(BatchError::BadCrc { .. })));
    }

    #[test]
    fn rewrite_keeps_crc_valid() {
        let mut b = batch(Spec::default());
        set_offset_and_epoch(&mut b, 42, 7);
        let h = validate(&b).unwrap();
        assert_eq!((h.base_offset, h.leader_epoch), (42, 7));
        set_log_append_time(&mut b, 99);
        let h = validate(&b).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99);
    }

    #[test]
    fn errors_for_bad_magic_length_count() {
        let mut b = batch(Spec::default());
        b[MAGIC] = 1;
        assert_eq!(parse(&b), Err(BatchError::UnsupportedMagic(1)));
        let b = batch(Spec::default());
        assert!(matches!(
            parse(&b[..b.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        let mut b = batch(Spec::default());
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(parse(&b), Err(BatchError::BadLength(10)));
        let mut b = batch(Spec::default());
        b[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&0i32.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_produced(&b),
            Err(BatchError::InvalidRecord(_))
        ));
    }

    #[test]
    fn iterates_several_batches() {
        let all = batches(3, 2);
        let got: Vec<_> = Batches::new(all.clone()).collect();
        assert_eq!(got.len(), 3);
        let total: usize = got.iter().map(|r| r.as_ref().unwrap().1.len()).sum();
        assert_eq!(total, all.len());
    }

    #[test]
    fn sequence_wraps() {
        assert_eq!(wrapping_seq_add(i32::MAX, 1), 0);
        assert_eq!(wrapping_seq_add(i32::MAX - 1, 3), 1);
        assert_eq!(wrapping_seq_add(5, 2), 7);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
            let _ = validate_produced(&bytes);
            let all: Vec<_> = Batches::new(Bytes::from(bytes)).collect();
            prop_assert!(all.len() <= 4);
        }

        #[test]
        fn header_mutations_never_panic(pos in 0usize..61, val in any::<u8>()) {
            let mut b = batch(Spec { records: 2, ..Spec::default() });
            b[pos] = val;
            let _ = validate_produced(&b);
            if let Ok(h) = parse(&b) {
                let _ = (h.total_len(), h.last_offset(), h.last_sequence());
            }
        }
    }
}
