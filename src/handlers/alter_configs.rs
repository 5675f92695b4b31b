//! AlterConfigs (the legacy API): a topic's overrides, or this broker's or
//! the cluster-wide broker defaults' dynamic configs (see
//! `crate::config::dynamic`), become exactly the configs given; every other
//! config returns to its default. Each resource needs ALTER_CONFIGS (see
//! `authorize::config_resource`), checked here where the session is known.

use std::rc::Rc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use super::topic_admin::{self, Outcome, BROKER, TOPIC};
use crate::config::dynamic::ConfigEdit;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;
use std::collections::BTreeMap;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in request.resources {
        let configs: BTreeMap<String, String> = resource
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                )
            })
            .collect();
        let name = resource.resource_name.as_str();
        let op = operation::ALTER_CONFIGS;
        let checked = authorize::config_resource(shard, session, op, resource.resource_type, name);
        let (code, message): Outcome = match resource.resource_type {
            _ if let Err(denied) = checked => denied,
            TOPIC => {
                topic_admin::set_topic_configs(shard, name, configs, request.validate_only).await
            }
            BROKER => match topic_admin::dynamic_target(shard, BROKER, name) {
                Ok(target) => {
                    let edit = ConfigEdit::Replace(configs);
                    topic_admin::set_dynamic_configs(shard, target, edit, request.validate_only)
                        .await
                }
                Err(outcome) => outcome,
            },
            // Kafka takes group configs through IncrementalAlterConfigs only.
            other => topic_admin::unsupported_resource(other),
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}
