//! DescribeConfigs for the broker (resource type 4, read-only) and topics (2).
//! A topic config is its override (source DYNAMIC_TOPIC_CONFIG) or the
//! broker's value; synonyms list both, so tools like kafka-configs show where
//! a value comes from.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
// Kafka's ConfigSource values.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

pub async fn handle(
    shard: &Rc<Shard>,
    _version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let keys: Option<Vec<String>> = resource
                .configuration_keys
                .as_ref()
                .map(|k| k.iter().map(|s| s.to_string()).collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|k| k.iter().any(|n| n == name));
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match resource.resource_type {
                BROKER
                    if resource.resource_name.is_empty()
                        || resource.resource_name.as_str()
                            == shard.identity.node_id.to_string() =>
                {
                    result.with_configs(broker_configs(shard, &wanted, request.include_synonyms))
                }
                TOPIC => {
                    let overrides = match shard.topics.borrow().get(resource.resource_name.as_str())
                    {
                        Some(meta) => meta.configs.clone(),
                        None => {
                            return result
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }
                    };
                    let configs =
                        topic_configs(shard, &overrides, &wanted, request.include_synonyms);
                    result.with_configs(configs)
                }
                BROKER => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str("unknown broker id"))),
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "unsupported resource type",
                    ))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
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
