//! DescribeConfigs for the broker (resource type 4), topics (2) and groups
//! (32). A topic config is its override (source DYNAMIC_TOPIC_CONFIG) or the
//! broker's value; synonyms list both, so tools like kafka-configs show where
//! a value comes from. The broker's settings are read-only, followed by the
//! dynamic configs set on it and the cluster-wide dynamic defaults it does
//! not override; a group's configs are its own or the broker's defaults
//! (see `crate::config::dynamic`). Dynamic configs come from this shard's
//! metadata image.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_admin;
use crate::config::dynamic::{Target, GROUP_CONFIGS};
use crate::shard::Shard;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
// Kafka's ConfigSource values.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const GROUP_CONFIG: i8 = 8;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

pub async fn handle(
    shard: &Rc<Shard>,
    _version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut results = Vec::new();
    for resource in request.resources {
        let target = match resource.resource_type {
            BROKER | GROUP => {
                let name = resource.resource_name.as_str();
                topic_admin::dynamic_target(shard, resource.resource_type, name).map(Some)
            }
            _ => Ok(None),
        };
        results.push(describe(shard, resource, target, request.include_synonyms));
    }
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    shard: &Shard,
    resource: kafka_protocol::messages::describe_configs_request::DescribeConfigsResource,
    target: Result<Option<Target>, topic_admin::Outcome>,
    include_synonyms: bool,
) -> DescribeConfigsResult {
    let keys: Option<Vec<String>> = resource
        .configuration_keys
        .as_ref()
        .map(|k| k.iter().map(|s| s.to_string()).collect());
    let wanted = |name: &str| keys.as_ref().is_none_or(|k| k.iter().any(|n| n == name));
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    // An error naming the broker or group is the answer.
    let target = match target {
        Ok(target) => target,
        Err((code, message)) => {
            return result
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
        }
    };
    match resource.resource_type {
        BROKER => {
            let mut configs = broker_configs(shard, &wanted, include_synonyms);
            let defaults = topic_admin::dynamic_configs(shard, &Target::ClusterDefault);
            let own = match &target {
                Some(target @ Target::Broker(_)) => topic_admin::dynamic_configs(shard, target),
                _ => BTreeMap::new(),
            };
            configs.extend(dynamic_entries(&own, &wanted, DYNAMIC_BROKER_CONFIG));
            let not_overridden = |name: &str| wanted(name) && !own.contains_key(name);
            configs.extend(dynamic_entries(
                &defaults,
                &not_overridden,
                DYNAMIC_DEFAULT_BROKER_CONFIG,
            ));
            result.with_configs(configs)
        }
        GROUP => {
            let own = target
                .map(|target| topic_admin::dynamic_configs(shard, &target))
                .unwrap_or_default();
            result.with_configs(group_configs(&own, &wanted))
        }
        TOPIC => {
            let overrides = match shard.topics.borrow().get(resource.resource_name.as_str()) {
                Some(meta) => meta.configs.clone(),
                None => {
                    return result.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                }
            };
            let configs = topic_configs(shard, &overrides, &wanted, include_synonyms);
            result.with_configs(configs)
        }
        _ => result
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(StrBytes::from_static_str("unsupported resource type"))),
    }
}

/// The dynamic configs set on a broker, as Kafka lists them.
fn dynamic_entries(
    dynamic: &BTreeMap<String, String>,
    wanted: &dyn Fn(&str) -> bool,
    source: i8,
) -> Vec<DescribeConfigsResourceResult> {
    dynamic
        .iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, value)| {
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_value(Some(StrBytes::from_string(value.clone())))
                .with_config_source(source)
        })
        .collect()
}

/// Every group config: the group's own value or the broker default.
fn group_configs(
    dynamic: &BTreeMap<String, String>,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<DescribeConfigsResourceResult> {
    GROUP_CONFIGS
        .iter()
        .filter(|(name, ..)| wanted(name))
        .map(|(name, _, default, _)| {
            let (value, source) = match dynamic.get(*name) {
                Some(v) => (v.clone(), GROUP_CONFIG),
                None => (default.to_string(), DEFAULT_CONFIG),
            };
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source)
        })
        .collect()
}

fn broker_configs(
    shard: &Shard,
    wanted: &dyn Fn(&str) -> bool,
    synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    shard
        .config
        .entries()
        .into_iter()
        .filter(|e| wanted(e.name))
        .map(|e| entry(e.name, e.name, e.value, e.is_default, synonyms).with_read_only(true))
        .collect()
}

fn topic_configs(
    shard: &Shard,
    overrides: &BTreeMap<String, String>,
    wanted: &dyn Fn(&str) -> bool,
    synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    shard
        .config
        .topic_defaults()
        .into_iter()
        .filter(|d| wanted(d.name))
        .map(|d| {
            let base = entry(d.name, d.synonym, d.value, d.is_default, synonyms);
            let Some(value) = overrides.get(d.name) else {
                return base;
            };
            let value = Some(StrBytes::from_string(value.clone()));
            let mut list = vec![DescribeConfigsSynonym::default()
                .with_name(StrBytes::from_static_str(d.name))
                .with_value(value.clone())
                .with_source(DYNAMIC_TOPIC_CONFIG)];
            if synonyms {
                list.extend(base.synonyms);
            } else {
                list.clear();
            }
            DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(d.name))
                .with_value(value)
                .with_config_source(DYNAMIC_TOPIC_CONFIG)
                .with_synonyms(list)
        })
        .collect()
}

/// One read-only config; its synonym is the broker setting it comes from.
fn entry(
    name: &'static str,
    synonym: &'static str,
    value: String,
    is_default: bool,
    synonyms: bool,
) -> DescribeConfigsResourceResult {
    let source = if is_default {
        DEFAULT_CONFIG
    } else {
        STATIC_BROKER_CONFIG
    };
    let value = Some(StrBytes::from_string(value));
    let entry = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(value.clone())
        .with_config_source(source);
    if !synonyms {
        return entry;
    }
    entry.with_synonyms(vec![DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_static_str(synonym))
        .with_value(value)
        .with_source(source)])
}
