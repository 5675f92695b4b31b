//! KIP-890's defence against hanging transactions, on Produce: before a
//! leader stores a producer's transactional batches, the producer's
//! transaction coordinator confirms those partitions are in its current
//! transaction. A late batch from a transaction already aborted (a zombie,
//! a retry after a timeout) is refused with INVALID_TXN_STATE instead of
//! opening a transaction no marker will ever close.
//!
//! The check is made when the coordinator is on this broker. When another
//! broker coordinates the id, the batch is accepted as before KIP-890 (the
//! broker-to-broker AddPartitionsToTxn v4 call is not made yet).

use std::collections::HashMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::ProduceRequest;

use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;
use crate::storage::batch;

/// The partitions of `request` that must not be written, with their code.
pub async fn refused(
    shard: &Rc<Shard>,
    version: i16,
    request: &ProduceRequest,
) -> HashMap<(String, i32), i16> {
    let Some(id) = request.transactional_id.as_ref() else {
        return HashMap::new();
    };
    let mut producer = None;
    let mut partitions = Vec::new();
    for topic in &request.topic_data {
        let name = match version >= 13 {
            true => match super::topics::by_id(shard, topic.topic_id) {
                Some(meta) => meta.name,
                None => continue,
            },
            false => topic.name.0.to_string(),
        };
        for p in &topic.partition_data {
            let Some(records) = p.records.as_deref() else {
                continue;
            };
            let Some(h) = batch::first_transactional(records) else {
                continue;
            };
            producer.get_or_insert((h.producer_id, h.producer_epoch));
            partitions.push((name.clone(), p.index));
        }
    }
    let Some((producer_id, producer_epoch)) = producer else {
        return HashMap::new();
    };
    let call = TxnCall::Verify {
        id: id.0.to_string(),
        producer_id,
        producer_epoch,
        partitions: partitions.clone(),
    };
    let all = |code: i16| partitions.iter().map(|tp| (tp.clone(), code)).collect();
    let topic = crate::txn::TRANSACTION_STATE_TOPIC;
    if shard.topics.borrow().get(topic).is_none() {
        // No coordinator has ever run: no transaction can have begun.
        return all(E::InvalidTxnState.code());
    }
    match txn_coordinator::call(shard, call).await {
        TxnAnswer::Verified(Ok(codes)) => codes.into_iter().filter(|(_, c)| *c != 0).collect(),
        // Coordinated elsewhere: not checked (see the module doc).
        TxnAnswer::Verified(Err(code)) if code == E::NotCoordinator.code() => HashMap::new(),
        // Retriable for every producer, as Kafka maps a coordinator that is
        // loading or moving.
        TxnAnswer::Verified(Err(code))
            if code == E::CoordinatorNotAvailable.code()
                || code == E::CoordinatorLoadInProgress.code() =>
        {
            all(E::NotEnoughReplicas.code())
        }
        TxnAnswer::Verified(Err(code)) => all(code),
        _ => all(E::UnknownServerError.code()),
    }
}
