//! Tests of the log maintenance operations on real files under glommio:
//! live config updates, LogAppendTime, DeleteRecords, retention; helpers
//! shared with `tests_compaction`.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::batch::testing::{batch, Spec};
use super::batch::{self, BatchHeader};
use super::{LogConfig, PartitionLog, ReadError, StorageError};

pub(super) use crate::util::run_local as run;

pub(super) fn cfg(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_index_bytes: 4096,
        index_interval_bytes: 100,
        cache_bytes: 1 << 20,
        ..LogConfig::default()
    }
}

pub(super) fn plain(records: i32, ts: i64) -> Bytes {
    Bytes::from(batch(Spec {
        records,
        timestamp: ts,
        ..Spec::default()
    }))
}

pub(super) type Kv<'a> = (Option<&'a str>, Option<&'a str>);

/// A batch of keyed records (timestamps ts, ts+1, ...) with a codec.
pub(super) fn keyed(recs: &[Kv<'_>], ts: i64, compression: Compression) -> Bytes {
    let records: Vec<Record> = recs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32, // one batch: offset - sequence must not vary
            timestamp: ts + i as i64,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    // Not idempotent: base sequence -1, CRC recomputed.
    buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = batch::compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        batch::validate_produced(&buf).unwrap().record_count,
        recs.len() as i32
    );
    buf.freeze()
}

pub(super) async fn put(log: &PartitionLog, b: &Bytes, now: i64) -> (i64, i64) {
    let a = log.append(b, 0, now).expect("append");
    a.durable.await.expect("durable");
    (a.base_offset, a.last_offset)
}

/// Every batch header from `from` up to the high watermark.
pub(super) async fn all_headers(log: &PartitionLog, from: i64) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut next = from;
    while next < log.high_watermark() {
        let got = log.read(next, 1 << 20, true).await.unwrap();
        let mut data = &got[..];
        assert!(!data.is_empty(), "empty read at {next}");
        while !data.is_empty() {
            let h = batch::validate(data).expect("valid CRC");
            data = &data[h.total_len()..];
            next = h.last_offset() + 1;
            out.push(h);
        }
    }
    out
}

/// Every record (offset → (key, value)) from `from` up to the high watermark.
pub(super) async fn all_records(
    log: &PartitionLog,
    from: i64,
) -> BTreeMap<i64, (Option<Bytes>, Option<Bytes>)> {
    let mut out = BTreeMap::new();
    let mut next = from;
    while next < log.high_watermark() {
        let got = log.read(next, 1 << 20, true).await.unwrap();
        let mut buf = got.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for r in set.records {
                out.insert(r.offset, (r.key, r.value));
            }
        }
        let mut data = &got[..];
        while !data.is_empty() {
            let h = batch::validate(data).unwrap();
            data = &data[h.total_len()..];
            next = h.last_offset() + 1;
        }
    }
    out
}

pub(super) fn segment_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

pub(super) fn last_segment_base(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".log")?.parse().ok()
        })
        .max()
        .unwrap()
}

pub(super) fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

#[test]
fn update_config_applies_to_next_roll() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), cfg(1 << 20))
            .await
            .unwrap();
        for i in 0..4 {
            put(&log, &plain(2, i), 0).await;
        }
        assert_eq!(segment_count(&path), 1);
        log.update_config(cfg(200));
        assert_eq!(log.config().segment_bytes, 200);
        for i in 0..4 {
            put(&log, &plain(2, i), 0).await;
        }
        // 380 bytes in the first segment; then a roll and two ~95-byte
        // batches per 200-byte segment.
        assert_eq!(segment_count(&path), 3);
        assert_eq!(all_headers(&log, 0).await.len(), 8);
        log.close().await.unwrap();
    });
}

#[test]
fn log_append_time_stamps_batches() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), cfg(1 << 20))
            .await
            .unwrap();
        put(&log, &plain(3, 100), 0).await;
        let a = log.append_with(&plain(2, 100), 0, 5_000, true).unwrap();
        a.durable.await.unwrap();
        let hs = all_headers(&log, 0).await;
        assert!(!hs[0].is_log_append_time());
        assert_eq!(hs[0].max_timestamp, 102);
        assert!(hs[1].is_log_append_time());
        assert_eq!(hs[1].max_timestamp, 5_000);
        assert_eq!(log.max_timestamp(), Some((5_000, 3)));
        assert_eq!(
            log.offset_for_timestamp(4_000).await.unwrap(),
            Some((3, 5_000))
        );
        log.close().await.unwrap();
        let log = PartitionLog::open(path, cfg(1 << 20)).await.unwrap();
        assert_eq!(log.max_timestamp(), Some((5_000, 3)));
        assert_eq!(
            log.offset_for_timestamp(103).await.unwrap(),
            Some((3, 5_000))
        );
        log.close().await.unwrap();
    });
}

#[test]
fn delete_records_mid_segment_persists_across_reopen() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let c = cfg(300);
        let log = PartitionLog::open(path.clone(), c.clone()).await.unwrap();
        for i in 0..12 {
            put(&log, &plain(2, i), 0).await;
        }
        let before = segment_count(&path);
        assert!(before >= 3);
        assert_eq!(log.delete_records_before(5).await.unwrap(), 5);
        assert_eq!(log.log_start_offset(), 5);
        assert!(matches!(
            log.read(4, 1 << 20, true).await,
            Err(ReadError::OffsetOutOfRange { log_start: 5, .. })
        ));
        let got = log.read(5, 1 << 20, true).await.unwrap();
        let h = batch::validate(&got).unwrap();
        assert!(h.base_offset <= 5 && h.last_offset() >= 5);
        // Never backwards; above the high watermark is out of range.
        assert_eq!(log.delete_records_before(3).await.unwrap(), 5);
        assert!(matches!(
            log.delete_records_before(25).await,
            Err(StorageError::OffsetOutOfRange {
                offset: 25,
                high_watermark: 24
            })
        ));
        assert!(log.delete_records_before(-2).await.is_err());
        let mid = log.delete_records_before(13).await.unwrap();
        assert_eq!(mid, 13);
        assert!(segment_count(&path) < before, "segments below 13 deleted");
        assert!(matches!(
            log.read(12, 10, true).await,
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        log.close().await.unwrap();

        let log = PartitionLog::open(path.clone(), c.clone()).await.unwrap();
        assert_eq!(log.log_start_offset(), 13);
        assert!(log.read(12, 10, true).await.is_err());
        assert_eq!(log.offset_for_timestamp(0).await.unwrap().unwrap().0, 13);
        assert_eq!(log.delete_records_before(-1).await.unwrap(), 24);
        assert_eq!(put(&log, &plain(1, 50), 0).await, (24, 24));
        log.close().await.unwrap();
        let log = PartitionLog::open(path, c).await.unwrap();
        assert_eq!(log.log_start_offset(), 24);
        assert_eq!(log.log_end_offset(), 25);
        log.close().await.unwrap();
    });
}

#[test]
fn retention_by_time_deletes_old_segments_and_rolls_expired_active() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), cfg(300)).await.unwrap();
        // Batch i holds timestamps 1000*i, 1000*i + 1.
        for i in 0..12 {
            put(&log, &plain(2, 1000 * i), 0).await;
        }
        let segs = segment_count(&path);
        assert!(segs >= 4);
        let out = log.enforce_retention(-1, -1, 1_000_000).await.unwrap();
        assert_eq!(out.segments_deleted, 0);
        // Everything up to timestamp 5001 (batches 0..=5) is past retention.
        let out = log.enforce_retention(10_000, -1, 15_002).await.unwrap();
        assert!(out.segments_deleted >= 1 && !out.rolled);
        let start = log.log_start_offset();
        assert_eq!(start, out.log_start_offset);
        let first = all_headers(&log, start).await[0];
        assert_eq!(first.base_offset, start);
        // The segment now first holds a batch not entirely expired...
        assert!(all_headers(&log, start)
            .await
            .iter()
            .any(|h| h.max_timestamp >= 5_002));
        // ...and the one before it was expired: its last batch is < 5002.
        assert!(
            start <= 12,
            "batches 6.. (offset 12..) are kept, start {start}"
        );
        assert!(matches!(
            log.read(start - 1, 10, true).await,
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        assert_eq!(segment_count(&path), segs - out.segments_deleted);

        // All data expired: the active segment is rolled and goes too.
        let out = log.enforce_retention(10, -1, 1_000_000).await.unwrap();
        assert!(out.rolled);
        assert_eq!(log.log_start_offset(), 24);
        assert_eq!(segment_count(&path), 1);
        assert!(log.read(24, 10, true).await.unwrap().is_empty());
        assert_eq!(put(&log, &plain(1, 2_000_000), 0).await, (24, 24));
        log.close().await.unwrap();
        let log = PartitionLog::open(path, cfg(300)).await.unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (24, 25));
        log.close().await.unwrap();
    });
}

#[test]
fn retention_by_size_keeps_at_least_retention_bytes() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), cfg(300)).await.unwrap();
        let b = plain(2, 0);
        for _ in 0..12 {
            put(&log, &b, 0).await;
        }
        log.close().await.unwrap(); // the active file loses its padding
        let log = PartitionLog::open(path.clone(), cfg(300)).await.unwrap();
        let sizes: Vec<u64> = {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect();
            files.sort();
            files
                .iter()
                .map(|f| std::fs::metadata(f).unwrap().len())
                .collect()
        };
        let total: u64 = sizes.iter().sum();
        // Keep at least total - sizes[0] - sizes[1] bytes: exactly the two
        // oldest segments go (a third would leave less).
        let limit = total - sizes[0] - sizes[1];
        let out = log.enforce_retention(-1, limit as i64, 0).await.unwrap();
        assert_eq!(out.segments_deleted, 2);
        assert_eq!(out.bytes_deleted, sizes[0] + sizes[1]);
        let per_segment = (sizes[0] / b.len() as u64) as i64 * 2;
        assert_eq!(log.log_start_offset(), 2 * per_segment);
        assert_eq!(segment_count(&path), sizes.len() - 2);
        // A limit of 0 keeps only the active segment.
        log.enforce_retention(-1, 0, 0).await.unwrap();
        assert_eq!(segment_count(&path), 1);
        log.close().await.unwrap();
    });
}
