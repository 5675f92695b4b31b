//! The metadata image: the state the metadata log builds, as of one log
//! offset. Immutable once published: nodes hand `Arc<MetadataImage>` to their
//! shards; the next change builds a new image.
//!
//! This module owns how records change the image (`apply`) and the queries
//! brokers and the controller make of it. A record that does not fit the
//! image (unknown topic, gap in partitions) is skipped with a warning: the log
//! is the truth, and a node must keep applying it whatever it holds. Its JSON
//! form is the snapshot format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::MetadataRecord;
use crate::config::dynamic::DynamicConfigState;
use crate::quota::ClientQuotaState;
use crate::security::SecurityState;

/// The leader field of a partition without one.
pub const NO_LEADER: i32 = -1;

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
    /// ACL bindings and SCRAM credentials.
    #[serde(default)]
    pub security: SecurityState,
    /// Broker, cluster-default and group configs set at run time.
    #[serde(default)]
    pub dynamic_configs: DynamicConfigState,
    /// Client quotas (user / client-id / ip entities and their values).
    #[serde(default)]
    pub client_quotas: ClientQuotaState,
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
    /// Client listeners as advertised; empty in records written before
    /// fjord had listeners (then host/port serve every client).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerEndpoint>,
}

/// One client listener of a broker, as clients are told to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerEndpoint {
    pub name: String,
    pub host: String,
    pub port: i32,
}

impl BrokerRegistration {
    /// Where a client that came in on listener `name` reaches this broker:
    /// the listener of that name, else (older registrations) host/port.
    /// None: the broker has no such listener (Kafka leaves it out).
    pub fn endpoint(&self, name: &str) -> Option<(&str, i32)> {
        if self.listeners.is_empty() {
            return Some((self.host.as_str(), self.port));
        }
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| (l.host.as_str(), l.port))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    /// Indexed by partition number.
    pub partitions: Vec<PartitionImage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1: no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// A reassignment in progress (KIP-455): replicas joining, which must
    /// all reach the ISR before it completes, and replicas leaving then.
    /// `replicas` holds both, the target ones first.
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
    /// Eligible leader replicas (KIP-966): out of the ISR, yet holding
    /// everything below the high watermark, which stopped when the ISR
    /// fell below min.insync.replicas (`elr`). Never an ISR member.
    #[serde(default)]
    pub elr: Vec<i32>,
    /// The ELR's members when ISR and ELR last both emptied: the replicas
    /// most likely to hold the most, for an operator to bring back.
    #[serde(default)]
    pub last_known_elr: Vec<i32>,
}

impl MetadataImage {
    /// Applies one record found at log offset `offset`.
    pub fn apply(&mut self, offset: u64, record: &MetadataRecord) {
        self.offset = offset;
        match record {
            MetadataRecord::ClusterId { cluster_id } => self.cluster_id = Some(cluster_id.clone()),
            MetadataRecord::RegisterBroker {
                node_id,
                incarnation,
                host,
                port,
                rack,
                listeners,
            } => {
                let registration = BrokerRegistration {
                    node_id: *node_id,
                    incarnation: *incarnation,
                    epoch: offset as i64,
                    host: host.clone(),
                    port: *port,
                    rack: rack.clone(),
                    fenced: true,
                    listeners: listeners.clone(),
                };
                self.brokers.insert(*node_id, registration);
            }
            MetadataRecord::FenceBroker { node_id, epoch } => {
                self.set_fenced(*node_id, *epoch, true)
            }
            MetadataRecord::UnfenceBroker { node_id, epoch } => {
                self.set_fenced(*node_id, *epoch, false)
            }
            MetadataRecord::UnregisterBroker { node_id } => {
                if self.brokers.remove(node_id).is_none() {
                    tracing::warn!(node_id, offset, "metadata: unregistering unknown broker");
                }
            }
            MetadataRecord::Topic { name, id } => self.add_topic(name, *id),
            MetadataRecord::TopicConfigs { id, configs } => match self.topic_by_id_mut(id) {
                Some(topic) => topic.configs = configs.clone(),
                None => tracing::warn!(%id, offset, "metadata: configs for unknown topic"),
            },
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
                elr,
                last_known_elr,
            } => {
                let image = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                    elr: elr.clone(),
                    last_known_elr: last_known_elr.clone(),
                };
                self.set_partition(topic_id, *partition, image);
            }
            MetadataRecord::RemoveTopic { id } => {
                let before = self.topics.len();
                self.topics.retain(|_, t| t.id != *id);
                if self.topics.len() == before {
                    tracing::warn!(%id, offset, "metadata: removing unknown topic");
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => self.next_producer_id = self.next_producer_id.max(*next_producer_id),
            MetadataRecord::AddAcl { binding } => self.security.add_acl(binding.clone()),
            MetadataRecord::RemoveAcl { binding } => {
                if !self.security.remove_acl(binding) {
                    tracing::warn!(?binding, offset, "metadata: removing unknown ACL");
                }
            }
            MetadataRecord::ScramCredential { user, credential } => {
                self.security.upsert_credential(user, credential.clone())
            }
            MetadataRecord::RemoveScramCredential { user, mechanism } => {
                if !self.security.delete_credential(user, *mechanism) {
                    tracing::warn!(
                        user,
                        mechanism,
                        offset,
                        "metadata: removing unknown credential"
                    );
                }
            }
            MetadataRecord::DynamicConfigs { target, configs } => {
                self.dynamic_configs.set(target, configs.clone())
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                self.client_quotas.set(entity, key, *value)
            }
        }
    }

    /// Applies one raft entry's records, all found at log offset `offset`.
    /// An entry without records still advances the offset.
    pub fn apply_batch(&mut self, offset: u64, records: &[MetadataRecord]) {
        self.offset = offset;
        for record in records {
            self.apply(offset, record);
        }
    }

    /// The snapshot form of the image.
    pub fn to_snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata images always serialize")
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<MetadataImage, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("metadata snapshot: {e}"))
    }

    /// A partition of a topic, with its topic.
    pub fn topic_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<(&TopicImage, &PartitionImage)> {
        let t = self.topic(topic)?;
        Some((t, t.partition(partition)?))
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topics.values().find(|t| t.id == *id)
    }

    /// Registered, unfenced brokers, by node id.
    pub fn live_brokers(&self) -> Vec<&BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced).collect()
    }

    /// Whether `node_id` is registered and unfenced.
    pub fn is_live(&self, node_id: i32) -> bool {
        self.brokers.get(&node_id).is_some_and(|b| !b.fenced)
    }

    /// Where clients reach broker `node_id` (fenced or not): its host and
    /// port as registered.
    pub fn leader_endpoint(&self, node_id: i32) -> Option<(&str, i32)> {
        let broker = self.brokers.get(&node_id)?;
        Some((broker.host.as_str(), broker.port))
    }

    fn topic_by_id_mut(&mut self, id: &Uuid) -> Option<&mut TopicImage> {
        self.topics.values_mut().find(|t| t.id == *id)
    }

    /// Fences or unfences the registration at `epoch`; a record for an
    /// earlier registration (a stale epoch) changes nothing.
    fn set_fenced(&mut self, node_id: i32, epoch: i64, fenced: bool) {
        match self.brokers.get_mut(&node_id) {
            Some(broker) if broker.epoch == epoch => broker.fenced = fenced,
            Some(broker) => tracing::debug!(
                node_id,
                epoch,
                current = broker.epoch,
                fenced,
                "metadata: fence change for an earlier registration, ignored"
            ),
            None => tracing::warn!(
                node_id,
                epoch,
                fenced,
                "metadata: fence change for unknown broker"
            ),
        }
    }

    fn add_topic(&mut self, name: &str, id: Uuid) {
        if self.topics.contains_key(name) || self.topic_by_id(&id).is_some() {
            tracing::warn!(topic = name, %id, offset = self.offset, "metadata: topic exists, record ignored");
            return;
        }
        let topic = TopicImage {
            name: name.to_string(),
            id,
            configs: BTreeMap::new(),
            partitions: Vec::new(),
        };
        self.topics.insert(name.to_string(), topic);
    }

    /// Replaces partition `partition`, or appends it if it is the next one.
    fn set_partition(&mut self, topic_id: &Uuid, partition: i32, image: PartitionImage) {
        let offset = self.offset;
        let Some(topic) = self.topic_by_id_mut(topic_id) else {
            tracing::warn!(%topic_id, partition, offset, "metadata: partition of unknown topic");
            return;
        };
        let count = topic.partitions.len();
        match usize::try_from(partition) {
            Ok(p) if p < count => topic.partitions[p] = image,
            Ok(p) if p == count => topic.partitions.push(image),
            _ => tracing::warn!(
                topic = topic.name,
                partition,
                count,
                offset,
                "metadata: partition out of order, record ignored"
            ),
        }
    }
}

impl PartitionImage {
    /// Whether a reassignment is moving its replicas.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas it has, or will have once its reassignment completes:
    /// `replicas` without the leaving ones, in order.
    pub fn target_replicas(&self) -> Vec<i32> {
        let staying = self.replicas.iter().copied();
        staying
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }
}

impl TopicImage {
    /// Replicas per partition (of partition 0, as its reassignment will
    /// leave it; 0 for a topic without any).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| {
            p.replicas.len() - p.removing_replicas.len().min(p.replicas.len())
        })
    }

    pub fn partition(&self, partition: i32) -> Option<&PartitionImage> {
        self.partitions.get(usize::try_from(partition).ok()?)
    }
}
