//! DeleteTopics: by name (v0–5) or by name or id (v6+), through the
//! controller shard, which removes the topic from every shard and deletes its
//! partition directories.
//!
//! Authorized here with Kafka's (ControllerApis) rules: DELETE on the
//! cluster allows every topic; otherwise a topic needs DELETE, and one the
//! session may not even DESCRIBE is denied without saying whether it exists.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::{authorize, topics};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<TopicName>, Uuid)> = request
        .topic_names
        .into_iter()
        .map(|name| (Some(name), Uuid::nil()))
        .collect();
    targets.extend(request.topics.into_iter().map(|t| (t.name, t.topic_id)));
    let mut responses = Vec::with_capacity(targets.len());
    let delete_any = authorize::cluster(shard, session, operation::DELETE);
    let may = |op: i8, name: &str| delete_any || authorize::topic(shard, session, op, name);
    for (name, id) in targets {
        let by_id = name.is_none();
        let name = match name {
            Some(name) => Some(name),
            None => topics::by_id(shard, id).map(|m| TopicName(m.name.into())),
        };
        let result = DeletableTopicResult::default()
            .with_name(name.clone())
            .with_topic_id(id);
        let Some(name) = name else {
            responses.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        };
        if !may(operation::DELETE, &name) {
            // As Kafka answers: TOPIC_AUTHORIZATION_FAILED, except for a
            // name the session may describe that does not exist; a denied
            // id is named back only to those who may describe it.
            let describable = may(operation::DESCRIBE, &name);
            let exists = shard.topics.borrow().get(name.as_str()).is_some();
            let code = match !by_id && describable && !exists {
                true => ResponseError::UnknownTopicOrPartition,
                false => ResponseError::TopicAuthorizationFailed,
            };
            let result = result.with_error_code(code.code());
            responses.push(match by_id && !describable {
                true => result.with_name(None),
                false => result,
            });
            continue;
        }
        let request = ShardRequest::DeleteTopic {
            name: name.0.to_string(),
        };
        responses.push(match router::to_controller(shard, request).await {
            Some(ShardResponse::TopicDeleted(code, topic_id)) => {
                result.with_error_code(code).with_topic_id(if version >= 6 {
                    topic_id.unwrap_or(id)
                } else {
                    Uuid::nil()
                })
            }
            _ => result.with_error_code(ResponseError::NotController.code()),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
