//! The simulated network: who talks (`Node`), what they say (`Msg`), and
//! the faults between them: delay, loss, duplication (so reordering), and
//! partitions (groups of nodes; a message crosses only within a group,
//! judged when it arrives). Transaction requests (to the coordinator, and
//! its markers) are never duplicated: Kafka sends them over TCP, and a
//! transaction version 1 protocol request delivered twice, late, can end
//! the producer's next transaction (what KIP-890's epoch bump per
//! transaction fixes); the clients here resend only after every earlier
//! copy has arrived or been lost. Transaction version 2 is what fixes it,
//! so a version 2 producer's produces and EndTxn may be duplicated, and a
//! copy may come very late (`late`): long after its transaction ended.
//!
//! Must not: decide anything about replication; it only carries messages.

use std::sync::Arc;

use uuid::Uuid;

use crate::cluster::image::{MetadataImage, PartitionImage};
use crate::replication::follower::{FetchPlan, Reply};
use crate::replication::leader::AlterIsr;

use super::log::{Batch, Kind};
use super::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Controller,
    Broker(i32),
    Producer(usize),
    Consumer(usize),
    /// A transactional producer, by index.
    TxnProducer(usize),
    /// A read_committed consumer, by data partition.
    TxnConsumer(usize),
}

/// A request for the transaction coordinator.
#[derive(Clone, Debug)]
pub enum TxnCall {
    Init {
        transactional_id: String,
        timeout_ms: i32,
    },
    Add {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<i32>,
    },
    End {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        /// EndTxn v5: the epoch is bumped, the answer is `Producer`.
        version2: bool,
    },
    /// A partition leader adds a version 2 producer's partition (as
    /// AddPartitionsToTxn v5 between brokers).
    AddImplicit {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partition: i32,
    },
}

impl TxnCall {
    /// Whether it is answered with `TxnAnswer::Producer`.
    pub fn answers_producer(&self) -> bool {
        matches!(
            self,
            TxnCall::Init { .. } | TxnCall::End { version2: true, .. }
        )
    }

    fn version2_end(&self) -> bool {
        matches!(self, TxnCall::End { version2: true, .. })
    }
}

#[derive(Clone, Debug)]
pub enum TxnAnswer {
    /// InitProducerId, EndTxn v5: (producer id, epoch) or the error code.
    Producer(Result<(i64, i16), i16>),
    /// AddPartitionsToTxn, EndTxn before v5: 0 or the error code.
    Code(i16),
}

/// A version 2 transactional produce: a produce, and whose it is.
#[derive(Clone, Debug)]
pub struct ProduceV2 {
    pub id: u64,
    pub partition: i32,
    pub ids: Vec<u64>,
    pub kind: Kind,
    pub transactional_id: String,
}

/// A read_committed read's answer.
#[derive(Clone, Debug)]
pub struct Stable {
    pub hw: i64,
    pub lso: i64,
    /// Whole batches from the read offset, below the LSO.
    pub batches: Vec<Batch>,
    /// (producer id, first offset) of aborted transactions they overlap.
    pub aborted: Vec<(i64, i64)>,
}

#[derive(Clone, Debug)]
pub enum Msg {
    Register {
        broker: i32,
        incarnation: Uuid,
    },
    Registered {
        incarnation: Uuid,
        epoch: i64,
    },
    Heartbeat {
        broker: i32,
        epoch: i64,
        metadata_offset: u64,
    },
    /// The broker epoch the controller no longer knows.
    StaleEpoch {
        epoch: i64,
    },
    Alter {
        broker: i32,
        broker_epoch: i64,
        partition: i32,
        alter: AlterIsr,
    },
    /// The partition's state after the change, or the error code.
    AlterReply {
        partition: i32,
        /// The proposal answered.
        alter: AlterIsr,
        result: Result<PartitionImage, i16>,
    },
    Image(Arc<MetadataImage>),
    Fetch {
        id: u64,
        broker: i32,
        broker_epoch: i64,
        plans: Vec<FetchPlan>,
    },
    /// One (reply, batches) per plan, in plan order.
    FetchReply {
        id: u64,
        parts: Vec<(Reply, Vec<Batch>)>,
    },
    /// A produce, or (kind Marker, from a coordinator) a transaction marker.
    Produce {
        id: u64,
        partition: i32,
        ids: Vec<u64>,
        kind: Kind,
    },
    /// Produce v12+ from a transaction version 2 producer: the leader
    /// adds the partition to the transaction before appending (answered
    /// with `ProduceReply`).
    ProduceV2(ProduceV2),
    /// The base offset, or the error code.
    ProduceReply {
        id: u64,
        result: Result<i64, i16>,
    },
    Read {
        id: u64,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
    },
    /// The high watermark and the (offset, id) records below it.
    ReadReply {
        id: u64,
        result: Result<(i64, Vec<(i64, u64)>), i16>,
    },
    Metadata {
        id: u64,
        partition: i32,
    },
    /// (leader, leader epoch) as the answering broker's image has it.
    MetadataReply {
        id: u64,
        leader: Option<(i32, i32)>,
    },
    Txn {
        id: u64,
        call: TxnCall,
    },
    TxnReply {
        id: u64,
        answer: TxnAnswer,
    },
    ReadCommitted {
        id: u64,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
    },
    ReadCommittedReply {
        id: u64,
        result: Result<Stable, i16>,
    },
}

impl Msg {
    /// Whether the network may deliver it twice (see the module doc).
    fn duplicable(&self) -> bool {
        let marker = matches!(
            self,
            Msg::Produce {
                kind: Kind::Marker { .. },
                ..
            }
        );
        match self {
            Msg::Txn { call, .. } => call.version2_end(),
            _ => !marker,
        }
    }

    /// Whether a copy of it may come very late (see the module doc).
    fn may_be_late(&self) -> bool {
        match self {
            Msg::ProduceV2(_) => true,
            Msg::Txn { call, .. } => call.version2_end(),
            _ => false,
        }
    }
}

/// The extra delay of a late copy: beyond a client's request timeout, so
/// it arrives after its sender gave up (and usually moved on).
const LATE_MS: std::ops::Range<i64> = 300..2_000;

/// Fault rates of the network (‰ per message) and its current partition.
#[derive(Debug)]
pub struct Net {
    pub max_delay_ms: i64,
    pub loss: u64,
    pub duplicate: u64,
    /// ‰ of the copies of a version 2 producer's requests that come late.
    pub late: u64,
    /// Late copies sent (a statistic).
    pub late_copies: u64,
    /// Group of each node index; messages cross only within a group.
    groups: Vec<u64>,
    brokers: usize,
    /// Data partitions (each has a producer and two consumers).
    partitions: usize,
    pub faulty: bool,
}

impl Net {
    pub fn new(brokers: usize, partitions: usize, txn_producers: usize, rng: &mut Rng) -> Net {
        Net {
            max_delay_ms: 1 + rng.below(30) as i64,
            loss: rng.below(80),
            duplicate: rng.below(50),
            late: rng.below(100),
            late_copies: 0,
            groups: vec![0; 1 + brokers + 3 * partitions + txn_producers],
            brokers,
            partitions,
            faulty: true,
        }
    }

    fn index(&self, node: Node) -> usize {
        match node {
            Node::Controller => 0,
            Node::Broker(b) => b as usize,
            Node::Producer(p) => 1 + self.brokers + p,
            Node::Consumer(p) => 1 + self.brokers + self.partitions + p,
            Node::TxnConsumer(p) => 1 + self.brokers + 2 * self.partitions + p,
            Node::TxnProducer(i) => 1 + self.brokers + 3 * self.partitions + i,
        }
    }

    /// The arrival times of `msg` sent now: none if lost, two if
    /// duplicated; some copies of version 2 requests come late.
    pub fn arrivals(&mut self, msg: &Msg, now: i64, rng: &mut Rng) -> Vec<i64> {
        let faulty = self.faulty;
        if faulty && rng.chance(self.loss) {
            return Vec::new();
        }
        let copies = if faulty && rng.chance(self.duplicate) && msg.duplicable() {
            2
        } else {
            1
        };
        let mut at: Vec<i64> = (0..copies)
            .map(|_| now + 1 + rng.below(self.max_delay_ms as u64) as i64)
            .collect();
        if faulty && msg.may_be_late() {
            for t in at.iter_mut() {
                if rng.chance(self.late) {
                    self.late_copies += 1;
                    *t += LATE_MS.start + rng.below((LATE_MS.end - LATE_MS.start) as u64) as i64;
                }
            }
        }
        at
    }

    pub fn connected(&self, a: Node, b: Node) -> bool {
        self.groups[self.index(a)] == self.groups[self.index(b)]
    }

    /// Cuts the nodes into up to three groups at random.
    pub fn partition(&mut self, rng: &mut Rng) {
        for g in self.groups.iter_mut() {
            *g = rng.below(3);
        }
    }

    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
    }

    pub fn is_split(&self) -> bool {
        self.groups.iter().any(|g| *g != self.groups[0])
    }
}
