//! Routing a request's partitions to the shards that own them and putting the
//! answers back in request order.
//!
//! Handlers call these functions with a flat list of per-partition items; each
//! item goes to its owner (in place when that is this shard), and the results
//! come back in the order of the input list.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;

use super::messages::*;
use super::{service, Shard, CONTROLLER_SHARD};
use crate::util::race_all;

/// Items split by owning shard, remembering each item's input position.
struct Split<T> {
    by_shard: Vec<(usize, Vec<usize>, Vec<T>)>,
    total: usize,
}

fn split<T>(shard: &Shard, items: Vec<T>, key: impl Fn(&T) -> (&str, i32)) -> Split<T> {
    let mut by_shard: Vec<(usize, Vec<usize>, Vec<T>)> = Vec::new();
    let total = items.len();
    for (position, item) in items.into_iter().enumerate() {
        let (topic, partition) = key(&item);
        let owner = shard.owner_of(topic, partition);
        match by_shard.iter_mut().find(|(s, _, _)| *s == owner) {
            Some((_, positions, group)) => {
                positions.push(position);
                group.push(item);
            }
            None => by_shard.push((owner, vec![position], vec![item])),
        }
    }
    Split { by_shard, total }
}

/// Puts per-shard results back in input order. A shard that failed to answer
/// gets `fallback` for each of its items.
fn merge<R>(
    total: usize,
    answers: Vec<(Vec<usize>, Option<Vec<R>>)>,
    fallback: impl Fn() -> R,
) -> Vec<R> {
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(total).collect();
    for (positions, results) in answers {
        let mut results = results.unwrap_or_default().into_iter();
        for position in positions {
            out[position] = Some(results.next().unwrap_or_else(&fallback));
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(&fallback))
        .collect()
}

/// Starts a produce: appends on this shard happen now and sends to other
/// shards are queued now, in order; the returned future waits for the results.
pub async fn produce(
    shard: &Rc<Shard>,
    acks: i16,
    timeout_ms: i32,
    parts: Vec<ProducePart>,
) -> impl Future<Output = Vec<ProduceResult>> {
    let Split { by_shard, total } = split(shard, parts, |p| (p.topic.as_str(), p.partition));
    let mut local = None;
    let mut remote = Vec::new();
    for (owner, positions, group) in by_shard {
        if owner == shard.id {
            local = Some((
                positions,
                super::produce::produce_local(shard, acks, timeout_ms, group),
            ));
        } else {
            let rx = shard
                .mesh
                .send(
                    owner,
                    ShardRequest::Produce {
                        acks,
                        timeout_ms,
                        parts: group,
                    },
                )
                .await;
            remote.push((positions, rx));
        }
    }
    async move {
        let mut answers = Vec::new();
        if let Some((positions, pending)) = local {
            answers.push((positions, Some(pending.await)));
        }
        for (positions, rx) in remote {
            let results = match rx.await {
                Ok(ShardResponse::Produce(results)) => Some(results),
                _ => None,
            };
            answers.push((positions, results));
        }
        merge(total, answers, produce_unavailable)
    }
}

fn produce_unavailable() -> ProduceResult {
    ProduceResult {
        error_code: kafka_protocol::error::ResponseError::NotLeaderOrFollower.code(),
        error_message: Some("owning shard unavailable".into()),
        base_offset: -1,
        log_start_offset: -1,
        log_append_time_ms: -1,
        record_errors: Vec::new(),
    }
}

/// Reads every part from its owner, concurrently.
pub async fn fetch(shard: &Rc<Shard>, parts: Vec<FetchPart>) -> Vec<FetchResult> {
    let fallback =
        || FetchResult::failed(kafka_protocol::error::ResponseError::NotLeaderOrFollower.code());
    scatter(
        shard,
        parts,
        |p| (p.topic.as_str(), p.partition),
        |parts| ShardRequest::Fetch { parts },
        |r| match r {
            ShardResponse::Fetch(results) => Some(results),
            _ => None,
        },
        fallback,
    )
    .await
}

pub async fn list_offsets(shard: &Rc<Shard>, queries: Vec<OffsetQuery>) -> Vec<OffsetAnswer> {
    let fallback = || OffsetAnswer {
        error_code: kafka_protocol::error::ResponseError::NotLeaderOrFollower.code(),
        offset: -1,
        timestamp: -1,
    };
    scatter(
        shard,
        queries,
        |q| (q.topic.as_str(), q.partition),
        |queries| ShardRequest::ListOffsets { queries },
        |r| match r {
            ShardResponse::ListOffsets(answers) => Some(answers),
            _ => None,
        },
        fallback,
    )
    .await
}

/// DescribeLogDirs' facts of each partition from its owner (None: not
/// held on this broker).
pub async fn log_dirs(
    shard: &Rc<Shard>,
    parts: Vec<(String, i32)>,
) -> Vec<Option<super::replication_stats::LogDirEntry>> {
    scatter(
        shard,
        parts,
        |p| (p.0.as_str(), p.1),
        |parts| ShardRequest::LogDirs { parts },
        |r| match r {
            ShardResponse::LogDirs(entries) => Some(entries),
            _ => None,
        },
        || None,
    )
    .await
}

pub async fn delete_records(
    shard: &Rc<Shard>,
    parts: Vec<DeleteRecordsPart>,
) -> Vec<DeleteRecordsResult> {
    let fallback = || DeleteRecordsResult {
        error_code: kafka_protocol::error::ResponseError::NotLeaderOrFollower.code(),
        low_watermark: -1,
    };
    scatter(
        shard,
        parts,
        |p| (p.topic.as_str(), p.partition),
        |parts| ShardRequest::DeleteRecords { parts },
        |r| match r {
            ShardResponse::DeleteRecords(results) => Some(results),
            _ => None,
        },
        fallback,
    )
    .await
}

/// Each partition's producers, from the shard owning it.
pub async fn describe_producers(
    shard: &Rc<Shard>,
    parts: Vec<(String, i32)>,
) -> Vec<Result<Vec<crate::storage::txn_log::ActiveProducer>, i16>> {
    let not_here = kafka_protocol::error::ResponseError::NotLeaderOrFollower.code();
    scatter(
        shard,
        parts,
        |(topic, partition)| (topic.as_str(), *partition),
        |parts| ShardRequest::DescribeProducers { parts },
        |r| match r {
            ShardResponse::Producers(results) => Some(results),
            _ => None,
        },
        || Err(not_here),
    )
    .await
}

/// Sends each shard's share as one request (run in place for this shard) and
/// gathers the answers in input order.
async fn scatter<T, R>(
    shard: &Rc<Shard>,
    items: Vec<T>,
    key: impl Fn(&T) -> (&str, i32),
    request: impl Fn(Vec<T>) -> ShardRequest,
    unwrap: impl Fn(ShardResponse) -> Option<Vec<R>>,
    fallback: impl Fn() -> R,
) -> Vec<R> {
    let Split { by_shard, total } = split(shard, items, key);
    let mut local = None;
    let mut remote = Vec::new();
    for (owner, positions, group) in by_shard {
        if owner == shard.id {
            local = Some((positions, request(group)));
        } else {
            remote.push((positions, shard.mesh.send(owner, request(group)).await));
        }
    }
    let mut answers = Vec::new();
    if let Some((positions, req)) = local {
        answers.push((positions, unwrap(service::execute(shard, req).await)));
    }
    for (positions, rx) in remote {
        answers.push((positions, rx.await.ok().and_then(&unwrap)));
    }
    merge(total, answers, fallback)
}

/// Waits until any part has data past its offset (on whichever shard owns
/// it), or `timeout` passes. No polling: each owner wakes on its appends.
pub async fn wait_for_data(shard: &Rc<Shard>, parts: Vec<FetchPart>, timeout: Duration) {
    let timeout_ms = timeout.as_millis() as u64;
    let Split { by_shard, .. } = split(shard, parts, |p| (p.topic.as_str(), p.partition));
    let mut waits: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
    for (owner, _, group) in by_shard {
        let request = ShardRequest::WaitForData {
            parts: group,
            timeout_ms,
        };
        if owner == shard.id {
            let shard = shard.clone();
            waits.push(Box::pin(async move {
                service::execute(&shard, request).await;
            }));
        } else {
            let rx: oneshot::Receiver<ShardResponse> = shard.mesh.send(owner, request).await;
            waits.push(Box::pin(async move {
                let _ = rx.await;
            }));
        }
    }
    waits.push(Box::pin(glommio::timer::sleep(timeout)));
    race_all(waits).await;
}

/// Runs a controller-only request on the controller shard.
pub async fn to_controller(shard: &Rc<Shard>, request: ShardRequest) -> Option<ShardResponse> {
    if shard.id == CONTROLLER_SHARD {
        Some(service::execute(shard, request).await)
    } else {
        shard.mesh.send(CONTROLLER_SHARD, request).await.await.ok()
    }
}
