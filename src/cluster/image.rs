//! The metadata image: the state the metadata log builds, as of one log
//! offset. Immutable once published: nodes hand `Arc<MetadataImage>` to their
//! shards; the next change builds a new image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::MetadataRecord;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Raft index of the last entry applied (0: nothing yet).
    pub offset: u64,
    pub cluster_id: Option<String>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Every producer id below this has been handed out.
    pub next_producer_id: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub node_id: i32,
    pub incarnation: Uuid,
    /// Offset of the registration record.
    pub epoch: i64,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionImage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1: no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

impl MetadataImage {
    /// Applies one record found at log offset `offset`.
    pub fn apply_batch(&mut self, offset: u64, records: &[MetadataRecord]) {
        let _ = (offset, records);
        todo!()
    }

    pub fn apply(&mut self, offset: u64, record: &MetadataRecord) {
        let _ = (offset, record);
        todo!("cluster::image::apply")
    }
}
