//! A deterministic simulation of Kafka replication over the sans-IO state
//! machines (`LeaderState`, `FetchSession`, `divergence`) and the real
//! controller rules (`cluster::partition_change`, `Registry`,
//! `commands::plan`), in the style of the quorum simulator: one seed picks
//! the cluster (3 or 5 brokers, 1–4 partitions, replication factor 3 or 5,
//! min.insync.replicas) and the fault rates (network delay, loss,
//! duplication, partitions; broker crashes losing what was not flushed;
//! disk delays) and drives every random choice. Every seed also runs
//! transactions over the real `txn::TxnCoordinator` and the real
//! per-partition `storage::txn_state::TxnState` (and `ProducerState`):
//! one more partition of the topic is `__transaction_state`. Each
//! transactional producer follows transaction version 1 or 2 (KIP-890
//! part 2: implicit adds by partition leaders, an epoch bump per EndTxn),
//! and version 2's requests may be duplicated and delivered late.
//!
//! - `world`: clock, event queue, faults, the liveness phase; `nodes`
//!   routes its events to the node they are for.
//! - `net`: nodes, messages, delivery faults.
//! - `log`: a broker's disk for one partition (batches, epoch cache,
//!   durable prefix).
//! - `controller`: registration, heartbeats, fencing, AlterPartition,
//!   publishing the image.
//! - `broker`, `replica`: roles from the image, produce and consumer
//!   reads; fetching and serving fetches.
//! - `clients`: a producer and a consumer per partition.
//! - `txn_log`: a log's transaction and producer state, as fjord keeps it.
//! - `txn_partition`: a leader's transactional produces and
//!   read_committed reads; `txn_verify`: a leader adding a version 2
//!   producer's partition at its coordinator before appending.
//! - `txn_coordinator`, `txn_markers`: the coordinator on the state
//!   partition's leader, and its markers; `txn_history`: for some seeds,
//!   a state record from an earlier life leaving a producer's epoch near
//!   `i16::MAX`.
//! - `txn_client`, `txn_consumer`: transactional producers and a
//!   read_committed consumer per data partition.
//! - `checker`, `txn_checker`: the invariants (listed there).
//!
//! `FJORD_SIM_SEED=n cargo test --lib replication::sim` replays seed n;
//! `cargo run --example simulate_replication -- --seed n` prints its trace.
//!
//! Must not: be used by the broker. It is public only so the example can
//! drive it; nothing in it runs unless called.

mod broker;
mod checker;
mod clients;
mod controller;
mod log;
mod net;
mod nodes;
mod replica;
mod txn_checker;
mod txn_client;
mod txn_consumer;
mod txn_coordinator;
mod txn_history;
mod txn_log;
mod txn_markers;
mod txn_partition;
mod txn_verify;
mod world;

#[cfg(test)]
mod tests;

pub use world::{Stats, World};

/// splitmix64: tiny, fast, good enough to drive a simulation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x7e91_1ca7_10f5_eed5)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// One seed's cluster, timeouts and fault rates (‰ are per mille, per
/// 10 ms fault tick unless said otherwise).
#[derive(Debug, Clone)]
pub struct Swarm {
    pub brokers: usize,
    pub partitions: usize,
    pub rf: usize,
    pub min_isr: usize,
    /// Virtual ms of the faulty phase.
    pub safety_ms: i64,
    /// ‰ per live broker.
    pub crash: u64,
    pub down_max_ms: i64,
    /// ‰ that the network partition changes.
    pub split: u64,
    pub disk_max_ms: i64,
    /// ‰ per flush that the disk stalls (up to a second).
    pub stall: u64,
    pub produce_every_ms: i64,
    /// Produces a producer has out at once.
    pub max_inflight: usize,
    pub session_timeout_ms: i64,
    pub lag_max_ms: i64,
    /// Transactional producers; with none, no transactions at all.
    pub txn_producers: usize,
    pub txn_timeout_ms: i32,
    /// ‰ of transactions producers mean to commit.
    pub commit: u64,
    /// ‰ per transactional producer that it restarts.
    pub txn_restart: u64,
    /// Per transactional producer: transaction version 2 (else 1).
    pub txn_version2: Vec<bool>,
    /// The epoch an earlier life left the first version 2 producer's
    /// transactional id at, near `i16::MAX` (`txn_history`).
    pub epoch_near_max: Option<i16>,
}

impl Swarm {
    pub fn new(rng: &mut Rng) -> Swarm {
        let brokers = [3, 5][rng.below(2) as usize];
        let rf = if brokers == 5 && rng.chance(300) {
            5
        } else {
            3
        };
        let min_isr = match rng.below(10) {
            0 => 1,
            1 => 3,
            _ => 2,
        };
        let mut swarm = Swarm {
            brokers,
            partitions: 1 + rng.below(4) as usize,
            rf,
            min_isr,
            safety_ms: 2_000 + rng.below(3_000) as i64,
            crash: rng.below(15),
            down_max_ms: 20 + rng.below(1_500) as i64,
            split: rng.below(50),
            disk_max_ms: 1 + rng.below(30) as i64,
            stall: rng.below(30),
            produce_every_ms: 2 + rng.below(30) as i64,
            max_inflight: 1 + rng.below(4) as usize,
            session_timeout_ms: 200 + rng.below(800) as i64,
            lag_max_ms: 100 + rng.below(600) as i64,
            txn_producers: 1 + rng.below(2) as usize,
            txn_timeout_ms: 1_000 + rng.below(3_000) as i32,
            commit: 300 + rng.below(650),
            txn_restart: rng.below(4),
            txn_version2: Vec::new(),
            epoch_near_max: None,
        };
        // Drawn last, so the fields above are what they were before
        // transaction version 2.
        swarm.txn_version2 = (0..swarm.txn_producers).map(|_| rng.chance(500)).collect();
        if swarm.txn_version2.contains(&true) && rng.chance(150) {
            swarm.epoch_near_max = Some(i16::MAX - 2 - rng.below(6) as i16);
        }
        swarm
    }

    /// The `__transaction_state` partition (after the data partitions), if
    /// the run has transactions.
    pub fn state_partition(&self) -> Option<i32> {
        (self.txn_producers > 0).then_some(self.partitions as i32)
    }

    /// Data partitions and the state partition.
    pub fn all_partitions(&self) -> usize {
        self.partitions + usize::from(self.txn_producers > 0)
    }
}

/// Runs one seed: the faulty safety phase, then the healed liveness phase.
/// `trace` prints every event.
pub fn run_seed(seed: u64, trace: bool) -> Result<World, String> {
    let mut w = World::new(seed, trace);
    if trace {
        println!("seed {seed}: {:?}", w.swarm);
    }
    let safety = w.swarm.safety_ms;
    w.run_until(safety)?;
    w.heal();
    w.converge()?;
    Ok(w)
}
