//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use std::rc::Rc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::group_common::{call, opt_text, text};
use crate::group::types::{GroupCall, GroupReply, MemberRef};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    _session: &Session,
    _version: i16,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let group = text(&request.group_id.0);
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
        Ok(_) => kafka_protocol::error::ResponseError::UnknownServerError.code(),
        Err(code) => code,
    };
    HeartbeatResponse::default().with_error_code(code)
}
