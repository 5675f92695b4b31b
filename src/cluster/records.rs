//! The metadata log's records. Every cluster-wide fact is one of these; a
//! raft entry carries one batch of them, applied atomically and in order
//! (`image::MetadataImage::apply`). Encoded as JSON: the log is small and
//! an operator can read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::dynamic::Target;
use crate::quota::entity::QuotaEntity;
use crate::security::acl::AclBinding;
use crate::security::scram::ScramCredential;

/// One fact in the metadata log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The first record of every cluster's log.
    ClusterId {
        cluster_id: String,
    },
    /// A broker (re)registers. The broker epoch is the log offset of this
    /// record. Brokers register fenced and are unfenced once caught up.
    RegisterBroker {
        node_id: i32,
        incarnation: Uuid,
        host: String,
        port: i32,
        rack: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        listeners: Vec<super::image::ListenerEndpoint>,
    },
    /// No leadership, no client traffic (missed heartbeats, closed
    /// connection, or a controlled shutdown).
    FenceBroker {
        node_id: i32,
        epoch: i64,
    },
    UnfenceBroker {
        node_id: i32,
        epoch: i64,
    },
    UnregisterBroker {
        node_id: i32,
    },
    /// A new topic; its partitions follow as `Partition` records.
    Topic {
        name: String,
        id: Uuid,
    },
    /// Replaces the topic's config overrides.
    TopicConfigs {
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// A partition's whole state (new partition or any change to it).
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// A reassignment in progress (absent in logs from before them).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
        /// Eligible leader replicas and the last known ones (KIP-966;
        /// absent in logs from before them, and when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        elr: Vec<i32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        last_known_elr: Vec<i32>,
    },
    RemoveTopic {
        id: Uuid,
    },
    /// Producer ids below `next_producer_id` are handed out: the block
    /// `[next_producer_id - size, next_producer_id)` went to `node_id`.
    ProducerIds {
        node_id: i32,
        next_producer_id: i64,
    },
    /// An ACL binding, keyed by itself (already present: no change).
    AddAcl {
        binding: AclBinding,
    },
    RemoveAcl {
        binding: AclBinding,
    },
    /// A user's credential for one mechanism, new or replacing the one it
    /// had: salt, iterations and the derived keys, never a password.
    ScramCredential {
        user: String,
        credential: ScramCredential,
    },
    RemoveScramCredential {
        user: String,
        mechanism: i8,
    },
    /// Replaces a broker's, the cluster default's or a group's dynamic
    /// configs (empty: none).
    DynamicConfigs {
        target: Target,
        configs: BTreeMap<String, String>,
    },
    /// A client quota set (`value`) or removed (`None`), as Kafka's
    /// `ClientQuotaRecord`.
    ClientQuota {
        entity: QuotaEntity,
        key: String,
        #[serde(default)]
        value: Option<f64>,
    },
}

/// One raft entry's worth of records.
pub type RecordBatch = Vec<MetadataRecord>;

pub fn encode(batch: &[MetadataRecord]) -> Vec<u8> {
    serde_json::to_vec(batch).expect("metadata records always serialize")
}

pub fn decode(bytes: &[u8]) -> Result<RecordBatch, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("metadata record batch: {e}"))
}

/// A raft entry: the proposer's nonce (8 bytes, big-endian), then the
/// batch. The nonce is how a proposer recognises its entry when it commits
/// — at whatever index and in whatever term that turns out to be.
pub fn encode_entry(nonce: u64, batch: &[MetadataRecord]) -> Vec<u8> {
    let mut out = nonce.to_be_bytes().to_vec();
    out.extend_from_slice(&encode(batch));
    out
}

/// (nonce, batch) of a raft entry written by `encode_entry`.
pub fn decode_entry(bytes: &[u8]) -> Result<(u64, RecordBatch), String> {
    let Some((nonce, batch)) = bytes.split_first_chunk::<8>() else {
        return Err(format!("metadata entry of {} bytes", bytes.len()));
    };
    Ok((u64::from_be_bytes(*nonce), decode(batch)?))
}
