//! OffsetFetch: a group's committed offsets (v0–7: one group; v8+: several;
//! v10 names topics by id). A partition without a commit answers -1.
//!
//! As in Kafka, a group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED) and a
//! topic DESCRIBE: named partitions of a denied topic answer
//! TOPIC_AUTHORIZATION_FAILED, and a fetch of all partitions leaves them out.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::group_common::{call, group_id, text, wire};
use super::{authorize, topics};
use crate::group::types::{FetchedOffset, GroupCall, GroupReply};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    // v7+: a read_committed consumer asks not to be given an offset a
    // transaction is about to replace.
    let stable = version >= 7 && request.require_stable;
    if version < 8 {
        let parts = request.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| t.partition_indexes.iter().map(|p| (text(&t.name.0), *p)))
                .collect()
        });
        // v0–1 have no group error: it goes on every partition asked for.
        let asked = match version < 2 {
            true => parts.clone().unwrap_or_default(),
            false => Vec::new(),
        };
        let group = text(&request.group_id.0);
        let (error, mut offsets) = fetch(shard, session, &group, parts, stable).await;
        if error != 0 && offsets.is_empty() {
            offsets = asked.into_iter().map(|p| failed(p, error)).collect();
        }
        let mut by_topic: Vec<OffsetFetchResponseTopic> = Vec::new();
        for o in offsets {
            let p = OffsetFetchResponsePartition::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(if version >= 5 { o.leader_epoch } else { -1 })
                .with_metadata(Some(StrBytes::from_string(o.metadata)))
                .with_error_code(if version < 2 && error != 0 {
                    error
                } else {
                    o.error
                });
            match by_topic.iter_mut().find(|t| t.name.0.as_str() == o.topic) {
                Some(t) => t.partitions.push(p),
                None => by_topic.push(
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(wire(o.topic)))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let response = OffsetFetchResponse::default().with_topics(by_topic);
        return if version >= 2 {
            response.with_error_code(error)
        } else {
            response
        };
    }
    let mut groups = Vec::new();
    for g in &request.groups {
        let parts = g.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    let name = if version >= 10 {
                        topics::by_id(shard, t.topic_id)
                            .map(|m| m.name)
                            .unwrap_or_default()
                    } else {
                        text(&t.name.0)
                    };
                    t.partition_indexes.iter().map(move |p| (name.clone(), *p))
                })
                .collect()
        });
        let (error, offsets) = fetch(shard, session, &text(&g.group_id.0), parts, stable).await;
        let mut by_topic: Vec<OffsetFetchResponseTopics> = Vec::new();
        for o in offsets {
            let p = OffsetFetchResponsePartitions::default()
                .with_partition_index(o.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch)
                .with_metadata(Some(StrBytes::from_string(o.metadata)))
                .with_error_code(o.error);
            let topic_id = if version >= 10 {
                shard.topics.borrow().get(&o.topic).map(|m| m.id)
            } else {
                None
            };
            let existing = by_topic.iter_mut().find(|t| match topic_id {
                Some(id) => t.topic_id == id,
                None => t.name.0.as_str() == o.topic,
            });
            match existing {
                Some(t) => t.partitions.push(p),
                None => {
                    let t = OffsetFetchResponseTopics::default().with_partitions(vec![p]);
                    by_topic.push(match topic_id {
                        Some(id) => t.with_topic_id(id),
                        None if version >= 10 => t,
                        None => t.with_name(TopicName(wire(o.topic))),
                    });
                }
            }
        }
        groups.push(
            OffsetFetchResponseGroup::default()
                .with_group_id(group_id(text(&g.group_id.0)))
                .with_topics(by_topic)
                .with_error_code(error),
        );
    }
    OffsetFetchResponse::default().with_groups(groups)
}

/// A group's committed offsets, authorized as Kafka does.
async fn fetch(
    shard: &Rc<Shard>,
    session: &Session,
    group: &str,
    parts: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> (i16, Vec<FetchedOffset>) {
    if !authorize::group(shard, session, operation::DESCRIBE, group) {
        return (E::GroupAuthorizationFailed.code(), Vec::new());
    }
    let describable = |topic: &str| authorize::topic(shard, session, operation::DESCRIBE, topic);
    let Some(parts) = parts else {
        let (error, offsets) = coordinator_offsets(shard, group, None, require_stable).await;
        let (visible, _) = authorize::split_by_topic(offsets, |o| &o.topic, describable);
        return (error, visible);
    };
    let (allowed, denied) = authorize::split_by_topic(parts, |p| &p.0, describable);
    let (error, mut offsets) =
        coordinator_offsets(shard, group, Some(allowed), require_stable).await;
    if error == 0 {
        let code = E::TopicAuthorizationFailed.code();
        offsets.extend(denied.into_iter().map(|p| failed(p, code)));
    }
    (error, offsets)
}

/// A partition answered with an error alone.
fn failed((topic, partition): (String, i32), error: i16) -> FetchedOffset {
    FetchedOffset {
        topic,
        partition,
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
        error,
    }
}

async fn coordinator_offsets(
    shard: &Rc<Shard>,
    group: &str,
    parts: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> (i16, Vec<FetchedOffset>) {
    match call(
        shard,
        group,
        GroupCall::FetchOffsets(group.to_string(), parts, require_stable),
    )
    .await
    {
        Ok(GroupReply::Offsets(error, offsets)) => (error, offsets),
        Ok(_) => (E::UnknownServerError.code(), Vec::new()),
        Err(code) => (code, Vec::new()),
    }
}
