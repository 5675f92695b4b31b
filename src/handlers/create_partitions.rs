//! CreatePartitions: grows a topic through the controller; every shard opens
//! the new partitions it owns before the answer. Explicit assignments name
//! brokers, and this single broker accepts only itself.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_admin;
use crate::shard::messages::ShardRequest;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node = shard.identity.node_id;
    let mut results = Vec::new();
    for topic in request.topics {
        let foreign = topic
            .assignments
            .iter()
            .flatten()
            .any(|a| a.broker_ids.iter().any(|b| b.0 != node) || a.broker_ids.len() != 1);
        let (code, message) = if foreign {
            (
                ResponseError::InvalidReplicaAssignment.code(),
                Some("only this broker can hold replicas".to_string()),
            )
        } else {
            let change = ShardRequest::CreatePartitions {
                name: topic.name.to_string(),
                count: topic.count,
                validate_only: request.validate_only,
            };
            topic_admin::to_controller(shard, change).await
        };
        results.push(
            CreatePartitionsTopicResult::default()
                .with_name(topic.name)
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string)),
        );
    }
    CreatePartitionsResponse::default().with_results(results)
}
