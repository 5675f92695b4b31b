//! Tests of truncation (`truncate_to`, `truncate_fully`) and of the
//! persisted leader-epoch cache, on real files under glommio.

use std::path::Path;

use bytes::Bytes;
use futures_lite::future::poll_once;

use super::batch::testing::{batch, Spec};
use super::epochs::EPOCH_FILE;
use super::tests_maintenance::run;
use super::tests_replica::{cfg, join, leader_batch, open, read_all, replicate};
use super::{AppendError, PartitionLog, ReadError, StorageError};

fn log_files(dir: &Path) -> usize {
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

/// Ten batches of two records each (offsets 0..20), epoch 1 for the first
/// five, 2 for the rest.
fn twenty() -> Vec<Vec<u8>> {
    (0..10)
        .map(|i| leader_batch(i * 2, if i < 5 { 1 } else { 2 }, 2))
        .collect()
}

async fn check_then_reopen(log: PartitionLog, path: &Path, seg: u64, want: &[u8], end: i64) {
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(&read_all(&log, log.log_start_offset()).await[..], want);
    log.close().await.unwrap();
    let log = open(path, cfg(0, seg)).await;
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(&read_all(&log, log.log_start_offset()).await[..], want);
    log.close().await.unwrap();
}

#[test]
fn truncate_inside_the_active_segment_then_append_and_reopen() {
    for cache in [0, 1 << 20] {
        run(move || async move {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            let log = open(&path, cfg(cache, 1 << 20)).await;
            let all = twenty();
            replicate(&log, &all).await;
            log.truncate_to(20).await.unwrap(); // at the end: no-op
            assert_eq!(log.log_end_offset(), 20);
            // Inside batch [8, 9]: it goes too.
            log.truncate_to(9).await.unwrap();
            assert_eq!((log.log_end_offset(), log.durable_end()), (8, 8));
            assert_eq!(log.high_watermark(), 8);
            assert_eq!(log.leader_epochs(), vec![(1, 0)]);
            assert!(matches!(
                log.read(9, 100, true).await,
                Err(ReadError::OffsetOutOfRange { .. })
            ));
            let new = leader_batch(8, 3, 4);
            replicate(&log, std::slice::from_ref(&new)).await;
            assert_eq!(log.leader_epochs(), vec![(1, 0), (3, 8)]);
            let mut want = all[..4].concat();
            want.extend(&new);
            check_then_reopen(log, &path, 1 << 20, &want, 12).await;
        });
    }
}

#[test]
fn truncate_across_segments() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let seg = 3 * leader_batch(0, 1, 2).len() as u64; // 3 batches each
        let log = open(&path, cfg(0, seg)).await;
        let all = twenty();
        for b in &all {
            replicate(&log, std::slice::from_ref(b)).await;
        }
        assert_eq!(log_files(&path), 4);
        // Offset 6 is the second segment's base: it and later ones go.
        log.truncate_to(6).await.unwrap();
        assert_eq!(log_files(&path), 1);
        assert_eq!(log.log_end_offset(), 6);
        // The first segment, sealed, is active again and takes appends.
        replicate(&log, &[leader_batch(6, 2, 2)]).await;
        log.truncate_to(4).await.unwrap();
        replicate(&log, &[leader_batch(4, 5, 1), leader_batch(5, 5, 1)]).await;
        assert_eq!(log.leader_epochs(), vec![(1, 0), (5, 4)]);
        let mut want = all[..2].concat();
        want.extend(leader_batch(4, 5, 1));
        want.extend(leader_batch(5, 5, 1));
        check_then_reopen(log, &path, seg, &want, 6).await;
        let log = open(&path, cfg(0, seg)).await;
        assert_eq!(log.leader_epochs(), vec![(1, 0), (5, 4)]);
        log.close().await.unwrap();
    });
}

#[test]
fn truncate_drops_pending_appends_and_fails_their_waiters() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        let all = twenty();
        replicate(&log, &all[..3]).await;
        // Not awaited: still pending (or in flight) when truncation starts.
        let a = log.append_replica(&join(&all[3..]), 0).unwrap();
        let hw = log.wait_for_hw(10);
        let mut t = Box::pin(log.truncate_to(4));
        assert!(poll_once(&mut t).await.is_none(), "queued for the flusher");
        let r = log.append_replica(&join(&[leader_batch(20, 2, 1)]), 0);
        assert!(matches!(r, Err(AppendError::Stopped(_))), "{r:?}");
        t.await.unwrap();
        // The appended batches either never got written or were removed.
        let lost = a.durable.await;
        assert!(
            matches!(lost, Ok(()) | Err(StorageError::Truncated(_))),
            "{lost:?}"
        );
        assert!(matches!(hw.await, Err(StorageError::Truncated(_))));
        assert_eq!(log.log_end_offset(), 4);
        replicate(&log, &[leader_batch(4, 2, 1)]).await;
        let mut want = all[..2].concat();
        want.extend(leader_batch(4, 2, 1));
        check_then_reopen(log, &path, 1 << 20, &want, 5).await;
    });
}

#[test]
fn truncate_keeps_idempotent_producer_state_right() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        let seq = |s| {
            batch(Spec {
                producer_id: 9,
                producer_epoch: 0,
                base_sequence: s,
                ..Spec::default()
            })
        };
        for s in 0..3 {
            let a = log.append(&Bytes::from(seq(s)), 0, 0).unwrap();
            a.durable.await.unwrap();
        }
        log.truncate_to(2).await.unwrap();
        // Sequence 2 is gone: appending it again is new, not a duplicate.
        let a = log.append(&Bytes::from(seq(2)), 1, 0).unwrap();
        assert_eq!((a.base_offset, a.duplicate), (2, false));
        a.durable.await.unwrap();
        log.close().await.unwrap();
    });
}

#[test]
fn truncate_lowers_the_replication_high_watermark() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(0, 1 << 20)).await;
        replicate(&log, &twenty()).await;
        log.set_high_watermark(Some(16));
        log.truncate_to(10).await.unwrap();
        assert_eq!(log.high_watermark(), 10);
        replicate(&log, &[leader_batch(10, 3, 4)]).await;
        assert_eq!(log.high_watermark(), 10);
        log.set_high_watermark(Some(14));
        assert_eq!(log.high_watermark(), 14);
        log.close().await.unwrap();
    });
}

#[test]
fn truncate_fully_restarts_the_log_at_a_new_start() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let seg = 3 * leader_batch(0, 1, 2).len() as u64;
        let log = open(&path, cfg(1 << 20, seg)).await;
        for b in &twenty() {
            replicate(&log, std::slice::from_ref(b)).await;
        }
        log.truncate_fully(100).await.unwrap();
        assert_eq!(log_files(&path), 1);
        let ends = (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark(),
        );
        assert_eq!(ends, (100, 100, 100));
        assert_eq!(log.leader_epochs(), vec![]);
        assert!(log.read(100, 100, true).await.unwrap().is_empty());
        assert!(matches!(
            log.read(5, 100, true).await,
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        let want = [leader_batch(100, 7, 3), leader_batch(103, 7, 1)];
        replicate(&log, &want).await;
        check_then_reopen(log, &path, seg, &want.concat(), 104).await;
        let log = open(&path, cfg(0, seg)).await;
        assert_eq!(log.log_start_offset(), 100);
        assert_eq!(log.leader_epochs(), vec![(7, 100)]);
        // Below the log start, truncate_to empties the log there.
        log.truncate_to(50).await.unwrap();
        let ends = (log.log_start_offset(), log.log_end_offset());
        assert_eq!(ends, (50, 50));
        log.close().await.unwrap();
        let log = open(&path, cfg(0, seg)).await;
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
        assert!(log.truncate_to(-1).await.is_err());
        log.close().await.unwrap();
    });
}

#[test]
fn epoch_cache_follows_appends_and_persists() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        assert_eq!(
            (log.latest_epoch(), log.end_offset_for_epoch(0)),
            (None, None)
        );
        for epoch in [1, 1, 3] {
            let a = log.append(&Bytes::from(batch(Spec::default())), epoch, 0);
            a.unwrap().durable.await.unwrap();
        }
        // A new leader records its epoch before appending in it.
        log.assign_epoch_start(5, 3);
        log.assign_epoch_start(4, 3); // older: ignored
        assert_eq!(log.leader_epochs(), vec![(1, 0), (3, 2), (5, 3)]);
        assert_eq!(log.latest_epoch(), Some(5));
        let cases = [
            (-1, None),
            (0, Some((0, 0))),
            (1, Some((1, 2))),
            (2, Some((1, 2))),
            (3, Some((3, 3))),
            (4, Some((3, 3))),
            (5, Some((5, 3))),
            (6, None),
        ];
        for (epoch, want) in cases {
            assert_eq!(log.end_offset_for_epoch(epoch), want, "epoch {epoch}");
        }
        let text = std::fs::read_to_string(path.join(EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n3\n1 0\n3 2\n5 3\n");
        let a = log
            .append(&Bytes::from(batch(Spec::default())), 5, 0)
            .unwrap();
        a.durable.await.unwrap();
        log.close().await.unwrap();
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        assert_eq!(log.leader_epochs(), vec![(1, 0), (3, 2), (5, 3)]);
        assert_eq!(log.end_offset_for_epoch(5), Some((5, 4)));
        log.truncate_to(2).await.unwrap();
        assert_eq!(log.leader_epochs(), vec![(1, 0)]);
        log.close().await.unwrap();
        let text = std::fs::read_to_string(path.join(EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n1\n1 0\n");
        // A lost or damaged file is rebuilt from the log.
        std::fs::write(path.join(EPOCH_FILE), "garbage").unwrap();
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        assert_eq!(log.leader_epochs(), vec![(1, 0)]);
        // DeleteRecords moves the first entry's start up with the log start.
        log.delete_records_before(1).await.unwrap();
        assert_eq!(log.leader_epochs(), vec![(1, 1)]);
        log.close().await.unwrap();
    });
}

#[test]
fn a_crash_mid_truncation_recovers_a_prefix() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let seg = 3 * leader_batch(0, 1, 2).len() as u64;
        let log = open(&path, cfg(0, seg)).await;
        let all = twenty();
        for b in &all {
            replicate(&log, std::slice::from_ref(b)).await;
        }
        log.close().await.unwrap();
        // truncate_to(4) stopped after deleting the newest later segment.
        let name = |base: i64, ext: &str| path.join(format!("{base:020}.{ext}"));
        for ext in ["log", "index", "timeindex"] {
            std::fs::remove_file(name(18, ext)).unwrap();
        }
        let log = open(&path, cfg(0, seg)).await;
        assert_eq!(&read_all(&log, 0).await[..], &all[..9].concat()[..]);
        log.close().await.unwrap();
        // truncate_fully(100) stopped after creating its empty segment.
        std::fs::write(name(100, "log"), b"").unwrap();
        let log = open(&path, cfg(0, seg)).await;
        assert_eq!(log.log_end_offset(), 100);
        assert_eq!(&read_all(&log, 0).await[..], &all[..9].concat()[..]);
        replicate(&log, &[leader_batch(100, 3, 1)]).await;
        log.close().await.unwrap();
    });
}

#[test]
fn truncating_at_the_log_end_drops_an_epoch_with_no_data() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(0, 1 << 20)).await;
        replicate(&log, &twenty()).await;
        // Leader for epoch 3 briefly, nothing written in it.
        log.assign_epoch_start(3, 20);
        assert_eq!(log.latest_epoch(), Some(3));
        log.truncate_to(20).await.unwrap();
        assert_eq!(log.log_end_offset(), 20);
        assert_eq!(log.latest_epoch(), Some(2));
        log.close().await.unwrap();
    });
}
