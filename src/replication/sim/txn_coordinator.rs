//! The transaction coordinator on a simulated broker, as
//! `shard::txn_coordinator` hosts it: whichever broker leads the
//! `__transaction_state` partition runs fjord's real `TxnCoordinator`,
//! loaded from that log's records once everything in it at election is
//! committed (answering COORDINATOR_LOAD_IN_PROGRESS until then) and
//! dropped when leadership goes. Each `Write` is appended as a batch to the
//! partition and reported complete once the high watermark passes it, or
//! failed if it cannot be appended or leadership is lost; the actions that
//! follow are carried out (replies, markers through `txn_markers`, Complete
//! records). Requests are transaction version 1's and 2's (EndTxn v5,
//! answered with the next producer id and epoch; a partition leader's
//! implicit add); a producer id the core asks for comes from the run's
//! counter, as the controller would allocate it.
//!
//! Must not: report a write complete before it is committed, keep
//! anything across a crash or a change of leader epoch, or decide anything
//! the core decides.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError as E;

use crate::txn::{Action, Fenced, Plan, Reply, Token, TxnCoordinator, Write};

use super::broker::{Broker, Role};
use super::controller::TOPIC;
use super::log::Kind;
use super::net::{Msg, Node, TxnAnswer, TxnCall};
use super::txn_markers::MarkerJob;
use super::world::Ctx;

/// The core's number for the one `__transaction_state` partition.
const CORE_PARTITION: i32 = 0;

/// A coordinator write appended and waiting for the high watermark.
struct Appended {
    token: Token,
    base: i64,
    ids: Vec<u64>,
}

/// See the module doc.
pub struct Coordinator {
    pub(super) core: TxnCoordinator,
    /// The leader epoch it coordinates at (the coordinator epoch).
    pub(super) epoch: i32,
    /// While loading: the log end at election, to be committed first.
    loading: Option<i64>,
    appended: Vec<Appended>,
    /// Who waits for the reply of a token's write: (client, request id).
    waiting: HashMap<Token, (Node, u64)>,
    pub(super) markers: Vec<MarkerJob>,
}

impl Coordinator {
    /// Nothing is pending: every transaction it holds is complete.
    pub fn idle(&self) -> bool {
        let list = self.core.list::<&str>(&[], &[]);
        self.loading.is_none()
            && self.appended.is_empty()
            && self.markers.is_empty()
            && list
                .transactions
                .iter()
                .all(|t| t.state.expiration_allowed())
    }
}

impl Broker {
    /// This broker now leads the state partition at `epoch`.
    pub(super) fn start_coordinating(&mut self, epoch: i32, ctx: &mut Ctx) {
        let p = self
            .cfg
            .state_partition
            .expect("coordinating needs the partition");
        let end = self.parts[p as usize].log.end();
        ctx.trace(|| format!("b{} loads transactions to {end} at {epoch}", self.id));
        self.coordinator = Some(Coordinator {
            core: TxnCoordinator::new(1),
            epoch,
            loading: Some(end),
            appended: Vec::new(),
            waiting: HashMap::new(),
            markers: Vec::new(),
        });
        self.coordinator_progress(ctx);
    }

    /// Leadership of the state partition is gone: the state is unloaded
    /// and writes in flight fail (their clients hear NOT_COORDINATOR).
    pub(super) fn stop_coordinating(&mut self, ctx: &mut Ctx) {
        let Some(mut c) = self.coordinator.take() else {
            return;
        };
        c.core.unload(CORE_PARTITION);
        for w in std::mem::take(&mut c.appended) {
            let actions = c.core.write_failed(w.token, E::NotLeaderOrFollower.code());
            self.reply_all(&mut c, actions, ctx);
        }
        ctx.trace(|| format!("b{} stops coordinating", self.id));
    }

    /// The state partition's high watermark may have moved: finish
    /// loading, and complete (or fail) the writes it settles.
    pub(super) fn coordinator_progress(&mut self, ctx: &mut Ctx) {
        let Some(p) = self.cfg.state_partition else {
            return;
        };
        let Some(mut c) = self.coordinator.take() else {
            return;
        };
        let log = &self.parts[p as usize].log;
        let Role::Leader(l) = &self.parts[p as usize].role else {
            unreachable!("coordinating without leading");
        };
        let (hw, isr_short) = (l.high_watermark(), l.isr_len() < self.cfg.min_isr);
        let mut actions = Vec::new();
        if c.loading.is_some_and(|end| hw >= end) {
            c.loading = None;
            let records = log.batches().flat_map(|b| match &b.kind {
                Kind::State(records) => records.clone(),
                _ => Vec::new(),
            });
            let loaded = c.core.load(ctx.now, CORE_PARTITION, c.epoch, records);
            assert_eq!(loaded.skipped, 0, "the sim writes only coordinator records");
            ctx.trace(|| format!("b{} loaded transactions: {loaded:?}", self.id));
            actions.extend(loaded.actions);
        }
        for w in std::mem::take(&mut c.appended) {
            let end = w.base + w.ids.len() as i64;
            if hw >= end {
                ctx.checker.ack(p, c.epoch, w.base, w.ids);
                actions.extend(c.core.write_completed(ctx.now, w.token));
            } else if isr_short {
                let code = E::NotEnoughReplicasAfterAppend.code();
                actions.extend(c.core.write_failed(w.token, code));
            } else {
                c.appended.push(w);
            }
        }
        self.follow(&mut c, actions, ctx);
        self.coordinator = Some(c);
    }

    /// Carries out `actions`: replies, appends, marker jobs.
    pub(super) fn follow(&mut self, c: &mut Coordinator, actions: Vec<Action>, ctx: &mut Ctx) {
        for action in actions {
            match action {
                Action::Reply { token, reply } => self.reply(c, token, reply, ctx),
                Action::Append(write) => self.append_state(c, write, ctx),
                Action::WriteMarkers {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    marker,
                    coordinator_epoch,
                    partitions,
                } => {
                    let partitions = partitions.into_iter().map(|(t, p)| {
                        assert_eq!(t, TOPIC, "transactions write the data topic");
                        p
                    });
                    let commit = marker == crate::txn::Marker::Commit;
                    c.markers.push(MarkerJob::new(
                        transactional_id,
                        (producer_id, producer_epoch),
                        commit,
                        coordinator_epoch,
                        partitions.collect(),
                    ));
                }
            }
        }
    }

    /// Like `follow`, for the replies of failed writes only.
    fn reply_all(&mut self, c: &mut Coordinator, actions: Vec<Action>, ctx: &mut Ctx) {
        for action in actions {
            if let Action::Reply { token, reply } = action {
                self.reply(c, token, reply, ctx);
            }
        }
    }

    fn reply(&mut self, c: &mut Coordinator, token: Token, reply: Reply, ctx: &mut Ctx) {
        let Some((client, id)) = c.waiting.remove(&token) else {
            return; // the coordinator's own write (a timeout's abort)
        };
        let answer = match reply {
            Reply::Producer {
                producer_id,
                producer_epoch,
                error: 0,
            } => TxnAnswer::Producer(Ok((producer_id, producer_epoch))),
            Reply::Producer { error, .. } => TxnAnswer::Producer(Err(error)),
            Reply::Code(code) => TxnAnswer::Code(code),
        };
        ctx.send(self.me(), client, Msg::TxnReply { id, answer });
    }

    /// Appends `write` to the state partition if this broker still leads
    /// it at the write's coordinator epoch with enough replicas in sync.
    pub(super) fn append_state(&mut self, c: &mut Coordinator, write: Write, ctx: &mut Ctx) {
        let p = self.cfg.state_partition.expect("coordinating");
        let part = &mut self.parts[p as usize];
        let error = match &part.role {
            Role::Leader(l) if l.leader_epoch() != write.coordinator_epoch => {
                E::NotLeaderOrFollower
            }
            Role::Leader(l) if l.isr_len() < self.cfg.min_isr => E::NotEnoughReplicas,
            Role::Leader(l) => {
                let ids = vec![ctx.next_id()];
                let kind = Kind::State(vec![(write.key, write.value)]);
                let base = part.log.append_kind(l.leader_epoch(), ids.clone(), kind);
                ctx.flush(self.id, self.incarnation, p, part.log.flush_mark());
                let token = write.token;
                c.appended.push(Appended { token, base, ids });
                return;
            }
            _ => E::NotLeaderOrFollower,
        };
        let actions = c.core.write_failed(write.token, error.code());
        self.follow(c, actions, ctx);
    }

    /// A client's (or, for an implicit add, a partition leader's) request
    /// for the coordinator.
    pub(super) fn on_txn_call(&mut self, from: Node, id: u64, call: TxnCall, ctx: &mut Ctx) {
        let answer = match self.coordinator.take() {
            None => failed(&call, E::NotCoordinator.code()),
            Some(c) if c.loading.is_some() => {
                self.coordinator = Some(c);
                failed(&call, E::CoordinatorLoadInProgress.code())
            }
            Some(mut c) => {
                let answer = self.plan_call(&mut c, from, id, call, ctx);
                self.coordinator = Some(c);
                match answer {
                    Some(answer) => answer,
                    None => return, // answered once its write settles
                }
            }
        };
        ctx.send(self.me(), from, Msg::TxnReply { id, answer });
    }

    /// Runs `call` through the core: an answer now, or None once a write
    /// is staged (the reply follows its completion).
    fn plan_call(
        &mut self,
        c: &mut Coordinator,
        from: Node,
        id: u64,
        call: TxnCall,
        ctx: &mut Ctx,
    ) -> Option<TxnAnswer> {
        match core_plan(&mut c.core, &call, ctx) {
            Err(code) => Some(failed(&call, code)),
            Ok(Plan::NeedProducerId) => unreachable!("given a producer id"),
            Ok(Plan::Done) => Some(done(&c.core, &call)),
            Ok(Plan::Write(write)) => {
                c.waiting.insert(write.token, (from, id));
                self.append_state(c, write, ctx);
                None
            }
        }
    }

    /// Timer work: the core's (timeouts), then the marker jobs.
    pub(super) fn tick_coordinator(&mut self, ctx: &mut Ctx) {
        let Some(mut c) = self.coordinator.take() else {
            return;
        };
        if c.loading.is_none() {
            for write in c.core.tick(ctx.now) {
                self.append_state(&mut c, write, ctx);
            }
        }
        self.tick_markers(&mut c, ctx);
        self.coordinator = Some(c);
    }
}

/// The core's plan for `call`; a producer id it needs comes from the run's
/// counter (the controller's allocation: any id unique in the run).
fn core_plan(core: &mut TxnCoordinator, call: &TxnCall, ctx: &mut Ctx) -> Result<Plan, i16> {
    let (now, fenced) = (ctx.now, Fenced::ProducerFenced);
    match call {
        TxnCall::Init {
            transactional_id: t,
            timeout_ms,
        } => with_producer_id(ctx, |fresh| {
            core.init_producer_id(now, t, *timeout_ms, None, fresh, fenced)
        }),
        TxnCall::Add {
            transactional_id: t,
            producer_id,
            producer_epoch,
            partitions,
        } => {
            let tps = partitions.iter().map(|p| (TOPIC.to_string(), *p));
            core.add_partitions(now, t, *producer_id, *producer_epoch, tps, fenced)
        }
        TxnCall::AddImplicit {
            transactional_id: t,
            producer_id,
            producer_epoch,
            partition,
        } => {
            let tps = [(TOPIC.to_string(), *partition)];
            core.add_partitions_implicit(now, t, *producer_id, *producer_epoch, tps)
        }
        TxnCall::End {
            transactional_id: t,
            producer_id,
            producer_epoch,
            commit,
            version2: false,
        } => core.end_txn(now, t, *producer_id, *producer_epoch, *commit, fenced),
        TxnCall::End {
            transactional_id: t,
            producer_id,
            producer_epoch,
            commit,
            version2: true,
        } => {
            let (pid, epoch, commit) = (*producer_id, *producer_epoch, *commit);
            with_producer_id(ctx, |fresh| {
                core.end_txn_v2(now, t, pid, epoch, commit, fresh, fenced)
            })
        }
    }
}

/// Plans with no producer id, then once more with a fresh one if the core
/// asks for it (a new transactional id, or an exhausted epoch).
fn with_producer_id(
    ctx: &mut Ctx,
    mut plan_with: impl FnMut(Option<i64>) -> Result<Plan, i16>,
) -> Result<Plan, i16> {
    match plan_with(None)? {
        Plan::NeedProducerId => {
            let fresh = Some(ctx.next_id() as i64);
            ctx.stats.producer_ids_allocated += 1;
            plan_with(fresh)
        }
        plan => Ok(plan),
    }
}

/// The answer to `call` refused with `code`.
fn failed(call: &TxnCall, code: i16) -> TxnAnswer {
    match call.answers_producer() {
        true => TxnAnswer::Producer(Err(code)),
        false => TxnAnswer::Code(code),
    }
}

/// The answer when nothing had to be written: for InitProducerId and a
/// retried EndTxn v5, the producer id and epoch the id has now.
fn done(core: &TxnCoordinator, call: &TxnCall) -> TxnAnswer {
    let id = match call {
        TxnCall::Init {
            transactional_id, ..
        }
        | TxnCall::End {
            transactional_id,
            version2: true,
            ..
        } => transactional_id,
        _ => return TxnAnswer::Code(0),
    };
    let m = core.metadata(id).expect("a plan of Done knows the id");
    TxnAnswer::Producer(Ok((m.producer_id, m.producer_epoch)))
}
