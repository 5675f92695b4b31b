//! Shared setup for the criterion benchmarks: realistic Kafka v2 record
//! batches built by hand (uncompressed, keyed records of ~1 KiB values, as a
//! typical producer sends), and the directory benchmark files are written to.

#![allow(dead_code)]

use std::path::PathBuf;

use fjord::storage::batch::{self, HEADER_LEN, LOG_OVERHEAD};

/// Byte offset of the CRC field in a v2 batch header.
const CRC_AT: usize = 17;

/// Appends a zigzag varint (Kafka's record encoding).
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

/// One record (length-prefixed) with a 16-byte key and `value_len` bytes of
/// value, no headers.
fn record(index: i64, value_len: usize) -> Vec<u8> {
    let mut rec = Vec::with_capacity(value_len + 32);
    rec.push(0u8); // attributes
    varint(&mut rec, index); // timestamp delta (1 ms apart)
    varint(&mut rec, index); // offset delta
    let key = format!("key-{index:012}");
    varint(&mut rec, key.len() as i64);
    rec.extend_from_slice(key.as_bytes());
    varint(&mut rec, value_len as i64);
    // Cheap pseudo-random payload so nothing is accidentally all zeroes.
    let mut x = (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    rec.extend((0..value_len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    varint(&mut rec, 0); // no headers
    let mut out = Vec::with_capacity(rec.len() + 5);
    varint(&mut out, rec.len() as i64);
    out.extend_from_slice(&rec);
    out
}

/// A valid, uncompressed, non-idempotent v2 record batch of exactly
/// `total_len` bytes (header included) when possible: full records with
/// `value_len`-byte values, then one shorter record filling the rest.
/// Panics if the result does not pass fjord's own produce validation.
pub fn record_batch(total_len: usize, value_len: usize, base_timestamp: i64) -> Vec<u8> {
    let mut body = Vec::with_capacity(total_len);
    let mut count = 0i64;
    loop {
        let rec = record(count, value_len);
        if HEADER_LEN + body.len() + rec.len() > total_len {
            break;
        }
        body.extend_from_slice(&rec);
        count += 1;
    }
    // Fill the remainder with one record sized to land exactly on total_len.
    let room = total_len - HEADER_LEN - body.len();
    if let Some(rec) = (0..room)
        .rev()
        .map(|v| record(count, v))
        .find(|r| r.len() == room)
    {
        body.extend_from_slice(&rec);
        count += 1;
    }
    assert!(count > 0, "batch too small for one record");

    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, set below
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&((count - 1) as i32).to_be_bytes()); // last offset delta
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&(base_timestamp + count - 1).to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&(count as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = batch::compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());

    let h = batch::validate_produced(&b).expect("benchmark batch is valid");
    assert_eq!(h.total_len(), b.len());
    b
}

/// Records in a batch built by [`record_batch`].
pub fn record_count(batch_bytes: &[u8]) -> i64 {
    i64::from(
        batch::BatchHeader::decode(batch_bytes)
            .expect("header")
            .record_count,
    )
}

/// Where benchmarks put log and index files: Cargo's per-target scratch
/// directory (on the same disk as the checkout, not a tmpfs), or
/// `FJORD_BENCH_DIR` when set.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::var_os("FJORD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).expect("create bench scratch dir");
    dir
}
