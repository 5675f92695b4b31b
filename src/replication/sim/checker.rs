//! The simulation's safety checks. It keeps, per partition, the one
//! committed history every high watermark must agree with (record ids by
//! offset, with their hash chain), every acknowledgement, every leader
//! claim, and what each consumer saw; the world calls it after every step.
//!
//! Invariants (a violation is the run's first error, reported with the
//! seed by `run_seed`):
//! 1. Every acknowledged record is committed at its acknowledged offset;
//!    the controller's current leader (once it takes the leadership) holds
//!    the whole committed history, and a leader serving consumers in epoch
//!    e holds every record acknowledged in epochs up to e. After the
//!    liveness phase, every replica holds the whole history.
//! 2. At most one broker leads a partition in a leader epoch, across what
//!    the controller published and what brokers believed.
//! 3. Every replica's log below its high watermark is a prefix of the
//!    committed history (so of the current leader's log, which holds it).
//! 4. A consumer's high watermark never goes back; the record it read at
//!    an offset never changes (and is the committed one).
//! 5. Offsets are contiguous: `Log` refuses any other append.
//!
//! Transactions (invariants 6 to 10: aborted reads, torn transactions,
//! lost writes, the last stable offset, records in the transaction they
//! were written in) are `txn_checker`'s.
//!
//! Must not: change the world; it only looks.

use std::collections::{BTreeMap, HashMap};

use super::log::{chain, Log};
use super::txn_checker::TxnChecker;
use super::txn_consumer::Item;

#[derive(Default)]
struct Truth {
    /// Record id at each committed offset.
    ids: Vec<u64>,
    /// `chains[n]`: the hash chain over `ids[..n]`.
    chains: Vec<u64>,
    /// Highest acknowledged end offset per leader epoch.
    acked: BTreeMap<i32, i64>,
    /// Acknowledgements to verify at the end of the step.
    unverified: Vec<(i32, i64, Vec<u64>)>,
}

#[derive(Default)]
struct Seen {
    max_hw: i64,
    read: BTreeMap<i64, u64>,
}

/// See the module doc.
pub struct Checker {
    error: Option<String>,
    parts: Vec<Truth>,
    consumers: Vec<Seen>,
    leaders: HashMap<(i32, i32), (i32, &'static str)>,
    pub acks: u64,
    pub reads: u64,
    pub txns: TxnChecker,
}

impl Checker {
    pub fn new(partitions: usize) -> Checker {
        let truth = || Truth {
            chains: vec![0],
            ..Truth::default()
        };
        Checker {
            error: None,
            parts: (0..partitions).map(|_| truth()).collect(),
            consumers: (0..partitions).map(|_| Seen::default()).collect(),
            leaders: HashMap::new(),
            acks: 0,
            reads: 0,
            txns: TxnChecker::new(partitions),
        }
    }

    /// Records the first violation (later ones are consequences).
    pub fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    pub fn error(&self) -> Option<&String> {
        self.error.as_ref().or(self.txns.error())
    }

    pub fn committed_len(&self, p: i32) -> i64 {
        self.parts[p as usize].ids.len() as i64
    }

    /// Invariant 2: `broker` leads partition `p` in `epoch`.
    pub fn leader_claim(&mut self, p: i32, epoch: i32, broker: i32, who: &'static str) {
        let first = *self.leaders.entry((p, epoch)).or_insert((broker, who));
        if first.0 != broker {
            self.fail(format!(
                "partition {p} epoch {epoch}: {who} names leader {broker}, {} named {}",
                first.1, first.0
            ));
        }
    }

    /// Invariant 3: `log` below `hw` agrees with the committed history,
    /// which grows by whatever it holds beyond it.
    pub fn observe_hw(&mut self, p: i32, broker: i32, log: &Log) {
        let hw = log.hw;
        if hw > log.end() {
            return self.fail(format!(
                "b{broker} p{p}: hw {hw} above log end {}",
                log.end()
            ));
        }
        let truth = &mut self.parts[p as usize];
        let known = truth.ids.len() as i64;
        let shared = hw.min(known);
        if log.chain_at(shared) != Some(truth.chains[shared as usize]) {
            let msg = differs(p, broker, log, &truth.ids, shared, "below its hw");
            return self.fail(msg);
        }
        for o in known..hw {
            let id = log.id_at(o).expect("below the log end");
            let last = *truth.chains.last().expect("chains start with 0");
            truth.ids.push(id);
            truth.chains.push(chain(last, id));
        }
    }

    /// Invariant 1: `log` holds the committed history up to `upto`.
    pub fn holds(&mut self, p: i32, broker: i32, log: &Log, upto: i64, why: &str) {
        let truth = &self.parts[p as usize];
        let upto = upto.min(truth.ids.len() as i64);
        if log.chain_at(upto) != Some(truth.chains[upto as usize]) {
            let msg = differs(p, broker, log, &truth.ids, upto, why);
            self.fail(msg);
        }
    }

    /// The end offset of everything acknowledged in epochs up to `epoch`.
    pub fn acked_through(&self, p: i32, epoch: i32) -> i64 {
        let acked = &self.parts[p as usize].acked;
        acked
            .range(..=epoch)
            .map(|(_, end)| *end)
            .max()
            .unwrap_or(0)
    }

    /// A leader of `epoch` acknowledged `ids` at `base`.
    pub fn ack(&mut self, p: i32, epoch: i32, base: i64, ids: Vec<u64>) {
        self.acks += 1;
        let truth = &mut self.parts[p as usize];
        let end = base + ids.len() as i64;
        let e = truth.acked.entry(epoch).or_insert(end);
        *e = (*e).max(end);
        truth.unverified.push((epoch, base, ids));
    }

    /// Invariant 1, first half: acknowledgements made this step are in the
    /// committed history (which the acknowledging leader's hw extended).
    pub fn verify_acks(&mut self) {
        for p in 0..self.parts.len() {
            let acks = std::mem::take(&mut self.parts[p].unverified);
            for (epoch, base, ids) in acks {
                let truth = &self.parts[p];
                let committed: Vec<Option<&u64>> = (0..ids.len())
                    .map(|i| truth.ids.get(base as usize + i))
                    .collect();
                if committed.iter().zip(&ids).any(|(c, id)| *c != Some(id)) {
                    self.fail(format!(
                        "p{p}: epoch {epoch} acknowledged {ids:?} at {base}, \
                         committed there: {committed:?}"
                    ));
                }
            }
        }
    }

    /// Invariant 4: a consumer of `p` got `hw` and `records`.
    pub fn consumer_read(&mut self, p: i32, hw: i64, records: &[(i64, u64)]) {
        self.reads += 1;
        let seen = &mut self.consumers[p as usize];
        if hw < seen.max_hw {
            let max = seen.max_hw;
            return self.fail(format!("p{p}: consumer saw hw {hw} after {max}"));
        }
        seen.max_hw = hw;
        let truth = &self.parts[p as usize].ids;
        for &(o, id) in records {
            let before = *seen.read.entry(o).or_insert(id);
            let committed = truth.get(o as usize).copied();
            if before != id || committed != Some(id) || o >= hw {
                self.error.get_or_insert(format!(
                    "p{p}: consumer read {id} at {o} (hw {hw}); read {before} there \
                     before; committed there: {committed:?}"
                ));
                return;
            }
        }
    }

    /// A read_committed consumer of `p` got `hw`, `lso` and did `items`.
    pub fn read_committed(&mut self, p: i32, hw: i64, lso: i64, items: &[Item]) {
        self.reads += 1;
        let truth = &self.parts[p as usize].ids;
        let committed = |o: i64| usize::try_from(o).ok().and_then(|o| truth.get(o).copied());
        self.txns.check_read(p, hw, lso, items, committed);
    }

    /// (partition, leader epoch) pairs that had a leader.
    pub fn leader_epochs(&self) -> usize {
        self.leaders.len()
    }

    pub fn summary(&self) -> String {
        let committed: Vec<usize> = self.parts.iter().map(|t| t.ids.len()).collect();
        format!(
            "committed {committed:?}, {} acks, {} consumer reads, {} leader epochs, \
             {} transactions",
            self.acks,
            self.reads,
            self.leaders.len(),
            self.txns.transactions()
        )
    }
}

/// Describes where `log` first differs from the committed `ids` below `upto`.
fn differs(p: i32, broker: i32, log: &Log, ids: &[u64], upto: i64, why: &str) -> String {
    let first = (0..upto).find(|&o| log.id_at(o) != ids.get(o as usize).copied());
    let at = first.unwrap_or(upto);
    format!(
        "b{broker} p{p} {why}: log differs from the committed history below {upto} \
         first at {at}: log has {:?} (end {}, epochs {:?}), committed {:?}",
        log.records(at, at + 3),
        log.end(),
        log.epochs(),
        &ids[(at as usize).min(ids.len())..(at as usize + 3).min(ids.len())]
    )
}
