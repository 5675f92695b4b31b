//! One consumer group's state, as Kafka's classic protocol defines it, and the
//! pure decisions on it (protocol selection, who has rejoined, expiry). No
//! I/O and no awaiting here: `coordinator` drives the transitions.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures_channel::oneshot;

use super::records::{GroupValue, OffsetValue, StoredMember};
use super::types::{JoinResult, MemberMeta, SyncResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// When the member is considered dead without a heartbeat.
    pub expires_at_ms: i64,
    /// Order of first join; the earliest member leads when the leader leaves.
    pub joined_seq: u64,
    /// Set while the member waits in JoinGroup for the rebalance to finish.
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    /// Set while the member waits in SyncGroup for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Joined the current generation and has sent its SyncGroup.
    pub synced: bool,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }
}

pub struct Group {
    pub id: String,
    /// The `__consumer_offsets` partition that stores this group.
    pub partition: i32,
    pub state: GroupState,
    pub state_since_ms: i64,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Static members: instance id → current member id.
    pub instances: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, valid until this time.
    pub pending: HashMap<String, i64>,
    /// PreparingRebalance: when the join phase ends regardless of stragglers.
    pub join_deadline_ms: i64,
    /// PreparingRebalance from Empty: the initial delay may end it earlier
    /// than `join_deadline_ms` once no new member arrives for a while.
    pub initial_delay_until_ms: Option<i64>,
    /// CompletingRebalance: when members that have not synced are dropped.
    pub sync_deadline_ms: i64,
    pub offsets: HashMap<(String, i32), OffsetValue>,
    /// Offsets committed inside a transaction, by producer id, until its
    /// marker commits (into `offsets`) or aborts them.
    pub pending_txn: HashMap<i64, HashMap<(String, i32), OffsetValue>>,
    pub next_seq: u64,
}

impl Group {
    pub fn new(id: &str, partition: i32, now: i64) -> Group {
        Group {
            id: id.to_string(),
            partition,
            state: GroupState::Empty,
            state_since_ms: now,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            instances: HashMap::new(),
            pending: HashMap::new(),
            join_deadline_ms: 0,
            initial_delay_until_ms: None,
            sync_deadline_ms: 0,
            offsets: HashMap::new(),
            pending_txn: HashMap::new(),
            next_seq: 0,
        }
    }

    pub fn set_state(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_since_ms = now;
    }

    /// Protocols every member supports, chosen by vote: each member votes for
    /// its most preferred candidate, most votes win (Kafka's rule; ties go to
    /// the first member's preference order).
    pub fn select_protocol(&self) -> Option<String> {
        let mut members = self.members.values();
        let first = members.next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|p| self.members.values().all(|m| m.supports(p)))
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
            {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == best)
            .map(|(c, _)| c.to_string())
    }

    /// Whether a member with these protocols could join: same protocol type
    /// and at least one protocol in common with every current member.
    pub fn accepts(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: Option<&str>,
    ) -> bool {
        if protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| Some(m.id.as_str()) != except)
            .collect();
        if others.is_empty() {
            return true;
        }
        self.protocol_type
            .as_deref()
            .is_none_or(|t| t == protocol_type)
            && protocols
                .iter()
                .any(|(p, _)| others.iter().all(|m| m.supports(p)))
    }

    pub fn all_rejoined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// The earliest-joined member: the next leader when the leader is gone.
    pub fn first_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.joined_seq)
            .map(|m| m.id.clone())
    }

    pub fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// What the join phase answers `member_id` (the leader sees everyone).
    pub fn join_result(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            self.members
                .values()
                .map(|m| MemberMeta {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    metadata: m.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    pub fn sync_result(&self, assignment: Bytes) -> SyncResult {
        SyncResult {
            error: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment,
        }
    }

    /// The metadata record persisted for this group.
    pub fn to_value(&self) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_since_ms,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms as i32,
                    session_timeout_ms: m.session_timeout_ms as i32,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds the group from its last metadata record at load. Members
    /// come back Stable with fresh session timers, as in Kafka: live clients
    /// keep heartbeating, dead ones expire.
    pub fn restore(&mut self, v: GroupValue, now: i64) {
        self.protocol_type = Some(v.protocol_type).filter(|t| !t.is_empty());
        self.generation = v.generation;
        self.protocol = v.protocol.clone();
        self.leader = v.leader;
        self.members.clear();
        self.instances.clear();
        let protocol = v.protocol.unwrap_or_default();
        for (seq, m) in v.members.into_iter().enumerate() {
            if let Some(i) = &m.instance_id {
                self.instances.insert(i.clone(), m.member_id.clone());
            }
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms as i64,
                rebalance_timeout_ms: m.rebalance_timeout_ms as i64,
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                expires_at_ms: now + m.session_timeout_ms as i64,
                joined_seq: seq as u64,
                join_waiter: None,
                sync_waiter: None,
                synced: true,
            };
            self.members.insert(m.member_id, member);
        }
        self.next_seq = self.members.len() as u64;
        let state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.state = state;
        self.state_since_ms = if v.state_timestamp > 0 {
            v.state_timestamp
        } else {
            now
        };
    }
}
