//! ListGroups: every shard's groups, filtered by state (v4+) and type (v5+).
//! As in Kafka, DESCRIBE on the cluster lists them all; otherwise only the
//! groups the session may DESCRIBE.

use std::rc::Rc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use super::group_common::{group_id, wire};
use crate::group::route;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.as_str().to_lowercase())
        .collect();
    // Every group here runs the classic protocol.
    let types_ok = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case("classic"));
    let describe_all = authorize::cluster(shard, session, operation::DESCRIBE);
    let visible =
        |id: &str| describe_all || authorize::group(shard, session, operation::DESCRIBE, id);
    let groups = route::list_all(shard)
        .await
        .into_iter()
        .filter(|g| types_ok && (states.is_empty() || states.contains(&g.state.to_lowercase())))
        .filter(|g| visible(&g.group_id))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(group_id(g.group_id))
                .with_protocol_type(wire(g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(StrBytes::from_static_str(g.state));
            }
            if version >= 5 {
                listed = listed.with_group_type(StrBytes::from_static_str("classic"));
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
