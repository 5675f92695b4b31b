//! Tests of what replication uses: replica appends, the durable end vs the
//! high watermark, and their waits (truncation and epochs: `tests_truncate`).

use std::path::Path;

use bytes::Bytes;
use futures_lite::future::poll_once;

use super::batch::testing::{batch, Spec};
use super::batch::{self, BatchHeader};
use super::tests_maintenance::run;
use super::{AppendError, LogConfig, PartitionLog, ReadError, StorageError};

pub(super) fn cfg(cache_bytes: usize, segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_index_bytes: 4096,
        index_interval_bytes: 100,
        cache_bytes,
        ..LogConfig::default()
    }
}

/// A batch of `records` records as a leader stored it at `base`, `epoch`.
pub(super) fn leader_batch(base: i64, epoch: i32, records: i32) -> Vec<u8> {
    leader_batch_with(
        base,
        epoch,
        Spec {
            records,
            ..Spec::default()
        },
    )
}

pub(super) fn leader_batch_with(base: i64, epoch: i32, spec: Spec) -> Vec<u8> {
    let mut b = batch(spec);
    batch::set_offset_and_epoch(&mut b, base, epoch);
    b
}

pub(super) fn join(batches: &[Vec<u8>]) -> Bytes {
    Bytes::from(batches.concat())
}

pub(super) fn headers(mut data: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let h = batch::validate(data).expect("valid batch");
        data = &data[h.total_len()..];
        out.push(h);
    }
    out
}

/// Every batch from `from` to the high watermark, across segments.
pub(super) async fn read_all(log: &PartitionLog, from: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let got = log.read(at, 1 << 20, true).await.unwrap();
        let Some(last) = headers(&got).last().map(BatchHeader::last_offset) else {
            return out;
        };
        out.extend_from_slice(&got);
        at = last + 1;
    }
}

pub(super) async fn open(path: &Path, cfg: LogConfig) -> PartitionLog {
    PartitionLog::open(path.to_path_buf(), cfg).await.unwrap()
}

pub(super) async fn replicate(log: &PartitionLog, batches: &[Vec<u8>]) {
    let a = log.append_replica(&join(batches), 0).unwrap();
    a.durable.await.unwrap();
}

#[test]
fn replica_append_stores_the_leaders_bytes_exactly() {
    for cache in [0, 1 << 20] {
        run(move || async move {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            let log = open(&path, cfg(cache, 1 << 20)).await;
            // A gap at 5..10: the leader compacted it away.
            let want = [
                leader_batch(0, 1, 3),
                leader_batch(3, 1, 2),
                leader_batch(10, 4, 2),
            ];
            let a = log.append_replica(&join(&want), 7).unwrap();
            assert_eq!((a.base_offset, a.last_offset, a.duplicate), (0, 11, false));
            a.durable.await.unwrap();
            assert_eq!(log.log_end_offset(), 12);
            assert_eq!(log.high_watermark(), 12);
            assert_eq!(&read_all(&log, 0).await[..], &want.concat()[..]);
            // An offset in the gap is answered with the next batch.
            assert_eq!(&log.read(6, 1 << 20, true).await.unwrap()[..], &want[2][..]);
            assert_eq!(log.leader_epochs(), vec![(1, 0), (4, 10)]);
            log.close().await.unwrap();
            let log = open(&path, cfg(cache, 1 << 20)).await;
            assert_eq!(log.log_end_offset(), 12);
            assert_eq!(&read_all(&log, 0).await[..], &want.concat()[..]);
            assert_eq!(log.leader_epochs(), vec![(1, 0), (4, 10)]);
            replicate(&log, &[leader_batch(12, 4, 1)]).await;
            assert_eq!(log.log_end_offset(), 13);
            log.close().await.unwrap();
        });
    }
}

#[test]
fn replica_append_checks_offsets_epochs_and_batches() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        replicate(&log, &[leader_batch(0, 2, 2)]).await;
        let refused = |r: Result<_, AppendError>| {
            assert!(matches!(r, Err(AppendError::InvalidRecord(_))), "{r:?}");
        };
        // Below the log end, overlapping, not increasing within one append,
        // a lower epoch: all refused, nothing appended.
        refused(log.append_replica(&join(&[leader_batch(1, 2, 1)]), 0));
        refused(log.append_replica(&join(&[leader_batch(0, 2, 1)]), 0));
        let crossing = [leader_batch(2, 2, 3), leader_batch(4, 2, 1)];
        refused(log.append_replica(&join(&crossing), 0));
        refused(log.append_replica(&join(&[leader_batch(2, 1, 1)]), 0));
        let late_drop = [leader_batch(2, 3, 1), leader_batch(3, 2, 1)];
        refused(log.append_replica(&join(&late_drop), 0));
        refused(log.append_replica(&Bytes::new(), 0));
        let mut bad = leader_batch(2, 2, 1);
        let n = bad.len();
        bad[n - 1] ^= 1;
        let r = log.append_replica(&join(&[leader_batch(2, 2, 1), bad]), 0);
        assert!(matches!(r, Err(AppendError::Corrupt(_))), "{r:?}");
        let mut old = leader_batch(2, 2, 1);
        old[16] = 1;
        let r = log.append_replica(&Bytes::from(old), 0);
        assert!(matches!(r, Err(AppendError::UnsupportedMagic)), "{r:?}");
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(log.leader_epochs(), vec![(2, 0)]);
        // An offset overflow is refused, not a panic.
        let huge = leader_batch(i64::MAX - 1, 2, 3);
        refused(log.append_replica(&Bytes::from(huge), 0));
        replicate(&log, &[leader_batch(2, 2, 1), leader_batch(3, 5, 1)]).await;
        assert_eq!(log.leader_epochs(), vec![(2, 0), (5, 3)]);
        log.close().await.unwrap();
    });
}

fn idempotent(base: i64, seq: i32, records: i32) -> Vec<u8> {
    let spec = Spec {
        records,
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: seq,
        ..Spec::default()
    };
    leader_batch_with(base, 0, spec)
}

#[test]
fn replica_appends_replay_producer_state() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        replicate(&log, &[idempotent(0, 0, 2), idempotent(2, 2, 1)]).await;
        // Now a leader: a retry of the first batch is a duplicate, a gap in
        // the sequence is refused, the next sequence is appended.
        let retry = log.append(&Bytes::from(batch_seq(0, 2)), 1, 0).unwrap();
        assert!(retry.duplicate);
        assert_eq!((retry.base_offset, retry.last_offset), (0, 1));
        let r = log.append(&Bytes::from(batch_seq(5, 1)), 1, 0);
        assert!(matches!(r, Err(AppendError::OutOfOrderSequence)), "{r:?}");
        let next = log.append(&Bytes::from(batch_seq(3, 1)), 1, 0).unwrap();
        assert_eq!((next.base_offset, next.duplicate), (3, false));
        next.durable.await.unwrap();
        assert_eq!(log.leader_epochs(), vec![(0, 0), (1, 3)]);
        log.close().await.unwrap();
    });
}

fn batch_seq(seq: i32, records: i32) -> Vec<u8> {
    batch(Spec {
        records,
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: seq,
        ..Spec::default()
    })
}

#[test]
fn a_follower_starting_past_zero_and_far_gaps() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(0, 1 << 20)).await;
        // A gap from an empty segment at 0 to the first batch is allowed.
        replicate(&log, &[leader_batch(40, 1, 2)]).await;
        // So is one wider than a segment's relative offsets: a new segment.
        let far = 3_000_000_000;
        replicate(&log, &[leader_batch(far, 1, 1)]).await;
        assert_eq!(log.log_end_offset(), far + 1);
        let want = [leader_batch(40, 1, 2), leader_batch(far, 1, 1)].concat();
        assert_eq!(&read_all(&log, 0).await[..], &want[..]);
        log.close().await.unwrap();
        let log = open(&path, cfg(0, 1 << 20)).await;
        assert_eq!(log.log_end_offset(), far + 1);
        assert_eq!(&read_all(&log, 0).await[..], &want[..]);
        log.close().await.unwrap();
    });
}

#[test]
fn high_watermark_limits_consumers_not_followers() {
    for cache in [0, 1 << 20] {
        run(move || async move {
            let dir = tempfile::tempdir().unwrap();
            let log = open(&dir.path().join("p"), cfg(cache, 1 << 20)).await;
            let all: Vec<Vec<u8>> = (0..5).map(|i| leader_batch(i * 2, 0, 2)).collect();
            replicate(&log, &all).await;
            assert_eq!((log.durable_end(), log.high_watermark()), (10, 10));
            log.set_high_watermark(Some(4));
            assert_eq!(log.high_watermark(), 4);
            assert_eq!(
                &log.read(0, 1 << 20, true).await.unwrap()[..],
                &all[..2].concat()[..]
            );
            let data = log.read_data(0, 1 << 20, true).await.unwrap();
            assert_eq!(data.len(), all[0].len() * 2);
            // Inside a batch: the high watermark never cuts one.
            log.set_high_watermark(Some(5));
            assert_eq!(
                log.read(0, 1 << 20, true).await.unwrap().len(),
                all[0].len() * 2
            );
            assert!(log.read(4, 1 << 20, true).await.unwrap().is_empty());
            let replica = log.read_data_replica(4, 1 << 20, true).await.unwrap();
            assert_eq!(replica.len(), all[0].len() * 3);
            // Never above the durable end.
            log.set_high_watermark(Some(100));
            assert_eq!(log.high_watermark(), 10);
            log.set_high_watermark(None);
            assert_eq!(&read_all(&log, 0).await[..], &all.concat()[..]);
            assert!(matches!(
                log.read_data_replica(11, 100, true).await,
                Err(ReadError::OffsetOutOfRange { .. })
            ));
            log.close().await.unwrap();
        });
    }
}

#[test]
fn waits_for_data_durable_and_high_watermark() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        log.set_high_watermark(Some(0));
        let mut data = Box::pin(log.wait_for_data(1));
        let mut durable = Box::pin(log.wait_for_durable(1));
        let mut hw = log.wait_for_hw(1);
        replicate(&log, &[leader_batch(0, 0, 3)]).await;
        assert!(poll_once(&mut durable).await.is_some());
        assert!(poll_once(&mut data).await.is_none());
        assert!(poll_once(&mut hw).await.is_none());
        log.set_high_watermark(Some(1));
        assert!(poll_once(&mut data).await.is_none());
        log.set_high_watermark(Some(2));
        assert!(poll_once(&mut data).await.is_some());
        assert_eq!(poll_once(&mut hw).await, Some(Ok(())));
        // Following the durable end again wakes the rest.
        let mut later = log.wait_for_hw(2);
        assert!(poll_once(&mut later).await.is_none());
        log.set_high_watermark(None);
        assert_eq!(poll_once(&mut later).await, Some(Ok(())));
        // A waiter beyond the end fails when the log closes.
        let beyond = log.wait_for_hw(50);
        log.close().await.unwrap();
        assert_eq!(beyond.await, Err(StorageError::Closed));
        assert_eq!(log.wait_for_hw(50).await, Err(StorageError::Closed));
    });
}
