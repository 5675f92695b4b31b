//! A follower's fetch session with one leader broker, sans-IO: which
//! partitions it copies from that leader, the Fetch request that asks for
//! them, and what to do with each partition's answer.
//!
//! One session exists per (shard, leader broker): the shard that owns a
//! partition fetches it, together with all its other partitions led by the
//! same broker, in one request at a time. The I/O loop around it (in
//! `shard::replica_fetcher`) reads the local logs into [`LocalLog`]s, sends
//! the request, applies each [`Step`] (append, truncate), waits until the
//! appends are durable and only then asks again: the fetch offset a leader
//! sees is always the follower's durable end.
//!
//! Truncation follows Kafka's fetch-based protocol (KIP-320, Fetch v12+):
//! the request carries the epoch of the follower's last batch; a leader whose
//! log diverges answers with the end offset of that epoch in its log; the
//! follower truncates to the lower of that and its own end of the epoch, and
//! the next fetch checks again until the logs agree.
//!
//! Must not: hold a partition in two sessions (the shard moves it when the
//! leader changes), or fetch a partition while it waits out a backoff.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A partition this session fetches.
#[derive(Clone, Debug, PartialEq)]
pub struct Followed {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    /// The leader epoch the follower knows from its metadata image.
    pub leader_epoch: i32,
    /// Not fetched before this time (ms) after an error.
    pub retry_at_ms: i64,
    /// The high watermark of the leader's last successful answer (-1
    /// before one): how far this replica is behind what the leader has
    /// committed (DescribeLogDirs' offset lag). Not capped at the local
    /// log end, unlike the high watermark the local log takes.
    pub leader_high_watermark: i64,
}

/// What the follower's log looks like now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalLog {
    pub log_start: i64,
    /// Equal to the durable end when a request is built (see the module doc).
    pub log_end: i64,
    pub latest_epoch: Option<i32>,
}

/// One partition of the next Fetch request.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchPlan {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
}

/// One partition of the leader's answer (records travel separately).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// (epoch, end offset) when the leader found the logs diverging.
    pub diverging: Option<(i32, i64)>,
}

/// What the I/O loop does with a partition's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Append the records (if any) as they came, then take the leader's
    /// high watermark (capped at the local log end).
    Append { high_watermark: i64 },
    /// Remove everything from `offset` on, then fetch again.
    Truncate { offset: i64 },
    /// The fetch offset is below the leader's log start: empty the log and
    /// restart it at `start`.
    Restart { start: i64 },
    /// Nothing now; the partition waits out its backoff.
    Backoff,
}

/// A follower's session with one leader. See the module doc.
#[derive(Debug, Default)]
pub struct FetchSession {
    partitions: BTreeMap<(String, i32), Followed>,
    backoff_ms: i64,
}

impl FetchSession {
    pub fn new(backoff_ms: i64) -> FetchSession {
        FetchSession {
            partitions: BTreeMap::new(),
            backoff_ms,
        }
    }

    /// Starts following a partition, or takes its new leader epoch (clearing
    /// any backoff: the new epoch may well answer).
    pub fn follow(&mut self, topic: &str, topic_id: Uuid, partition: i32, leader_epoch: i32) {
        let key = (topic.to_string(), partition);
        let entry = self.partitions.entry(key).or_insert_with(|| Followed {
            topic: topic.to_string(),
            topic_id,
            partition,
            leader_epoch,
            retry_at_ms: 0,
            leader_high_watermark: -1,
        });
        if entry.leader_epoch != leader_epoch || entry.topic_id != topic_id {
            entry.leader_epoch = leader_epoch;
            entry.topic_id = topic_id;
            entry.retry_at_ms = 0;
        }
    }

    pub fn unfollow(&mut self, topic: &str, partition: i32) -> Option<Followed> {
        self.partitions.remove(&(topic.to_string(), partition))
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn followed(&self) -> impl Iterator<Item = &Followed> {
        self.partitions.values()
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<&Followed> {
        self.partitions.get(&(topic.to_string(), partition))
    }

    /// The partitions to ask for now, from their local logs (`local` None:
    /// the log is not open here, skip it). Empty when all are backing off.
    pub fn plan(
        &self,
        now_ms: i64,
        local: impl Fn(&str, i32) -> Option<LocalLog>,
    ) -> Vec<FetchPlan> {
        self.partitions
            .values()
            .filter(|f| f.retry_at_ms <= now_ms)
            .filter_map(|f| {
                let log = local(&f.topic, f.partition)?;
                Some(FetchPlan {
                    topic: f.topic.clone(),
                    topic_id: f.topic_id,
                    partition: f.partition,
                    current_leader_epoch: f.leader_epoch,
                    fetch_offset: log.log_end,
                    last_fetched_epoch: log.latest_epoch.unwrap_or(-1),
                    log_start_offset: log.log_start,
                })
            })
            .collect()
    }

    /// Holds a partition back for the backoff (its answer could not be
    /// applied locally, e.g. a storage error).
    pub fn back_off(&mut self, topic: &str, partition: i32, now_ms: i64) {
        if let Some(f) = self.partitions.get_mut(&(topic.to_string(), partition)) {
            f.retry_at_ms = now_ms + self.backoff_ms;
        }
    }

    /// The earliest time a backing-off partition may be fetched again.
    pub fn next_retry_ms(&self) -> Option<i64> {
        self.partitions.values().map(|f| f.retry_at_ms).min()
    }

    /// What to do with `reply` to a fetch of `plan`. `local_end_for_epoch`
    /// is the follower log's own `end_offset_for_epoch`.
    pub fn on_reply(
        &mut self,
        plan: &FetchPlan,
        reply: &Reply,
        now_ms: i64,
        local_end_for_epoch: impl Fn(i32) -> Option<(i32, i64)>,
    ) -> Step {
        let key = (plan.topic.clone(), plan.partition);
        let Some(followed) = self.partitions.get_mut(&key) else {
            return Step::Backoff; // unfollowed while the request was out
        };
        if followed.leader_epoch != plan.current_leader_epoch {
            return Step::Backoff; // a new epoch: this answer is stale
        }
        if reply.error_code == 0 {
            followed.leader_high_watermark = reply.high_watermark;
            return match reply.diverging {
                Some((epoch, end)) => Step::Truncate {
                    offset: truncation_offset(plan, epoch, end, local_end_for_epoch),
                },
                None => Step::Append {
                    high_watermark: reply.high_watermark,
                },
            };
        }
        if reply.error_code == ResponseError::OffsetOutOfRange.code()
            && reply.log_start_offset > plan.fetch_offset
        {
            return Step::Restart {
                start: reply.log_start_offset,
            };
        }
        // NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH wait for the image to
        // name the new leader; UNKNOWN_LEADER_EPOCH for the leader's image to
        // catch up; storage errors for the leader to recover. All retry.
        followed.retry_at_ms = now_ms + self.backoff_ms;
        Step::Backoff
    }
}

/// Kafka's `AbstractFetcherThread` rule. The leader says its log holds
/// `epoch` up to `leader_end`. If this log has that epoch too, both agree up
/// to the lower of the two ends. If it does not, its nearest lower epoch
/// ends somewhere the leader's log may hold other data: truncate to that
/// end only, and let the next fetch (now naming that lower epoch) narrow it
/// down. No epoch information at all: trust only what the leader holds.
fn truncation_offset(
    plan: &FetchPlan,
    epoch: i32,
    leader_end: i64,
    local_end_for_epoch: impl Fn(i32) -> Option<(i32, i64)>,
) -> i64 {
    let offset = match local_end_for_epoch(epoch) {
        Some((local_epoch, local_end)) if local_epoch == epoch => leader_end.min(local_end),
        Some((_, local_end)) => local_end,
        None => leader_end,
    };
    offset.min(plan.fetch_offset).max(0)
}

#[cfg(test)]
#[path = "follower_tests.rs"]
mod tests;
