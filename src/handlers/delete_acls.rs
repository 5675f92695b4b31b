//! DeleteAcls: remove from the metadata log every binding each filter
//! matches and report, per filter, the bindings it matched. Needs ALTER on
//! the cluster (every filter CLUSTER_AUTHORIZATION_FAILED), checked here
//! where the session is known.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::authorize;
use super::security_common::{mismatch, outcome, submit, wire, wire_opt};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::security_commands::SecurityCommand;
use crate::security::acl::operation;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    if !authorize::cluster(shard, session, operation::ALTER) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        let denied = DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message));
        return DeleteAclsResponse::default()
            .with_filter_results(vec![denied; request.filters.len()]);
    }
    let filters: Vec<AclFilter> = request
        .filters
        .into_iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.map(|s| s.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.map(|s| s.to_string()),
            host: f.host_filter.map(|s| s.to_string()),
            operation: f.operation,
            permission_type: f.permission_type,
        })
        .collect();
    let count = filters.len();
    let command = Command::Security(SecurityCommand::DeleteAcls(filters));
    let results = match submit(shard, command).await {
        Ok(Reply::AclsDeleted(results)) if results.len() == count => results,
        Ok(_) => vec![Err(mismatch()); count],
        Err(refusal) => vec![Err(outcome(refusal)); count],
    };
    let filter_results = results
        .into_iter()
        .map(|result| match result {
            Ok(matched) => DeleteAclsFilterResult::default()
                .with_matching_acls(matched.into_iter().map(matching).collect()),
            Err((code, message)) => DeleteAclsFilterResult::default()
                .with_error_code(code)
                .with_error_message(wire_opt(message)),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(filter_results)
}

fn matching(b: AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(b.resource_type)
        .with_resource_name(wire(b.resource_name))
        .with_pattern_type(b.pattern_type)
        .with_principal(wire(b.principal))
        .with_host(wire(b.host))
        .with_operation(b.operation)
        .with_permission_type(b.permission_type)
}
