//! AlterPartitionReassignments (`kafka-reassign-partitions.sh --execute`
//! and `--cancel`): starts or cancels moves of partitions' replicas through
//! the active controller (`cluster::reassignment`), which completes each
//! once its new replicas are in sync. One result per partition; a request
//! the controller could not take fails whole, in the top-level error.
//! With `allow_replication_factor_change` false (v1+), a target of another
//! size than the topic's replication factor is refused here, per partition.
//! Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED, top level).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, TopicName,
};

use super::authorize;
use super::security_common::{mismatch, submit, wire, wire_opt};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::elections::ElectionResult;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

type Reassignment = (String, i32, Option<Vec<i32>>);

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow_rf_change = version < 1 || request.allow_replication_factor_change;
    if !authorize::cluster(shard, session, operation::ALTER) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return AlterPartitionReassignmentsResponse::default()
            .with_allow_replication_factor_change(allow_rf_change)
            .with_error_code(code)
            .with_error_message(wire_opt(message));
    }
    let mut refused = Vec::new();
    let mut reassignments = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            let target = p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            let entry = (topic.name.to_string(), p.partition_index, target);
            match rf_change(shard, &entry).filter(|_| !allow_rf_change) {
                Some(message) => {
                    let code = ResponseError::InvalidReplicationFactor.code();
                    refused.push((entry.0, entry.1, code, Some(message)));
                }
                None => reassignments.push(entry),
            }
        }
    }
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change);
    if reassignments.is_empty() {
        return response.with_responses(by_topic(refused));
    }
    let command = Command::AlterPartitionReassignments { reassignments };
    match submit(shard, command).await {
        Ok(Reply::ReassignmentsAltered(mut results)) => {
            results.extend(refused);
            response.with_responses(by_topic(results))
        }
        Ok(_) => {
            let (code, message) = mismatch();
            response
                .with_error_code(code)
                .with_error_message(wire_opt(message))
        }
        Err(refusal) => response
            .with_error_code(refusal.code)
            .with_error_message(Some(wire(refusal.message))),
    }
}

/// Why `entry` would change its topic's replication factor, as this
/// node's image has it (unknown partitions and cancels are the
/// controller's to answer).
fn rf_change(shard: &Shard, (topic, _, target): &Reassignment) -> Option<String> {
    let target = target.as_ref()?;
    let image = shard.image.borrow().clone();
    let rf = image.topic(topic)?.replication_factor();
    (rf != target.len()).then(|| {
        format!(
            "The target of {} replicas would change the replication factor {rf}, and allow_replication_factor_change is false.",
            target.len()
        )
    })
}

/// Results grouped by topic, topics in order of first appearance.
fn by_topic(results: Vec<ElectionResult>) -> Vec<ReassignableTopicResponse> {
    let mut topics: Vec<ReassignableTopicResponse> = Vec::new();
    for (topic, partition, code, message) in results {
        let result = ReassignablePartitionResponse::default()
            .with_partition_index(partition)
            .with_error_code(code)
            .with_error_message(wire_opt(message));
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partitions.push(result),
            None => topics.push(
                ReassignableTopicResponse::default()
                    .with_name(TopicName(wire(topic)))
                    .with_partitions(vec![result]),
            ),
        }
    }
    topics
}
