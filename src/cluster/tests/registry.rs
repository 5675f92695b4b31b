//! The broker lifecycle: heartbeats, unfencing, fencing and what it does to
//! partition leadership.

use kafka_protocol::error::ResponseError;

use super::*;
use crate::cluster::image::NO_LEADER;
use crate::cluster::registry::{HeartbeatReply, Registry, PENDING_RETRY_MS};

const SESSION_MS: u64 = 9_000;

fn reply(is_fenced: bool, should_shut_down: bool) -> HeartbeatReply {
    HeartbeatReply {
        is_fenced,
        should_shut_down,
    }
}

/// A heartbeat from `node_id` at its current epoch, caught up.
fn beat(
    registry: &mut Registry,
    cluster: &Cluster,
    node_id: i32,
    want_shutdown: bool,
    now_ms: u64,
) -> (Vec<MetadataRecord>, HeartbeatReply) {
    let epoch = cluster.image.brokers[&node_id].epoch;
    let offset = cluster.image.offset;
    registry
        .heartbeat(
            &cluster.image,
            node_id,
            epoch,
            offset,
            want_shutdown,
            now_ms,
        )
        .expect("heartbeat refused")
}

#[test]
fn heartbeats_from_strangers_and_old_epochs_are_stale() {
    let mut cluster = Cluster::new();
    let mut registry = Registry::default();
    let refusal = registry
        .heartbeat(&cluster.image, 1, 2, 2, false, 0)
        .unwrap_err();
    assert_eq!(refusal.code, ResponseError::StaleBrokerEpoch.code());
    let old = cluster.register(1, None);
    cluster.register(1, None);
    let refusal = registry
        .heartbeat(&cluster.image, 1, old, 10, false, 0)
        .unwrap_err();
    assert_eq!(refusal.code, ResponseError::StaleBrokerEpoch.code());
}

#[test]
fn a_broker_is_unfenced_once_caught_up() {
    let mut cluster = Cluster::new();
    let mut registry = Registry::default();
    let epoch = cluster.register(1, None);
    let behind = registry
        .heartbeat(&cluster.image, 1, epoch, epoch as u64 - 1, false, 10)
        .unwrap();
    assert_eq!(behind, (vec![], reply(true, false)));
    let (records, answer) = registry
        .heartbeat(&cluster.image, 1, epoch, epoch as u64, false, 20)
        .unwrap();
    assert_eq!(
        records,
        vec![MetadataRecord::UnfenceBroker { node_id: 1, epoch }]
    );
    assert_eq!(answer, reply(false, false));
    // Not yet committed: no second unfence.
    let again = registry
        .heartbeat(&cluster.image, 1, epoch, epoch as u64, false, 30)
        .unwrap();
    assert_eq!(again, (vec![], reply(true, false)));
    cluster.commit(&records);
    assert!(cluster.image.is_live(1));
    assert_eq!(
        beat(&mut registry, &cluster, 1, false, 40),
        (vec![], reply(false, false))
    );
}

#[test]
fn fencing_the_only_replica_leaves_the_partition_leaderless_until_it_returns() {
    let mut cluster = Cluster::with_brokers(1);
    let id = cluster.create("t", 1, 1);
    let mut registry = Registry::default();
    registry.reset(&cluster.image, 0);
    let epoch = cluster.image.brokers[&1].epoch;

    let fence = registry.connection_closed(&cluster.image, 1);
    assert_eq!(
        fence,
        vec![
            MetadataRecord::FenceBroker { node_id: 1, epoch },
            // Out of the ISR but eligible: its log survives the fencing.
            with_elr(partition(id, 0, &[1], &[], NO_LEADER, (1, 1)), &[1]),
        ]
    );
    assert!(
        registry.connection_closed(&cluster.image, 1).is_empty(),
        "fenced twice"
    );
    cluster.commit(&fence);
    assert!(registry.connection_closed(&cluster.image, 1).is_empty());
    assert_eq!(cluster.topic("t").partitions[0].leader, NO_LEADER);

    let (unfence, answer) = beat(&mut registry, &cluster, 1, false, 100);
    assert_eq!(
        unfence,
        vec![
            MetadataRecord::UnfenceBroker { node_id: 1, epoch },
            partition(id, 0, &[1], &[1], 1, (2, 2)),
        ]
    );
    assert_eq!(answer, reply(false, false));
    cluster.commit(&unfence);
    assert_eq!(cluster.topic("t").partitions[0].leader, 1);
    assert_eq!(cluster.topic("t").partitions[0].leader_epoch, 2);
}

#[test]
fn fencing_moves_leadership_with_three_replicas() {
    let mut cluster = Cluster::with_brokers(3);
    let id = cluster.create("t", 3, 3);
    let before = cluster.topic("t").partitions.clone();
    let mut registry = Registry::default();
    let fence = registry.connection_closed(&cluster.image, 1);
    cluster.commit(&fence);
    assert!(!cluster.image.is_live(1));
    // Every partition changed: 1 was in every ISR.
    assert_eq!(fence.len(), 4);
    for (p, (old, new)) in before
        .iter()
        .zip(&cluster.topic("t").partitions)
        .enumerate()
    {
        assert!(!new.isr.contains(&1), "partition {p}: {new:?}");
        assert_eq!(new.partition_epoch, old.partition_epoch + 1);
        if old.leader == 1 {
            let expected = *old.replicas.iter().find(|r| **r != 1).unwrap();
            assert_eq!(new.leader, expected, "partition {p}");
            assert_eq!(new.leader_epoch, old.leader_epoch + 1);
        } else {
            assert_eq!(
                (new.leader, new.leader_epoch),
                (old.leader, old.leader_epoch)
            );
        }
    }
    // The topic id is carried over in each record.
    assert!(fence[1..]
        .iter()
        .all(|r| matches!(r, MetadataRecord::Partition { topic_id, .. } if *topic_id == id)));
}

#[test]
fn silent_brokers_expire_after_the_session_timeout() {
    let mut cluster = Cluster::with_brokers(3);
    let mut registry = Registry::default();
    registry.reset(&cluster.image, 1_000);
    beat(&mut registry, &cluster, 1, false, 5_000);
    beat(&mut registry, &cluster, 2, false, 6_000);
    // 3 has not been heard from since the reset at 1000.
    assert!(registry
        .expire(&cluster.image, 1_000 + SESSION_MS, SESSION_MS)
        .is_empty());
    let records = registry.expire(&cluster.image, 1_001 + SESSION_MS, SESSION_MS);
    let epoch = cluster.image.brokers[&3].epoch;
    assert_eq!(
        records,
        vec![MetadataRecord::FenceBroker { node_id: 3, epoch }]
    );
    assert!(registry
        .expire(&cluster.image, 1_002 + SESSION_MS, SESSION_MS)
        .is_empty());
    cluster.commit(&records);
    // 1 beats on; 2 goes silent after 6000.
    beat(&mut registry, &cluster, 1, false, 14_000);
    let records = registry.expire(&cluster.image, 15_001, SESSION_MS);
    let epoch = cluster.image.brokers[&2].epoch;
    assert_eq!(
        records,
        vec![MetadataRecord::FenceBroker { node_id: 2, epoch }]
    );
}

#[test]
fn brokers_expiring_together_fence_in_turn() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.create("t", 3, 3);
    let mut registry = Registry::default();
    registry.reset(&cluster.image, 0);
    beat(&mut registry, &cluster, 3, false, SESSION_MS);
    let records = registry.expire(&cluster.image, SESSION_MS + 1, SESSION_MS);
    cluster.commit(&records);
    assert_eq!(cluster.image.live_brokers().len(), 1);
    for p in &cluster.topic("t").partitions {
        assert_eq!((p.leader, &p.isr[..]), (3, &[3][..]), "{p:?}");
    }
}

#[test]
fn a_lost_fence_is_issued_again() {
    let cluster = Cluster::with_brokers(1);
    let mut registry = Registry::default();
    registry.reset(&cluster.image, 0);
    assert_eq!(registry.connection_closed(&cluster.image, 1).len(), 1);
    assert!(registry.connection_closed(&cluster.image, 1).is_empty());
    // Time passes (seen through a heartbeat-free expire pass) and the fence
    // never reached the image.
    assert!(registry
        .expire(&cluster.image, PENDING_RETRY_MS, u64::MAX)
        .is_empty());
    assert_eq!(registry.connection_closed(&cluster.image, 1).len(), 1);
}

#[test]
fn controlled_shutdown_fences_and_moves_leaders() {
    let mut cluster = Cluster::with_brokers(2);
    cluster.create("t", 2, 2);
    let mut registry = Registry::default();
    let (records, answer) = beat(&mut registry, &cluster, 1, true, 10);
    assert_eq!(answer, reply(true, true));
    assert!(matches!(
        records[0],
        MetadataRecord::FenceBroker { node_id: 1, .. }
    ));
    // Asked again before the records are in: nothing new, not done yet.
    assert_eq!(
        beat(&mut registry, &cluster, 1, true, 20),
        (vec![], reply(false, false))
    );
    cluster.commit(&records);
    for p in &cluster.topic("t").partitions {
        assert_eq!((p.leader, &p.isr[..]), (2, &[2][..]));
    }
    assert_eq!(
        beat(&mut registry, &cluster, 1, true, 30),
        (vec![], reply(true, true))
    );
    // 2 was never heard from and there was no reset: its session starts at
    // the first expiry pass that sees it.
    assert!(registry.expire(&cluster.image, 100, SESSION_MS).is_empty());
    let last = registry.expire(&cluster.image, 101 + SESSION_MS, SESSION_MS);
    cluster.commit(&last);
    assert_eq!(last.len(), 3);
    for p in &cluster.topic("t").partitions {
        assert_eq!(
            (p.leader, &p.isr[..], &p.elr[..]),
            (NO_LEADER, &[][..], &[2][..])
        );
    }
}
