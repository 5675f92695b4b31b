//! Leader elections asked for rather than forced by fencing: the
//! ElectLeaders API (preferred or unclean, for named partitions or all) and
//! the active controller's periodic leader rebalance
//! (`auto.leader.rebalance.enable`, Kafka's per-broker imbalance rule).
//! Also how many of a batch's records are elections and unclean ones, and
//! how many partitions have no leader, for the controller metrics.
//!
//! Pure functions of the image. This module decides who should lead; the
//! records and epochs are `partition_change`'s. It must not elect a replica
//! outside the ISR except for an UNCLEAN request (or, in `partition_change`,
//! a topic that allows it).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;

use super::commands::{Command, Defaults, Plan, Refusal, Reply};
use super::image::{MetadataImage, PartitionImage, TopicImage, NO_LEADER};
use super::partition_change;
use super::records::MetadataRecord;

/// ElectLeaders election types.
pub const PREFERRED: i8 = 0;
pub const UNCLEAN: i8 = 1;

/// One partition's election outcome: topic, partition, error code, message.
pub type ElectionResult = (String, i32, i16, Option<String>);

/// Plans `Command::ElectLeaders`; any other command is refused.
pub fn plan(
    image: &MetadataImage,
    defaults: &Defaults,
    command: &Command,
) -> Result<Plan, Refusal> {
    let Command::ElectLeaders {
        election_type,
        partitions,
    } = command
    else {
        let msg = "not an election command";
        return Err(Refusal::new(ResponseError::InvalidRequest, msg));
    };
    if !matches!(*election_type, PREFERRED | UNCLEAN) {
        let msg = format!("Unknown election type {election_type}.");
        return Err(Refusal::new(ResponseError::InvalidRequest, msg));
    }
    let all = partitions.is_none();
    let targets = match partitions {
        Some(named) => dedup(named),
        None => every_partition(image),
    };
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (topic, partition) in targets {
        let outcome = elect_one(image, defaults, *election_type, (&topic, partition));
        let (code, message) = match outcome {
            Ok(record) => {
                records.push(record);
                (0, None)
            }
            Err(refusal) => (refusal.code, Some(refusal.message)),
        };
        // Electing everything reports only what was elected or failed.
        if !all || code != ResponseError::ElectionNotNeeded.code() {
            results.push((topic, partition, code, message));
        }
    }
    Ok(Plan {
        records,
        reply: Reply::LeadersElected(results),
    })
}

/// Each (topic, partition) once, in request order.
fn dedup(named: &[(String, i32)]) -> Vec<(String, i32)> {
    let mut seen = BTreeSet::new();
    named
        .iter()
        .filter(|tp| seen.insert((*tp).clone()))
        .cloned()
        .collect()
}

fn every_partition(image: &MetadataImage) -> Vec<(String, i32)> {
    let mut all = Vec::new();
    for topic in image.topics.values() {
        all.extend((0..topic.partitions.len() as i32).map(|p| (topic.name.clone(), p)));
    }
    all
}

/// The record electing a leader for one partition, or why none is needed
/// or possible.
fn elect_one(
    image: &MetadataImage,
    defaults: &Defaults,
    election_type: i8,
    (topic, partition): (&str, i32),
) -> Result<MetadataRecord, Refusal> {
    let (topic, current) = partition_change::existing(image, topic, partition)?;
    let is_live = |b| image.is_live(b);
    let state = if election_type == PREFERRED {
        preferred(current, is_live)
    } else {
        unclean(
            current,
            partition_change::Rules::of(topic, defaults).min_isr,
            is_live,
        )
    }
    .map_err(|(error, why)| Refusal::new(error, format!("{}-{partition}: {why}", topic.name)))?;
    Ok(partition_change::record(topic.id, partition, &state))
}

type Why = (ResponseError, &'static str);

/// The preferred replica (the first) takes over if it is live and in the
/// ISR and does not lead already.
fn preferred(
    current: &PartitionImage,
    is_live: impl Fn(i32) -> bool,
) -> Result<PartitionImage, Why> {
    let Some(&first) = current.replicas.first() else {
        return Err((ResponseError::PreferredLeaderNotAvailable, "no replicas"));
    };
    if current.leader == first {
        let why = "the preferred replica already leads";
        return Err((ResponseError::ElectionNotNeeded, why));
    }
    if !is_live(first) || !current.isr.contains(&first) {
        let why = "the preferred replica is not live and in the ISR";
        return Err((ResponseError::PreferredLeaderNotAvailable, why));
    }
    Ok(with_leader(current, first, current.isr.clone()))
}

/// A leaderless partition gets a live ISR member, else a live ELR member
/// (both clean: `partition_change::settle`), else any live replica (which
/// becomes the whole ISR).
fn unclean(
    current: &PartitionImage,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Result<PartitionImage, Why> {
    if current.leader != NO_LEADER {
        let why = "the partition has a leader";
        return Err((ResponseError::ElectionNotNeeded, why));
    }
    let clean = partition_change::settle(current, current.clone(), min_isr, &is_live);
    if let Some(state) = clean.filter(|s| s.leader != NO_LEADER) {
        return Ok(state);
    }
    match partition_change::elect_unclean(&current.replicas, &is_live) {
        NO_LEADER => Err((
            ResponseError::EligibleLeadersNotAvailable,
            "no replica is live",
        )),
        leader => Ok(partition_change::led_alone(current, leader)),
    }
}

/// `current` led by `leader` with `isr`, both epochs bumped.
fn with_leader(current: &PartitionImage, leader: i32, isr: Vec<i32>) -> PartitionImage {
    PartitionImage {
        isr,
        ..partition_change::led_alone(current, leader)
    }
}

/// Kafka's automatic leader rebalance: for each broker, the share of the
/// partitions it is preferred for (first replica) that someone else leads;
/// where that share exceeds `imbalance_percentage`, each of those
/// partitions whose preferred replica is live and in the ISR moves back to
/// it. Partitions under reassignment are left alone.
pub fn rebalance_plan(image: &MetadataImage, imbalance_percentage: u32) -> Vec<MetadataRecord> {
    let mut by_preferred: BTreeMap<i32, Vec<(&TopicImage, i32, &PartitionImage)>> = BTreeMap::new();
    for topic in image.topics.values() {
        for (p, current) in (0..).zip(&topic.partitions) {
            if let Some(&first) = current.replicas.first() {
                by_preferred
                    .entry(first)
                    .or_default()
                    .push((topic, p, current));
            }
        }
    }
    let mut records = Vec::new();
    for (broker, partitions) in by_preferred {
        let elsewhere: Vec<_> = partitions
            .iter()
            .filter(|(_, _, c)| c.leader != broker)
            .collect();
        // Kafka's test: imbalance ratio > percentage / 100.
        let ratio_exceeded = elsewhere.len() as u64 * 100
            > u64::from(imbalance_percentage) * partitions.len() as u64;
        if !ratio_exceeded || !image.is_live(broker) {
            continue;
        }
        for (topic, p, current) in elsewhere {
            if current.isr.contains(&broker) && !current.is_reassigning() {
                let state = with_leader(current, broker, current.isr.clone());
                records.push(partition_change::record(topic.id, *p, &state));
            }
        }
    }
    records
}

/// How many of `records`, planned against `image`, elect a leader that was
/// in neither the partition's ISR nor its ELR over the same replicas:
/// unclean elections. (A
/// completed reassignment may hand the leadership to a replica that joined
/// the ISR in the same change; it changes the replicas, so is not counted.)
pub fn count_unclean(image: &MetadataImage, records: &[MetadataRecord]) -> usize {
    let unclean = |record: &MetadataRecord| {
        let MetadataRecord::Partition {
            topic_id,
            partition,
            leader,
            replicas,
            ..
        } = record
        else {
            return false;
        };
        let before = image
            .topic_by_id(topic_id)
            .and_then(|t| t.partition(*partition));
        before.is_some_and(|b| {
            *leader != NO_LEADER
                && *leader != b.leader
                && !b.isr.contains(leader)
                && !b.elr.contains(leader)
                && *replicas == b.replicas
        })
    };
    records.iter().filter(|r| unclean(r)).count()
}

/// How many of `records`, planned against `image`, give an existing
/// partition a different leader (not none): leader elections, clean or not
/// (Kafka's election rate). A new partition's first leader is not one.
pub fn count_elections(image: &MetadataImage, records: &[MetadataRecord]) -> usize {
    let elects = |record: &MetadataRecord| {
        let MetadataRecord::Partition {
            topic_id,
            partition,
            leader,
            ..
        } = record
        else {
            return false;
        };
        let before = image
            .topic_by_id(topic_id)
            .and_then(|t| t.partition(*partition));
        before.is_some_and(|b| *leader != NO_LEADER && *leader != b.leader)
    };
    records.iter().filter(|r| elects(r)).count()
}

/// Partitions of `image` without a leader (Kafka's OfflinePartitionsCount).
pub fn offline_partitions(image: &MetadataImage) -> u64 {
    image
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.leader == NO_LEADER)
        .count() as u64
}
