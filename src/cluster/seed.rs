//! The records that start a metadata log: the cluster id and, when a
//! single-node fjord's data dir becomes a one-node cluster, everything that
//! node kept outside any log (topics with their ids and configs, the
//! producer-id high mark, ACLs, SCRAM credentials, dynamic configs), so
//! nothing is lost in the upgrade. Pure: the legacy state in, records out.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::node::LegacyState;
use super::records::MetadataRecord;
use super::security_commands;
use crate::security::scram::ScramCredential;

/// The first record of every cluster's log.
pub fn bootstrap(cluster_id: String) -> Vec<MetadataRecord> {
    vec![MetadataRecord::ClusterId { cluster_id }]
}

/// A new log's first entry, written by its first active controller
/// (`node_id`). Only a sole voter carries a single-node data dir's state
/// over; a new multi-node cluster starts empty with a fresh id. Either
/// starts with the `--add-scram` credentials (`scram`), as Kafka's
/// bootstrap records do, so the first admin exists before any broker
/// registers and so before any client can connect.
pub fn first_entry(
    legacy: &LegacyState,
    scram: &[(String, ScramCredential)],
    sole_voter: bool,
    node_id: i32,
) -> Vec<MetadataRecord> {
    let cluster_id = legacy
        .cluster_id
        .clone()
        .filter(|_| sole_voter)
        .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
    let mut records = bootstrap(cluster_id);
    records.extend(
        scram
            .iter()
            .map(|(user, credential)| MetadataRecord::ScramCredential {
                user: user.clone(),
                credential: credential.clone(),
            }),
    );
    if !sole_voter {
        return records;
    }
    for (name, id, partitions, configs) in &legacy.topics {
        records.extend(seed_topic(name, *id, *partitions, configs, node_id));
    }
    if legacy.next_producer_id > 0 {
        records.push(MetadataRecord::ProducerIds {
            node_id,
            next_producer_id: legacy.next_producer_id,
        });
    }
    records.extend(security_commands::seed(
        &legacy.security,
        &legacy.dynamic_configs,
    ));
    records
}

/// The records of a topic that exists on a single node (`node_id`), kept
/// with its id and configs when that node's data dir joins the cluster log.
pub fn seed_topic(
    name: &str,
    id: Uuid,
    partitions: i32,
    configs: &BTreeMap<String, String>,
    node_id: i32,
) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::Topic {
        name: name.to_string(),
        id,
    }];
    if !configs.is_empty() {
        records.push(MetadataRecord::TopicConfigs {
            id,
            configs: configs.clone(),
        });
    }
    records.extend((0..partitions).map(|partition| MetadataRecord::Partition {
        topic_id: id,
        partition,
        replicas: vec![node_id],
        isr: vec![node_id],
        leader: node_id,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    }));
    records
}
