//! The values that cross `Quorum`'s API: its configuration, its errors,
//! the `Work` of one ready and what advancing it releases.

use raft::eraftpb::Message;
use raft::Ready;
use slog::Logger;

use super::durable::Persist;

/// How to build a `Quorum`. Ids are raft ids (never 0); the caller maps
/// node ids to them.
#[derive(Clone)]
pub struct QuorumConfig {
    pub id: u64,
    pub voters: Vec<u64>,
    /// Ticks without a leader before campaigning (randomised up to twice).
    pub election_tick: usize,
    /// Ticks between leader heartbeats; less than `election_tick`.
    pub heartbeat_tick: usize,
    pub logger: Logger,
}

/// A peer message was not stepped; to raft that is a lost message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRefused {
    pub reason: String,
}

/// Only the leader takes proposals; `leader` is whom to ask, if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotLeader {
    pub leader: Option<u64>,
}

impl std::fmt::Display for StepRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raft message refused: {}", self.reason)
    }
}

impl std::fmt::Display for NotLeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.leader {
            Some(id) => write!(f, "not the leader; raft node {id} is"),
            None => write!(f, "not the leader; no leader known"),
        }
    }
}

impl std::error::Error for StepRefused {}
impl std::error::Error for NotLeader {}

/// One ready's worth of work: make `persist()` durable, then `advance`.
pub struct Work {
    pub(super) persist: Persist,
    /// None when only a commit index moved (nothing for raft-rs to advance).
    pub(super) ready: Option<Ready>,
}

impl Work {
    /// What must be durable before `Quorum::advance(self)`.
    pub fn persist(&self) -> &Persist {
        &self.persist
    }
}

/// One committed entry, to apply in order. Empty `data` is a leader's
/// no-op entry: nothing to apply, but it moves the applied index. Conf
/// change entries are applied inside `Quorum` and not listed, so indexes
/// may skip one; `Quorum::applied_index` is the authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// A leader's snapshot that replaced our log: the caller's state machine
/// must be rebuilt from `data` (before applying anything committed after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSnapshot {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// Everything a `Work` released, in the order to act on it.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Send these (to `m.to`); delivery is best effort.
    pub messages: Vec<Message>,
    /// Install first, if present.
    pub snapshot_to_apply: Option<AppliedSnapshot>,
    /// Then apply these, in index order.
    pub committed: Vec<Committed>,
}

/// A voter's replication state as the leader sees it (DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterProgress {
    pub id: u64,
    /// Highest index known to be in its log.
    pub matched: u64,
    /// Heard from within the last election timeout.
    pub recent_active: bool,
}
