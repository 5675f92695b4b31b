//! `Quorum`: raft-rs's `RawNode` driven without I/O.
//!
//! The caller feeds it ticks, peer messages and proposals, and runs the
//! ready loop: `ready()` hands out a `Work` whose `persist()` the caller
//! makes durable, then `advance(work)` returns what to send and what was
//! committed, in order. The order is the simple one: persist, then send,
//! then apply; nothing leaves this node before the state it reflects is on
//! disk. While a `Work` is out, ticks, messages and proposals are queued and
//! replayed at `advance`, because raft-rs must not be stepped between
//! `ready` and `advance`.

use std::collections::VecDeque;

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeV2, ConfState, Entry, EntryType, HardState, Message, MessageType,
    Snapshot,
};
use raft::{Config, RawNode, Ready, SnapshotStatus, StateRole};
use slog::{warn, Logger};

use super::durable::{Persist, Recovered};
use super::guard;
use super::storage::LogStore;
use super::types::{
    Advanced, AppliedSnapshot, Committed, NotLeader, QuorumConfig, StepRefused, VoterProgress, Work,
};

/// Peer messages queued while a `Work` is out, at most; more are refused
/// (raft treats that as loss and retries).
const INBOX_MAX: usize = 4096;

/// Largest append raft-rs builds for one peer message.
const MAX_APPEND_BYTES: u64 = 1 << 20;

/// Appends in flight per follower.
const MAX_INFLIGHT_APPENDS: usize = 256;

/// See the module doc.
pub struct Quorum {
    node: RawNode<LogStore>,
    logger: Logger,
    /// Index of the last entry (or snapshot) handed to the caller to apply.
    applied: u64,
    /// A `Work` is out: raft-rs must not be touched until it comes back.
    outstanding: bool,
    /// A commit index raft-rs reported after an advance, not yet persisted.
    unsaved_commit: Option<u64>,
    inbox: VecDeque<Message>,
    ticks: usize,
    proposals: Vec<Vec<u8>>,
}

impl Quorum {
    /// Builds a node from what persistence recovered (empty for a new node:
    /// then the voters are `config.voters`, every node starting at index 0,
    /// like etcd's initial cluster). Committed entries after the snapshot
    /// come out again from the first `advance`s, to rebuild the image; the
    /// caller loads the snapshot's data itself (see `snapshot()`).
    pub fn new(config: QuorumConfig, recovered: Recovered) -> Result<Quorum, String> {
        Self::build(config, recovered, false)
    }

    /// Like `new`, but with raft-rs's election timeout fixed at
    /// `election_tick`: raft-rs randomises it with `thread_rng`, which a
    /// reproducible simulation cannot have (it jitters clocks instead).
    #[cfg(test)]
    pub(crate) fn new_fixed_timeout(
        config: QuorumConfig,
        recovered: Recovered,
    ) -> Result<Quorum, String> {
        Self::build(config, recovered, true)
    }

    fn build(
        config: QuorumConfig,
        recovered: Recovered,
        fixed_timeout: bool,
    ) -> Result<Quorum, String> {
        check_config(&config)?;
        let store = recovered_store(&config, recovered)?;
        let snap_index = store.snapshot_index();
        let mut raft_config = Config {
            id: config.id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            // Everything committed after the snapshot is handed out again.
            applied: snap_index,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: MAX_APPEND_BYTES,
            max_inflight_msgs: MAX_INFLIGHT_APPENDS,
            ..Config::default()
        };
        if fixed_timeout {
            raft_config.min_election_tick = config.election_tick;
            raft_config.max_election_tick = config.election_tick + 1;
        }
        raft_config.validate().map_err(|e| e.to_string())?;
        let node = RawNode::new(&raft_config, store, &config.logger).map_err(|e| e.to_string())?;
        Ok(Quorum {
            node,
            logger: config.logger,
            applied: snap_index,
            outstanding: false,
            unsaved_commit: None,
            inbox: VecDeque::new(),
            ticks: 0,
            proposals: Vec::new(),
        })
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        if self.outstanding {
            self.ticks += 1;
        } else {
            self.node.tick();
        }
    }

    /// Steps a message from a peer. Refuses (with a reason) messages not
    /// for us, not from a voter, of local types, or malformed.
    pub fn step(&mut self, msg: Message) -> Result<(), StepRefused> {
        let refused = |reason| Err(StepRefused { reason });
        if let Err(reason) = guard::check_shape(&msg, self.id(), &self.voters()) {
            return refused(reason);
        }
        if !self.outstanding {
            return self.step_now(msg).map_err(|reason| StepRefused { reason });
        }
        if self.inbox.len() >= INBOX_MAX {
            return refused("inbox full while persisting".into());
        }
        self.inbox.push_back(msg);
        Ok(())
    }

    fn step_now(&mut self, msg: Message) -> Result<(), String> {
        guard::check_against_log(&msg, self.last_index())?;
        self.node.step(msg).map_err(|e| e.to_string())
    }

    /// Proposes `data` for the log. Only the leader accepts; committing is
    /// not promised (a leader change can drop it): watch `committed`.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(), NotLeader> {
        if !self.is_leader() {
            return Err(NotLeader {
                leader: self.leader_id(),
            });
        }
        if self.outstanding {
            self.proposals.push(data);
            return Ok(());
        }
        self.node.propose(Vec::new(), data).map_err(|_| NotLeader {
            leader: self.leader_id(),
        })
    }

    /// Tells raft a send to `id` failed, so it stops streaming to it.
    pub fn report_unreachable(&mut self, id: u64) {
        if !self.outstanding {
            self.node.report_unreachable(id);
        }
    }

    /// The next batch of work, if any. None while a `Work` is out.
    pub fn ready(&mut self) -> Option<Work> {
        if self.outstanding {
            return None;
        }
        let work = if self.node.has_ready() {
            let mut rd = self.node.ready();
            let snapshot = rd.snapshot();
            let persist = Persist {
                snapshot: (snapshot.get_metadata().index > 0).then(|| snapshot.clone()),
                entries: rd.take_entries(),
                hard_state: rd.hs().cloned(),
            };
            Work {
                persist,
                ready: Some(rd),
            }
        } else {
            Work {
                persist: Persist::default(),
                ready: None,
            }
        };
        let work = self.with_unsaved_commit(work);
        if work.persist.is_empty() && work.ready.is_none() {
            return None;
        }
        self.outstanding = true;
        Some(work)
    }

    /// A commit index raft-rs reported after the previous advance rides
    /// along with this work's hard state (raft-rs will not report it again).
    fn with_unsaved_commit(&mut self, mut work: Work) -> Work {
        let Some(commit) = self.unsaved_commit.take() else {
            return work;
        };
        let hs = work
            .persist
            .hard_state
            .get_or_insert_with(|| self.node.store().hard_state().clone());
        hs.commit = hs.commit.max(commit);
        work
    }

    /// Takes back a `Work` whose `persist()` is now durable, and returns
    /// what to send and apply. The returned entries count as applied.
    pub fn advance(&mut self, work: Work) -> Advanced {
        self.outstanding = false;
        self.node.mut_store().apply(&work.persist);
        let mut out = Advanced::default();
        if let Some(rd) = work.ready {
            self.advance_ready(rd, work.persist.snapshot, &mut out);
        }
        self.confirm_snapshots(&out.messages);
        self.drain_queued();
        out
    }

    fn advance_ready(&mut self, mut rd: Ready, snapshot: Option<Snapshot>, out: &mut Advanced) {
        if let Some(s) = snapshot {
            let meta = s.get_metadata();
            self.applied = meta.index;
            out.snapshot_to_apply = Some(AppliedSnapshot {
                index: meta.index,
                term: meta.term,
                data: s.data.to_vec(),
            });
        }
        out.messages = rd.take_messages();
        out.messages.extend(rd.take_persisted_messages());
        let committed = rd.take_committed_entries();
        self.apply_entries(committed, out);
        let mut light = self.node.advance(rd);
        self.unsaved_commit = light.commit_index();
        out.messages.extend(light.take_messages());
        self.apply_entries(light.take_committed_entries(), out);
        self.node.advance_apply();
    }

    /// Hands normal entries to the caller; applies conf changes here.
    fn apply_entries(&mut self, entries: Vec<Entry>, out: &mut Advanced) {
        for e in entries {
            self.applied = e.index;
            match e.get_entry_type() {
                EntryType::EntryNormal => out.committed.push(Committed {
                    index: e.index,
                    term: e.term,
                    data: e.data.to_vec(),
                }),
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change(&e)
                }
            }
        }
    }

    fn apply_conf_change(&mut self, e: &Entry) {
        let applied = if e.get_entry_type() == EntryType::EntryConfChange {
            ConfChange::parse_from_bytes(&e.data)
                .map_err(|err| err.to_string())
                .and_then(|cc| self.node.apply_conf_change(&cc).map_err(|e| e.to_string()))
        } else {
            ConfChangeV2::parse_from_bytes(&e.data)
                .map_err(|err| err.to_string())
                .and_then(|cc| self.node.apply_conf_change(&cc).map_err(|e| e.to_string()))
        };
        match applied {
            Ok(cs) => self.node.mut_store().set_conf_state(cs),
            Err(err) => {
                warn!(self.logger, "skipping conf change"; "index" => e.index, "error" => err)
            }
        }
    }

    /// Marks each snapshot about to be sent as delivered. The transport is
    /// fire-and-forget: raft-rs would otherwise wait for a report forever
    /// if one were lost. If it was, the follower rejects the next append
    /// probe and the leader sends the snapshot again.
    fn confirm_snapshots(&mut self, messages: &[Message]) {
        for m in messages {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.node.report_snapshot(m.to, SnapshotStatus::Finish);
            }
        }
    }

    /// Replays what arrived while a `Work` was out: messages first (a
    /// queued heartbeat should reset the election clock before the queued
    /// ticks run it down), then ticks, then proposals.
    fn drain_queued(&mut self) {
        for msg in std::mem::take(&mut self.inbox) {
            if let Err(reason) = self.step_now(msg) {
                warn!(self.logger, "dropped queued raft message"; "reason" => reason);
            }
        }
        for _ in 0..std::mem::take(&mut self.ticks) {
            self.node.tick();
        }
        for data in std::mem::take(&mut self.proposals) {
            if self.node.propose(Vec::new(), data).is_err() {
                warn!(
                    self.logger,
                    "dropped a proposal queued before losing leadership"
                );
            }
        }
    }

    /// Snapshots the caller's state machine (`data`, its state at
    /// `applied_index`), installs it and drops the log entries it covers.
    /// The caller then makes it durable with `Persist::snapshot_only`.
    pub fn compact(&mut self, applied_index: u64, data: Vec<u8>) -> Result<Snapshot, String> {
        if self.outstanding {
            return Err("cannot compact while a Work is out".into());
        }
        let store = self.node.store();
        if applied_index > self.applied || applied_index <= store.snapshot_index() {
            return Err(format!(
                "compaction index {applied_index} outside ({}, {}]",
                store.snapshot_index(),
                self.applied
            ));
        }
        let term = store
            .term_at(applied_index)
            .ok_or_else(|| format!("no entry at {applied_index}"))?;
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = applied_index;
        meta.term = term;
        meta.set_conf_state(store.conf_state().clone());
        snapshot.data = data.into();
        self.node.mut_store().install(snapshot.clone());
        Ok(snapshot)
    }

    pub fn id(&self) -> u64 {
        self.node.raft.id
    }

    pub fn leader_id(&self) -> Option<u64> {
        Some(self.node.raft.leader_id).filter(|&id| id != 0)
    }

    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    pub fn commit_index(&self) -> u64 {
        self.node.raft.raft_log.committed
    }

    /// Index of the last entry (or snapshot) handed out to apply.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    pub fn last_index(&self) -> u64 {
        self.node.raft.raft_log.last_index()
    }

    /// The current voters, sorted.
    pub fn voters(&self) -> Vec<u64> {
        let mut v = self.node.raft.prs().conf().to_conf_state().voters;
        v.sort_unstable();
        v
    }

    /// The newest snapshot in the log store (recovered, received or made).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.node.store().snapshot_ref()
    }

    /// Each voter's replication progress, by id. Only the leader tracks
    /// it: empty elsewhere.
    pub fn progress(&self) -> Vec<VoterProgress> {
        if !self.is_leader() {
            return Vec::new();
        }
        let voters = self.voters();
        let mut out: Vec<VoterProgress> = self
            .node
            .raft
            .prs()
            .iter()
            .filter(|(id, _)| voters.contains(id))
            .map(|(&id, pr)| VoterProgress {
                id,
                matched: pr.matched,
                recent_active: pr.recent_active,
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }
}

fn check_config(c: &QuorumConfig) -> Result<(), String> {
    if c.id == 0 || c.voters.contains(&0) {
        return Err("raft ids must not be 0".into());
    }
    if c.voters.is_empty() {
        return Err("no voters".into());
    }
    Ok(())
}

/// The log store for what persistence recovered: voters from the
/// snapshot (or the configuration, for a new cluster), entries after the
/// snapshot, and a hard state consistent with them.
fn recovered_store(config: &QuorumConfig, recovered: Recovered) -> Result<LogStore, String> {
    let snapshot = recovered.snapshot.unwrap_or_default();
    let meta = snapshot.get_metadata();
    let (snap_index, snap_term) = (meta.index, meta.term);
    let conf_state = match meta.get_conf_state() {
        cs if snap_index > 0 && !cs.voters.is_empty() => cs.clone(),
        _ => ConfState::from((config.voters.clone(), Vec::<u64>::new())),
    };
    if !conf_state.voters.contains(&config.id) {
        return Err(format!("raft id {} is not a voter", config.id));
    }
    let entries: Vec<Entry> = recovered
        .entries
        .into_iter()
        .filter(|e| e.index > snap_index)
        .collect();
    let (last_index, last_term) = entries
        .last()
        .map_or((snap_index, snap_term), |e| (e.index, e.term));
    let hard_state = sanitize(recovered.hard_state, snap_index, last_index, last_term);
    LogStore::new(hard_state, conf_state, snapshot, entries)
}

/// Makes recovered hard state consistent with the recovered log, never in
/// an unsafe direction: the commit index (which may lag or, on a damaged
/// disk, overshoot) is clamped into [snapshot, last entry] — forgetting
/// commits is safe, raft re-learns them; the term is raised to the log's
/// last term if it is behind (only possible if the hard state was lost),
/// dropping the vote, which belonged to an older term.
fn sanitize(mut hs: HardState, snap_index: u64, last_index: u64, last_term: u64) -> HardState {
    if hs.term < last_term {
        hs.term = last_term;
        hs.vote = 0;
    }
    hs.commit = hs.commit.clamp(snap_index, last_index);
    hs
}
