//! Group state on disk: appending `__consumer_offsets` records through the
//! partition's own log, stamped with the leader epoch and replicated like an
//! acks=all produce, and replaying a partition at load to rebuild its groups
//! and committed offsets.
//!
//! Must not: report a write as done before it is below the high watermark
//! (it could be lost with the leader), or write without leading.

use std::rc::Rc;

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::records::{self as group_records, Key};
use super::state::Group;
use super::OFFSETS_TOPIC;
use crate::shard::Shard;
use crate::util::now_ms;

/// A record to write: key and value (None = tombstone).
pub type Entry = crate::shard::internal_log::Entry;

/// Appends `entries` as one batch to the group partition in the current
/// leader epoch and waits until it is committed (`shard::internal_log`).
/// Err is the Kafka error to answer with: NOT_COORDINATOR if leadership
/// ends first.
pub async fn persist(shard: &Rc<Shard>, partition: i32, entries: Vec<Entry>) -> Result<(), E> {
    crate::shard::internal_log::persist(shard, OFFSETS_TOPIC, partition, None, entries).await
}

/// [`persist`] inside producer `(id, epoch)`'s transaction (TxnOffsetCommit).
pub async fn persist_transactional(
    shard: &Rc<Shard>,
    partition: i32,
    producer: (i64, i16),
    entries: Vec<Entry>,
) -> Result<(), E> {
    crate::shard::internal_log::persist_as(shard, OFFSETS_TOPIC, partition, Some(producer), entries)
        .await
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
    if r.control {
        // A transaction marker: the producer's pending offsets in every
        // group here commit or go (as `offsets::complete_transaction`).
        let commit = match r.key.as_deref() {
            Some([_, _, 0, 1, ..]) => true,
            Some([_, _, 0, 0, ..]) => false,
            _ => return,
        };
        super::offsets::complete_in(groups.values_mut(), r.producer_id, commit);
        return;
    }
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
                    // A transactional commit waits for its marker.
                    let target = match r.transactional {
                        true => g.pending_txn.entry(r.producer_id).or_default(),
                        false => &mut g.offsets,
                    };
                    target.insert((topic, p), value);
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
