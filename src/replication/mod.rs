//! Kafka replication, sans-IO: the state machines that decide, for one
//! partition, what a leader and its followers do. The shard drives them
//! with messages and time (fetches served and answered, durability, the
//! metadata image, ticks) and carries out what they return (append,
//! truncate, set the high watermark, propose an ISR to the controller).
//! Because nothing here does I/O, `sim` runs a whole cluster of them in one
//! thread under a seeded, virtual clock and network.
//!
//! - `leader`: follower progress, ISR proposals, the high watermark.
//! - `follower`: one fetch session per leader broker, truncation steps.
//! - `divergence`: the leader's check of a follower's last fetched epoch.
//!
//! Must not: import `shard`, `storage` or `cluster` from the state machines
//! (the controller's election rules live in `cluster::partition_change`;
//! only the simulator, a test harness, uses them, so it elects exactly as
//! the real controller does).

pub mod divergence;
pub mod follower;
pub mod leader;
pub mod sim;
