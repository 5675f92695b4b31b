//! What a shard reads from its copy of the metadata image: who leads a
//! partition, where a broker is, whether this node serves a partition.

use kafka_protocol::error::ResponseError;

use super::Shard;
use crate::cluster::image::{BrokerRegistration, PartitionImage};

/// Why this node does not serve a partition, and where its leader is.
#[derive(Clone, Debug, PartialEq)]
pub struct NotHere {
    pub error_code: i16,
    /// The current leader (-1 when none) and its epoch, for KIP-951.
    pub leader: i32,
    pub leader_epoch: i32,
}

impl Shard {
    pub fn node_id(&self) -> i32 {
        self.identity.node_id
    }

    /// The partition's state in the image, if it exists.
    pub fn partition_state(&self, topic: &str, partition: i32) -> Option<PartitionImage> {
        let image = self.image.borrow();
        let topic = image.topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| topic.partitions.get(p))
            .cloned()
    }

    /// `Ok(leader epoch)` when this node leads the partition; else the
    /// error Kafka gives (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, or
    /// UNKNOWN_TOPIC_OR_PARTITION) and the leader to try. On the produce and
    /// fetch paths: one lookup, nothing cloned.
    pub fn check_leader(&self, topic: &str, partition: i32) -> Result<i32, NotHere> {
        let image = self.image.borrow();
        let state = image
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?));
        let Some(state) = state else {
            return Err(NotHere {
                error_code: ResponseError::UnknownTopicOrPartition.code(),
                leader: -1,
                leader_epoch: -1,
            });
        };
        if state.leader == self.node_id() {
            return Ok(state.leader_epoch);
        }
        let error = if state.leader < 0 {
            ResponseError::LeaderNotAvailable
        } else {
            ResponseError::NotLeaderOrFollower
        };
        Err(NotHere {
            error_code: error.code(),
            leader: state.leader,
            leader_epoch: state.leader_epoch,
        })
    }

    /// `check_leader`, then the client's idea of the leader epoch (-1:
    /// none) against ours, as Kafka answers: a newer epoch than ours is
    /// UNKNOWN_LEADER_EPOCH (we are behind), an older one
    /// FENCED_LEADER_EPOCH (the client is). `Ok(our epoch)` or the code.
    pub fn check_leader_epoch(
        &self,
        topic: &str,
        partition: i32,
        client_epoch: i32,
    ) -> Result<i32, i16> {
        let epoch = self
            .check_leader(topic, partition)
            .map_err(|not_here| not_here.error_code)?;
        leader_epoch_matches(epoch, client_epoch).map(|()| epoch)
    }

    /// This broker's epoch (the offset of its registration record) as the
    /// image has it, -1 before it registered: followers send it in Fetch
    /// (KIP-903), leaders in AlterPartition.
    pub fn broker_epoch(&self) -> i64 {
        let me = self.node_id();
        self.image.borrow().brokers.get(&me).map_or(-1, |b| b.epoch)
    }

    /// A registered broker's endpoint (this broker's as it listens now).
    pub fn broker(&self, node_id: i32) -> Option<BrokerRegistration> {
        let mut broker = self.image.borrow().brokers.get(&node_id).cloned()?;
        if node_id == self.node_id() {
            broker.host = self.identity.host.clone();
            broker.port = self.identity.port;
        }
        Some(broker)
    }

    /// A registered broker as a client of `listener` reaches it: its
    /// registration with host and port of that listener. None when it is
    /// not registered or has no such listener.
    pub fn broker_on(&self, node_id: i32, listener: &str) -> Option<BrokerRegistration> {
        let mut broker = self.broker(node_id)?;
        if node_id == self.node_id() {
            broker.listeners = self.identity.listeners.clone();
        }
        let (host, port) = broker.endpoint(listener)?;
        (broker.host, broker.port) = (host.to_string(), port);
        Some(broker)
    }

    /// KIP-951: the endpoints on `listener` of the leaders named in
    /// NOT_LEADER errors (ids below 0, "no leader", skipped), each once,
    /// by id.
    pub fn leader_endpoints(
        &self,
        leaders: impl IntoIterator<Item = i32>,
        listener: &str,
    ) -> Vec<BrokerRegistration> {
        let mut ids: Vec<i32> = leaders.into_iter().filter(|id| *id >= 0).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.broker_on(id, listener))
            .collect()
    }

    /// Brokers clients of `listener` may use, with that listener's
    /// endpoint: registered and unfenced, plus this one (which is
    /// answering, so reachable) while it is still joining. A broker without
    /// the listener is left out, as Kafka does.
    pub fn live_brokers(&self, listener: &str) -> Vec<(i32, String, i32, Option<String>)> {
        let image = self.image.borrow();
        let me = &self.identity;
        let rack = self.config.cluster.rack.clone();
        let mut out: Vec<_> = image
            .brokers
            .values()
            .filter(|b| !b.fenced && b.node_id != me.node_id)
            .filter_map(|b| {
                let (host, port) = b.endpoint(listener)?;
                Some((b.node_id, host.to_string(), port, b.rack.clone()))
            })
            .collect();
        // Itself as it listens now: the image may still hold the endpoint
        // of the incarnation before a restart.
        if let Some(mine) = me.listeners.iter().find(|l| l.name == listener) {
            out.push((me.node_id, mine.host.clone(), mine.port, rack));
        }
        out.sort_by_key(|b| b.0);
        out
    }

    /// The cluster id from the metadata log (the local one until then).
    pub fn cluster_id(&self) -> String {
        self.image
            .borrow()
            .cluster_id
            .clone()
            .unwrap_or_else(|| self.identity.cluster_id.clone())
    }

    /// Kafka (KRaft) names a live broker as "controller" to clients, which
    /// cannot reach the quorum: the active controller when it is a live
    /// broker, else the lowest live broker.
    pub fn controller_for_clients(&self, listener: &str) -> i32 {
        let live = self.live_brokers(listener);
        let active = self.controller_id.get();
        if live.iter().any(|b| b.0 == active) {
            return active;
        }
        live.first().map_or(-1, |b| b.0)
    }
}

/// The client's leader epoch (-1: not given) against the partition's:
/// UNKNOWN_LEADER_EPOCH when the client's is newer, FENCED_LEADER_EPOCH
/// when it is older, as Kafka answers.
pub fn leader_epoch_matches(ours: i32, client: i32) -> Result<(), i16> {
    match client {
        -1 => Ok(()),
        e if e > ours => Err(ResponseError::UnknownLeaderEpoch.code()),
        e if e < ours => Err(ResponseError::FencedLeaderEpoch.code()),
        _ => Ok(()),
    }
}
