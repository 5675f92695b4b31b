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
use super::{controller, topic_policy, Shard};
use crate::storage::{AppendError, PartitionLog, ReadError, StorageError};
use crate::util::{now_ms, race_all};

/// Entry point for requests arriving on the mesh. Runs in the mesh receive
/// loop, so it must not await: produce appends happen here, everything else is
/// spawned.
pub fn handle_remote(shard: &Rc<Shard>, from: usize, id: u64, request: ShardRequest) {
    let shard = shard.clone();
    let answer: std::pin::Pin<Box<dyn Future<Output = ShardResponse>>> = match request {
        ShardRequest::Produce { acks, parts } => {
            let pending = produce_local(&shard, acks, parts);
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
        ShardRequest::Produce { acks, parts } => {
            ShardResponse::Produce(produce_local(shard, acks, parts).await)
        }
        ShardRequest::Fetch { parts } => ShardResponse::Fetch(fetch_local(shard, parts).await),
        ShardRequest::WaitForData { parts, timeout_ms } => {
            wait_local(shard, &parts, timeout_ms).await;
            ShardResponse::DataReady
        }
        ShardRequest::ListOffsets { queries } => {
            ShardResponse::ListOffsets(list_offsets_local(shard, queries).await)
        }
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
        ShardRequest::DeleteRecords { parts } => {
            ShardResponse::DeleteRecords(delete_records_local(shard, parts).await)
        }
        ShardRequest::Group { partition, call } => {
            ShardResponse::Group(crate::group::handle(shard, partition, call).await)
        }
        ShardRequest::Submit(command) => {
            ShardResponse::Submitted(controller::submit(shard, command).await)
        }
    }
}

/// Appends every part now (in order) and returns a future that resolves when
/// they are durable. With acks=0 the future resolves without waiting.
pub fn produce_local(
    shard: &Rc<Shard>,
    acks: i16,
    parts: Vec<ProducePart>,
) -> impl Future<Output = Vec<ProduceResult>> {
    let now = now_ms();
    let mut waits = Vec::with_capacity(parts.len());
    for part in parts {
        let Some(log) = shard.log(&part.topic, part.partition) else {
            waits.push(Err(failed(ResponseError::NotLeaderOrFollower, None)));
            continue;
        };
        let cfg = shard.topic_config(&part.topic);
        let records = match topic_policy::check(&part.records, &cfg, now) {
            Ok(records) => records,
            Err(refusal) => {
                let mut result = failed(refusal.error, Some(refusal.message));
                result.record_errors = refusal.records;
                waits.push(Err(result));
                continue;
            }
        };
        let append_time = if cfg.log_append_time { now } else { -1 };
        match log.append_with(&records, 0, now, cfg.log_append_time) {
            Ok(appended) => waits.push(Ok((appended, log, append_time))),
            Err(e) => waits.push(Err(append_failure(&e))),
        }
    }
    async move {
        let mut results = Vec::with_capacity(waits.len());
        for wait in waits {
            results.push(match wait {
                Err(result) => result,
                Ok((appended, log, append_time)) => {
                    let durable = if acks == 0 {
                        Ok(())
                    } else {
                        appended.durable.await
                    };
                    match durable {
                        Ok(()) => ProduceResult {
                            error_code: 0,
                            error_message: None,
                            base_offset: appended.base_offset,
                            log_start_offset: log.log_start_offset(),
                            log_append_time_ms: append_time,
                            record_errors: Vec::new(),
                        },
                        Err(e) => {
                            tracing::error!("append not made durable: {e}");
                            failed(ResponseError::KafkaStorageError, Some(e.to_string()))
                        }
                    }
                }
            });
        }
        results
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
        AppendError::Stopped(_) => ResponseError::KafkaStorageError,
    };
    failed(code, Some(error.to_string()))
}

async fn fetch_local(shard: &Rc<Shard>, parts: Vec<FetchPart>) -> Vec<FetchResult> {
    let mut results = Vec::with_capacity(parts.len());
    for part in parts {
        let Some(log) = shard.log(&part.topic, part.partition) else {
            results.push(FetchResult {
                error_code: ResponseError::NotLeaderOrFollower.code(),
                high_watermark: -1,
                log_start_offset: -1,
                records: ReadData::empty(),
            });
            continue;
        };
        let read = if shard.config.fetch_splice {
            log.read_data(part.offset, part.max_bytes, true).await
        } else {
            let read = log.read(part.offset, part.max_bytes, true).await;
            read.map(|bytes| ReadData::Memory(vec![bytes]))
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
        results.push(FetchResult {
            error_code,
            high_watermark: log.high_watermark(),
            log_start_offset: log.log_start_offset(),
            records,
        });
    }
    results
}

/// Resolves when any part owned here has data past its offset, or after the
/// timeout. Parts not owned here are ignored.
async fn wait_local(shard: &Rc<Shard>, parts: &[FetchPart], timeout_ms: u64) {
    let mut waits: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
    for part in parts {
        if let Some(log) = shard.log(&part.topic, part.partition) {
            waits.push(Box::pin(log.wait_for_data(part.offset)));
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
        answers.push(list_offset(&log, query.timestamp).await);
    }
    answers
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
