//! Elections: unclean ones on fencing and unfencing, ElectLeaders, and the
//! automatic leader rebalance.

use kafka_protocol::error::ResponseError;

use super::partitions::create_on;
use super::*;
use crate::cluster::elections::{
    count_elections, count_unclean, offline_partitions, rebalance_plan, PREFERRED, UNCLEAN,
};
use crate::cluster::image::{PartitionImage, NO_LEADER};
use crate::cluster::registry::{fence_records, unfence_records};

fn state(cluster: &Cluster, name: &str, p: usize) -> PartitionImage {
    cluster.topic(name).partitions[p].clone()
}

/// The test defaults with unclean.leader.election.enable as given.
fn unclean(enabled: bool) -> Defaults {
    Defaults {
        unclean_leader_election: enabled,
        ..defaults()
    }
}

fn fence(cluster: &mut Cluster, node_id: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    let epoch = cluster.image.brokers[&node_id].epoch;
    let records = fence_records(&cluster.image, node_id, epoch, &unclean(unclean_default));
    cluster.commit(&records);
    records
}

fn unfence(cluster: &mut Cluster, node_id: i32, unclean_default: bool) {
    let epoch = cluster.image.brokers[&node_id].epoch;
    let records = unfence_records(&cluster.image, node_id, epoch, &unclean(unclean_default));
    cluster.commit(&records);
}

fn set_unclean(cluster: &mut Cluster, name: &str, value: &str) {
    cluster.run(Command::AlterTopicConfigs {
        name: name.into(),
        configs: configs(&[("unclean.leader.election.enable", value)]),
        validate_only: false,
    });
}

/// Topic "t" on [1, 2, 3] whose ISR is only [1] (2 and 3 lag).
fn lagging() -> (Cluster, Uuid) {
    let mut cluster = Cluster::with_brokers(3);
    let id = create_on(&mut cluster, "t", &[1, 2, 3]);
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1], 1, (0, 1))]);
    (cluster, id)
}

#[test]
fn fencing_the_last_isr_member_leaves_it_eligible_and_leaderless_when_clean() {
    let (mut cluster, _) = lagging();
    assert_eq!(offline_partitions(&cluster.image), 0);
    let image = cluster.image.clone();
    let records = fence(&mut cluster, 1, false);
    // Losing the leader is not an election; the partition is offline.
    assert_eq!(count_elections(&image, &records), 0);
    assert_eq!(offline_partitions(&cluster.image), 1);
    let p = state(&cluster, "t", 0);
    assert_eq!(
        (p.leader, p.isr.clone(), p.elr.clone()),
        (NO_LEADER, vec![], vec![1])
    );
    // Its last ISR member back (from the ELR): a clean election.
    let image = cluster.image.clone();
    let epoch = cluster.image.brokers[&1].epoch;
    let records = unfence_records(&cluster.image, 1, epoch, &defaults());
    cluster.commit(&records);
    assert_eq!(count_elections(&image, &records), 1);
    assert_eq!(count_unclean(&image, &records), 0);
    assert_eq!(offline_partitions(&cluster.image), 0);
}

#[test]
fn fencing_elects_a_live_replica_when_the_topic_allows_unclean() {
    let (mut cluster, _) = lagging();
    set_unclean(&mut cluster, "t", "true");
    let before = state(&cluster, "t", 0);
    let image = cluster.image.clone();
    let records = fence(&mut cluster, 1, false);
    assert_eq!(count_unclean(&image, &records), 1);
    assert_eq!(count_elections(&image, &records), 1);
    let p = state(&cluster, "t", 0);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
}

#[test]
fn the_broker_default_applies_and_a_topic_false_overrides_it() {
    let (mut cluster, _) = lagging();
    fence(&mut cluster, 1, true);
    assert_eq!(state(&cluster, "t", 0).leader, 2);
    let (mut cluster, _) = lagging();
    set_unclean(&mut cluster, "t", "false");
    fence(&mut cluster, 1, true);
    assert_eq!(state(&cluster, "t", 0).leader, NO_LEADER);
}

#[test]
fn unfencing_a_non_isr_replica_of_a_leaderless_partition_elects_it_if_unclean() {
    let (mut cluster, _) = lagging();
    fence(&mut cluster, 2, false);
    fence(&mut cluster, 3, false);
    fence(&mut cluster, 1, false);
    assert_eq!(state(&cluster, "t", 0).leader, NO_LEADER);
    unfence(&mut cluster, 3, false);
    assert_eq!(state(&cluster, "t", 0).leader, NO_LEADER);
    fence(&mut cluster, 3, false);
    unfence(&mut cluster, 3, true);
    let p = state(&cluster, "t", 0);
    assert_eq!((p.leader, p.isr), (3, vec![3]));
}

fn elect(election_type: i8, partitions: Option<&[(&str, i32)]>) -> Command {
    Command::ElectLeaders {
        election_type,
        partitions: partitions.map(|ps| ps.iter().map(|(t, p)| (t.to_string(), *p)).collect()),
    }
}

fn results(reply: Reply) -> Vec<(String, i32, i16)> {
    let Reply::LeadersElected(results) = reply else {
        panic!("reply {reply:?}");
    };
    results.into_iter().map(|(t, p, c, _)| (t, p, c)).collect()
}

#[test]
fn preferred_election_moves_leadership_back_to_the_first_replica() {
    let mut cluster = Cluster::with_brokers(3);
    let id = create_on(&mut cluster, "t", &[1, 2, 3]);
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1, 2, 3], 2, (1, 1))]);
    let reply = cluster.run(elect(
        PREFERRED,
        Some(&[("t", 0), ("t", 0), ("u", 0), ("t", 9)]),
    ));
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        results(reply),
        vec![
            ("t".into(), 0, 0),
            ("u".into(), 0, unknown),
            ("t".into(), 9, unknown)
        ]
    );
    let p = state(&cluster, "t", 0);
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 2, 2));
    let reply = cluster.run(elect(PREFERRED, Some(&[("t", 0)])));
    let not_needed = ResponseError::ElectionNotNeeded.code();
    assert_eq!(results(reply), vec![("t".into(), 0, not_needed)]);
}

#[test]
fn preferred_election_needs_the_first_replica_live_and_in_the_isr() {
    let mut cluster = Cluster::with_brokers(3);
    let id = create_on(&mut cluster, "t", &[1, 2, 3]);
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[2, 3], 2, (1, 1))]);
    let plan = cluster.plan(elect(PREFERRED, Some(&[("t", 0)]))).unwrap();
    assert!(plan.records.is_empty());
    let code = ResponseError::PreferredLeaderNotAvailable.code();
    assert_eq!(results(plan.reply), vec![("t".into(), 0, code)]);
}

#[test]
fn unclean_election_prefers_the_isr_then_any_live_replica() {
    let (mut cluster, id) = lagging();
    let not_needed = ResponseError::ElectionNotNeeded.code();
    let reply = cluster.run(elect(UNCLEAN, Some(&[("t", 0)])));
    assert_eq!(results(reply), vec![("t".into(), 0, not_needed)]);
    fence(&mut cluster, 1, false);
    // A live ISR member (written in by hand) is elected cleanly.
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1, 3], NO_LEADER, (5, 5))]);
    cluster.run(elect(UNCLEAN, Some(&[("t", 0)])));
    let p = state(&cluster, "t", 0);
    assert_eq!(
        (p.leader, p.isr.clone(), p.leader_epoch),
        (3, vec![1, 3], 6)
    );
    // No live ISR member: the first live replica, alone in the ISR.
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1], NO_LEADER, (7, 7))]);
    let image = cluster.image.clone();
    let plan = cluster.plan(elect(UNCLEAN, None)).unwrap();
    assert_eq!(count_unclean(&image, &plan.records), 1);
    assert_eq!(results(plan.reply.clone()), vec![("t".into(), 0, 0)]);
    cluster.commit(&plan.records);
    let p = state(&cluster, "t", 0);
    assert_eq!((p.leader, p.isr), (2, vec![2]));
}

#[test]
fn unclean_election_without_live_replicas_fails() {
    let (mut cluster, _) = lagging();
    for b in [2, 3, 1] {
        fence(&mut cluster, b, false);
    }
    let plan = cluster.plan(elect(UNCLEAN, Some(&[("t", 0)]))).unwrap();
    let code = ResponseError::EligibleLeadersNotAvailable.code();
    assert_eq!(results(plan.reply), vec![("t".into(), 0, code)]);
}

#[test]
fn electing_all_reports_only_what_was_elected_or_failed() {
    let mut cluster = Cluster::with_brokers(3);
    let id = create_on(&mut cluster, "t", &[1, 2, 3]);
    create_on(&mut cluster, "u", &[2, 3, 1]);
    let plan = cluster.plan(elect(PREFERRED, None)).unwrap();
    assert!(results(plan.reply).is_empty());
    cluster.commit(&[partition(id, 0, &[1, 2, 3], &[1, 2, 3], 3, (1, 1))]);
    let reply = cluster.run(elect(PREFERRED, None));
    assert_eq!(results(reply), vec![("t".into(), 0, 0)]);
}

#[test]
fn unknown_election_types_are_invalid() {
    let cluster = Cluster::with_brokers(1);
    let refusal = cluster.plan(elect(7, None)).unwrap_err();
    assert_eq!(refusal.code, ResponseError::InvalidRequest.code());
}

/// Ten partitions preferring broker 1 ([1, 2]), `moved` of them led by 2.
fn imbalanced(moved: i32) -> Cluster {
    let mut cluster = Cluster::with_brokers(2);
    let assignments = vec![vec![1, 2]; 10];
    cluster.run(Command::CreateTopic {
        name: "t".into(),
        partitions: -1,
        replication_factor: -1,
        assignments,
        configs: BTreeMap::new(),
        validate_only: false,
    });
    let id = cluster.topic("t").id;
    let records: Vec<_> = (0..moved)
        .map(|p| partition(id, p, &[1, 2], &[1, 2], 2, (1, 1)))
        .collect();
    cluster.commit(&records);
    cluster
}

#[test]
fn rebalance_waits_until_a_broker_is_imbalanced_past_the_percentage() {
    let cluster = imbalanced(1);
    assert!(rebalance_plan(&cluster.image, 10).is_empty());
    let mut cluster = imbalanced(2);
    let records = rebalance_plan(&cluster.image, 10);
    assert_eq!(records.len(), 2);
    cluster.commit(&records);
    for p in 0..10 {
        assert_eq!(state(&cluster, "t", p).leader, 1);
    }
    assert_eq!(state(&cluster, "t", 0).leader_epoch, 2);
    assert!(rebalance_plan(&cluster.image, 10).is_empty());
}

#[test]
fn rebalance_skips_preferred_replicas_out_of_the_isr_or_fenced() {
    let mut cluster = imbalanced(5);
    let id = cluster.topic("t").id;
    cluster.commit(&[partition(id, 0, &[1, 2], &[2], 2, (1, 2))]);
    assert_eq!(rebalance_plan(&cluster.image, 10).len(), 4);
    fence(&mut cluster, 1, false);
    assert!(rebalance_plan(&cluster.image, 10).is_empty());
}
