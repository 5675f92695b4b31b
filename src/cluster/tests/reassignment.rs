//! Partition reassignment: starting, completing through AlterPartition,
//! cancelling, and the refusals.

use kafka_protocol::error::ResponseError;

use super::partitions::create_on;
use super::*;
use crate::cluster::image::PartitionImage;

fn state(cluster: &Cluster) -> PartitionImage {
    cluster.topic("t").partitions[0].clone()
}

fn reassign(entries: &[(&str, i32, Option<&[i32]>)]) -> Command {
    Command::AlterPartitionReassignments {
        reassignments: entries
            .iter()
            .map(|(t, p, target)| (t.to_string(), *p, target.map(<[i32]>::to_vec)))
            .collect(),
    }
}

fn codes(reply: Reply) -> Vec<i16> {
    let Reply::ReassignmentsAltered(results) = reply else {
        panic!("reply {reply:?}");
    };
    results.into_iter().map(|(_, _, code, _)| code).collect()
}

/// The leader's AlterPartition to `isr`, at the current epochs.
fn alter_isr(cluster: &mut Cluster, isr: &[i32]) -> Reply {
    let p = state(cluster);
    let id = cluster.topic("t").id;
    cluster.run(Command::AlterPartition {
        broker_id: p.leader,
        broker_epoch: cluster.image.brokers[&p.leader].epoch,
        topic_id: id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.iter().map(|r| (*r, -1)).collect(),
    })
}

fn cluster_with(replicas: &[i32]) -> Cluster {
    let mut cluster = Cluster::with_brokers(4);
    create_on(&mut cluster, "t", replicas);
    cluster
}

#[test]
fn starting_puts_the_target_first_and_marks_adding_and_removing() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    let before = state(&cluster);
    let reply = cluster.run(reassign(&[("t", 0, Some(&[2, 3, 4]))]));
    assert_eq!(codes(reply), vec![0]);
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![2, 3, 4, 1]);
    assert_eq!(p.adding_replicas, vec![4]);
    assert_eq!(p.removing_replicas, vec![1]);
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 3]));
    assert_eq!(p.leader_epoch, before.leader_epoch);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    assert_eq!(cluster.topic("t").replication_factor(), 3);
}

#[test]
fn the_new_replica_joining_the_isr_completes_the_move_and_replaces_a_removed_leader() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    cluster.run(reassign(&[("t", 0, Some(&[2, 3, 4]))]));
    let before = state(&cluster);
    let reply = alter_isr(&mut cluster, &[1, 2, 3, 4]);
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![2, 3, 4]);
    assert_eq!(p.isr, vec![2, 3, 4]);
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    assert_eq!(p.leader, 2);
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    let expected = Reply::PartitionAltered {
        leader: 2,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        isr: vec![2, 3, 4],
    };
    assert_eq!(reply, expected);
}

#[test]
fn a_kept_leader_stays_but_the_leader_epoch_moves_when_a_replica_leaves() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    cluster.run(reassign(&[("t", 0, Some(&[1, 2, 4]))]));
    let before = state(&cluster);
    // An ISR change that does not bring 4 in leaves the move running.
    alter_isr(&mut cluster, &[1, 2]);
    assert_eq!(state(&cluster).adding_replicas, vec![4]);
    alter_isr(&mut cluster, &[1, 2, 4]);
    let p = state(&cluster);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone()),
        (vec![1, 2, 4], vec![1, 2, 4])
    );
    assert_eq!(p.leader, 1);
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
}

#[test]
fn adding_replicas_raises_the_replication_factor() {
    let mut cluster = cluster_with(&[1]);
    cluster.run(reassign(&[("t", 0, Some(&[1, 2, 3]))]));
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![1, 2, 3]);
    assert_eq!(p.adding_replicas, vec![2, 3]);
    assert!(p.removing_replicas.is_empty());
    alter_isr(&mut cluster, &[1, 2]);
    assert!(state(&cluster).is_reassigning());
    alter_isr(&mut cluster, &[1, 2, 3]);
    let p = state(&cluster);
    assert!(!p.is_reassigning());
    assert_eq!(p.isr, vec![1, 2, 3]);
    assert_eq!(cluster.topic("t").replication_factor(), 3);
}

#[test]
fn dropping_replicas_completes_at_once() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    cluster.run(reassign(&[("t", 0, Some(&[2, 1]))]));
    let p = state(&cluster);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone()),
        (vec![2, 1], vec![1, 2])
    );
    assert!(!p.is_reassigning());
    assert_eq!(p.leader, 1);
}

#[test]
fn moving_a_single_replica_is_not_an_unclean_election() {
    let mut cluster = cluster_with(&[1]);
    cluster.run(reassign(&[("t", 0, Some(&[2]))]));
    let image = cluster.image.clone();
    let p = state(&cluster);
    let plan = cluster
        .plan(Command::AlterPartition {
            broker_id: 1,
            broker_epoch: cluster.image.brokers[&1].epoch,
            topic_id: cluster.topic("t").id,
            partition: 0,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: vec![(1, -1), (2, -1)],
        })
        .unwrap();
    assert_eq!(
        crate::cluster::elections::count_unclean(&image, &plan.records),
        0
    );
    cluster.commit(&plan.records);
    let p = state(&cluster);
    assert_eq!((p.replicas, p.isr, p.leader), (vec![2], vec![2], 2));
}

#[test]
fn completion_waits_while_no_target_replica_is_in_sync() {
    let mut cluster = cluster_with(&[1, 2]);
    alter_isr(&mut cluster, &[1]);
    cluster.run(reassign(&[("t", 0, Some(&[2]))]));
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![2, 1]);
    assert_eq!(p.removing_replicas, vec![1]);
    assert_eq!(p.isr, vec![1]);
    alter_isr(&mut cluster, &[1, 2]);
    let p = state(&cluster);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![2], vec![2], 2)
    );
}

#[test]
fn a_new_target_replaces_the_move_and_unfinished_joiners_still_join() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    cluster.run(reassign(&[("t", 0, Some(&[4, 2, 3]))]));
    cluster.run(reassign(&[("t", 0, Some(&[4, 3, 2]))]));
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![4, 3, 2, 1]);
    assert_eq!(p.adding_replicas, vec![4]);
    assert_eq!(p.removing_replicas, vec![1]);
}

#[test]
fn cancelling_reverts_to_the_original_replicas() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    cluster.run(reassign(&[("t", 0, Some(&[2, 3, 4]))]));
    alter_isr(&mut cluster, &[1, 3]);
    let before = state(&cluster);
    let reply = cluster.run(reassign(&[("t", 0, None)]));
    assert_eq!(codes(reply), vec![0]);
    let p = state(&cluster);
    assert_eq!(p.replicas, vec![2, 3, 1]);
    assert_eq!(p.isr, vec![3, 1]);
    assert!(!p.is_reassigning());
    assert_eq!(p.leader, 1);
    assert_eq!(
        p.leader_epoch,
        before.leader_epoch + 1,
        "4 left the replicas"
    );
    let no_move = ResponseError::NoReassignmentInProgress.code();
    assert_eq!(
        codes(cluster.run(reassign(&[("t", 0, None)]))),
        vec![no_move]
    );
}

#[test]
fn bad_targets_and_unknown_partitions_are_refused_per_partition() {
    let mut cluster = cluster_with(&[1, 2, 3]);
    let invalid = ResponseError::InvalidReplicaAssignment.code();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let plan = cluster
        .plan(reassign(&[
            ("t", 0, Some(&[])),
            ("t", 0, Some(&[1, 1])),
            ("u", 0, Some(&[1])),
            ("t", 7, None),
        ]))
        .unwrap();
    assert!(plan.records.is_empty());
    let twice = ResponseError::InvalidRequest.code();
    assert_eq!(codes(plan.reply), vec![invalid, twice, unknown, unknown]);
    let plan = cluster.plan(reassign(&[("t", 0, Some(&[1, 9]))])).unwrap();
    assert_eq!(codes(plan.reply), vec![invalid]);
    let plan = cluster.plan(reassign(&[("t", 0, Some(&[1, 1]))])).unwrap();
    assert_eq!(codes(plan.reply), vec![invalid]);
    // The same replicas: accepted, nothing to commit.
    let plan = cluster
        .plan(reassign(&[("t", 0, Some(&[1, 2, 3]))]))
        .unwrap();
    assert!(plan.records.is_empty());
    assert_eq!(codes(plan.reply), vec![0]);
    cluster.run(reassign(&[("t", 0, Some(&[1, 2, 3, 4]))]));
}

#[test]
fn old_records_without_reassignment_fields_still_decode() {
    let json = r#"[{"type":"Partition","topic_id":"00000000-0000-0000-0000-000000000001","partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}]"#;
    let batch = crate::cluster::records::decode(json.as_bytes()).unwrap();
    let MetadataRecord::Partition {
        adding_replicas,
        removing_replicas,
        ..
    } = &batch[0]
    else {
        panic!("{batch:?}");
    };
    assert!(adding_replicas.is_empty() && removing_replicas.is_empty());
    // And without a move, none are written.
    let text = String::from_utf8(crate::cluster::records::encode(&batch)).unwrap();
    assert!(!text.contains("adding_replicas"), "{text}");
}
