//! Broker liveness on the active controller: heartbeat times (soft state,
//! lost with leadership, as in KRaft) and the fence / unfence records they
//! lead to. Sans-IO: times come in as milliseconds.

use std::collections::HashMap;

use super::commands::Refusal;
use super::image::MetadataImage;
use super::records::MetadataRecord;

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatReply {
    pub is_fenced: bool,
    /// Controlled shutdown may proceed: the broker leads nothing.
    pub should_shut_down: bool,
}

#[derive(Default, Debug)]
pub struct Registry {
    last_heartbeat_ms: HashMap<i32, u64>,
}

impl Registry {
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
        let _ = (
            image,
            node_id,
            epoch,
            metadata_offset,
            want_shutdown,
            now_ms,
        );
        todo!("cluster::registry::heartbeat")
    }

    /// Fence records for brokers silent longer than `session_timeout_ms`.
    pub fn expire(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        session_timeout_ms: u64,
    ) -> Vec<MetadataRecord> {
        let _ = (image, now_ms, session_timeout_ms);
        todo!("cluster::registry::expire")
    }

    /// The controller saw `node_id`'s connection close: fence it now.
    pub fn connection_closed(
        &mut self,
        image: &MetadataImage,
        node_id: i32,
    ) -> Vec<MetadataRecord> {
        let _ = (image, node_id);
        todo!("cluster::registry::connection_closed")
    }

    /// Leadership gained: every registered broker gets a fresh session.
    pub fn reset(&mut self, image: &MetadataImage, now_ms: u64) {
        self.last_heartbeat_ms = image.brokers.keys().map(|id| (*id, now_ms)).collect();
    }
}
