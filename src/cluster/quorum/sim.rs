//! A deterministic simulation of the quorum, in the style of TigerBeetle's
//! VOPR: one seed picks the cluster size and fault rates and drives every
//! random choice — network delay, loss, duplication, partitions, clock
//! jitter, crashes (also in the middle of a persist, and with the unsynced
//! commit index rolled back), restarts from the in-memory disk, and
//! compactions. All nodes run on one thread, one tick at a time.
//!
//! Checked on every step: nodes apply entries contiguously; no two apply
//! different (term, data) at one index, so every node's applied sequence is
//! a prefix of one history; snapshots carry the history's digest at their
//! index; at most one leader per term. Then a liveness phase heals
//! everything and requires a proposal to commit and reach every node within
//! a bounded number of ticks, after which every value ever committed must
//! be applied everywhere.
//!
//! `FJORD_SIM_SEED=n cargo test --lib cluster::quorum::sim` replays seed n.

use std::collections::BTreeMap;

use super::core::Quorum;
use super::durable::MemDisk;
use super::sim_world::{Rng, Swarm, World};
use super::types::{AppliedSnapshot, Committed, QuorumConfig};

/// Seeds run by a plain `cargo test`, split over `SHARDS` tests so the test
/// harness can use more than one core.
const SEEDS: u64 = 2000;
const SHARDS: u64 = 4;

/// A node's state machine: how far it applied, and a digest of everything
/// applied (snapshots carry it as their data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Machine {
    pub(super) applied: u64,
    pub(super) digest: u64,
}

impl Machine {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = self.applied.to_le_bytes().to_vec();
        v.extend_from_slice(&self.digest.to_le_bytes());
        v
    }

    pub(super) fn decode(data: &[u8]) -> Result<Machine, String> {
        let word = |i: usize| {
            data.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| format!("snapshot data of {} bytes", data.len()))
        };
        Ok(Machine {
            applied: word(0)?,
            digest: word(8)?,
        })
    }
}

fn chain(digest: u64, index: u64, term: u64, data: &[u8]) -> u64 {
    // FNV-1a over (index, term, data), seeded with the previous digest.
    let mut h = digest ^ 0xcbf2_9ce4_8422_2325;
    let bytes = index
        .to_le_bytes()
        .into_iter()
        .chain(term.to_le_bytes())
        .chain(data.iter().copied());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The one history every node's applied entries must be a prefix of.
#[derive(Default)]
pub(super) struct History {
    /// `entries[i]` is (term, data) of index i + 1.
    entries: Vec<(u64, Vec<u8>)>,
    /// `digests[i]`: the digest after applying index i (0 for index 0).
    digests: Vec<u64>,
    /// Index at which each client value was first applied by anyone.
    pub(super) committed: BTreeMap<Vec<u8>, u64>,
    leaders: BTreeMap<u64, u64>,
}

impl History {
    pub(super) fn new() -> History {
        History {
            digests: vec![0],
            ..History::default()
        }
    }

    pub(super) fn apply(
        &mut self,
        node: u64,
        m: &mut Machine,
        c: &Committed,
    ) -> Result<(), String> {
        if c.index != m.applied + 1 {
            return Err(format!(
                "node {node} applied {} right after {}",
                c.index, m.applied
            ));
        }
        let i = c.index as usize;
        if let Some((term, data)) = self.entries.get(i - 1) {
            if (*term, data) != (c.term, &c.data) {
                return Err(format!(
                    "node {node} applied ({}, {:?}) at {i}, history has ({term}, {:?})",
                    c.term,
                    String::from_utf8_lossy(&c.data),
                    String::from_utf8_lossy(data)
                ));
            }
        } else {
            let digest = chain(self.digests[i - 1], c.index, c.term, &c.data);
            self.entries.push((c.term, c.data.clone()));
            self.digests.push(digest);
            if !c.data.is_empty() && self.committed.insert(c.data.clone(), c.index).is_some() {
                return Err(format!(
                    "value {:?} committed twice",
                    String::from_utf8_lossy(&c.data)
                ));
            }
        }
        m.digest = chain(m.digest, c.index, c.term, &c.data);
        m.applied = c.index;
        if m.digest != self.digests[i] {
            return Err(format!("node {node} digest differs at {i}"));
        }
        Ok(())
    }

    /// A snapshot must be a state the history passed through.
    pub(super) fn check_snapshot(
        &self,
        node: u64,
        index: u64,
        data: &[u8],
    ) -> Result<Machine, String> {
        let m = Machine::decode(data)?;
        let known = self.digests.get(index as usize);
        if m.applied != index || known != Some(&m.digest) {
            return Err(format!(
                "node {node} got a snapshot at {index} unlike the history"
            ));
        }
        Ok(m)
    }

    pub(super) fn install(
        &self,
        node: u64,
        m: &mut Machine,
        s: &AppliedSnapshot,
    ) -> Result<(), String> {
        if s.index <= m.applied {
            return Err(format!(
                "node {node} got snapshot {} having applied {}",
                s.index, m.applied
            ));
        }
        *m = self.check_snapshot(node, s.index, &s.data)?;
        Ok(())
    }

    pub(super) fn summary(&self) -> String {
        format!(
            "{} entries, {} values, {} terms with a leader",
            self.entries.len(),
            self.committed.len(),
            self.leaders.len()
        )
    }

    pub(super) fn leader(&mut self, term: u64, id: u64) -> Result<(), String> {
        let first = *self.leaders.entry(term).or_insert(id);
        if first != id {
            return Err(format!("two leaders in term {term}: {first} and {id}"));
        }
        Ok(())
    }
}

/// Runs one seed: a faulty safety phase, then a healed liveness phase.
pub(super) fn run_seed(seed: u64) -> Result<(), String> {
    let mut w = World::new(seed);
    for _ in 0..w.swarm.safety_ticks {
        w.step(true)?;
    }
    w.heal()?;
    w.converge()?;
    w.check_everything_applied()?;
    if std::env::var_os("FJORD_SIM_VERBOSE").is_some() {
        eprintln!("seed {seed}: {}", w.summary());
    }
    Ok(())
}

fn run_seeds(seeds: impl Iterator<Item = u64>) {
    for seed in seeds {
        let outcome = std::panic::catch_unwind(|| run_seed(seed));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => "panicked (see above)".to_string(),
        };
        panic!(
            "simulation seed {seed} failed: {failure}\n  swarm: {:?}\n  reproduce: \
             FJORD_SIM_SEED={seed} cargo test --lib cluster::quorum::sim",
            Swarm::new(&mut Rng::new(seed))
        );
    }
}

fn shard(n: u64) {
    run_seeds(crate::util::sim_seeds(n, SEEDS, SHARDS).into_iter());
}

#[test]
fn seeds_shard_0() {
    shard(0);
}

#[test]
fn seeds_shard_1() {
    shard(1);
}

#[test]
fn seeds_shard_2() {
    shard(2);
}

#[test]
fn seeds_shard_3() {
    shard(3);
}

/// The same seed twice gives the same run (the simulation's premise).
#[test]
fn runs_are_reproducible() {
    let trace = |seed| {
        let mut w = World::new(seed);
        for _ in 0..200 {
            w.step(true).expect("safety");
        }
        w.fingerprint()
    };
    assert_eq!(trace(7), trace(7));
}

/// Used by `World`: the config of node `id` in a cluster of `n`.
pub(super) fn config(id: u64, n: usize, election_tick: usize) -> QuorumConfig {
    QuorumConfig {
        id,
        voters: (1..=n as u64).collect(),
        election_tick,
        heartbeat_tick: 2,
        logger: slog::Logger::root(slog::Discard, slog::o!()),
    }
}

/// Used by `World`: start (or restart) a node from its disk.
pub(super) fn boot(
    id: u64,
    n: usize,
    election_tick: usize,
    disk: &MemDisk,
) -> Result<Quorum, String> {
    Quorum::new_fixed_timeout(config(id, n, election_tick), disk.recovered.clone())
        .map_err(|e| format!("node {id} failed to start: {e}"))
}
