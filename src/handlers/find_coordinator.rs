//! FindCoordinator: a group's coordinator is the broker leading its
//! `__consumer_offsets` partition, a transactional id's the one leading its
//! `__transaction_state` partition (v0–3: one key; v4+: a batch). The first
//! request creates the topic, as Kafka does (replication factor
//! offsets.topic.replication.factor or
//! transaction.state.log.replication.factor, at most the live brokers).
//! Share groups are not supported: their keys get an error. A key needs
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
use crate::txn::TRANSACTION_STATE_TOPIC;

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
    // Only an authorized key may create the topic.
    let wanted = denials.iter().any(Option::is_none);
    let ready = match request.key_type {
        KEY_TYPE_GROUP if wanted => ensure_topic(shard, offsets_topic(shard)).await,
        KEY_TYPE_TRANSACTION if wanted => ensure_topic(shard, transaction_topic(shard)).await,
        KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION => Ok(()),
        _ => Err(E::CoordinatorNotAvailable),
    };
    let key_type = request.key_type;
    let answer = |(key, denied): (StrBytes, Option<E>)| {
        let coordinator = match denied {
            Some(error) => Err(error),
            None => ready
                .and_then(|()| coordinator_of(shard, key_type, key.as_str(), &session.listener)),
        };
        let error = coordinator.as_ref().err().copied();
        let message = match (error, request.key_type) {
            (None, _) => None,
            (Some(e), _) if denied.is_some() => Some(authorize::message(e)),
            (Some(_), KEY_TYPE_GROUP) => Some("group coordinator not ready"),
            (Some(_), KEY_TYPE_TRANSACTION) => Some("transaction coordinator not ready"),
            (Some(_), _) => Some("share groups are not supported"),
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

/// The live broker leading the key's partition of its coordinator topic.
fn coordinator_of(
    shard: &Shard,
    key_type: i8,
    key: &str,
    listener: &str,
) -> Result<(i32, String, i32), E> {
    let (topic, partition) = match key_type {
        KEY_TYPE_TRANSACTION => {
            let count = shard.config.transactions.log_partitions;
            (
                TRANSACTION_STATE_TOPIC,
                crate::txn::partition_for(key, count),
            )
        }
        _ => {
            let partition = crate::group::route::group_partition(shard, key)
                .ok_or(E::CoordinatorNotAvailable)?;
            (OFFSETS_TOPIC, partition)
        }
    };
    let leader = shard
        .partition_state(topic, partition)
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

/// A coordinator topic as Kafka creates it on first use.
struct InternalTopic {
    name: &'static str,
    partitions: i32,
    /// Wanted; capped (as Kafka's auto-creation does) at the live brokers
    /// this node's image knows, so a young cluster gets its coordinator now
    /// rather than once enough brokers have joined.
    replication_factor: i16,
    configs: Vec<(&'static str, String)>,
}

fn offsets_topic(shard: &Shard) -> InternalTopic {
    let group = &shard.config.group;
    InternalTopic {
        name: OFFSETS_TOPIC,
        partitions: group.offsets_topic_partitions,
        replication_factor: group.offsets_topic_replication_factor,
        // Kafka's settings for this topic: compacted, and commits are small.
        configs: vec![
            ("cleanup.policy", "compact".into()),
            ("segment.bytes", "104857600".into()),
        ],
    }
}

fn transaction_topic(shard: &Shard) -> InternalTopic {
    let t = &shard.config.transactions;
    InternalTopic {
        name: TRANSACTION_STATE_TOPIC,
        partitions: t.log_partitions,
        replication_factor: t.log_replication_factor,
        configs: vec![
            ("cleanup.policy", "compact".into()),
            ("segment.bytes", t.log_segment_bytes.to_string()),
            ("min.insync.replicas", t.log_min_isr.to_string()),
        ],
    }
}

/// Creates `topic` if missing.
async fn ensure_topic(shard: &Rc<Shard>, topic: InternalTopic) -> Result<(), E> {
    if shard.topics.borrow().get(topic.name).is_some() {
        return Ok(());
    }
    let live = shard.image.borrow().live_brokers().len();
    let live = i16::try_from(live).unwrap_or(i16::MAX).max(1);
    let replication_factor = topic.replication_factor.clamp(1, live);
    let mut configs: std::collections::BTreeMap<String, String> = topic
        .configs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // min.insync.replicas above the replication factor would refuse every
    // write; Kafka caps it the same way for a small cluster.
    if let Some(min_isr) = configs.get_mut("min.insync.replicas") {
        let capped = min_isr
            .parse::<i16>()
            .unwrap_or(1)
            .clamp(1, replication_factor);
        *min_isr = capped.to_string();
    }
    let request = ShardRequest::CreateTopic {
        name: topic.name.to_string(),
        partitions: topic.partitions,
        replication_factor,
        assignments: Vec::new(),
        validate_only: false,
        configs,
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
