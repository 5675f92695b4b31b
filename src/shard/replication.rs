//! This shard's part in replication: the partitions it leads (a
//! [`LeaderState`] each) and the fetch sessions that copy the partitions it
//! follows, kept in step with the metadata image, plus the leader's side of
//! a follower's fetch.
//!
//! The state machines decide (`crate::replication`); this module feeds
//! them — image changes, follower fetches, the log's durable end, ticks —
//! and carries out what they return: the log's high watermark, ISR changes
//! sent to the controller. Fetching from leaders is `follower_fetch`.
//!
//! Must not: touch another shard's partitions, or hold the `replication`
//! borrow across an await.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use kafka_protocol::error::ResponseError;

use super::follower_fetch::{self, Session};
use super::messages::{FetchPart, FetchResult, ReplicaFetch, ShardRequest, ShardResponse};
use super::{replication_stats, router, Shard};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::image::PartitionImage;
use crate::replication::divergence;
use crate::replication::leader::{AlterIsr, Committed, LeaderState};
use crate::storage::{PartitionLog, ReadError};
use crate::util::now_ms;

type Key = (String, i32);

/// A partition this shard leads.
pub struct Leading {
    pub state: LeaderState,
    /// Produce requests waiting for the high watermark hold a receiver;
    /// dropping these senders (leadership ended) wakes them.
    ended: Vec<oneshot::Sender<()>>,
}

/// The partitions a shard leads, by topic then partition, so the produce
/// and fetch paths look one up by `&str` without building a key.
#[derive(Default)]
pub struct Leaders(HashMap<String, HashMap<i32, Leading>>);

impl Leaders {
    pub fn get(&self, topic: &str, partition: i32) -> Option<&Leading> {
        self.0.get(topic)?.get(&partition)
    }

    pub fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Leading> {
        self.0.get_mut(topic)?.get_mut(&partition)
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.get(topic, partition).is_some()
    }

    fn insert(&mut self, (topic, partition): Key, leading: Leading) {
        self.0.entry(topic).or_default().insert(partition, leading);
    }

    fn remove(&mut self, topic: &str, partition: i32) {
        if let Some(partitions) = self.0.get_mut(topic) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                self.0.remove(topic);
            }
        }
    }

    fn keys(&self) -> Vec<Key> {
        self.iter().map(|(t, p, _)| (t.to_string(), p)).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &Leading)> {
        self.0
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, l)| (t.as_str(), *p, l)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&str, i32, &mut Leading)> {
        self.0
            .iter_mut()
            .flat_map(|(t, ps)| ps.iter_mut().map(move |(p, l)| (t.as_str(), *p, l)))
    }
}

/// Replication state of one shard. See the module doc.
#[derive(Default)]
pub struct ShardReplication {
    pub leaders: Leaders,
    /// Fetch sessions by leader broker id.
    pub sessions: HashMap<i32, Rc<Session>>,
    /// Failed inter-broker logins, so that retries do not flood the log.
    pub login_warnings: super::login_warnings::LoginWarnings,
}

impl ShardReplication {
    /// A future resolving when this shard stops leading the partition in
    /// `epoch` (at once if it does not lead it now).
    pub fn leadership_ended(
        &mut self,
        topic: &str,
        partition: i32,
        epoch: i32,
    ) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Some(l) = self.leaders.get_mut(topic, partition) {
            if l.state.leader_epoch() == epoch {
                // Waiters that finished dropped their receivers: forget them,
                // so a long leadership does not collect one per write. Only
                // at powers of two, to stay amortised O(1) per write.
                if l.ended.len() >= 64 && l.ended.len().is_power_of_two() {
                    l.ended.retain(|tx| !tx.is_canceled());
                }
                l.ended.push(tx);
            }
        }
        rx
    }

    /// The committed ISR size of a partition led here in `epoch`.
    pub fn isr_len(&self, topic: &str, partition: i32, epoch: i32) -> Option<usize> {
        let l = self.leaders.get(topic, partition)?;
        (l.state.leader_epoch() == epoch).then(|| l.state.isr_len())
    }
}

impl Shard {
    /// Whether consumers may read the partition here: not while this
    /// leader's high watermark is below its epoch's start (see
    /// `LeaderState::serves_consumers`). Partitions without replication
    /// state (not led here) are refused by the leader check before this.
    /// The log's own high watermark decides: alone in its ISR it follows
    /// the durable end without telling the state machine.
    pub fn serves_consumers(&self, topic: &str, partition: i32, log: &PartitionLog) -> bool {
        self.replication
            .borrow()
            .leaders
            .get(topic, partition)
            .is_none_or(|l| log.high_watermark() >= l.state.epoch_start())
    }
}

fn committed(p: &PartitionImage) -> Committed {
    Committed {
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
    }
}

/// Hands the leader's high watermark to its log: alone in its ISR the log
/// follows its own durable end, else the state machine's value.
fn apply_hw(log: &PartitionLog, state: &LeaderState) {
    if state.alone() {
        log.set_high_watermark(None);
    } else {
        log.set_high_watermark(Some(state.high_watermark()));
    }
}

/// Brings leaderships and fetch sessions in line with the image this shard
/// just applied: lead what it names this node leader of, follow the rest
/// from their leaders, drop what it no longer holds. The group coordinator
/// follows the leadership of `__consumer_offsets` partitions.
pub fn reconcile(shard: &Rc<Shard>) {
    let image = shard.image.borrow().clone();
    let me = shard.node_id();
    let now = now_ms();
    let lag_ms = shard.config.replication.lag_time_max_ms;
    let held: Vec<(Key, PartitionLog)> = shard
        .logs
        .borrow()
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(|(p, l)| ((t.clone(), *p), l.clone())))
        .collect();
    // Until this process's registration is in the image and unfenced, the
    // image speaks of an earlier run (replayed at start): leading on its
    // word could acknowledge writes the real leader never sees.
    let current = image
        .brokers
        .get(&me)
        .is_some_and(|b| b.incarnation == shard.identity.incarnation && !b.fenced);
    let mut rep = shard.replication.borrow_mut();
    let before: Vec<Key> = rep.leaders.keys();
    let mut follows: HashMap<Key, (i32, uuid::Uuid, i32)> = HashMap::new();
    let mut led = std::collections::HashSet::new();
    let mut gained = Vec::new();
    for ((topic, p), log) in held {
        let Some(t) = image.topics.get(&topic) else {
            continue;
        };
        let Some(state) = usize::try_from(p).ok().and_then(|i| t.partitions.get(i)) else {
            continue;
        };
        let key = (topic.clone(), p);
        if state.leader == me && current && log.is_truncating() {
            // Still cutting a divergent tail as a follower: lead from the
            // log end it settles at, not the one it has now.
            rep.leaders.remove(&key.0, key.1);
            retry_when_truncated(shard, log);
        } else if state.leader == me && current {
            let min_isr = shard.topic_config(&topic).min_insync_replicas;
            let limits = Limits { lag_ms, min_isr };
            let led_now = lead(&mut rep, key.clone(), &log, state, me, now, limits);
            shard
                .metrics
                .replication
                .isr_changed(led_now.shrank, led_now.expanded);
            if led_now.new {
                gained.push(key.clone());
            }
            led.insert(key);
        } else {
            rep.leaders.remove(&key.0, key.1);
            // A follower's high watermark comes from its leader.
            log.set_high_watermark(Some(log.high_watermark()));
            if state.leader >= 0 && state.leader != me {
                follows.insert(key, (state.leader, t.id, state.leader_epoch));
            }
        }
    }
    let lost: Vec<Key> = before.into_iter().filter(|k| !led.contains(k)).collect();
    for (topic, partition) in &lost {
        rep.leaders.remove(topic, *partition);
    }
    drop(rep);
    follower_fetch::retarget(shard, follows);
    let txn_gained = partitions_of(crate::txn::TRANSACTION_STATE_TOPIC, &gained);
    let txn_lost = partitions_of(crate::txn::TRANSACTION_STATE_TOPIC, &lost);
    if !txn_gained.is_empty() || !txn_lost.is_empty() {
        super::txn_coordinator::on_leadership(shard, txn_gained, txn_lost);
    }
    let offsets = crate::group::OFFSETS_TOPIC;
    let (gained, lost) = (
        partitions_of(offsets, &gained),
        partitions_of(offsets, &lost),
    );
    if !gained.is_empty() || !lost.is_empty() {
        crate::group::loading::on_leadership(shard, gained, lost);
    }
}

/// Runs `reconcile` again once `log`'s truncation is over (rare: a
/// leadership arriving while the follower truncates).
fn retry_when_truncated(shard: &Rc<Shard>, log: PartitionLog) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        // Bounded: a log that failed mid-truncation stays failed, and the
        // next image reconciles anyway.
        for _ in 0..6_000 {
            if !log.is_truncating() {
                reconcile(&shard);
                return;
            }
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        tracing::warn!(
            "a truncation did not finish within 30 s; leadership waits for the next image"
        );
    })
    .detach();
}

/// The partitions of `topic` among `keys`.
fn partitions_of(topic: &str, keys: &[Key]) -> Vec<i32> {
    keys.iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, p)| *p)
        .collect()
}

/// What leading a partition per the image changed.
struct Led {
    /// A leadership new to this shard (or a new epoch of it).
    new: bool,
    /// The committed ISR it leads with shrank / expanded (for the metrics;
    /// a new leadership changed nothing yet).
    shrank: bool,
    expanded: bool,
}

/// A leader's topic settings: replica.lag.time.max.ms and the topic's
/// min.insync.replicas (below which its high watermark stays).
#[derive(Clone, Copy)]
struct Limits {
    lag_ms: i64,
    min_isr: i32,
}

/// Leads the partition as the image has it.
fn lead(
    rep: &mut ShardReplication,
    key: Key,
    log: &PartitionLog,
    state: &PartitionImage,
    me: i32,
    now: i64,
    limits: Limits,
) -> Led {
    let (shrank, expanded) = match rep.leaders.get(&key.0, key.1).map(|l| l.state.committed()) {
        // Only a newer state is a change (`update` ignores older ones).
        Some(c)
            if (state.leader_epoch, state.partition_epoch)
                > (c.leader_epoch, c.partition_epoch) =>
        {
            replication_stats::isr_change(&c.isr, &state.isr)
        }
        _ => (false, false),
    };
    let new = lead_epoch(rep, key, log, state, me, now, limits);
    Led {
        new,
        shrank,
        expanded,
    }
}

/// Updates or starts the leadership; true if it is new (or a new epoch).
fn lead_epoch(
    rep: &mut ShardReplication,
    key: Key,
    log: &PartitionLog,
    state: &PartitionImage,
    me: i32,
    now: i64,
    limits: Limits,
) -> bool {
    match rep.leaders.get_mut(&key.0, key.1) {
        Some(l) if l.state.leader_epoch() == state.leader_epoch => {
            l.state.set_min_isr(limits.min_isr);
            l.state.on_local_durable(log.durable_end());
            l.state.update(committed(state), now);
            apply_hw(log, &l.state);
            false
        }
        _ => {
            // Kafka's makeLeader: the new epoch starts at the log end.
            log.assign_epoch_start(state.leader_epoch, log.log_end_offset());
            let hw = log.high_watermark().min(log.log_end_offset());
            let end = log.log_end_offset();
            let mut s = LeaderState::new(me, committed(state), hw, end, now, limits.lag_ms);
            s.set_min_isr(limits.min_isr);
            s.on_local_durable(log.durable_end());
            apply_hw(log, &s);
            // Replacing the entry drops the old epoch's waiters.
            rep.leaders.insert(
                key,
                Leading {
                    state: s,
                    ended: Vec::new(),
                },
            );
            true
        }
    }
}

/// The leader's side of a follower's fetch of one partition: epoch and
/// divergence checks, the follower's progress (which may move the high
/// watermark and the ISR), then durable data from its fetch offset.
pub async fn serve_follower(
    shard: &Rc<Shard>,
    log: &PartitionLog,
    part: &FetchPart,
    replica: ReplicaFetch,
) -> FetchResult {
    let (hw, alter) = {
        let mut rep = shard.replication.borrow_mut();
        let Some(l) = rep.leaders.get_mut(&part.topic, part.partition) else {
            return FetchResult::failed(ResponseError::NotLeaderOrFollower.code());
        };
        let end_for_epoch = log.end_offset_for_epoch(replica.last_fetched_epoch);
        let diverging = divergence::diverging(
            replica.last_fetched_epoch,
            part.offset,
            end_for_epoch,
            log.log_end_offset(),
        );
        if let Some(d) = diverging {
            return FetchResult {
                diverging_epoch: Some(d),
                ..result(0, log, l.state.high_watermark())
            };
        }
        if part.offset < log.log_start_offset() || part.offset > log.log_end_offset() {
            return result(
                ResponseError::OffsetOutOfRange.code(),
                log,
                l.state.high_watermark(),
            );
        }
        l.state.on_local_durable(log.durable_end());
        let (_, alter) = l.state.on_fetch(
            replica.replica_id,
            replica.broker_epoch,
            part.offset,
            now_ms(),
        );
        apply_hw(log, &l.state);
        (
            l.state.high_watermark(),
            alter.map(|a| (a, l.state.leader_epoch())),
        )
    };
    if let Some((alter, epoch)) = alter {
        propose(shard, &part.topic, part.partition, epoch, alter);
    }
    match log
        .read_data_replica(part.offset, part.max_bytes, true)
        .await
    {
        Ok(records) => {
            shard.metrics.replication.served(records.len());
            FetchResult {
                records,
                ..result(0, log, hw)
            }
        }
        Err(ReadError::OffsetOutOfRange { .. }) => {
            result(ResponseError::OffsetOutOfRange.code(), log, hw)
        }
        Err(e) => {
            tracing::error!(
                topic = part.topic,
                partition = part.partition,
                "replica read: {e}"
            );
            result(ResponseError::KafkaStorageError.code(), log, hw)
        }
    }
}

fn result(error_code: i16, log: &PartitionLog, hw: i64) -> FetchResult {
    FetchResult {
        error_code,
        high_watermark: hw,
        last_stable_offset: log.last_stable_offset(),
        log_start_offset: log.log_start_offset(),
        readable_end: log.durable_end(),
        ..FetchResult::failed(error_code)
    }
}

/// How long a proposal without a definite answer waits to be sent again.
const PROPOSE_RETRY: Duration = Duration::from_millis(500);

/// Sends an ISR change to the active controller, again and again while it
/// is still the leader's pending proposal and no answer settles it: only a
/// refusal proving it was not applied lets the leader propose anew
/// (`LeaderState::alter_failed`); a success, or an applied change whose
/// answer was lost, is settled by the image. Dropping a proposal of
/// unknown outcome would let the high watermark pass a replica the
/// controller may have put in the ISR.
fn propose(shard: &Rc<Shard>, topic: &str, partition: i32, epoch: i32, alter: AlterIsr) {
    let topic_id = match shard.image.borrow().topics.get(topic) {
        Some(t) => t.id,
        None => return,
    };
    if let Some(fenced) = fenced_addition(shard, topic, partition, &alter) {
        // The controller would refuse (INELIGIBLE_REPLICA): a restarted
        // follower catches up before it is unfenced. Ask again later
        // rather than on its every fetch.
        tracing::debug!(
            topic,
            partition,
            fenced,
            "not proposing a fenced replica for the ISR"
        );
        withdraw_later(shard, topic, partition, epoch);
        return;
    }
    let me = shard.node_id();
    let broker_epoch = shard.broker_epoch();
    let command = Command::AlterPartition {
        broker_id: me,
        broker_epoch,
        topic_id,
        partition,
        leader_epoch: alter.leader_epoch,
        partition_epoch: alter.partition_epoch,
        new_isr: alter.new_isr.clone(),
    };
    let shard = shard.clone();
    let topic = topic.to_string();
    glommio::spawn_local(async move {
        loop {
            let request = ShardRequest::Submit(command.clone());
            let answer = router::to_controller(&shard, request).await;
            let refusal = match &answer {
                Some(ShardResponse::Submitted(Ok(Reply::PartitionAltered { .. }))) => return,
                Some(ShardResponse::Submitted(Err(refusal))) => {
                    ResponseError::try_from_code(refusal.code)
                }
                _ => None,
            };
            tracing::info!(
                topic,
                partition,
                "ISR change not accepted: {}",
                describe(&answer)
            );
            {
                let mut rep = shard.replication.borrow_mut();
                let Some(l) = rep.leaders.get_mut(&topic, partition) else {
                    return;
                };
                let still_pending =
                    l.state.leader_epoch() == epoch && l.state.pending() == Some(&alter);
                if !still_pending || refusal.is_some_and(|e| l.state.alter_failed(e)) {
                    return;
                }
            }
            glommio::timer::sleep(PROPOSE_RETRY).await;
        }
    })
    .detach();
}

/// Drops a proposal that was never sent after `PROPOSE_RETRY`, so the
/// leader asks again then (with the image of that time) instead of on each
/// of the follower's fetches.
fn withdraw_later(shard: &Rc<Shard>, topic: &str, partition: i32, epoch: i32) {
    let shard = shard.clone();
    let topic = topic.to_string();
    glommio::spawn_local(async move {
        glommio::timer::sleep(PROPOSE_RETRY).await;
        let mut rep = shard.replication.borrow_mut();
        if let Some(l) = rep.leaders.get_mut(&topic, partition) {
            if l.state.leader_epoch() == epoch {
                l.state.withdraw();
            }
        }
    })
    .detach();
}

/// A member the change would add to the ISR that the image shows fenced.
fn fenced_addition(shard: &Shard, topic: &str, partition: i32, alter: &AlterIsr) -> Option<i32> {
    let current = shard.partition_state(topic, partition)?.isr;
    let image = shard.image.borrow();
    alter
        .new_isr
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| !current.contains(r))
        .find(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
}

fn describe(answer: &Option<ShardResponse>) -> String {
    match answer {
        Some(ShardResponse::Submitted(Err(refusal))) => format!("{refusal:?}"),
        Some(_) => "unexpected answer".into(),
        None => "controller shard unavailable".into(),
    }
}

/// Every leader on this shard checks its followers: laggards are proposed
/// out of the ISR (replica.lag.time.max.ms), and a leader's own durable end
/// moves its high watermark when it is alone.
pub async fn run_ticks(shard: Rc<Shard>) {
    let period = Duration::from_millis(
        (shard.config.replication.lag_time_max_ms / 4).clamp(50, 1000) as u64,
    );
    while !shard.stopping.get() {
        glommio::timer::sleep(period).await;
        let now = now_ms();
        let mut proposals = Vec::new();
        {
            let mut rep = shard.replication.borrow_mut();
            for (topic, p, l) in rep.leaders.iter_mut() {
                let Some(log) = shard.log(topic, p) else {
                    continue;
                };
                l.state.on_local_durable(log.durable_end());
                if let Some(alter) = l.state.tick(now) {
                    proposals.push((topic.to_string(), p, l.state.leader_epoch(), alter));
                }
                apply_hw(&log, &l.state);
            }
        }
        for (topic, p, epoch, alter) in proposals {
            propose(&shard, &topic, p, epoch, alter);
        }
    }
}
