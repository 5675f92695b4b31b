//! `fjord topic list|create|delete` (`describe` is in `describe.rs`), and
//! the helpers the topic commands share.
//!
//! `list` reads Metadata for all topics. `create` and `delete` send
//! CreateTopics and DeleteTopics and turn a Kafka error into
//! `topic NAME: ERROR_NAME: message` and a non-zero exit.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::{Message, StrBytes, VersionRange};
use serde::Serialize;
use uuid::Uuid;

use super::client::{Client, ClientError};
use super::{print_json, table, ConnectArgs, Failure};

#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    partitions: usize,
    replication_factor: usize,
    internal: bool,
}

/// What `topic create` asks for; -1 leaves a number to the broker.
pub(super) struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<String>,
}

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub(super) fn topic_id(id: Uuid) -> Option<String> {
    (!id.is_nil()).then(|| id.to_string())
}

/// Metadata at v1 or later (where a null topic list means all topics).
pub(super) fn metadata(
    client: &mut Client,
    topics: Option<Vec<MetadataRequestTopic>>,
) -> Result<Vec<MetadataResponseTopic>, ClientError> {
    let ours = VersionRange {
        min: 1,
        max: MetadataRequest::VERSIONS.max,
    };
    let version = client.version(ApiKey::Metadata, ours)?;
    let mut request = MetadataRequest::default().with_topics(topics);
    if version >= 4 {
        request.allow_auto_topic_creation = false;
    }
    Ok(client.send_at(version, &request)?.topics)
}

pub(super) fn list(connect: &ConnectArgs, internal: bool) -> Result<(), Failure> {
    let mut client = connect.connect()?;
    let mut topics: Vec<Listed> = metadata(&mut client, None)?
        .into_iter()
        .filter_map(|t| {
            let name = t.name?.0.to_string();
            Some(Listed {
                internal: t.is_internal || name.starts_with("__"),
                name,
                partitions: t.partitions.len(),
                replication_factor: t
                    .partitions
                    .iter()
                    .map(|p| p.replica_nodes.len())
                    .max()
                    .unwrap_or(0),
            })
        })
        .filter(|t| internal || !t.internal)
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    if connect.json {
        print_json(&serde_json::json!({ "topics": topics }));
    } else {
        let rows: Vec<Vec<String>> = topics
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.partitions.to_string(),
                    t.replication_factor.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            table("", &["TOPIC", "PARTITIONS", "REPLICATION"], &rows)
        );
    }
    Ok(())
}

pub(super) fn bad_response(api: ApiKey, name: &str) -> ClientError {
    ClientError::Decode {
        api,
        version: -1,
        reason: format!("the response does not mention topic {name}"),
    }
}

pub(super) fn create(connect: &ConnectArgs, new: &NewTopic) -> Result<(), Failure> {
    let configs = new
        .configs
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))),
            _ => Err(Failure(format!("--config {kv}: expected NAME=VALUE"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut client = connect.connect()?;
    let version = client.version(ApiKey::CreateTopics, CreateTopicsRequest::VERSIONS)?;
    // Leaving the counts to the broker (-1) needs v4.
    if version < 4 && (new.partitions < 0 || new.replication_factor < 0) {
        return Err(Failure(
            "this broker needs --partitions and --replication-factor".into(),
        ));
    }
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(&new.name))
            .with_num_partitions(new.partitions)
            .with_replication_factor(new.replication_factor)
            .with_configs(configs)])
        .with_timeout_ms(connect.timeout_ms());
    let response = client.send_at(version, &request)?;
    let result = response
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == new.name)
        .ok_or_else(|| bad_response(ApiKey::CreateTopics, &new.name))?;
    ClientError::from_code(result.error_code, result.error_message.as_ref())
        .map_err(|e| Failure(format!("topic {}: {e}", new.name)))?;
    // Before v5 the response does not repeat the counts.
    let pick = |answered: i64, asked: i64| {
        if version >= 5 && answered >= 0 {
            answered
        } else {
            asked
        }
    };
    let created = serde_json::json!({
        "name": new.name,
        "topic_id": topic_id(result.topic_id),
        "partitions": pick(result.num_partitions.into(), new.partitions.into()),
        "replication_factor": pick(result.replication_factor.into(), new.replication_factor.into()),
    });
    if connect.json {
        print_json(&created);
    } else {
        let count = |v: &serde_json::Value| match v.as_i64() {
            Some(n) if n >= 0 => n.to_string(),
            _ => "default".into(),
        };
        println!(
            "Created topic {} ({} partitions, replication factor {}, id {}).",
            new.name,
            count(&created["partitions"]),
            count(&created["replication_factor"]),
            created["topic_id"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

pub(super) fn delete(connect: &ConnectArgs, name: &str) -> Result<(), Failure> {
    let mut client = connect.connect()?;
    let version = client.version(ApiKey::DeleteTopics, DeleteTopicsRequest::VERSIONS)?;
    // v6 names topics in `topics` (by name or id), earlier versions in `topic_names`.
    let request = if version >= 6 {
        DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(name)))
        ])
    } else {
        DeleteTopicsRequest::default().with_topic_names(vec![topic_name(name)])
    };
    let request = request.with_timeout_ms(connect.timeout_ms());
    let response = client.send_at(version, &request)?;
    let result = response
        .responses
        .iter()
        .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .ok_or_else(|| bad_response(ApiKey::DeleteTopics, name))?;
    ClientError::from_code(result.error_code, result.error_message.as_ref())
        .map_err(|e| Failure(format!("topic {name}: {e}")))?;
    if connect.json {
        print_json(&serde_json::json!({ "name": name, "deleted": true }));
    } else {
        println!("Deleted topic {name}.");
    }
    Ok(())
}
