//! DescribeGroups: state, protocol and members (with their metadata and, when
//! Stable, assignments) of each named group. An unknown group is "Dead".
//! A group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED, as in Kafka); its
//! authorized operations, when asked for, are the session's.

use std::rc::Rc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use super::group_common::{call, group_id, text, wire};
use crate::group::types::{GroupCall, GroupReply};
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut groups = Vec::new();
    for id in &request.groups {
        let id = text(&id.0);
        if !authorize::group(shard, session, operation::DESCRIBE, &id) {
            let code = kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code();
            groups.push(
                DescribedGroup::default()
                    .with_group_id(group_id(id))
                    .with_error_code(code),
            );
            continue;
        }
        let described = match call(shard, &id, GroupCall::Describe(id.clone())).await {
            Ok(GroupReply::Describe(d)) => {
                let members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let member = DescribedGroupMember::default()
                            .with_member_id(wire(m.member_id))
                            .with_client_id(wire(m.client_id))
                            .with_client_host(wire(m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment);
                        if version >= 4 {
                            member.with_group_instance_id(m.instance_id.map(wire))
                        } else {
                            member
                        }
                    })
                    .collect();
                DescribedGroup::default()
                    .with_error_code(d.error)
                    .with_group_state(StrBytes::from_static_str(d.state))
                    .with_protocol_type(wire(d.protocol_type))
                    .with_protocol_data(wire(d.protocol))
                    .with_members(members)
            }
            Ok(_) => DescribedGroup::default()
                .with_error_code(kafka_protocol::error::ResponseError::UnknownServerError.code()),
            Err(code) => DescribedGroup::default().with_error_code(code),
        };
        let described = if request.include_authorized_operations && described.error_code == 0 {
            let ops = shard.authorized_operations(session, resource::GROUP, &id);
            described.with_authorized_operations(ops)
        } else {
            described
        };
        groups.push(described.with_group_id(group_id(id)));
    }
    DescribeGroupsResponse::default().with_groups(groups)
}
