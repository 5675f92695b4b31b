//! The transaction coordinator's side of ending a transaction on its
//! partitions, as Kafka's TransactionMarkerChannelManager does it: each
//! partition's commit or abort marker goes to that partition's current
//! leader — through `router::produce` (acks=all) when it is this broker,
//! else in one WriteTxnMarkers v1 per leader broker over that broker's
//! inter-broker listener — and is retried, re-reading the leader each
//! time, until every partition has it, the transaction turns out fenced,
//! or the caller stops coordinating it.
//!
//! Owns: grouping by leader, which answers are final, the retry backoff,
//! and (in `Shard::broker_connections`) this shard's idle connections to
//! leaders. Must not: hold a `RefCell` borrow across an await, or decide
//! anything about the transaction's state (the coordinator does, from the
//! result).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::messages::ProducePart;
use super::{router, Shard};
use crate::storage::txn_state::Marker;
use crate::storage::MarkerSpec;
use crate::util::{join_all, now_ms};

/// How long a leader waits for its in-sync replicas before answering a
/// marker (Kafka uses request.timeout.ms); the WriteTxnMarkers handler
/// uses it too.
pub const MARKER_TIMEOUT_MS: i32 = 30_000;
/// On top of the leader's wait, for its answer to arrive.
const NETWORK_MARGIN: Duration = Duration::from_secs(5);
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
const CLIENT_ID: &str = "fjord-txn-markers";
/// Failing this long is worth a warning (once per transaction).
const WARN_AFTER_MS: i64 = 10_000;
/// How often a round in flight or a backoff checks `keep_going`.
const STOP_POLL: Duration = Duration::from_millis(100);

/// One transaction's markers to write.
#[derive(Clone, Debug)]
pub struct MarkerRequest {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub partitions: Vec<(String, i32)>,
}

type Tp = (String, i32);

/// What one partition's answer means for its marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written, or no longer needed.
    Done,
    /// Try again (at the leader as it is then).
    Retry,
    /// The producer or the coordinator moved on: stop writing.
    Fenced,
}

/// Classifies a leader's error code for one partition, as Kafka's
/// TransactionMarkerRequestCompletionHandler does. `exists`: the partition
/// is still in this broker's image (an UNKNOWN_TOPIC_OR_PARTITION for a
/// deleted topic means done; for one that exists, a leader behind on
/// metadata). Codes Kafka treats as impossible are retried rather than
/// given up on: giving up would leave the transaction hanging for good,
/// retrying recovers once the cause (an ACL, a disk) is fixed.
pub fn classify(code: i16, exists: bool) -> Outcome {
    if code == 0 {
        return Outcome::Done;
    }
    match ResponseError::try_from_code(code) {
        // Kafka: the producer never wrote to such a partition either.
        Some(ResponseError::UnsupportedForMessageFormat) => Outcome::Done,
        Some(ResponseError::UnknownTopicOrPartition) if !exists => Outcome::Done,
        Some(ResponseError::InvalidProducerEpoch | ResponseError::TransactionCoordinatorFenced) => {
            Outcome::Fenced
        }
        // Unknown codes too: not taken for success.
        _ => Outcome::Retry,
    }
}

/// The pause before retry `attempt` (0-based): 100 ms doubling to 1 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(4)).min(1000))
}

/// Where each pending partition's marker goes in one round.
#[derive(Debug, Default, PartialEq)]
pub struct Routes {
    /// Led by this broker.
    pub local: Vec<Tp>,
    /// By leader broker, in id order.
    pub remote: BTreeMap<i32, Vec<Tp>>,
    /// In the image without a leader: retried.
    pub no_leader: Vec<Tp>,
    /// Not in the image (the topic was deleted): done, as in Kafka.
    pub gone: Vec<Tp>,
}

/// Groups `partitions` by leader; `leader_of` reads the image (None: not
/// there, negative: no leader).
pub fn route(partitions: &[Tp], me: i32, leader_of: impl Fn(&str, i32) -> Option<i32>) -> Routes {
    let mut routes = Routes::default();
    for tp in partitions {
        match leader_of(&tp.0, tp.1) {
            None => routes.gone.push(tp.clone()),
            Some(l) if l < 0 => routes.no_leader.push(tp.clone()),
            Some(l) if l == me => routes.local.push(tp.clone()),
            Some(l) => routes.remote.entry(l).or_default().push(tp.clone()),
        }
    }
    routes
}

/// `partitions` without repeats, in their first order.
fn distinct(partitions: &[Tp]) -> Vec<Tp> {
    let mut seen = HashSet::new();
    partitions
        .iter()
        .filter(|tp| seen.insert((*tp).clone()))
        .cloned()
        .collect()
}

/// WriteTxnMarkers for `partitions` (one leader's), topics grouped.
pub fn marker_request(request: &MarkerRequest, partitions: &[Tp]) -> WriteTxnMarkersRequest {
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partition_indexes.push(*partition),
            None => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partition_indexes(vec![*partition]),
            ),
        }
    }
    let marker = WritableTxnMarker::default()
        .with_producer_id(request.producer_id.into())
        .with_producer_epoch(request.producer_epoch)
        .with_transaction_result(request.commit)
        .with_topics(topics)
        .with_coordinator_epoch(request.coordinator_epoch);
    WriteTxnMarkersRequest::default().with_markers(vec![marker])
}

/// Each partition's error code in a leader's answer (None: not answered).
pub fn answered_codes(
    response: &WriteTxnMarkersResponse,
    producer_id: i64,
    partitions: &[Tp],
) -> Vec<Option<i16>> {
    let mut codes = std::collections::HashMap::new();
    for marker in response
        .markers
        .iter()
        .filter(|m| m.producer_id.0 == producer_id)
    {
        for topic in &marker.topics {
            for p in &topic.partitions {
                codes.insert((topic.name.0.as_str(), p.partition_index), p.error_code);
            }
        }
    }
    partitions
        .iter()
        .map(|(t, p)| codes.get(&(t.as_str(), *p)).copied())
        .collect()
}

/// One partition's answer in a round: a leader's code or why none came.
type Answer = (Tp, Result<i16, String>);

/// Writes the marker to every partition, each through its current leader:
/// partitions this broker leads through router::produce (acks=all), the
/// others with WriteTxnMarkers v1 to the leader's inter-broker listener
/// (one request per leader broker, all its partitions). Retries with a
/// short backoff (100 ms, growing to 1 s) on retriable errors, re-reading
/// the leader each time; a partition whose topic was deleted counts as
/// done, as in Kafka. Stops with Err on INVALID_PRODUCER_EPOCH or
/// TRANSACTION_COORDINATOR_FENCED (a newer coordinator owns it), and with
/// Err("stopped") as soon as `keep_going()` returns false (this broker
/// stopped coordinating the transaction).
pub async fn write_markers(
    shard: &Rc<Shard>,
    request: MarkerRequest,
    keep_going: impl Fn() -> bool,
) -> Result<(), String> {
    let stopped = || Err("stopped".to_string());
    let mut pending = distinct(&request.partitions);
    let started = now_ms();
    let mut warned = false;
    let mut attempt = 0u32;
    loop {
        if !keep_going() {
            return stopped();
        }
        let routes = route(&pending, shard.node_id(), |t, p| {
            shard.partition_state(t, p).map(|s| s.leader)
        });
        for (topic, partition) in &routes.gone {
            tracing::debug!(
                topic,
                partition,
                producer_id = request.producer_id,
                "partition gone (topic deleted): its marker is not needed"
            );
        }
        let Some(answers) = until_stopped(round(shard, &request, routes), &keep_going).await else {
            return stopped();
        };
        let mut retry = Vec::new();
        let mut why = Vec::new();
        for (tp, answer) in answers {
            let code = match answer {
                Ok(code) => code,
                Err(e) => {
                    why.push(format!("{}-{}: {e}", tp.0, tp.1));
                    retry.push(tp);
                    continue;
                }
            };
            let exists = shard.partition_state(&tp.0, tp.1).is_some();
            match classify(code, exists) {
                Outcome::Done => {}
                Outcome::Fenced => {
                    return Err(format!(
                        "{}-{}: {} (producer {} epoch {}, coordinator epoch {})",
                        tp.0,
                        tp.1,
                        error_name(code),
                        request.producer_id,
                        request.producer_epoch,
                        request.coordinator_epoch
                    ))
                }
                Outcome::Retry => {
                    why.push(format!("{}-{}: {}", tp.0, tp.1, error_name(code)));
                    retry.push(tp);
                }
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        pending = retry;
        let why = why.join(", ");
        tracing::debug!(
            producer_id = request.producer_id,
            attempt,
            "transaction markers to retry: {why}"
        );
        if !warned && now_ms() - started >= WARN_AFTER_MS {
            warned = true;
            tracing::warn!(
                producer_id = request.producer_id,
                "transaction markers still not written after {} s, retrying: {why}",
                WARN_AFTER_MS / 1000
            );
        }
        let pause = glommio::timer::sleep(backoff(attempt));
        if until_stopped(pause, &keep_going).await.is_none() {
            return stopped();
        }
        attempt = attempt.saturating_add(1);
    }
}

fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?}"),
        None if code == 0 => "none".into(),
        None => format!("error code {code}"),
    }
}

/// Runs `f`, giving up (None) once `keep_going()` is false.
async fn until_stopped<T>(f: impl Future<Output = T>, keep_going: &impl Fn() -> bool) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        loop {
            glommio::timer::sleep(STOP_POLL).await;
            if !keep_going() {
                return None;
            }
        }
    })
    .await
}

/// One attempt at every routed partition, leaders in parallel.
async fn round(shard: &Rc<Shard>, request: &MarkerRequest, routes: Routes) -> Vec<Answer> {
    let mut answers: Vec<Answer> = routes
        .no_leader
        .into_iter()
        .map(|tp| (tp, Err("no leader".to_string())))
        .collect();
    let mut writes: Vec<Pin<Box<dyn Future<Output = Vec<Answer>> + '_>>> = Vec::new();
    if !routes.local.is_empty() {
        writes.push(Box::pin(write_local(shard, request, routes.local)));
    }
    for (leader, partitions) in routes.remote {
        writes.push(Box::pin(write_remote(shard, request, leader, partitions)));
    }
    answers.extend(join_all(writes).await.into_iter().flatten());
    answers
}

/// The partitions this broker leads, as an acks=all produce.
async fn write_local(
    shard: &Rc<Shard>,
    request: &MarkerRequest,
    partitions: Vec<Tp>,
) -> Vec<Answer> {
    let spec = MarkerSpec {
        producer_id: request.producer_id,
        producer_epoch: request.producer_epoch,
        marker: if request.commit {
            Marker::Commit
        } else {
            Marker::Abort
        },
        coordinator_epoch: request.coordinator_epoch,
    };
    let mut answers = Vec::new();
    let mut parts = Vec::new();
    let mut sent = Vec::new();
    for tp in partitions {
        match shard.check_leader(&tp.0, tp.1) {
            Err(not_here) => answers.push((tp, Ok(not_here.error_code))),
            Ok(leader_epoch) => {
                parts.push(ProducePart {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    records: Default::default(),
                    leader_epoch,
                    marker: Some(spec),
                });
                sent.push(tp);
            }
        }
    }
    if !parts.is_empty() {
        // router::produce answers every part, in order.
        let results = router::produce(shard, -1, MARKER_TIMEOUT_MS, parts)
            .await
            .await;
        answers.extend(
            sent.into_iter()
                .zip(results)
                .map(|(tp, r)| (tp, Ok(r.error_code))),
        );
    }
    answers
}

/// One leader's partitions in one WriteTxnMarkers.
async fn write_remote(
    shard: &Rc<Shard>,
    request: &MarkerRequest,
    leader: i32,
    partitions: Vec<Tp>,
) -> Vec<Answer> {
    let body = marker_request(request, &partitions);
    match call_leader(shard, leader, &body).await {
        Ok(response) => {
            let codes = answered_codes(&response, request.producer_id, &partitions);
            partitions
                .into_iter()
                .zip(codes)
                .map(|(tp, code)| (tp, code.ok_or_else(|| "not in the answer".to_string())))
                .collect()
        }
        Err(e) => {
            let e = format!("leader {leader}: {e}");
            partitions
                .into_iter()
                .map(|tp| (tp, Err(e.clone())))
                .collect()
        }
    }
}

/// Sends `body` to broker `leader` (see `broker_connection::call_broker`).
async fn call_leader(
    shard: &Rc<Shard>,
    leader: i32,
    body: &WriteTxnMarkersRequest,
) -> Result<WriteTxnMarkersResponse, String> {
    let deadline = Duration::from_millis(MARKER_TIMEOUT_MS as u64) + NETWORK_MARGIN;
    let api = (ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION);
    super::broker_connection::call_broker(shard, leader, api, body, deadline, CLIENT_ID).await
}

#[cfg(test)]
#[path = "txn_markers_tests.rs"]
mod tests;
