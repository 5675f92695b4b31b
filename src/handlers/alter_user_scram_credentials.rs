//! AlterUserScramCredentials: delete and upsert SCRAM credentials; one
//! result per user, with Kafka's errors (DUPLICATE_RESOURCE for a user
//! altered twice, RESOURCE_NOT_FOUND for deleting a missing credential,
//! UNACCEPTABLE_CREDENTIAL for iterations out of 4096..=16384,
//! UNSUPPORTED_SASL_MECHANISM for an unknown mechanism). The keys are
//! derived here, on the broker that received the request; only the
//! derived credentials go to the controller and into the metadata log.
//! Needs ALTER on the cluster (every user CLUSTER_AUTHORIZATION_FAILED),
//! checked here where the session is known.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::authorize;
use super::security_common::{mismatch, outcome, submit, wire, wire_opt};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::security_commands::SecurityCommand;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::security::{DerivedUpsertion, ScramUpsertion};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Each distinct user once, in request order: the shape of the reply.
    let mut seen = std::collections::HashSet::new();
    let users: Vec<String> = request
        .deletions
        .iter()
        .map(|d| d.name.as_str())
        .chain(request.upsertions.iter().map(|u| u.name.as_str()))
        .filter(|u| seen.insert(*u))
        .map(str::to_string)
        .collect();
    if !authorize::cluster(shard, session, operation::ALTER) {
        let denied = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return respond(users.into_iter().map(|u| (u, denied.clone())).collect());
    }
    let deletions: Vec<(String, i8)> = request
        .deletions
        .into_iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .collect();
    let upsertions: Vec<DerivedUpsertion> = request
        .upsertions
        .into_iter()
        .map(|u| {
            ScramUpsertion {
                user: u.name.to_string(),
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt,
                salted_password: u.salted_password,
            }
            .derive()
        })
        .collect();
    let command = Command::Security(SecurityCommand::AlterScram {
        deletions,
        upsertions,
    });
    let altered = match submit(shard, command).await {
        Ok(Reply::ScramAltered(altered)) => altered,
        Ok(_) => users.into_iter().map(|u| (u, mismatch())).collect(),
        Err(refusal) => {
            let outcome = outcome(refusal);
            users.into_iter().map(|u| (u, outcome.clone())).collect()
        }
    };
    respond(altered)
}

fn respond(altered: Vec<(String, (i16, Option<String>))>) -> AlterUserScramCredentialsResponse {
    let results = altered
        .into_iter()
        .map(|(user, (code, message))| {
            AlterUserScramCredentialsResult::default()
                .with_user(wire(user))
                .with_error_code(code)
                .with_error_message(wire_opt(message))
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
