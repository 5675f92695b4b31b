//! DescribeUserScramCredentials: each user's mechanisms and iteration
//! counts (never salts or keys), from this shard's metadata image;
//! RESOURCE_NOT_FOUND for a user without credentials, every user with
//! credentials when none are named. Needs DESCRIBE on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED for the whole request, as in Kafka).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::authorize;
use super::security_common::{wire, wire_opt};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !authorize::cluster(shard, session, operation::DESCRIBE) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message));
    }
    let users = request
        .users
        .map(|users| users.into_iter().map(|u| u.name.to_string()).collect());
    let described = shard.image.borrow().security.describe_scram(users);
    let results = described
        .into_iter()
        .map(|u| {
            let infos = u
                .credentials
                .into_iter()
                .map(|(mechanism, iterations)| {
                    CredentialInfo::default()
                        .with_mechanism(mechanism)
                        .with_iterations(iterations)
                })
                .collect();
            DescribeUserScramCredentialsResult::default()
                .with_user(wire(u.user))
                .with_error_code(u.error_code)
                .with_error_message(wire_opt(u.error_message))
                .with_credential_infos(infos)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
