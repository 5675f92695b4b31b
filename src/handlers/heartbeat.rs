//! Heartbeat: keeps a member's session alive and tells it when to rejoin.
//! The group needs READ (GROUP_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::authorize;
use super::group_common::{call, opt_text, text};
use crate::group::types::{GroupCall, GroupReply, MemberRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let group = text(&request.group_id.0);
    if !authorize::group(shard, session, operation::READ, &group) {
        return HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let who = MemberRef {
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
    };
    let code = match call(
        shard,
        &group,
        GroupCall::Heartbeat(group.clone(), request.generation_id, who),
    )
    .await
    {
        Ok(GroupReply::Code(code)) => code,
        Ok(_) => ResponseError::UnknownServerError.code(),
        Err(code) => code,
    };
    HeartbeatResponse::default().with_error_code(code)
}
