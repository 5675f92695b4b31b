//! TxnOffsetCommit: a group's offsets committed inside a producer's
//! transaction (send_offsets_to_transaction), written by the group's
//! coordinator as records of that transaction and counted only once the
//! transaction's commit marker reaches the group's partition. As Kafka:
//! WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
//! READ on the group (GROUP_AUTHORIZATION_FAILED) and on each topic
//! (TOPIC_AUTHORIZATION_FAILED); v3+ carries the member and generation,
//! checked like an OffsetCommit's. The transaction coordinator confirms the
//! group's partition is in the transaction (v5+: adds it), KIP-890.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::authorize;
use super::group_common::{call, opt_text, text};
use super::txn_verify::{coordinator_check, Check};
use crate::group::types::{CommitArgs, CommitPart, GroupCall, GroupReply};
use crate::group::OFFSETS_TOPIC;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let id = request.transactional_id.0.to_string();
    let group = text(&request.group_id.0);
    let refused = if !shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, &id) {
        Some(E::TransactionalIdAuthorizationFailed.code())
    } else if !authorize::group(shard, session, operation::READ, &group) {
        Some(E::GroupAuthorizationFailed.code())
    } else {
        let producer = (request.producer_id.0, request.producer_epoch);
        in_transaction(shard, &id, &group, producer, version).await
    };
    let mut parts = Vec::new();
    let mut layout = Vec::new();
    for t in &request.topics {
        let topic = text(&t.name.0);
        let denied = !authorize::topic(shard, session, operation::READ, &topic);
        let mut slots = Vec::new();
        for p in &t.partitions {
            let slot = match refused {
                Some(code) => Err(code),
                None if denied => Err(E::TopicAuthorizationFailed.code()),
                None => {
                    parts.push(CommitPart {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if version >= 2 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: opt_text(&p.committed_metadata),
                    });
                    Ok(parts.len() - 1)
                }
            };
            slots.push((p.partition_index, slot));
        }
        layout.push((t.name.clone(), slots));
    }
    let count = parts.len();
    let args = CommitArgs {
        // Before v3 there is no member: Kafka does not check one.
        generation: if version >= 3 {
            request.generation_id
        } else {
            -1
        },
        member_id: if version >= 3 {
            text(&request.member_id)
        } else {
            String::new()
        },
        instance_id: if version >= 3 {
            opt_text(&request.group_instance_id)
        } else {
            None
        },
        parts,
    };
    let codes = match count {
        0 => Vec::new(),
        _ => {
            let txn_commit = GroupCall::TxnCommit {
                group: group.clone(),
                producer_id: request.producer_id.0,
                producer_epoch: request.producer_epoch,
                args,
            };
            match call(shard, &group, txn_commit).await {
                Ok(GroupReply::Commit(codes)) => codes,
                Ok(_) => vec![E::UnknownServerError.code(); count],
                Err(code) => vec![code; count],
            }
        }
    };
    let topics = layout
        .into_iter()
        .map(|(name, slots)| {
            let partitions = slots
                .into_iter()
                .map(|(index, slot)| {
                    let code =
                        slot.map_or_else(|code| code, |i| codes.get(i).copied().unwrap_or(0));
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// KIP-890 for offsets: the group's `__consumer_offsets` partition must be
/// in the producer's transaction (AddOffsetsToTxn), or, from v5
/// (transaction version 2), is added now. None when it is; else the code
/// every partition gets, as Kafka's group coordinator maps the transaction
/// coordinator's: a moving coordinator or a transaction still completing
/// is retriable.
async fn in_transaction(
    shard: &Rc<Shard>,
    id: &str,
    group: &str,
    producer: (i64, i16),
    version: i16,
) -> Option<i16> {
    let check = match version {
        5.. => Check::Add,
        4 => Check::Verify,
        _ => Check::VerifyOld,
    };
    let count = shard.config.group.offsets_topic_partitions;
    let partition = (
        OFFSETS_TOPIC.to_string(),
        crate::group::route::partition_for(group, count),
    );
    let refused = coordinator_check(shard, id, producer, vec![partition], check).await;
    let code = refused.into_values().next()?;
    Some(if crate::txn::is_transient(code) {
        E::CoordinatorLoadInProgress.code()
    } else if code == E::TransactionAbortable.code() && check == Check::VerifyOld {
        E::InvalidTxnState.code()
    } else {
        code
    })
}
