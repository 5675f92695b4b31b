//! End-to-end tests of [`PartitionLog`] on a real glommio executor and
//! temporary directories: round trips, rolls, recovery, idempotence.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::batch::testing::{batch, Spec};
use super::batch::{self, BatchHeader};
use super::tests_maintenance::run;
use super::{AppendError, LogConfig, PartitionLog, ReadError};

fn small_config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn spec(records: i32, ts: i64) -> Spec {
    Spec {
        records,
        timestamp: ts,
        ..Spec::default()
    }
}

/// What a batch looks like once stored at `offset` with leader epoch 0.
fn stored(mut b: Vec<u8>, offset: i64) -> Vec<u8> {
    batch::set_offset_and_epoch(&mut b, offset, 0);
    b
}

async fn append_durable(log: &PartitionLog, b: &[u8]) -> (i64, i64) {
    let a = log
        .append(&Bytes::copy_from_slice(b), 0, 0)
        .expect("append");
    a.durable.await.expect("durable");
    (a.base_offset, a.last_offset)
}

/// Splits a read result into batch headers.
pub(super) fn headers(mut data: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let h = batch::validate(data).expect("valid batch in read result");
        data = &data[h.total_len()..];
        out.push(h);
    }
    out
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_round_trip() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), small_config())
            .await
            .unwrap();
        assert_eq!(
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.high_watermark()
            ),
            (0, 0, 0)
        );
        let b1 = batch(spec(3, 100));
        let b2 = batch(spec(2, 200));
        assert_eq!(append_durable(&log, &b1).await, (0, 2));
        assert_eq!(append_durable(&log, &b2).await, (3, 4));
        assert_eq!(log.high_watermark(), 5);
        let got = log.read(0, 1 << 20, true).await.unwrap();
        let mut want = stored(b1.clone(), 0);
        want.extend(stored(b2.clone(), 3));
        assert_eq!(&got[..], &want[..]);
        // An offset inside the second batch returns that whole batch.
        assert_eq!(
            &log.read(4, 1 << 20, true).await.unwrap()[..],
            &stored(b2, 3)[..]
        );
        assert!(log.read(5, 100, true).await.unwrap().is_empty());
        assert!(matches!(
            log.read(6, 100, true).await,
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            log.read(-1, 100, true).await,
            Err(ReadError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.max_timestamp(), Some((201, 3)));
        log.close().await.unwrap();
    });
}

#[test]
fn several_batches_per_append_and_disk_reads() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            cache_bytes: 0, // force DMA reads
            index_interval_bytes: 100,
            ..small_config()
        };
        let log = PartitionLog::open(dir.path().join("p"), cfg).await.unwrap();
        let mut all = Vec::new();
        let mut want = Vec::new();
        for i in 0..3 {
            let b = batch(spec(2, i * 10));
            want.extend(stored(b.clone(), i * 2));
            all.extend(b);
        }
        let a = log.append(&Bytes::from(all), 0, 0).unwrap();
        assert_eq!((a.base_offset, a.last_offset, a.duplicate), (0, 5, false));
        a.durable.await.unwrap();
        assert_eq!(&log.read(0, 1 << 20, true).await.unwrap()[..], &want[..]);
        let one = log.read(2, 1 << 20, true).await.unwrap();
        assert_eq!(
            headers(&one)
                .iter()
                .map(|h| h.base_offset)
                .collect::<Vec<_>>(),
            vec![2, 4]
        );
        log.close().await.unwrap();
    });
}

#[test]
fn corrupt_batch_rejects_whole_append() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), small_config())
            .await
            .unwrap();
        let mut bad = batch(spec(1, 0));
        let n = bad.len();
        bad[n - 1] ^= 1;
        let mut both = batch(spec(1, 0));
        both.extend(&bad);
        let r = log.append(&Bytes::from(both), 0, 0);
        assert!(matches!(r, Err(AppendError::Corrupt(_))), "{r:?}");
        let mut old = batch(spec(1, 0));
        old[16] = 1;
        assert!(matches!(
            log.append(&Bytes::from(old), 0, 0),
            Err(AppendError::UnsupportedMagic)
        ));
        assert!(matches!(
            log.append(&Bytes::new(), 0, 0),
            Err(AppendError::InvalidRecord(_))
        ));
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(append_durable(&log, &batch(spec(1, 0))).await, (0, 0));
        log.close().await.unwrap();
    });
}

#[test]
fn max_bytes_and_min_one() {
    for cache_bytes in [0, 1 << 20] {
        run(move || async move {
            let dir = tempfile::tempdir().unwrap();
            let cfg = LogConfig {
                cache_bytes,
                ..small_config()
            };
            let log = PartitionLog::open(dir.path().join("p"), cfg).await.unwrap();
            let b = batch(spec(5, 0));
            let len = b.len();
            for _ in 0..4 {
                append_durable(&log, &b).await;
            }
            let r = log.read(0, len * 2 + len / 2, true).await.unwrap();
            assert_eq!(r.len(), len * 2);
            assert_eq!(log.read(0, 10, true).await.unwrap().len(), len);
            assert_eq!(log.read(0, 10, false).await.unwrap().len(), 0);
            assert_eq!(log.read(7, 1 << 20, true).await.unwrap().len(), len * 3);
            log.close().await.unwrap();
        });
    }
}

#[test]
fn rolls_segments_and_reads_across() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let cfg = LogConfig {
            segment_bytes: 1000,
            cache_bytes: 0,
            index_interval_bytes: 200,
            ..small_config()
        };
        let log = PartitionLog::open(path.clone(), cfg.clone()).await.unwrap();
        let mut batches = Vec::new();
        for i in 0..30 {
            let b = batch(spec(3, i * 100));
            let (base, _) = append_durable(&log, &b).await;
            batches.push(stored(b, base));
        }
        let files = log_files(&path);
        assert!(files.len() >= 4, "{files:?}");
        for (i, f) in files.iter().enumerate().take(files.len() - 1) {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 1000 && len > 0, "segment {i} has {len} bytes");
        }
        // Every batch is readable at each of its offsets, and a big read stops
        // at its segment's end but continues from the next.
        for (i, b) in batches.iter().enumerate() {
            let off = i as i64 * 3 + 1;
            let got = log.read(off, 1, true).await.unwrap();
            assert_eq!(&got[..], &b[..], "offset {off}");
        }
        let mut next = 0;
        let mut seen = 0;
        while next < log.high_watermark() {
            let got = log.read(next, 1 << 20, true).await.unwrap();
            let hs = headers(&got);
            assert_eq!(hs[0].base_offset, next);
            next = hs.last().unwrap().last_offset() + 1;
            seen += hs.len();
        }
        assert_eq!(seen, 30);
        assert_eq!(
            log.offset_for_timestamp(1_050).await.unwrap(),
            Some((33, 1_100)) // the first record at or after 1050, inside the batch
        );
        assert_eq!(log.offset_for_timestamp(0).await.unwrap(), Some((0, 0)));
        assert_eq!(log.offset_for_timestamp(2_903).await.unwrap(), None);
        assert_eq!(log.max_timestamp(), Some((2_902, 87)));
        log.close().await.unwrap();

        // Reopen: everything is still there, sealed indexes verified.
        let log = PartitionLog::open(path.clone(), cfg).await.unwrap();
        assert_eq!(log.log_end_offset(), 90);
        assert_eq!(log.high_watermark(), 90);
        assert_eq!(log.max_timestamp(), Some((2_902, 87)));
        for (i, b) in batches.iter().enumerate() {
            let got = log.read(i as i64 * 3, 1, true).await.unwrap();
            assert_eq!(&got[..], &b[..]);
        }
        assert_eq!(
            log.offset_for_timestamp(1_050).await.unwrap(),
            Some((33, 1_100)) // the first record at or after 1050, inside the batch
        );
        assert_eq!(append_durable(&log, &batch(spec(1, 5_000))).await, (90, 90));
        log.close().await.unwrap();
    });
}

#[test]
fn reopen_after_close_keeps_everything() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let b = batch(spec(4, 7));
        {
            let log = PartitionLog::open(path.clone(), small_config())
                .await
                .unwrap();
            append_durable(&log, &b).await;
            append_durable(&log, &b).await;
            log.close().await.unwrap();
        }
        let f = &log_files(&path)[0];
        assert_eq!(std::fs::metadata(f).unwrap().len(), 2 * b.len() as u64);
        let idx = f.with_extension("index");
        assert_eq!(std::fs::metadata(idx).unwrap().len(), 0, "index trimmed");
        let log = PartitionLog::open(path, small_config()).await.unwrap();
        assert_eq!(log.log_end_offset(), 8);
        let mut want = stored(b.clone(), 0);
        want.extend(stored(b, 4));
        assert_eq!(&log.read(0, 1 << 20, true).await.unwrap()[..], &want[..]);
        log.close().await.unwrap();
    });
}

/// Appends bytes to the end of a file, as a crash mid-write could leave.
fn append_to_file(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn recovers_after_crash_with_garbage_tail() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let b = batch(spec(2, 50));
        {
            let log = PartitionLog::open(path.clone(), small_config())
                .await
                .unwrap();
            for _ in 0..3 {
                append_durable(&log, &b).await;
            }
            drop(log); // no close: the file keeps its zero padding
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        let f = log_files(&path)[0].clone();
        assert_eq!(std::fs::metadata(&f).unwrap().len() % 512, 0, "padded");
        // A torn batch: a valid header prefix of the next offset, then zeros.
        append_to_file(&f, &stored(b.clone(), 6)[..40]);
        append_to_file(&f, &[0u8; 1000]);
        std::fs::write(f.with_extension("index"), [0xffu8; 20]).unwrap();
        let log = PartitionLog::open(path.clone(), small_config())
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), 6);
        let got = log.read(0, 1 << 20, true).await.unwrap();
        assert_eq!(headers(&got).len(), 3);
        assert_eq!(append_durable(&log, &b).await, (6, 7));
        log.close().await.unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().len(), 4 * b.len() as u64);

        // A later batch with a wrong offset (a stale duplicate) is cut too.
        append_to_file(&f, &stored(b.clone(), 2));
        let log = PartitionLog::open(path, small_config()).await.unwrap();
        assert_eq!(log.log_end_offset(), 8);
        log.close().await.unwrap();
    });
}

#[test]
fn rebuilds_missing_or_corrupt_sealed_indexes() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let cfg = LogConfig {
            segment_bytes: 300,
            cache_bytes: 0,
            index_interval_bytes: 100,
            ..small_config()
        };
        let log = PartitionLog::open(path.clone(), cfg.clone()).await.unwrap();
        for i in 0..12 {
            append_durable(&log, &batch(spec(2, i))).await;
        }
        log.close().await.unwrap();
        let files = log_files(&path);
        assert!(files.len() >= 3);
        std::fs::remove_file(files[0].with_extension("index")).unwrap();
        // Entries pointing into the middle of batches.
        let mut bogus = Vec::new();
        bogus.extend(3u32.to_be_bytes());
        bogus.extend(7u32.to_be_bytes());
        std::fs::write(files[1].with_extension("index"), bogus).unwrap();
        std::fs::write(files[1].with_extension("timeindex"), [1u8; 7]).unwrap();
        let log = PartitionLog::open(path, cfg).await.unwrap();
        assert_eq!(log.log_end_offset(), 24);
        for off in 0..24 {
            let got = log.read(off, 1, true).await.unwrap();
            let h = headers(&got)[0];
            assert!(h.base_offset <= off && off <= h.last_offset());
        }
        assert_eq!(log.offset_for_timestamp(5).await.unwrap(), Some((9, 5)));
        log.close().await.unwrap();
    });
}

fn idem(pid: i64, epoch: i16, seq: i32, records: i32) -> Vec<u8> {
    batch(Spec {
        records,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..Spec::default()
    })
}

#[test]
fn idempotent_producer_rules_survive_reopen() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), small_config())
            .await
            .unwrap();
        assert_eq!(append_durable(&log, &idem(9, 0, 0, 2)).await, (0, 1));
        assert_eq!(append_durable(&log, &idem(9, 0, 2, 3)).await, (2, 4));
        let dup = log.append(&Bytes::from(idem(9, 0, 0, 2)), 0, 0).unwrap();
        assert!(dup.duplicate);
        assert_eq!((dup.base_offset, dup.last_offset), (0, 1));
        dup.durable.await.unwrap();
        assert_eq!(log.log_end_offset(), 5);
        let r = log.append(&Bytes::from(idem(9, 0, 9, 1)), 0, 0);
        assert!(matches!(r, Err(AppendError::OutOfOrderSequence)));
        drop(log); // crash-like: state must come back from the log itself
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;

        let log = PartitionLog::open(path, small_config()).await.unwrap();
        let dup = log.append(&Bytes::from(idem(9, 0, 2, 3)), 0, 0).unwrap();
        assert!(dup.duplicate);
        assert_eq!((dup.base_offset, dup.last_offset), (2, 4));
        let r = log.append(&Bytes::from(idem(9, 0, 6, 1)), 0, 0);
        assert!(matches!(r, Err(AppendError::OutOfOrderSequence)));
        assert_eq!(append_durable(&log, &idem(9, 0, 5, 1)).await, (5, 5));
        assert_eq!(append_durable(&log, &idem(9, 1, 0, 1)).await, (6, 6));
        let r = log.append(&Bytes::from(idem(9, 0, 6, 1)), 0, 0);
        assert!(matches!(r, Err(AppendError::InvalidProducerEpoch)));
        log.close().await.unwrap();
    });
}

#[test]
fn duplicate_of_pending_batch_waits_for_it() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), small_config())
            .await
            .unwrap();
        let first = log.append(&Bytes::from(idem(4, 0, 0, 1)), 0, 0).unwrap();
        let dup = log.append(&Bytes::from(idem(4, 0, 0, 1)), 0, 0).unwrap();
        assert!(dup.duplicate && dup.base_offset == 0);
        dup.durable.await.unwrap();
        assert!(
            log.high_watermark() >= 1,
            "duplicate acknowledged before the original"
        );
        first.durable.await.unwrap();
        log.close().await.unwrap();
    });
}

#[test]
fn group_commit_and_wait_for_data() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), small_config())
            .await
            .unwrap();
        let waiter = glommio::spawn_local(log.wait_for_data(0));
        let b = Bytes::from(batch(spec(1, 0)));
        let appends: Vec<_> = (0..50).map(|_| log.append(&b, 0, 0).unwrap()).collect();
        for (i, a) in appends.into_iter().enumerate() {
            assert_eq!(a.base_offset, i as i64);
            a.durable.await.unwrap();
        }
        waiter.await;
        assert_eq!(log.high_watermark(), 50);
        // A dropped waiter leaves nothing behind.
        drop(log.wait_for_data(100));
        log.close().await.unwrap();
        assert!(matches!(log.append(&b, 0, 0), Err(AppendError::Stopped(_))));
    });
}

#[test]
fn periodic_flush_mode() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            flush_interval_ms: Some(5),
            flush_interval_messages: Some(3),
            ..small_config()
        };
        let log = PartitionLog::open(dir.path().join("p"), cfg).await.unwrap();
        for _ in 0..5 {
            append_durable(&log, &batch(spec(1, 0))).await;
        }
        glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(
            log.read(0, 1 << 20, true).await.unwrap().len(),
            5 * batch(spec(1, 0)).len()
        );
        log.delete().await.unwrap();
        assert!(!dir.path().join("p").exists());
    });
}

#[test]
fn segment_ms_rolls() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let cfg = LogConfig {
            segment_ms: 1000,
            ..small_config()
        };
        let log = PartitionLog::open(path.clone(), cfg).await.unwrap();
        let b = Bytes::from(batch(spec(1, 0)));
        log.append(&b, 0, 10_000).unwrap().durable.await.unwrap();
        log.append(&b, 0, 10_500).unwrap().durable.await.unwrap();
        log.append(&b, 0, 11_000).unwrap().durable.await.unwrap();
        assert_eq!(log_files(&path).len(), 2);
        log.close().await.unwrap();
    });
}

#[test]
fn recovery_keeps_exactly_the_complete_batches_at_any_cut() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let b = batch(spec(3, 10));
        let len = b.len() as u64;
        let log = PartitionLog::open(path.clone(), small_config())
            .await
            .unwrap();
        for _ in 0..8 {
            append_durable(&log, &b).await;
        }
        log.close().await.unwrap();
        let f = log_files(&path)[0].clone();
        let full = std::fs::read(&f).unwrap();
        for cut in [
            0,
            1,
            60,
            len - 1,
            len,
            len + 61,
            3 * len + 5,
            8 * len - 1,
            8 * len,
        ] {
            let mut bytes = full[..cut as usize].to_vec();
            // A crash leaves the rest of the last block as padding or as
            // whatever a torn write put there (the real last byte of a batch
            // is often 0, so zeros would not always tear it).
            bytes.resize(cut.next_multiple_of(512) as usize, 0x5a);
            std::fs::write(&f, &bytes).unwrap();
            let log = PartitionLog::open(path.clone(), small_config())
                .await
                .unwrap();
            let complete = (cut / len) as i64;
            assert_eq!(log.log_end_offset(), complete * 3, "cut at {cut}");
            assert_eq!(append_durable(&log, &b).await.0, complete * 3);
            let got = log.read(0, 1 << 20, true).await.unwrap();
            assert_eq!(headers(&got).len() as i64, complete + 1);
            log.close().await.unwrap();
        }
    });
}

#[test]
fn corrupt_sealed_segment_drops_later_segments() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let cfg = LogConfig {
            segment_bytes: 300,
            ..small_config()
        };
        let log = PartitionLog::open(path.clone(), cfg.clone()).await.unwrap();
        let b = batch(spec(2, 0));
        for _ in 0..10 {
            append_durable(&log, &b).await;
        }
        log.close().await.unwrap();
        let files = log_files(&path);
        assert!(files.len() >= 3);
        // Flip a byte in the second batch of the first segment.
        let mut first = std::fs::read(&files[0]).unwrap();
        let at = b.len() + 70;
        first[at] ^= 0xff;
        std::fs::write(&files[0], &first).unwrap();
        let log = PartitionLog::open(path.clone(), cfg).await.unwrap();
        assert_eq!(
            log.log_end_offset(),
            2,
            "no gap: the log ends before the bad batch"
        );
        assert_eq!(log_files(&path).len(), 1);
        assert_eq!(append_durable(&log, &b).await.0, 2);
        log.close().await.unwrap();
    });
}
