//! Where a topic's replicas go: pure, deterministic functions of the live
//! brokers. (Cluster placement; which shard of a broker holds a partition is
//! `shard::topics::owner`.)
//!
//! The scheme is Kafka's striped assignment (`AdminUtils` /
//! `StripedReplicaPlacer`): brokers in rack-alternating order, partition `p`'s
//! leader at `(start + p) % n`, followers after it at a shift that grows every
//! `n` partitions, skipping brokers whose rack already holds a replica while
//! some rack holds none. Everything derives from the absolute partition number,
//! so adding partitions later continues the same pattern.

use std::collections::{BTreeMap, BTreeSet};

/// A broker placement may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub node_id: i32,
    pub rack: Option<String>,
}

/// Replicas for partitions `first..first + count` with `replication_factor`
/// each, spread so that leaders (the first replica) and replicas are even
/// over `brokers`, rack-aware when racks are set. `Err` when the factor is
/// larger than the broker count.
pub fn place(
    brokers: &[Candidate],
    first: i32,
    count: i32,
    replication_factor: i16,
) -> Result<Vec<Vec<i32>>, String> {
    place_seeded(brokers, first, count, replication_factor, 0)
}

/// `place`, with the stripe starting `seed` brokers further along. A seed
/// taken from the topic (its name) keeps single-partition topics from all
/// being led by the same broker; the same seed gives the same placement.
pub fn place_seeded(
    brokers: &[Candidate],
    first: i32,
    count: i32,
    replication_factor: i16,
    seed: u64,
) -> Result<Vec<Vec<i32>>, String> {
    let rf = usize::try_from(replication_factor)
        .ok()
        .filter(|rf| *rf >= 1)
        .ok_or_else(|| {
            format!("Replication factor must be at least 1, not {replication_factor}.")
        })?;
    let stripe = Stripe::new(brokers);
    if rf > stripe.order.len() {
        return Err(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            stripe.order.len()
        ));
    }
    if first < 0 || count < 0 {
        return Err(format!(
            "Invalid partition range: {count} partition(s) from {first}."
        ));
    }
    let start = (seed % stripe.order.len() as u64) as usize;
    let partitions =
        (first..first.saturating_add(count)).map(|p| stripe.replicas(p as usize, start, rf));
    Ok(partitions.collect())
}

/// A placement seed for topic `name` (FNV-1a: stable across builds).
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Brokers in rack-alternating order, with each one's rack.
struct Stripe<'a> {
    order: Vec<(i32, Option<&'a str>)>,
    racks: usize,
}

impl<'a> Stripe<'a> {
    /// Kafka's rack-alternated broker list: racks in order, brokers by id
    /// within a rack, taking one broker from each rack in turn. Brokers
    /// without a rack form a rack of their own.
    fn new(brokers: &'a [Candidate]) -> Stripe<'a> {
        let mut by_rack: BTreeMap<Option<&str>, BTreeSet<i32>> = BTreeMap::new();
        for b in brokers {
            by_rack
                .entry(b.rack.as_deref())
                .or_default()
                .insert(b.node_id);
        }
        let racks = by_rack.len();
        let mut queues: Vec<_> = by_rack
            .into_iter()
            .map(|(rack, ids)| (rack, ids.into_iter()))
            .collect();
        let mut order = Vec::with_capacity(brokers.len());
        while order.len() < brokers.len() {
            let before = order.len();
            for (rack, ids) in queues.iter_mut() {
                if let Some(id) = ids.next() {
                    order.push((id, *rack));
                }
            }
            if order.len() == before {
                break; // duplicate node ids in `brokers`: each counts once
            }
        }
        Stripe { order, racks }
    }

    /// The replicas of partition `p`: the leader at `(start + p) % n`, then
    /// followers stepping by `1 + (shift + k) % (n - 1)` from it, skipping a
    /// broker already holding one and, while some rack holds none, a broker
    /// on a rack that does.
    fn replicas(&self, p: usize, start: usize, rf: usize) -> Vec<i32> {
        let n = self.order.len();
        let leader = (start + p) % n;
        let shift = (p / n) * self.racks;
        let mut chosen = vec![self.order[leader].0];
        let mut racks = BTreeSet::from([self.order[leader].1]);
        let mut k = 0;
        while chosen.len() < rf.min(n) {
            let mut picked = None;
            // Every other broker comes up once in n - 1 steps.
            for _ in 0..n - 1 {
                let (id, rack) = self.order[(leader + 1 + (shift + k) % (n - 1)) % n];
                k += 1;
                let rack_ok = !racks.contains(&rack) || racks.len() == self.racks;
                if rack_ok && !chosen.contains(&id) {
                    picked = Some((id, rack));
                    break;
                }
            }
            let Some((id, rack)) = picked else { break };
            chosen.push(id);
            racks.insert(rack);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn brokers(ids: &[i32]) -> Vec<Candidate> {
        ids.iter()
            .map(|&node_id| Candidate {
                node_id,
                rack: None,
            })
            .collect()
    }

    fn racked(spec: &[(i32, &str)]) -> Vec<Candidate> {
        spec.iter()
            .map(|(id, rack)| Candidate {
                node_id: *id,
                rack: Some(rack.to_string()),
            })
            .collect()
    }

    /// (partitions led, replicas held) per broker.
    fn counts(placement: &[Vec<i32>]) -> HashMap<i32, (usize, usize)> {
        let mut counts: HashMap<i32, (usize, usize)> = HashMap::new();
        for replicas in placement {
            counts.entry(replicas[0]).or_default().0 += 1;
            for r in replicas {
                counts.entry(*r).or_default().1 += 1;
            }
        }
        counts
    }

    fn assert_distinct(placement: &[Vec<i32>]) {
        for replicas in placement {
            let set: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(set.len(), replicas.len(), "{replicas:?}");
        }
    }

    #[test]
    fn three_brokers_twelve_partitions_rf3_is_even() {
        let placement = place(&brokers(&[3, 1, 2]), 0, 12, 3).unwrap();
        assert_eq!(placement.len(), 12);
        assert_distinct(&placement);
        let counts = counts(&placement);
        for id in [1, 2, 3] {
            assert_eq!(counts[&id], (4, 12), "broker {id}");
        }
        assert_eq!(placement[0], vec![1, 2, 3]);
        assert_eq!(placement[1][0], 2);
        // The follower shift moves after every n partitions.
        assert_eq!(placement[3], vec![1, 3, 2]);
    }

    #[test]
    fn five_brokers_rf2_spreads_replicas_evenly() {
        let placement = place(&brokers(&[1, 2, 3, 4, 5]), 0, 20, 2).unwrap();
        assert_distinct(&placement);
        let counts = counts(&placement);
        for id in 1..=5 {
            assert_eq!(counts[&id], (4, 8), "broker {id}");
        }
    }

    #[test]
    fn added_partitions_continue_the_pattern() {
        let all = brokers(&[1, 2, 3, 4]);
        let whole = place(&all, 0, 10, 3).unwrap();
        let mut pieces = place(&all, 0, 6, 3).unwrap();
        pieces.extend(place(&all, 6, 4, 3).unwrap());
        assert_eq!(whole, pieces);
    }

    #[test]
    fn seed_moves_the_leader_of_single_partition_topics() {
        let all = brokers(&[1, 2, 3]);
        let leaders: BTreeSet<i32> = (0..3)
            .map(|seed| place_seeded(&all, 0, 1, 1, seed).unwrap()[0][0])
            .collect();
        assert_eq!(leaders, BTreeSet::from([1, 2, 3]));
        assert_eq!(
            place_seeded(&all, 0, 4, 2, 7).unwrap(),
            place_seeded(&all, 0, 4, 2, 7).unwrap()
        );
    }

    #[test]
    fn replicas_land_on_distinct_racks() {
        let all = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        let placement = place(&all, 0, 30, 3).unwrap();
        assert_distinct(&placement);
        let rack_of: HashMap<i32, &str> = all
            .iter()
            .map(|c| (c.node_id, c.rack.as_deref().unwrap()))
            .collect();
        for replicas in &placement {
            let racks: BTreeSet<_> = replicas.iter().map(|r| rack_of[r]).collect();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
        let counts = counts(&placement);
        for id in 1..=6 {
            assert_eq!(counts[&id], (5, 15), "broker {id}");
        }
    }

    #[test]
    fn more_replicas_than_racks_still_distinct_brokers() {
        let all = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        let placement = place(&all, 0, 8, 3).unwrap();
        assert_distinct(&placement);
        for replicas in &placement {
            assert_eq!(replicas.len(), 3);
        }
        // Two racks: the first two replicas are on different ones.
        let rack_of: HashMap<i32, &str> = all
            .iter()
            .map(|c| (c.node_id, c.rack.as_deref().unwrap()))
            .collect();
        for replicas in &placement {
            assert_ne!(rack_of[&replicas[0]], rack_of[&replicas[1]], "{replicas:?}");
        }
    }

    #[test]
    fn rack_alternated_order() {
        let all = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "c"), (5, "c")]);
        let order: Vec<i32> = Stripe::new(&all).order.iter().map(|(id, _)| *id).collect();
        assert_eq!(order, vec![1, 3, 4, 2, 5]);
    }

    #[test]
    fn refuses_bad_factors() {
        let all = brokers(&[1, 2]);
        let err = place(&all, 0, 1, 3).unwrap_err();
        assert!(err.contains("only 2 broker(s)"), "{err}");
        assert!(place(&all, 0, 1, 0).is_err());
        assert!(place(&all, 0, 1, -1).is_err());
        assert!(place(&[], 0, 1, 1).is_err());
        assert_eq!(place(&all, 0, 0, 2).unwrap(), Vec::<Vec<i32>>::new());
    }

    #[test]
    fn duplicate_candidates_count_once() {
        let all = brokers(&[1, 1, 2]);
        let placement = place(&all, 0, 4, 2).unwrap();
        assert_distinct(&placement);
    }
}
