//! `fjord topic describe`: one topic's id, partitions (leader, leader
//! epoch, replicas, ISR, eligible leader replicas, each replica's lag) and
//! config overrides.
//!
//! Partitions come from DescribeTopicPartitions (KIP-966), following its
//! cursor page by page, when the broker has it, and from Metadata otherwise.
//! Config overrides are DescribeConfigs' entries whose source is a per-topic
//! override; if that request fails, the partitions are still printed and the
//! exit status is non-zero. Lag comes from each broker's DescribeLogDirs
//! (`lag`), where the broker answers.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeConfigsRequest, DescribeTopicPartitionsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{error_name, Client, ClientError};
use super::topic::{bad_response, metadata, topic_id, topic_name};
use super::{ids, lag, print_json, table, ConnectArgs, Failure, Section};

/// DescribeConfigs' resource type for a topic.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs' config source for a per-topic override.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// Stops following DescribeTopicPartitions cursors after this many pages.
const MAX_PAGES: usize = 100_000;

#[derive(Debug, Serialize)]
struct Description {
    name: String,
    topic_id: Option<String>,
    internal: bool,
    partitions: Vec<Partition>,
    /// Non-default configs: name → value (null when sensitive).
    configs: Section<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Serialize)]
struct Partition {
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// Eligible leader replicas and the last known ones (KIP-966; only
    /// DescribeTopicPartitions has them).
    elr: Vec<i32>,
    last_known_elr: Vec<i32>,
    offline_replicas: Vec<i32>,
    /// Offset lag by replica id, for replicas whose broker answered.
    lag: BTreeMap<i32, i64>,
    /// The partition's error (e.g. LEADER_NOT_AVAILABLE), if any.
    error: Option<String>,
}

pub(super) fn run(connect: &ConnectArgs, name: &str, page_size: i32) -> Result<(), Failure> {
    let mut client = connect.connect()?;
    let topic = if client.supports(ApiKey::DescribeTopicPartitions) {
        describe_paged(&mut client, name, page_size)
    } else {
        describe_metadata(&mut client, name)
    };
    let mut topic = topic.map_err(|e| Failure(format!("topic {name}: {e}")))?;
    add_lags(connect, &mut client, &mut topic);
    topic.configs = Section::from_result(overrides(&mut client, name));
    if connect.json {
        print_json(&topic);
    } else {
        print!("{}", render(&topic));
    }
    match topic.configs.error() {
        Some(e) => Err(Failure(format!("topic {name}: configs: {e}"))),
        None => Ok(()),
    }
}

fn add_lags(connect: &ConnectArgs, client: &mut Client, topic: &mut Description) {
    let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let lags = lag::replica_lags(connect, client, &topic.name, &partitions);
    for p in &mut topic.partitions {
        p.lag = lags
            .range((p.partition, i32::MIN)..=(p.partition, i32::MAX))
            .map(|((_, replica), lag)| (*replica, *lag))
            .collect();
    }
}

fn partition_error(code: i16) -> Option<String> {
    (code != 0).then(|| error_name(code))
}

/// DescribeTopicPartitions, following the cursor until the topic is complete.
fn describe_paged(
    client: &mut Client,
    name: &str,
    page_size: i32,
) -> Result<Description, ClientError> {
    let mut topic = empty(name);
    let mut cursor: Option<Cursor> = None;
    for _ in 0..MAX_PAGES {
        let from = cursor.as_ref().map_or(-1, |c| c.partition_index);
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(vec![TopicRequest::default().with_name(topic_name(name))])
            .with_response_partition_limit(page_size.max(1))
            .with_cursor(cursor.take());
        let response = client.send(&request)?;
        let Some(page) = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        else {
            return Err(bad_response(ApiKey::DescribeTopicPartitions, name));
        };
        ClientError::from_code(page.error_code, None)?;
        topic.topic_id = topic_id(page.topic_id);
        topic.internal = page.is_internal;
        topic
            .partitions
            .extend(page.partitions.iter().map(|p| Partition {
                partition: p.partition_index,
                leader: p.leader_id.0,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                elr: broker_ids(p.eligible_leader_replicas.as_deref()),
                last_known_elr: broker_ids(p.last_known_elr.as_deref()),
                offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                lag: BTreeMap::new(),
                error: partition_error(p.error_code),
            }));
        match response.next_cursor {
            Some(next) if next.topic_name.0.as_str() == name => {
                if next.partition_index <= from {
                    return Err(ClientError::Frame(format!(
                        "DescribeTopicPartitions cursor did not advance past partition {from}"
                    )));
                }
                cursor = Some(
                    Cursor::default()
                        .with_topic_name(next.topic_name)
                        .with_partition_index(next.partition_index),
                );
            }
            _ => break,
        }
    }
    topic.partitions.sort_by_key(|p| p.partition);
    topic.partitions.dedup_by_key(|p| p.partition);
    Ok(topic)
}

/// Node ids of a nullable broker list (null: none).
fn broker_ids(list: Option<&[BrokerId]>) -> Vec<i32> {
    list.unwrap_or_default().iter().map(|b| b.0).collect()
}

fn describe_metadata(client: &mut Client, name: &str) -> Result<Description, ClientError> {
    let request = vec![MetadataRequestTopic::default().with_name(Some(topic_name(name)))];
    let topics = metadata(client, Some(request))?;
    let Some(found) = topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
    else {
        return Err(bad_response(ApiKey::Metadata, name));
    };
    ClientError::from_code(found.error_code, None)?;
    let mut topic = empty(name);
    topic.topic_id = topic_id(found.topic_id);
    topic.internal = found.is_internal;
    topic.partitions = found
        .partitions
        .iter()
        .map(|p| Partition {
            partition: p.partition_index,
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
            lag: BTreeMap::new(),
            error: partition_error(p.error_code),
        })
        .collect();
    topic.partitions.sort_by_key(|p| p.partition);
    Ok(topic)
}

fn empty(name: &str) -> Description {
    Description {
        name: name.to_string(),
        topic_id: None,
        internal: false,
        partitions: Vec::new(),
        configs: Section::Ok(BTreeMap::new()),
    }
}

/// The topic's per-topic config overrides.
fn overrides(
    client: &mut Client,
    name: &str,
) -> Result<BTreeMap<String, Option<String>>, ClientError> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(None)]);
    let response = client.send(&request)?;
    let result = response
        .results
        .iter()
        .find(|r| r.resource_name.as_str() == name)
        .ok_or_else(|| bad_response(ApiKey::DescribeConfigs, name))?;
    ClientError::from_code(result.error_code, result.error_message.as_ref())?;
    Ok(result
        .configs
        .iter()
        .filter(|c| c.config_source == DYNAMIC_TOPIC_CONFIG)
        .map(|c| {
            let value = if c.is_sensitive {
                None
            } else {
                c.value.as_ref().map(|v| v.to_string())
            };
            (c.name.to_string(), value)
        })
        .collect())
}

/// One partition's table row, with its ELR columns when `elr`.
fn row(p: &Partition, elr: bool) -> Vec<String> {
    let mut row = vec![
        p.partition.to_string(),
        p.leader.to_string(),
        p.leader_epoch.to_string(),
        ids(&p.replicas),
        ids(&p.isr),
    ];
    if elr {
        row.extend([ids(&p.elr), ids(&p.last_known_elr)]);
    }
    row.extend([
        lag::render(&p.lag, &p.replicas),
        p.error.clone().unwrap_or_default(),
    ]);
    row
}

fn render(topic: &Description) -> String {
    let mut out = format!("Topic:     {}\n", topic.name);
    out.push_str(&format!(
        "Topic ID:  {}\n",
        topic.topic_id.as_deref().unwrap_or("-")
    ));
    if topic.internal {
        out.push_str("Internal:  yes\n");
    }
    out.push_str(&format!("Partitions ({}):\n", topic.partitions.len()));
    // The ELR columns only when some partition has one: they are rare.
    let elr = topic
        .partitions
        .iter()
        .any(|p| !p.elr.is_empty() || !p.last_known_elr.is_empty());
    let rows: Vec<Vec<String>> = topic.partitions.iter().map(|p| row(p, elr)).collect();
    let mut headers = vec!["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR"];
    if elr {
        headers.extend(["ELR", "LAST-KNOWN-ELR"]);
    }
    headers.extend(["LAG", ""]);
    out.push_str(&table("  ", &headers, &rows));
    match &topic.configs {
        Section::Ok(configs) if configs.is_empty() => out.push_str("Configs:   (all defaults)\n"),
        Section::Ok(configs) => {
            out.push_str("Configs:\n");
            for (name, value) in configs {
                let value = value.as_deref().unwrap_or("(sensitive)");
                out.push_str(&format!("  {name}={value}\n"));
            }
        }
        Section::Failed { error } => out.push_str(&format!("Configs:   error: {error}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(elr: &[i32]) -> Partition {
        Partition {
            partition: 0,
            leader: 2,
            leader_epoch: 3,
            replicas: vec![1, 2, 3],
            isr: vec![2],
            elr: elr.to_vec(),
            last_known_elr: Vec::new(),
            offline_replicas: Vec::new(),
            lag: BTreeMap::new(),
            error: None,
        }
    }

    #[test]
    fn elr_columns_appear_only_when_some_partition_has_one() {
        let mut topic = empty("t");
        topic.partitions = vec![partition(&[])];
        assert!(!render(&topic).contains("ELR"));
        topic.partitions.push(partition(&[1, 3]));
        let text = render(&topic);
        assert!(
            text.contains("ELR") && text.contains("LAST-KNOWN-ELR"),
            "{text}"
        );
        assert!(text.contains("1,3"), "{text}");
    }
}
