//! The controller quorum: raft-rs (tikv/raft-rs) driven without I/O, the
//! durable raft log under `DATA_DIR/metadata/`, and a deterministic
//! simulation that checks the two together.
//!
//! - `core`: `Quorum`, the sans-IO wrapper around `raft::RawNode` (tick,
//!   step, propose; the ready → persist → advance loop; queries).
//! - `types`: the values crossing its API (config, errors, `Work`, …).
//! - `storage`: `LogStore`, the in-memory `raft::Storage` it reads.
//! - `durable`: `Persist` and `Recovered`, the durable state's shape.
//! - `persist`: `FilePersister`, which writes it with glommio and recovers it.
//! - `guard`, `codec`: what a peer's bytes must be before raft-rs sees them.
//! - `sim`, `sim_world` (tests only): many seeded runs of a cluster with a
//!   faulty network, crashes and compactions, checked for safety and
//!   liveness.
//!
//! Consensus itself is raft-rs's; nothing here re-implements it.
//!
//! The driver loop on the controller shard, in outline:
//!
//! ```ignore
//! let (mut disk, recovered) = FilePersister::open(&data_dir.join("metadata"))?;
//! let image = recovered.snapshot.as_ref().map(|s| decode_image(&s.data));
//! let mut quorum = Quorum::new(config, recovered)?;
//! loop {
//!     match next_event().await {
//!         Tick => quorum.tick(),
//!         Peer(bytes) => match decode_message(&bytes) {
//!             Ok(m) => { let _ = quorum.step(m); } // refused = lost
//!             Err(_) => {}
//!         },
//!         Propose(data) => if let Err(e) = quorum.propose(data) { redirect(e.leader) },
//!     }
//!     while let Some(work) = quorum.ready() {
//!         disk.persist(work.persist()).await?; // on error: rebuild from open()
//!         let out = quorum.advance(work);
//!         for m in &out.messages { send(m.to, encode_message(m)); }
//!         if let Some(s) = out.snapshot_to_apply { image = decode_image(&s.data); }
//!         for c in out.committed { apply(&mut image, c.index, &c.data); }
//!     }
//!     if quorum.applied_index() >= last_snapshot + SNAPSHOT_EVERY {
//!         let s = quorum.compact(quorum.applied_index(), encode_image(&image))?;
//!         disk.persist(&Persist::snapshot_only(s)).await?;
//!     }
//! }
//! ```

mod codec;
mod core;
mod durable;
mod guard;
mod persist;
mod storage;
mod types;

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod persist_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_world;

pub use self::codec::{decode_message, encode_message, MAX_MESSAGE_BYTES};
pub use self::core::Quorum;
pub use self::durable::{Persist, Recovered};
pub use self::persist::FilePersister;
pub use self::storage::LogStore;
pub use self::types::{
    Advanced, AppliedSnapshot, Committed, NotLeader, QuorumConfig, StepRefused, VoterProgress, Work,
};
pub use raft::eraftpb::{Entry, HardState, Message, MessageType, Snapshot};
