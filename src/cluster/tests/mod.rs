//! Tests of the cluster's pure metadata logic, driven the way the controller
//! drives it: plans and lifecycle records applied to an image, entry by entry.

mod commands;
mod elections;
mod elr;
mod image;
mod partitions;
mod reassignment;
mod registry;
mod security;

use std::collections::BTreeMap;

use uuid::Uuid;

use super::commands::{plan, Command, Defaults, Plan, Refusal, Reply};
use super::image::{ListenerEndpoint, MetadataImage, TopicImage};
use super::records::MetadataRecord;

fn defaults() -> Defaults {
    Defaults {
        num_partitions: 2,
        default_replication_factor: 1,
        unclean_leader_election: false,
        min_insync_replicas: 1,
    }
}

/// An image and the log offset of its next entry.
struct Cluster {
    image: MetadataImage,
}

impl Cluster {
    fn new() -> Cluster {
        let mut cluster = Cluster {
            image: MetadataImage::default(),
        };
        cluster.commit(&super::seed::bootstrap("fjord-test".into()));
        cluster
    }

    /// `n` brokers, ids 1..=n, registered and unfenced.
    fn with_brokers(n: i32) -> Cluster {
        let mut cluster = Cluster::new();
        for id in 1..=n {
            cluster.register(id, None);
            cluster.unfence(id);
        }
        cluster
    }

    /// Applies `records` as the next raft entry; its offset.
    fn commit(&mut self, records: &[MetadataRecord]) -> u64 {
        let offset = self.image.offset + 1;
        self.image.apply_batch(offset, records);
        offset
    }

    fn plan(&self, command: Command) -> Result<Plan, Refusal> {
        plan(&self.image, &defaults(), &command)
    }

    /// Plans and commits `command`; its reply.
    fn run(&mut self, command: Command) -> Reply {
        let plan = self.plan(command).expect("command refused");
        self.commit(&plan.records);
        plan.reply
    }

    /// Registers `node_id` (fenced); its broker epoch.
    fn register(&mut self, node_id: i32, rack: Option<&str>) -> i64 {
        self.run(register(node_id, rack));
        self.image.brokers[&node_id].epoch
    }

    fn unfence(&mut self, node_id: i32) {
        let epoch = self.image.brokers[&node_id].epoch;
        self.commit(&[MetadataRecord::UnfenceBroker { node_id, epoch }]);
    }

    fn create(&mut self, name: &str, partitions: i32, replication_factor: i16) -> Uuid {
        match self.run(create(name, partitions, replication_factor)) {
            Reply::TopicCreated { id, .. } => id,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    fn topic(&self, name: &str) -> &TopicImage {
        &self.image.topics[name]
    }
}

fn register(node_id: i32, rack: Option<&str>) -> Command {
    Command::RegisterBroker {
        node_id,
        incarnation: Uuid::from_u128(node_id as u128),
        host: format!("broker{node_id}"),
        port: 9092,
        rack: rack.map(str::to_string),
        listeners: vec![
            listener("PLAINTEXT", &format!("broker{node_id}"), 9092),
            listener("SASL_SSL", &format!("broker{node_id}"), 9094),
        ],
    }
}

pub fn listener(name: &str, host: &str, port: i32) -> ListenerEndpoint {
    ListenerEndpoint {
        name: name.into(),
        host: host.into(),
        port,
    }
}

fn create(name: &str, partitions: i32, replication_factor: i16) -> Command {
    Command::CreateTopic {
        name: name.to_string(),
        partitions,
        replication_factor,
        assignments: Vec::new(),
        configs: BTreeMap::new(),
        validate_only: false,
    }
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn partition(
    topic_id: Uuid,
    partition: i32,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
    epochs: (i32, i32),
) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: epochs.0,
        partition_epoch: epochs.1,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    }
}

/// `record` (a `Partition` one) with the ELR `ids`.
fn with_elr(mut record: MetadataRecord, ids: &[i32]) -> MetadataRecord {
    if let MetadataRecord::Partition { elr, .. } = &mut record {
        *elr = ids.to_vec();
    }
    record
}
