//! OffsetCommit: stores a group's consumed positions at its coordinator,
//! answered once durable. v10 names topics by id. As in Kafka, the group
//! needs READ (else every partition is GROUP_AUTHORIZATION_FAILED) and each
//! topic READ (TOPIC_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use super::group_common::{call, opt_text, text, wire};
use super::{authorize, topics};
use crate::group::types::{CommitArgs, CommitPart, GroupCall, GroupReply};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = text(&request.group_id.0);
    let group_denied = !authorize::group(shard, session, operation::READ, &group);
    let mut parts = Vec::new();
    // Per topic: (name, id, per partition: index and a slot in `parts` or an error).
    let mut layout = Vec::new();
    for t in &request.topics {
        let name = if version >= 10 {
            topics::by_id(shard, t.topic_id).map(|m| m.name)
        } else {
            Some(text(&t.name.0))
        };
        let topic_denied = match &name {
            Some(name) if !group_denied => !authorize::topic(shard, session, operation::READ, name),
            _ => false,
        };
        let mut slots = Vec::new();
        for p in &t.partitions {
            let slot = match &name {
                _ if group_denied => Err(E::GroupAuthorizationFailed.code()),
                None => Err(E::UnknownTopicId.code()),
                Some(_) if topic_denied => Err(E::TopicAuthorizationFailed.code()),
                Some(name) => {
                    parts.push(CommitPart {
                        topic: name.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
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
        layout.push((t.name.clone(), t.topic_id, slots));
    }
    let args = CommitArgs {
        generation: request.generation_id_or_member_epoch,
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
        parts,
    };
    let count = args.parts.len();
    // As in Kafka, nothing left to commit (all denied or unknown) does not
    // reach the coordinator.
    let codes = match count {
        0 => Vec::new(),
        _ => match call(shard, &group, GroupCall::Commit(group.clone(), args)).await {
            Ok(GroupReply::Commit(codes)) => codes,
            Ok(_) => vec![E::UnknownServerError.code(); count],
            Err(code) => vec![code; count],
        },
    };
    let topics_out = layout
        .into_iter()
        .map(|(name, id, slots)| {
            let partitions = slots
                .into_iter()
                .map(|(index, slot)| {
                    let code = slot.map_or_else(|e| e, |i| codes.get(i).copied().unwrap_or(0));
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            let topic = OffsetCommitResponseTopic::default().with_partitions(partitions);
            if version >= 10 {
                topic.with_topic_id(id)
            } else {
                topic.with_name(TopicName(wire(name.0.to_string())))
            }
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics_out)
}
