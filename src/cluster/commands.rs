//! The active controller's request handling, sans-IO: a command and the
//! current image in, the records to commit and the reply out. Nothing
//! changes until the records are committed and applied (`image`), so the
//! same code runs for every controller and a lost leadership loses nothing.
//!
//! This module owns the validation of topic and broker requests (Kafka's
//! `ReplicationControlManager`, `ClusterControlManager` and
//! `ProducerIdControlManager` checks, with their error codes and messages)
//! and the records each accepted request becomes. ACL, SCRAM and
//! dynamic-config commands are planned by `security_commands`, client
//! quotas by `quota_commands`, ISR changes by `partition_commands`,
//! elections by `elections`, reassignments by `reassignment`. Any input
//! gives a plan or a refusal, never a panic.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::elections::{self, ElectionResult};
use super::image::{ListenerEndpoint, MetadataImage, PartitionImage, TopicImage};
use super::partition_change;
use super::partition_commands;
use super::placement::{self, Candidate};
use super::quota_commands::{self, ClientQuotasCommand};
use super::reassignment;
use super::records::MetadataRecord;
use super::security_commands::{self, DynamicConfigsCommand, SecurityCommand};
use crate::config::topic as topic_config;
use crate::config::topic::valid_topic_name;
use crate::security::state::AclMatches;
use crate::security::Outcome;

/// Producer ids handed to a broker at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// Most partitions one request may create (Kafka's limit of records per
/// user operation, `QuorumController.MAX_RECORDS_PER_USER_OP`).
pub const MAX_PARTITIONS_PER_REQUEST: usize = 10_000;

/// Broker settings the controller needs to fill in defaults.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Defaults {
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    /// unclean.leader.election.enable of topics without their own.
    #[serde(default)]
    pub unclean_leader_election: bool,
    /// min.insync.replicas of topics without their own (0 counts as 1).
    #[serde(default)]
    pub min_insync_replicas: i32,
}

/// A change asked of the active controller (from any broker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateTopic {
        name: String,
        /// -1: num.partitions (ignored when `assignments` is given).
        partitions: i32,
        /// -1: default.replication.factor (ignored with `assignments`).
        replication_factor: i16,
        /// Explicit replicas per partition 0..n, or empty to place them.
        assignments: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// Replicas of each new partition, or empty to place them.
        assignments: Vec<Vec<i32>>,
        validate_only: bool,
    },
    /// Replaces the topic's overrides with `configs`.
    AlterTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    RegisterBroker {
        node_id: i32,
        incarnation: Uuid,
        host: String,
        port: i32,
        rack: Option<String>,
        /// Every client listener as advertised (Metadata answers with the
        /// one a client came in on); host/port above are the inter-broker one.
        listeners: Vec<ListenerEndpoint>,
    },
    AllocateProducerIds {
        node_id: i32,
    },
    /// ACLs and SCRAM credentials (`security_commands`).
    Security(SecurityCommand),
    /// Broker, cluster-default and group dynamic configs.
    DynamicConfigs(DynamicConfigsCommand),
    ClientQuotas(ClientQuotasCommand),
    /// A partition leader's ISR change (`partition_commands`).
    AlterPartition {
        broker_id: i32,
        broker_epoch: i64,
        topic_id: Uuid,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// (replica, its broker epoch or -1 when unknown).
        new_isr: Vec<(i32, i64)>,
    },
    /// ElectLeaders (`elections`): 0 PREFERRED, 1 UNCLEAN; `None`: every
    /// partition.
    ElectLeaders {
        election_type: i8,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// (topic, partition, target replicas or `None` to cancel).
    AlterPartitionReassignments {
        reassignments: Vec<(String, i32, Option<Vec<i32>>)>,
    },
}

/// What a committed command answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    TopicCreated {
        id: Uuid,
        partitions: i32,
        replication_factor: i16,
    },
    TopicDeleted {
        id: Uuid,
    },
    Done,
    /// The broker epoch is the offset of the registration record, which
    /// only the committer knows: the driver fills it in.
    Registered,
    /// Ids `[first, first + size)`.
    ProducerIds {
        first: i64,
        size: i64,
    },
    /// One outcome per binding, in request order.
    AclsCreated(Vec<Outcome>),
    /// Per filter: the bindings it matched (and removed), or why not.
    AclsDeleted(Vec<AclMatches>),
    /// One (user, outcome) per distinct user altered.
    ScramAltered(Vec<(String, Outcome)>),
    /// One (entity, outcome) per distinct entity, in request order.
    QuotasAltered(Vec<(crate::quota::admin::RawEntity, Outcome)>),
    /// The partition's state after an AlterPartition.
    PartitionAltered {
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    /// One result per partition, in request order.
    LeadersElected(Vec<ElectionResult>),
    /// One result per reassignment, in request order.
    ReassignmentsAltered(Vec<ElectionResult>),
}

/// A refusal: Kafka error code and message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: i16,
    pub message: String,
}

impl Refusal {
    pub fn new(error: ResponseError, message: impl Into<String>) -> Refusal {
        Refusal {
            code: error.code(),
            message: message.into(),
        }
    }
}

/// Records to commit (possibly none) and the reply once they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub records: Vec<MetadataRecord>,
    pub reply: Reply,
}

pub fn plan(
    image: &MetadataImage,
    defaults: &Defaults,
    command: &Command,
) -> Result<Plan, Refusal> {
    match command {
        Command::CreateTopic {
            name,
            partitions,
            replication_factor,
            assignments,
            configs,
            validate_only,
        } => {
            let topic = NewTopic {
                name,
                partitions: *partitions,
                replication_factor: *replication_factor,
                assignments,
                configs,
            };
            validated(create_topic(image, defaults, &topic)?, *validate_only)
        }
        Command::DeleteTopic { name } => delete_topic(image, name),
        Command::CreatePartitions {
            name,
            count,
            assignments,
            validate_only,
        } => validated(
            create_partitions(image, defaults, name, *count, assignments)?,
            *validate_only,
        ),
        Command::AlterTopicConfigs {
            name,
            configs,
            validate_only,
        } => validated(alter_configs(image, name, configs)?, *validate_only),
        Command::RegisterBroker { .. } => register_broker(image, command, defaults),
        Command::AllocateProducerIds { node_id } => allocate_producer_ids(image, *node_id),
        Command::Security(command) => Ok(security_commands::plan_security(image, command)),
        Command::DynamicConfigs(command) => security_commands::plan_dynamic_configs(image, command),
        Command::ClientQuotas(command) => Ok(quota_commands::plan(image, command)),
        Command::AlterPartition { .. } => partition_commands::plan(image, defaults, command),
        Command::ElectLeaders { .. } => elections::plan(image, defaults, command),
        Command::AlterPartitionReassignments { .. } => reassignment::plan(image, defaults, command),
    }
}

/// A validate-only request commits nothing but answers the same.
fn validated(mut plan: Plan, validate_only: bool) -> Result<Plan, Refusal> {
    if validate_only {
        plan.records.clear();
    }
    Ok(plan)
}

struct NewTopic<'a> {
    name: &'a str,
    partitions: i32,
    replication_factor: i16,
    assignments: &'a [Vec<i32>],
    configs: &'a BTreeMap<String, String>,
}

fn create_topic(
    image: &MetadataImage,
    defaults: &Defaults,
    topic: &NewTopic,
) -> Result<Plan, Refusal> {
    check_name(topic.name)?;
    if image.topics.contains_key(topic.name) {
        let msg = format!("Topic '{}' already exists.", topic.name);
        return Err(Refusal::new(ResponseError::TopicAlreadyExists, msg));
    }
    let assignments = if topic.assignments.is_empty() {
        let partitions = default_if_unset(topic.partitions, defaults.num_partitions);
        let rf = default_if_unset(
            topic.replication_factor,
            defaults.default_replication_factor,
        );
        place(image, topic.name, 0, partitions, rf)?
    } else {
        check_partition_count(topic.assignments.len())?;
        check_assignments(image, topic.assignments, topic.assignments[0].len())?;
        topic.assignments.to_vec()
    };
    check_configs(topic.configs)?;
    let id = new_topic_id(image);
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.to_string(),
        id,
    }];
    if !topic.configs.is_empty() {
        records.push(MetadataRecord::TopicConfigs {
            id,
            configs: topic.configs.clone(),
        });
    }
    let count = assignments.len();
    let replication_factor = i16::try_from(assignments[0].len()).unwrap_or(i16::MAX);
    records.extend(new_partitions(image, id, 0, assignments)?);
    let reply = Reply::TopicCreated {
        id,
        partitions: count as i32,
        replication_factor,
    };
    Ok(Plan { records, reply })
}

fn delete_topic(image: &MetadataImage, name: &str) -> Result<Plan, Refusal> {
    let id = existing(image, name)?.id;
    Ok(Plan {
        records: vec![MetadataRecord::RemoveTopic { id }],
        reply: Reply::TopicDeleted { id },
    })
}

fn create_partitions(
    image: &MetadataImage,
    defaults: &Defaults,
    name: &str,
    count: i32,
    assignments: &[Vec<i32>],
) -> Result<Plan, Refusal> {
    let topic = existing(image, name)?;
    let current = topic.partitions.len();
    let requested = usize::try_from(count).unwrap_or(0);
    if requested <= current {
        let msg = if requested == current {
            format!("Topic already has {current} partitions.")
        } else {
            format!(
                "Topic currently has {current} partitions, which is higher than the requested {count}."
            )
        };
        return Err(Refusal::new(ResponseError::InvalidPartitions, msg));
    }
    let added = requested - current;
    check_partition_count(added)?;
    let rf = match topic.replication_factor() {
        0 => usize::try_from(defaults.default_replication_factor).unwrap_or(1),
        rf => rf,
    };
    let new = if assignments.is_empty() {
        let rf = i16::try_from(rf).unwrap_or(i16::MAX);
        place(image, name, current, added as i32, rf)?
    } else {
        if assignments.len() != added {
            let msg = format!(
                "Attempted to add {added} additional partition(s), but {} assignment(s) were specified.",
                assignments.len()
            );
            return Err(Refusal::new(ResponseError::InvalidReplicaAssignment, msg));
        }
        check_assignments(image, assignments, rf)?;
        assignments.to_vec()
    };
    Ok(Plan {
        records: new_partitions(image, topic.id, current, new)?,
        reply: Reply::Done,
    })
}

fn alter_configs(
    image: &MetadataImage,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> Result<Plan, Refusal> {
    let topic = existing(image, name)?;
    check_configs(configs)?;
    let mut records = Vec::new();
    if topic.configs != *configs {
        records.push(MetadataRecord::TopicConfigs {
            id: topic.id,
            configs: configs.clone(),
        });
    }
    Ok(Plan {
        records,
        reply: Reply::Done,
    })
}

/// Any registration is accepted, a new incarnation or the same one again
/// (a broker re-registers after a controller failover); the record gives it
/// a new broker epoch, fenced until it has caught up. A registered broker
/// registering again has restarted (or lost its session): as in Kafka's
/// unclean-shutdown handling, its leaderships move and it leaves the ISRs,
/// as if fenced, so no partition keeps a fenced leader.
fn register_broker(
    image: &MetadataImage,
    command: &Command,
    defaults: &Defaults,
) -> Result<Plan, Refusal> {
    let Command::RegisterBroker {
        node_id,
        incarnation,
        host,
        port,
        rack,
        listeners,
    } = command
    else {
        unreachable!("register_broker plans RegisterBroker only");
    };
    let node_id = *node_id;
    if node_id < 0 {
        let msg = format!("Invalid broker id {node_id}: node ids are not negative.");
        return Err(Refusal::new(ResponseError::InvalidRequest, msg));
    }
    let record = MetadataRecord::RegisterBroker {
        node_id,
        incarnation: *incarnation,
        host: host.clone(),
        port: *port,
        rack: rack.clone(),
        listeners: listeners.clone(),
    };
    let mut records = vec![record];
    if image.brokers.contains_key(&node_id) {
        records.extend(partition_change::on_fence(image, node_id, defaults));
    }
    Ok(Plan {
        records,
        reply: Reply::Registered,
    })
}

fn allocate_producer_ids(image: &MetadataImage, node_id: i32) -> Result<Plan, Refusal> {
    if !image.brokers.contains_key(&node_id) {
        let msg = format!("No broker registration found for broker {node_id}.");
        return Err(Refusal::new(ResponseError::BrokerIdNotRegistered, msg));
    }
    let first = image.next_producer_id.max(0);
    let Some(next_producer_id) = first.checked_add(PRODUCER_ID_BLOCK) else {
        let msg = "Exhausted all producer ids: the next block would pass the long type limit.";
        return Err(Refusal::new(ResponseError::UnknownServerError, msg));
    };
    Ok(Plan {
        records: vec![MetadataRecord::ProducerIds {
            node_id,
            next_producer_id,
        }],
        reply: Reply::ProducerIds {
            first,
            size: PRODUCER_ID_BLOCK,
        },
    })
}

fn existing<'a>(image: &'a MetadataImage, name: &str) -> Result<&'a TopicImage, Refusal> {
    image.topics.get(name).ok_or_else(|| {
        let msg = format!("Topic '{name}' does not exist.");
        Refusal::new(ResponseError::UnknownTopicOrPartition, msg)
    })
}

/// -1 asks for the broker default.
fn default_if_unset<T: PartialEq + From<i8>>(value: T, default: T) -> T {
    if value == T::from(-1) {
        default
    } else {
        value
    }
}

fn check_name(name: &str) -> Result<(), Refusal> {
    if valid_topic_name(name) {
        return Ok(());
    }
    let msg = format!(
        "Topic name {name:?} is illegal: it must be 1 to 249 characters of ASCII alphanumerics, '.', '_' and '-', and not '.' or '..'."
    );
    Err(Refusal::new(ResponseError::InvalidTopicException, msg))
}

fn check_configs(configs: &BTreeMap<String, String>) -> Result<(), Refusal> {
    configs
        .iter()
        .try_for_each(|(name, value)| topic_config::validate(name, value))
        .map_err(|msg| Refusal::new(ResponseError::InvalidConfig, msg))
}

fn check_partition_count(count: usize) -> Result<(), Refusal> {
    if count <= MAX_PARTITIONS_PER_REQUEST {
        return Ok(());
    }
    let msg = format!(
        "Creating {count} partitions exceeds the limit of {MAX_PARTITIONS_PER_REQUEST} per request."
    );
    Err(Refusal::new(ResponseError::InvalidPartitions, msg))
}

/// Explicit replica lists: each non-empty, of `rf` distinct registered
/// brokers.
fn check_assignments(
    image: &MetadataImage,
    assignments: &[Vec<i32>],
    rf: usize,
) -> Result<(), Refusal> {
    let refuse = |msg: String| Err(Refusal::new(ResponseError::InvalidReplicaAssignment, msg));
    for replicas in assignments {
        if replicas.is_empty() {
            return refuse(
                "The manual partition assignment includes an empty replica list.".into(),
            );
        }
        if replicas.len() != rf {
            return refuse(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                replicas.len()
            ));
        }
        if let Some(b) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
            return refuse(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            ));
        }
        if (1..replicas.len()).any(|i| replicas[..i].contains(&replicas[i])) {
            return refuse(
                "The manual partition assignment specifies the same node id more than once.".into(),
            );
        }
    }
    Ok(())
}

/// Placed replicas for partitions `first..first + count` over the live
/// brokers.
fn place(
    image: &MetadataImage,
    name: &str,
    first: usize,
    count: i32,
    rf: i16,
) -> Result<Vec<Vec<i32>>, Refusal> {
    if count < 1 {
        let msg = "Number of partitions was set to an invalid non-positive value.";
        return Err(Refusal::new(ResponseError::InvalidPartitions, msg));
    }
    check_partition_count(count as usize)?;
    if rf < 1 {
        let msg = "Replication factor must be larger than 0, or -1 to use the default value.";
        return Err(Refusal::new(ResponseError::InvalidReplicationFactor, msg));
    }
    let live: Vec<Candidate> = image
        .live_brokers()
        .into_iter()
        .map(|b| Candidate {
            node_id: b.node_id,
            rack: b.rack.clone(),
        })
        .collect();
    if live.len() < rf as usize {
        let msg = format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            live.len()
        );
        return Err(Refusal::new(ResponseError::InvalidReplicationFactor, msg));
    }
    let first = i32::try_from(first).unwrap_or(i32::MAX);
    placement::place_seeded(&live, first, count, rf, placement::seed_of(name)).map_err(|msg| {
        let msg = format!("Unable to replicate the partition {rf} time(s): {msg}");
        Refusal::new(ResponseError::InvalidReplicationFactor, msg)
    })
}

/// `Partition` records for new partitions numbered from `first`: the ISR is
/// the live replicas, the leader the first of them.
fn new_partitions(
    image: &MetadataImage,
    topic_id: Uuid,
    first: usize,
    assignments: Vec<Vec<i32>>,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let mut records = Vec::with_capacity(assignments.len());
    for (partition, replicas) in (first..).zip(assignments) {
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| image.is_live(*r))
            .collect();
        let Some(&leader) = isr.first() else {
            let msg = format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
            );
            return Err(Refusal::new(ResponseError::InvalidReplicaAssignment, msg));
        };
        let state = PartitionImage {
            replicas,
            isr,
            leader,
            ..PartitionImage::default()
        };
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        records.push(partition_change::record(topic_id, partition, &state));
    }
    Ok(records)
}

/// A fresh topic id, unlike any in use (and never the nil id).
fn new_topic_id(image: &MetadataImage) -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() && image.topic_by_id(&id).is_none() {
            return id;
        }
    }
}
