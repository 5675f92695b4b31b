//! The simulated controller: one reliable process holding the real
//! `MetadataImage`, driven by the real broker lifecycle (`Registry`:
//! heartbeats, session expiry, fence and unfence through
//! `partition_change`), and the real registration and AlterPartition
//! planning (`commands::plan`). Every change is one "committed" batch at
//! the next offset; the image is published to every broker over the
//! simulated network on change and now and then (brokers catch up with it
//! as with the metadata log).
//!
//! Must not: be unreliable itself (the quorum has its own simulation), or
//! decide elections any other way than `partition_change`.

use std::sync::Arc;

use uuid::Uuid;

use crate::cluster::commands::{self, Command, Defaults};
use crate::cluster::image::{MetadataImage, PartitionImage, NO_LEADER};
use crate::cluster::records::MetadataRecord;
use crate::cluster::registry::Registry;
use crate::replication::leader::AlterIsr;

use super::net::{Msg, Node};
use super::world::Ctx;

pub const TOPIC: &str = "t";

/// See the module doc.
pub struct Controller {
    pub image: MetadataImage,
    registry: Registry,
    defaults: Defaults,
    topic_id: Uuid,
    brokers: Vec<i32>,
    session_timeout_ms: i64,
    next_publish: i64,
    dirty: bool,
}

impl Controller {
    /// A cluster with one topic whose partitions have `assignment`'s
    /// replicas, all in the ISR and leaderless until brokers unfence.
    pub fn new(
        brokers: Vec<i32>,
        assignment: &[Vec<i32>],
        session_timeout_ms: i64,
        min_isr: usize,
    ) -> Controller {
        let defaults = defaults(min_isr);
        let topic_id = Uuid::from_u64_pair(0xf10d, 1);
        let mut records = vec![MetadataRecord::Topic {
            name: TOPIC.to_string(),
            id: topic_id,
        }];
        for (p, replicas) in (0..).zip(assignment) {
            records.push(MetadataRecord::Partition {
                topic_id,
                partition: p,
                replicas: replicas.clone(),
                isr: replicas.clone(),
                leader: NO_LEADER,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            });
        }
        let mut image = MetadataImage::default();
        image.apply_batch(1, &records);
        Controller {
            image,
            registry: Registry::new(defaults.clone()),
            defaults,
            topic_id,
            brokers,
            session_timeout_ms,
            next_publish: 0,
            dirty: true,
        }
    }

    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    pub fn partition(&self, p: i32) -> &PartitionImage {
        let topic = self.image.topic(TOPIC).expect("the topic exists");
        topic.partition(p).expect("the partition exists")
    }

    pub fn handle(&mut self, from: Node, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Register {
                broker,
                incarnation,
            } => self.register(from, broker, incarnation, ctx),
            Msg::Heartbeat {
                broker,
                epoch,
                metadata_offset,
            } => {
                let now = ctx.now as u64;
                let image = &self.image;
                match self
                    .registry
                    .heartbeat(image, broker, epoch, metadata_offset, false, now)
                {
                    Ok((records, _)) => self.commit(records, ctx),
                    Err(_) => ctx.send(Node::Controller, from, Msg::StaleEpoch { epoch }),
                }
            }
            Msg::Alter {
                broker,
                broker_epoch,
                partition,
                alter,
            } => {
                let result = self.alter_partition(broker, broker_epoch, partition, &alter, ctx);
                let reply = Msg::AlterReply {
                    partition,
                    alter,
                    result,
                };
                ctx.send(Node::Controller, from, reply);
            }
            other => ctx.fail(format!("controller got {other:?}")),
        }
    }

    fn register(&mut self, from: Node, broker: i32, incarnation: Uuid, ctx: &mut Ctx) {
        let command = Command::RegisterBroker {
            node_id: broker,
            incarnation,
            host: format!("b{broker}"),
            port: 9092,
            rack: None,
            listeners: Vec::new(),
        };
        match commands::plan(&self.image, &self.defaults, &command) {
            Ok(plan) => {
                self.commit(plan.records, ctx);
                let epoch = self.image.offset as i64;
                ctx.send(
                    Node::Controller,
                    from,
                    Msg::Registered { incarnation, epoch },
                );
            }
            Err(refusal) => ctx.fail(format!("registration refused: {refusal:?}")),
        }
    }

    /// Session expiry, and publishing the image.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        let records =
            self.registry
                .expire(&self.image, ctx.now as u64, self.session_timeout_ms as u64);
        self.commit(records, ctx);
        if self.dirty || ctx.now >= self.next_publish {
            self.publish(ctx);
        }
    }

    fn publish(&mut self, ctx: &mut Ctx) {
        self.dirty = false;
        self.next_publish = ctx.now + 200;
        let image = Arc::new(self.image.clone());
        for b in &self.brokers {
            ctx.send(
                Node::Controller,
                Node::Broker(*b),
                Msg::Image(image.clone()),
            );
        }
    }

    /// Applies `records` as one batch at the next offset.
    fn commit(&mut self, records: Vec<MetadataRecord>, ctx: &mut Ctx) {
        if records.is_empty() {
            return;
        }
        let offset = self.image.offset + 1;
        self.image.apply_batch(offset, &records);
        self.dirty = true;
        for r in &records {
            if let MetadataRecord::Partition {
                partition,
                leader,
                leader_epoch,
                ..
            } = r
            {
                if *leader != NO_LEADER {
                    ctx.checker
                        .leader_claim(*partition, *leader_epoch, *leader, "controller");
                }
            }
            ctx.trace(|| format!("controller @{offset}: {r:?}"));
        }
    }

    /// AlterPartition as the real controller plans it
    /// (`cluster::partition_commands`); the answer is the partition's
    /// state after it, or the refusal's error code.
    fn alter_partition(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        partition: i32,
        alter: &AlterIsr,
        ctx: &mut Ctx,
    ) -> Result<PartitionImage, i16> {
        let command = Command::AlterPartition {
            broker_id: broker,
            broker_epoch,
            topic_id: self.topic_id,
            partition,
            leader_epoch: alter.leader_epoch,
            partition_epoch: alter.partition_epoch,
            new_isr: alter.new_isr.clone(),
        };
        let plan = commands::plan(&self.image, &self.defaults, &command).map_err(|r| r.code)?;
        self.commit(plan.records, ctx);
        Ok(self.partition(partition).clone())
    }
}

/// Cluster defaults: no unclean elections (the sim checks that nothing
/// committed is lost, which an unclean election may do by design); the
/// swarm's min.insync.replicas, which decides the eligible leader replicas.
fn defaults(min_isr: usize) -> Defaults {
    Defaults {
        num_partitions: 1,
        default_replication_factor: 3,
        unclean_leader_election: false,
        min_insync_replicas: min_isr as i32,
    }
}
