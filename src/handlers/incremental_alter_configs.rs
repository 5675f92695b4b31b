//! IncrementalAlterConfigs: SET, DELETE (back to the default), and APPEND /
//! SUBTRACT for list configs (cleanup.policy), applied to a topic's current
//! overrides, or SET and DELETE on this broker's, the cluster-wide broker
//! defaults' or a group's dynamic configs (see `crate::config::dynamic`;
//! the controller applies them to the configs it has then). Nothing
//! changes unless every operation of a resource is valid. Each resource
//! needs ALTER_CONFIGS (see `authorize::config_resource`), checked here
//! where the session is known.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use super::topic_admin::{self, Outcome, BROKER, GROUP, TOPIC};
use crate::config::dynamic::ConfigEdit;
use crate::config::topic;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in request.resources {
        let name = resource.resource_name.as_str();
        let op = operation::ALTER_CONFIGS;
        let checked = authorize::config_resource(shard, session, op, resource.resource_type, name);
        let (code, message): Outcome = match resource.resource_type {
            _ if let Err(denied) = checked => denied,
            TOPIC => match topic_admin::current_overrides(shard, name)
                .and_then(|current| apply(shard, current, &resource.configs))
            {
                Ok(configs) => {
                    topic_admin::set_topic_configs(shard, name, configs, request.validate_only)
                        .await
                }
                Err(outcome) => outcome,
            },
            BROKER | GROUP => {
                alter_dynamic(
                    shard,
                    resource.resource_type,
                    name,
                    &resource.configs,
                    request.validate_only,
                )
                .await
            }
            other => topic_admin::unsupported_resource(other),
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone()),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// SET and DELETE on the dynamic configs of a broker or group; none of
/// those configs is a list, so APPEND and SUBTRACT are refused.
async fn alter_dynamic(
    shard: &Rc<Shard>,
    resource_type: i8,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Outcome {
    let target = match topic_admin::dynamic_target(shard, resource_type, name) {
        Ok(target) => target,
        Err(outcome) => return outcome,
    };
    let mut edits = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.name.to_string();
        match op.config_operation {
            SET => {
                let value = op.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                edits.push((key, Some(value)));
            }
            DELETE => edits.push((key, None)),
            _ => return invalid(format!("{key} is not a list config")),
        }
    }
    let edit = ConfigEdit::Incremental(edits);
    topic_admin::set_dynamic_configs(shard, target, edit, validate_only).await
}

fn invalid(message: String) -> Outcome {
    (ResponseError::InvalidConfig.code(), Some(message))
}

/// The overrides after applying `ops` to `current`.
fn apply(
    shard: &Shard,
    mut current: BTreeMap<String, String>,
    ops: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, Outcome> {
    for op in ops {
        let name = op.name.to_string();
        let value = op.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        match op.config_operation {
            SET => {
                current.insert(name, value);
            }
            DELETE => {
                current.remove(&name);
            }
            APPEND | SUBTRACT if topic::is_list(&name) => {
                let effective = current
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| default_of(shard, &name));
                let mut items: Vec<String> = effective
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if op.config_operation == APPEND && !items.iter().any(|i| i == v) {
                        items.push(v.to_string());
                    } else if op.config_operation == SUBTRACT {
                        items.retain(|i| i != v);
                    }
                }
                current.insert(name, items.join(","));
            }
            APPEND | SUBTRACT => return Err(invalid(format!("{name} is not a list config"))),
            other => {
                return Err(invalid(format!(
                    "unknown config operation {other} for {name}"
                )))
            }
        }
    }
    Ok(current)
}

fn default_of(shard: &Shard, name: &str) -> String {
    shard
        .config
        .topic_defaults()
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.value)
        .unwrap_or_default()
}
