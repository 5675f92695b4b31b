//! DeleteGroups: removes Empty groups and their committed offsets
//! (tombstones in `__consumer_offsets`).

use std::rc::Rc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::group_common::{call, group_id, text};
use crate::group::types::{GroupCall, GroupReply};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    _session: &Session,
    _version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for id in &request.groups_names {
        let id = text(&id.0);
        let code = match call(shard, &id, GroupCall::Delete(id.clone())).await {
            Ok(GroupReply::Code(code)) => code,
            Ok(_) => kafka_protocol::error::ResponseError::UnknownServerError.code(),
            Err(code) => code,
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id(id))
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
