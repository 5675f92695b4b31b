//! The broker's own state kept in its internal topics (`__consumer_offsets`,
//! `__transaction_state`): appending records through a partition's log in
//! the epoch this shard leads it, acknowledged as acks=all, and reading a
//! partition's records back when this shard starts leading it.
//!
//! Must not: report a write done before it is below the high watermark
//! (a failover could lose it), write without leading, or replay before
//! everything an earlier leader acknowledged is committed.

use std::rc::Rc;

use bytes::Bytes;
use futures_channel::oneshot;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::records::RecordBatchDecoder;

use super::Shard;
use crate::storage::{records, PartitionLog};
use crate::util::now_ms;

/// A record to write: key and value (None = tombstone).
pub type Entry = (Bytes, Option<Bytes>);

/// Appends `entries` as one batch to `topic`'s `partition` in the current
/// leader epoch (`expected_epoch`, when given, must be it) and waits until
/// it is committed: durable here and below the high watermark. Err is the
/// Kafka error: NOT_COORDINATOR if leadership ends first or was never here.
pub async fn persist(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    expected_epoch: Option<i32>,
    entries: Vec<Entry>,
) -> Result<(), E> {
    write(shard, topic, partition, expected_epoch, None, entries).await
}

/// [`persist`] as a batch of producer `(id, epoch)`'s transaction (group
/// offsets committed by TxnOffsetCommit).
pub async fn persist_as(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    producer: Option<(i64, i16)>,
    entries: Vec<Entry>,
) -> Result<(), E> {
    write(shard, topic, partition, None, producer, entries).await
}

async fn write(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    expected_epoch: Option<i32>,
    producer: Option<(i64, i16)>,
    entries: Vec<Entry>,
) -> Result<(), E> {
    if entries.is_empty() {
        return Ok(());
    }
    let (log, epoch, ended) = leadership(shard, topic, partition)?;
    if expected_epoch.is_some_and(|e| e != epoch) {
        return Err(E::NotCoordinator);
    }
    let now = now_ms();
    let batch = records::encode_batch_as(
        entries.into_iter().map(|(k, v)| (Some(k), v)).collect(),
        now,
        producer,
    )
    .map_err(|e| {
        tracing::error!(topic, "encoding internal records: {e}");
        E::UnknownServerError
    })?;
    let appended = log.append(&batch, epoch, now).map_err(|e| {
        tracing::error!(topic, partition, "appending internal records: {e:?}");
        E::CoordinatorNotAvailable
    })?;
    appended.durable.await.map_err(|e| {
        tracing::error!(topic, partition, "syncing internal records: {e}");
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
    topic: &str,
    partition: i32,
) -> Result<(PartitionLog, i32, oneshot::Receiver<()>), E> {
    let log = shard.log(topic, partition).ok_or(E::NotCoordinator)?;
    let epoch = leader_epoch(shard, topic, partition).ok_or(E::NotCoordinator)?;
    let ended = shard
        .replication
        .borrow_mut()
        .leadership_ended(topic, partition, epoch);
    Ok((log, epoch, ended))
}

/// The epoch this shard leads `topic`'s `partition` in, if it does.
pub fn leader_epoch(shard: &Shard, topic: &str, partition: i32) -> Option<i32> {
    shard
        .replication
        .borrow()
        .leaders
        .get(topic, partition)
        .map(|l| l.state.leader_epoch())
}

/// Waits until the high watermark covers the whole log: the leader never
/// truncates its own log, so once its high watermark passes what it had
/// when it took over, every record there is committed and a replay sees
/// all that an earlier leader acknowledged. False if leadership ended or
/// `current()` says the caller gave up.
pub async fn await_committed(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    current: impl Fn() -> bool,
) -> bool {
    loop {
        let Some(log) = shard.log(topic, partition) else {
            return false;
        };
        let Some(epoch) = leader_epoch(shard, topic, partition) else {
            return false;
        };
        if !current() {
            return false;
        }
        if log.high_watermark() >= log.log_end_offset() {
            return true;
        }
        // A new epoch while still leading wakes this too; the loop looks
        // again with the new state.
        let ended = shard
            .replication
            .borrow_mut()
            .leadership_ended(topic, partition, epoch);
        futures_lite::future::or(log.wait_for_data(log.log_end_offset() - 1), async {
            let _ = ended.await;
        })
        .await;
    }
}

/// Every record of `topic`'s `partition` below its high watermark, in log
/// order: (key, value), None for a tombstone. Records without a key and
/// control records (transaction markers) are left out.
pub async fn read_records(shard: &Rc<Shard>, topic: &str, partition: i32) -> Vec<Entry> {
    let Some(log) = shard.log(topic, partition) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let mut bytes = match log.read(offset, 1 << 20, true).await {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => break,
            Err(e) => {
                tracing::error!(topic, partition, offset, "reading internal records: {e:?}");
                break;
            }
        };
        let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
            tracing::error!(
                topic,
                partition,
                offset,
                "undecodable batch; stopping the load"
            );
            break;
        };
        let mut last = offset - 1;
        for record in sets.iter().flat_map(|s| s.records.iter()) {
            last = last.max(record.offset);
            if let (false, Some(key)) = (record.control, &record.key) {
                out.push((key.clone(), record.value.clone()));
            }
        }
        if last < offset {
            break;
        }
        offset = last + 1;
    }
    out
}
