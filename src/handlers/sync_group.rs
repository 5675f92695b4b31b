//! SyncGroup: the leader hands in the assignment; every member waits for its
//! share at the coordinator. The group needs READ (GROUP_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::authorize;
use super::group_common::{call, opt_text, text, wire};
use crate::group::types::{GroupCall, GroupReply, SyncArgs, SyncResult};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let group = text(&request.group_id.0);
    if !authorize::group(shard, session, operation::READ, &group) {
        return SyncGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let args = SyncArgs {
        generation: request.generation_id,
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
        protocol_type: opt_text(&request.protocol_type),
        protocol_name: opt_text(&request.protocol_name),
        assignments: request
            .assignments
            .iter()
            .map(|a| (text(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let result = match call(shard, &group, GroupCall::Sync(group.clone(), args)).await {
        Ok(GroupReply::Sync(r)) => r,
        Ok(_) => SyncResult {
            error: ResponseError::UnknownServerError.code(),
            ..Default::default()
        },
        Err(code) => SyncResult {
            error: code,
            ..Default::default()
        },
    };
    let response = SyncGroupResponse::default()
        .with_error_code(result.error)
        .with_assignment(result.assignment);
    if version >= 5 {
        response
            .with_protocol_type(result.protocol_type.map(wire))
            .with_protocol_name(result.protocol_name.map(wire))
    } else {
        response
    }
}
