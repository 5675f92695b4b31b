//! Partition reassignment (KIP-455, `kafka-reassign-partitions.sh`):
//! starting, cancelling and completing a move of a partition's replicas.
//!
//! A reassignment to `target` makes the replicas `target` then the old ones
//! not in it, with `adding_replicas` the new ones and `removing_replicas`
//! the ones to drop. The new replicas fetch as followers; once every
//! joining replica is in the ISR (the leader's AlterPartition), the change
//! that put it there also completes the move: the replicas become the
//! target, the ISR keeps only target members, and a removed leader is
//! replaced (`partition_change::next` calls `complete_if_ready`).
//! Cancelling goes back to the replicas without the joining ones.
//!
//! This module decides replica sets; who leads and the epochs are
//! `partition_change::settle`'s. It must never leave an ISR empty: a
//! completion that would waits, a cancel that would is refused.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;

use super::commands::{Command, Defaults, Plan, Refusal, Reply};
use super::elections::ElectionResult;
use super::image::{MetadataImage, PartitionImage};
use super::partition_change;
use super::records::MetadataRecord;

/// Plans `Command::AlterPartitionReassignments`: one result per entry, in
/// request order (an entry naming a partition already named is refused).
pub fn plan(
    image: &MetadataImage,
    defaults: &Defaults,
    command: &Command,
) -> Result<Plan, Refusal> {
    let Command::AlterPartitionReassignments { reassignments } = command else {
        let msg = "not a reassignment command";
        return Err(Refusal::new(ResponseError::InvalidRequest, msg));
    };
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    let mut results: Vec<ElectionResult> = Vec::new();
    for (topic, partition, target) in reassignments {
        let outcome = if seen.insert((topic, *partition)) {
            reassign_one(image, defaults, (topic, *partition), target.as_deref())
        } else {
            let msg = format!("{topic}-{partition} is named more than once.");
            Err(Refusal::new(ResponseError::InvalidRequest, msg))
        };
        let (code, message) = match outcome {
            Ok(record) => {
                records.extend(record);
                (0, None)
            }
            Err(refusal) => (refusal.code, Some(refusal.message)),
        };
        results.push((topic.clone(), *partition, code, message));
    }
    Ok(Plan {
        records,
        reply: Reply::ReassignmentsAltered(results),
    })
}

/// The record starting (`Some(target)`) or cancelling (`None`) one
/// partition's reassignment; `Ok(None)` when nothing changes.
fn reassign_one(
    image: &MetadataImage,
    defaults: &Defaults,
    (topic, partition): (&str, i32),
    target: Option<&[i32]>,
) -> Result<Option<MetadataRecord>, Refusal> {
    let (topic, current) = partition_change::existing(image, topic, partition)?;
    let is_live = |b| image.is_live(b);
    let min_isr = partition_change::Rules::of(topic, defaults).min_isr;
    let next = match target {
        Some(target) => {
            check_target(image, target)?;
            start(current, target, min_isr, is_live)
        }
        None => cancel(current, min_isr, is_live)?,
    };
    Ok(next.map(|state| partition_change::record(topic.id, partition, &state)))
}

/// A target must name registered brokers, each once.
fn check_target(image: &MetadataImage, target: &[i32]) -> Result<(), Refusal> {
    let refuse = |msg: String| Err(Refusal::new(ResponseError::InvalidReplicaAssignment, msg));
    if target.is_empty() {
        return refuse("The target replica list is empty.".into());
    }
    if (1..target.len()).any(|i| target[..i].contains(&target[i])) {
        return refuse(format!(
            "The target replicas {target:?} name a broker twice."
        ));
    }
    if let Some(b) = target.iter().find(|b| !image.brokers.contains_key(b)) {
        return refuse(format!(
            "The target replicas include broker {b}, but no such broker is registered."
        ));
    }
    Ok(())
}

/// The state moving `current` towards `target` (replacing any move in
/// progress). A replica is joining unless it was a replica before any move
/// began: one still joining an earlier move must still catch up.
/// `min_isr` is the topic's (for the ELR).
pub fn start(
    current: &PartitionImage,
    target: &[i32],
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Option<PartitionImage> {
    let original: Vec<i32> = without(&current.replicas, &current.adding_replicas);
    let removing = without(&current.replicas, target);
    let proposed = PartitionImage {
        replicas: target.iter().chain(&removing).copied().collect(),
        adding_replicas: without(target, &original),
        removing_replicas: removing,
        ..current.clone()
    };
    partition_change::settle(current, complete_if_ready(proposed), min_isr, is_live)
}

/// The state going back to the replicas before the move; `Ok(None)` when
/// none is in progress is refused as Kafka does.
pub fn cancel(
    current: &PartitionImage,
    min_isr: i32,
    is_live: impl Fn(i32) -> bool,
) -> Result<Option<PartitionImage>, Refusal> {
    if !current.is_reassigning() {
        let msg = "No reassignment is in progress for this partition.";
        return Err(Refusal::new(ResponseError::NoReassignmentInProgress, msg));
    }
    let original = without(&current.replicas, &current.adding_replicas);
    let isr = keep(&current.isr, &original);
    if isr.is_empty() {
        let msg = "Cancelling would leave no in-sync replica among the original ones.";
        return Err(Refusal::new(
            ResponseError::EligibleLeadersNotAvailable,
            msg,
        ));
    }
    let proposed = PartitionImage {
        replicas: original,
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..current.clone()
    };
    Ok(partition_change::settle(
        current, proposed, min_isr, is_live,
    ))
}

/// `state` with its reassignment completed if every joining replica is in
/// its ISR and some target replica is; unchanged otherwise.
pub fn complete_if_ready(state: PartitionImage) -> PartitionImage {
    if !state.is_reassigning() {
        return state;
    }
    if !state.adding_replicas.iter().all(|r| state.isr.contains(r)) {
        return state;
    }
    let target = state.target_replicas();
    let isr = keep(&state.isr, &target);
    if isr.is_empty() {
        return state;
    }
    PartitionImage {
        replicas: target,
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..state
    }
}

/// `list` without the members of `drop`, in order.
fn without(list: &[i32], drop: &[i32]) -> Vec<i32> {
    list.iter().copied().filter(|r| !drop.contains(r)).collect()
}

/// `list`'s members that are in `only`, in order.
fn keep(list: &[i32], only: &[i32]) -> Vec<i32> {
    list.iter().copied().filter(|r| only.contains(r)).collect()
}
