//! Eligible leader replicas (KIP-966) as the controller keeps them: ISR
//! changes, fencing and unfencing, elections, on a topic whose
//! min.insync.replicas is 2.

use super::*;
use crate::cluster::elections::{count_elections, count_unclean, UNCLEAN};
use crate::cluster::image::{PartitionImage, NO_LEADER};
use crate::cluster::registry::{fence_records, unfence_records};

/// Three brokers and topic "t" on [1, 2, 3], led by 1, with
/// min.insync.replicas 2 (`configs`, or the broker default when empty).
fn topic_t(topic_configs: &[(&str, &str)]) -> (Cluster, Uuid) {
    let mut cluster = Cluster::with_brokers(3);
    let command = Command::CreateTopic {
        name: "t".into(),
        partitions: -1,
        replication_factor: -1,
        assignments: vec![vec![1, 2, 3]],
        configs: configs(topic_configs),
        validate_only: false,
    };
    let Reply::TopicCreated { id, .. } = cluster.run(command) else {
        panic!("topic not created");
    };
    (cluster, id)
}

fn min_isr_2() -> Defaults {
    Defaults {
        min_insync_replicas: 2,
        ..defaults()
    }
}

fn state(cluster: &Cluster) -> PartitionImage {
    cluster.topic("t").partitions[0].clone()
}

/// (leader, ISR, ELR) of "t"-0.
fn roles(cluster: &Cluster) -> (i32, Vec<i32>, Vec<i32>) {
    let p = state(cluster);
    (p.leader, p.isr, p.elr)
}

/// The leader's AlterPartition to `isr`, planned with `defaults`.
fn alter(cluster: &mut Cluster, id: Uuid, isr: &[i32], defaults: &Defaults) {
    let p = state(cluster);
    let command = Command::AlterPartition {
        broker_id: p.leader,
        broker_epoch: cluster.image.brokers[&p.leader].epoch,
        topic_id: id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.iter().map(|r| (*r, -1)).collect(),
    };
    let plan = plan(&cluster.image, defaults, &command).expect("accepted");
    cluster.commit(&plan.records);
}

/// Fences (`fenced`) or unfences `node_id`; the records committed.
fn set_fenced(
    cluster: &mut Cluster,
    node_id: i32,
    fenced: bool,
    defaults: &Defaults,
) -> Vec<MetadataRecord> {
    let epoch = cluster.image.brokers[&node_id].epoch;
    let records = if fenced {
        fence_records(&cluster.image, node_id, epoch, defaults)
    } else {
        unfence_records(&cluster.image, node_id, epoch, defaults)
    };
    cluster.commit(&records);
    records
}

#[test]
fn an_elr_member_leads_once_the_isr_is_gone() {
    let (mut cluster, id) = topic_t(&[("min.insync.replicas", "2")]);
    let d = defaults();
    alter(&mut cluster, id, &[1, 2], &d);
    assert_eq!(roles(&cluster), (1, vec![1, 2], vec![]), "ISR big enough");
    alter(&mut cluster, id, &[1], &d);
    assert_eq!(roles(&cluster), (1, vec![1], vec![2]));
    // 2 out of the ISR: fencing it changes nothing, it stays eligible.
    let records = set_fenced(&mut cluster, 2, true, &d);
    assert_eq!(records.len(), 1);
    set_fenced(&mut cluster, 1, true, &d);
    assert_eq!(roles(&cluster), (NO_LEADER, vec![], vec![1, 2]));
    // 3 was never caught up: its return elects nobody.
    set_fenced(&mut cluster, 3, true, &d);
    assert_eq!(set_fenced(&mut cluster, 3, false, &d).len(), 1);
    let before = cluster.image.clone();
    let records = set_fenced(&mut cluster, 2, false, &d);
    assert_eq!(roles(&cluster), (2, vec![2], vec![1]));
    assert_eq!(count_elections(&before, &records), 1);
    assert_eq!(
        count_unclean(&before, &records),
        0,
        "an ELR member is clean"
    );
    // 3 back in the ISR: big enough again, so no ELR.
    alter(&mut cluster, id, &[2, 3], &d);
    let p = state(&cluster);
    assert_eq!(
        (p.isr, p.elr, p.last_known_elr),
        (vec![2, 3], vec![], vec![])
    );
}

#[test]
fn the_broker_default_applies_to_topics_without_their_own() {
    let (mut cluster, id) = topic_t(&[]);
    alter(&mut cluster, id, &[1], &min_isr_2());
    assert_eq!(roles(&cluster), (1, vec![1], vec![2, 3]));
    // A topic override of 1 wins: an ISR of one is big enough.
    let (mut cluster, id) = topic_t(&[("min.insync.replicas", "1")]);
    alter(&mut cluster, id, &[1], &min_isr_2());
    assert_eq!(roles(&cluster), (1, vec![1], vec![]));
}

#[test]
fn joining_the_isr_leaves_the_elr() {
    let (mut cluster, id) = topic_t(&[("min.insync.replicas", "3")]);
    let d = defaults();
    alter(&mut cluster, id, &[1], &d);
    assert_eq!(roles(&cluster), (1, vec![1], vec![2, 3]));
    alter(&mut cluster, id, &[1, 3], &d);
    assert_eq!(roles(&cluster), (1, vec![1, 3], vec![2]));
}

#[test]
fn an_unclean_election_request_prefers_the_elr() {
    let (mut cluster, id) = topic_t(&[("min.insync.replicas", "2")]);
    let d = defaults();
    alter(&mut cluster, id, &[1, 3], &d);
    alter(&mut cluster, id, &[1], &d);
    set_fenced(&mut cluster, 2, true, &d);
    set_fenced(&mut cluster, 3, true, &d);
    set_fenced(&mut cluster, 1, true, &d);
    // 2 and 3 come back without their unfencing's elections (as with a
    // controller of an older version): ElectLeaders picks ELR member 3
    // over 2, first in replica order but not eligible.
    let epoch = |c: &Cluster, b: i32| c.image.brokers[&b].epoch;
    for b in [3, 2] {
        cluster.commit(&[MetadataRecord::UnfenceBroker {
            node_id: b,
            epoch: epoch(&cluster, b),
        }]);
    }
    let before = cluster.image.clone();
    let plan = cluster
        .plan(Command::ElectLeaders {
            election_type: UNCLEAN,
            partitions: Some(vec![("t".into(), 0)]),
        })
        .expect("planned");
    cluster.commit(&plan.records);
    assert_eq!(roles(&cluster), (3, vec![3], vec![1]));
    assert_eq!(count_unclean(&before, &plan.records), 0);
}

#[test]
fn an_unclean_election_clears_the_elr() {
    let (mut cluster, id) = topic_t(&[
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "true"),
    ]);
    let d = defaults();
    alter(&mut cluster, id, &[1, 2], &d);
    alter(&mut cluster, id, &[1], &d);
    set_fenced(&mut cluster, 2, true, &d);
    let before = cluster.image.clone();
    let records = set_fenced(&mut cluster, 1, true, &d);
    assert_eq!(count_unclean(&before, &records), 1);
    let p = state(&cluster);
    assert_eq!(
        (p.leader, p.isr, p.elr, p.last_known_elr),
        (3, vec![3], vec![], vec![])
    );
}

#[test]
fn old_records_without_elr_fields_still_decode_and_empty_ones_are_not_written() {
    let json = r#"[{"type":"Partition","topic_id":"00000000-0000-0000-0000-000000000001","partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}]"#;
    let batch = crate::cluster::records::decode(json.as_bytes()).unwrap();
    let MetadataRecord::Partition {
        elr,
        last_known_elr,
        ..
    } = &batch[0]
    else {
        panic!("{batch:?}");
    };
    assert!(elr.is_empty() && last_known_elr.is_empty());
    let text = String::from_utf8(crate::cluster::records::encode(&batch)).unwrap();
    assert!(!text.contains("elr"), "{text}");
}
