//! One partition's leader and ISR changes (Kafka's `PartitionChangeBuilder`):
//! given a partition's state and a target ISR, which leader it gets and the
//! `Partition` record that moves it there, with the epochs bumped: both the
//! leader and the partition epoch when the leader changes, the partition
//! epoch alone when only the ISR does. No record when nothing changes.
//!
//! Used by the broker lifecycle (`registry`) and re-registration
//! (`commands`): fencing a broker moves its leaderships and drops it from
//! ISRs (into the ELR when the ISR falls below min.insync.replicas, `elr`);
//! unfencing one gives leaderless partitions a leader again. A clean
//! election takes a live ISR member, else a live ELR member, which becomes
//! the whole ISR. With `unclean.leader.election.enable` (the topic's, else
//! the broker default) a partition left with neither is led by any live
//! replica instead, which becomes the whole ISR: it may lack acknowledged
//! records.

use uuid::Uuid;

use super::commands::Defaults;
use super::elr;
use super::image::{MetadataImage, PartitionImage, TopicImage, NO_LEADER};
use super::reassignment;
use super::records::MetadataRecord;

/// The topic config (and broker setting) allowing unclean elections.
pub const UNCLEAN_CONFIG: &str = "unclean.leader.election.enable";

/// What a topic's elections follow: its configs, else the broker defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rules {
    /// unclean.leader.election.enable.
    pub unclean: bool,
    /// min.insync.replicas (`elr::effective` bounds it per partition).
    pub min_isr: i32,
}

impl Rules {
    pub fn of(topic: &TopicImage, defaults: &Defaults) -> Rules {
        Rules {
            unclean: unclean_enabled(topic, defaults.unclean_leader_election),
            min_isr: elr::min_isr(topic, defaults.min_insync_replicas),
        }
    }
}

/// Whether `topic` allows unclean elections: its override, else `default`.
pub fn unclean_enabled(topic: &TopicImage, default: bool) -> bool {
    topic
        .configs
        .get(UNCLEAN_CONFIG)
        .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
}

/// The min.insync.replicas of the topic with id `topic_id` (the default
/// for an unknown one).
pub fn min_isr_of(image: &MetadataImage, topic_id: &Uuid, defaults: &Defaults) -> i32 {
    image
        .topic_by_id(topic_id)
        .map_or(defaults.min_insync_replicas, |t| {
            Rules::of(t, defaults).min_isr
        })
}

/// The partition records fencing `broker` makes: `fence` over every
/// partition of the image, the other brokers as live as the image says.
pub fn on_fence(image: &MetadataImage, broker: i32, defaults: &Defaults) -> Vec<MetadataRecord> {
    every_partition(image, |topic, p, current| {
        let rules = Rules::of(topic, defaults);
        fence(topic.id, p, current, broker, rules, |b| image.is_live(b))
    })
}

/// The partition records unfencing `broker` makes (`unfence` over every
/// partition).
pub fn on_unfence(image: &MetadataImage, broker: i32, defaults: &Defaults) -> Vec<MetadataRecord> {
    every_partition(image, |topic, p, current| {
        let rules = Rules::of(topic, defaults);
        unfence(topic.id, p, current, broker, rules, |b| image.is_live(b))
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

/// The named partition and its topic, or Kafka's refusal for a partition
/// that does not exist (ElectLeaders, reassignments).
pub fn existing<'a>(
    image: &'a MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<(&'a TopicImage, &'a PartitionImage), super::commands::Refusal> {
    image.topic_partition(topic, partition).ok_or_else(|| {
        let msg = format!("Partition {topic}-{partition} does not exist.");
        super::commands::Refusal::new(
            kafka_protocol::error::ResponseError::UnknownTopicOrPartition,
            msg,
        )
    })
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
/// bumped and no ELR left: an unclean election's outcome.
pub fn led_alone(current: &PartitionImage, leader: i32) -> PartitionImage {
    PartitionImage {
        isr: vec![leader],
        leader,
        leader_epoch: current.leader_epoch.saturating_add(1),
        partition_epoch: current.partition_epoch.saturating_add(1),
        elr: Vec::new(),
        last_known_elr: Vec::new(),
        ..current.clone()
    }
}

/// The record moving `current` to `isr`: the leader stays if it is live and
/// in the new ISR, else one is elected. `min_isr` is the topic's.
pub fn build(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    isr: Vec<i32>,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    next(current, isr, min_isr, is_live).map(|state| record(topic_id, partition, &state))
}

/// The state `build` records, or `None` when nothing changes. A
/// reassignment whose joining replicas are all in the new ISR completes in
/// the same change (`reassignment::complete_if_ready`).
pub fn next(
    current: &PartitionImage,
    isr: Vec<i32>,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Option<PartitionImage> {
    let proposed = reassignment::complete_if_ready(PartitionImage {
        isr,
        ..current.clone()
    });
    settle(current, proposed, min_isr, is_live)
}

/// `proposed` (replicas, ISR, reassignment) with its ELR (`elr::track`), a
/// leader and epochs: the leader stays if it is live and in the proposed
/// ISR, else one is elected cleanly (`elect_clean`). The leader epoch moves
/// when the leader changes or a replica leaves (so it stops fetching as a
/// follower), the partition epoch on any change. `None` when nothing
/// changes.
pub fn settle(
    current: &PartitionImage,
    proposed: PartitionImage,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Option<PartitionImage> {
    let proposed = elr::track(current, proposed, min_isr);
    let keep_leader = current.leader != NO_LEADER
        && proposed.isr.contains(&current.leader)
        && is_live(current.leader);
    let (leader, proposed) = if keep_leader {
        (current.leader, proposed)
    } else {
        elect_clean(current, proposed, min_isr, &is_live)
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

/// A clean election over `proposed` (a change of `current`): the first live
/// ISR member in replica order; else the first live ELR member, which
/// becomes the whole ISR (it holds everything below the high watermark);
/// else `NO_LEADER`.
pub fn elect_clean(
    current: &PartitionImage,
    proposed: PartitionImage,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> (i32, PartitionImage) {
    let leader = elect(&proposed.replicas, &proposed.isr, &is_live);
    if leader != NO_LEADER {
        return (leader, proposed);
    }
    let leader = elect(&proposed.replicas, &proposed.elr, &is_live);
    if leader == NO_LEADER {
        return (NO_LEADER, proposed);
    }
    let alone = PartitionImage {
        isr: vec![leader],
        ..proposed
    };
    (leader, elr::track(current, alone, min_isr))
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
        elr: state.elr.clone(),
        last_known_elr: state.last_known_elr.clone(),
    }
}

/// `broker` is fenced: it leaves the ISR (the last member too: the ELR
/// keeps it, `elr::track`) and loses the leadership, which goes to a clean
/// candidate. With `rules.unclean`, a partition left without one is led by
/// the first live replica instead. An ELR member stays in the ELR: its
/// durable log survives whatever stopped it. `is_live` answers for the
/// other brokers.
pub fn fence(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    broker: i32,
    rules: Rules,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    if current.leader != broker && !current.isr.contains(&broker) {
        return None;
    }
    let isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| *r != broker)
        .collect();
    let others_live = |b| b != broker && is_live(b);
    let next = next(current, isr, rules.min_isr, others_live);
    let leaderless = next.as_ref().map_or(current.leader, |n| n.leader) == NO_LEADER;
    if rules.unclean && leaderless {
        let leader = elect_unclean(&current.replicas, others_live);
        if leader != NO_LEADER {
            return Some(record(topic_id, partition, &led_alone(current, leader)));
        }
    }
    next.map(|state| record(topic_id, partition, &state))
}

/// `broker` is unfenced: a leaderless partition whose ISR or ELR holds it
/// gets a leader (it, unless a live ISR member, or a live ELR member before
/// it in replica order, comes first). With `rules.unclean`, a leaderless
/// partition it is only a replica of, without another candidate, gets it
/// as leader and sole ISR member.
pub fn unfence(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    broker: i32,
    rules: Rules,
    is_live: impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    if current.leader != NO_LEADER {
        return None;
    }
    if !current.isr.contains(&broker) && !current.elr.contains(&broker) {
        let (clean, _) = elect_clean(current, current.clone(), rules.min_isr, &is_live);
        let elected = rules.unclean && current.replicas.contains(&broker) && clean == NO_LEADER;
        return elected.then(|| record(topic_id, partition, &led_alone(current, broker)));
    }
    let isr = current.isr.clone();
    build(topic_id, partition, current, isr, rules.min_isr, |b| {
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
        with_elr(isr, &[], leader, leader_epoch, partition_epoch)
    }

    fn with_elr(
        isr: &[i32],
        elr: &[i32],
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    ) -> MetadataRecord {
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
            elr: elr.to_vec(),
            last_known_elr: Vec::new(),
        }
    }

    const ALL: fn(i32) -> bool = |_| true;
    /// min.insync.replicas 1, clean elections only.
    const ONE: Rules = Rules {
        unclean: false,
        min_isr: 1,
    };
    const TWO: Rules = Rules {
        unclean: false,
        min_isr: 2,
    };

    #[test]
    fn fencing_the_leader_moves_leadership_to_the_next_isr_replica() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, ONE, ALL),
            Some(record(&[2, 3], 2, 6, 10))
        );
    }

    #[test]
    fn the_new_leader_must_be_live_and_in_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, ONE, |b| b != 2),
            Some(record(&[3], 3, 6, 10))
        );
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, ONE, |b| b == 3),
            Some(record(&[2, 3], 3, 6, 10))
        );
    }

    #[test]
    fn fencing_a_follower_only_shrinks_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 3, ONE, ALL),
            Some(record(&[1, 2], 1, 5, 10))
        );
    }

    #[test]
    fn the_last_isr_member_moves_to_the_elr_and_the_partition_goes_leaderless() {
        let p = partition(&[1, 2, 3], &[1], 1);
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, ONE, ALL),
            Some(with_elr(&[], &[1], NO_LEADER, 6, 10))
        );
    }

    #[test]
    fn shrinking_below_min_isr_fills_the_elr_which_then_leads() {
        let p = partition(&[1, 2, 3], &[1, 2], 1);
        let shrunk = next(&p, vec![1], 2, ALL).unwrap();
        assert_eq!((shrunk.isr.clone(), shrunk.elr.clone()), (vec![1], vec![2]));
        // The leader fenced with 2 down: no leader, both in the ELR.
        let only_3 = |b| b == 3;
        let r = fence(Uuid::nil(), 2, &shrunk, 1, TWO, only_3);
        assert_eq!(r, Some(with_elr(&[], &[1, 2], NO_LEADER, 6, 11)));
        // 3 (neither ISR nor ELR) coming back changes nothing; 2 does.
        let leaderless = PartitionImage {
            isr: vec![],
            elr: vec![1, 2],
            leader: NO_LEADER,
            ..shrunk
        };
        assert_eq!(unfence(Uuid::nil(), 2, &leaderless, 3, TWO, only_3), None);
        let r = unfence(Uuid::nil(), 2, &leaderless, 2, TWO, only_3);
        assert_eq!(r, Some(with_elr(&[2], &[1], 2, 6, 11)));
    }

    #[test]
    fn fencing_the_leader_elects_a_live_elr_member() {
        let p = PartitionImage {
            elr: vec![3],
            ..partition(&[1, 2, 3], &[1], 1)
        };
        assert_eq!(
            fence(Uuid::nil(), 2, &p, 1, TWO, ALL),
            Some(with_elr(&[3], &[1], 3, 6, 10))
        );
    }

    #[test]
    fn unclean_elections_come_after_the_elr_and_clear_it() {
        let unclean = Rules {
            unclean: true,
            min_isr: 2,
        };
        let p = PartitionImage {
            elr: vec![2],
            ..partition(&[1, 2, 3], &[1], 1)
        };
        let r = fence(Uuid::nil(), 2, &p, 1, unclean, |b| b == 3);
        assert_eq!(r, Some(record(&[3], 3, 6, 10)));
        let r = fence(Uuid::nil(), 2, &p, 1, unclean, ALL);
        assert_eq!(r, Some(with_elr(&[2], &[1], 2, 6, 10)));
    }

    #[test]
    fn fencing_an_uninvolved_broker_changes_nothing() {
        let p = partition(&[1, 2, 3], &[1, 2], 1);
        assert_eq!(fence(Uuid::nil(), 2, &p, 3, ONE, ALL), None);
        let p = PartitionImage {
            elr: vec![1],
            ..partition(&[1, 2, 3], &[], NO_LEADER)
        };
        assert_eq!(fence(Uuid::nil(), 2, &p, 1, ONE, ALL), None);
    }

    #[test]
    fn unfencing_elects_for_leaderless_partitions_only() {
        let p = partition(&[1, 2, 3], &[1], NO_LEADER);
        assert_eq!(
            unfence(Uuid::nil(), 2, &p, 1, ONE, |_| false),
            Some(record(&[1], 1, 6, 10))
        );
        let led = partition(&[1, 2, 3], &[1, 2], 2);
        assert_eq!(unfence(Uuid::nil(), 2, &led, 1, ONE, ALL), None);
        let elsewhere = partition(&[1, 2, 3], &[2], NO_LEADER);
        assert_eq!(unfence(Uuid::nil(), 2, &elsewhere, 1, ONE, ALL), None);
    }

    #[test]
    fn election_follows_replica_order() {
        assert_eq!(elect(&[3, 1, 2], &[1, 2, 3], ALL), 3);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], ALL), 1);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], |b| b == 2), 2);
        assert_eq!(elect(&[3, 1, 2], &[1, 2], |_| false), NO_LEADER);
    }
}
