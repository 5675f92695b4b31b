//! Tests of the shard-wide hot-tail cache on real logs under glommio: the
//! budget across several logs, the I/O observer, and live config updates
//! racing close, delete and compaction.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::Compression;

use super::tests_maintenance::*;
use super::{CompactionConfig, IoObserver, LogConfig, PartitionLog, ShardStorage};

#[derive(Default)]
struct Counting {
    fsyncs: Cell<u64>,
    commits: Cell<u64>,
    committed_bytes: Cell<u64>,
}

impl IoObserver for Counting {
    fn fsynced(&self, _: Duration) {
        self.fsyncs.set(self.fsyncs.get() + 1);
    }

    fn committed(&self, bytes: u64) {
        self.commits.set(self.commits.get() + 1);
        self.committed_bytes.set(self.committed_bytes.get() + bytes);
    }
}

fn value(log: usize, n: usize) -> String {
    format!("{log}-{n}-{}", "x".repeat(2000))
}

/// Fails the test instead of hanging it.
async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    let limit = async {
        glommio::timer::sleep(Duration::from_secs(secs)).await;
        panic!("{what} did not finish within {secs} s");
    };
    futures_lite::future::or(f, limit).await
}

#[test]
fn logs_of_one_shard_stay_within_the_shared_budget() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let io = Rc::new(Counting::default());
        let shard = ShardStorage::new(64 << 10, io.clone());
        let cfg = LogConfig {
            cache_bytes: usize::MAX,
            ..cfg(1 << 20)
        };
        let mut logs = Vec::new();
        for p in 0..4 {
            let path = dir.path().join(format!("t-{p}"));
            logs.push(
                PartitionLog::open_shared(path, cfg.clone(), &shard)
                    .await
                    .unwrap(),
            );
        }
        for n in 0..80 {
            let (i, v) = (n % 4, value(n % 4, n / 4));
            let b = keyed(&[(Some("k"), Some(v.as_str()))], 1_000, Compression::None);
            put(&logs[i], &b, 0).await;
            let snap = shard.cache.snapshot();
            assert!(snap.used <= snap.limit, "{snap:?}");
        }
        assert!(shard.cache.snapshot().evictions > 0);
        // Each log's newest batch is still cached.
        for log in &logs {
            assert!(!log.read(19, 1 << 20, true).await.unwrap().is_empty());
            assert_eq!(log.stats().cache_hits, 1);
        }
        // Everything reads back at its offset: old batches from the files.
        for (i, log) in logs.iter().enumerate() {
            let got = all_records(log, 0).await;
            let want: Vec<(i64, String)> = (0..20).map(|n| (n, value(i, n as usize))).collect();
            let have: Vec<(i64, String)> = got
                .iter()
                .map(|(o, (_, v))| (*o, String::from_utf8(v.clone().unwrap().to_vec()).unwrap()))
                .collect();
            assert_eq!(have, want);
        }
        let stats = logs
            .iter()
            .map(PartitionLog::stats)
            .fold(super::StatsSnapshot::default(), |a, b| a + b);
        assert!(stats.cache_hits > 0 && stats.cache_misses > 0, "{stats:?}");
        assert_eq!(io.fsyncs.get(), stats.fsyncs);
        assert!(io.commits.get() >= 80 && io.committed_bytes.get() == stats.written_bytes);
        for log in logs {
            log.delete().await.unwrap();
        }
        assert_eq!(shard.cache.snapshot().used, 0);
    });
}

/// Keeps changing the log's config (cache cap included) and appending
/// until told to stop, yielding between changes.
fn poke(log: PartitionLog, stop: Rc<Cell<bool>>) -> glommio::Task<u64> {
    glommio::spawn_local(async move {
        let mut n = 0u64;
        while !stop.get() {
            let caps = [0, 300, usize::MAX];
            log.update_config(LogConfig {
                cache_bytes: caps[n as usize % 3],
                ..cfg(700)
            });
            let _ = log.append(&plain(2, 1_000), 0, 0); // refused once closing
            n += 1;
            glommio::timer::sleep(Duration::from_micros(50)).await;
        }
        n
    })
}

#[test]
fn update_config_racing_close_delete_and_compact_cannot_hang() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let shard = ShardStorage::new(1 << 20, Rc::new(Counting::default()));
        for op in ["compact", "close", "delete"] {
            let path = dir.path().join(op);
            let log = PartitionLog::open_shared(path, cfg(700), &shard)
                .await
                .unwrap();
            for round in 0..20 {
                let v = format!("v{round}");
                let b = keyed(
                    &[(Some("a"), Some(v.as_str()))],
                    1_000 + round,
                    Compression::None,
                );
                put(&log, &b, 0).await;
            }
            let stop = Rc::new(Cell::new(false));
            let poker = poke(log.clone(), stop.clone());
            within(20, op, async {
                match op {
                    "compact" => {
                        let cc = CompactionConfig {
                            min_cleanable_dirty_ratio: 0.0,
                            ..CompactionConfig::default()
                        };
                        log.compact(&cc, 10_000).await.unwrap();
                        log.close().await.unwrap();
                    }
                    "close" => log.close().await.unwrap(),
                    _ => log.clone().delete().await.unwrap(),
                }
            })
            .await;
            stop.set(true);
            assert!(within(20, "poker", poker).await > 0);
            log.update_config(cfg(700)); // after the end too
            assert!(log.append(&plain(1, 1_000), 0, 0).is_err());
        }
        // Every cache gave its bytes back once its log was dropped.
        assert_eq!(shard.cache.snapshot().used, 0);
    });
}

#[test]
fn compaction_drops_rewritten_batches_from_the_cache() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let shard = ShardStorage::new(1 << 20, Rc::new(Counting::default()));
        let log = PartitionLog::open_shared(dir.path().join("p"), cfg(700), &shard)
            .await
            .unwrap();
        for round in 0..20 {
            let v = format!("v{round}");
            let b = keyed(
                &[(Some("a"), Some(v.as_str()))],
                1_000 + round,
                Compression::None,
            );
            put(&log, &b, 0).await;
        }
        let before = shard.cache.snapshot().used;
        let cc = CompactionConfig {
            min_cleanable_dirty_ratio: 0.0,
            ..CompactionConfig::default()
        };
        log.compact(&cc, 10_000).await.unwrap();
        assert!(shard.cache.snapshot().used < before);
        // Only the latest value of the key survives below the active segment.
        let values: Vec<Bytes> = all_records(&log, 0)
            .await
            .into_values()
            .filter_map(|(_, v)| v)
            .collect();
        assert_eq!(values.last().unwrap(), &Bytes::from("v19"));
        assert!(values.len() < 20);
        log.close().await.unwrap();
    });
}
