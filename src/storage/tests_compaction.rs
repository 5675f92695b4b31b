//! Compaction tests on real files under glommio: latest value per key at
//! original offsets across codecs, min lag, tombstone horizon, producer
//! state, and a crash at every step of the swap.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::cleaner::CRASH_AFTER_STEP;
use super::tests_maintenance::*;
use super::{CompactionConfig, PartitionLog};

/// Appends `rounds` rounds of values for keys k0..k{keys}, cycling codecs,
/// plus an unkeyed record per batch. Returns the latest value per key.
async fn fill_keyed(
    log: &PartitionLog,
    rounds: usize,
    keys: usize,
    ts: i64,
) -> BTreeMap<String, (i64, String)> {
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Gzip,
        Compression::Snappy,
    ];
    let mut latest = BTreeMap::new();
    for round in 0..rounds {
        let names: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
        let values: Vec<String> = (0..keys).map(|k| format!("v{round}-{k}")).collect();
        let mut recs: Vec<Kv<'_>> = names
            .iter()
            .zip(&values)
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        recs.push((None, Some("nokey")));
        let b = keyed(&recs, ts + round as i64, codecs[round % codecs.len()]);
        let (base, _) = put(log, &b, 0).await;
        for (i, (k, v)) in names.iter().zip(&values).enumerate() {
            latest.insert(k.clone(), (base + i as i64, v.clone()));
        }
    }
    latest
}

#[test]
fn compaction_keeps_latest_value_per_key_at_original_offsets() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let c = cfg(700);
        let log = PartitionLog::open(path.clone(), c.clone()).await.unwrap();
        let latest = fill_keyed(&log, 20, 4, 1_000).await;
        let before = all_records(&log, 0).await;
        let active_base = last_segment_base(&path);
        // The key map covers the closed segments only.
        let mut closed_latest: BTreeMap<Bytes, i64> = BTreeMap::new();
        for (off, (k, _)) in before.range(..active_base) {
            if let Some(k) = k {
                closed_latest.insert(k.clone(), *off);
            }
        }
        let cc = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        let stats = log.compact(&cc, 10_000).await.unwrap();
        assert!(!stats.skipped && stats.segments_rewritten >= 2, "{stats:?}");
        assert!(stats.records_removed > 0 && stats.bytes_written < stats.bytes_read);
        let check = |after: &BTreeMap<i64, (Option<Bytes>, Option<Bytes>)>| {
            for (off, (k, v)) in &before {
                let kept = after.get(off);
                let key = k.as_ref().map(|k| String::from_utf8(k.to_vec()).unwrap());
                let want = match k {
                    None => true,
                    Some(k) => closed_latest[k] == *off || *off >= active_base,
                };
                assert_eq!(kept.is_some(), want, "offset {off} key {key:?}");
                if let Some(kv) = kept {
                    assert_eq!(kv, &(k.clone(), v.clone()), "offset {off}");
                }
            }
            let kept = before.iter().filter(|(o, (k, _))| {
                k.is_none() || **o >= active_base || closed_latest.values().any(|l| l == *o)
            });
            assert_eq!(after.len(), kept.count());
        };
        let after = all_records(&log, 0).await;
        check(&after);
        for (k, (off, v)) in &latest {
            let (rk, rv) = &after[off];
            assert_eq!(rk.as_deref(), Some(k.as_bytes()));
            assert_eq!(rv.as_deref(), Some(v.as_bytes()));
        }
        // Codecs are kept, batches keep their last offset.
        let hs = all_headers(&log, 0).await;
        assert!(hs.iter().any(|h| h.compression() == 3) && hs.iter().any(|h| h.compression() == 4));
        // Partly filtered batches: only the unkeyed record left, last offset kept.
        assert!(hs
            .iter()
            .any(|h| h.record_count == 1 && h.last_offset_delta == 4 && h.compression() == 4));
        // Recovery reads the gaps; appends continue.
        log.close().await.unwrap();
        let log = PartitionLog::open(path.clone(), c).await.unwrap();
        check(&all_records(&log, 0).await);
        let end = log.log_end_offset();
        assert_eq!(put(&log, &plain(1, 99_999), 0).await.0, end);
        // A second run finds nothing dirty enough.
        let cc = CompactionConfig::default();
        assert!(log.compact(&cc, 20_000).await.unwrap().skipped);
        log.close().await.unwrap();
    });
}

#[test]
fn compaction_respects_min_lag_and_never_touches_active() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), cfg(1 << 20))
            .await
            .unwrap();
        fill_keyed(&log, 5, 3, 1_000).await;
        let cc = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        // One (active) segment: nothing is cleanable.
        assert!(log.compact(&cc, 10_000).await.unwrap().skipped);
        log.update_config(cfg(300));
        fill_keyed(&log, 5, 3, 5_000).await;
        let lagged = CompactionConfig {
            min_compaction_lag_ms: 1_000_000,
            ..cc.clone()
        };
        assert!(log.compact(&lagged, 10_000).await.unwrap().skipped);
        assert!(!log.compact(&cc, 10_000).await.unwrap().skipped);
        log.close().await.unwrap();
    });
}

#[test]
fn tombstones_dropped_only_after_delete_retention() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path().join("p"), cfg(300))
            .await
            .unwrap();
        let (a0, _) = put(
            &log,
            &keyed(
                &[(Some("a"), Some("1")), (Some("b"), Some("2"))],
                10,
                Compression::None,
            ),
            0,
        )
        .await;
        let (t, _) = put(&log, &keyed(&[(Some("a"), None)], 20, Compression::Lz4), 0).await;
        for i in 0..6 {
            put(
                &log,
                &keyed(&[(Some("c"), Some("x"))], 30 + i, Compression::None),
                0,
            )
            .await;
        }
        let cc = CompactionConfig {
            delete_retention_ms: 1_000,
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        log.compact(&cc, 5_000).await.unwrap();
        let recs = all_records(&log, 0).await;
        assert!(!recs.contains_key(&a0), "old value of a removed");
        assert!(recs.contains_key(&(a0 + 1)), "b kept");
        assert_eq!(
            recs[&t],
            (Some(Bytes::from_static(b"a")), None),
            "tombstone kept"
        );
        log.compact(&cc, 5_999).await.unwrap();
        assert!(
            all_records(&log, 0).await.contains_key(&t),
            "horizon not reached"
        );
        let stats = log.compact(&cc, 6_000).await.unwrap();
        assert!(stats.records_removed >= 1);
        let recs = all_records(&log, 0).await;
        assert!(
            !recs.contains_key(&t),
            "tombstone dropped after delete.retention.ms"
        );
        assert!(recs.contains_key(&(a0 + 1)));
        log.close().await.unwrap();
    });
}

#[test]
fn idempotent_producer_state_survives_compaction() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let log = PartitionLog::open(path.clone(), cfg(300)).await.unwrap();
        let idem = |seq: i32| {
            let recs = [Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: 42,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: 0,
                sequence: seq,
                timestamp: 100,
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v")),
                headers: Default::default(),
            }];
            let mut buf = BytesMut::new();
            let opts = RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            };
            RecordBatchEncoder::encode(&mut buf, &recs, &opts).unwrap();
            buf.freeze()
        };
        put(&log, &idem(0), 0).await;
        put(&log, &idem(1), 0).await;
        // Newer values of "k" from another (non-idempotent) writer.
        for i in 0..6 {
            put(
                &log,
                &keyed(&[(Some("k"), Some("w"))], 200 + i, Compression::None),
                0,
            )
            .await;
        }
        let cc = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        log.compact(&cc, 10_000).await.unwrap();
        let hs = all_headers(&log, 0).await;
        assert!(hs.iter().all(|h| h.base_offset != 0), "first batch removed");
        assert_eq!(hs[0].base_offset, 1);
        assert_eq!(hs[0].record_count, 0, "producer's last batch kept empty");
        drop(log);
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        let log = PartitionLog::open(path, cfg(300)).await.unwrap();
        let dup = log.append(&idem(1), 0, 0).unwrap();
        assert!(dup.duplicate && dup.base_offset == 1);
        log.close().await.unwrap();
    });
}

#[test]
fn crash_at_any_compaction_step_leaves_a_complete_log() {
    for step in 1..=4u8 {
        run(move || async move {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            let c = cfg(700);
            let log = PartitionLog::open(path.clone(), c.clone()).await.unwrap();
            let latest = fill_keyed(&log, 12, 4, 1_000).await;
            let before = all_records(&log, 0).await;
            let cc = CompactionConfig {
                min_cleanable_dirty_ratio: 0.0,
                ..CompactionConfig::default()
            };
            CRASH_AFTER_STEP.with(|s| s.set(step));
            assert!(log.compact(&cc, 10_000).await.is_err());
            CRASH_AFTER_STEP.with(|s| s.set(0));
            assert!(!leftovers(&path).is_empty() || step == 0, "step {step}");
            drop(log); // as after kill -9: no close
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;

            let log = PartitionLog::open(path.clone(), c.clone()).await.unwrap();
            assert!(
                leftovers(&path).is_empty(),
                "step {step}: {:?}",
                leftovers(&path)
            );
            let after = all_records(&log, 0).await;
            // Every latest value is there, nothing appeared, values match.
            for (off, v) in &after {
                assert_eq!(Some(v), before.get(off), "step {step} offset {off}");
            }
            for (off, _) in latest.values() {
                assert!(after.contains_key(off), "step {step}: latest at {off} lost");
            }
            let swapped = after.len() < before.len();
            assert_eq!(swapped, step >= 3, "step {step}: first segment swapped?");
            assert_eq!(log.log_end_offset(), *before.keys().last().unwrap() + 1);
            // And a full compaction still works afterwards.
            log.compact(&cc, 10_000).await.unwrap();
            for (off, _) in latest.values() {
                assert!(all_records(&log, 0).await.contains_key(off));
            }
            log.close().await.unwrap();
        });
    }
}
