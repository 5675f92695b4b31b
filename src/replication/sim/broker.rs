//! A simulated broker: its disk (one `Log` per partition, surviving
//! crashes up to the durable prefix), its registration with the
//! controller, and the role the metadata image gives it per partition:
//! leader (a `LeaderState`), follower (a partition of a `FetchSession`
//! with the leader broker), or neither. This file owns the lifecycle,
//! image handling and the client-facing side (produce, consumer reads,
//! metadata); `replica` owns fetching and serving fetches;
//! `txn_coordinator` and `txn_markers` the transaction coordinator it runs
//! while leading the state partition; `txn_partition` the transactional
//! side of produces and reads; `txn_verify` the implicit adds of
//! transaction version 2 produces.
//!
//! Must not: act on an image older than its registration (Kafka's broker
//! waits to catch up with the metadata log first), answer a produce before
//! the high watermark covers it, or keep anything but the disk across a
//! crash.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::cluster::image::{MetadataImage, PartitionImage, NO_LEADER};
use crate::replication::follower::FetchSession;
use crate::replication::leader::{AlterIsr, Committed, LeaderState};

use super::controller::TOPIC;
use super::log::{Kind, Log};
use super::net::{Msg, Node};
use super::txn_coordinator::Coordinator;
use super::txn_partition::place;
use super::txn_verify::Verifying;
use super::world::Ctx;

/// Timeouts and limits, the same for every broker of a run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub min_isr: usize,
    pub lag_max_ms: i64,
    pub heartbeat_ms: i64,
    pub fetch_backoff_ms: i64,
    /// How long a follower waits after a fetch that brought nothing.
    pub idle_fetch_ms: i64,
    pub request_timeout_ms: i64,
    /// Batches per partition in one fetch answer.
    pub max_batches: usize,
    /// The `__transaction_state` partition, if the run has transactions.
    pub state_partition: Option<i32>,
}

pub enum Role {
    None,
    Leader(LeaderState),
    Follower { leader: i32, epoch: i32 },
}

pub struct Part {
    pub log: Log,
    pub role: Role,
    /// When the pending AlterPartition was sent.
    pub alter_sent: Option<i64>,
}

pub(super) enum Waiting {
    Idle,
    Reply { id: u64, sent_at: i64 },
}

/// One fetch session with a leader broker and its one request.
pub(super) struct Session {
    pub(super) fetch: FetchSession,
    pub(super) waiting: Waiting,
    pub(super) plans: Vec<crate::replication::follower::FetchPlan>,
    pub(super) next_at: i64,
}

/// A produce appended and waiting for the high watermark.
pub(super) struct Pending {
    pub(super) client: Node,
    pub(super) id: u64,
    pub(super) partition: i32,
    pub(super) base: i64,
    pub(super) ids: Vec<u64>,
    pub(super) epoch: i32,
    pub(super) since: i64,
}

/// See the module doc.
pub struct Broker {
    pub id: i32,
    pub up: bool,
    /// Counts restarts: events of an earlier life are ignored.
    pub incarnation: u64,
    uuid: Uuid,
    /// The broker epoch of the current registration.
    pub epoch: Option<i64>,
    pub image: Option<Arc<MetadataImage>>,
    pub parts: Vec<Part>,
    pub(super) sessions: BTreeMap<i32, Session>,
    pub(super) produces: Vec<Pending>,
    /// Version 2 produces waiting for their coordinator's add.
    pub(super) verifying: Vec<Verifying>,
    next_register: i64,
    next_heartbeat: i64,
    pub(super) cfg: Config,
    /// While leading the state partition.
    pub coordinator: Option<Coordinator>,
}

impl Broker {
    pub fn new(id: i32, partitions: usize, cfg: Config) -> Broker {
        let parts = (0..partitions)
            .map(|_| Part {
                log: Log::default(),
                role: Role::None,
                alter_sent: None,
            })
            .collect();
        Broker {
            id,
            up: true,
            incarnation: 0,
            uuid: Uuid::nil(),
            epoch: None,
            image: None,
            parts,
            sessions: BTreeMap::new(),
            produces: Vec::new(),
            verifying: Vec::new(),
            next_register: 0,
            next_heartbeat: 0,
            cfg,
            coordinator: None,
        }
    }

    pub(super) fn me(&self) -> Node {
        Node::Broker(self.id)
    }

    /// Loses everything but the durable prefix of each log.
    pub fn crash(&mut self) {
        self.up = false;
        for part in &mut self.parts {
            part.log.crash();
            part.role = Role::None;
            part.alter_sent = None;
        }
        self.sessions.clear();
        self.produces.clear();
        self.verifying.clear();
        self.epoch = None;
        self.image = None;
        self.coordinator = None;
    }

    pub fn restart(&mut self, ctx: &mut Ctx) {
        self.up = true;
        self.incarnation += 1;
        self.uuid = Uuid::from_u64_pair(ctx.rng.next_u64(), ctx.rng.next_u64());
        self.next_register = ctx.now;
    }

    /// The leader of `p` as this broker's image has it.
    pub(super) fn leader_of(&self, p: i32) -> Option<i32> {
        let state = self.image.as_ref()?.topic(TOPIC)?.partition(p)?;
        (state.leader != NO_LEADER).then_some(state.leader)
    }

    pub fn leader(&self, p: i32) -> Option<&LeaderState> {
        match &self.parts[p as usize].role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    pub fn handle(&mut self, from: Node, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Registered { incarnation, epoch } => {
                if incarnation == self.uuid && self.epoch.is_none_or(|e| e < epoch) {
                    self.epoch = Some(epoch);
                    self.next_heartbeat = ctx.now;
                }
            }
            Msg::StaleEpoch { epoch } => {
                if self.epoch == Some(epoch) {
                    self.epoch = None; // registers again on the next tick
                }
            }
            Msg::Image(image) => self.on_image(image, ctx),
            Msg::AlterReply {
                partition,
                alter,
                result,
            } => self.on_alter_reply(partition, &alter, result, ctx),
            Msg::Fetch {
                id,
                broker,
                broker_epoch,
                plans,
            } => self.serve_fetch(from, id, broker, broker_epoch, plans, ctx),
            Msg::FetchReply { id, parts } => self.on_fetch_reply(from, id, parts, ctx),
            Msg::Produce {
                id,
                partition,
                ids,
                kind,
            } => self.on_produce(from, id, partition, ids, kind, ctx),
            Msg::ProduceV2(produce) => self.on_produce_v2(from, produce, ctx),
            Msg::ProduceReply { id, result } => self.on_marker_reply(id, result, ctx),
            Msg::Txn { id, call } => self.on_txn_call(from, id, call, ctx),
            Msg::TxnReply { id, answer } => self.on_implicit_add(id, answer, ctx),
            Msg::ReadCommitted {
                id,
                partition,
                offset,
                leader_epoch,
            } => self.on_read_committed(from, id, partition, offset, leader_epoch, ctx),
            Msg::Read {
                id,
                partition,
                offset,
                leader_epoch,
            } => self.on_read(from, id, partition, offset, leader_epoch, ctx),
            Msg::Metadata { id, partition } => {
                let leader = self.image.as_ref().and_then(|i| {
                    let p = i.topic(TOPIC)?.partition(partition)?;
                    (p.leader != NO_LEADER).then_some((p.leader, p.leader_epoch))
                });
                ctx.send(self.me(), from, Msg::MetadataReply { id, leader });
            }
            other => ctx.fail(format!("b{} got {other:?}", self.id)),
        }
    }

    /// Registration, heartbeats, ISR checks, timeouts, fetches due.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        match self.epoch {
            None if now >= self.next_register => {
                self.next_register = now + 100;
                let register = Msg::Register {
                    broker: self.id,
                    incarnation: self.uuid,
                };
                ctx.send(self.me(), Node::Controller, register);
            }
            Some(epoch) if now >= self.next_heartbeat => {
                self.next_heartbeat = now + self.cfg.heartbeat_ms;
                let metadata_offset = self.image.as_ref().map_or(0, |i| i.offset);
                let heartbeat = Msg::Heartbeat {
                    broker: self.id,
                    epoch,
                    metadata_offset,
                };
                ctx.send(self.me(), Node::Controller, heartbeat);
            }
            _ => {}
        }
        for p in 0..self.parts.len() as i32 {
            self.tick_leader(p, ctx);
        }
        self.expire_produces(ctx);
        self.expire_verifying(ctx);
        self.tick_sessions(ctx);
        self.tick_coordinator(ctx);
    }

    fn tick_leader(&mut self, p: i32, ctx: &mut Ctx) {
        let timeout = self.cfg.request_timeout_ms;
        let part = &mut self.parts[p as usize];
        let Role::Leader(leader) = &mut part.role else {
            return;
        };
        // No answer: the same proposal again (it may have been applied).
        let resend = part.alter_sent.is_some_and(|at| ctx.now - at > timeout);
        if let Some(alter) = leader.pending().filter(|_| resend).cloned() {
            return self.send_alter(p, alter, ctx);
        }
        if let Some(alter) = leader.tick(ctx.now) {
            self.send_alter(p, alter, ctx);
        }
    }

    pub(super) fn send_alter(&mut self, p: i32, alter: AlterIsr, ctx: &mut Ctx) {
        ctx.trace(|| format!("b{} p{p} proposes {alter:?}", self.id));
        self.parts[p as usize].alter_sent = Some(ctx.now);
        let msg = Msg::Alter {
            broker: self.id,
            broker_epoch: self.epoch.unwrap_or(-1),
            partition: p,
            alter,
        };
        ctx.send(self.me(), Node::Controller, msg);
    }

    /// The controller's answer to `alter`. Only the answer to the pending
    /// proposal settles it: one to an earlier proposal (a retry, or a
    /// duplicate) says nothing about it.
    fn on_alter_reply(
        &mut self,
        p: i32,
        alter: &AlterIsr,
        result: Result<PartitionImage, i16>,
        ctx: &mut Ctx,
    ) {
        let part = &mut self.parts[p as usize];
        let Role::Leader(leader) = &mut part.role else {
            return;
        };
        let answers_pending = leader.pending() == Some(alter);
        if answers_pending {
            part.alter_sent = None;
        }
        match result {
            Ok(state) if state.leader_epoch == leader.leader_epoch() => {
                leader.update(committed(&state), ctx.now);
                self.hw_moved(p, ctx);
            }
            // A new leader epoch: the image will say what to become.
            Ok(_) => {}
            Err(code) if answers_pending => {
                let error = ResponseError::try_from_code(code).expect("the controller's own code");
                if !leader.alter_failed(error) {
                    // Outcome unknown: sent again until the image settles it.
                    part.alter_sent = Some(ctx.now);
                }
            }
            Err(_) => {}
        }
    }

    /// A newer image: take each partition's role from it.
    fn on_image(&mut self, image: Arc<MetadataImage>, ctx: &mut Ctx) {
        let newer = self.image.as_ref().is_none_or(|i| i.offset < image.offset);
        let registered = self.epoch.is_some_and(|e| image.offset as i64 >= e);
        if !newer || !registered {
            return;
        }
        self.image = Some(image.clone());
        let topic = image.topic(TOPIC).expect("the topic exists");
        for (p, state) in (0..).zip(&topic.partitions) {
            self.apply_partition(p, state, topic.id, ctx);
        }
    }

    fn apply_partition(&mut self, p: i32, state: &PartitionImage, topic_id: Uuid, ctx: &mut Ctx) {
        if state.leader == self.id {
            match &mut self.parts[p as usize].role {
                Role::Leader(l) if l.leader_epoch() == state.leader_epoch => {
                    l.update(committed(state), ctx.now);
                    self.hw_moved(p, ctx);
                }
                _ => self.become_leader(p, state, ctx),
            }
        } else if state.leader != NO_LEADER && state.replicas.contains(&self.id) {
            self.become_follower(p, state.leader, state.leader_epoch, topic_id, ctx);
        } else {
            self.drop_role(p, ctx);
        }
    }

    fn become_leader(&mut self, p: i32, state: &PartitionImage, ctx: &mut Ctx) {
        self.drop_role(p, ctx);
        let epoch = state.leader_epoch;
        ctx.checker.leader_claim(p, epoch, self.id, "broker");
        let (id, lag) = (self.id, self.cfg.lag_max_ms);
        let part = &mut self.parts[p as usize];
        let log = &mut part.log;
        log.assign_epoch(epoch, log.end());
        let mut leader = LeaderState::new(id, committed(state), log.hw, log.end(), ctx.now, lag);
        leader.set_min_isr(self.cfg.min_isr as i32);
        leader.on_local_durable(log.durable_end());
        ctx.trace(|| {
            format!(
                "b{id} p{p} leads epoch {epoch} from {} (hw {}, durable {})",
                log.end(),
                log.hw,
                log.durable_end()
            )
        });
        part.role = Role::Leader(leader);
        if self.cfg.state_partition == Some(p) {
            self.start_coordinating(epoch, ctx);
        }
        self.hw_moved(p, ctx);
    }

    fn become_follower(&mut self, p: i32, leader: i32, epoch: i32, id: Uuid, ctx: &mut Ctx) {
        let part = &self.parts[p as usize];
        if matches!(part.role, Role::Follower { leader: l, epoch: e } if l == leader && e == epoch)
        {
            return;
        }
        self.drop_role(p, ctx);
        let backoff = self.cfg.fetch_backoff_ms;
        let session = self.sessions.entry(leader).or_insert_with(|| Session {
            fetch: FetchSession::new(backoff),
            waiting: Waiting::Idle,
            plans: Vec::new(),
            next_at: 0,
        });
        session.fetch.follow(TOPIC, id, p, epoch);
        session.next_at = session.next_at.min(ctx.now);
        self.parts[p as usize].role = Role::Follower { leader, epoch };
        self.try_fetch(leader, ctx);
    }

    /// Stops leading or following `p`; produces waiting on it fail.
    fn drop_role(&mut self, p: i32, ctx: &mut Ctx) {
        if self.cfg.state_partition == Some(p) {
            self.stop_coordinating(ctx);
        }
        let part = &mut self.parts[p as usize];
        match std::mem::replace(&mut part.role, Role::None) {
            Role::Follower { leader, .. } => {
                if let Some(s) = self.sessions.get_mut(&leader) {
                    s.fetch.unfollow(TOPIC, p);
                }
            }
            Role::Leader(_) => part.alter_sent = None,
            Role::None => {}
        }
        self.complete_produces(p, ctx);
    }

    /// The leader's high watermark may have moved: the log takes it and
    /// produces it covers are answered.
    pub(super) fn hw_moved(&mut self, p: i32, ctx: &mut Ctx) {
        let part = &mut self.parts[p as usize];
        if let Role::Leader(leader) = &part.role {
            assert!(
                leader.high_watermark() >= part.log.hw,
                "leader hw went back"
            );
            part.log.hw = leader.high_watermark();
        }
        self.complete_produces(p, ctx);
        if self.cfg.state_partition == Some(p) {
            self.coordinator_progress(ctx);
        }
    }

    pub(super) fn on_produce(
        &mut self,
        from: Node,
        id: u64,
        p: i32,
        ids: Vec<u64>,
        kind: Kind,
        ctx: &mut Ctx,
    ) {
        let min_isr = self.cfg.min_isr;
        let part = &mut self.parts[p as usize];
        let error = match &part.role {
            Role::Leader(l) if l.isr_len() < min_isr => ResponseError::NotEnoughReplicas,
            Role::Leader(l) => {
                let epoch = l.leader_epoch();
                let base = match place(&mut part.log, epoch, &ids, kind) {
                    Ok((base, appended)) => {
                        if appended {
                            ctx.flush(self.id, self.incarnation, p, part.log.flush_mark());
                        }
                        base
                    }
                    Err(e) => {
                        if e == ResponseError::InvalidProducerEpoch {
                            ctx.stats.stale_epoch_refused += 1;
                        }
                        let result = Err(e.code());
                        return ctx.send(self.me(), from, Msg::ProduceReply { id, result });
                    }
                };
                let since = ctx.now;
                self.produces.push(Pending {
                    client: from,
                    id,
                    partition: p,
                    base,
                    ids,
                    epoch,
                    since,
                });
                return;
            }
            _ => ResponseError::NotLeaderOrFollower,
        };
        let reply = Msg::ProduceReply {
            id,
            result: Err(error.code()),
        };
        ctx.send(self.me(), from, reply);
    }

    /// Answers the produces on `p` that are settled: committed (with the
    /// ISR still at min.insync.replicas), or failed.
    fn complete_produces(&mut self, p: i32, ctx: &mut Ctx) {
        let (me, min_isr) = (self.me(), self.cfg.min_isr);
        let role = &self.parts[p as usize].role;
        let mut kept = Vec::new();
        for w in std::mem::take(&mut self.produces) {
            let outcome = match role {
                _ if w.partition != p => None,
                Role::Leader(l) if l.leader_epoch() == w.epoch => {
                    if l.isr_len() < min_isr {
                        Some(Err(ResponseError::NotEnoughReplicasAfterAppend))
                    } else if l.high_watermark() >= w.base + w.ids.len() as i64 {
                        Some(Ok(w.base))
                    } else {
                        None
                    }
                }
                _ => Some(Err(ResponseError::NotLeaderOrFollower)),
            };
            match outcome {
                None => kept.push(w),
                Some(result) => {
                    if result.is_ok() {
                        ctx.checker.ack(p, w.epoch, w.base, w.ids.clone());
                    }
                    let result = result.map_err(|e| e.code());
                    ctx.send(me, w.client, Msg::ProduceReply { id: w.id, result });
                }
            }
        }
        self.produces = kept;
    }

    fn expire_produces(&mut self, ctx: &mut Ctx) {
        let (me, timeout) = (self.me(), self.cfg.request_timeout_ms * 3);
        let (late, kept) = std::mem::take(&mut self.produces)
            .into_iter()
            .partition(|w| ctx.now - w.since > timeout);
        self.produces = kept;
        let late: Vec<Pending> = late;
        for w in late {
            let result = Err(ResponseError::RequestTimedOut.code());
            ctx.send(me, w.client, Msg::ProduceReply { id: w.id, result });
        }
    }

    /// The leader state of `p` if it may answer a consumer that knows
    /// leader epoch `epoch`.
    pub(super) fn consumer_leader(
        &self,
        p: i32,
        epoch: i32,
    ) -> Result<&LeaderState, ResponseError> {
        match &self.parts[p as usize].role {
            Role::Leader(l) if epoch > l.leader_epoch() => Err(ResponseError::UnknownLeaderEpoch),
            Role::Leader(l) if epoch < l.leader_epoch() => Err(ResponseError::FencedLeaderEpoch),
            Role::Leader(l) if !l.serves_consumers() => Err(ResponseError::OffsetNotAvailable),
            Role::Leader(l) => Ok(l),
            _ => Err(ResponseError::NotLeaderOrFollower),
        }
    }

    fn on_read(&mut self, from: Node, id: u64, p: i32, offset: i64, epoch: i32, ctx: &mut Ctx) {
        let log = &self.parts[p as usize].log;
        let result = self.consumer_leader(p, epoch).map(|l| {
            let hw = l.high_watermark();
            let records = log
                .read(offset, hw, 4)
                .into_iter()
                .flat_map(|b| (b.base..).zip(b.ids))
                .filter(|(o, _)| *o >= offset)
                .collect();
            (hw, records)
        });
        let result = result.map_err(|e| e.code());
        ctx.send(self.me(), from, Msg::ReadReply { id, result });
    }

    /// A flush begun at `mark` completed.
    pub fn flushed(&mut self, p: i32, mark: u64, ctx: &mut Ctx) {
        let part = &mut self.parts[p as usize];
        part.log.flushed(mark);
        match &mut part.role {
            Role::Leader(l) => {
                l.on_local_durable(part.log.durable_end());
                self.hw_moved(p, ctx);
            }
            Role::Follower { leader, .. } => {
                let leader = *leader;
                self.try_fetch(leader, ctx);
            }
            Role::None => {}
        }
    }
}

/// The image's partition state as the leader state takes it.
pub fn committed(state: &PartitionImage) -> Committed {
    Committed {
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
    }
}
