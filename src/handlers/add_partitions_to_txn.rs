//! AddPartitionsToTxn: a transactional producer names the partitions it
//! is about to write (v0–3, one transaction), or a partition leader asks
//! the coordinator whether they are in a transaction (v4+ with verifyOnly,
//! KIP-890) or adds them for the producer (v4+ without, transaction
//! version 2); v4+ is a batch, from brokers only (CLUSTER_ACTION). The
//! coordinator of the id is the shard leading its `__transaction_state`
//! partition (`txn_coordinator`).
//!
//! As Kafka: without WRITE on the transactional id every partition gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED; a topic without WRITE gets
//! TOPIC_AUTHORIZATION_FAILED, an unknown one UNKNOWN_TOPIC_OR_PARTITION,
//! and then the rest OPERATION_NOT_ATTEMPTED, nothing added.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, TopicName,
};

use super::authorize::{self, TopicRef};
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;
use crate::txn::Fenced;

/// Each topic's partitions with their codes.
type Results = Vec<(TopicName, Vec<(i32, i16)>)>;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if version <= 3 {
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(request.v3_and_below_transactional_id)
            .with_producer_id(request.v3_and_below_producer_id)
            .with_producer_epoch(request.v3_and_below_producer_epoch)
            .with_topics(request.v3_and_below_topics);
        let results = one(shard, session, txn, version).await;
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(topic_results(results));
    }
    if !authorize::cluster(shard, session, operation::CLUSTER_ACTION) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(E::ClusterAuthorizationFailed.code());
    }
    let mut out = Vec::with_capacity(request.transactions.len());
    for txn in request.transactions {
        let id = txn.transactional_id.clone();
        let results = one(shard, session, txn, version).await;
        out.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(id)
                .with_topic_results(topic_results(results)),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(out)
}

/// One transaction's partitions: checked here, then added (or verified)
/// by its coordinator.
async fn one(
    shard: &Rc<Shard>,
    session: &Session,
    txn: AddPartitionsToTxnTransaction,
    version: i16,
) -> Results {
    let fenced = Fenced::for_request(ApiKey::AddPartitionsToTxn, version);
    let id = txn.transactional_id.0.to_string();
    let allowed = shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, &id);
    let mut results = checked(shard, session, txn.topics).await;
    if !allowed {
        fill(&mut results, |_| {
            E::TransactionalIdAuthorizationFailed.code()
        });
        return results;
    }
    if results
        .iter()
        .flat_map(|(_, p)| p)
        .any(|(_, code)| *code != 0)
    {
        let not_attempted = E::OperationNotAttempted.code();
        fill(
            &mut results,
            |code| if code == 0 { not_attempted } else { code },
        );
        return results;
    }
    let partitions = results
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |(p, _)| (t.0.to_string(), *p)))
        .collect();
    let (producer_id, producer_epoch) = (txn.producer_id.0, txn.producer_epoch);
    let call = match (txn.verify_only, version >= 4) {
        (true, _) => TxnCall::Verify {
            id,
            producer_id,
            producer_epoch,
            partitions,
        },
        // A broker adding for a Produce v12+ or TxnOffsetCommit v5+.
        (false, true) => TxnCall::AddImplicit {
            id,
            producer_id,
            producer_epoch,
            partitions,
        },
        (false, false) => TxnCall::AddPartitions {
            id,
            producer_id,
            producer_epoch,
            partitions,
            fenced,
        },
    };
    match txn_coordinator::call(shard, call).await {
        TxnAnswer::Code(code) => fill(&mut results, |_| code),
        TxnAnswer::Verified(Err(code)) => fill(&mut results, |_| code),
        TxnAnswer::Verified(Ok(codes)) => {
            for (topic, partitions) in &mut results {
                for (p, code) in partitions.iter_mut() {
                    *code = codes
                        .iter()
                        .find(|((t, i), _)| t == topic.0.as_str() && i == p)
                        .map_or(E::UnknownServerError.code(), |(_, c)| *c);
                }
            }
        }
        _ => fill(&mut results, |_| E::UnknownServerError.code()),
    }
    results
}

/// The request's partitions with 0, or the error this broker finds for
/// them (authorization, unknown topic or partition).
async fn checked(
    shard: &Rc<Shard>,
    session: &Session,
    topics: Vec<AddPartitionsToTxnTopic>,
) -> Results {
    let write = |name: &str| authorize::topic(shard, session, operation::WRITE, name);
    let mut out = Vec::with_capacity(topics.len());
    for topic in topics {
        let meta = authorize::topic_meta(shard, TopicRef::Name(&topic.name.0), &write, None).await;
        let partitions = topic
            .partitions
            .into_iter()
            .map(|p| {
                let code = match &meta {
                    Err(code) => *code,
                    Ok(m) if !(0..m.partitions).contains(&p) => E::UnknownTopicOrPartition.code(),
                    Ok(_) => 0,
                };
                (p, code)
            })
            .collect();
        out.push((topic.name, partitions));
    }
    out
}

fn fill(results: &mut Results, code: impl Fn(i16) -> i16) {
    for (_, partitions) in results.iter_mut() {
        for (_, c) in partitions.iter_mut() {
            *c = code(*c);
        }
    }
}

fn topic_results(results: Results) -> Vec<AddPartitionsToTxnTopicResult> {
    results
        .into_iter()
        .map(|(name, partitions)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(
                    partitions
                        .into_iter()
                        .map(|(index, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(index)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}
