//! The simulated world: a virtual clock in ms, one queue of timed events
//! (message arrivals, flush completions, ticks, restarts), the network,
//! the controller, the brokers and the clients, all on one thread. Every
//! random choice comes from the seed's one `Rng`, so a seed replays
//! exactly. After every event the checker looks at every live log.
//!
//! A run is a safety phase (faults: crashes, partitions, loss, duplicates,
//! transactional producers restarting) then a liveness phase (healed,
//! everyone restarted) that must reach a fully replicated cluster with a
//! last produce acknowledged in time, and, with transactions, a last
//! transaction committed per producer, every transaction complete and
//! every read_committed consumer at the log end.
//!
//! Must not: let a handler touch another node's state (they talk through
//! `Ctx`, which only queues messages and flushes).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::broker::{Broker, Config, Role};
use super::checker::Checker;
use super::clients::{Consumer, Producer};
use super::controller::Controller;
use super::net::{Msg, Net, Node};
use super::nodes::Nodes;
use super::txn_client::{TxnClientConfig, TxnProducer};
use super::txn_consumer::TxnConsumer;
use super::txn_history;
use super::{Rng, Swarm};

/// Transactional producer `i`'s transactional id.
fn transactional_id(i: usize) -> String {
    format!("txn-{i}")
}

/// Virtual ms the liveness phase may take.
pub const LIVENESS_MS: i64 = 30_000;
const TICK_MS: i64 = 10;

/// What happened in a run.
#[derive(Debug, Default)]
pub struct Stats {
    pub events: u64,
    pub messages: u64,
    pub dropped: u64,
    pub crashes: u64,
    pub splits: u64,
    pub truncations: u64,
    /// EndTxn acknowledged to a producer, by outcome.
    pub txn_committed: u64,
    pub txn_aborted: u64,
    /// Transactional producers fenced (by a restart, or a timeout's abort).
    pub txn_fenced: u64,
    pub txn_restarts: u64,
    /// Markers sent again after a retriable answer.
    pub marker_retries: u64,
    pub markers_fenced: u64,
    /// Of the EndTxn acknowledged, those of version 2 producers.
    pub txn_v2_committed: u64,
    pub txn_v2_aborted: u64,
    /// Version 2 aborts sent with batches still out.
    pub txn_v2_abandoned: u64,
    /// Copies of version 2 requests the network delivered late.
    pub late_copies: u64,
    /// Implicit adds refused as fenced (a late copy, or a zombie).
    pub implicit_adds_fenced: u64,
    /// Transactional batches a leader's log refused for a stale epoch.
    pub stale_epoch_refused: u64,
    /// Producer ids the coordinators allocated, and the rotations a
    /// version 2 EndTxn answered (an exhausted epoch).
    pub producer_ids_allocated: u64,
    pub producer_id_rotations: u64,
}

/// What a handler may do to the world: send, flush, fail, trace.
pub struct Ctx<'a> {
    pub now: i64,
    pub rng: &'a mut Rng,
    pub checker: &'a mut Checker,
    pub stats: &'a mut Stats,
    next_id: &'a mut u64,
    trace: bool,
    out: Vec<(Node, Node, Msg)>,
    /// (broker, incarnation, partition, mark)
    flushes: Vec<(i32, u64, i32, u64)>,
}

impl Ctx<'_> {
    pub fn send(&mut self, from: Node, to: Node, msg: Msg) {
        self.out.push((from, to, msg));
    }

    pub fn flush(&mut self, broker: i32, incarnation: u64, p: i32, mark: u64) {
        self.flushes.push((broker, incarnation, p, mark));
    }

    pub fn fail(&mut self, msg: String) {
        self.checker.fail(msg);
    }

    /// Unique across the run: record ids and request ids.
    pub fn next_id(&mut self) -> u64 {
        *self.next_id += 1;
        *self.next_id
    }

    pub fn trace(&self, line: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>7} {}", self.now, line());
        }
    }
}

enum Event {
    Deliver { from: Node, to: Node, msg: Box<Msg> },
    Flush(i32, u64, i32, u64),
    Tick(Node),
    Faults,
    Restart(i32),
}

struct Scheduled {
    at: i64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// See the module doc.
pub struct World {
    pub swarm: Swarm,
    rng: Rng,
    pub now: i64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    next_id: u64,
    trace: bool,
    faults: bool,
    net: Net,
    pub nodes: Nodes,
    pub checker: Checker,
    pub stats: Stats,
}

impl World {
    pub fn new(seed: u64, trace: bool) -> World {
        let mut rng = Rng::new(seed);
        let swarm = Swarm::new(&mut rng);
        let net = Net::new(
            swarm.brokers,
            swarm.partitions,
            swarm.txn_producers,
            &mut rng,
        );
        let ids: Vec<i32> = (1..=swarm.brokers as i32).collect();
        let assignment: Vec<Vec<i32>> = (0..swarm.all_partitions())
            .map(|p| (0..swarm.rf).map(|k| ids[(p + k) % ids.len()]).collect())
            .collect();
        let cfg = Config {
            min_isr: swarm.min_isr,
            lag_max_ms: swarm.lag_max_ms,
            heartbeat_ms: 100,
            fetch_backoff_ms: 100,
            idle_fetch_ms: 20,
            request_timeout_ms: 200,
            max_batches: 1 + rng.below(8) as usize,
            state_partition: swarm.state_partition(),
        };
        let txn_cfg = TxnClientConfig {
            data_partitions: swarm.partitions,
            state_partition: swarm.partitions as i32,
            timeout_ms: swarm.txn_timeout_ms,
            commit: swarm.commit,
            every_ms: swarm.produce_every_ms * 3,
        };
        let controller = Controller::new(
            ids.clone(),
            &assignment,
            swarm.session_timeout_ms,
            swarm.min_isr,
        );
        let n = swarm.partitions;
        let all = swarm.all_partitions();
        let txn_producers = swarm.txn_producers;
        let txn_consumers = if txn_producers > 0 { n } else { 0 };
        let mut w = World {
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            next_id: 0,
            trace,
            faults: true,
            net,
            nodes: Nodes {
                controller,
                brokers: ids.iter().map(|b| Broker::new(*b, all, cfg)).collect(),
                producers: (0..n as i32)
                    .map(|p| Producer::new(p, swarm.produce_every_ms, swarm.max_inflight))
                    .collect(),
                consumers: (0..n as i32).map(Consumer::new).collect(),
                txn_producers: (0..txn_producers)
                    .map(|i| {
                        let v2 = swarm.txn_version2[i];
                        TxnProducer::new(i, transactional_id(i), txn_cfg, v2)
                    })
                    .collect(),
                txn_consumers: (0..txn_consumers as i32).map(TxnConsumer::new).collect(),
            },
            checker: Checker::new(all),
            stats: Stats::default(),
            swarm,
        };
        let mut ticking: Vec<Node> = ids.iter().map(|b| Node::Broker(*b)).collect();
        ticking.push(Node::Controller);
        ticking.extend((0..n).map(Node::Producer));
        ticking.extend((0..n).map(Node::Consumer));
        ticking.extend((0..txn_producers).map(Node::TxnProducer));
        ticking.extend((0..txn_consumers).map(Node::TxnConsumer));
        for node in ticking {
            let at = w.rng.below(TICK_MS as u64) as i64;
            w.schedule(at, Event::Tick(node));
        }
        w.schedule(TICK_MS, Event::Faults);
        if let Some(epoch) = w.swarm.epoch_near_max {
            w.seed_history(epoch, &assignment);
        }
        w
    }

    /// `txn_history`: the first version 2 producer's id starts at `epoch`.
    fn seed_history(&mut self, epoch: i16, assignment: &[Vec<i32>]) {
        let i = self.swarm.txn_version2.iter().position(|v| *v);
        let i = i.expect("an earlier life only for a version 2 producer");
        let p = self.swarm.partitions;
        self.next_id += 1;
        for r in &assignment[p] {
            let log = &mut self.nodes.brokers[*r as usize - 1].parts[p].log;
            txn_history::seed(log, &transactional_id(i), epoch, self.next_id);
        }
    }

    fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        let seq = self.seq;
        self.queue.push(Reverse(Scheduled { at, seq, event }));
    }

    /// Runs one event, then the checks. Err on the first violation.
    pub fn step(&mut self) -> Result<(), String> {
        let Reverse(next) = self.queue.pop().expect("ticks never stop");
        assert!(next.at >= self.now, "time goes forward");
        self.now = next.at;
        self.stats.events += 1;
        let mut ctx = Ctx {
            now: self.now,
            rng: &mut self.rng,
            checker: &mut self.checker,
            stats: &mut self.stats,
            next_id: &mut self.next_id,
            trace: self.trace,
            out: Vec::new(),
            flushes: Vec::new(),
        };
        let mut again = None;
        let faults = matches!(next.event, Event::Faults);
        let server = |n: &Node| matches!(n, Node::Broker(_) | Node::Controller);
        // A client's events change no log: the checks would see what the
        // last ones saw.
        let logs_may_change = match &next.event {
            Event::Deliver { to, .. } | Event::Tick(to) => server(to),
            _ => true,
        };
        match next.event {
            Event::Deliver { from, to, msg } => {
                if self.net.connected(from, to) {
                    self.nodes.deliver(from, to, *msg, &mut ctx);
                } else {
                    ctx.stats.dropped += 1;
                }
            }
            Event::Flush(b, incarnation, p, mark) => {
                let broker = &mut self.nodes.brokers[b as usize - 1];
                if broker.up && broker.incarnation == incarnation {
                    broker.flushed(p, mark, &mut ctx);
                }
            }
            Event::Tick(node) => {
                self.nodes.tick(node, &mut ctx);
                again = Some((self.now + TICK_MS, Event::Tick(node)));
            }
            Event::Faults => {}
            // Healing restarts brokers early; their own restart comes later.
            Event::Restart(b) if !self.nodes.brokers[b as usize - 1].up => {
                ctx.trace(|| format!("b{b} restarts"));
                self.nodes.brokers[b as usize - 1].restart(&mut ctx);
            }
            Event::Restart(_) => {}
        }
        let (out, flushes) = (
            std::mem::take(&mut ctx.out),
            std::mem::take(&mut ctx.flushes),
        );
        drop(ctx);
        self.dispatch(out, flushes);
        if let Some((at, event)) = again {
            self.schedule(at, event);
        }
        if faults {
            self.inject_faults();
        }
        if logs_may_change {
            self.check()
        } else {
            self.checker
                .error()
                .map_or(Ok(()), |e| Err(format!("at {} ms: {e}", self.now)))
        }
    }

    fn dispatch(&mut self, out: Vec<(Node, Node, Msg)>, flushes: Vec<(i32, u64, i32, u64)>) {
        for (from, to, msg) in out {
            self.stats.messages += 1;
            for at in self.net.arrivals(&msg, self.now, &mut self.rng) {
                let msg = Box::new(msg.clone());
                self.schedule(at, Event::Deliver { from, to, msg });
            }
        }
        self.stats.late_copies = self.net.late_copies;
        for (b, incarnation, p, mark) in flushes {
            let mut at = self.now + 1 + self.rng.below(self.swarm.disk_max_ms as u64) as i64;
            if self.faults && self.rng.chance(self.swarm.stall) {
                at += 100 + self.rng.below(900) as i64;
            }
            self.schedule(at, Event::Flush(b, incarnation, p, mark));
        }
    }

    fn inject_faults(&mut self) {
        if !self.faults {
            return;
        }
        self.schedule(self.now + TICK_MS, Event::Faults);
        for i in 0..self.nodes.brokers.len() {
            if self.nodes.brokers[i].up && self.rng.chance(self.swarm.crash) {
                self.stats.crashes += 1;
                self.nodes.brokers[i].crash();
                let down = 1 + self.rng.below(self.swarm.down_max_ms as u64) as i64;
                let id = self.nodes.brokers[i].id;
                if self.trace {
                    println!("{:>7} b{id} crashes for {down} ms", self.now);
                }
                self.schedule(self.now + down, Event::Restart(id));
            }
        }
        for i in 0..self.nodes.txn_producers.len() {
            if self.rng.chance(self.swarm.txn_restart) {
                self.restart_txn_producer(i);
            }
        }
        if self.rng.chance(self.swarm.split) {
            if self.net.is_split() && self.rng.chance(500) {
                self.net.heal();
            } else {
                self.stats.splits += 1;
                self.net.partition(&mut self.rng);
            }
            if self.trace {
                println!("{:>7} network now {:?}", self.now, self.net);
            }
        }
    }

    /// A transactional producer crashes and comes back as a new one.
    fn restart_txn_producer(&mut self, i: usize) {
        let mut ctx = Ctx {
            now: self.now,
            rng: &mut self.rng,
            checker: &mut self.checker,
            stats: &mut self.stats,
            next_id: &mut self.next_id,
            trace: self.trace,
            out: Vec::new(),
            flushes: Vec::new(),
        };
        self.nodes.txn_producers[i].restart(&mut ctx);
    }

    /// The checker's look at every live log after a step.
    fn check(&mut self) -> Result<(), String> {
        for b in self.nodes.brokers.iter().filter(|b| b.up) {
            for (p, part) in (0..).zip(&b.parts) {
                self.checker.observe_hw(p, b.id, &part.log);
            }
        }
        for b in self.nodes.brokers.iter().filter(|b| b.up) {
            for (p, part) in (0..).zip(&b.parts) {
                let Role::Leader(l) = &part.role else {
                    continue;
                };
                let current = self.nodes.controller.partition(p);
                if current.leader == b.id && current.leader_epoch == l.leader_epoch() {
                    let all = self.checker.committed_len(p);
                    self.checker
                        .holds(p, b.id, &part.log, all, "as current leader");
                }
                if l.serves_consumers() {
                    let acked = self.checker.acked_through(p, l.leader_epoch());
                    self.checker
                        .holds(p, b.id, &part.log, acked, "serving consumers");
                }
            }
        }
        self.checker.verify_acks();
        match self.checker.error() {
            Some(e) => Err(format!("at {} ms: {e}", self.now)),
            None => Ok(()),
        }
    }

    /// Runs events until virtual time `until`.
    pub fn run_until(&mut self, until: i64) -> Result<(), String> {
        while self.now < until {
            self.step()?;
        }
        Ok(())
    }

    /// Ends the faults: the network heals, crashed brokers restart, and
    /// producers switch to their one last produce.
    pub fn heal(&mut self) {
        self.faults = false;
        self.net.faulty = false;
        self.net.heal();
        for b in 0..self.nodes.brokers.len() {
            if !self.nodes.brokers[b].up {
                let id = self.nodes.brokers[b].id;
                self.schedule(self.now, Event::Restart(id));
            }
        }
        for p in &mut self.nodes.producers {
            p.last = true;
        }
        for p in &mut self.nodes.txn_producers {
            p.last = true;
        }
    }

    /// Runs until everything is replicated, or fails after `LIVENESS_MS`.
    pub fn converge(&mut self) -> Result<(), String> {
        let deadline = self.now + LIVENESS_MS;
        while !self.converged() {
            if self.now > deadline {
                return Err(format!(
                    "no convergence within {LIVENESS_MS} ms of healing: {}",
                    self.describe()
                ));
            }
            self.step()?;
        }
        for b in &self.nodes.brokers {
            for (p, part) in (0..).zip(&b.parts) {
                let replicas = &self.nodes.controller.partition(p).replicas;
                if replicas.contains(&b.id) {
                    let all = self.checker.committed_len(p);
                    self.checker
                        .holds(p, b.id, &part.log, all, "after liveness");
                }
            }
        }
        self.checker.txns.verify_final();
        self.checker.error().map_or(Ok(()), |e| Err(e.clone()))
    }

    fn converged(&self) -> bool {
        let registered = self.nodes.brokers.iter().all(|b| {
            let live = self.nodes.controller.image.brokers.get(&b.id);
            b.up && live.is_some_and(|r| !r.fenced && Some(r.epoch) == b.epoch)
        });
        registered
            && self.nodes.producers.iter().all(|p| p.last_acked)
            && (0..self.swarm.all_partitions() as i32).all(|p| self.replicated(p))
            && self.transactions_settled()
    }

    /// Every transactional producer is done, the coordinator idle, no
    /// transaction open in any partition, and every read_committed
    /// consumer has read to the end. (Called once all is replicated.)
    fn transactions_settled(&self) -> bool {
        if self.swarm.txn_producers == 0 {
            return true;
        }
        let idle = self.nodes.brokers.iter().any(|b| {
            let leads = self
                .nodes
                .controller
                .partition(self.swarm.partitions as i32)
                .leader
                == b.id;
            leads && b.coordinator.as_ref().is_some_and(|c| c.idle())
        });
        let drained = self.nodes.txn_consumers.iter().enumerate().all(|(p, c)| {
            let leader = self.nodes.controller.partition(p as i32).leader;
            let log = &self.nodes.brokers[leader as usize - 1].parts[p].log;
            log.txn().open_transactions() == 0 && c.position == log.end()
        });
        idle && drained && self.nodes.txn_producers.iter().all(|p| p.done())
    }

    /// The partition has its leader, a full ISR, and every replica holds
    /// the leader's whole log durably.
    fn replicated(&self, p: i32) -> bool {
        let state = self.nodes.controller.partition(p);
        let Some(leader) = self.nodes.brokers.iter().find(|b| b.id == state.leader) else {
            return false;
        };
        let leads = leader
            .leader(p)
            .is_some_and(|l| l.leader_epoch() == state.leader_epoch);
        let log = &leader.parts[p as usize].log;
        let full = state.replicas.iter().all(|r| state.isr.contains(r));
        leads
            && full
            && log.hw == log.end()
            && state.replicas.iter().all(|r| {
                let other = &self.nodes.brokers[*r as usize - 1].parts[p as usize].log;
                other.end() == log.end() && other.is_durable()
            })
    }

    /// The cluster's state, for a liveness failure.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for p in 0..self.swarm.all_partitions() as i32 {
            let st = self.nodes.controller.partition(p);
            s += &format!("\n  p{p}: {st:?}");
            for b in &self.nodes.brokers {
                let part = &b.parts[p as usize];
                let role = match &part.role {
                    Role::None => "-".to_string(),
                    Role::Follower { leader, epoch } => format!("follows b{leader}@{epoch}"),
                    Role::Leader(l) => format!("leads@{} {:?}", l.leader_epoch(), l.pending()),
                };
                s += &format!(
                    "\n    b{} up={} end={} durable={} hw={} {role}",
                    b.id,
                    b.up,
                    part.log.end(),
                    part.log.durable_end(),
                    part.log.hw
                );
            }
        }
        s += &format!(
            "\n  brokers: {:?}",
            self.nodes.controller.image.brokers.values()
        );
        s
    }
}
