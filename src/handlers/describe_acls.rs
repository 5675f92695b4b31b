//! DescribeAcls: the bindings a filter matches, from this shard's metadata
//! image (no round trip to the controller), grouped by resource pattern as
//! Kafka answers. A filter with codes Kafka does not know gets
//! INVALID_REQUEST. Needs DESCRIBE on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::authorize;
use super::security_common::{wire, wire_opt};
use crate::security::acl::operation;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if !authorize::cluster(shard, session, operation::DESCRIBE) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message));
    }
    let filter = AclFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.map(|s| s.to_string()),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.map(|s| s.to_string()),
        host: request.host_filter.map(|s| s.to_string()),
        operation: request.operation,
        permission_type: request.permission_type,
    };
    let found = shard.image.borrow().security.describe_acls(&filter);
    match found {
        Ok(bindings) => DescribeAclsResponse::default().with_resources(group(bindings)),
        Err((code, message)) => DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message)),
    }
}

/// One resource per distinct pattern. The image answers in sorted order,
/// so a pattern's bindings are adjacent.
fn group(bindings: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<(AclBinding, Vec<AclDescription>)> = Vec::new();
    for b in bindings {
        let description = AclDescription::default()
            .with_principal(wire(b.principal.clone()))
            .with_host(wire(b.host.clone()))
            .with_operation(b.operation)
            .with_permission_type(b.permission_type);
        match resources.last_mut() {
            Some((first, acls)) if same_pattern(first, &b) => acls.push(description),
            _ => resources.push((b, vec![description])),
        }
    }
    resources
        .into_iter()
        .map(|(b, acls)| {
            DescribeAclsResource::default()
                .with_resource_type(b.resource_type)
                .with_resource_name(wire(b.resource_name))
                .with_pattern_type(b.pattern_type)
                .with_acls(acls)
        })
        .collect()
}

fn same_pattern(a: &AclBinding, b: &AclBinding) -> bool {
    (a.resource_type, &a.resource_name, a.pattern_type)
        == (b.resource_type, &b.resource_name, b.pattern_type)
}
