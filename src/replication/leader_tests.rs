use super::*;
use kafka_protocol::error::ResponseError;

const LAG: i64 = 30_000;

fn committed(isr: &[i32], partition_epoch: i32) -> Committed {
    Committed {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader_epoch: 4,
        partition_epoch,
    }
}

/// Leader 1 of replicas [1, 2, 3] at log end 100, nothing replicated yet.
fn leader(isr: &[i32]) -> LeaderState {
    let mut l = LeaderState::new(1, committed(isr, 7), 90, 100, 0, LAG);
    assert_eq!(
        l.on_local_durable(100),
        if isr == [1] { Some(100) } else { None }
    );
    l
}

#[test]
fn the_high_watermark_is_the_lowest_durable_end_of_the_isr() {
    let mut l = leader(&[1, 2, 3]);
    assert_eq!(l.on_fetch(2, 11, 100, 10), (None, None));
    assert_eq!(l.high_watermark(), 90, "replica 3 has not fetched yet");
    assert_eq!(l.on_fetch(3, 12, 95, 10), (Some(95), None));
    assert_eq!(l.on_fetch(3, 12, 100, 20), (Some(100), None));
    assert_eq!(l.on_local_durable(120), None, "followers hold only 100");
    assert_eq!(l.on_fetch(2, 11, 120, 30), (None, None));
    assert_eq!(l.on_fetch(3, 12, 120, 30), (Some(120), None));
}

#[test]
fn the_high_watermark_never_goes_back() {
    let mut l = leader(&[1, 2]);
    assert_eq!(l.on_fetch(2, 11, 100, 10).0, Some(100));
    // A restarted follower (new broker epoch) that lost nothing synced
    // still cannot pull the high watermark down.
    assert_eq!(l.on_fetch(2, 99, 80, 20).0, None);
    assert_eq!(l.high_watermark(), 100);
}

#[test]
fn a_leader_alone_in_the_isr_follows_its_own_durable_end() {
    let mut l = leader(&[1]);
    assert_eq!(l.on_local_durable(150), Some(150));
    assert_eq!(
        l.on_fetch(2, 11, 10, 5).0,
        None,
        "replica 2 is not in the ISR"
    );
}

#[test]
fn a_follower_that_stops_catching_up_is_proposed_out() {
    let mut l = leader(&[1, 2, 3]);
    l.on_fetch(2, 11, 100, 1_000);
    l.on_fetch(3, 12, 100, 1_000);
    assert_eq!(l.tick(LAG), None);
    l.on_local_durable(200);
    l.on_fetch(2, 11, 200, LAG + 500);
    l.on_fetch(3, 12, 150, LAG + 500); // behind, and behind the last fetch's end too
    let alter = l.tick(LAG + 1_001).expect("3 lagged past the limit");
    assert_eq!(
        alter,
        AlterIsr {
            leader_epoch: 4,
            partition_epoch: 7,
            new_isr: vec![(1, -1), (2, 11)],
        }
    );
    assert_eq!(l.tick(LAG + 5_000), None, "one proposal at a time");
    // Until committed, 3 still bounds the high watermark.
    assert_eq!(l.high_watermark(), 150);
    assert_eq!(l.update(committed(&[1, 2], 8), LAG + 5_000), Some(200));
    assert!(l.pending().is_none());
}

#[test]
fn reaching_the_previous_fetchs_end_counts_as_caught_up_then() {
    let mut l = leader(&[1, 2]);
    l.on_fetch(2, 11, 100, 0);
    // Under steady load the follower is always one round behind.
    for round in 1..100 {
        let end = 100 + round * 10;
        l.on_local_durable(end);
        l.on_fetch(2, 11, end - 10, round * 1_000);
    }
    assert_eq!(l.tick(100_000), None);
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, 98_000);
}

#[test]
fn a_follower_is_proposed_in_once_it_holds_the_high_watermark() {
    let mut l = leader(&[1, 3]);
    l.on_fetch(3, 12, 100, 10);
    assert_eq!(l.high_watermark(), 100);
    assert_eq!(l.on_fetch(2, 11, 50, 10), (None, None));
    let (hw, alter) = l.on_fetch(2, 11, 100, 20);
    assert_eq!(hw, None);
    assert_eq!(
        alter.expect("2 caught up").new_isr,
        vec![(1, -1), (2, 11), (3, 12)]
    );
    // The member being added bounds the high watermark already.
    l.on_local_durable(130);
    assert_eq!(l.on_fetch(3, 12, 130, 30).0, None);
    assert_eq!(l.on_fetch(2, 11, 130, 30).0, Some(130));
}

#[test]
fn a_follower_must_also_hold_everything_before_this_epoch() {
    // HW 90 but this epoch began at 100: reaching 90 is not enough.
    let mut l = LeaderState::new(1, committed(&[1], 7), 90, 100, 0, LAG);
    let (_, alter) = l.on_fetch(2, 11, 95, 5);
    assert_eq!(alter, None);
    let (_, alter) = l.on_fetch(2, 11, 100, 6);
    assert!(alter.is_some());
}

#[test]
fn a_refused_proposal_can_be_made_again() {
    let mut l = leader(&[1, 3]);
    l.on_fetch(3, 12, 100, 10);
    assert!(l.on_fetch(2, 11, 100, 10).1.is_some());
    assert!(l.on_fetch(2, 11, 100, 11).1.is_none());
    assert!(l.alter_failed(ResponseError::IneligibleReplica));
    assert!(l.on_fetch(2, 11, 100, 12).1.is_some());
}

/// Found by the replication simulation (seed 1328): the reply to an
/// expansion was lost, the leader dropped the proposal and took its high
/// watermark past the new member, which the controller had put in the ISR
/// and later elected with none of those records.
#[test]
fn an_expansion_of_unknown_outcome_keeps_bounding_the_high_watermark() {
    let mut l = leader(&[1, 3]);
    l.on_fetch(3, 12, 100, 10);
    let expand = l.on_fetch(2, 11, 100, 10).1.expect("2 caught up");
    // The controller may have applied it: a retry is refused for its stale
    // partition epoch, and that proves nothing.
    assert!(!l.alter_failed(ResponseError::InvalidUpdateVersion));
    assert!(!l.alter_failed(ResponseError::FencedLeaderEpoch));
    assert_eq!(l.pending(), Some(&expand));
    l.on_local_durable(150);
    assert_eq!(l.on_fetch(3, 12, 150, 20).0, None, "2 still bounds it");
    assert_eq!(l.high_watermark(), 100);
    // The image settles it either way.
    assert_eq!(l.update(committed(&[1, 2, 3], 8), 30), None);
    assert!(l.pending().is_none());
    assert_eq!(l.on_fetch(2, 11, 150, 40).0, Some(150));
}

#[test]
fn a_stale_image_is_ignored_and_removed_replicas_forgotten() {
    let mut l = leader(&[1, 2, 3]);
    assert_eq!(l.update(committed(&[1], 6), 10), None);
    assert_eq!(l.committed().isr, vec![1, 2, 3]);
    let shrunk = Committed {
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader_epoch: 4,
        partition_epoch: 9,
    };
    l.update(shrunk, 10);
    assert!(l.follower(3).is_none());
    assert_eq!(l.on_fetch(3, 12, 100, 20), (None, None));
}

#[test]
fn a_late_fetch_of_an_earlier_incarnation_counts_for_nothing() {
    let mut l = leader(&[1, 2]);
    assert_eq!(l.on_fetch(2, 11, 50, 10).0, None);
    // Restarted (broker epoch 12), it truncated to 40; then a fetch the
    // old incarnation sent before crashing arrives.
    l.on_fetch(2, 12, 40, 20);
    assert_eq!(l.on_fetch(2, 11, 100, 21), (None, None));
    assert_eq!(l.follower(2).unwrap().durable_end, 40);
    assert_eq!(l.high_watermark(), 90);
}

/// Found by the replication simulation (seed 164092): an expansion was
/// refused (the new member not yet unfenced), the leader's high watermark
/// passed the member, then a duplicate of the same request reached the
/// controller after the member was unfenced and was applied; the member,
/// holding none of it, was elected next.
#[test]
fn a_refused_expansion_bounds_the_high_watermark_until_the_epoch_moves() {
    let mut l = leader(&[1, 3]);
    l.on_fetch(3, 12, 100, 10);
    assert!(l.on_fetch(2, 11, 100, 10).1.is_some());
    assert!(l.alter_failed(ResponseError::IneligibleReplica));
    assert!(l.pending().is_none(), "free to propose again");
    l.on_local_durable(150);
    assert_eq!(l.on_fetch(3, 12, 150, 20).0, None, "2 may still join");
    // Any committed change moves the partition epoch past the request.
    assert_eq!(l.update(committed(&[1, 3], 8), 30), Some(150));
}

/// The other side of the test above: a refused addition that never comes
/// back must not hold the high watermark (and acks=all) forever when
/// nothing else changes the partition.
#[test]
fn a_refused_expansion_stops_bounding_the_high_watermark_after_its_ttl() {
    let mut l = leader(&[1, 3]);
    l.on_fetch(3, 12, 100, 10);
    assert!(l.on_fetch(2, 11, 100, 10).1.is_some());
    assert!(l.alter_failed(ResponseError::IneligibleReplica));
    l.on_local_durable(150);
    assert_eq!(l.on_fetch(3, 12, 150, 20).0, None);
    assert_eq!(l.tick(1_000), None); // starts the clock
    l.tick(1_000 + REFUSED_TTL_MS);
    assert_eq!(l.high_watermark(), 100, "not yet");
    l.tick(1_001 + REFUSED_TTL_MS);
    assert_eq!(l.high_watermark(), 150);
}

#[test]
fn the_high_watermark_waits_while_the_isr_is_below_min_isr() {
    let mut l = leader(&[1, 2, 3]);
    l.set_min_isr(2);
    l.on_fetch(2, 11, 100, 10);
    assert_eq!(l.on_fetch(3, 12, 100, 10).0, Some(100));
    // 2 and 3 dropped: the leader alone may not move it, acks=1 or not.
    assert_eq!(l.update(committed(&[1], 8), 20), None);
    assert!(l.under_min_isr());
    assert!(!l.alone(), "a short ISR holds the high watermark");
    assert_eq!(l.on_local_durable(150), None);
    let (hw, alter) = l.on_fetch(2, 11, 150, 30);
    assert_eq!(hw, None, "a member being added is not yet committed");
    assert!(alter.is_some(), "2 caught up is proposed back in");
    // 2 back in the committed ISR: two members, it moves again.
    assert_eq!(l.update(committed(&[1, 2], 9), 40), Some(150));
}

#[test]
fn min_isr_above_the_replica_count_counts_as_the_replica_count() {
    let solo = Committed {
        replicas: vec![1],
        isr: vec![1],
        leader_epoch: 4,
        partition_epoch: 7,
    };
    let mut l = LeaderState::new(1, solo, 90, 100, 0, LAG);
    l.set_min_isr(2);
    assert!(!l.under_min_isr() && l.alone());
    assert_eq!(l.on_local_durable(120), Some(120));
}
