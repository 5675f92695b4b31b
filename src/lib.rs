//! fjord: a Kafka-compatible broker, thread-per-core on glommio with a direct-I/O log.
//!
//! Layers, top to bottom: `protocol` (framing, versions, dispatch) → `handlers`
//! (one file per Kafka API) → `shard` (executors, partition ownership, cross-core
//! messages) → `storage` (segments, indexes, recovery). `storage` knows nothing
//! of the wire protocol. See docs/DESIGN.md for the why.

pub mod admin_cli;
pub mod alloc_guard;
pub mod cluster;
pub mod config;
pub mod group;
pub mod handlers;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod security;
pub mod shard;
pub mod storage;
pub mod tune;
pub mod util;

#[global_allocator]
static ALLOCATOR: alloc_guard::GuardedAlloc = alloc_guard::GuardedAlloc;
