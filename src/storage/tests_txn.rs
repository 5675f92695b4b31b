//! Tests of the log's transactional side: the last stable offset,
//! read_committed reads, the aborted-transaction list, markers, and all of
//! it after a reopen (rebuilt by the replay) and on a replica.

use bytes::Bytes;

use super::batch::testing::{batch, transactional, Spec};
use super::tests_maintenance::run;
use super::tests_replica::{cfg, headers, join, open};
use super::txn_log::MarkerSpec;
use super::txn_state::Marker;
use super::{AppendError, PartitionLog, ReadData};

fn txn_batch(pid: i64, seq: i32, records: i32) -> Vec<u8> {
    transactional(Spec {
        records,
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        ..Spec::default()
    })
}

fn plain(records: i32) -> Vec<u8> {
    batch(Spec {
        records,
        ..Spec::default()
    })
}

async fn append(log: &PartitionLog, b: Vec<u8>) -> (i64, i64) {
    let a = log.append(&Bytes::from(b), 0, 0).unwrap();
    a.durable.await.unwrap();
    (a.base_offset, a.last_offset)
}

async fn mark(log: &PartitionLog, pid: i64, marker: Marker) -> i64 {
    let spec = MarkerSpec {
        producer_id: pid,
        producer_epoch: 0,
        marker,
        coordinator_epoch: 3,
    };
    let a = log.append_marker(spec, 0, 0).unwrap();
    a.durable.await.unwrap();
    a.last_offset
}

/// Last offsets of the batches a read_committed read from `from` returns.
async fn committed_batches(log: &PartitionLog, from: i64) -> Vec<i64> {
    let bytes = match log.read_data_committed(from, 1 << 20, true).await.unwrap() {
        ReadData::Memory(batches) => batches.concat(),
        ReadData::File(slice) => {
            use std::os::unix::fs::FileExt;
            let file = std::fs::File::from(slice.file);
            let mut buf = vec![0u8; slice.len as usize];
            file.read_exact_at(&mut buf, slice.pos).unwrap();
            buf
        }
    };
    headers(&bytes).iter().map(|h| h.last_offset()).collect()
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_marker() {
    // Without a cache the committed read is a file slice (the splice path).
    for cache in [0, 1 << 20] {
        committed_reads_stop_at_the_open_transaction(cache);
    }
}

fn committed_reads_stop_at_the_open_transaction(cache: usize) {
    run(move || async move {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(cache, 1 << 20)).await;
        assert_eq!(append(&log, txn_batch(7, 0, 3)).await, (0, 2));
        assert_eq!(append(&log, plain(1)).await, (3, 3));
        assert_eq!(log.high_watermark(), 4);
        assert_eq!(log.last_stable_offset(), 0);
        assert!(log.has_open_transaction(7));
        // Ongoing for its producer at its epoch only (verification is spared).
        assert!(log.has_ongoing_transaction(7, 0));
        assert!(!log.has_ongoing_transaction(7, 1) && !log.has_ongoing_transaction(8, 0));
        assert_eq!(committed_batches(&log, 0).await, Vec::<i64>::new());
        assert_eq!(mark(&log, 7, Marker::Commit).await, 4);
        assert_eq!(log.last_stable_offset(), 5);
        assert!(!log.has_open_transaction(7));
        assert!(!log.has_ongoing_transaction(7, 0));
        assert_eq!(committed_batches(&log, 0).await, vec![2, 3, 4]);
        assert_eq!(log.aborted_transactions(0, 5), vec![]);
        log.close().await.unwrap();
    });
}

#[test]
fn aborted_transactions_are_listed_for_the_reads_they_overlap() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        // pid 1 opens at 0, pid 2 at 2; pid 1 commits at 4, pid 2 stays
        // open: the LSO is pid 2's first offset.
        append(&log, txn_batch(1, 0, 2)).await;
        append(&log, txn_batch(2, 0, 2)).await;
        mark(&log, 1, Marker::Commit).await;
        assert_eq!(log.last_stable_offset(), 2);
        assert_eq!(committed_batches(&log, 0).await, vec![1]);
        append(&log, plain(1)).await; // 5
        assert_eq!(mark(&log, 2, Marker::Abort).await, 6);
        assert_eq!(log.last_stable_offset(), 7);
        assert_eq!(log.aborted_transactions(0, 7), vec![(2, 2)]);
        assert_eq!(log.aborted_transactions(3, 4), vec![(2, 2)]);
        assert_eq!(log.aborted_transactions(7, 9), vec![]);
        assert_eq!(log.aborted_transactions(0, 2), vec![]);
        // An abort with nothing written (a partition added, never used).
        assert_eq!(mark(&log, 9, Marker::Abort).await, 7);
        assert_eq!(log.aborted_transactions(0, 8), vec![(2, 2), (9, 7)]);
        // Reopened: rebuilt from the log.
        append(&log, txn_batch(3, 0, 1)).await; // 8, left open
        log.close().await.unwrap();
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        assert_eq!(log.last_stable_offset(), 8);
        assert!(log.has_open_transaction(3));
        assert_eq!(log.aborted_transactions(0, 8), vec![(2, 2), (9, 7)]);
        log.close().await.unwrap();
    });
}

#[test]
fn a_marker_above_the_high_watermark_keeps_its_transaction_unstable() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        log.set_high_watermark(Some(0));
        let a = log.append(&Bytes::from(txn_batch(4, 0, 2)), 0, 0).unwrap();
        a.durable.await.unwrap();
        let spec = MarkerSpec {
            producer_id: 4,
            producer_epoch: 0,
            marker: Marker::Commit,
            coordinator_epoch: 0,
        };
        log.append_marker(spec, 0, 0)
            .unwrap()
            .durable
            .await
            .unwrap();
        // Followers have the data but not the marker yet.
        log.set_high_watermark(Some(2));
        assert_eq!(log.last_stable_offset(), 0);
        log.set_high_watermark(Some(3));
        assert_eq!(log.last_stable_offset(), 3);
        log.close().await.unwrap();
    });
}

#[test]
fn clients_cannot_write_control_batches() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        let marker = super::records::encode_marker(
            &MarkerSpec {
                producer_id: 5,
                producer_epoch: 0,
                marker: Marker::Commit,
                coordinator_epoch: 0,
            },
            0,
        )
        .unwrap();
        let r = log.append(&marker, 0, 0);
        assert!(matches!(r, Err(AppendError::InvalidRecord(_))), "{r:?}");
        assert_eq!(log.log_end_offset(), 0);
        log.close().await.unwrap();
    });
}

#[test]
fn a_replica_tracks_transactions_from_the_leaders_bytes() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let leader = open(&dir.path().join("leader"), cfg(1 << 20, 1 << 20)).await;
        append(&leader, txn_batch(6, 0, 2)).await;
        mark(&leader, 6, Marker::Abort).await;
        let bytes = leader.read(0, 1 << 20, true).await.unwrap();
        let replica = open(&dir.path().join("replica"), cfg(1 << 20, 1 << 20)).await;
        let a = replica.append_replica(&join(&[bytes.to_vec()]), 0).unwrap();
        a.durable.await.unwrap();
        assert_eq!(replica.aborted_transactions(0, 3), vec![(6, 0)]);
        assert_eq!(replica.last_stable_offset(), 3);
        leader.close().await.unwrap();
        replica.close().await.unwrap();
    });
}

#[test]
fn a_marker_of_an_older_epoch_is_refused() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = open(&dir.path().join("p"), cfg(1 << 20, 1 << 20)).await;
        let epoch_2 = transactional(Spec {
            producer_id: 8,
            producer_epoch: 2,
            base_sequence: 0,
            ..Spec::default()
        });
        append(&log, epoch_2).await;
        let spec = |producer_epoch| MarkerSpec {
            producer_id: 8,
            producer_epoch,
            marker: Marker::Abort,
            coordinator_epoch: 0,
        };
        let r = log.append_marker(spec(1), 0, 0);
        assert!(matches!(r, Err(AppendError::InvalidProducerEpoch)), "{r:?}");
        assert!(log.has_open_transaction(8));
        log.append_marker(spec(2), 0, 0)
            .unwrap()
            .durable
            .await
            .unwrap();
        assert_eq!(log.aborted_transactions(0, 2), vec![(8, 0)]);
        log.close().await.unwrap();
    });
}

/// A keyed transactional batch of `pid` (epoch 0, sequences from `seq`).
fn txn_keyed(pid: i64, seq: i32, key: &str, value: &str) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: pid,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: seq,
        timestamp: 1_000,
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &[record], &opts).unwrap();
    buf.freeze()
}

#[test]
fn compaction_removes_aborted_records_and_leaves_undecided_ones_alone() {
    use super::tests_maintenance::{all_headers, all_records, cfg as small_segments, keyed, put};
    use super::CompactionConfig;
    use kafka_protocol::records::Compression;
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), small_segments(700))
            .await
            .unwrap();
        let filler = |n: usize| {
            keyed(
                &[(Some("f"), Some(&*format!("f{n}")))],
                1_000,
                Compression::None,
            )
        };
        put(
            &log,
            &keyed(&[(Some("k"), Some("v1"))], 1_000, Compression::None),
            0,
        )
        .await;
        assert_eq!(put(&log, &txn_keyed(9, 0, "k", "aborted"), 0).await, (1, 1));
        assert_eq!(mark(&log, 9, Marker::Abort).await, 2);
        for n in 0..10 {
            put(&log, &filler(n), 0).await;
        }
        let (open_at, _) = put(&log, &txn_keyed(10, 0, "k", "undecided"), 0).await;
        for n in 10..20 {
            put(&log, &filler(n), 0).await;
        }
        assert_eq!(log.last_stable_offset(), open_at);
        let compaction = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        let stats = log.compact(&compaction, 10_000).await.unwrap();
        assert!(!stats.skipped && stats.records_removed > 0, "{stats:?}");
        let check = |records: std::collections::BTreeMap<i64, (Option<Bytes>, Option<Bytes>)>| {
            let value = |o: i64| records.get(&o).and_then(|(_, v)| v.clone());
            // An aborted value does not replace the committed one, and a
            // value of an undecided transaction is not cleaned away.
            assert_eq!(value(0).as_deref(), Some(&b"v1"[..]));
            assert_eq!(value(1), None, "the aborted record is removed");
            assert_eq!(value(open_at).as_deref(), Some(&b"undecided"[..]));
        };
        check(all_records(&log, 0).await);
        let markers: Vec<i64> = all_headers(&log, 0)
            .await
            .iter()
            .filter(|h| h.is_control())
            .map(|h| h.base_offset)
            .collect();
        assert_eq!(markers, vec![2], "the marker is kept");
        log.close().await.unwrap();
        let log = PartitionLog::open(path, small_segments(700)).await.unwrap();
        assert_eq!(log.last_stable_offset(), open_at);
        check(all_records(&log, 0).await);
        log.close().await.unwrap();
    });
}

#[test]
fn a_marker_from_an_older_coordinator_epoch_is_fenced() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        let spec = |coordinator_epoch| MarkerSpec {
            producer_id: 12,
            producer_epoch: 0,
            marker: Marker::Commit,
            coordinator_epoch,
        };
        append(&log, txn_batch(12, 0, 1)).await;
        log.append_marker(spec(5), 0, 0)
            .unwrap()
            .durable
            .await
            .unwrap();
        append(&log, txn_batch(12, 1, 1)).await;
        let r = log.append_marker(spec(4), 0, 0);
        assert!(matches!(r, Err(AppendError::CoordinatorFenced)), "{r:?}");
        log.close().await.unwrap();
        // Rebuilt from the log: still fenced; the current epoch is not.
        let log = open(&path, cfg(1 << 20, 1 << 20)).await;
        let r = log.append_marker(spec(4), 0, 0);
        assert!(matches!(r, Err(AppendError::CoordinatorFenced)), "{r:?}");
        log.append_marker(spec(5), 0, 0)
            .unwrap()
            .durable
            .await
            .unwrap();
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
        log.close().await.unwrap();
    });
}
