//! CreateAcls: add each valid binding to the metadata log (see
//! `crate::security`); each creation gets its own result, INVALID_REQUEST
//! for a binding Kafka would refuse. Needs ALTER on the cluster (every
//! creation CLUSTER_AUTHORIZATION_FAILED), checked here where the session
//! is known.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::authorize;
use super::security_common::{mismatch, outcome, submit, wire_opt};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::security_commands::SecurityCommand;
use crate::security::acl::operation;
use crate::security::acl::AclBinding;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let count = request.creations.len();
    if !authorize::cluster(shard, session, operation::ALTER) {
        let denied = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return respond(vec![denied; count]);
    }
    let bindings: Vec<AclBinding> = request
        .creations
        .into_iter()
        .map(|c| AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission_type: c.permission_type,
        })
        .collect();
    let command = Command::Security(SecurityCommand::CreateAcls(bindings));
    respond(match submit(shard, command).await {
        Ok(Reply::AclsCreated(outcomes)) if outcomes.len() == count => outcomes,
        Ok(_) => vec![mismatch(); count],
        Err(refusal) => vec![outcome(refusal); count],
    })
}

fn respond(outcomes: Vec<(i16, Option<String>)>) -> CreateAclsResponse {
    let results = outcomes
        .into_iter()
        .map(|(code, message)| {
            AclCreationResult::default()
                .with_error_code(code)
                .with_error_message(wire_opt(message))
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
