//! Per-replica lag for `fjord topic describe`, Kafka's way: every broker the
//! cluster's Metadata lists is asked DescribeLogDirs for the topic, and
//! each answers the offset lag of the replicas it holds (0 on a leader; on
//! a follower, how far its log trails the leader's high watermark).
//!
//! Best effort: a broker that cannot be reached or refuses leaves its
//! replicas' lag unknown; it never fails the describe.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{DescribeLogDirsRequest, MetadataRequest};
use kafka_protocol::protocol::{Message, VersionRange};

use super::client::{Client, ClientError};
use super::topic::topic_name;
use super::ConnectArgs;

/// Each broker is given at most this long to connect and answer.
const PER_BROKER: Duration = Duration::from_secs(5);

/// Offset lag by (partition, replica id), for the replicas whose broker
/// answered.
pub(super) type Lags = BTreeMap<(i32, i32), i64>;

/// Asks every broker `client`'s Metadata lists about `partitions` of
/// `topic`.
pub(super) fn replica_lags(
    connect: &ConnectArgs,
    client: &mut Client,
    topic: &str,
    partitions: &[i32],
) -> Lags {
    let brokers = match brokers(client) {
        Ok(brokers) => brokers,
        Err(e) => {
            tracing::debug!("metadata for the broker list: {e}");
            return Lags::new();
        }
    };
    let timeout = PER_BROKER.min(Duration::from_secs(connect.timeout.max(1)));
    let mut lags = Lags::new();
    for b in brokers {
        let addr = format!("{}:{}", b.host.as_str(), b.port);
        match broker_lags(&addr, timeout, topic, partitions) {
            Ok(found) => lags.extend(found.into_iter().map(|(p, lag)| ((p, b.node_id.0), lag))),
            Err(e) => tracing::debug!(broker = b.node_id.0, "DescribeLogDirs: {e}"),
        }
    }
    lags
}

/// The brokers in the cluster's Metadata (an empty topic list: brokers only).
fn brokers(client: &mut Client) -> Result<Vec<MetadataResponseBroker>, ClientError> {
    let ours = VersionRange {
        min: 1,
        max: MetadataRequest::VERSIONS.max,
    };
    let version = client.version(kafka_protocol::messages::ApiKey::Metadata, ours)?;
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    Ok(client.send_at(version, &request)?.brokers)
}

/// (partition, offset lag) of each replica of `topic` that `addr` holds.
fn broker_lags(
    addr: &str,
    timeout: Duration,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, ClientError> {
    let mut client = Client::connect(addr, timeout)?;
    let request =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions.to_vec())]));
    let response = client.send(&request)?;
    ClientError::from_code(response.error_code, None)?;
    Ok(response
        .results
        .iter()
        .filter(|dir| dir.error_code == 0)
        .flat_map(|dir| &dir.topics)
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.offset_lag))
        .collect())
}

/// A partition's replicas with their lag (`lag`: by replica id), in
/// replica order, `-` where unknown: `1:0,2:0,3:15`.
pub(super) fn render(lag: &BTreeMap<i32, i64>, replicas: &[i32]) -> String {
    replicas
        .iter()
        .map(|r| match lag.get(r) {
            Some(lag) => format!("{r}:{lag}"),
            None => format!("{r}:-"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_shown_per_replica_in_replica_order() {
        let lag: BTreeMap<i32, i64> = [(1, 0), (3, 15)].into();
        assert_eq!(render(&lag, &[3, 1, 2]), "3:15,1:0,2:-");
        assert_eq!(render(&BTreeMap::new(), &[2]), "2:-");
    }
}
