//! Committed offsets and the group-wide admin operations: OffsetCommit,
//! OffsetFetch, OffsetDelete, DescribeGroups, DeleteGroups, ListGroups and
//! the expiry of offsets of long-empty groups. Validation happens under the
//! borrow; records are committed (below the high watermark) before memory
//! changes, so a failed write leaves nothing half-applied.

use std::rc::Rc;

use bytes::Buf;
use kafka_protocol::error::ResponseError as E;

use super::records::{self, OffsetValue};
use super::state::{Group, GroupState};
use super::store::{self, Entry};
use super::types::*;
use super::{membership, Coordinator};
use crate::shard::Shard;
use crate::util::now_ms;

/// The group-level verdict on a commit, before looking at partitions.
fn commit_check(g: Option<&mut Group>, a: &CommitArgs, now: i64) -> Result<(), E> {
    let Some(g) = g else {
        return if a.generation < 0 {
            Ok(())
        } else {
            Err(E::IllegalGeneration)
        };
    };
    if g.state == GroupState::Dead {
        return Err(E::CoordinatorNotAvailable);
    }
    if a.generation < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if let Some(err) = membership::check_member(g, &a.member_id, a.instance_id.as_deref()) {
        return Err(err);
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(E::RebalanceInProgress);
    }
    if a.generation != g.generation {
        return Err(E::IllegalGeneration);
    }
    let m = g.members.get_mut(&a.member_id).expect("checked");
    m.expires_at_ms = now + m.session_timeout_ms;
    Ok(())
}

/// What a commit writes: per part its code, the records, and the values
/// to apply once they are committed.
struct Prepared {
    codes: Vec<i16>,
    entries: Vec<Entry>,
    values: Vec<(usize, (String, i32), OffsetValue)>,
}

/// Validates a commit under the borrow; Err is one code for every part.
fn prepare(shard: &Shard, group_id: &str, a: &CommitArgs, now: i64) -> Result<Prepared, i16> {
    let max_meta = shard.config.group.offset_metadata_max_bytes;
    let mut out = Prepared {
        codes: vec![0i16; a.parts.len()],
        entries: Vec::new(),
        values: Vec::new(),
    };
    let mut table = shard.groups.borrow_mut();
    commit_check(table.groups.get_mut(group_id), a, now).map_err(|e| e.code())?;
    let topics = shard.topics.borrow();
    for (i, p) in a.parts.iter().enumerate() {
        let known = topics
            .get(&p.topic)
            .is_some_and(|t| (0..t.partitions).contains(&p.partition));
        let meta = p.metadata.clone().unwrap_or_default();
        if !known {
            out.codes[i] = E::UnknownTopicOrPartition.code();
        } else if meta.len() > max_meta {
            out.codes[i] = E::OffsetMetadataTooLarge.code();
        } else {
            let value = OffsetValue {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: meta,
                commit_timestamp: now,
            };
            out.entries.push((
                records::offset_key(group_id, &p.topic, p.partition),
                Some(records::encode_offset(&value)),
            ));
            out.values.push((i, (p.topic.clone(), p.partition), value));
        }
    }
    Ok(out)
}

pub async fn commit(
    shard: &Rc<Shard>,
    partition: i32,
    group_id: String,
    a: CommitArgs,
) -> Vec<i16> {
    commit_as(shard, partition, group_id, None, a).await
}

/// TxnOffsetCommit: the records go in the producer's transaction (a
/// transactional batch of `producer`), and the offsets wait in
/// `pending_txn` until the transaction's marker reaches this partition.
pub async fn commit_transactional(
    shard: &Rc<Shard>,
    partition: i32,
    group_id: String,
    producer: (i64, i16),
    a: CommitArgs,
) -> Vec<i16> {
    commit_as(shard, partition, group_id, Some(producer), a).await
}

async fn commit_as(
    shard: &Rc<Shard>,
    partition: i32,
    group_id: String,
    producer: Option<(i64, i16)>,
    a: CommitArgs,
) -> Vec<i16> {
    let now = now_ms();
    let Prepared {
        mut codes,
        entries,
        values,
    } = match prepare(shard, &group_id, &a, now) {
        Ok(prepared) => prepared,
        Err(code) => return vec![code; a.parts.len()],
    };
    let written = match producer {
        None => store::persist(shard, partition, entries).await,
        Some(producer) => {
            // Pending from the moment the records are appended (the append
            // happens before the first await), so a marker that follows
            // them in the log, even one the coordinator writes on its own
            // (a timeout abort), always finds them.
            pend(shard, &group_id, partition, producer.0, &values, now);
            let written = store::persist_transactional(shard, partition, producer, entries).await;
            if written.is_err() {
                unpend(shard, &group_id, producer.0, &values);
            }
            written
        }
    };
    if let Err(e) = written {
        for (i, _, _) in &values {
            codes[*i] = e.code();
        }
        return codes;
    }
    if producer.is_some() {
        return codes;
    }
    let mut table = shard.groups.borrow_mut();
    // Leadership may have moved once the record was committed: the commit
    // stands (whoever leads next replays it), but memory here must not grow
    // a group for a partition no longer coordinated.
    if table.status(partition).is_err() {
        return codes;
    }
    let g = table.group_or_new(&group_id, partition, now);
    for (_, key, value) in values {
        g.offsets.insert(key, value);
    }
    codes
}

type Values = [(usize, (String, i32), OffsetValue)];

fn pend(
    shard: &Shard,
    group_id: &str,
    partition: i32,
    producer_id: i64,
    values: &Values,
    now: i64,
) {
    let mut table = shard.groups.borrow_mut();
    let pending = table
        .group_or_new(group_id, partition, now)
        .pending_txn
        .entry(producer_id)
        .or_default();
    for (_, key, value) in values {
        pending.insert(key.clone(), value.clone());
    }
}

/// Takes back what [`pend`] added, where a later commit has not replaced it.
fn unpend(shard: &Shard, group_id: &str, producer_id: i64, values: &Values) {
    let mut table = shard.groups.borrow_mut();
    let Some(g) = table.groups.get_mut(group_id) else {
        return;
    };
    if let Some(pending) = g.pending_txn.get_mut(&producer_id) {
        for (_, key, value) in values {
            if pending.get(key) == Some(value) {
                pending.remove(key);
            }
        }
        if pending.is_empty() {
            g.pending_txn.remove(&producer_id);
        }
    }
}

/// A transaction marker of `producer_id` reached `partition` of
/// `__consumer_offsets`: its pending offsets in every group stored there
/// become committed, or are dropped.
pub fn complete_transaction(
    coordinator: &mut Coordinator,
    partition: i32,
    producer_id: i64,
    commit: bool,
) {
    let groups = coordinator
        .groups
        .values_mut()
        .filter(|g| g.partition == partition);
    complete_in(groups, producer_id, commit);
}

/// Commits or drops `producer_id`'s pending offsets in `groups`.
pub fn complete_in<'a>(
    groups: impl Iterator<Item = &'a mut Group>,
    producer_id: i64,
    commit: bool,
) {
    for g in groups {
        if let Some(pending) = g.pending_txn.remove(&producer_id) {
            if commit {
                g.offsets.extend(pending);
            }
        }
    }
}

pub fn fetch(
    c: &Coordinator,
    group_id: &str,
    parts: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> GroupReply {
    let g = c.groups.get(group_id);
    let unstable = |topic: &str, partition: i32| {
        let key = (topic.to_string(), partition);
        require_stable && g.is_some_and(|g| g.pending_txn.values().any(|p| p.contains_key(&key)))
    };
    let fetched =
        |topic: &str, partition: i32, v: Option<&OffsetValue>| match unstable(topic, partition) {
            true => FetchedOffset {
                topic: topic.to_string(),
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: E::UnstableOffsetCommit.code(),
            },
            false => FetchedOffset {
                topic: topic.to_string(),
                partition,
                offset: v.map_or(-1, |v| v.offset),
                leader_epoch: v.map_or(-1, |v| v.leader_epoch),
                metadata: v.map(|v| v.metadata.clone()).unwrap_or_default(),
                error: 0,
            },
        };
    let list = match parts {
        Some(parts) => parts
            .iter()
            .map(|(t, p)| fetched(t, *p, g.and_then(|g| g.offsets.get(&(t.clone(), *p)))))
            .collect(),
        None => {
            let mut all: Vec<FetchedOffset> = g
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), v)| fetched(t, *p, Some(v)))
                        .collect()
                })
                .unwrap_or_default();
            all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            all
        }
    };
    GroupReply::Offsets(0, list)
}

pub fn describe(c: &Coordinator, group_id: &str) -> GroupDescription {
    let Some(g) = c.groups.get(group_id) else {
        return GroupDescription {
            error: 0,
            group_id: group_id.to_string(),
            state: GroupState::Dead.name(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
    };
    let protocol = g.protocol.clone().unwrap_or_default();
    let stable = g.state == GroupState::Stable;
    GroupDescription {
        error: 0,
        group_id: g.id.clone(),
        state: g.state.name(),
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol: protocol.clone(),
        members: g
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m.metadata_for(&protocol),
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Default::default()
                },
            })
            .collect(),
    }
}

pub fn list(c: &Coordinator) -> Vec<GroupListing> {
    c.groups
        .values()
        .filter(|g| g.state != GroupState::Dead)
        .map(|g| GroupListing {
            group_id: g.id.clone(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            state: g.state.name(),
        })
        .collect()
}

/// Tombstones for a group's metadata and all its offsets.
fn tombstones(g: &Group) -> Vec<Entry> {
    let mut out: Vec<Entry> = g
        .offsets
        .keys()
        .map(|(t, p)| (records::offset_key(&g.id, t, *p), None))
        .collect();
    out.push((records::group_key(&g.id), None));
    out
}

pub async fn delete(shard: &Rc<Shard>, partition: i32, group_id: String) -> i16 {
    let entries = {
        let table = shard.groups.borrow();
        match table.groups.get(&group_id) {
            None => return E::GroupIdNotFound.code(),
            Some(g) if g.state == GroupState::Dead => return E::GroupIdNotFound.code(),
            Some(g) if g.state != GroupState::Empty => return E::NonEmptyGroup.code(),
            Some(g) => tombstones(g),
        }
    };
    if let Err(e) = store::persist(shard, partition, entries).await {
        return e.code();
    }
    let mut table = shard.groups.borrow_mut();
    if table
        .groups
        .get(&group_id)
        .is_some_and(|g| g.state == GroupState::Empty)
    {
        table.groups.remove(&group_id);
    }
    0
}

/// Topics named in a member's consumer-protocol subscription (version,
/// then an array of topic names). Anything unreadable names no topic.
fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut b = metadata;
    let mut out = Vec::new();
    if b.remaining() < 6 {
        return out;
    }
    b.advance(2);
    let n = b.get_i32();
    for _ in 0..n.max(0) {
        if b.remaining() < 2 {
            break;
        }
        let len = b.get_i16().max(0) as usize;
        if b.remaining() < len {
            break;
        }
        out.push(String::from_utf8_lossy(&b[..len]).into_owned());
        b.advance(len);
    }
    out
}

pub async fn delete_offsets(
    shard: &Rc<Shard>,
    partition: i32,
    group_id: String,
    parts: Vec<(String, i32)>,
) -> GroupReply {
    let mut codes = vec![0i16; parts.len()];
    let mut entries = Vec::new();
    let mut doomed = Vec::new();
    {
        let table = shard.groups.borrow();
        let Some(g) = table
            .groups
            .get(&group_id)
            .filter(|g| g.state != GroupState::Dead)
        else {
            return GroupReply::DeleteOffsets(E::GroupIdNotFound.code(), Vec::new());
        };
        let consumer = g.protocol_type.as_deref().is_none_or(|t| t == "consumer");
        if g.state != GroupState::Empty && !consumer {
            return GroupReply::DeleteOffsets(E::NonEmptyGroup.code(), Vec::new());
        }
        let protocol = g.protocol.clone().unwrap_or_default();
        let subscribed: Vec<String> = if g.state == GroupState::Empty {
            Vec::new()
        } else {
            g.members
                .values()
                .flat_map(|m| subscribed_topics(&m.metadata_for(&protocol)))
                .collect()
        };
        for (i, (t, p)) in parts.iter().enumerate() {
            if subscribed.contains(t) {
                codes[i] = E::GroupSubscribedToTopic.code();
            } else if g.offsets.contains_key(&(t.clone(), *p)) {
                entries.push((records::offset_key(&group_id, t, *p), None));
                doomed.push((t.clone(), *p));
            }
        }
    }
    if let Err(e) = store::persist(shard, partition, entries).await {
        return GroupReply::DeleteOffsets(e.code(), Vec::new());
    }
    if let Some(g) = shard.groups.borrow_mut().groups.get_mut(&group_id) {
        for key in doomed {
            g.offsets.remove(&key);
        }
    }
    GroupReply::DeleteOffsets(0, codes)
}

/// The offsets of `g` past retention, and whether the whole group goes.
pub fn expirable(g: &Group, now: i64, retention: i64) -> Option<(Vec<(String, i32)>, bool)> {
    if g.state != GroupState::Empty {
        return None;
    }
    let old = |v: &OffsetValue| now - v.commit_timestamp.max(g.state_since_ms) >= retention;
    let gone: Vec<(String, i32)> = g
        .offsets
        .iter()
        .filter(|(_, v)| old(v))
        .map(|(k, _)| k.clone())
        .collect();
    let whole = gone.len() == g.offsets.len() && now - g.state_since_ms >= retention;
    (!gone.is_empty() || whole).then_some((gone, whole))
}

/// Kafka's rule for an Empty group: an offset expires once both its commit
/// and the group's becoming Empty are older than offsets.retention.minutes;
/// a group left with no offsets goes too.
pub async fn expire(shard: &Rc<Shard>) {
    let now = now_ms();
    let retention = shard.config.group.offsets_retention_ms;
    // (group, partition, offsets to drop, whether the group goes too)
    type Work = (String, i32, Vec<(String, i32)>, bool);
    let mut work: Vec<Work> = Vec::new();
    for g in shard.groups.borrow().groups.values() {
        if let Some((gone, whole)) = expirable(g, now, retention) {
            work.push((g.id.clone(), g.partition, gone, whole));
        }
    }
    for (group_id, partition, gone, whole) in work {
        let mut entries: Vec<Entry> = gone
            .iter()
            .map(|(t, p)| (records::offset_key(&group_id, t, *p), None))
            .collect();
        if whole {
            entries.push((records::group_key(&group_id), None));
        }
        if store::persist(shard, partition, entries).await.is_err() {
            continue;
        }
        let mut table = shard.groups.borrow_mut();
        let Some(g) = table.groups.get_mut(&group_id) else {
            continue;
        };
        tracing::info!(group = group_id, offsets = gone.len(), "offsets expired");
        for key in &gone {
            g.offsets.remove(key);
        }
        if whole && g.state == GroupState::Empty && g.offsets.is_empty() {
            table.groups.remove(&group_id);
        }
    }
}
