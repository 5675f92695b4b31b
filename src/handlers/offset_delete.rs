//! OffsetDelete: removes committed offsets of partitions the group no longer
//! consumes (GROUP_SUBSCRIBED_TO_TOPIC for ones it still does). As in
//! Kafka, the group needs DELETE (GROUP_AUTHORIZATION_FAILED) and each topic
//! READ (TOPIC_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::authorize;
use super::group_common::{call, text};
use crate::group::types::{GroupCall, GroupReply};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = text(&request.group_id.0);
    if !authorize::group(shard, session, operation::DELETE, &group) {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let read = |topic: &str| authorize::topic(shard, session, operation::READ, topic);
    let readable: Vec<bool> = request.topics.iter().map(|t| read(&t.name)).collect();
    let parts: Vec<(String, i32)> = request
        .topics
        .iter()
        .zip(&readable)
        .filter(|(_, readable)| **readable)
        .flat_map(|(t, _)| {
            t.partitions
                .iter()
                .map(|p| (text(&t.name.0), p.partition_index))
        })
        .collect();
    let (top, codes) = match call(
        shard,
        &group,
        GroupCall::DeleteOffsets(group.clone(), parts),
    )
    .await
    {
        Ok(GroupReply::DeleteOffsets(top, codes)) => (top, codes),
        Ok(_) => (ResponseError::UnknownServerError.code(), Vec::new()),
        Err(code) => (code, Vec::new()),
    };
    if top != 0 {
        return OffsetDeleteResponse::default().with_error_code(top);
    }
    let mut codes = codes.into_iter();
    let denied = ResponseError::TopicAuthorizationFailed.code();
    let topics = request
        .topics
        .into_iter()
        .zip(readable)
        .map(|(t, readable)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = match readable {
                        true => codes.next().unwrap_or(0),
                        false => denied,
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
