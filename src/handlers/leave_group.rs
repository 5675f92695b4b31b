//! LeaveGroup: one member (v0–2) or a batch by member or instance id (v3+).
//! The group needs READ (GROUP_AUTHORIZATION_FAILED, for the whole request).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::authorize;
use super::group_common::{call, opt_text, text, wire};
use crate::group::types::{GroupCall, GroupReply, MemberRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group = text(&request.group_id.0);
    if !authorize::group(shard, session, operation::READ, &group) {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let who: Vec<MemberRef> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| MemberRef {
                member_id: text(&m.member_id),
                instance_id: opt_text(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![MemberRef {
            member_id: text(&request.member_id),
            instance_id: None,
        }]
    };
    let (top, codes) = match call(shard, &group, GroupCall::Leave(group.clone(), who.clone())).await
    {
        Ok(GroupReply::Leave(top, codes)) => (top, codes),
        Ok(_) => (ResponseError::UnknownServerError.code(), Vec::new()),
        Err(code) => (code, Vec::new()),
    };
    if version < 3 {
        let code = if top != 0 {
            top
        } else {
            codes.first().copied().unwrap_or(0)
        };
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = who
        .into_iter()
        .zip(codes.into_iter().chain(std::iter::repeat(top)))
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(wire(m.member_id))
                .with_group_instance_id(m.instance_id.map(wire))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(top)
        .with_members(members)
}
