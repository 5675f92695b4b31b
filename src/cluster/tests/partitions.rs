//! AlterPartition: a leader's ISR changes, accepted and refused.

use kafka_protocol::error::ResponseError;

use super::*;
use crate::cluster::image::PartitionImage;

/// Three brokers and topic "t" with one partition on replicas [1, 2, 3],
/// led by 1, with `isr` as its ISR (committed as the next change).
fn with_isr(isr: &[i32]) -> (Cluster, Uuid) {
    let mut cluster = Cluster::with_brokers(3);
    let id = create_on(&mut cluster, "t", &[1, 2, 3]);
    if isr != [1, 2, 3] {
        cluster.commit(&[partition(id, 0, &[1, 2, 3], isr, 1, (0, 1))]);
    }
    (cluster, id)
}

/// Creates `name` with one partition on `replicas`; its id.
pub(super) fn create_on(cluster: &mut Cluster, name: &str, replicas: &[i32]) -> Uuid {
    let command = Command::CreateTopic {
        name: name.into(),
        partitions: -1,
        replication_factor: -1,
        assignments: vec![replicas.to_vec()],
        configs: BTreeMap::new(),
        validate_only: false,
    };
    match cluster.run(command) {
        Reply::TopicCreated { id, .. } => id,
        other => panic!("unexpected reply {other:?}"),
    }
}

fn state(cluster: &Cluster) -> PartitionImage {
    cluster.topic("t").partitions[0].clone()
}

/// AlterPartition from broker 1 (its current epoch) at the current epochs.
fn alter(cluster: &Cluster, id: Uuid, isr: &[i32]) -> Command {
    let p = state(cluster);
    Command::AlterPartition {
        broker_id: 1,
        broker_epoch: cluster.image.brokers[&1].epoch,
        topic_id: id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.iter().map(|r| (*r, -1)).collect(),
    }
}

fn refused_with(cluster: &Cluster, command: Command, error: ResponseError) {
    let refusal = cluster.plan(command).expect_err("accepted");
    assert_eq!(refusal.code, error.code(), "{refusal:?}");
}

#[test]
fn shrinking_and_expanding_the_isr_bumps_the_partition_epoch_only() {
    let (mut cluster, id) = with_isr(&[1, 2, 3]);
    let before = state(&cluster);
    let reply = cluster.run(alter(&cluster, id, &[1, 3]));
    let after = state(&cluster);
    assert_eq!(after.isr, vec![1, 3]);
    assert_eq!(after.leader, 1);
    assert_eq!(after.leader_epoch, before.leader_epoch);
    assert_eq!(after.partition_epoch, before.partition_epoch + 1);
    let expected = Reply::PartitionAltered {
        leader: 1,
        leader_epoch: after.leader_epoch,
        partition_epoch: after.partition_epoch,
        isr: vec![1, 3],
    };
    assert_eq!(reply, expected);
    // Back to all three, named out of order: kept in replica order.
    cluster.run(alter(&cluster, id, &[3, 2, 1]));
    let again = state(&cluster);
    assert_eq!(again.isr, vec![1, 2, 3]);
    assert_eq!(again.partition_epoch, before.partition_epoch + 2);
}

#[test]
fn the_same_isr_commits_nothing_and_answers_the_current_state() {
    let (cluster, id) = with_isr(&[1, 2]);
    let plan = cluster.plan(alter(&cluster, id, &[2, 1])).unwrap();
    assert!(plan.records.is_empty());
    let p = state(&cluster);
    let expected = Reply::PartitionAltered {
        leader: 1,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        isr: vec![1, 2],
    };
    assert_eq!(plan.reply, expected);
}

#[test]
fn the_sender_must_be_registered_at_its_epoch() {
    let (cluster, id) = with_isr(&[1, 2, 3]);
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition { broker_epoch, .. } = &mut command {
        *broker_epoch -= 1;
    }
    refused_with(&cluster, command, ResponseError::StaleBrokerEpoch);
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition { broker_id, .. } = &mut command {
        *broker_id = 9;
    }
    refused_with(&cluster, command, ResponseError::StaleBrokerEpoch);
}

#[test]
fn unknown_topics_and_partitions() {
    let (cluster, id) = with_isr(&[1, 2, 3]);
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition { topic_id, .. } = &mut command {
        *topic_id = Uuid::from_u128(77);
    }
    refused_with(&cluster, command, ResponseError::UnknownTopicId);
    for bad in [1, -1, i32::MAX] {
        let mut command = alter(&cluster, id, &[1, 2]);
        if let Command::AlterPartition { partition, .. } = &mut command {
            *partition = bad;
        }
        refused_with(&cluster, command, ResponseError::UnknownTopicOrPartition);
    }
}

#[test]
fn only_the_leader_may_alter_the_isr() {
    let (cluster, id) = with_isr(&[1, 2, 3]);
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition {
        broker_id,
        broker_epoch,
        ..
    } = &mut command
    {
        *broker_id = 2;
        *broker_epoch = cluster.image.brokers[&2].epoch;
    }
    refused_with(&cluster, command, ResponseError::NotLeaderOrFollower);
}

#[test]
fn epochs_must_be_current() {
    let (cluster, id) = with_isr(&[1, 2, 3]);
    for delta in [-1, 1] {
        let mut command = alter(&cluster, id, &[1, 2]);
        if let Command::AlterPartition { leader_epoch, .. } = &mut command {
            *leader_epoch += delta;
        }
        refused_with(&cluster, command, ResponseError::FencedLeaderEpoch);
        let mut command = alter(&cluster, id, &[1, 2]);
        if let Command::AlterPartition {
            partition_epoch, ..
        } = &mut command
        {
            *partition_epoch += delta;
        }
        refused_with(&cluster, command, ResponseError::InvalidUpdateVersion);
    }
}

#[test]
fn malformed_isrs_are_invalid_requests() {
    let (cluster, id) = with_isr(&[1, 2, 3]);
    for isr in [&[2, 3][..], &[1, 1], &[1, 4], &[], &[1, 2, 2]] {
        let command = alter(&cluster, id, isr);
        refused_with(&cluster, command, ResponseError::InvalidRequest);
    }
}

#[test]
fn added_members_must_be_live_at_the_named_epoch() {
    let (mut cluster, id) = with_isr(&[1]);
    // A fenced replica may not join.
    let epoch3 = cluster.image.brokers[&3].epoch;
    cluster.commit(&[MetadataRecord::FenceBroker {
        node_id: 3,
        epoch: epoch3,
    }]);
    refused_with(
        &cluster,
        alter(&cluster, id, &[1, 3]),
        ResponseError::IneligibleReplica,
    );
    // Nor one at another epoch than the leader saw.
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition { new_isr, .. } = &mut command {
        new_isr[1].1 = cluster.image.brokers[&2].epoch + 1;
    }
    refused_with(&cluster, command, ResponseError::IneligibleReplica);
    // At its own epoch it may.
    let mut command = alter(&cluster, id, &[1, 2]);
    if let Command::AlterPartition { new_isr, .. } = &mut command {
        new_isr[1].1 = cluster.image.brokers[&2].epoch;
    }
    cluster.run(command);
    assert_eq!(state(&cluster).isr, vec![1, 2]);
}

#[test]
fn an_unregistered_replica_cannot_join() {
    let mut cluster = Cluster::with_brokers(2);
    let id = create_on(&mut cluster, "t", &[1]);
    // Replica 5 was assigned but never registered (say, a broker gone).
    cluster.commit(&[partition(id, 0, &[1, 5], &[1], 1, (0, 1))]);
    let p = state(&cluster);
    let command = Command::AlterPartition {
        broker_id: 1,
        broker_epoch: cluster.image.brokers[&1].epoch,
        topic_id: id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![(1, -1), (5, -1)],
    };
    refused_with(&cluster, command, ResponseError::IneligibleReplica);
}

#[test]
fn members_already_in_the_isr_are_not_rechecked() {
    let (mut cluster, id) = with_isr(&[1, 2, 3]);
    // Broker 3 restarted at a new epoch: the leader may still drop 2 while
    // naming 3's old epoch, because 3 is not being added.
    cluster.register(3, None);
    cluster.unfence(3);
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1, 2, 3], 1, (0, 2))]);
    let mut command = alter(&cluster, id, &[1, 3]);
    if let Command::AlterPartition { new_isr, .. } = &mut command {
        new_isr[1].1 = 1;
    }
    cluster.run(command);
    assert_eq!(state(&cluster).isr, vec![1, 3]);
}
