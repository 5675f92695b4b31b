//! `commands::plan` for every command, accepted and refused.

use kafka_protocol::error::ResponseError;

use super::*;
use crate::cluster::commands::{MAX_PARTITIONS_PER_REQUEST, PRODUCER_ID_BLOCK};
use crate::cluster::seed::seed_topic;

fn refused(cluster: &Cluster, command: Command) -> Refusal {
    cluster.plan(command).expect_err("command accepted")
}

fn assert_code(refusal: &Refusal, error: ResponseError) {
    assert_eq!(refusal.code, error.code(), "{refusal:?}");
}

fn with_assignments(name: &str, assignments: &[&[i32]]) -> Command {
    Command::CreateTopic {
        name: name.into(),
        partitions: -1,
        replication_factor: -1,
        assignments: assignments.iter().map(|a| a.to_vec()).collect(),
        configs: BTreeMap::new(),
        validate_only: false,
    }
}

fn grow(name: &str, count: i32, assignments: &[&[i32]]) -> Command {
    Command::CreatePartitions {
        name: name.into(),
        count,
        assignments: assignments.iter().map(|a| a.to_vec()).collect(),
        validate_only: false,
    }
}

fn alter(name: &str, pairs: &[(&str, &str)], validate_only: bool) -> Command {
    Command::AlterTopicConfigs {
        name: name.into(),
        configs: configs(pairs),
        validate_only,
    }
}

#[test]
fn create_places_replicas_over_live_brokers() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.register(4, None); // fenced: not used
    let plan = cluster.plan(create("orders", 6, 3)).unwrap();
    let Reply::TopicCreated {
        id,
        partitions: 6,
        replication_factor: 3,
    } = plan.reply
    else {
        panic!("reply {:?}", plan.reply);
    };
    assert_eq!(plan.records.len(), 7);
    let expected_topic = MetadataRecord::Topic {
        name: "orders".into(),
        id,
    };
    assert_eq!(plan.records[0], expected_topic);
    let mut leaders = BTreeMap::new();
    for (p, record) in (0..).zip(&plan.records[1..]) {
        let MetadataRecord::Partition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            ..
        } = record
        else {
            panic!("record {record:?}");
        };
        assert_eq!((*topic_id, *partition), (id, p));
        assert_eq!(isr, replicas);
        assert_eq!(*leader, replicas[0]);
        let mut sorted = replicas.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 2, 3]);
        *leaders.entry(*leader).or_insert(0) += 1;
    }
    assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
    cluster.commit(&plan.records);
    assert_eq!(cluster.topic("orders").partitions.len(), 6);
    assert_eq!(cluster.image.topic_by_id(&id).unwrap().name, "orders");
}

#[test]
fn create_fills_in_defaults_and_configs() {
    let mut cluster = Cluster::with_brokers(1);
    let command = Command::CreateTopic {
        name: "t".into(),
        partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: configs(&[("cleanup.policy", "compact")]),
        validate_only: false,
    };
    let reply = cluster.run(command);
    assert!(matches!(
        reply,
        Reply::TopicCreated {
            partitions: 2,
            replication_factor: 1,
            ..
        }
    ));
    assert_eq!(
        cluster.topic("t").configs,
        configs(&[("cleanup.policy", "compact")])
    );
    assert_eq!(cluster.topic("t").partitions[1].replicas, vec![1]);
}

#[test]
fn create_refusals() {
    let mut cluster = Cluster::with_brokers(1);
    cluster.create("taken", 1, 1);
    let cases = [
        (
            create("bad/name", 1, 1),
            ResponseError::InvalidTopicException,
        ),
        (create("", 1, 1), ResponseError::InvalidTopicException),
        (create("taken", 1, 1), ResponseError::TopicAlreadyExists),
        (create("t", 0, 1), ResponseError::InvalidPartitions),
        (create("t", -5, 1), ResponseError::InvalidPartitions),
        (create("t", 1, 0), ResponseError::InvalidReplicationFactor),
        (create("t", 1, -2), ResponseError::InvalidReplicationFactor),
        (create("t", 1, 3), ResponseError::InvalidReplicationFactor),
        (create("t", i32::MAX, 1), ResponseError::InvalidPartitions),
    ];
    for (command, error) in cases {
        assert_code(&refused(&cluster, command), error);
    }
    let refusal = refused(&cluster, create("t", 1, 3));
    assert_eq!(
        refusal.message,
        "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered."
    );
    let refusal = refused(&cluster, create("taken", 1, 1));
    assert_eq!(refusal.message, "Topic 'taken' already exists.");
    let bad_config = Command::CreateTopic {
        name: "t".into(),
        partitions: 1,
        replication_factor: 1,
        assignments: Vec::new(),
        configs: configs(&[("retention.ms", "soon")]),
        validate_only: false,
    };
    assert_code(&refused(&cluster, bad_config), ResponseError::InvalidConfig);
    let limit = MAX_PARTITIONS_PER_REQUEST as i32;
    assert!(cluster.plan(create("t", limit, 1)).is_ok());
    assert_code(
        &refused(&cluster, create("t", limit + 1, 1)),
        ResponseError::InvalidPartitions,
    );
}

#[test]
fn create_without_live_brokers_is_refused() {
    let mut cluster = Cluster::new();
    assert_code(
        &refused(&cluster, create("t", 1, 1)),
        ResponseError::InvalidReplicationFactor,
    );
    cluster.register(1, None); // registered, still fenced
    let refusal = refused(&cluster, create("t", 1, -1));
    assert_code(&refusal, ResponseError::InvalidReplicationFactor);
    assert!(refusal.message.contains("only 0 broker(s)"), "{refusal:?}");
}

#[test]
fn create_with_assignments() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.register(4, None); // registered but fenced
    let plan = cluster
        .plan(with_assignments("t", &[&[3, 4, 1], &[4, 2, 3]]))
        .unwrap();
    let Reply::TopicCreated {
        id,
        partitions: 2,
        replication_factor: 3,
    } = plan.reply
    else {
        panic!("reply {:?}", plan.reply);
    };
    assert_eq!(
        plan.records[1..],
        [
            partition(id, 0, &[3, 4, 1], &[3, 1], 3, (0, 0)),
            partition(id, 1, &[4, 2, 3], &[2, 3], 2, (0, 0)),
        ]
    );
}

#[test]
fn create_with_bad_assignments_is_refused() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.register(4, None);
    let cases: [&[&[i32]]; 5] = [
        &[&[1], &[]],
        &[&[]],
        &[&[1, 2], &[3]],
        &[&[1, 1]],
        &[&[1, 9]],
    ];
    for assignments in cases {
        let refusal = refused(&cluster, with_assignments("t", assignments));
        assert_code(&refusal, ResponseError::InvalidReplicaAssignment);
    }
    let refusal = refused(&cluster, with_assignments("t", &[&[4]]));
    assert_code(&refusal, ResponseError::InvalidReplicaAssignment);
    assert!(refusal.message.contains("fenced"), "{refusal:?}");
}

#[test]
fn validate_only_commits_nothing() {
    let cluster = Cluster::with_brokers(2);
    let command = Command::CreateTopic {
        name: "t".into(),
        partitions: 3,
        replication_factor: 2,
        assignments: Vec::new(),
        configs: BTreeMap::new(),
        validate_only: true,
    };
    let plan = cluster.plan(command).unwrap();
    assert!(plan.records.is_empty());
    assert!(matches!(
        plan.reply,
        Reply::TopicCreated {
            partitions: 3,
            replication_factor: 2,
            ..
        }
    ));
}

#[test]
fn create_then_delete() {
    let mut cluster = Cluster::with_brokers(1);
    let id = cluster.create("t", 2, 1);
    let plan = cluster
        .plan(Command::DeleteTopic { name: "t".into() })
        .unwrap();
    assert_eq!(plan.records, vec![MetadataRecord::RemoveTopic { id }]);
    assert_eq!(plan.reply, Reply::TopicDeleted { id });
    cluster.commit(&plan.records);
    assert!(cluster.image.topics.is_empty());
    let refusal = refused(&cluster, Command::DeleteTopic { name: "t".into() });
    assert_code(&refusal, ResponseError::UnknownTopicOrPartition);
    // The name can be used again, with a new id.
    assert_ne!(cluster.create("t", 1, 1), id);
}

#[test]
fn create_partitions_places_the_new_ones() {
    let mut cluster = Cluster::with_brokers(3);
    let id = cluster.create("t", 3, 2);
    let plan = cluster.plan(grow("t", 5, &[])).unwrap();
    assert_eq!(plan.reply, Reply::Done);
    assert_eq!(plan.records.len(), 2);
    for (p, record) in (3..).zip(&plan.records) {
        let MetadataRecord::Partition {
            topic_id,
            partition,
            replicas,
            isr,
            leader,
            ..
        } = record
        else {
            panic!("record {record:?}");
        };
        assert_eq!((*topic_id, *partition, replicas.len()), (id, p, 2));
        assert_eq!((isr, *leader), (replicas, replicas[0]));
    }
    cluster.commit(&plan.records);
    assert_eq!(cluster.topic("t").partitions.len(), 5);
    // Five partitions striped over three brokers: leaders 2, 2, 1.
    let mut leaders: Vec<i32> = cluster
        .topic("t")
        .partitions
        .iter()
        .map(|p| p.leader)
        .collect();
    leaders.sort();
    leaders.dedup();
    assert_eq!(leaders.len(), 3);
}

#[test]
fn create_partitions_with_assignments() {
    let mut cluster = Cluster::with_brokers(3);
    let id = cluster.create("t", 1, 2);
    let plan = cluster.plan(grow("t", 3, &[&[3, 1], &[2, 3]])).unwrap();
    assert_eq!(
        plan.records,
        vec![
            partition(id, 1, &[3, 1], &[3, 1], 3, (0, 0)),
            partition(id, 2, &[2, 3], &[2, 3], 2, (0, 0)),
        ]
    );
    let validate = Command::CreatePartitions {
        name: "t".into(),
        count: 3,
        assignments: Vec::new(),
        validate_only: true,
    };
    let plan = cluster.plan(validate).unwrap();
    assert_eq!((plan.records.len(), plan.reply), (0, Reply::Done));
}

#[test]
fn create_partitions_refusals() {
    let mut cluster = Cluster::with_brokers(2);
    cluster.create("t", 3, 2);
    let refusal = refused(&cluster, grow("t", 2, &[]));
    assert_code(&refusal, ResponseError::InvalidPartitions);
    assert_eq!(
        refusal.message,
        "Topic currently has 3 partitions, which is higher than the requested 2."
    );
    assert_code(
        &refused(&cluster, grow("t", 3, &[])),
        ResponseError::InvalidPartitions,
    );
    assert_code(
        &refused(&cluster, grow("t", -1, &[])),
        ResponseError::InvalidPartitions,
    );
    assert_code(
        &refused(&cluster, grow("u", 4, &[])),
        ResponseError::UnknownTopicOrPartition,
    );
    let cases: [&[&[i32]]; 4] = [
        &[&[1, 2]],
        &[&[1, 2], &[2]],
        &[&[1, 2], &[1, 2, 3]],
        &[&[1, 2], &[2, 7]],
    ];
    for assignments in cases {
        let refusal = refused(&cluster, grow("t", 5, assignments));
        assert_code(&refusal, ResponseError::InvalidReplicaAssignment);
    }
    // A broker gone: rf 2 cannot be placed any more.
    let epoch = cluster.image.brokers[&2].epoch;
    cluster.commit(&[MetadataRecord::FenceBroker { node_id: 2, epoch }]);
    assert_code(
        &refused(&cluster, grow("t", 4, &[])),
        ResponseError::InvalidReplicationFactor,
    );
}

#[test]
fn alter_topic_configs() {
    let mut cluster = Cluster::with_brokers(1);
    let id = cluster.create("t", 1, 1);
    let plan = cluster
        .plan(alter("t", &[("retention.ms", "60000")], false))
        .unwrap();
    assert_eq!(
        plan.records,
        vec![MetadataRecord::TopicConfigs {
            id,
            configs: configs(&[("retention.ms", "60000")]),
        }]
    );
    assert_eq!(plan.reply, Reply::Done);
    cluster.commit(&plan.records);
    let same = cluster
        .plan(alter("t", &[("retention.ms", "60000")], false))
        .unwrap();
    assert!(same.records.is_empty());
    let dry = cluster.plan(alter("t", &[], true)).unwrap();
    assert!(dry.records.is_empty());
    let cleared = cluster.plan(alter("t", &[], false)).unwrap();
    assert_eq!(cleared.records.len(), 1);
    let refusal = refused(&cluster, alter("t", &[("no.such.config", "1")], false));
    assert_code(&refusal, ResponseError::InvalidConfig);
    let refusal = refused(&cluster, alter("u", &[], false));
    assert_code(&refusal, ResponseError::UnknownTopicOrPartition);
}

#[test]
fn register_broker_always_gives_a_record() {
    let mut cluster = Cluster::with_brokers(1);
    let first = cluster.image.brokers[&1].epoch;
    let plan = cluster.plan(register(1, Some("r"))).unwrap();
    assert_eq!(plan.reply, Reply::Registered);
    assert!(matches!(
        &plan.records[..],
        [MetadataRecord::RegisterBroker { node_id: 1, .. }]
    ));
    // The same incarnation again (a controller failover): a new epoch.
    let second = cluster.register(1, Some("r"));
    assert!(second > first);
    assert!(cluster.image.brokers[&1].fenced);
    assert_code(
        &refused(&cluster, register(-1, None)),
        ResponseError::InvalidRequest,
    );
}

#[test]
fn producer_id_blocks() {
    let mut cluster = Cluster::with_brokers(1);
    let refusal = refused(&cluster, Command::AllocateProducerIds { node_id: 2 });
    assert_code(&refusal, ResponseError::BrokerIdNotRegistered);
    let plan = cluster
        .plan(Command::AllocateProducerIds { node_id: 1 })
        .unwrap();
    assert_eq!(
        plan.records,
        vec![MetadataRecord::ProducerIds {
            node_id: 1,
            next_producer_id: PRODUCER_ID_BLOCK,
        }]
    );
    assert_eq!(
        plan.reply,
        Reply::ProducerIds {
            first: 0,
            size: 1000
        }
    );
    cluster.commit(&plan.records);
    let reply = cluster.run(Command::AllocateProducerIds { node_id: 1 });
    assert_eq!(
        reply,
        Reply::ProducerIds {
            first: 1000,
            size: 1000
        }
    );
    assert_eq!(cluster.image.next_producer_id, 2000);
    cluster.image.next_producer_id = i64::MAX - 10;
    let refusal = refused(&cluster, Command::AllocateProducerIds { node_id: 1 });
    assert_code(&refusal, ResponseError::UnknownServerError);
}

#[test]
fn seeding_a_single_node_topic() {
    let mut cluster = Cluster::new();
    let id = Uuid::from_u128(42);
    let overrides = configs(&[("retention.ms", "1")]);
    let records = seed_topic("old", id, 3, &overrides, 1);
    assert_eq!(records.len(), 5);
    assert_eq!(records[2], partition(id, 0, &[1], &[1], 1, (0, 0)));
    cluster.commit(&records);
    let topic = cluster.topic("old");
    assert_eq!(
        (topic.id, &topic.configs, topic.partitions.len()),
        (id, &overrides, 3)
    );
    assert_eq!(topic.partitions[2].leader, 1);
    assert_eq!(seed_topic("bare", id, 1, &BTreeMap::new(), 1).len(), 2);
}

#[test]
fn re_registration_moves_the_old_registrations_leaderships() {
    let mut cluster = Cluster::with_brokers(2);
    let id = cluster.create("t", 2, 2);
    let solo = cluster.create("solo", 1, 1);
    let solo_leader = cluster.topic("solo").partitions[0].leader;
    let plan = cluster.plan(register(1, None)).unwrap();
    assert!(matches!(
        plan.records[0],
        MetadataRecord::RegisterBroker { node_id: 1, .. }
    ));
    cluster.commit(&plan.records);
    for p in &cluster.topic("t").partitions {
        assert_eq!((p.leader, &p.isr[..]), (2, &[2][..]), "{p:?}");
    }
    let expected_solo = match solo_leader {
        1 => (crate::cluster::image::NO_LEADER, 1, 1),
        _ => (2, 0, 0),
    };
    let p = &cluster.topic("solo").partitions[0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), expected_solo);
    assert!(plan.records[1..].iter().all(|r| matches!(
        r,
        MetadataRecord::Partition { topic_id, .. } if *topic_id == id || *topic_id == solo
    )));
}
