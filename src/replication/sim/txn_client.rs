//! A simulated transactional producer, behaving as Kafka's Java client
//! does with transaction version 1: InitProducerId, then transactions of
//! AddPartitionsToTxn, idempotent acks=all produces to several data
//! partitions (each batch retried with its sequence until acknowledged),
//! and EndTxn commit or abort (a seeded choice; commit only once every
//! batch is acknowledged). A version 2 producer (a seeded choice per
//! producer) sends no AddPartitionsToTxn (the leaders add the partitions),
//! may abort with batches still out (abandoning them, so late copies are
//! about), and takes the producer id and epoch EndTxn v5 answers for its
//! next transaction, sequences from 0. It finds the coordinator through metadata
//! (possibly stale) and retries on NOT_COORDINATOR,
//! COORDINATOR_LOAD_IN_PROGRESS and CONCURRENT_TRANSACTIONS; fenced, it
//! initializes again. A restart (a fault) forgets everything, so the same
//! transactional id comes back as a new producer that fences its zombie.
//! In the liveness phase it ends with one transaction that must commit.
//!
//! Must not: have more than one coordinator request out, or send another
//! before the last was answered or is surely gone (see `net`; a version 2
//! EndTxn's late copies are the exception KIP-890 makes safe); tell the
//! checker anything it did not do.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;

use super::clients::Metadata;
use super::log::Kind;
use super::net::{Msg, Node, ProduceV2, TxnAnswer, TxnCall};
use super::world::Ctx;

/// A request unanswered this long is given up (far beyond the network's
/// delay, so no copy of it is still on the way).
const REQUEST_TIMEOUT_MS: i64 = 500;
/// The pause before retrying a busy coordinator.
const RETRY_MS: i64 = 20;

/// The same for every transactional producer of a run.
#[derive(Clone, Copy, Debug)]
pub struct TxnClientConfig {
    pub data_partitions: usize,
    pub state_partition: i32,
    pub timeout_ms: i32,
    /// ‰ of transactions the producer means to commit.
    pub commit: u64,
    pub every_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Init,
    /// Between transactions.
    Begin,
    Add,
    Produce,
    End,
    Done,
}

/// One batch of the transaction.
struct TxnBatch {
    partition: i32,
    ids: Vec<u64>,
    /// Assigned when first sent; kept across retries.
    sequence: Option<i32>,
    acked: bool,
    out: Option<(u64, i64)>,
}

struct Txn {
    /// The checker's name for it.
    id: usize,
    commit: bool,
    /// Version 2: abort as soon as a batch is out, abandoning the rest.
    abandon: bool,
    batches: Vec<TxnBatch>,
}

/// See the module doc.
pub struct TxnProducer {
    index: usize,
    transactional_id: String,
    cfg: TxnClientConfig,
    /// Transaction version 2 (KIP-890 part 2).
    version2: bool,
    coordinator: Metadata,
    leaders: Vec<Metadata>,
    producer: Option<(i64, i16)>,
    /// Next sequence per partition in the current producer epoch.
    sequences: BTreeMap<i32, i32>,
    step: Step,
    txn: Option<Txn>,
    request: Option<(u64, i64)>,
    retry_at: i64,
    /// The liveness phase: end with one committed transaction.
    pub last: bool,
    final_txn: Option<usize>,
}

impl TxnProducer {
    pub fn new(
        index: usize,
        transactional_id: String,
        cfg: TxnClientConfig,
        version2: bool,
    ) -> TxnProducer {
        TxnProducer {
            index,
            transactional_id,
            cfg,
            version2,
            coordinator: Metadata::default(),
            leaders: (0..cfg.data_partitions)
                .map(|_| Metadata::default())
                .collect(),
            producer: None,
            sequences: BTreeMap::new(),
            step: Step::Init,
            txn: None,
            request: None,
            retry_at: 0,
            last: false,
            final_txn: None,
        }
    }

    fn me(&self) -> Node {
        Node::TxnProducer(self.index)
    }

    pub fn done(&self) -> bool {
        self.step == Step::Done
    }

    /// A crash and restart: a new producer with the same transactional id.
    pub fn restart(&mut self, ctx: &mut Ctx) {
        ctx.trace(|| format!("txn producer {} restarts", self.index));
        ctx.stats.txn_restarts += 1;
        let last = self.last;
        let id = self.transactional_id.clone();
        *self = TxnProducer::new(self.index, id, self.cfg, self.version2);
        self.last = last;
        self.retry_at = ctx.now + 50;
    }

    pub fn tick(&mut self, brokers: i32, ctx: &mut Ctx) {
        let me = self.me();
        let state = self.cfg.state_partition;
        self.coordinator.refresh(me, state, brokers, ctx);
        if self
            .request
            .is_some_and(|(_, at)| ctx.now - at > REQUEST_TIMEOUT_MS)
        {
            self.request = None;
            self.coordinator.leader = None;
        }
        match self.step {
            Step::Begin if ctx.now >= self.retry_at => self.begin(ctx),
            Step::Produce => {
                self.send_batches(brokers, ctx);
                self.maybe_abandon(ctx);
            }
            _ => {}
        }
        if self.request.is_none() && ctx.now >= self.retry_at {
            if let Some(call) = self.next_call() {
                self.call(call, ctx);
            }
        }
    }

    /// The coordinator request the current step needs, if any.
    fn next_call(&self) -> Option<TxnCall> {
        let transactional_id = self.transactional_id.clone();
        let (producer_id, producer_epoch) = self.producer.unwrap_or((-1, -1));
        let txn = self.txn.as_ref();
        match self.step {
            Step::Init => Some(TxnCall::Init {
                transactional_id,
                timeout_ms: self.cfg.timeout_ms,
            }),
            Step::Add => {
                let mut partitions: Vec<i32> = txn?.batches.iter().map(|b| b.partition).collect();
                partitions.dedup();
                Some(TxnCall::Add {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                })
            }
            Step::End => Some(TxnCall::End {
                transactional_id,
                producer_id,
                producer_epoch,
                commit: txn?.commit,
                version2: self.version2,
            }),
            Step::Begin | Step::Produce | Step::Done => None,
        }
    }

    fn call(&mut self, call: TxnCall, ctx: &mut Ctx) {
        let Some(coordinator) = self.coordinator.leader else {
            return;
        };
        if let (TxnCall::End { commit: true, .. }, Some(txn)) = (&call, &self.txn) {
            assert!(txn.batches.iter().all(|b| b.acked), "commit after all acks");
            ctx.checker.txns.commit_sent(txn.id);
        }
        let id = ctx.next_id();
        self.request = Some((id, ctx.now));
        ctx.send(self.me(), Node::Broker(coordinator), Msg::Txn { id, call });
    }

    /// Starts the next transaction: partitions, batches, and the outcome
    /// it means to reach.
    fn begin(&mut self, ctx: &mut Ctx) {
        let n = self.cfg.data_partitions as u64;
        let mut partitions: Vec<i32> = (0..n as i32).collect();
        let keep = 1 + ctx.rng.below(n.min(3)) as usize;
        while partitions.len() > keep {
            partitions.remove(ctx.rng.below(partitions.len() as u64) as usize);
        }
        let commit = self.last || ctx.rng.chance(self.cfg.commit);
        let abandon = self.version2 && !commit && ctx.rng.chance(500);
        let producer_id = self.producer.expect("initialized").0;
        let id = ctx.checker.txns.begin(producer_id);
        let mut batches = Vec::new();
        for p in partitions {
            for _ in 0..1 + ctx.rng.below(2) {
                let ids: Vec<u64> = (0..1 + ctx.rng.below(3)).map(|_| ctx.next_id()).collect();
                ctx.checker.txns.write(id, &ids);
                batches.push(TxnBatch {
                    partition: p,
                    ids,
                    sequence: None,
                    acked: false,
                    out: None,
                });
            }
        }
        if self.last {
            self.final_txn = Some(id);
        }
        self.txn = Some(Txn {
            id,
            commit,
            abandon,
            batches,
        });
        self.step = match self.version2 {
            true => Step::Produce,
            false => Step::Add,
        };
    }

    /// A version 2 abort that does not wait for its batches: once one is
    /// out, the rest are forgotten (answers to them are ignored) and
    /// EndTxn goes; copies still on the way arrive after the abort, or
    /// during the next transaction.
    fn maybe_abandon(&mut self, ctx: &mut Ctx) {
        let Some(txn) = self.txn.as_mut().filter(|t| t.abandon) else {
            return;
        };
        if txn.batches.iter().all(|b| b.out.is_none()) {
            return;
        }
        assert!(
            self.version2 && !txn.commit,
            "only a version 2 abort abandons"
        );
        txn.batches.iter_mut().for_each(|b| b.out = None);
        ctx.stats.txn_v2_abandoned += 1;
        self.step = Step::End;
    }

    /// Sends each partition's first unacknowledged batch, unless one is out.
    fn send_batches(&mut self, brokers: i32, ctx: &mut Ctx) {
        let me = self.me();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let (producer_id, producer_epoch) = self.producer.expect("producing needs an epoch");
        for b in txn.batches.iter_mut() {
            if b.out
                .is_some_and(|(_, at)| ctx.now - at > REQUEST_TIMEOUT_MS)
            {
                b.out = None;
                self.leaders[b.partition as usize].leader = None;
            }
        }
        let mut busy = std::collections::BTreeSet::new();
        for b in txn.batches.iter_mut().filter(|b| !b.acked) {
            let meta = &mut self.leaders[b.partition as usize];
            meta.refresh(me, b.partition, brokers, ctx);
            let first = busy.insert(b.partition);
            let Some(leader) = meta.leader.filter(|_| first && b.out.is_none()) else {
                continue;
            };
            let sequence = *b.sequence.get_or_insert_with(|| {
                let next = self.sequences.entry(b.partition).or_insert(0);
                let sequence = *next;
                *next += b.ids.len() as i32;
                sequence
            });
            let id = ctx.next_id();
            b.out = Some((id, ctx.now));
            let kind = Kind::Txn {
                producer_id,
                producer_epoch,
                sequence,
            };
            let (partition, ids) = (b.partition, b.ids.clone());
            let produce = match self.version2 {
                true => Msg::ProduceV2(ProduceV2 {
                    id,
                    partition,
                    ids,
                    kind,
                    transactional_id: self.transactional_id.clone(),
                }),
                false => Msg::Produce {
                    id,
                    partition,
                    ids,
                    kind,
                },
            };
            ctx.send(me, Node::Broker(leader), produce);
        }
    }

    pub fn handle(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::MetadataReply { id, leader } => {
                self.coordinator.on_reply(id, leader);
                self.leaders.iter_mut().for_each(|m| m.on_reply(id, leader));
            }
            Msg::ProduceReply { id, result } => self.on_produced(id, result, ctx),
            Msg::TxnReply { id, answer } if self.request.is_some_and(|r| r.0 == id) => {
                self.request = None;
                self.on_answer(answer, ctx);
            }
            Msg::TxnReply { .. } => {} // to a request given up on
            other => ctx.fail(format!("txn producer {} got {other:?}", self.index)),
        }
    }

    fn on_produced(&mut self, id: u64, result: Result<i64, i16>, ctx: &mut Ctx) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let Some(b) = txn
            .batches
            .iter_mut()
            .find(|b| b.out.is_some_and(|o| o.0 == id))
        else {
            return; // a duplicate, or one given up on
        };
        b.out = None;
        match result.map_err(E::try_from_code) {
            Ok(_) => b.acked = true,
            Err(Some(E::InvalidProducerEpoch)) => return self.fenced(ctx),
            Err(Some(E::OutOfOrderSequenceNumber)) => {
                let msg = format!("txn producer {}: out of order {b:?}", self.index);
                return ctx.fail(msg);
            }
            Err(_) => self.leaders[b.partition as usize].leader = None,
        }
        if self.step == Step::Produce && txn.batches.iter().all(|b| b.acked) {
            self.step = Step::End;
        }
    }

    fn on_answer(&mut self, answer: TxnAnswer, ctx: &mut Ctx) {
        match (self.step, answer) {
            (Step::Init, TxnAnswer::Producer(Ok(producer))) => {
                ctx.trace(|| format!("txn producer {} is {producer:?}", self.index));
                self.producer = Some(producer);
                self.sequences.clear();
                self.step = Step::Begin;
            }
            (Step::Add, TxnAnswer::Code(0)) => self.step = Step::Produce,
            (Step::End, TxnAnswer::Code(0)) if !self.version2 => self.ended(ctx),
            (Step::End, TxnAnswer::Producer(Ok(next))) if self.version2 => {
                self.adopt(next, ctx);
                self.ended(ctx);
            }
            (_, TxnAnswer::Producer(Err(code)) | TxnAnswer::Code(code)) => self.on_error(code, ctx),
            (step, answer) => ctx.fail(format!("txn producer in {step:?} got {answer:?}")),
        }
    }

    /// EndTxn acknowledged: the transaction is over, as asked.
    fn ended(&mut self, ctx: &mut Ctx) {
        let txn = self.txn.take().expect("ending a transaction");
        ctx.checker.txns.ended(txn.id, txn.commit);
        let s = &mut *ctx.stats;
        let (all, v2) = match txn.commit {
            true => (&mut s.txn_committed, &mut s.txn_v2_committed),
            false => (&mut s.txn_aborted, &mut s.txn_v2_aborted),
        };
        *all += 1;
        *v2 += u64::from(self.version2);
        self.step = match self.final_txn == Some(txn.id) && txn.commit {
            true => Step::Done,
            false => Step::Begin,
        };
        self.retry_at = ctx.now + self.cfg.every_ms;
    }

    /// Version 2: EndTxn answered the producer id and epoch of the next
    /// transaction: the epoch one up, or (at exhaustion) a new producer id
    /// at epoch 0. Sequences start again.
    fn adopt(&mut self, next: (i64, i16), ctx: &mut Ctx) {
        let (pid, epoch) = self.producer.expect("ending needs an epoch");
        let rotated = next.0 != pid && next.1 == 0;
        if !rotated && next != (pid, epoch + 1) {
            let msg = format!(
                "txn producer {}: EndTxn v5 at {pid}/{epoch} answered {next:?}",
                self.index
            );
            return ctx.fail(msg);
        }
        ctx.trace(|| format!("txn producer {} is {next:?}", self.index));
        ctx.stats.producer_id_rotations += u64::from(rotated);
        self.producer = Some(next);
        self.sequences.clear();
    }

    fn on_error(&mut self, code: i16, ctx: &mut Ctx) {
        match E::try_from_code(code) {
            Some(E::NotCoordinator | E::CoordinatorNotAvailable) => self.coordinator.leader = None,
            Some(E::CoordinatorLoadInProgress | E::ConcurrentTransactions) => {
                self.retry_at = ctx.now + RETRY_MS;
            }
            Some(E::ProducerFenced | E::InvalidProducerEpoch | E::InvalidProducerIdMapping) => {
                self.fenced(ctx)
            }
            // Version 2: the coordinator aborted the transaction (a
            // timeout) before this commit arrived, under a bumped epoch.
            Some(E::InvalidTxnState) if self.version2 && self.step == Step::End => self.fenced(ctx),
            other => ctx.fail(format!(
                "txn producer {} in {:?}: unexpected error {code} {other:?}",
                self.index, self.step
            )),
        }
    }

    /// Another producer (or the coordinator's timeout) took the epoch: the
    /// transaction is the coordinator's to abort; start over.
    fn fenced(&mut self, ctx: &mut Ctx) {
        ctx.trace(|| format!("txn producer {} fenced in {:?}", self.index, self.step));
        ctx.stats.txn_fenced += 1;
        self.producer = None;
        self.txn = None;
        // An answer to a request of the fenced epoch means nothing now.
        self.request = None;
        self.step = Step::Init;
    }
}

impl std::fmt::Debug for TxnBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p{} {:?} seq {:?}",
            self.partition, self.ids, self.sequence
        )
    }
}
