//! One partition's leader side of Kafka replication, sans-IO: which
//! followers are caught up, the in-sync replica set (ISR) it proposes, and
//! the high watermark it derives from what the ISR has made durable.
//!
//! Inputs: follower fetches (`on_fetch`), the leader's own durable end
//! (`on_local_durable`), time (`tick`), and the committed partition state
//! from the metadata image (`update`). Outputs: a new high watermark to hand
//! to the log and, at most one at a time, an [`AlterIsr`] to send to the
//! controller. Nothing here does I/O or reads a clock.
//!
//! Rules (Kafka's `Partition`, with fjord's durability):
//! - A follower's fetch offset is its durable end: followers fetch again only
//!   once what they appended is fdatasync'ed, so "fetched from offset n" means
//!   "holds [0, n) on disk".
//! - A follower is caught up when its fetch offset reaches the leader's
//!   durable end (followers are served only durable data). One lagging for
//!   longer than replica.lag.time.max.ms is proposed out of the ISR; one
//!   outside the ISR that reaches the high watermark and this epoch's start
//!   offset is proposed in.
//! - The high watermark is the minimum durable end over the *maximal* ISR:
//!   the committed ISR plus members being added, and members being removed
//!   until the controller commits the removal. It never goes back.
//! - It advances only while the committed ISR has min.insync.replicas
//!   members (at most the replica count; KIP-966). So replicas leaving an
//!   ISR that falls short hold everything below it: the controller's
//!   eligible leader replicas (`cluster::elr`).
//!
//! Must not: count a follower progress from an earlier incarnation (a
//! different broker epoch), or propose while another proposal is in flight.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

/// How long a refused ISR addition keeps bounding the high watermark: three
/// times the controller client's deadline (`cluster::node::SUBMIT_TIMEOUT`,
/// 5 s), within which every retry of the request has been sent.
pub const REFUSED_TTL_MS: i64 = 15_000;

/// What the leader knows of one follower.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowerProgress {
    /// Offsets below it are durable on the follower; -1 until it fetches in
    /// this leader epoch.
    pub durable_end: i64,
    /// Last time (ms) its fetch offset reached the leader's durable end.
    pub last_caught_up_ms: i64,
    /// The broker epoch it fetched with (KIP-903), -1 if unknown.
    pub broker_epoch: i64,
    /// When it last fetched, and the leader's durable end then: reaching
    /// that end by the next fetch also counts as caught up at that time, so
    /// a follower under steady load is not dropped for never hitting a
    /// moving target (Kafka's `lastFetchLeaderLogEndOffset`).
    pub last_fetch_ms: i64,
    pub last_fetch_leader_end: i64,
}

/// An ISR change for the controller (AlterPartition).
#[derive(Clone, Debug, PartialEq)]
pub struct AlterIsr {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Replica ids with the broker epoch each last fetched with.
    pub new_isr: Vec<(i32, i64)>,
}

/// The committed state of a partition, as the metadata image has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// A leader's replication state for one partition. See the module doc.
#[derive(Debug)]
pub struct LeaderState {
    me: i32,
    committed: Committed,
    /// The ISR proposed and not yet committed or refused.
    pending: Option<AlterIsr>,
    /// A proposal refused as not applied, whose copies may still be
    /// applied (a duplicate or retry delivered late has the same partition
    /// epoch): its additions bound the high watermark until the partition
    /// epoch moves past it.
    refused: Option<AlterIsr>,
    /// When `tick` first saw `refused` (for `REFUSED_TTL_MS`).
    refused_seen_ms: Option<i64>,
    followers: BTreeMap<i32, FollowerProgress>,
    /// The leader's own durable end.
    local_durable: i64,
    hw: i64,
    /// The log end when this leader epoch began: a follower joins the ISR
    /// only once it holds everything written before it.
    epoch_start: i64,
    lag_max_ms: i64,
    /// min.insync.replicas (`set_min_isr`); 1 until told.
    min_isr: usize,
}

impl LeaderState {
    /// A leader taking over at `log_end` with its log's current high
    /// watermark `hw` (which may be behind: it rises once the ISR proves it).
    pub fn new(
        me: i32,
        committed: Committed,
        hw: i64,
        log_end: i64,
        now_ms: i64,
        lag_max_ms: i64,
    ) -> LeaderState {
        assert!(committed.replicas.contains(&me), "leader not a replica");
        assert!(hw <= log_end, "high watermark {hw} above log end {log_end}");
        let followers = committed
            .replicas
            .iter()
            .filter(|r| **r != me)
            .map(|r| (*r, fresh(now_ms)))
            .collect();
        LeaderState {
            me,
            committed,
            pending: None,
            refused: None,
            refused_seen_ms: None,
            followers,
            local_durable: hw,
            hw,
            epoch_start: log_end,
            lag_max_ms,
            min_isr: 1,
        }
    }

    /// The topic's min.insync.replicas: below it (or below the replica
    /// count, if smaller) the committed ISR holds the high watermark still.
    /// Takes effect at the next event that may move the high watermark.
    pub fn set_min_isr(&mut self, min_isr: i32) {
        self.min_isr = usize::try_from(min_isr).unwrap_or(0).max(1);
    }

    /// Whether the committed ISR is too small for the high watermark to
    /// advance (Kafka's `isUnderMinIsr` with ELR).
    pub fn under_min_isr(&self) -> bool {
        let effective = self.min_isr.min(self.committed.replicas.len());
        self.committed.isr.len() < effective
    }

    pub fn high_watermark(&self) -> i64 {
        self.hw
    }

    /// The log end when this leader epoch began.
    pub fn epoch_start(&self) -> i64 {
        self.epoch_start
    }

    /// Whether consumers may be served: only once everything written in
    /// earlier epochs is committed. Before that, this leader's high
    /// watermark may still be below the one its predecessor showed, and a
    /// consumer must never see it go back.
    pub fn serves_consumers(&self) -> bool {
        self.hw >= self.epoch_start
    }

    pub fn leader_epoch(&self) -> i32 {
        self.committed.leader_epoch
    }

    pub fn committed(&self) -> &Committed {
        &self.committed
    }

    /// The ISR size min.insync.replicas is checked against: the committed
    /// ISR (Kafka checks `partitionState.isr`).
    pub fn isr_len(&self) -> usize {
        self.committed.isr.len()
    }

    pub fn follower(&self, replica: i32) -> Option<&FollowerProgress> {
        self.followers.get(&replica)
    }

    pub fn pending(&self) -> Option<&AlterIsr> {
        self.pending.as_ref()
    }

    /// The image moved the partition within this leader epoch (an ISR change
    /// committed, a reassignment). Returns the new high watermark if it rose.
    pub fn update(&mut self, committed: Committed, now_ms: i64) -> Option<i64> {
        assert_eq!(committed.leader_epoch, self.committed.leader_epoch);
        if committed.partition_epoch < self.committed.partition_epoch {
            return None; // an older image arriving late
        }
        let settled = self
            .pending
            .as_ref()
            .is_some_and(|p| committed.partition_epoch > p.partition_epoch);
        if settled {
            self.pending = None;
        }
        let moot = |r: &AlterIsr| committed.partition_epoch > r.partition_epoch;
        if self.refused.as_ref().is_some_and(moot) {
            self.refused = None;
        }
        self.followers.retain(|r, _| committed.replicas.contains(r));
        for r in &committed.replicas {
            if *r != self.me {
                self.followers.entry(*r).or_insert_with(|| fresh(now_ms));
            }
        }
        self.committed = committed;
        self.advance()
    }

    /// The controller answered the proposal with `error`. Only an answer
    /// proving the change was not applied (INELIGIBLE_REPLICA,
    /// OPERATION_NOT_ATTEMPTED) clears it, so the next event may propose
    /// again from the committed state; returns whether it did. Even then a
    /// late duplicate or retry of the same request, carrying the same
    /// partition epoch, could still be applied: its additions keep bounding
    /// the high watermark until the image's partition epoch passes it. After any
    /// other error the outcome is unknown (a retry of a request that was
    /// applied is refused for its stale partition epoch; a deposed leader
    /// is refused whatever happened), so the pending ISR keeps bounding the
    /// high watermark until the image settles it (Kafka's
    /// `handleAlterPartitionError`). A proposal that got no answer at all
    /// must be sent again as it is (`pending()`), never reported here:
    /// dropping an expansion the controller did commit would let the high
    /// watermark pass a replica that may be the next leader.
    pub fn alter_failed(&mut self, error: ResponseError) -> bool {
        let not_applied = matches!(
            error,
            ResponseError::IneligibleReplica | ResponseError::OperationNotAttempted
        );
        if not_applied {
            self.refused = self.pending.take();
        }
        not_applied
    }

    /// A refused proposal bounds the high watermark only while a copy of it
    /// could still arrive: well past any retry of the broker's controller
    /// client. Without this, a refused addition that never comes back
    /// would hold the high watermark (and acks=all) at its last durable end
    /// until something else changed the partition.
    fn expire_refused(&mut self, now_ms: i64) {
        match (&self.refused, self.refused_seen_ms) {
            (None, _) => self.refused_seen_ms = None,
            (Some(_), None) => self.refused_seen_ms = Some(now_ms),
            (Some(_), Some(seen)) if now_ms - seen > REFUSED_TTL_MS => {
                self.refused = None;
                self.refused_seen_ms = None;
                self.advance();
            }
            (Some(_), Some(_)) => {}
        }
    }

    /// Drops the pending proposal the caller decided not to send after all
    /// (it cannot have been applied, so nothing keeps bounding the high
    /// watermark).
    pub fn withdraw(&mut self) {
        self.pending = None;
    }

    /// The leader's own log became durable up to `durable_end`.
    pub fn on_local_durable(&mut self, durable_end: i64) -> Option<i64> {
        self.local_durable = self.local_durable.max(durable_end);
        self.advance()
    }

    /// A follower fetched from `fetch_offset` (so it holds `[0, fetch_offset)`
    /// durably). Returns the new high watermark if it rose, and an ISR
    /// expansion to propose if the follower qualifies.
    pub fn on_fetch(
        &mut self,
        replica: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        now_ms: i64,
    ) -> (Option<i64>, Option<AlterIsr>) {
        let Some(progress) = self.followers.get_mut(&replica) else {
            return (None, None); // not a replica (any more)
        };
        if broker_epoch >= 0 && broker_epoch < progress.broker_epoch {
            // A fetch of an earlier incarnation, arriving late: it holds
            // nothing now (Kafka refuses it as a stale fetch state).
            return (None, None);
        }
        if broker_epoch != progress.broker_epoch {
            // A new incarnation: what the old one held says nothing.
            *progress = FollowerProgress {
                broker_epoch,
                ..fresh(progress.last_caught_up_ms)
            };
        }
        progress.durable_end = fetch_offset;
        if fetch_offset >= self.local_durable {
            progress.last_caught_up_ms = now_ms;
        } else if fetch_offset >= progress.last_fetch_leader_end {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.last_fetch_ms = now_ms;
        progress.last_fetch_leader_end = self.local_durable;
        let hw = self.advance();
        (hw, self.maybe_expand(replica))
    }

    /// Proposes dropping ISR members that have not caught up within
    /// replica.lag.time.max.ms.
    pub fn tick(&mut self, now_ms: i64) -> Option<AlterIsr> {
        self.expire_refused(now_ms);
        if self.pending.is_some() {
            return None;
        }
        let lagging: Vec<i32> = self
            .committed
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.me)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_none_or(|p| now_ms - p.last_caught_up_ms > self.lag_max_ms)
            })
            .collect();
        if lagging.is_empty() {
            return None;
        }
        let isr: Vec<i32> = self
            .committed
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        self.propose(isr)
    }

    fn maybe_expand(&mut self, replica: i32) -> Option<AlterIsr> {
        if self.pending.is_some() || self.committed.isr.contains(&replica) {
            return None;
        }
        let progress = self.followers.get(&replica)?;
        if progress.durable_end < self.hw.max(self.epoch_start) {
            return None;
        }
        let isr: Vec<i32> = self
            .committed
            .replicas
            .iter()
            .copied()
            .filter(|r| self.committed.isr.contains(r) || *r == replica)
            .collect();
        self.propose(isr)
    }

    fn propose(&mut self, isr: Vec<i32>) -> Option<AlterIsr> {
        debug_assert!(isr.contains(&self.me), "the leader stays in its ISR");
        let new_isr = isr
            .iter()
            .map(|r| {
                let epoch = self.followers.get(r).map_or(-1, |p| p.broker_epoch);
                (*r, epoch)
            })
            .collect();
        let alter = AlterIsr {
            leader_epoch: self.committed.leader_epoch,
            partition_epoch: self.committed.partition_epoch,
            new_isr,
        };
        self.pending = Some(alter.clone());
        Some(alter)
    }

    /// No other replica bounds the high watermark, nor does a short ISR
    /// hold it: it is the leader's own durable end (the log can follow it
    /// without asking).
    pub fn alone(&self) -> bool {
        !self.under_min_isr() && self.maximal_isr().all(|r| r == self.me)
    }

    /// The replicas whose durable end bounds the high watermark: the
    /// committed ISR plus any member a pending change adds, or a refused
    /// one whose late copy could still be applied.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let added = self
            .pending
            .iter()
            .chain(&self.refused)
            .flat_map(|p| p.new_isr.iter().map(|(r, _)| *r))
            .filter(|r| !self.committed.isr.contains(r));
        self.committed.isr.iter().copied().chain(added)
    }

    /// Raises the high watermark to what the maximal ISR holds, unless the
    /// committed ISR is too small.
    fn advance(&mut self) -> Option<i64> {
        if self.under_min_isr() {
            return None;
        }
        let mut min = self.local_durable;
        for r in self.maximal_isr() {
            if r == self.me {
                continue;
            }
            match self.followers.get(&r) {
                Some(p) => min = min.min(p.durable_end),
                None => return None, // an ISR member we know nothing of yet
            }
        }
        if min > self.hw {
            self.hw = min;
            Some(min)
        } else {
            None
        }
    }
}

fn fresh(now_ms: i64) -> FollowerProgress {
    FollowerProgress {
        durable_end: -1,
        last_caught_up_ms: now_ms,
        broker_epoch: -1,
        last_fetch_ms: now_ms,
        last_fetch_leader_end: i64::MAX,
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
