//! Broker liveness on the active controller: heartbeat times (soft state,
//! lost with leadership, as in KRaft) and the fence / unfence records they
//! lead to. Sans-IO: times come in as milliseconds.
//!
//! This module owns Kafka's broker lifecycle (`BrokerHeartbeatManager`,
//! `ClusterControlManager`): a broker registers fenced, is unfenced by the
//! first heartbeat showing it has caught up with the log to its registration,
//! and is fenced again when its session expires, its connection closes, or
//! it asks to shut down. Fencing and unfencing carry the partition changes
//! they cause (`partition_change`). A change issued but not yet in the image
//! is remembered, so the same broker is not fenced (or unfenced) twice.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;

use super::commands::{Defaults, Refusal};
use super::image::MetadataImage;
use super::partition_change;
use super::records::MetadataRecord;

/// How long an issued fence or unfence may stay out of the image before it
/// is presumed lost (its proposal dropped) and may be issued again.
pub const PENDING_RETRY_MS: u64 = 5_000;

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatReply {
    pub is_fenced: bool,
    /// Controlled shutdown may proceed: the broker leads nothing.
    pub should_shut_down: bool,
}

/// A fence (`fenced`) or unfence issued for a registration, not yet applied.
#[derive(Clone, Copy, Debug)]
struct Pending {
    epoch: i64,
    fenced: bool,
    since_ms: u64,
}

#[derive(Default, Debug)]
pub struct Registry {
    /// Election settings of topics without their own.
    defaults: Defaults,
    last_heartbeat_ms: HashMap<i32, u64>,
    pending: HashMap<i32, Pending>,
    /// The latest time any call brought.
    now_ms: u64,
}

impl Registry {
    /// A registry whose fencing and unfencing follow `defaults`
    /// (unclean.leader.election.enable, min.insync.replicas) for topics
    /// without their own settings.
    pub fn new(defaults: Defaults) -> Registry {
        Registry {
            defaults,
            ..Registry::default()
        }
    }

    /// A heartbeat from `node_id` at broker epoch `epoch` whose image has
    /// applied up to `metadata_offset`.
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        node_id: i32,
        epoch: i64,
        metadata_offset: u64,
        want_shutdown: bool,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, HeartbeatReply), Refusal> {
        let Some(broker) = image.brokers.get(&node_id).filter(|b| b.epoch == epoch) else {
            let msg = match image.brokers.get(&node_id) {
                Some(b) => format!(
                    "Expected broker epoch {}, but got broker epoch {epoch}.",
                    b.epoch
                ),
                None => format!("No broker registration found for broker {node_id}."),
            };
            return Err(Refusal::new(ResponseError::StaleBrokerEpoch, msg));
        };
        self.tick(image, now_ms);
        self.last_heartbeat_ms.insert(node_id, now_ms);
        let reply = |is_fenced, should_shut_down| HeartbeatReply {
            is_fenced,
            should_shut_down,
        };
        if broker.fenced {
            let caught_up = u64::try_from(epoch).is_ok_and(|e| metadata_offset >= e);
            if want_shutdown || !caught_up || self.is_pending(node_id, epoch, false) {
                return Ok((Vec::new(), reply(true, want_shutdown)));
            }
            self.mark(node_id, epoch, false);
            return Ok((
                unfence_records(image, node_id, epoch, &self.defaults),
                reply(false, false),
            ));
        }
        // Unfenced; a shutdown already under way waits for its records.
        if !want_shutdown || self.is_pending(node_id, epoch, true) {
            return Ok((Vec::new(), reply(false, false)));
        }
        self.mark(node_id, epoch, true);
        Ok((
            fence_records(image, node_id, epoch, &self.defaults),
            reply(true, true),
        ))
    }

    /// Fence records for brokers silent longer than `session_timeout_ms`.
    pub fn expire(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        session_timeout_ms: u64,
    ) -> Vec<MetadataRecord> {
        self.tick(image, now_ms);
        let mut silent = Vec::new();
        for broker in image.brokers.values().filter(|b| !b.fenced) {
            // A broker first seen now (registered since `reset`) starts now.
            let last = *self
                .last_heartbeat_ms
                .entry(broker.node_id)
                .or_insert(now_ms);
            let expired = now_ms.saturating_sub(last) > session_timeout_ms;
            if expired && !self.is_pending(broker.node_id, broker.epoch, true) {
                tracing::info!(
                    node_id = broker.node_id,
                    silent_ms = now_ms - last,
                    "broker session expired: fencing"
                );
                silent.push((broker.node_id, broker.epoch));
            }
        }
        self.fence_all(image, &silent)
    }

    /// Fence records for brokers whose process refuses connections (its
    /// controller port: `refused`) and that have been silent for longer than
    /// `grace_ms`. A new active controller gives every broker a fresh
    /// session; without this, a combined node that died with the old
    /// controller would keep its leaderships for a whole session timeout.
    /// A live broker reconnects and heartbeats within one interval.
    pub fn expire_refused(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        grace_ms: u64,
        refused: impl Fn(i32) -> bool,
    ) -> Vec<MetadataRecord> {
        self.tick(image, now_ms);
        let mut dead = Vec::new();
        for broker in image.brokers.values().filter(|b| !b.fenced) {
            let last = self
                .last_heartbeat_ms
                .get(&broker.node_id)
                .copied()
                .unwrap_or(now_ms);
            let silent = now_ms.saturating_sub(last) > grace_ms;
            if silent
                && refused(broker.node_id)
                && !self.is_pending(broker.node_id, broker.epoch, true)
            {
                tracing::info!(
                    node_id = broker.node_id,
                    "broker's node refuses connections: fencing"
                );
                dead.push((broker.node_id, broker.epoch));
            }
        }
        self.fence_all(image, &dead)
    }

    /// The controller saw `node_id`'s connection close: fence it now.
    pub fn connection_closed(
        &mut self,
        image: &MetadataImage,
        node_id: i32,
    ) -> Vec<MetadataRecord> {
        self.tick(image, self.now_ms);
        match image.brokers.get(&node_id) {
            Some(b) if !b.fenced && !self.is_pending(node_id, b.epoch, true) => {
                self.fence_all(image, &[(node_id, b.epoch)])
            }
            _ => Vec::new(),
        }
    }

    /// Leadership gained: every registered broker gets a fresh session.
    pub fn reset(&mut self, image: &MetadataImage, now_ms: u64) {
        self.last_heartbeat_ms = image.brokers.keys().map(|id| (*id, now_ms)).collect();
        self.pending.clear();
        self.now_ms = now_ms;
    }

    /// Moves the clock on and forgets pending changes the image now shows
    /// (or that no longer apply: the broker re-registered or left).
    fn tick(&mut self, image: &MetadataImage, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.pending.retain(|node_id, p| {
            image
                .brokers
                .get(node_id)
                .is_some_and(|b| b.epoch == p.epoch && b.fenced != p.fenced)
        });
    }

    /// Whether the same change is already out and not yet presumed lost.
    fn is_pending(&self, node_id: i32, epoch: i64, fenced: bool) -> bool {
        self.pending.get(&node_id).is_some_and(|p| {
            p.epoch == epoch
                && p.fenced == fenced
                && self.now_ms.saturating_sub(p.since_ms) < PENDING_RETRY_MS
        })
    }

    fn mark(&mut self, node_id: i32, epoch: i64, fenced: bool) {
        let since_ms = self.now_ms;
        let pending = Pending {
            epoch,
            fenced,
            since_ms,
        };
        self.pending.insert(node_id, pending);
    }

    /// Fence records for each (node id, epoch), each broker's partition
    /// changes made against the image with the ones before it fenced.
    fn fence_all(&mut self, image: &MetadataImage, brokers: &[(i32, i64)]) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        let mut scratch;
        let mut current = image;
        for &(node_id, epoch) in brokers {
            let fence = fence_records(current, node_id, epoch, &self.defaults);
            self.mark(node_id, epoch, true);
            if brokers.len() > 1 {
                scratch = current.clone();
                scratch.apply_batch(image.offset, &fence);
                current = &scratch;
            }
            records.extend(fence);
        }
        records
    }
}

/// `node_id` fenced: the record, then its leaderships moved and its ISR
/// memberships dropped.
pub fn fence_records(
    image: &MetadataImage,
    node_id: i32,
    epoch: i64,
    defaults: &Defaults,
) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::FenceBroker { node_id, epoch }];
    records.extend(partition_change::on_fence(image, node_id, defaults));
    records
}

/// `node_id` unfenced: the record, then leaders for the leaderless
/// partitions whose ISR or ELR holds it (or, unclean, whose replicas do).
pub fn unfence_records(
    image: &MetadataImage,
    node_id: i32,
    epoch: i64,
    defaults: &Defaults,
) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::UnfenceBroker { node_id, epoch }];
    records.extend(partition_change::on_unfence(image, node_id, defaults));
    records
}
