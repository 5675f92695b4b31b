//! Requests that change one partition's replicas, ISR or leader, planned
//! against the committed image: AlterPartition, a leader's ISR change
//! (Kafka's `ReplicationControlManager.alterPartition`, with its checks and
//! error codes).
//!
//! This module owns which ISR changes are accepted; the records that carry
//! them, and who leads afterwards, are `partition_change`'s. It must not
//! move a leadership on a leader's say-so: an accepted AlterPartition keeps
//! the leader and its epoch and bumps the partition epoch only.

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::commands::{Command, Defaults, Plan, Refusal, Reply};
use super::image::{MetadataImage, PartitionImage};
use super::partition_change;

/// Plans the partition commands; any other command is refused (it is
/// `commands::plan`'s to route, never a panic).
pub fn plan(
    image: &MetadataImage,
    defaults: &Defaults,
    command: &Command,
) -> Result<Plan, Refusal> {
    match command {
        Command::AlterPartition {
            broker_id,
            broker_epoch,
            topic_id,
            partition,
            leader_epoch,
            partition_epoch,
            new_isr,
        } => alter_partition(
            image,
            defaults,
            &IsrChange {
                broker_id: *broker_id,
                broker_epoch: *broker_epoch,
                topic_id: *topic_id,
                partition: *partition,
                leader_epoch: *leader_epoch,
                partition_epoch: *partition_epoch,
                new_isr,
            },
        ),
        _ => Err(Refusal::new(
            ResponseError::InvalidRequest,
            "not a partition command",
        )),
    }
}

/// An AlterPartition request, borrowed from its command.
struct IsrChange<'a> {
    broker_id: i32,
    broker_epoch: i64,
    topic_id: Uuid,
    partition: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &'a [(i32, i64)],
}

/// An accepted change also moves the ELR: members joining the ISR leave
/// it, and members leaving an ISR that falls below min.insync.replicas
/// join it (`elr::track`).
fn alter_partition(
    image: &MetadataImage,
    defaults: &Defaults,
    change: &IsrChange,
) -> Result<Plan, Refusal> {
    check_broker_epoch(image, change.broker_id, change.broker_epoch)?;
    let current = partition_by_id(image, change.topic_id, change.partition)?;
    check_leadership(current, change)?;
    let isr = checked_isr(image, current, change.new_isr)?;
    let min_isr = partition_change::min_isr_of(image, &change.topic_id, defaults);
    let Some(next) = partition_change::next(current, isr, min_isr, |b| image.is_live(b)) else {
        return Ok(Plan {
            records: Vec::new(),
            reply: altered(current),
        });
    };
    Ok(Plan {
        records: vec![partition_change::record(
            change.topic_id,
            change.partition,
            &next,
        )],
        reply: altered(&next),
    })
}

fn altered(state: &PartitionImage) -> Reply {
    Reply::PartitionAltered {
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        isr: state.isr.clone(),
    }
}

/// The sender must be registered at the epoch it names.
fn check_broker_epoch(image: &MetadataImage, broker_id: i32, epoch: i64) -> Result<(), Refusal> {
    let msg = match image.brokers.get(&broker_id) {
        Some(b) if b.epoch == epoch => return Ok(()),
        Some(b) => format!(
            "Expected broker epoch {}, but got broker epoch {epoch}.",
            b.epoch
        ),
        None => format!("No broker registration found for broker {broker_id}."),
    };
    Err(Refusal::new(ResponseError::StaleBrokerEpoch, msg))
}

/// Partition `partition` of the topic with id `topic_id`.
pub fn partition_by_id(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
) -> Result<&PartitionImage, Refusal> {
    let Some(topic) = image.topic_by_id(&topic_id) else {
        let msg = format!("No topic with id {topic_id}.");
        return Err(Refusal::new(ResponseError::UnknownTopicId, msg));
    };
    topic.partition(partition).ok_or_else(|| {
        let msg = format!("Topic {} has no partition {partition}.", topic.name);
        Refusal::new(ResponseError::UnknownTopicOrPartition, msg)
    })
}

/// Only the current leader, at the current leader and partition epochs,
/// may change the ISR: anything else was decided on an older state.
fn check_leadership(current: &PartitionImage, change: &IsrChange) -> Result<(), Refusal> {
    if current.leader != change.broker_id {
        let msg = format!(
            "Broker {} is not the leader of the partition (the leader is {}).",
            change.broker_id, current.leader
        );
        return Err(Refusal::new(ResponseError::NotLeaderOrFollower, msg));
    }
    if change.leader_epoch != current.leader_epoch {
        let msg = format!(
            "Leader epoch {} does not match the current leader epoch {}.",
            change.leader_epoch, current.leader_epoch
        );
        return Err(Refusal::new(ResponseError::FencedLeaderEpoch, msg));
    }
    if change.partition_epoch != current.partition_epoch {
        let msg = format!(
            "Partition epoch {} does not match the current partition epoch {}.",
            change.partition_epoch, current.partition_epoch
        );
        return Err(Refusal::new(ResponseError::InvalidUpdateVersion, msg));
    }
    Ok(())
}

/// The requested ISR, in replica order, once it is well-formed (the
/// leader, replicas only, each once) and every member it adds is eligible.
fn checked_isr(
    image: &MetadataImage,
    current: &PartitionImage,
    new_isr: &[(i32, i64)],
) -> Result<Vec<i32>, Refusal> {
    let invalid = |msg: String| Err(Refusal::new(ResponseError::InvalidRequest, msg));
    let ids: Vec<i32> = new_isr.iter().map(|(id, _)| *id).collect();
    if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
        return invalid(format!("The new ISR {ids:?} names a replica twice."));
    }
    if let Some(r) = ids.iter().find(|r| !current.replicas.contains(r)) {
        return invalid(format!(
            "The new ISR {ids:?} includes {r}, which is not a replica ({:?}).",
            current.replicas
        ));
    }
    if !ids.contains(&current.leader) {
        return invalid(format!(
            "The new ISR {ids:?} does not include the leader {}.",
            current.leader
        ));
    }
    for &(replica, epoch) in new_isr {
        if !current.isr.contains(&replica) {
            check_eligible(image, replica, epoch)?;
        }
    }
    let in_order = current.replicas.iter().copied();
    Ok(in_order.filter(|r| ids.contains(r)).collect())
}

/// A replica joining the ISR must be registered, unfenced (fjord fences a
/// broker as its controlled shutdown starts) and, when the leader names
/// its broker epoch, at that epoch: a restarted broker has lost what the
/// leader saw it fetch.
fn check_eligible(image: &MetadataImage, replica: i32, epoch: i64) -> Result<(), Refusal> {
    let why = match image.brokers.get(&replica) {
        None => "it is not registered".to_string(),
        Some(b) if b.fenced => "it is fenced".to_string(),
        Some(b) if epoch >= 0 && b.epoch != epoch => format!(
            "its broker epoch is {}, not the {epoch} the leader saw",
            b.epoch
        ),
        Some(_) => return Ok(()),
    };
    let msg = format!("Replica {replica} cannot join the ISR: {why}.");
    Err(Refusal::new(ResponseError::IneligibleReplica, msg))
}
