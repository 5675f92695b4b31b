//! OffsetDelete: removes committed offsets of partitions the group no longer
//! consumes (GROUP_SUBSCRIBED_TO_TOPIC for ones it still does).

use std::rc::Rc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::group_common::{call, text};
use crate::group::types::{GroupCall, GroupReply};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    _session: &Session,
    _version: i16,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = text(&request.group_id.0);
    let parts: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
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
        Ok(_) => (
            kafka_protocol::error::ResponseError::UnknownServerError.code(),
            Vec::new(),
        ),
        Err(code) => (code, Vec::new()),
    };
    if top != 0 {
        return OffsetDeleteResponse::default().with_error_code(top);
    }
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.next().unwrap_or(0))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
