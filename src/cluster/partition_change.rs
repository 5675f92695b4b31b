//! One partition's leader and ISR changes (Kafka's `PartitionChangeBuilder`):
//! given a partition's state and a target ISR, which leader it gets and the
//! `Partition` record that moves it there, with the epochs bumped: both the
//! leader and the partition epoch when the leader changes, the partition
//! epoch alone when only the ISR does. No record when nothing changes.
//!
//! Used by the broker lifecycle (`registry`) and re-registration
//! (`commands`): fencing a broker moves its leaderships and drops it from
//! ISRs; unfencing one gives leaderless partitions a leader again. With
//! `unclean.leader.election.enable` (the topic's, else the broker default)
//! a partition left without a live ISR member is led by any live replica
//! instead, which becomes the whole ISR: it may lack acknowledged records.

use uuid::Uuid;

use super::image::{MetadataImage, PartitionImage, TopicImage, NO_LEADER};
use super::reassignment;
use super::records::MetadataRecord;

/// The topic config (and broker setting) allowing unclean elections.
pub const UNCLEAN_CONFIG: &str = "unclean.leader.election.enable";

/// Whether `topic` allows unclean elections: its override, else `default`.
pub fn unclean_enabled(topic: &TopicImage, default: bool) -> bool {
    topic
        .configs
        .get(UNCLEAN_CONFIG)
        .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
}

/// The partition records fencing `broker` makes: `fence` over every
/// partition of the image, the other brokers as live as the image says.
pub fn on_fence(image: &MetadataImage, broker: i32, unclean_default: bool) -> Vec<MetadataRecord> {
    every_partition(image, |topic, p, current| {
        let unclean = unclean_enabled(topic, unclean_default);
        fence(topic.id, p, current, broker, unclean, |b| image.is_live(b))
    })
}

/// The partition records unfencing `broker` makes (`unfence` over every
/// partition).
pub fn on_unfence(
    image: &MetadataImage,
    broker: i32,
    unclean_default: bool,
) -> Vec<MetadataRecord> {
    every_partition(image, |topic, p, current| {
        let unclean = unclean_enabled(topic, unclean_default);
        unfence(topic.id, p, current, broker, unclean, |b| image.is_live(b))
    })
}

/// The records `change` makes of every partition of every topic.
pub fn every_partition(
    image: &MetadataImage,
    mut change: impl FnMut(&TopicImage, i32, &PartitionImage) -> Option<MetadataRecord>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (p, current) in (0..).zip(&topic.partitions) {
            records.extend(change(topic, p, current));
        }
    }
    records
}

/// The leader election: the first replica, in replica order, that is in
/// `isr` and live; `NO_LEADER` if none is.
pub fn elect(replicas: &[i32], isr: &[i32], is_live: impl Fn(i32) -> bool) -> i32 {
    replicas
        .iter()
        .copied()
        .find(|r| isr.contains(r) && is_live(*r))
        .unwrap_or(NO_LEADER)
}

/// The unclean election: the first live replica, in replica order, ISR or
/// not.
pub fn elect_unclean(replicas: &[i32], is_live: impl Fn(i32) -> bool) -> i32 {
    replicas
        .iter()
        .copied()
        .find(|r| is_live(*r))
        .unwrap_or(NO_LEADER)
}

/// `current` led by `leader` with it as the only ISR member, both epochs
/// bumped: an unclean election's outcome.
pub fn led_alone(current: &PartitionImage, leader: i32) -> PartitionImage {
    PartitionImage {
        isr: vec![leader],
        leader,
        leader_epoch: current.leader_epoch.saturating_add(1),
        partition_epoch: current.partition_epoch.saturating_add(1),
        ..current.clone()
    }
}

/// The record moving `current` to `isr`: the leader stays if it is live and
/// in the new ISR, else one is elected.
pub fn build(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    isr: Vec<i32>,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    next(current, isr, is_live).map(|state| record(topic_id, partition, &state))
}

/// The state `build` records, or `None` when nothing changes. A
/// reassignment whose joining replicas are all in the new ISR completes in
/// the same change (`reassignment::complete_if_ready`).
pub fn next(
    current: &PartitionImage,
    isr: Vec<i32>,
    is_live: impl Fn(i32) -> bool,
) -> Option<PartitionImage> {
    let proposed = reassignment::complete_if_ready(PartitionImage {
        isr,
        ..current.clone()
    });
    settle(current, proposed, is_live)
}

/// `proposed` (replicas, ISR, reassignment) with a leader and epochs: the
/// leader stays if it is live and in the proposed ISR, else one is elected
/// from the proposed replicas. The leader epoch moves when the leader
/// changes or a replica leaves (so it stops fetching as a follower), the
/// partition epoch on any change. `None` when nothing changes.
pub fn settle(
    current: &PartitionImage,
    proposed: PartitionImage,
    is_live: impl Fn(i32) -> bool,
) -> Option<PartitionImage> {
    let keep_leader = current.leader != NO_LEADER
        && proposed.isr.contains(&current.leader)
        && is_live(current.leader);
    let leader = if keep_leader {
        current.leader
    } else {
        elect(&proposed.replicas, &proposed.isr, &is_live)
    };
    let unchanged = PartitionImage {
        leader,
        leader_epoch: current.leader_epoch,
        partition_epoch: current.partition_epoch,
        ..proposed.clone()
    };
    if unchanged == *current {
        return None;
    }
    let replica_left = current
        .replicas
        .iter()
        .any(|r| !proposed.replicas.contains(r));
    let bump = leader != current.leader || replica_left;
    Some(PartitionImage {
        leader,
        leader_epoch: current.leader_epoch.saturating_add(i32::from(bump)),
        partition_epoch: current.partition_epoch.saturating_add(1),
        ..proposed
    })
}

/// The `Partition` record that sets partition `partition` of `topic_id` to
/// `state`.
pub fn record(topic_id: Uuid, partition: i32, state: &PartitionImage) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        adding_replicas: state.adding_replicas.clone(),
        removing_replicas: state.removing_replicas.clone(),
    }
}

/// `broker` is fenced: it leaves the ISR (unless it is the last member, kept
/// so the partition can come back with it) and loses the leadership. With
/// `unclean`, a partition left with no live ISR member is led by the first
/// live replica instead. `is_live` answers for the other brokers.
pub fn fence(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    broker: i32,
    unclean: bool,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    if current.leader != broker && !current.isr.contains(&broker) {
        return None;
    }
    let shrunk: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| *r != broker)
        .collect();
    let isr = if shrunk.is_empty() {
        current.isr.clone()
    } else {
        shrunk
    };
    let others_live = |b| b != broker && is_live(b);
    if unclean && elect(&current.replicas, &isr, others_live) == NO_LEADER {
        let leader = elect_unclean(&current.replicas, others_live);
        if leader != NO_LEADER {
            return Some(record(topic_id, partition, &led_alone(current, leader)));
        }
    }
    build(topic_id, partition, current, isr, others_live)
}

/// `broker` is unfenced: a leaderless partition whose ISR holds it gets a
/// leader (it, unless a live ISR member comes first in replica order). With
/// `unclean`, a leaderless partition it is only a replica of gets it as
/// leader and sole ISR member.
pub fn unfence(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    broker: i32,
    unclean: bool,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    if current.leader != NO_LEADER {
        return None;
    }
    if !current.isr.contains(&broker) {
        let elected = unclean
            && current.replicas.contains(&broker)
            && elect(&current.replicas, &current.isr, &is_live) == NO_LEADER;
        return elected.then(|| record(topic_id, partition, &led_alone(current, broker)));
    }
    build(topic_id, partition, current, current.isr.clone(), |b| {
        b == broker || is_live(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
        PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 5,
            partition_epoch: 9,
            ..PartitionImage::default()
        }
    }

    fn record(isr: &[i32], leader: i32, leader_epoch: i32, partition_epoch: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id: Uuid::nil(),
            partition: 2,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch,
            partition_epoch,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    const ALL: fn(i32) -> bool = |_| true;

    #[test]
    fn fencing_the_leader_moves_leadership_to_the_next_isr_replica() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, false, ALL),
            Some(record(&[2, 3], 2, 6, 10))
        );
    }

    #[test]
    fn the_new_leader_must_be_live_and_in_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, false, |b| b != 2),
            Some(record(&[3], 3, 6, 10))
        );
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, false, |b| b == 3),
            Some(record(&[2, 3], 3, 6, 10))
        );
    }

    #[test]
    fn fencing_a_follower_only_shrinks_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 3, false, ALL),
            Some(record(&[1, 2], 1, 5, 10))
        );
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_leaderless() {
        let p = PartitionImage {
            replicas: vec![1, 2, 3],
            ..partition(&[], &[1], 1)
        };
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, false, ALL),
            Some(record(&[1], NO_LEADER, 6, 10))
        );
    }

    #[test]
    fn fencing_an_uninvolved_broker_changes_nothing() {
        let p = partition(&[1, 2, 3], &[1, 2], 1);
        assert_eq!(fence(Uuid::nil(), 2, &p, 3, false, ALL), None);
        let p = partition(&[1, 2, 3], &[1], NO_LEADER);
        assert_eq!(fence(Uuid::nil(), 2, &p, 1, false, ALL), None);
    }

    #[test]
    fn unfencing_elects_for_leaderless_partitions_only() {
        let p = partition(&[1, 2, 3], &[1], NO_LEADER);
        assert_eq!(
            unfence(Uuid::nil(), 2, &p, 1, false, |_| false),
            Some(record(&[1], 1, 6, 10))
        );
        let led = partition(&[1, 2, 3], &[1, 2], 2);
        assert_eq!(unfence(Uuid::nil(), 2, &led, 1, false, ALL), None);
        let elsewhere = partition(&[1, 2, 3], &[2], NO_LEADER);
        assert_eq!(unfence(Uuid::nil(), 2, &elsewhere, 1, false, ALL), None);
    }

    #[test]
    fn election_follows_replica_order() {
        assert_eq!(elect(&[3, 1, 2], &[1, 2, 3], ALL), 3);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], ALL), 1);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], |b| b == 2), 2);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], |_| false), NO_LEADER);
    }
}
