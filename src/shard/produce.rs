//! Produce on the shard that owns the partitions: appends happen at once,
//! in arrival order (so a connection's pipelined produces keep their
//! order); acknowledging waits — for nothing with acks=0, for the local
//! fdatasync with acks=1, for the high watermark (every in-sync replica has
//! it on disk) with acks=all, bounded by the request's timeout and by the
//! leadership lasting.
//!
//! Owns: min.insync.replicas checks and the produce error codes. Must not:
//! hold the replication borrow across an await.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::messages::{ProducePart, ProduceResult};
use super::{topic_policy, Shard};
use crate::storage::{AppendError, PartitionLog};
use crate::util::now_ms;

/// Appends every part now (in order) and returns a future that resolves when
/// they are acknowledged: at once with acks=0, once durable here with
/// acks=1, once below the high watermark (durable on every in-sync replica)
/// with acks=all.
pub fn produce_local(
    shard: &Rc<Shard>,
    acks: i16,
    timeout_ms: i32,
    parts: Vec<ProducePart>,
) -> impl Future<Output = Vec<ProduceResult>> {
    let now = now_ms();
    let mut waits = Vec::with_capacity(parts.len());
    for part in parts {
        waits.push(append_part(shard, acks, part, now));
    }
    let shard = shard.clone();
    async move {
        let mut results = Vec::with_capacity(waits.len());
        for wait in waits {
            results.push(match wait {
                Err(result) => result,
                Ok(appended) => acknowledge(&shard, acks, timeout_ms, appended).await,
            });
        }
        results
    }
}

/// A part appended, waiting to be acknowledged.
struct AppendedPart {
    topic: String,
    partition: i32,
    leader_epoch: i32,
    appended: crate::storage::Appended,
    log: PartitionLog,
    append_time: i64,
    min_insync: usize,
    /// acks=all: resolves (with an error) if the leadership ends first.
    ended: Option<futures_channel::oneshot::Receiver<()>>,
    /// A transaction marker (WriteTxnMarkers) rather than records.
    marker: Option<crate::storage::MarkerSpec>,
}

fn append_part(
    shard: &Rc<Shard>,
    acks: i16,
    part: ProducePart,
    now: i64,
) -> Result<AppendedPart, ProduceResult> {
    let Some(log) = shard.log(&part.topic, part.partition) else {
        return Err(failed(ResponseError::NotLeaderOrFollower, None));
    };
    let cfg = shard.topic_config(&part.topic);
    let min_insync = cfg.min_insync_replicas.max(1) as usize;
    let isr = shard
        .replication
        .borrow()
        .isr_len(&part.topic, part.partition, part.leader_epoch);
    match isr {
        None => return Err(failed(ResponseError::NotLeaderOrFollower, None)),
        Some(n) if acks == -1 && n < min_insync => {
            let why = format!("{n} in-sync replicas, min.insync.replicas is {min_insync}");
            return Err(failed(ResponseError::NotEnoughReplicas, Some(why)));
        }
        Some(_) => {}
    }
    let appended = match part.marker {
        Some(marker) => log.append_marker(marker, part.leader_epoch, now),
        None => {
            let records = topic_policy::check(&part.records, &cfg, now).map_err(|refusal| {
                let mut result = failed(refusal.error, Some(refusal.message));
                result.record_errors = refusal.records;
                result
            })?;
            log.append_with(&records, part.leader_epoch, now, cfg.log_append_time)
        }
    }
    .map_err(|e| append_failure(&e))?;
    let ended = (acks == -1).then(|| {
        shard.replication.borrow_mut().leadership_ended(
            &part.topic,
            part.partition,
            part.leader_epoch,
        )
    });
    Ok(AppendedPart {
        topic: part.topic,
        partition: part.partition,
        leader_epoch: part.leader_epoch,
        appended,
        log,
        append_time: if cfg.log_append_time { now } else { -1 },
        min_insync,
        ended,
        marker: part.marker,
    })
}

async fn acknowledge(
    shard: &Rc<Shard>,
    acks: i16,
    timeout_ms: i32,
    part: AppendedPart,
) -> ProduceResult {
    let last = part.appended.last_offset;
    if acks != 0 {
        if let Err(e) = part.appended.durable.await {
            tracing::error!("append not made durable: {e}");
            return failed(ResponseError::KafkaStorageError, Some(e.to_string()));
        }
    }
    if let Some(ended) = part.ended {
        let wait = futures_lite::future::or(
            async { part.log.wait_for_hw(last).await.map_err(|e| e.to_string()) },
            async {
                let _ = ended.await;
                Err("leadership moved".to_string())
            },
        );
        // Kafka answers REQUEST_TIMED_OUT when the ISR has not caught up
        // within the request's timeout (the batch stays in the log).
        let limit = Duration::from_millis(timeout_ms.max(0) as u64);
        match crate::cluster::transport::within(limit, wait).await {
            None => {
                let why = "the in-sync replicas did not catch up in time".to_string();
                return failed(ResponseError::RequestTimedOut, Some(why));
            }
            Some(Err(why)) => return failed(ResponseError::NotLeaderOrFollower, Some(why)),
            Some(Ok(())) => {}
        }
        let isr =
            shard
                .replication
                .borrow()
                .isr_len(&part.topic, part.partition, part.leader_epoch);
        if isr.is_none_or(|n| n < part.min_insync) {
            let why = "the ISR shrank below min.insync.replicas".to_string();
            return failed(ResponseError::NotEnoughReplicasAfterAppend, Some(why));
        }
    }
    if let Some(marker) = part
        .marker
        .filter(|_| part.topic == crate::group::OFFSETS_TOPIC)
    {
        // The group coordinator of this partition is this shard: offsets
        // committed in the transaction now count, or are dropped.
        let commit = marker.marker == crate::storage::txn_state::Marker::Commit;
        let mut groups = shard.groups.borrow_mut();
        crate::group::offsets::complete_transaction(
            &mut groups,
            part.partition,
            marker.producer_id,
            commit,
        );
    }
    ProduceResult {
        error_code: 0,
        error_message: None,
        base_offset: part.appended.base_offset,
        log_start_offset: part.log.log_start_offset(),
        log_append_time_ms: part.append_time,
        record_errors: Vec::new(),
    }
}

fn failed(error: ResponseError, message: Option<String>) -> ProduceResult {
    ProduceResult {
        error_code: error.code(),
        error_message: message,
        base_offset: -1,
        log_start_offset: -1,
        log_append_time_ms: -1,
        record_errors: Vec::new(),
    }
}

fn append_failure(error: &AppendError) -> ProduceResult {
    let code = match error {
        AppendError::Corrupt(_) => ResponseError::CorruptMessage,
        AppendError::UnsupportedMagic => ResponseError::UnsupportedForMessageFormat,
        AppendError::InvalidRecord(_) => ResponseError::InvalidRecord,
        AppendError::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
        AppendError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
        AppendError::CoordinatorFenced => ResponseError::TransactionCoordinatorFenced,
        AppendError::Stopped(_) => ResponseError::KafkaStorageError,
    };
    failed(code, Some(error.to_string()))
}
