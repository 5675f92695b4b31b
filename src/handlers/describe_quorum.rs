//! DescribeQuorum (`kafka-metadata-quorum.sh describe --status /
//! --replication`): the metadata quorum's leader, epoch, high watermark and
//! each voter's log end, asked of the active controller through this node.
//! Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use crate::cluster::wire::QuorumState;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

/// Kafka's name for the metadata log's topic.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    _request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    if !authorize::cluster(shard, session, operation::DESCRIBE) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return DescribeQuorumResponse::default()
            .with_error_code(code)
            .with_error_message(message.map(StrBytes::from_string));
    }
    let state = match router::to_controller(shard, ShardRequest::DescribeQuorum).await {
        Some(ShardResponse::Quorum(state)) => state,
        _ => Err((
            ResponseError::NotController.code(),
            "controller shard unavailable".into(),
        )),
    };
    let state = match state {
        Ok(state) => state,
        Err((code, message)) => {
            return DescribeQuorumResponse::default()
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    };
    let now = crate::util::now_ms();
    let partition = partition(&state, now);
    DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition])])
}

fn partition(state: &QuorumState, now: i64) -> PartitionData {
    let voters = state
        .voters
        .iter()
        .map(|v| {
            let seen = if v.last_contact_ms >= 0 {
                now - v.last_contact_ms
            } else {
                -1
            };
            ReplicaState::default()
                .with_replica_id(BrokerId(v.node_id))
                .with_log_end_offset(v.log_end_offset as i64)
                .with_last_fetch_timestamp(seen)
                .with_last_caught_up_timestamp(if v.log_end_offset >= state.high_watermark {
                    seen
                } else {
                    -1
                })
        })
        .collect();
    PartitionData::default()
        .with_leader_id(BrokerId(state.leader_id))
        .with_leader_epoch(state.leader_epoch as i32)
        .with_high_watermark(state.high_watermark as i64)
        .with_current_voters(voters)
}
