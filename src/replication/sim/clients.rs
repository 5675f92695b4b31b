//! Simulated clients, one producer and one consumer per partition, each
//! with metadata (leader and leader epoch) learned from whichever broker
//! it asks, so possibly stale.
//!
//! The producer sends acks=all produces of fresh record ids, one at a
//! time, to the leader it knows; in the liveness phase it sends one last
//! produce until it is acknowledged. The consumer reads on from its
//! position carrying the highest leader epoch it has seen, and hands every
//! answer to the checker.
//!
//! Must not: trust a metadata answer with a lower leader epoch than one
//! already seen (Kafka's clients keep the highest).

use super::log::Kind;
use super::net::{Msg, Node};
use super::world::Ctx;

/// What a client knows of its partition's leader.
#[derive(Default)]
pub(super) struct Metadata {
    pub(super) leader: Option<i32>,
    pub(super) epoch: i32,
    asked: Option<(u64, i64)>,
}

impl Metadata {
    /// Asks a random broker now and then while the leader is unknown.
    pub(super) fn refresh(&mut self, me: Node, p: i32, brokers: i32, ctx: &mut Ctx) {
        if self.leader.is_some() || self.asked.is_some_and(|(_, at)| ctx.now - at < 50) {
            return;
        }
        let id = ctx.next_id();
        self.asked = Some((id, ctx.now));
        let to = Node::Broker(1 + ctx.rng.below(brokers as u64) as i32);
        ctx.send(me, to, Msg::Metadata { id, partition: p });
    }

    pub(super) fn on_reply(&mut self, id: u64, leader: Option<(i32, i32)>) {
        if self.asked.is_none_or(|(want, _)| want != id) {
            return;
        }
        self.asked = None;
        if let Some((leader, epoch)) = leader.filter(|(_, e)| *e >= self.epoch) {
            self.leader = Some(leader);
            self.epoch = epoch;
        }
    }
}

pub struct Producer {
    p: i32,
    meta: Metadata,
    /// (request id, sent at) of produces not yet answered.
    inflight: Vec<(u64, i64)>,
    /// At most this many at once.
    max_inflight: usize,
    next_send: i64,
    every_ms: i64,
    /// The liveness phase: one last produce, until acknowledged.
    pub last: bool,
    pub last_acked: bool,
}

impl Producer {
    pub fn new(p: i32, every_ms: i64, max_inflight: usize) -> Producer {
        Producer {
            p,
            meta: Metadata::default(),
            inflight: Vec::new(),
            max_inflight,
            next_send: 0,
            every_ms,
            last: false,
            last_acked: false,
        }
    }

    pub fn tick(&mut self, brokers: i32, ctx: &mut Ctx) {
        let me = Node::Producer(self.p as usize);
        self.meta.refresh(me, self.p, brokers, ctx);
        let before = self.inflight.len();
        self.inflight.retain(|(_, at)| ctx.now - at <= 2_000);
        if self.inflight.len() < before {
            self.meta.leader = None; // timed out: ask again
        }
        let done = self.last && self.last_acked;
        let Some(leader) = self.meta.leader.filter(|_| !done) else {
            return;
        };
        let limit = if self.last { 1 } else { self.max_inflight };
        if self.inflight.len() >= limit || ctx.now < self.next_send {
            return;
        }
        let id = ctx.next_id();
        let count = 1 + ctx.rng.below(3);
        let ids: Vec<u64> = (0..count).map(|_| ctx.next_id()).collect();
        self.inflight.push((id, ctx.now));
        self.next_send = ctx.now + self.every_ms;
        let produce = Msg::Produce {
            id,
            partition: self.p,
            ids,
            kind: Kind::Plain,
        };
        ctx.send(me, Node::Broker(leader), produce);
    }

    pub fn handle(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::MetadataReply { id, leader } => self.meta.on_reply(id, leader),
            Msg::ProduceReply { id, result } => {
                let Some(i) = self.inflight.iter().position(|(want, _)| *want == id) else {
                    return; // a duplicate, or one given up on
                };
                self.inflight.remove(i);
                match result {
                    Ok(_) => self.last_acked = self.last,
                    Err(_) => self.meta.leader = None,
                }
            }
            other => ctx.fail(format!("producer {} got {other:?}", self.p)),
        }
    }
}

pub struct Consumer {
    p: i32,
    meta: Metadata,
    position: i64,
    inflight: Option<(u64, i64)>,
}

impl Consumer {
    pub fn new(p: i32) -> Consumer {
        Consumer {
            p,
            meta: Metadata::default(),
            position: 0,
            inflight: None,
        }
    }

    pub fn tick(&mut self, brokers: i32, ctx: &mut Ctx) {
        let me = Node::Consumer(self.p as usize);
        self.meta.refresh(me, self.p, brokers, ctx);
        if self.inflight.is_some_and(|(_, at)| ctx.now - at > 500) {
            self.inflight = None;
            self.meta.leader = None;
        }
        let Some(leader) = self.meta.leader else {
            return;
        };
        if self.inflight.is_some() {
            return;
        }
        let id = ctx.next_id();
        self.inflight = Some((id, ctx.now));
        let read = Msg::Read {
            id,
            partition: self.p,
            offset: self.position,
            leader_epoch: self.meta.epoch,
        };
        ctx.send(me, Node::Broker(leader), read);
    }

    pub fn handle(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::MetadataReply { id, leader } => self.meta.on_reply(id, leader),
            Msg::ReadReply { id, result } => {
                if self.inflight.is_none_or(|(want, _)| want != id) {
                    return;
                }
                self.inflight = None;
                match result {
                    Ok((hw, records)) => {
                        ctx.checker.consumer_read(self.p, hw, &records);
                        if let Some((o, _)) = records.last() {
                            self.position = o + 1;
                        }
                    }
                    Err(_) => self.meta.leader = None,
                }
            }
            other => ctx.fail(format!("consumer {} got {other:?}", self.p)),
        }
    }
}
