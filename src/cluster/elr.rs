//! Eligible leader replicas (KIP-966): the replicas outside the ISR that
//! may still be elected cleanly, and, once none is left, the last ones.
//!
//! A leader's high watermark advances only while the committed ISR holds
//! at least min.insync.replicas members (`replication::leader`). So when a
//! change leaves the ISR below that, the replicas it removes hold
//! everything below the high watermark, which stopped with them: they join
//! the ELR, and may lead like ISR members. Unlike Kafka, fjord keeps a
//! replica in the ELR through a crash: a follower reports only what it has
//! fdatasync'ed, so an unclean shutdown loses nothing it acknowledged.
//!
//! This module owns the ELR bookkeeping of a partition change (`track`)
//! and the effective min.insync.replicas; who leads is `partition_change`'s.
//! It must never put an ISR member in the ELR, nor keep a replica that left
//! the replica set, nor keep an ELR once the ISR is big enough again.

use super::image::{PartitionImage, TopicImage};

/// The topic config (and broker setting) the ELR follows.
pub const MIN_ISR_CONFIG: &str = "min.insync.replicas";

/// `topic`'s min.insync.replicas: its override, else `default`.
pub fn min_isr(topic: &TopicImage, default: i32) -> i32 {
    topic
        .configs
        .get(MIN_ISR_CONFIG)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The ISR size below which `state`'s high watermark stops, as the
/// controller counts it: `min_isr`, but no more than the replicas it will
/// keep (Kafka's effective min ISR), and at least 1. A leader counts all
/// the replicas, reassignment's included, so it stops no later than this.
pub fn effective(min_isr: i32, state: &PartitionImage) -> usize {
    let min_isr = usize::try_from(min_isr).unwrap_or(0);
    min_isr.min(state.target_replicas().len()).max(1)
}

/// `proposed`, a change of `current`'s ISR or replicas, with its ELR: none
/// while the ISR has `min_isr` members (effective); else the current ELR
/// plus the replicas the change removes from the ISR, less the new ISR and
/// replicas no longer assigned, in replica order. With ISR and ELR both
/// empty, the last known ELR keeps who was in the ELR last (assigned or
/// not: it is for an operator to read). Rare in fjord, where a crash does
/// not take a replica out of the ELR.
pub fn track(current: &PartitionImage, proposed: PartitionImage, min_isr: i32) -> PartitionImage {
    if proposed.isr.len() >= effective(min_isr, &proposed) {
        return PartitionImage {
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            ..proposed
        };
    }
    let eligible =
        |r: &i32| (current.elr.contains(r) || current.isr.contains(r)) && !proposed.isr.contains(r);
    let elr = in_order(&proposed.replicas, eligible);
    let last_known_elr = if !proposed.isr.is_empty() || !elr.is_empty() {
        Vec::new()
    } else if current.elr.is_empty() {
        current.last_known_elr.clone()
    } else {
        current.elr.clone()
    };
    PartitionImage {
        elr,
        last_known_elr,
        ..proposed
    }
}

fn in_order(replicas: &[i32], keep: impl Fn(&i32) -> bool) -> Vec<i32> {
    replicas.iter().copied().filter(|r| keep(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(isr: &[i32], elr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            elr: elr.to_vec(),
            ..PartitionImage::default()
        }
    }

    fn elrs(p: &PartitionImage) -> (Vec<i32>, Vec<i32>) {
        (p.elr.clone(), p.last_known_elr.clone())
    }

    #[test]
    fn replicas_leaving_an_isr_too_small_join_the_elr() {
        let shrunk = track(&state(&[1, 2], &[]), state(&[1], &[]), 2);
        assert_eq!(elrs(&shrunk), (vec![2], vec![]));
        let emptied = track(&shrunk, state(&[], &[2]), 2);
        assert_eq!(elrs(&emptied), (vec![1, 2], vec![]));
    }

    #[test]
    fn an_isr_big_enough_clears_the_elr() {
        let p = track(&state(&[1, 2, 3], &[]), state(&[1, 2], &[]), 2);
        assert_eq!(elrs(&p), (vec![], vec![]));
        let back = track(&state(&[1], &[2]), state(&[1, 3], &[2]), 2);
        assert_eq!(elrs(&back), (vec![], vec![]));
    }

    #[test]
    fn joining_the_isr_leaves_the_elr() {
        let p = track(&state(&[1], &[2, 3]), state(&[1, 3], &[2, 3]), 3);
        assert_eq!(elrs(&p), (vec![2], vec![]));
    }

    #[test]
    fn replicas_leaving_the_replica_set_leave_the_elr() {
        let current = state(&[1], &[2, 3]);
        let proposed = PartitionImage {
            replicas: vec![1, 2],
            ..current.clone()
        };
        assert_eq!(elrs(&track(&current, proposed, 3)), (vec![2], vec![]));
    }

    #[test]
    fn an_empty_isr_and_elr_remember_the_last_elr() {
        let current = state(&[], &[3]);
        let proposed = PartitionImage {
            replicas: vec![1, 2],
            ..current.clone()
        };
        assert_eq!(elrs(&track(&current, proposed, 2)), (vec![], vec![3]));
    }

    #[test]
    fn the_effective_minimum_is_at_most_the_replica_count_and_at_least_one() {
        assert_eq!(effective(2, &state(&[], &[])), 2);
        assert_eq!(effective(5, &state(&[], &[])), 3);
        assert_eq!(effective(0, &state(&[], &[])), 1);
        assert_eq!(effective(-7, &PartitionImage::default()), 1);
        let one = track(&state(&[1, 2], &[]), state(&[1], &[]), 1);
        assert_eq!(elrs(&one), (vec![], vec![]));
    }
}
