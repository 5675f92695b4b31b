//! (stub: replaced by the quorum branch)
#![allow(dead_code, unused_variables)]
use raft::eraftpb::{Message, Snapshot};

pub struct QuorumConfig {
    pub id: u64,
    pub voters: Vec<u64>,
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    pub logger: slog::Logger,
}
#[derive(Default)]
pub struct Recovered;
#[derive(Default)]
pub struct Persist;
pub struct Work;
impl Work {
    pub fn persist(&self) -> &Persist {
        todo!()
    }
}
pub struct Committed {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}
pub struct AppliedSnapshot {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}
pub struct Advanced {
    pub messages: Vec<Message>,
    pub committed: Vec<Committed>,
    pub snapshot_to_apply: Option<AppliedSnapshot>,
}
pub struct NotLeader {
    pub leader: Option<u64>,
}
pub struct VoterProgress {
    pub id: u64,
    pub matched: u64,
    pub recent_active: bool,
}
pub struct Quorum;
impl Quorum {
    pub fn new(config: QuorumConfig, recovered: Recovered) -> Result<Quorum, String> {
        todo!()
    }
    pub fn campaign(&mut self) {}
    pub fn tick(&mut self) {}
    pub fn step(&mut self, m: Message) -> Result<(), String> {
        todo!()
    }
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(), NotLeader> {
        todo!()
    }
    pub fn ready(&mut self) -> Option<Work> {
        todo!()
    }
    pub fn advance(&mut self, work: Work) -> Advanced {
        todo!()
    }
    pub fn leader_id(&self) -> Option<u64> {
        todo!()
    }
    pub fn is_leader(&self) -> bool {
        todo!()
    }
    pub fn term(&self) -> u64 {
        todo!()
    }
    pub fn commit_index(&self) -> u64 {
        todo!()
    }
    pub fn last_index(&self) -> u64 {
        todo!()
    }
    pub fn progress(&self) -> Vec<VoterProgress> {
        todo!()
    }
    pub fn compact(&mut self, applied: u64, data: Vec<u8>) -> Result<Snapshot, String> {
        todo!()
    }
}
pub struct FilePersister;
impl FilePersister {
    pub fn open(dir: &std::path::Path) -> std::io::Result<(FilePersister, Recovered)> {
        todo!()
    }
    pub async fn persist(&mut self, p: &Persist) -> std::io::Result<()> {
        todo!()
    }
    pub async fn persist_snapshot(&mut self, s: &Snapshot) -> std::io::Result<()> {
        todo!()
    }
}
pub fn encode_message(m: &Message) -> Vec<u8> {
    todo!()
}
pub fn decode_message(b: &[u8]) -> Result<Message, String> {
    todo!()
}
