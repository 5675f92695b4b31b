//! Group state on disk: appending `__consumer_offsets` records through the
//! partition's own log, stamped with the leader epoch and replicated like an
//! acks=all produce, and replaying a partition at load to rebuild its groups
//! and committed offsets.
//!
//! Must not: report a write as done before it is below the high watermark
//! (it could be lost with the leader), or write without leading.

use std::rc::Rc;

use bytes::Bytes;
use futures_channel::oneshot;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::records::{self as group_records, Key};
use super::state::Group;
use super::OFFSETS_TOPIC;
use crate::shard::Shard;
use crate::storage::{records, PartitionLog};
use crate::util::now_ms;

/// A record to write: key and value (None = tombstone).
pub type Entry = (Bytes, Option<Bytes>);

/// Appends `entries` as one batch to the group partition in the current
/// leader epoch and waits until it is committed: durable here and below the
/// high watermark, so it survives the loss of a minority of replicas. Err is
/// the Kafka error to answer with: NOT_COORDINATOR if leadership ends first.
pub async fn persist(shard: &Rc<Shard>, partition: i32, entries: Vec<Entry>) -> Result<(), E> {
    if entries.is_empty() {
        return Ok(());
    }
    let (log, epoch, ended) = leadership(shard, partition)?;
    let now = now_ms();
    let batch = encode_batch(entries, now).map_err(|e| {
        tracing::error!("encoding group records: {e}");
        E::UnknownServerError
    })?;
    let appended = log.append(&batch, epoch, now).map_err(|e| {
        tracing::error!(partition, "appending group records: {e:?}");
        E::CoordinatorNotAvailable
    })?;
    appended.durable.await.map_err(|e| {
        tracing::error!(partition, "syncing group records: {e}");
        E::CoordinatorNotAvailable
    })?;
    let last = appended.last_offset;
    futures_lite::future::or(
        async { log.wait_for_hw(last).await.map_err(|_| E::NotCoordinator) },
        async {
            let _ = ended.await;
            Err(E::NotCoordinator)
        },
    )
    .await
}

/// The partition's log, the epoch this shard leads it in, and a receiver
/// that fires when that leadership ends; NOT_COORDINATOR if it does not
/// lead it.
fn leadership(
    shard: &Shard,
    partition: i32,
) -> Result<(PartitionLog, i32, oneshot::Receiver<()>), E> {
    let log = shard
        .log(OFFSETS_TOPIC, partition)
        .ok_or(E::NotCoordinator)?;
    let mut rep = shard.replication.borrow_mut();
    let epoch = rep
        .leaders
        .get(OFFSETS_TOPIC, partition)
        .map(|l| l.state.leader_epoch())
        .ok_or(E::NotCoordinator)?;
    let ended = rep.leadership_ended(OFFSETS_TOPIC, partition, epoch);
    Ok((log, epoch, ended))
}

fn encode_batch(entries: Vec<Entry>, now: i64) -> Result<Bytes, String> {
    records::encode_plain_batch(
        entries.into_iter().map(|(k, v)| (Some(k), v)).collect(),
        now,
    )
}

/// Replays partition `partition` of `__consumer_offsets` into `groups`:
/// what is below the high watermark, which `loading` first brings up to
/// the log end.
pub async fn load(shard: &Rc<Shard>, partition: i32) -> Vec<Group> {
    let Some(log) = shard.log(OFFSETS_TOPIC, partition) else {
        return Vec::new();
    };
    let mut groups: IndexMap<String, Group> = IndexMap::new();
    let now = now_ms();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let bytes = match log.read(offset, 1 << 20, true).await {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => break,
            Err(e) => {
                tracing::error!(partition, offset, "reading group records: {e:?}");
                break;
            }
        };
        let mut buf = bytes;
        let Ok(sets) = RecordBatchDecoder::decode_all(&mut buf) else {
            tracing::error!(partition, offset, "undecodable group batch; stopping load");
            break;
        };
        let mut last = offset - 1;
        for record in sets.iter().flat_map(|s| s.records.iter()) {
            last = last.max(record.offset);
            apply(&mut groups, partition, record, now);
        }
        if last < offset {
            break;
        }
        offset = last + 1;
    }
    groups.into_values().collect()
}

fn apply(groups: &mut IndexMap<String, Group>, partition: i32, r: &Record, now: i64) {
    let Some(key) = r.key.as_deref().and_then(group_records::decode_key) else {
        return;
    };
    match key {
        Key::Offset {
            group,
            topic,
            partition: p,
        } => match r.value.as_deref() {
            None => {
                if let Some(g) = groups.get_mut(&group) {
                    g.offsets.remove(&(topic, p));
                }
            }
            Some(v) => {
                if let Some(value) = group_records::decode_offset(v) {
                    let g = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, partition, now));
                    g.offsets.insert((topic, p), value);
                }
            }
        },
        Key::Group(group) => match r.value.as_deref().and_then(group_records::decode_group) {
            // A tombstone deletes the group and, before it, its offsets.
            None if r.value.is_none() => {
                groups.shift_remove(&group);
            }
            None => {}
            Some(value) => {
                let g = groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, partition, now));
                g.restore(value, now);
            }
        },
    }
}
