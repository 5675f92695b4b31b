//! FindCoordinator: a group's coordinator is the broker leading its
//! `__consumer_offsets` partition (v0–3: one key; v4+: a batch). The first
//! request creates `__consumer_offsets`, as Kafka does (replication factor
//! offsets.topic.replication.factor, at most the live brokers).
//! Transactions are not supported: their keys get an error. A key needs
//! DESCRIBE on its group (GROUP_AUTHORIZATION_FAILED) or transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as in Kafka.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use crate::group::OFFSETS_TOPIC;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const KEY_TYPE_SHARE: i8 = 2;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys = match version >= 4 {
        true => request.coordinator_keys,
        false => vec![request.key],
    };
    let denials: Vec<Option<E>> = keys
        .iter()
        .map(|key| denial(shard, session, request.key_type, key))
        .collect();
    // Only an authorized key may create __consumer_offsets.
    let ready = match request.key_type {
        KEY_TYPE_GROUP if denials.iter().any(Option::is_none) => ensure_offsets_topic(shard).await,
        KEY_TYPE_GROUP => Ok(()),
        _ => Err(E::CoordinatorNotAvailable),
    };
    let answer = |(key, denied): (StrBytes, Option<E>)| {
        let coordinator = match denied {
            Some(error) => Err(error),
            None => ready.and_then(|()| coordinator_of(shard, key.as_str(), &session.listener)),
        };
        let error = coordinator.as_ref().err().copied();
        let message = match (error, request.key_type) {
            (None, _) => None,
            (Some(e), _) if denied.is_some() => Some(authorize::message(e)),
            (Some(_), KEY_TYPE_GROUP) => Some("group coordinator not ready"),
            (Some(_), _) => Some("transactions are not supported"),
        };
        let mut c = Coordinator::default()
            .with_key(key)
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_error_message(message.map(StrBytes::from_static_str));
        match coordinator {
            Ok((node, host, port)) => {
                c = c
                    .with_node_id(BrokerId(node))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port);
            }
            Err(_) => c = c.with_node_id(BrokerId(-1)).with_port(-1),
        }
        c
    };
    let mut coordinators = keys.into_iter().zip(denials).map(answer);
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(coordinators.collect());
    }
    let c = coordinators.next().unwrap_or_default();
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if version >= 1 {
        response = response.with_error_message(c.error_message);
    }
    response
}

/// Kafka's check of a key: DESCRIBE on the group, on the transactional id,
/// or (share groups) CLUSTER_ACTION on the cluster.
fn denial(shard: &Shard, session: &Session, key_type: i8, key: &str) -> Option<E> {
    let (allowed, error) = match key_type {
        KEY_TYPE_GROUP => (
            authorize::group(shard, session, operation::DESCRIBE, key),
            E::GroupAuthorizationFailed,
        ),
        KEY_TYPE_TRANSACTION => (
            shard.authorize(
                session,
                operation::DESCRIBE,
                resource::TRANSACTIONAL_ID,
                key,
            ),
            E::TransactionalIdAuthorizationFailed,
        ),
        KEY_TYPE_SHARE => (
            authorize::cluster(shard, session, operation::CLUSTER_ACTION),
            E::ClusterAuthorizationFailed,
        ),
        _ => (true, E::UnknownServerError),
    };
    (!allowed).then_some(error)
}

/// The live broker leading the group's `__consumer_offsets` partition.
fn coordinator_of(shard: &Shard, group_id: &str, listener: &str) -> Result<(i32, String, i32), E> {
    let partition =
        crate::group::route::group_partition(shard, group_id).ok_or(E::CoordinatorNotAvailable)?;
    let leader = shard
        .partition_state(OFFSETS_TOPIC, partition)
        .map(|p| p.leader)
        .ok_or(E::CoordinatorNotAvailable)?;
    let me = &shard.identity;
    match shard.broker_on(leader, listener) {
        Some(b) if !b.fenced => Ok((b.node_id, b.host, b.port)),
        _ if leader == me.node_id => match me.listeners.iter().find(|l| l.name == listener) {
            Some(mine) => Ok((me.node_id, mine.host.clone(), mine.port)),
            None => Err(E::CoordinatorNotAvailable),
        },
        _ => Err(E::CoordinatorNotAvailable),
    }
}

/// offsets.topic.replication.factor, capped (as Kafka's auto-creation
/// does) at the live brokers this node's image knows: a young cluster gets
/// its coordinator now rather than once enough brokers have joined.
fn offsets_replication_factor(shard: &Shard) -> i16 {
    let live = shard.image.borrow().live_brokers().len();
    let live = i16::try_from(live).unwrap_or(i16::MAX).max(1);
    shard
        .config
        .group
        .offsets_topic_replication_factor
        .clamp(1, live)
}

/// Creates `__consumer_offsets` (offsets.topic.num.partitions and
/// .replication.factor) if missing.
async fn ensure_offsets_topic(shard: &Rc<Shard>) -> Result<(), E> {
    if shard.topics.borrow().get(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    let request = ShardRequest::CreateTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: shard.config.group.offsets_topic_partitions,
        replication_factor: offsets_replication_factor(shard),
        assignments: Vec::new(),
        validate_only: false,
        // Kafka's settings for this topic: compacted, and commits are small.
        configs: [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "104857600"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    // TOPIC_ALREADY_EXISTS comes only once the other create reached every
    // shard (the controller waits for it), so the topic is known here too.
    match router::to_controller(shard, request).await {
        Some(ShardResponse::TopicCreated(code, _, _))
            if code == 0 || code == E::TopicAlreadyExists.code() =>
        {
            Ok(())
        }
        _ => Err(E::CoordinatorNotAvailable),
    }
}
