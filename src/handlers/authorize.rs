//! The authorization checks the handlers share, as Kafka's KafkaApis,
//! ControllerApis and AuthHelper make them: which operation on which
//! resource an item needs, and the error a denied item answers with.
//!
//! Everything here goes through `Shard::authorize`, which returns before
//! looking at the image when no authorizer is configured: on a broker
//! without one, a check costs a branch and builds nothing.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::topic_admin::{BROKER, GROUP, TOPIC};
use super::topics;
use crate::security::acl::{operation, resource, CLUSTER_NAME};
use crate::security::session::Session;
use crate::shard::messages::TopicMeta;
use crate::shard::Shard;

/// Kafka's "authorized operations not requested" value of the
/// authorized-operations fields.
pub const OPERATIONS_OMITTED: i32 = i32::MIN;

/// Config resource types of the config APIs that `topic_admin` has no use
/// for, but whose authorization Kafka defines.
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;

pub fn cluster(shard: &Shard, session: &Session, op: i8) -> bool {
    shard.authorize(session, op, resource::CLUSTER, CLUSTER_NAME)
}

pub fn topic(shard: &Shard, session: &Session, op: i8, name: &str) -> bool {
    shard.authorize(session, op, resource::TOPIC, name)
}

pub fn group(shard: &Shard, session: &Session, op: i8, name: &str) -> bool {
    shard.authorize(session, op, resource::GROUP, name)
}

/// Whether `session` may create topic `name`: CREATE on the cluster or on
/// the topic (Metadata's auto-creation and CreateTopics).
pub fn create_topic(shard: &Shard, session: &Session, name: &str) -> bool {
    cluster(shard, session, operation::CREATE) || topic(shard, session, operation::CREATE, name)
}

/// Kafka's message for an authorization error (its `Errors` default
/// message), which it sends where the API has a message field.
pub fn message(error: ResponseError) -> &'static str {
    match error {
        ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
        ResponseError::GroupAuthorizationFailed => "Group authorization failed.",
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        ResponseError::TransactionalIdAuthorizationFailed => {
            "Transactional Id authorization failed."
        }
        _ => "Authorization failed.",
    }
}

/// A denied item's (error code, message).
pub fn denied(error: ResponseError) -> (i16, Option<String>) {
    (error.code(), Some(message(error).to_string()))
}

/// The authorized-operations field of a topic: the session's bit field
/// when the client asked for it, else Kafka's "omitted" value.
pub fn topic_operations(shard: &Shard, session: &Session, asked: bool, name: &str) -> i32 {
    match asked {
        true => shard.authorized_operations(session, resource::TOPIC, name),
        false => OPERATIONS_OMITTED,
    }
}

/// The cluster-authorized-operations field (Metadata v8–10,
/// DescribeCluster): the session's bit field when asked for and it may
/// DESCRIBE the cluster, 0 when it may not, "omitted" when not asked.
pub fn cluster_operations(shard: &Shard, session: &Session, asked: bool) -> i32 {
    if !asked {
        OPERATIONS_OMITTED
    } else if cluster(shard, session, operation::DESCRIBE) {
        shard.authorized_operations(session, resource::CLUSTER, CLUSTER_NAME)
    } else {
        0
    }
}

/// How a request names a topic.
#[derive(Clone, Copy)]
pub enum TopicRef<'a> {
    Name(&'a str),
    /// By id (Produce v13+, Fetch v13+).
    Id(Uuid),
}

/// A request's topic, checked in Kafka's order: an unknown id is
/// UNKNOWN_TOPIC_ID; then `allowed(name)` decides (TOPIC_AUTHORIZATION_FAILED
/// says nothing of whether the topic exists); then the topic must exist,
/// or be auto-created on behalf of `auto_create` (see [`resolve`]).
pub async fn topic_meta(
    shard: &Rc<Shard>,
    named: TopicRef<'_>,
    allowed: impl Fn(&str) -> bool,
    auto_create: Option<&Session>,
) -> Result<TopicMeta, i16> {
    let denied = ResponseError::TopicAuthorizationFailed.code();
    match named {
        TopicRef::Id(id) => {
            let meta = topics::by_id(shard, id).ok_or(ResponseError::UnknownTopicId.code())?;
            allowed(&meta.name).then_some(meta).ok_or(denied)
        }
        TopicRef::Name(name) if !allowed(name) => Err(denied),
        TopicRef::Name(name) => resolve(shard, name, auto_create).await,
    }
}

/// The topic `name`; when it is missing and `auto_create` names a session,
/// created first if that session may create it (else
/// TOPIC_AUTHORIZATION_FAILED, as Kafka's Metadata answers).
pub async fn resolve(
    shard: &Rc<Shard>,
    name: &str,
    auto_create: Option<&Session>,
) -> Result<TopicMeta, i16> {
    // The common case, a known topic, costs one lookup as before.
    if let Some(meta) = shard.topics.borrow().get(name) {
        return Ok(meta.clone());
    }
    let create = match auto_create {
        Some(session) if shard.config.auto_create_topics_enable => {
            if !create_topic(shard, session, name) {
                return Err(ResponseError::TopicAuthorizationFailed.code());
            }
            true
        }
        _ => false,
    };
    topics::resolve(shard, name, create).await
}

/// Kafka's check of a config resource: DESCRIBE_CONFIGS (DescribeConfigs)
/// or ALTER_CONFIGS (AlterConfigs, IncrementalAlterConfigs) on the cluster
/// for the BROKER, BROKER_LOGGER and CLIENT_METRICS types, on the topic or
/// group itself for TOPIC and GROUP. Other types are the handler's to
/// refuse. `Err`: the resource's answer.
pub fn config_resource(
    shard: &Shard,
    session: &Session,
    op: i8,
    resource_type: i8,
    name: &str,
) -> Result<(), (i16, Option<String>)> {
    let (allowed, error) = match resource_type {
        BROKER | BROKER_LOGGER | CLIENT_METRICS => (
            cluster(shard, session, op),
            ResponseError::ClusterAuthorizationFailed,
        ),
        TOPIC => (
            topic(shard, session, op, name),
            ResponseError::TopicAuthorizationFailed,
        ),
        GROUP => (
            group(shard, session, op, name),
            ResponseError::GroupAuthorizationFailed,
        ),
        _ => (true, ResponseError::UnknownServerError),
    };
    if allowed {
        Ok(())
    } else {
        Err(denied(error))
    }
}

/// `items` split into those whose topic `allowed` allows and those it does
/// not (Kafka's `partitionSeqByAuthorized`), asking once per run of items
/// of one topic: requests list a topic's partitions together.
pub fn split_by_topic<T>(
    items: Vec<T>,
    topic_of: impl Fn(&T) -> &str,
    allowed: impl Fn(&str) -> bool,
) -> (Vec<T>, Vec<T>) {
    let (mut yes, mut no) = (Vec::with_capacity(items.len()), Vec::new());
    let mut previous: Option<bool> = None;
    for item in items {
        let last = match previous {
            Some(true) => yes.last(),
            Some(false) => no.last(),
            None => None,
        };
        let ok = match (last, previous) {
            (Some(last), Some(ok)) if topic_of(last) == topic_of(&item) => ok,
            _ => allowed(topic_of(&item)),
        };
        previous = Some(ok);
        match ok {
            true => yes.push(item),
            false => no.push(item),
        }
    }
    (yes, no)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::split_by_topic;

    #[test]
    fn split_by_topic_asks_once_per_run() {
        let asked = Cell::new(0);
        let items = vec![("a", 0), ("a", 1), ("b", 0), ("b", 1), ("a", 2)];
        let (yes, no) = split_by_topic(
            items,
            |i| i.0,
            |t| {
                asked.set(asked.get() + 1);
                t == "a"
            },
        );
        assert_eq!(yes, vec![("a", 0), ("a", 1), ("a", 2)]);
        assert_eq!(no, vec![("b", 0), ("b", 1)]);
        assert_eq!(asked.get(), 3);
    }
}
