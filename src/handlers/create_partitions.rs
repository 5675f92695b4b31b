//! CreatePartitions: grows a topic through the active controller; this
//! node's shards have applied the change before the answer. Explicit
//! assignments name the brokers of each new partition. A topic needs ALTER
//! (TOPIC_AUTHORIZATION_FAILED), checked here where the session is known.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, topic_admin};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::ShardRequest;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::new();
    for topic in request.topics {
        if !authorize::topic(shard, session, operation::ALTER, &topic.name) {
            results.push(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name)
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        }
        let assignments = topic
            .assignments
            .iter()
            .flatten()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect();
        let change = ShardRequest::CreatePartitions {
            name: topic.name.to_string(),
            count: topic.count,
            assignments,
            validate_only: request.validate_only,
        };
        let (code, message) = topic_admin::to_controller(shard, change).await;
        results.push(
            CreatePartitionsTopicResult::default()
                .with_name(topic.name)
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string)),
        );
    }
    CreatePartitionsResponse::default().with_results(results)
}
