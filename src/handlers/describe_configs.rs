//! DescribeConfigs for the broker (resource type 4), topics (2) and groups
//! (32).
//!
//! A broker lists every setting fjord accepts (see `crate::config::describe`):
//! the static ones read-only, the run-time ones Kafka lets AlterConfigs
//! change writable, their value this broker's own, else the cluster-wide
//! default (the BROKER resource named ""), else Kafka's. A topic config is
//! its override (source DYNAMIC_TOPIC_CONFIG) or the broker's value;
//! synonyms list both, so tools like kafka-configs show where a value comes
//! from. A group's configs are its own or the broker's defaults (see
//! `crate::config::dynamic`). Run-time configs come from this shard's
//! metadata image. Every
//! entry carries its type (v3+) and, when asked, its documentation.
//! `configuration_keys` narrows the answer to the names given; unknown names
//! are left out, as Kafka does.
//!
//! Each resource needs DESCRIBE_CONFIGS (see `authorize::config_resource`):
//! a denied one answers its type's authorization error and no configs.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, topic_admin};
use crate::config::describe::{BrokerEntry, ConfigSource, Synonym};
use crate::config::dynamic::{Configs, Target, GROUP_CONFIGS};
use crate::config::ConfigType;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;

/// What the request asks to include with each entry.
#[derive(Clone, Copy)]
struct Include {
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let include = Include {
        synonyms: request.include_synonyms,
        documentation: request.include_documentation,
    };
    let mut results = Vec::new();
    for resource in request.resources {
        let (kind, name) = (resource.resource_type, resource.resource_name.as_str());
        let op = operation::DESCRIBE_CONFIGS;
        if let Err((code, message)) = authorize::config_resource(shard, session, op, kind, name) {
            results.push(
                DescribeConfigsResult::default()
                    .with_resource_type(kind)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string)),
            );
            continue;
        }
        let dynamic = dynamic_configs(shard, &resource);
        results.push(describe(shard, resource, dynamic, include));
    }
    DescribeConfigsResponse::default().with_results(results)
}

/// The run-time configs of a broker or group resource, as (its own, the
/// cluster-wide broker defaults beneath them).
fn dynamic_configs(
    shard: &Shard,
    resource: &DescribeConfigsResource,
) -> Result<(Configs, Configs), topic_admin::Outcome> {
    match resource.resource_type {
        BROKER => {
            let name = resource.resource_name.as_str();
            let target = topic_admin::dynamic_target(shard, BROKER, name)?;
            let defaults = topic_admin::dynamic_configs(shard, &Target::ClusterDefault);
            let own = match target {
                Target::Broker(_) => topic_admin::dynamic_configs(shard, &target),
                _ => Configs::new(),
            };
            Ok((own, defaults))
        }
        GROUP => {
            let name = resource.resource_name.as_str();
            let target = topic_admin::dynamic_target(shard, GROUP, name)?;
            Ok((topic_admin::dynamic_configs(shard, &target), Configs::new()))
        }
        _ => Ok(Default::default()),
    }
}

fn describe(
    shard: &Shard,
    resource: DescribeConfigsResource,
    dynamic: Result<(Configs, Configs), topic_admin::Outcome>,
    include: Include,
) -> DescribeConfigsResult {
    let keys: Option<Vec<String>> = resource
        .configuration_keys
        .as_ref()
        .map(|k| k.iter().map(|s| s.to_string()).collect());
    let wanted = |name: &str| keys.as_ref().is_none_or(|k| k.iter().any(|n| n == name));
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    // An error finding the broker or group's dynamic configs is the answer.
    let dynamic = match dynamic {
        Ok(dynamic) => dynamic,
        Err((code, message)) => {
            return result
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
        }
    };
    match resource.resource_type {
        BROKER => result.with_configs(broker_configs(shard, &dynamic, &wanted, include)),
        GROUP => result.with_configs(group_configs(&dynamic.0, &wanted, include)),
        TOPIC => {
            let overrides = match shard.topics.borrow().get(resource.resource_name.as_str()) {
                Some(meta) => meta.configs.clone(),
                None => {
                    return result.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                }
            };
            result.with_configs(topic_configs(shard, &overrides, &wanted, include))
        }
        _ => result
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(StrBytes::from_static_str("unsupported resource type"))),
    }
}

/// Every broker setting, with the stored run-time ones (own, defaults).
fn broker_configs(
    shard: &Shard,
    (own, defaults): &(Configs, Configs),
    wanted: &dyn Fn(&str) -> bool,
    include: Include,
) -> Vec<DescribeConfigsResourceResult> {
    let advertised = (shard.identity.host.as_str(), shard.identity.port);
    shard
        .config
        .describe(own, defaults, advertised)
        .into_iter()
        .filter(|e| wanted(e.name))
        .map(|e| broker_entry(e, include))
        .collect()
}

fn broker_entry(e: BrokerEntry, include: Include) -> DescribeConfigsResourceResult {
    let synonyms = match include.synonyms {
        true => e.synonyms.into_iter().map(synonym).collect(),
        false => Vec::new(),
    };
    entry(e.name, e.value, e.source, e.kind, e.doc, include)
        .with_read_only(e.read_only)
        .with_synonyms(synonyms)
}

/// Every group config: the group's own value or the broker default.
fn group_configs(
    dynamic: &BTreeMap<String, String>,
    wanted: &dyn Fn(&str) -> bool,
    include: Include,
) -> Vec<DescribeConfigsResourceResult> {
    GROUP_CONFIGS
        .iter()
        .filter(|c| wanted(c.name))
        .map(|c| {
            let (value, source) = match dynamic.get(c.name) {
                Some(v) => (v.clone(), ConfigSource::Group),
                None => (c.default.to_string(), ConfigSource::Default),
            };
            entry(c.name, Some(value), source, ConfigType::Int, c.doc, include)
        })
        .collect()
}

/// Every topic config: the topic's override, else the broker's value.
fn topic_configs(
    shard: &Shard,
    overrides: &BTreeMap<String, String>,
    wanted: &dyn Fn(&str) -> bool,
    include: Include,
) -> Vec<DescribeConfigsResourceResult> {
    shard
        .config
        .topic_defaults()
        .into_iter()
        .filter(|d| wanted(d.name))
        .map(|d| {
            // Kafka's synonyms: the override, then the broker setting's.
            let mut synonyms = shard.config.synonyms(d.synonym);
            let value = match overrides.get(d.name) {
                Some(value) => {
                    synonyms.insert(
                        0,
                        Synonym {
                            name: d.name,
                            value: Some(value.clone()),
                            source: ConfigSource::DynamicTopic,
                        },
                    );
                    value.clone()
                }
                None => d.value,
            };
            let source = synonyms.first().map_or(ConfigSource::Default, |s| s.source);
            if !include.synonyms {
                synonyms.clear();
            }
            entry(d.name, Some(value), source, d.kind, d.doc, include)
                .with_synonyms(synonyms.into_iter().map(synonym).collect())
        })
        .collect()
}

/// The fields every entry has; a sensitive one's value is withheld.
fn entry(
    name: &'static str,
    value: Option<String>,
    source: ConfigSource,
    kind: ConfigType,
    doc: &'static str,
    include: Include,
) -> DescribeConfigsResourceResult {
    let value = value.filter(|_| !kind.is_sensitive());
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(value.map(StrBytes::from_string))
        .with_config_source(source.code())
        .with_is_sensitive(kind.is_sensitive())
        .with_config_type(kind.code())
        .with_documentation(
            include
                .documentation
                .then(|| StrBytes::from_static_str(doc)),
        )
}

fn synonym(s: Synonym) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_static_str(s.name))
        .with_value(s.value.map(StrBytes::from_string))
        .with_source(s.source.code())
}
