//! fjord: a Kafka-compatible broker, thread-per-core on glommio with a direct-I/O log.
//!
//! Layers, top to bottom: `protocol` (framing, versions, dispatch) → `handlers`
//! (one file per Kafka API) → `shard` (executors, partition ownership, cross-core
//! messages) → `storage` (segments, indexes, recovery), with `cluster` (the
//! controller quorum, the metadata log and its image) beside `shard`: shards
//! import the cluster's image, the cluster never imports `shard`. `storage`
//! knows nothing of the wire protocol or the cluster. `quota` (client quotas
//! and connection limits, sans-IO) is used by all three and uses none. `txn`
//! is the transaction coordinator's core, sans-IO, not yet wired to
//! handlers. See docs/DESIGN.md for the why.

pub mod admin_cli;
pub mod alloc_guard;
pub mod cluster;
pub mod config;
pub mod descriptors;
pub mod group;
pub mod handlers;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod quota;
pub mod replication;
pub mod security;
pub mod shard;
pub mod storage;
pub mod tune;
pub mod txn;
pub mod util;

#[global_allocator]
static ALLOCATOR: alloc_guard::GuardedAlloc = alloc_guard::GuardedAlloc;
