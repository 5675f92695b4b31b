//! `fjord cluster status`: the cluster (DescribeCluster, or Metadata from a
//! broker without it) and the metadata quorum (DescribeQuorum, like
//! `kafka-metadata-quorum.sh describe --status --replication`).
//!
//! The sections are read independently: if one fails, its error is printed
//! in its place, the rest is still printed, and the exit status is non-zero.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeQuorumRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::{Message, StrBytes, VersionRange};
use serde::Serialize;

use super::client::{Client, ClientError};
use super::{print_json, table, ConnectArgs, Failure, Section};

/// The metadata log's topic, the only one DescribeQuorum describes.
const METADATA_TOPIC: &str = "__cluster_metadata";

#[derive(Debug, Serialize)]
struct Status {
    /// The bootstrap broker that answered.
    bootstrap: String,
    cluster: Section<Cluster>,
    quorum: Section<Quorum>,
}

#[derive(Debug, Serialize)]
struct Cluster {
    cluster_id: String,
    controller_id: i32,
    brokers: Vec<Broker>,
}

#[derive(Debug, Serialize)]
struct Broker {
    id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
    fenced: bool,
}

#[derive(Debug, Serialize)]
struct Quorum {
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    /// The largest `lag` of any voter.
    max_voter_lag: i64,
    voters: Vec<Replica>,
    observers: Vec<Replica>,
}

#[derive(Debug, Serialize)]
struct Replica {
    id: i32,
    log_end_offset: i64,
    /// How far the replica's log end is behind the high watermark (0 if not).
    lag: i64,
}

pub(super) fn run(connect: &ConnectArgs) -> Result<(), Failure> {
    let mut client = connect.connect()?;
    let cluster = Section::from_result(describe_cluster(&mut client));
    let quorum = Section::from_result(describe_quorum(&mut client));
    let status = Status {
        bootstrap: client.addr().to_string(),
        cluster,
        quorum,
    };
    if connect.json {
        print_json(&status);
    } else {
        print!("{}", render(&status));
    }
    let failed: Vec<String> = [
        ("cluster", status.cluster.error()),
        ("quorum", status.quorum.error()),
    ]
    .into_iter()
    .filter_map(|(name, error)| Some(format!("{name}: {}", error?)))
    .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure(failed.join("; ")))
    }
}

/// DescribeCluster, or Metadata's broker list from a broker that lacks it.
fn describe_cluster(client: &mut Client) -> Result<Cluster, ClientError> {
    if !client.supports(ApiKey::DescribeCluster) {
        return cluster_from_metadata(client);
    }
    let version = client.version(ApiKey::DescribeCluster, DescribeClusterRequest::VERSIONS)?;
    // v2 can list fenced brokers too, and marks them.
    let request = DescribeClusterRequest::default().with_include_fenced_brokers(version >= 2);
    let response = client.send_at(version, &request)?;
    ClientError::from_code(response.error_code, response.error_message.as_ref())?;
    let mut brokers: Vec<Broker> = response
        .brokers
        .iter()
        .map(|b| Broker {
            id: b.broker_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
            fenced: b.is_fenced,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(Cluster {
        cluster_id: response.cluster_id.to_string(),
        controller_id: response.controller_id.0,
        brokers,
    })
}

fn cluster_from_metadata(client: &mut Client) -> Result<Cluster, ClientError> {
    // v2 added the cluster id; an empty topic list asks for no topics (v1+).
    let ours = VersionRange {
        min: 2,
        max: MetadataRequest::VERSIONS.max,
    };
    let version = client.version(ApiKey::Metadata, ours)?;
    let response = client.send_at(
        version,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )?;
    let mut brokers: Vec<Broker> = response
        .brokers
        .iter()
        .map(|b| Broker {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
            fenced: false,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(Cluster {
        cluster_id: response
            .cluster_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        controller_id: response.controller_id.0,
        brokers,
    })
}

fn describe_quorum(client: &mut Client) -> Result<Quorum, ClientError> {
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = client.send(&request)?;
    ClientError::from_code(response.error_code, response.error_message.as_ref())?;
    let partition = response
        .topics
        .iter()
        .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| ClientError::Decode {
            api: ApiKey::DescribeQuorum,
            version: 0,
            reason: format!("the response does not describe {METADATA_TOPIC}-0"),
        })?;
    ClientError::from_code(partition.error_code, partition.error_message.as_ref())?;
    let hw = partition.high_watermark;
    let replicas = |states: &[ReplicaState]| -> Vec<Replica> {
        states
            .iter()
            .map(|r| Replica {
                id: r.replica_id.0,
                log_end_offset: r.log_end_offset,
                lag: lag(hw, r.log_end_offset),
            })
            .collect()
    };
    let voters = replicas(&partition.current_voters);
    Ok(Quorum {
        leader_id: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: hw,
        max_voter_lag: voters.iter().map(|v| v.lag).max().unwrap_or(0),
        voters,
        observers: replicas(&partition.observers),
    })
}

/// How far `log_end` is behind `high_watermark`; an unknown (-1) log end
/// lags by the whole high watermark.
fn lag(high_watermark: i64, log_end: i64) -> i64 {
    high_watermark.saturating_sub(log_end.max(0)).max(0)
}

fn render(status: &Status) -> String {
    let mut out = String::new();
    match &status.cluster {
        Section::Ok(c) => {
            out.push_str(&format!("Cluster ID:  {}\n", c.cluster_id));
            out.push_str(&format!("Controller:  {}\n", c.controller_id));
            out.push_str(&format!("Brokers ({}):\n", c.brokers.len()));
            let rows: Vec<Vec<String>> = c
                .brokers
                .iter()
                .map(|b| {
                    vec![
                        b.id.to_string(),
                        format!("{}:{}", b.host, b.port),
                        b.rack.clone().unwrap_or_else(|| "-".into()),
                        if b.fenced { "fenced" } else { "" }.to_string(),
                    ]
                })
                .collect();
            out.push_str(&table("  ", &["ID", "ADDRESS", "RACK", ""], &rows));
        }
        Section::Failed { error } => out.push_str(&format!("Cluster: error: {error}\n")),
    }
    match &status.quorum {
        Section::Ok(q) => {
            out.push_str(&format!("Metadata quorum ({METADATA_TOPIC}-0):\n"));
            out.push_str(&format!("  Leader:          {}\n", q.leader_id));
            out.push_str(&format!("  Leader epoch:    {}\n", q.leader_epoch));
            out.push_str(&format!("  High watermark:  {}\n", q.high_watermark));
            out.push_str(&format!("  Max voter lag:   {}\n", q.max_voter_lag));
            let mut rows = Vec::new();
            for (role, list) in [("Voter", &q.voters), ("Observer", &q.observers)] {
                for r in list.iter() {
                    let role = if role == "Voter" && r.id == q.leader_id {
                        "Leader"
                    } else {
                        role
                    };
                    rows.push(vec![
                        r.id.to_string(),
                        r.log_end_offset.to_string(),
                        r.lag.to_string(),
                        role.to_string(),
                    ]);
                }
            }
            out.push_str("  Replicas:\n");
            out.push_str(&table("    ", &["ID", "LOG END", "LAG", "ROLE"], &rows));
        }
        Section::Failed { error } => out.push_str(&format!("Metadata quorum: error: {error}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_never_negative() {
        assert_eq!(lag(100, 90), 10);
        assert_eq!(lag(100, 120), 0);
        assert_eq!(lag(100, -1), 100);
    }

    #[test]
    fn a_failed_section_still_renders_the_rest() {
        let status = Status {
            bootstrap: "b:1".into(),
            cluster: Section::Ok(Cluster {
                cluster_id: "abc".into(),
                controller_id: 1,
                brokers: vec![Broker {
                    id: 1,
                    host: "h".into(),
                    port: 9092,
                    rack: None,
                    fenced: false,
                }],
            }),
            quorum: Section::from_result(Err(ClientError::Unsupported(ApiKey::DescribeQuorum))),
        };
        let text = render(&status);
        assert!(text.contains("Cluster ID:  abc"), "{text}");
        assert!(text.contains("  1   h:9092   -"), "{text}");
        assert!(text.contains("Metadata quorum: error: the broker does not support DescribeQuorum"));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["cluster"]["brokers"][0]["port"], 9092);
        assert!(json["quorum"]["error"]
            .as_str()
            .unwrap()
            .contains("DescribeQuorum"));
    }
}
