//! ElectLeaders (`kafka-leader-election.sh`): a preferred or unclean
//! election for named partitions, or for all (null topic list), decided by
//! the active controller (`cluster::elections`); this node's shards have
//! applied the new leaders before the answer. v0 has no election type: it
//! is PREFERRED. Whole-request failures go in the top-level error code
//! (v1+) and in every named partition's result: so does a session without
//! ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED), checked here where
//! the session is known.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::authorize;
use super::security_common::{mismatch, outcome, submit, wire, wire_opt};
use crate::cluster::commands::{Command, Refusal, Reply};
use crate::cluster::elections::{ElectionResult, PREFERRED};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    // Denied, the request answers as one the controller refused.
    let allowed = authorize::cluster(shard, session, operation::ALTER);
    let election_type = if version == 0 {
        PREFERRED
    } else {
        request.election_type
    };
    let partitions: Option<Vec<(String, i32)>> = request.topic_partitions.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect()
    });
    let named = partitions.clone().unwrap_or_default();
    let command = Command::ElectLeaders {
        election_type,
        partitions,
    };
    let reply = match allowed {
        true => submit(shard, command).await,
        false => Err(Refusal::new(
            ResponseError::ClusterAuthorizationFailed,
            authorize::message(ResponseError::ClusterAuthorizationFailed),
        )),
    };
    let (error_code, results) = match reply {
        Ok(Reply::LeadersElected(results)) => (0, results),
        Ok(_) => (mismatch().0, each(&named, mismatch())),
        Err(refusal) => {
            let (code, message) = outcome(refusal);
            (code, each(&named, (code, message)))
        }
    };
    let top_level = if version >= 1 { error_code } else { 0 };
    ElectLeadersResponse::default()
        .with_error_code(top_level)
        .with_replica_election_results(by_topic(results))
}

/// The same outcome for every named partition.
fn each(named: &[(String, i32)], (code, message): (i16, Option<String>)) -> Vec<ElectionResult> {
    let code = if code == 0 {
        ResponseError::UnknownServerError.code()
    } else {
        code
    };
    named
        .iter()
        .map(|(topic, p)| (topic.clone(), *p, code, message.clone()))
        .collect()
}

/// Results grouped by topic, topics in order of first appearance.
fn by_topic(results: Vec<ElectionResult>) -> Vec<ReplicaElectionResult> {
    let mut topics: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, code, message) in results {
        let result = PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(code)
            .with_error_message(wire_opt(message));
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partition_result.push(result),
            None => topics.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(wire(topic)))
                    .with_partition_result(vec![result]),
            ),
        }
    }
    topics
}
