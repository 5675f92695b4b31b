//! KIP-890's defence against hanging transactions, on Produce: before a
//! leader stores a producer's transactional batches, the producer's
//! transaction coordinator confirms those partitions are in its current
//! transaction. A late batch from a transaction already aborted (a zombie,
//! a retry after a timeout) is refused instead of opening a transaction no
//! marker will ever close. Under transaction version 2 (Produce v12+) the
//! coordinator adds the partitions instead, the producer having sent no
//! AddPartitionsToTxn; TxnOffsetCommit v5+ does the same for its group's
//! partition.
//!
//! The coordinator answers over the mesh when it is on this broker, else
//! over the inter-broker listener (AddPartitionsToTxn v4 verify only, or v5
//! to add, as Kafka's AddPartitionsToTxnManager sends them). Coordinator
//! errors that pass with time become NOT_ENOUGH_REPLICAS, which every
//! producer retries. A partition where the producer's batches already
//! opened its transaction at this epoch needs no question.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::shard::broker_connection::call_broker;
use crate::txn::{is_transient, TRANSACTION_STATE_TOPIC};

use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;
use crate::storage::batch;

/// Kafka's AddPartitionsToTxnManager versions: verify only, or add (v5).
const VERIFY_VERSION: i16 = 4;
const ADD_VERSION: i16 = 5;
/// How long a produce waits for the coordinator's answer.
const VERIFY_DEADLINE: Duration = Duration::from_secs(10);
const CLIENT_ID: &str = "fjord-txn-verify";

/// What the partition leader asks of the coordinator, by request version
/// (Kafka's TransactionSupportedOperation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Verify; a client too old for TRANSACTION_ABORTABLE gets
    /// INVALID_TXN_STATE instead (Produce before v11).
    VerifyOld,
    /// Verify (Produce v11, TxnOffsetCommit v4).
    Verify,
    /// Add the partitions (transaction version 2: Produce v12+,
    /// TxnOffsetCommit v5+).
    Add,
}

impl Check {
    pub fn for_produce(version: i16) -> Check {
        match version {
            12.. => Check::Add,
            11 => Check::Verify,
            _ => Check::VerifyOld,
        }
    }
}

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
            if !already_open(shard, &name, p.index, (h.producer_id, h.producer_epoch)) {
                partitions.push((name.clone(), p.index));
            }
        }
    }
    let Some(producer) = producer.filter(|_| !partitions.is_empty()) else {
        return HashMap::new();
    };
    let check = Check::for_produce(version);
    let refused = coordinator_check(shard, &id.0, producer, partitions, check).await;
    refused
        .into_iter()
        .map(|(tp, code)| (tp, for_produce(code, check)))
        .collect()
}

/// Whether the producer's batches already opened its transaction in this
/// partition at this epoch (so the coordinator has it): no need to ask.
/// Only this shard's partitions are looked at; the others are asked about.
fn already_open(shard: &Shard, topic: &str, partition: i32, (pid, epoch): (i64, i16)) -> bool {
    shard
        .log(topic, partition)
        .is_some_and(|log| log.has_ongoing_transaction(pid, epoch))
}

/// Asks the coordinator of `id` to verify or add `partitions` for the
/// producer; returns those refused, with the coordinator's code.
pub async fn coordinator_check(
    shard: &Rc<Shard>,
    id: &str,
    (producer_id, producer_epoch): (i64, i16),
    partitions: Vec<(String, i32)>,
    check: Check,
) -> HashMap<(String, i32), i16> {
    let all = |code: i16| partitions.iter().map(|tp| (tp.clone(), code)).collect();
    if shard.topics.borrow().get(TRANSACTION_STATE_TOPIC).is_none() {
        // No coordinator has ever run: no transaction can have begun.
        return all(E::InvalidTxnState.code());
    }
    let id = id.to_string();
    let call = match check {
        Check::Add => TxnCall::AddImplicit {
            id: id.clone(),
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
        },
        Check::Verify | Check::VerifyOld => TxnCall::Verify {
            id: id.clone(),
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
        },
    };
    let not_coordinator = E::NotCoordinator.code();
    let answer = match txn_coordinator::call(shard, call).await {
        TxnAnswer::Verified(Err(code)) | TxnAnswer::Code(code) if code == not_coordinator => {
            remote(
                shard,
                &id,
                (producer_id, producer_epoch),
                &partitions,
                check,
            )
            .await
        }
        TxnAnswer::Verified(verified) => verified,
        TxnAnswer::Code(0) => Ok(Vec::new()),
        TxnAnswer::Code(code) => Err(code),
        _ => Err(E::UnknownServerError.code()),
    };
    match answer {
        Ok(codes) => codes.into_iter().filter(|(_, c)| *c != 0).collect(),
        Err(code) => all(code),
    }
}

/// Asks the broker leading the id's `__transaction_state` partition.
async fn remote(
    shard: &Rc<Shard>,
    id: &str,
    (producer_id, producer_epoch): (i64, i16),
    partitions: &[(String, i32)],
    check: Check,
) -> Result<Vec<((String, i32), i16)>, i16> {
    let count = shard.config.transactions.log_partitions;
    let partition = crate::txn::partition_for(id, count);
    let coordinator = shard
        .partition_state(TRANSACTION_STATE_TOPIC, partition)
        .map(|p| p.leader)
        .filter(|&leader| leader >= 0 && leader != shard.node_id())
        .ok_or(E::CoordinatorNotAvailable.code())?;
    let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
    for (topic, p) in partitions {
        match by_topic.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(*p),
            None => by_topic.push((topic.clone(), vec![*p])),
        }
    }
    let txn = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(StrBytes::from_string(id.to_string()).into())
        .with_producer_id(producer_id.into())
        .with_producer_epoch(producer_epoch)
        .with_verify_only(check != Check::Add)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![txn]);
    let version = match check {
        Check::Add => ADD_VERSION,
        Check::Verify | Check::VerifyOld => VERIFY_VERSION,
    };
    let api = (ApiKey::AddPartitionsToTxn, version);
    let response: AddPartitionsToTxnResponse = call_broker(
        shard,
        coordinator,
        api,
        &request,
        VERIFY_DEADLINE,
        CLIENT_ID,
    )
    .await
    .map_err(|e| {
        tracing::debug!(coordinator, "transaction verification: {e}");
        E::CoordinatorNotAvailable.code()
    })?;
    if response.error_code == E::ClusterAuthorizationFailed.code() {
        // Not the producer's doing: the verification did not complete.
        return Err(E::InvalidTxnState.code());
    }
    if response.error_code != 0 {
        return Err(response.error_code);
    }
    let result = response
        .results_by_transaction
        .into_iter()
        .next()
        .ok_or(E::UnknownServerError.code())?;
    Ok(result
        .topic_results
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            t.results_by_partition
                .into_iter()
                .map(move |p| ((topic.clone(), p.partition_index), p.partition_error_code))
        })
        .collect())
}

/// A coordinator's refusal as Produce answers it, as Kafka maps it: a
/// coordinator that is moving or loading, or still completing the previous
/// transaction, is NOT_ENOUGH_REPLICAS (every producer retries it); a
/// fenced producer INVALID_PRODUCER_EPOCH (what Produce has always said to
/// a zombie, fatal for a transactional one); TRANSACTION_ABORTABLE is
/// INVALID_TXN_STATE for clients that predate it.
fn for_produce(code: i16, check: Check) -> i16 {
    if is_transient(code) {
        E::NotEnoughReplicas.code()
    } else if code == E::ProducerFenced.code() {
        E::InvalidProducerEpoch.code()
    } else if code == E::TransactionAbortable.code() && check == Check::VerifyOld {
        E::InvalidTxnState.code()
    } else {
        code
    }
}
