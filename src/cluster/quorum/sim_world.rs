//! The simulated world `sim` checks: a seeded PRNG, the per-seed fault
//! mix (`Swarm`), nodes whose "disk" is a `MemDisk`, and a network of
//! delayed, lost, duplicated and partitioned packets. Everything random
//! comes from the one `Rng`, so a seed replays exactly.

use super::codec::encode_message;
use super::core::Quorum;
use super::durable::{MemDisk, Persist};
use super::sim::{boot, History, Machine};
use super::types::Advanced;

/// splitmix64: tiny, fast, good enough to drive a simulation.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_f00d_cafe_d00d)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    pub(super) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// One seed's cluster and fault rates (‰ are per mille).
#[derive(Debug, Clone)]
pub(super) struct Swarm {
    pub(super) nodes: usize,
    pub(super) election_tick: usize,
    pub(super) safety_ticks: u64,
    /// Extra ticks a packet may take beyond the next one.
    pub(super) max_delay: u64,
    /// ‰ per packet.
    pub(super) loss: u64,
    pub(super) duplicate: u64,
    /// ‰ per tick that the partition changes.
    pub(super) partition: u64,
    /// ‰ per node per tick.
    pub(super) crash: u64,
    /// ‰ per persist (or compaction) that the node crashes part-way.
    pub(super) torn: u64,
    /// ‰ per node per tick that its clock skips or doubles a tick.
    pub(super) jitter: u64,
    /// ‰ per tick that the client proposes.
    pub(super) propose: u64,
    /// ‰ per ready that it is handled while more events arrive (a slow disk).
    pub(super) slow_disk: u64,
    /// Applied entries between a node's compactions, at least.
    pub(super) compact_every: u64,
}

impl Swarm {
    pub(super) fn new(rng: &mut Rng) -> Swarm {
        Swarm {
            nodes: [1, 3, 3, 5][rng.below(4) as usize],
            election_tick: 6 + rng.below(5) as usize,
            safety_ticks: 400 + rng.below(800),
            max_delay: rng.below(4),
            loss: rng.below(150),
            duplicate: rng.below(100),
            partition: rng.below(30),
            crash: rng.below(10),
            torn: rng.below(100),
            jitter: rng.below(200),
            propose: 100 + rng.below(400),
            slow_disk: rng.below(200),
            compact_every: 2 + rng.below(15),
        }
    }
}

struct Packet {
    at: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

struct Node {
    id: u64,
    disk: MemDisk,
    /// None while crashed.
    quorum: Option<Quorum>,
    machine: Machine,
    down_until: u64,
}

/// What happened in a run (printed with FJORD_SIM_VERBOSE).
#[derive(Debug, Default)]
struct Stats {
    crashes: u64,
    torn_persists: u64,
    compactions: u64,
    snapshots_installed: u64,
    refused: u64,
    queued_while_persisting: u64,
}

/// See the module doc.
pub(super) struct World {
    stats: Stats,
    /// If set, every complete `Persist` each node made, in order (for
    /// replaying a realistic stream through the file persister).
    pub(super) recorded: Option<Vec<Vec<Persist>>>,
    pub(super) swarm: Swarm,
    rng: Rng,
    now: u64,
    faulty: bool,
    nodes: Vec<Node>,
    /// In send order; delivered in that order once due.
    net: Vec<Packet>,
    /// Partition group of each node: packets cross only within a group.
    groups: Vec<u64>,
    history: History,
    values: u64,
}

impl World {
    pub(super) fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let swarm = Swarm::new(&mut rng);
        let nodes = (1..=swarm.nodes as u64)
            .map(|id| Node {
                id,
                disk: MemDisk::default(),
                quorum: None,
                machine: Machine::default(),
                down_until: 0,
            })
            .collect();
        World {
            stats: Stats::default(),
            recorded: None,
            groups: vec![0; swarm.nodes],
            swarm,
            rng,
            now: 0,
            faulty: true,
            nodes,
            net: Vec::new(),
            history: History::new(),
            values: 0,
        }
    }

    /// One tick of the world.
    pub(super) fn step(&mut self, faults: bool) -> Result<(), String> {
        self.now += 1;
        self.faulty = faults;
        if faults {
            self.inject_faults();
        }
        self.restart_due()?;
        self.deliver()?;
        self.tick_all();
        // The client proposes only in the safety phase: in the liveness
        // phase the one value awaited is the last one.
        if faults && self.rng.chance(self.swarm.propose) {
            self.propose(format!("v{}", self.values));
        }
        for i in 0..self.nodes.len() {
            self.process(i)?;
            self.maybe_compact(i)?;
        }
        self.check_leaders()
    }

    fn inject_faults(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].quorum.is_some() && self.rng.chance(self.swarm.crash) {
                self.crash(i);
            }
        }
        if self.rng.chance(self.swarm.partition) {
            let heal = self.rng.chance(300);
            for g in 0..self.groups.len() {
                self.groups[g] = if heal { 0 } else { self.rng.below(3) };
            }
        }
    }

    /// Drops the node's memory; what is on its disk stays, except that the
    /// commit index written since the last term/vote change may roll back.
    fn crash(&mut self, i: usize) {
        let down = 1 + self.rng.below(4 * self.swarm.election_tick as u64);
        self.stats.crashes += 1;
        let node = &mut self.nodes[i];
        node.quorum = None;
        node.down_until = self.now + down;
        let hs = &mut node.disk.recovered.hard_state;
        let floor = node.disk.synced_commit.min(hs.commit);
        hs.commit = floor + self.rng.below(hs.commit - floor + 1);
    }

    fn restart_due(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].quorum.is_none() && self.nodes[i].down_until <= self.now {
                self.restart(i)?;
            }
        }
        Ok(())
    }

    /// Boots a node from its disk; its state machine restarts from the
    /// disk's snapshot and is rebuilt by replaying the committed entries.
    fn restart(&mut self, i: usize) -> Result<(), String> {
        let (n, base) = (self.swarm.nodes, self.swarm.election_tick);
        // Each incarnation gets its own timeout: raft-rs's randomisation is
        // off for determinism.
        let election_tick = base + self.rng.below(base as u64) as usize;
        let node = &mut self.nodes[i];
        node.quorum = Some(boot(node.id, n, election_tick, &node.disk)?);
        node.machine = match &node.disk.recovered.snapshot {
            Some(s) => self
                .history
                .check_snapshot(node.id, s.get_metadata().index, &s.data)?,
            None => Machine::default(),
        };
        Ok(())
    }

    fn deliver(&mut self) -> Result<(), String> {
        let now = self.now;
        let (due, later): (Vec<Packet>, Vec<Packet>) = std::mem::take(&mut self.net)
            .into_iter()
            .partition(|p| p.at <= now);
        self.net = later;
        for p in due {
            if self.groups[p.from] != self.groups[p.to] {
                continue;
            }
            if let Some(q) = self.nodes[p.to].quorum.as_mut() {
                let m = wire_decode(&p.bytes)?;
                if q.step(m).is_err() {
                    self.stats.refused += 1; // to raft, a loss
                }
            }
        }
        Ok(())
    }

    fn tick_all(&mut self) {
        for i in 0..self.nodes.len() {
            let r = self.rng.below(1000);
            let ticks = if r < self.swarm.jitter / 2 {
                0
            } else if r < self.swarm.jitter {
                2
            } else {
                1
            };
            if let Some(q) = self.nodes[i].quorum.as_mut() {
                (0..ticks).for_each(|_| q.tick());
            }
        }
    }

    /// The client proposes `value` to a node that thinks it leads.
    fn propose(&mut self, value: String) -> Option<()> {
        let leaders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].quorum.as_ref().is_some_and(|q| q.is_leader()))
            .collect();
        let i = *leaders.get(self.rng.below(leaders.len() as u64) as usize)?;
        self.values += 1;
        self.nodes[i]
            .quorum
            .as_mut()?
            .propose(value.into_bytes())
            .ok()
    }

    /// Runs node i's ready loop until it settles (or the node crashes).
    fn process(&mut self, i: usize) -> Result<(), String> {
        for _ in 0..1000 {
            let Some(mut q) = self.nodes[i].quorum.take() else {
                return Ok(());
            };
            let Some(work) = q.ready() else {
                self.nodes[i].quorum = Some(q);
                return Ok(());
            };
            if self.faulty && self.rng.chance(self.swarm.torn) {
                let steps = self.rng.below(persist_steps(work.persist()) + 1) as usize;
                self.nodes[i].disk.persist_partially(work.persist(), steps);
                self.stats.torn_persists += 1;
                self.crash(i);
                return Ok(());
            }
            if self.rng.chance(self.swarm.slow_disk) {
                self.meanwhile(i, &mut q);
            }
            self.record(i, work.persist());
            self.nodes[i].disk.persist(work.persist());
            let advanced = q.advance(work);
            self.send(i, &advanced.messages);
            self.apply(i, &q, advanced)?;
            self.nodes[i].quorum = Some(q);
        }
        Err(format!("node {} ready loop did not settle", i + 1))
    }

    /// While node i's persist is in flight, its clock ticks, packets for it
    /// arrive and the client may propose: the core must queue them all.
    fn record(&mut self, i: usize, p: &Persist) {
        if let Some(streams) = self.recorded.as_mut() {
            streams.resize_with(self.nodes.len(), Vec::new);
            streams[i].push(p.clone());
        }
    }

    fn meanwhile(&mut self, i: usize, q: &mut Quorum) {
        self.stats.queued_while_persisting += 1;
        q.tick();
        if let Some(k) = self.net.iter().position(|p| p.to == i) {
            let p = self.net.remove(k);
            if let Ok(m) = wire_decode(&p.bytes) {
                let _ = q.step(m);
            }
        }
        if self.faulty && q.is_leader() {
            let _ = q.propose(format!("v{}", self.values).into_bytes());
            self.values += 1;
        }
    }

    fn send(&mut self, from: usize, messages: &[raft::eraftpb::Message]) {
        for m in messages {
            let to = (m.to as usize).wrapping_sub(1);
            if to >= self.nodes.len() || (self.faulty && self.rng.chance(self.swarm.loss)) {
                continue;
            }
            let copies = if self.faulty && self.rng.chance(self.swarm.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let at = self.now + 1 + self.rng.below(self.swarm.max_delay + 1);
                let bytes = encode_message(m);
                self.net.push(Packet {
                    at,
                    from,
                    to,
                    bytes,
                });
            }
        }
    }

    fn apply(&mut self, i: usize, q: &Quorum, advanced: Advanced) -> Result<(), String> {
        let node = &mut self.nodes[i];
        if let Some(s) = &advanced.snapshot_to_apply {
            self.stats.snapshots_installed += 1;
            self.history.install(node.id, &mut node.machine, s)?;
        }
        for c in &advanced.committed {
            self.history.apply(node.id, &mut node.machine, c)?;
        }
        if node.machine.applied != q.applied_index() {
            return Err(format!(
                "node {} applied {} but the core says {}",
                node.id,
                node.machine.applied,
                q.applied_index()
            ));
        }
        Ok(())
    }

    /// Now and then a node snapshots its state machine and compacts.
    fn maybe_compact(&mut self, i: usize) -> Result<(), String> {
        let machine = self.nodes[i].machine;
        let Some(snap_index) = self.nodes[i]
            .quorum
            .as_ref()
            .map(|q| q.snapshot().map_or(0, |s| s.get_metadata().index))
        else {
            return Ok(());
        };
        if machine.applied < snap_index + self.swarm.compact_every || !self.rng.chance(300) {
            return Ok(());
        }
        let Some(q) = self.nodes[i].quorum.as_mut() else {
            return Ok(());
        };
        let s = q.compact(machine.applied, machine.encode())?;
        self.stats.compactions += 1;
        if self.faulty && self.rng.chance(self.swarm.torn) {
            self.crash(i); // before the snapshot was durable
        } else {
            let p = Persist::snapshot_only(s);
            self.record(i, &p);
            self.nodes[i].disk.persist(&p);
        }
        Ok(())
    }

    fn check_leaders(&mut self) -> Result<(), String> {
        for node in &self.nodes {
            if let Some(q) = node.quorum.as_ref().filter(|q| q.is_leader()) {
                self.history.leader(q.term(), node.id)?;
            }
        }
        Ok(())
    }

    /// Ends the faults: one partition, every node up.
    pub(super) fn heal(&mut self) -> Result<(), String> {
        self.groups.iter_mut().for_each(|g| *g = 0);
        for i in 0..self.nodes.len() {
            if self.nodes[i].quorum.is_none() {
                self.restart(i)?;
            }
        }
        Ok(())
    }

    /// With no faults, a fresh value must commit and reach every node
    /// within a bounded number of ticks.
    pub(super) fn converge(&mut self) -> Result<(), String> {
        let election = self.swarm.election_tick as u64;
        let limit = 40 * election + 10 * self.swarm.max_delay;
        let mut pending: Option<(String, u64)> = None;
        for _ in 0..limit {
            self.step(false)?;
            if let Some((value, at)) = &pending {
                match self.history.committed.get(value.as_bytes()) {
                    Some(&index) if self.everyone_applied(index) => return Ok(()),
                    Some(_) => continue,
                    None if self.now - at < 4 * election => continue,
                    None => {}
                }
            }
            let value = format!("final{}", self.now);
            if self.propose(value.clone()).is_some() {
                pending = Some((value, self.now));
            }
        }
        Err(format!("no convergence within {limit} ticks of healing"))
    }

    fn everyone_applied(&self, index: u64) -> bool {
        self.nodes.iter().all(|n| n.machine.applied >= index)
    }

    /// Every value ever committed is applied on every node.
    pub(super) fn check_everything_applied(&self) -> Result<(), String> {
        let last = self.history.committed.values().max().copied().unwrap_or(0);
        if !self.everyone_applied(last) {
            return Err(format!("committed index {last} missing on some node"));
        }
        Ok(())
    }

    pub(super) fn summary(&self) -> String {
        format!(
            "{:?}\n  after {} ticks: {}; {:?}",
            self.swarm,
            self.now,
            self.history.summary(),
            self.stats
        )
    }

    /// A digest of the world's state, to compare runs.
    pub(super) fn fingerprint(&self) -> Vec<(u64, u64, u64)> {
        self.nodes
            .iter()
            .map(|n| {
                let term = n.quorum.as_ref().map_or(0, |q| q.term());
                (n.machine.applied, n.machine.digest, term)
            })
            .collect()
    }
}

fn wire_decode(bytes: &[u8]) -> Result<raft::eraftpb::Message, String> {
    super::codec::decode_message(bytes).map_err(|e| format!("own message failed to decode: {e}"))
}

/// How many steps `MemDisk::persist_partially` can stop after.
fn persist_steps(p: &Persist) -> u64 {
    let entries = p.entries.len() as u64;
    u64::from(p.snapshot.is_some())
        + entries
        + u64::from(entries > 0)
        + u64::from(p.hard_state.is_some())
}
