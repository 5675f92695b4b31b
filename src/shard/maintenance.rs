//! Each shard's background log maintenance: retention (delete policy) every
//! log.retention.check.interval.ms and compaction (compact policy) every
//! log.cleaner.backoff.ms, over the partitions this shard owns.
//!
//! Runs in its own glommio task queue with a small share, so under load the
//! produce and fetch path gets the CPU first; the storage calls themselves
//! yield between chunks. One partition at a time per shard.

use std::rc::Rc;
use std::time::Duration;

use glommio::{Latency, Shares};

use super::Shard;
use crate::config::topic::TopicConfig;
use crate::storage::{CompactionConfig, PartitionLog};
use crate::util::now_ms;

/// Starts the maintenance loop on the current executor.
pub fn spawn(shard: Rc<Shard>) {
    let queue = glommio::executor().create_task_queue(
        Shares::Static(100),
        Latency::NotImportant,
        "maintenance",
    );
    let task = glommio::spawn_local_into(run(shard), queue);
    match task {
        Ok(task) => drop(task.detach()),
        Err(e) => tracing::error!("cannot start log maintenance: {e}"),
    }
}

fn setting(shard: &Shard, name: &str, default: i64) -> i64 {
    shard
        .config
        .entries()
        .into_iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.parse().ok())
        .unwrap_or(default)
}

async fn run(shard: Rc<Shard>) {
    let retention_every = setting(&shard, "log.retention.check.interval.ms", 300_000).max(10);
    let cleaner_every = setting(&shard, "log.cleaner.backoff.ms", 15_000).max(10);
    let cleaner_on = shard
        .config
        .entries()
        .iter()
        .any(|e| e.name == "log.cleaner.enable" && e.value == "true");
    let (mut next_retention, mut next_clean) =
        (now_ms() + retention_every, now_ms() + cleaner_every);
    while !shard.stopping.get() {
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let now = now_ms();
        if now >= next_retention {
            next_retention = now + retention_every;
            for (topic, partition, log, cfg) in owned(&shard) {
                if cfg.delete && !shard.stopping.get() {
                    retain(&topic, partition, &log, &cfg).await;
                }
            }
        }
        if cleaner_on && now >= next_clean {
            next_clean = now + cleaner_every;
            for (topic, partition, log, cfg) in owned(&shard) {
                if cfg.compact && !shard.stopping.get() {
                    compact(&topic, partition, &log, &cfg).await;
                }
            }
        }
    }
}

/// A snapshot of the owned logs with their topic's config: the loop must
/// not hold the shard's borrows across awaits.
fn owned(shard: &Shard) -> Vec<(String, i32, PartitionLog, Rc<TopicConfig>)> {
    let logs = shard.logs.borrow();
    let mut out = Vec::new();
    for (topic, partitions) in logs.iter() {
        let cfg = shard.topic_config(topic);
        for (p, log) in partitions {
            out.push((topic.clone(), *p, log.clone(), cfg.clone()));
        }
    }
    out
}

async fn retain(topic: &str, partition: i32, log: &PartitionLog, cfg: &TopicConfig) {
    if cfg.retention_ms < 0 && cfg.retention_bytes < 0 {
        return;
    }
    match log
        .enforce_retention(cfg.retention_ms, cfg.retention_bytes, now_ms())
        .await
    {
        Ok(o) if o.segments_deleted > 0 => tracing::info!(
            topic,
            partition,
            segments = o.segments_deleted,
            bytes = o.bytes_deleted,
            log_start = o.log_start_offset,
            "retention deleted segments"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(topic, partition, "retention: {e}"),
    }
}

async fn compact(topic: &str, partition: i32, log: &PartitionLog, cfg: &TopicConfig) {
    let config = CompactionConfig {
        delete_retention_ms: cfg.delete_retention_ms,
        min_compaction_lag_ms: cfg.min_compaction_lag_ms,
        max_compaction_lag_ms: cfg.max_compaction_lag_ms,
        min_cleanable_dirty_ratio: cfg.min_cleanable_dirty_ratio,
    };
    match log.compact(&config, now_ms()).await {
        Ok(s) if !s.skipped => tracing::info!(
            topic,
            partition,
            read = s.bytes_read,
            written = s.bytes_written,
            removed = s.records_removed,
            "compacted"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(topic, partition, "compaction: {e}"),
    }
}
