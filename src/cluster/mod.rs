//! The cluster: a controller quorum on raft-rs, the metadata log it
//! replicates, and the image of that log every node applies.
//!
//! What lives here and what it must not do:
//! - `records`, `image`: the metadata log's records and the state they build.
//!   Pure data; no I/O, no glommio.
//! - `placement`, `commands`, `security_commands`, `partition_commands`,
//!   `elections`, `elr`, `reassignment`, `registry`, `partition_change`, `seed`:
//!   the active controller's decisions (where replicas go, which records a
//!   request becomes — topics, ACLs, SCRAM credentials, dynamic configs,
//!   ISR changes, elections, reassignments —, which brokers to fence, who
//!   leads a partition then, what a new log starts with). Sans-IO: an
//!   image and a request in, records and a reply out.
//! - `quorum`: raft-rs driven without I/O, plus the durable raft log.
//! - `wire`, `transport`, `driver`, `lifecycle`: the thin I/O around them on
//!   the controller shard (0): the controller listener, peer connections,
//!   persisting before acknowledging, handing each new image to every shard.
//!
//! The cluster knows shards only through the messages it sends them
//! (`shard::messages`); storage knows nothing of the cluster.

mod active;
pub mod boot;
mod client;
pub mod commands;
pub mod elections;
pub mod elr;
pub mod image;
mod lifecycle;
pub mod link;
pub mod node;
pub mod notify;
pub mod partition_change;
pub mod partition_commands;
pub mod placement;
pub mod quorum;
pub mod quota_commands;
mod raft_loop;
pub mod reassignment;
pub mod records;
pub mod registry;
pub mod security_commands;
pub mod seed;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod tests;
