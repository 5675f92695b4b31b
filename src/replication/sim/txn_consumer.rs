//! A simulated read_committed consumer, one per data partition: it reads
//! on from its position (below the last stable offset, as the leader
//! answers) and drops the records of aborted transactions as Kafka's Java
//! consumer does (the answer's aborted list, by first offset, marks a
//! producer aborted from then until its abort marker). Every record it
//! returns or drops, and every marker it passes, goes to the checker.
//!
//! Must not: skip an offset, or go back.

use std::collections::{HashSet, VecDeque};

use super::clients::Metadata;
use super::log::Kind;
use super::net::{Msg, Node, Stable};
use super::world::Ctx;

/// What the consumer did with one offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// Returned to the application.
    Returned { offset: i64, id: u64 },
    /// Dropped: its transaction aborted.
    Dropped { offset: i64, id: u64 },
    /// A control record passed.
    Marker {
        offset: i64,
        id: u64,
        producer_id: i64,
        commit: bool,
    },
}

/// The pause after an answer with nothing new (the read_committed
/// consumer runs beside the plain one: it need not poll as hard).
const IDLE_MS: i64 = 30;

pub struct TxnConsumer {
    p: i32,
    meta: Metadata,
    pub position: i64,
    inflight: Option<(u64, i64)>,
    next_at: i64,
}

impl TxnConsumer {
    pub fn new(p: i32) -> TxnConsumer {
        TxnConsumer {
            p,
            meta: Metadata::default(),
            position: 0,
            inflight: None,
            next_at: 0,
        }
    }

    pub fn tick(&mut self, brokers: i32, ctx: &mut Ctx) {
        let me = Node::TxnConsumer(self.p as usize);
        self.meta.refresh(me, self.p, brokers, ctx);
        if self.inflight.is_some_and(|(_, at)| ctx.now - at > 500) {
            self.inflight = None;
            self.meta.leader = None;
        }
        let ready = self.inflight.is_none() && ctx.now >= self.next_at;
        let Some(leader) = self.meta.leader.filter(|_| ready) else {
            return;
        };
        let id = ctx.next_id();
        self.inflight = Some((id, ctx.now));
        let read = Msg::ReadCommitted {
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
            Msg::ReadCommittedReply { id, result } => {
                if self.inflight.is_none_or(|(want, _)| want != id) {
                    return;
                }
                self.inflight = None;
                match result {
                    Ok(stable) => {
                        let items = filter(self.position, &stable);
                        ctx.checker
                            .read_committed(self.p, stable.hw, stable.lso, &items);
                        match stable.batches.last() {
                            Some(b) => self.position = self.position.max(b.end()),
                            None => self.next_at = ctx.now + IDLE_MS,
                        }
                    }
                    Err(_) => self.meta.leader = None,
                }
            }
            other => ctx.fail(format!("txn consumer {} got {other:?}", self.p)),
        }
    }
}

/// Kafka's read_committed filtering of one answer, from `position` on.
fn filter(position: i64, stable: &Stable) -> Vec<Item> {
    let mut aborted: Vec<(i64, i64)> = stable.aborted.clone();
    aborted.sort_by_key(|&(pid, first)| (first, pid));
    let mut aborted = VecDeque::from(aborted);
    let mut aborting = HashSet::new();
    let mut items = Vec::new();
    for b in &stable.batches {
        let records = (b.base..).zip(&b.ids).filter(|(o, _)| *o >= position);
        let last = b.end() - 1;
        match b.kind {
            Kind::Plain => items.extend(records.map(|(offset, &id)| Item::Returned { offset, id })),
            Kind::Txn { producer_id, .. } => {
                while aborted.front().is_some_and(|&(_, first)| first <= last) {
                    aborting.extend(aborted.pop_front().map(|(pid, _)| pid));
                }
                let dropped = aborting.contains(&producer_id);
                items.extend(records.map(|(offset, &id)| match dropped {
                    true => Item::Dropped { offset, id },
                    false => Item::Returned { offset, id },
                }));
            }
            Kind::Marker {
                producer_id,
                commit,
                ..
            } => {
                while aborted.front().is_some_and(|&(_, first)| first <= last) {
                    aborting.extend(aborted.pop_front().map(|(pid, _)| pid));
                }
                if !commit {
                    aborting.remove(&producer_id);
                }
                items.extend(records.map(|(offset, &id)| Item::Marker {
                    offset,
                    id,
                    producer_id,
                    commit,
                }));
            }
            Kind::State(_) => unreachable!("coordinator records in a data partition"),
        }
    }
    items
}
