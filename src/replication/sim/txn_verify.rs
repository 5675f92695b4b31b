//! A data partition leader's side of transaction version 2 (Produce v12+),
//! as `handlers::txn_verify` does it: before appending a version 2
//! producer's transactional batch, the leader asks the producer's
//! coordinator (the broker its image names as the state partition's
//! leader) to add the partition to the transaction, unless its log
//! already has that producer's transaction open at the batch's epoch (the
//! coordinator has the partition then). An add answered with something
//! that passes by itself (a coordinator moving or loading, or completing
//! the previous transaction) is NOT_ENOUGH_REPLICAS to the producer, which
//! retries; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH, as Kafka maps it.
//!
//! Owns: the produces waiting for their coordinator's answer.
//! Must not: append a batch before the coordinator added its partition
//! (or the transaction is open here), or bypass the produce path: once
//! added, the batch goes through the same checks and acks as any produce.

use kafka_protocol::error::ResponseError as E;

use crate::txn::is_transient;

use super::broker::Broker;
use super::log::Kind;
use super::net::{Msg, Node, ProduceV2, TxnAnswer, TxnCall};
use super::world::Ctx;

/// A produce waiting for the coordinator to add its partition.
pub(super) struct Verifying {
    /// The leader's request to the coordinator.
    request: u64,
    client: Node,
    /// The client's produce request.
    id: u64,
    partition: i32,
    ids: Vec<u64>,
    kind: Kind,
    since: i64,
}

impl Broker {
    /// A version 2 producer's produce: appended now if its transaction is
    /// open here at its epoch, else once the coordinator added it.
    pub(super) fn on_produce_v2(&mut self, from: Node, produce: ProduceV2, ctx: &mut Ctx) {
        let ProduceV2 {
            id,
            partition: p,
            ids,
            kind,
            transactional_id,
        } = produce;
        let Kind::Txn {
            producer_id,
            producer_epoch,
            ..
        } = kind
        else {
            return ctx.fail(format!("b{}: a version 2 produce of {kind:?}", self.id));
        };
        if self.leader(p).is_none() {
            return self.refuse(from, id, E::NotLeaderOrFollower, ctx);
        }
        let log = &self.parts[p as usize].log;
        if log
            .txn()
            .has_ongoing_transaction(producer_id, producer_epoch)
        {
            return self.on_produce(from, id, p, ids, kind, ctx);
        }
        let state = self
            .cfg
            .state_partition
            .expect("transactions have a state partition");
        let Some(coordinator) = self.leader_of(state) else {
            return self.refuse(from, id, E::NotEnoughReplicas, ctx);
        };
        let request = ctx.next_id();
        let call = TxnCall::AddImplicit {
            transactional_id,
            producer_id,
            producer_epoch,
            partition: p,
        };
        ctx.send(
            self.me(),
            Node::Broker(coordinator),
            Msg::Txn { id: request, call },
        );
        self.verifying.push(Verifying {
            request,
            client: from,
            id,
            partition: p,
            ids,
            kind,
            since: ctx.now,
        });
    }

    /// The coordinator's answer to an implicit add.
    pub(super) fn on_implicit_add(&mut self, request: u64, answer: TxnAnswer, ctx: &mut Ctx) {
        let Some(at) = self.verifying.iter().position(|v| v.request == request) else {
            return; // given up on (or from before a crash)
        };
        let v = self.verifying.swap_remove(at);
        let code = match answer {
            TxnAnswer::Code(0) => {
                return self.on_produce(v.client, v.id, v.partition, v.ids, v.kind, ctx);
            }
            TxnAnswer::Code(code) => code,
            TxnAnswer::Producer(_) => {
                return ctx.fail(format!("b{}: an add answered {answer:?}", self.id));
            }
        };
        let error = if is_transient(code) {
            E::NotEnoughReplicas
        } else if code == E::ProducerFenced.code() {
            E::InvalidProducerEpoch
        } else {
            match E::try_from_code(code) {
                Some(e) => e,
                None => return ctx.fail(format!("b{}: add answered code {code}", self.id)),
            }
        };
        self.refuse(v.client, v.id, error, ctx);
    }

    /// Produces whose coordinator never answered are refused (the
    /// producer has long given up on them).
    pub(super) fn expire_verifying(&mut self, ctx: &mut Ctx) {
        let timeout = self.cfg.request_timeout_ms * 3;
        let now = ctx.now;
        let (late, kept) = std::mem::take(&mut self.verifying)
            .into_iter()
            .partition(|v| now - v.since > timeout);
        self.verifying = kept;
        let late: Vec<Verifying> = late;
        for v in late {
            self.refuse(v.client, v.id, E::RequestTimedOut, ctx);
        }
    }

    pub(super) fn refuse(&mut self, client: Node, id: u64, error: E, ctx: &mut Ctx) {
        if error == E::InvalidProducerEpoch {
            ctx.stats.implicit_adds_fenced += 1;
        }
        let result = Err(error.code());
        ctx.send(self.me(), client, Msg::ProduceReply { id, result });
    }
}
