//! What a shard does with a [`ShardRequest`], whether it came from another
//! shard over the mesh or from a connection on this shard.
//!
//! Produce is special: its appends run synchronously, in arrival order, before
//! anything else can interleave, so a connection's pipelined produce requests
//! keep their order; only waiting for durability is deferred.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::messages::*;
use super::produce::produce_local;
use super::{controller, Shard};
use crate::storage::{PartitionLog, ReadError, StorageError};
use crate::util::race_all;

/// Entry point for requests arriving on the mesh. Runs in the mesh receive
/// loop, so it must not await: produce appends happen here, everything else is
/// spawned.
pub fn handle_remote(shard: &Rc<Shard>, from: usize, id: u64, request: ShardRequest) {
    let shard = shard.clone();
    // Connection counts change here, in arrival order.
    if let Some(answer) = super::connection_limits::on_controller_shard(&shard, &request) {
        glommio::spawn_local(async move { shard.mesh.reply(from, id, answer).await }).detach();
        return;
    }
    let answer: std::pin::Pin<Box<dyn Future<Output = ShardResponse>>> = match request {
        ShardRequest::Produce {
            acks,
            timeout_ms,
            parts,
        } => {
            let pending = produce_local(&shard, acks, timeout_ms, parts);
            Box::pin(async move { ShardResponse::Produce(pending.await) })
        }
        other => {
            let shard = shard.clone();
            Box::pin(async move { execute(&shard, other).await })
        }
    };
    glommio::spawn_local(async move {
        let body = answer.await;
        shard.mesh.reply(from, id, body).await;
    })
    .detach();
}

/// Runs any request except Produce on this shard.
pub async fn execute(shard: &Rc<Shard>, request: ShardRequest) -> ShardResponse {
    match request {
        ShardRequest::Produce {
            acks,
            timeout_ms,
            parts,
        } => ShardResponse::Produce(produce_local(shard, acks, timeout_ms, parts).await),
        ShardRequest::Fetch { parts } => ShardResponse::Fetch(fetch_local(shard, parts).await),
        ShardRequest::WaitForData { parts, timeout_ms } => {
            wait_local(shard, &parts, timeout_ms).await;
            ShardResponse::DataReady
        }
        ShardRequest::ListOffsets { queries } => {
            ShardResponse::ListOffsets(list_offsets_local(shard, queries).await)
        }
        ShardRequest::LogDirs { parts } => ShardResponse::LogDirs(
            parts
                .iter()
                .map(|(t, p)| super::replication_stats::log_dir_entry(shard, t, *p))
                .collect(),
        ),
        ShardRequest::CreateTopic {
            name,
            partitions,
            replication_factor,
            assignments,
            validate_only,
            configs,
        } => {
            controller::create_topic(
                shard,
                name,
                partitions,
                replication_factor,
                assignments,
                configs,
                validate_only,
            )
            .await
        }
        ShardRequest::DeleteTopic { name } => controller::delete_topic(shard, name).await,
        ShardRequest::AlterTopicConfigs {
            name,
            configs,
            validate_only,
        } => controller::alter_configs(shard, name, configs, validate_only).await,
        ShardRequest::CreatePartitions {
            name,
            count,
            assignments,
            validate_only,
        } => controller::create_partitions(shard, name, count, assignments, validate_only).await,
        ShardRequest::Metadata {
            image,
            controller_id,
        } => {
            super::apply_image::apply(shard, image, controller_id).await;
            ShardResponse::Applied
        }
        ShardRequest::DescribeQuorum => {
            ShardResponse::Quorum(controller::describe_quorum(shard).await)
        }
        ShardRequest::AllocateProducerId => {
            ShardResponse::ProducerId(controller::allocate_producer_id(shard).await)
        }
        ShardRequest::DescribeProducers { parts } => ShardResponse::Producers(
            parts
                .iter()
                .map(|(topic, partition)| match shard.log(topic, *partition) {
                    Some(log) => Ok(log.active_producers()),
                    None => Err(ResponseError::NotLeaderOrFollower.code()),
                })
                .collect(),
        ),
        ShardRequest::DeleteRecords { parts } => {
            ShardResponse::DeleteRecords(delete_records_local(shard, parts).await)
        }
        ShardRequest::Group { partition, call } => {
            ShardResponse::Group(crate::group::handle(shard, partition, call).await)
        }
        // Boxed: a coordinator's InitProducerId asks the controller shard
        // for a producer id, through this function again.
        ShardRequest::Txn(call) => {
            ShardResponse::Txn(Box::pin(super::txn_coordinator::handle(shard, call)).await)
        }
        ShardRequest::Submit(command) => {
            ShardResponse::Submitted(controller::submit(shard, command).await)
        }
        request @ (ShardRequest::OpenConnection { .. } | ShardRequest::CloseConnection { .. }) => {
            super::connection_limits::on_controller_shard(shard, &request)
                .unwrap_or(ShardResponse::ConnectionClosed)
        }
    }
}

async fn fetch_local(shard: &Rc<Shard>, parts: Vec<FetchPart>) -> Vec<FetchResult> {
    let mut results = Vec::with_capacity(parts.len());
    for part in parts {
        let Some(log) = shard.log(&part.topic, part.partition) else {
            results.push(FetchResult::failed(
                ResponseError::NotLeaderOrFollower.code(),
            ));
            continue;
        };
        results.push(match part.replica {
            Some(replica) => super::replication::serve_follower(shard, &log, &part, replica).await,
            None => read_for_consumer(shard, &log, &part).await,
        });
    }
    results
}

/// A consumer's read: below the high watermark, and only from a leader
/// whose high watermark covers everything earlier leaders wrote, so the
/// high watermark a consumer sees never goes back.
async fn read_for_consumer(shard: &Rc<Shard>, log: &PartitionLog, part: &FetchPart) -> FetchResult {
    if !shard.serves_consumers(&part.topic, part.partition, log) {
        return FetchResult::failed(ResponseError::NotLeaderOrFollower.code());
    }
    let (offset, max, committed) = (part.offset, part.max_bytes, part.read_committed);
    let read = match (shard.config.fetch_splice, committed) {
        (true, false) => log.read_data(offset, max, true).await,
        (true, true) => log.read_data_committed(offset, max, true).await,
        (false, _) => {
            let read = log.read_copied(offset, max, true, committed).await;
            read.map(|bytes| ReadData::Memory(vec![bytes]))
        }
    };
    let (error_code, records) = match read {
        Ok(records) => (0, records),
        Err(ReadError::OffsetOutOfRange { .. }) => {
            (ResponseError::OffsetOutOfRange.code(), ReadData::empty())
        }
        Err(e) => {
            tracing::error!(topic = part.topic, partition = part.partition, "read: {e}");
            (ResponseError::KafkaStorageError.code(), ReadData::empty())
        }
    };
    let hw = log.high_watermark();
    let lso = log.last_stable_offset();
    let aborted = match committed && error_code == 0 {
        true => log.aborted_transactions(offset, lso),
        false => Vec::new(),
    };
    FetchResult {
        error_code,
        high_watermark: hw,
        last_stable_offset: lso,
        log_start_offset: log.log_start_offset(),
        records,
        aborted,
        // A long poll waits past the high watermark even under
        // READ_COMMITTED: the last stable offset moves only when a marker
        // is appended or the high watermark moves, each of which wakes it.
        readable_end: hw,
        diverging_epoch: None,
    }
}

/// Resolves when any part owned here has data past its offset, or after the
/// timeout. Parts not owned here are ignored.
async fn wait_local(shard: &Rc<Shard>, parts: &[FetchPart], timeout_ms: u64) {
    let mut waits: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
    for part in parts {
        if let Some(log) = shard.log(&part.topic, part.partition) {
            if part.replica.is_some() {
                waits.push(Box::pin(log.wait_for_durable(part.offset)));
            } else {
                waits.push(Box::pin(log.wait_for_data(part.offset)));
            }
        }
    }
    waits.push(Box::pin(glommio::timer::sleep(Duration::from_millis(
        timeout_ms,
    ))));
    race_all(waits).await;
}

async fn list_offsets_local(shard: &Rc<Shard>, queries: Vec<OffsetQuery>) -> Vec<OffsetAnswer> {
    let mut answers = Vec::with_capacity(queries.len());
    for query in queries {
        let Some(log) = shard.log(&query.topic, query.partition) else {
            answers.push(OffsetAnswer {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                offset: -1,
                timestamp: -1,
            });
            continue;
        };
        answers.push(match query.kind {
            OffsetKind::Timestamp(t)
                if !visible_offsets(t)
                    && !shard.serves_consumers(&query.topic, query.partition, &log) =>
            {
                // A new leader whose high watermark has not yet reached its
                // epoch start would answer with an offset below what its
                // predecessor showed (Kafka: OFFSET_NOT_AVAILABLE, retriable).
                OffsetAnswer {
                    error_code: ResponseError::OffsetNotAvailable.code(),
                    offset: -1,
                    timestamp: -1,
                }
            }
            OffsetKind::LastStable
                if !shard.serves_consumers(&query.topic, query.partition, &log) =>
            {
                OffsetAnswer {
                    error_code: ResponseError::OffsetNotAvailable.code(),
                    offset: -1,
                    timestamp: -1,
                }
            }
            OffsetKind::Timestamp(t) => list_offset(&log, t).await,
            OffsetKind::LastStable => OffsetAnswer {
                error_code: 0,
                offset: log.last_stable_offset(),
                timestamp: -1,
            },
            OffsetKind::EpochEnd(epoch) => {
                let (epoch, end) = log.end_offset_for_epoch(epoch).unwrap_or((-1, -1));
                OffsetAnswer {
                    error_code: 0,
                    offset: end,
                    timestamp: i64::from(epoch),
                }
            }
        });
    }
    answers
}

/// Lookups whose answer does not depend on the high watermark (earliest).
fn visible_offsets(timestamp: i64) -> bool {
    matches!(timestamp, -2 | -4 | -5)
}

async fn list_offset(log: &PartitionLog, timestamp: i64) -> OffsetAnswer {
    let found = |offset, timestamp| OffsetAnswer {
        error_code: 0,
        offset,
        timestamp,
    };
    match timestamp {
        -1 => found(log.high_watermark(), -1),
        -2 => found(log.log_start_offset(), -1),
        -3 => match log.max_timestamp() {
            // The log knows the batch holding the largest timestamp; Kafka
            // (since 3.8, KAFKA-16310) answers with the record inside it:
            // the first one carrying that timestamp.
            Some((ts, batch_base)) => match log.offset_for_timestamp(ts).await {
                Ok(Some((offset, _))) => found(offset, ts),
                _ => found(batch_base, ts),
            },
            None => found(-1, -1),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts).await {
            Ok(Some((offset, ts))) => found(offset, ts),
            Ok(None) => found(-1, -1),
            Err(e) => {
                tracing::error!("offset_for_timestamp: {e}");
                OffsetAnswer {
                    error_code: ResponseError::KafkaStorageError.code(),
                    offset: -1,
                    timestamp: -1,
                }
            }
        },
        // -4 (earliest local) and -5 (tiered) have no meaning without tiered
        // storage beyond "earliest".
        -4 | -5 => found(log.log_start_offset(), -1),
        _ => OffsetAnswer {
            error_code: ResponseError::InvalidRequest.code(),
            offset: -1,
            timestamp: -1,
        },
    }
}

async fn delete_records_local(
    shard: &Rc<Shard>,
    parts: Vec<DeleteRecordsPart>,
) -> Vec<DeleteRecordsResult> {
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let Some(log) = shard.log(&part.topic, part.partition) else {
            out.push(DeleteRecordsResult {
                error_code: ResponseError::UnknownTopicOrPartition.code(),
                low_watermark: -1,
            });
            continue;
        };
        out.push(match log.delete_records_before(part.offset).await {
            Ok(start) => DeleteRecordsResult {
                error_code: 0,
                low_watermark: start,
            },
            Err(StorageError::OffsetOutOfRange { .. }) => DeleteRecordsResult {
                error_code: ResponseError::OffsetOutOfRange.code(),
                low_watermark: log.log_start_offset(),
            },
            Err(e) => {
                tracing::error!(
                    topic = part.topic,
                    partition = part.partition,
                    "delete records: {e}"
                );
                DeleteRecordsResult {
                    error_code: ResponseError::KafkaStorageError.code(),
                    low_watermark: -1,
                }
            }
        });
    }
    out
}

/// Closes every log (shutdown): pending data flushed, synced, truncated.
pub async fn close_all(shard: &Rc<Shard>) {
    let logs: Vec<(String, i32, PartitionLog)> = shard
        .logs
        .borrow()
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(|(p, l)| (t.clone(), *p, l.clone())))
        .collect();
    for (topic, partition, log) in logs {
        if let Err(e) = log.close().await {
            tracing::error!(topic, partition, "close log: {e}");
        }
    }
}
