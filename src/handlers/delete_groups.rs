//! DeleteGroups: removes Empty groups and their committed offsets
//! (tombstones in `__consumer_offsets`). A group needs DELETE
//! (GROUP_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::authorize;
use super::group_common::{call, group_id, text};
use crate::group::types::{GroupCall, GroupReply};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for id in &request.groups_names {
        let id = text(&id.0);
        let code = if !authorize::group(shard, session, operation::DELETE, &id) {
            ResponseError::GroupAuthorizationFailed.code()
        } else {
            match call(shard, &id, GroupCall::Delete(id.clone())).await {
                Ok(GroupReply::Code(code)) => code,
                Ok(_) => ResponseError::UnknownServerError.code(),
                Err(code) => code,
            }
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id(id))
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
