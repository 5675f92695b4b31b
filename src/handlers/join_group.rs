//! JoinGroup: forwards the member's protocols to the group's coordinator and
//! waits there until the rebalance's join phase ends. The group needs READ
//! (GROUP_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::authorize;
use super::group_common::{call, opt_text, text, wire};
use crate::group::types::{GroupCall, GroupReply, JoinArgs, JoinResult};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: JoinGroupRequest,
    client_id: String,
    client_host: String,
) -> JoinGroupResponse {
    let group = text(&request.group_id.0);
    if !authorize::group(shard, session, operation::READ, &group) {
        let denied = JoinResult {
            error: ResponseError::GroupAuthorizationFailed.code(),
            generation: -1,
            ..Default::default()
        };
        return encode(version, denied);
    }
    let args = JoinArgs {
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
        protocol_type: text(&request.protocol_type),
        protocols: request
            .protocols
            .iter()
            .map(|p| (text(&p.name), p.metadata.clone()))
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        client_id,
        client_host,
        require_known_member: version >= 4,
        can_skip_assignment: version >= 9,
    };
    let member_id = args.member_id.clone();
    let result = match call(shard, &group, GroupCall::Join(group.clone(), args)).await {
        Ok(GroupReply::Join(r)) => r,
        Ok(_) => JoinResult {
            error: ResponseError::UnknownServerError.code(),
            ..Default::default()
        },
        Err(code) => JoinResult {
            error: code,
            generation: -1,
            member_id,
            ..Default::default()
        },
    };
    encode(version, result)
}

fn encode(version: i16, r: JoinResult) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(wire(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(m.instance_id.map(wire))
            } else {
                member
            }
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_leader(wire(r.leader))
        .with_member_id(wire(r.member_id))
        .with_members(members);
    // v0–6 have a non-nullable protocol name; v7+ may say null.
    response = if version >= 7 {
        response
            .with_protocol_type(r.protocol_type.map(wire))
            .with_protocol_name(r.protocol_name.map(wire))
    } else {
        response.with_protocol_name(Some(wire(r.protocol_name.unwrap_or_default())))
    };
    if version >= 9 {
        response = response.with_skip_assignment(r.skip_assignment);
    }
    response
}
