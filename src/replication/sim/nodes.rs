//! The world's nodes: the controller, the brokers and the clients, and
//! the routing of a delivered message or a tick to the one it is for.
//!
//! Must not: decide anything; each node handles its own messages.

use super::broker::Broker;
use super::clients::{Consumer, Producer};
use super::controller::Controller;
use super::net::{Msg, Node};
use super::txn_client::TxnProducer;
use super::txn_consumer::TxnConsumer;
use super::world::Ctx;

/// Everything that handles messages: the controller, brokers, clients.
pub struct Nodes {
    pub controller: Controller,
    pub brokers: Vec<Broker>,
    pub producers: Vec<Producer>,
    pub consumers: Vec<Consumer>,
    pub txn_producers: Vec<TxnProducer>,
    pub txn_consumers: Vec<TxnConsumer>,
}

impl Nodes {
    /// Hands a message to its node, if that node is up.
    pub fn deliver(&mut self, from: Node, to: Node, msg: Msg, ctx: &mut Ctx) {
        match to {
            Node::Controller => {
                ctx.trace(|| format!("{from:?} -> controller: {}", describe(&msg)));
                self.controller.handle(from, msg, ctx);
            }
            Node::Broker(b) if self.brokers[b as usize - 1].up => {
                ctx.trace(|| format!("{from:?} -> b{b}: {}", describe(&msg)));
                self.brokers[b as usize - 1].handle(from, msg, ctx);
            }
            Node::Broker(_) => ctx.stats.dropped += 1,
            Node::Producer(p) => self.producers[p].handle(msg, ctx),
            Node::Consumer(p) => self.consumers[p].handle(msg, ctx),
            Node::TxnProducer(i) => self.txn_producers[i].handle(msg, ctx),
            Node::TxnConsumer(p) => self.txn_consumers[p].handle(msg, ctx),
        }
    }

    pub fn tick(&mut self, node: Node, ctx: &mut Ctx) {
        let brokers = self.brokers.len() as i32;
        match node {
            Node::Controller => self.controller.tick(ctx),
            Node::Broker(b) => {
                let broker = &mut self.brokers[b as usize - 1];
                if broker.up {
                    broker.tick(ctx);
                }
            }
            Node::Producer(p) => self.producers[p].tick(brokers, ctx),
            Node::Consumer(p) => self.consumers[p].tick(brokers, ctx),
            Node::TxnProducer(i) => self.txn_producers[i].tick(brokers, ctx),
            Node::TxnConsumer(p) => self.txn_consumers[p].tick(brokers, ctx),
        }
    }
}

/// A message in one line (an image as its partition states).
fn describe(msg: &Msg) -> String {
    match msg {
        Msg::Image(image) => {
            let parts = image
                .topic(super::controller::TOPIC)
                .map(|t| &t.partitions[..])
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    format!(
                        "L{} e{} isr{:?} pe{}",
                        p.leader, p.leader_epoch, p.isr, p.partition_epoch
                    )
                })
                .collect::<Vec<_>>();
            format!("image @{} {parts:?}", image.offset)
        }
        other => format!("{other:?}"),
    }
}
