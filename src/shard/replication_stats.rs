//! What this shard reports about its replicas, read from its replication
//! state and logs: the once-a-second replication metrics snapshot
//! (under-replicated and under-min-ISR partitions led here, each follower's
//! lag) and DescribeLogDirs' size and offset lag of each partition it holds.
//!
//! Must not: change replication state (it only reads), or hold the
//! `replication` borrow across an await.

use std::path::Path;

use super::topics::partition_dir;
use super::Shard;
use crate::metrics::replication::{FollowerLag, ReplicationSnapshot};
use crate::replication::leader::LeaderState;
use crate::storage::PartitionLog;

/// DescribeLogDirs' facts about one partition held here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogDirEntry {
    /// Bytes of the partition's files on disk.
    pub size: i64,
    /// 0 on the leader; on a follower, how far its log end trails the
    /// leader's high watermark as last seen.
    pub offset_lag: i64,
}

/// The replication gauges of this shard now (`now_ms`: the clock).
pub fn snapshot(shard: &Shard, now_ms: i64) -> ReplicationSnapshot {
    let rep = shard.replication.borrow();
    let mut out = ReplicationSnapshot::default();
    for (topic, partition, l) in rep.leaders.iter() {
        let committed = l.state.committed();
        if committed.isr.len() < committed.replicas.len() {
            out.under_replicated += 1;
        }
        let min_isr = shard.topic_config(topic).min_insync_replicas.max(1) as usize;
        if committed.isr.len() < min_isr {
            out.under_min_isr += 1;
        }
        let Some(log) = shard.log(topic, partition) else {
            continue;
        };
        let end = log.log_end_offset();
        out.followers
            .extend(
                lags(&l.state, end, now_ms).map(|(replica, messages, ms)| FollowerLag {
                    topic: topic.to_string(),
                    partition,
                    replica,
                    messages,
                    ms,
                }),
            );
    }
    out
}

/// (replica, messages behind `log_end`, ms since caught up) of each
/// follower. One that has not fetched in this epoch (durable end -1) is
/// known to hold nothing: its lag is the whole log.
fn lags(
    state: &LeaderState,
    log_end: i64,
    now_ms: i64,
) -> impl Iterator<Item = (i32, i64, i64)> + '_ {
    state.committed().replicas.iter().filter_map(move |r| {
        let p = state.follower(*r)?;
        let messages = (log_end - p.durable_end.max(0)).max(0);
        Some((*r, messages, (now_ms - p.last_caught_up_ms).max(0)))
    })
}

/// Whether a committed ISR change from `before` to `after` removed a
/// replica (a shrink) and whether it added one (an expansion); a
/// reassignment may do both.
pub fn isr_change(before: &[i32], after: &[i32]) -> (bool, bool) {
    let shrank = before.iter().any(|r| !after.contains(r));
    let expanded = after.iter().any(|r| !before.contains(r));
    (shrank, expanded)
}

/// DescribeLogDirs' entry for a partition, if this shard holds it.
pub fn log_dir_entry(shard: &Shard, topic: &str, partition: i32) -> Option<LogDirEntry> {
    let log = shard.log(topic, partition)?;
    let size = dir_size(&partition_dir(&shard.data_dir, topic, partition)) as i64;
    Some(LogDirEntry {
        size,
        offset_lag: offset_lag(shard, topic, partition, &log),
    })
}

fn offset_lag(shard: &Shard, topic: &str, partition: i32, log: &PartitionLog) -> i64 {
    let rep = shard.replication.borrow();
    if rep.leaders.contains(topic, partition) {
        return 0;
    }
    let seen = rep
        .sessions
        .values()
        .find_map(|s| {
            let fetch = s.fetch.borrow();
            fetch.get(topic, partition).map(|f| f.leader_high_watermark)
        })
        .unwrap_or(-1);
    (seen - log.log_end_offset()).max(0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::leader::Committed;

    #[test]
    fn isr_changes_are_told_apart() {
        assert_eq!(isr_change(&[1, 2, 3], &[1, 3]), (true, false));
        assert_eq!(isr_change(&[1, 3], &[1, 2, 3]), (false, true));
        assert_eq!(isr_change(&[1, 2], &[1, 3]), (true, true));
        assert_eq!(isr_change(&[1, 2], &[2, 1]), (false, false));
    }

    #[test]
    fn follower_lag_is_measured_from_the_leader_log_end() {
        let committed = Committed {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader_epoch: 1,
            partition_epoch: 1,
        };
        let mut s = LeaderState::new(1, committed, 0, 0, 1_000, 10_000);
        s.on_local_durable(100);
        s.on_fetch(2, 7, 100, 1_500);
        s.on_fetch(3, 7, 60, 1_500);
        let got: Vec<_> = lags(&s, 120, 2_000).collect();
        // 2 caught up at 1500; 3 never reached the durable end since 1000.
        assert_eq!(got, vec![(2, 20, 500), (3, 60, 1_000)]);
        let fresh = LeaderState::new(
            1,
            Committed {
                replicas: vec![1, 2],
                isr: vec![1],
                leader_epoch: 2,
                partition_epoch: 1,
            },
            0,
            50,
            2_000,
            10_000,
        );
        assert_eq!(
            lags(&fresh, 50, 2_000).collect::<Vec<_>>(),
            vec![(2, 50, 0)]
        );
    }
}
