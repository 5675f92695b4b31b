//! The controller quorum: raft-rs (tikv/raft-rs) driven without I/O, the
//! durable raft log under `DATA_DIR/metadata/`, and a deterministic
//! simulation that checks the two together.
//!
//! - `core`: `Quorum`, the sans-IO wrapper around `raft::RawNode` (tick,
//!   step, propose; the ready → persist → advance loop; queries).
//! - `storage`: `LogStore`, the in-memory `raft::Storage` it reads.
//! - `durable`: `Persist` and `Recovered`, the durable state's shape.
//! - `persist`: `FilePersister`, which writes it with glommio and recovers it.
//! - `guard`, `codec`: what a peer's bytes must be before raft-rs sees them.
//! - `sim` (tests only): many seeded runs with a lossy network and crashes.
//!
//! Consensus itself is raft-rs's; nothing here re-implements it.

mod codec;
mod core;
mod durable;
mod guard;
mod persist;
mod storage;

#[cfg(test)]
mod persist_tests;
#[cfg(test)]
mod sim;

pub use self::codec::{decode_message, encode_message, MAX_MESSAGE_BYTES};
pub use self::core::{
    Advanced, AppliedSnapshot, Committed, NotLeader, Quorum, QuorumConfig, StepRefused,
    VoterProgress, Work,
};
pub use self::durable::{Persist, Recovered};
pub use self::persist::FilePersister;
pub use self::storage::LogStore;
pub use raft::eraftpb::{Entry, HardState, Message, MessageType, Snapshot};
