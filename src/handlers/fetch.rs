//! Fetch: read each partition from its owner, long-polling up to max_wait_ms
//! until min_bytes are available (woken by appends, never by polling), and
//! trim to the response's max_bytes while always returning the first batch
//! found, as Kafka does (KIP-74).
//!
//! A partition this broker does not lead gets the error `check_leader`
//! gives and, from v16 on as in Kafka, KIP-951's current leader and the
//! leaders' endpoints, so the consumer moves without asking for metadata.

use std::rc::Rc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{FetchRequest, TopicName};
use uuid::Uuid;

use super::authorize::{self, TopicRef};
use crate::net::Frame;
use crate::protocol::fetch_frame::{self, CurrentLeader, NodeEndpoint, PartitionData, TopicData};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::cluster_view::{leader_epoch_matches, NotHere};
use crate::shard::messages::{FetchPart, FetchResult, ReadData, ReplicaFetch};
use crate::shard::{router, Shard};

/// One partition of the request: an error decided here, or the n-th read.
enum Slot {
    Failed(i16),
    /// Another broker leads the partition (or none does).
    NotHere(NotHere),
    Read(usize),
}

struct TopicSlots {
    name: TopicName,
    id: Uuid,
    partitions: Vec<(i32, Slot)>,
}

/// What a Fetch answers: the records as the logs returned them (cache
/// buffers or file slices, never copied) and the leaders' endpoints.
#[derive(Default)]
pub struct FetchReply {
    topics: Vec<TopicData>,
    endpoints: Vec<NodeEndpoint>,
}

impl FetchReply {
    /// The response frame, with `throttle_ms` (a client quota's).
    pub fn encode(self, version: i16, correlation_id: i32, throttle_ms: i32) -> Frame {
        let topics = self.topics;
        fetch_frame::encode_throttled(
            version,
            correlation_id,
            topics,
            &self.endpoints,
            throttle_ms,
        )
    }
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: FetchRequest,
) -> FetchReply {
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let max_bytes = if request.max_bytes <= 0 {
        i32::MAX
    } else {
        request.max_bytes
    } as usize;
    let min_bytes = request.min_bytes.max(0) as usize;
    let replica_id = replica_id(&request, version);
    // A follower needs CLUSTER_ACTION (without it every partition is
    // denied, as in Kafka); a consumer READ on each topic, checked once per
    // topic of the request.
    let follower = replica_id.is_some();
    let read_committed = !follower && request.isolation_level == 1;
    let follower_denied =
        follower && !authorize::cluster(shard, session, operation::CLUSTER_ACTION);
    let read = |name: &str| follower || authorize::topic(shard, session, operation::READ, name);
    let mut parts = Vec::new();
    let mut slots = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let named = match version >= 13 {
            true => TopicRef::Id(topic.topic_id),
            false => TopicRef::Name(topic.topic.0.as_str()),
        };
        let meta = match follower_denied {
            true => Err(ResponseError::TopicAuthorizationFailed.code()),
            false => authorize::topic_meta(shard, named, &read, None).await,
        };
        let mut out = TopicSlots {
            name: topic.topic.clone(),
            id: topic.topic_id,
            partitions: Vec::with_capacity(topic.partitions.len()),
        };
        for p in topic.partitions {
            let slot = match &meta {
                Err(code) => Slot::Failed(*code),
                Ok(m) if p.partition < 0 || p.partition >= m.partitions => {
                    Slot::Failed(ResponseError::UnknownTopicOrPartition.code())
                }
                Ok(m) => match shard.check_leader(&m.name, p.partition) {
                    Err(not_here) => Slot::NotHere(not_here),
                    Ok(epoch) => match leader_epoch_matches(epoch, p.current_leader_epoch) {
                        Err(code) => Slot::Failed(code),
                        Ok(()) => {
                            parts.push(FetchPart {
                                topic: m.name.clone(),
                                partition: p.partition,
                                offset: p.fetch_offset,
                                max_bytes: (p.partition_max_bytes.max(0) as usize).min(max_bytes),
                                replica: replica_id.map(|(replica_id, broker_epoch)| {
                                    ReplicaFetch {
                                        replica_id,
                                        broker_epoch,
                                        last_fetched_epoch: if version >= 12 {
                                            p.last_fetched_epoch
                                        } else {
                                            -1
                                        },
                                    }
                                }),
                                read_committed,
                            });
                            Slot::Read(parts.len() - 1)
                        }
                    },
                },
            };
            out.partitions.push((p.partition, slot));
        }
        slots.push(out);
    }

    // A partition in error answers at once, as in Kafka: no long poll.
    let errors = slots
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|(_, slot)| !matches!(slot, Slot::Read(_)));
    let deadline = if errors { Instant::now() } else { deadline };
    let results = read_until_ready(shard, parts, min_bytes, max_bytes, deadline).await;
    let mut results: Vec<Option<FetchResult>> = results.into_iter().map(Some).collect();
    let endpoints = leader_endpoints(shard, &slots, version, &session.listener);
    let topics = slots
        .into_iter()
        .map(|t| respond_topic(t, &mut results, version))
        .collect();
    FetchReply { topics, endpoints }
}

/// The fetching follower's (broker id, broker epoch), or None for a
/// consumer: ReplicaState from v15 on (KIP-903), the replica id before.
pub fn replica_id(request: &FetchRequest, version: i16) -> Option<(i32, i64)> {
    let (id, epoch) = if version >= 15 {
        (
            request.replica_state.replica_id.0,
            request.replica_state.replica_epoch,
        )
    } else {
        (request.replica_id.0, -1)
    };
    (id >= 0).then_some((id, epoch))
}

/// Kafka names the current leader in Fetch from v16 on (KIP-951), when
/// there is one; the fields exist from v12 but Kafka leaves them unset.
fn current_leader(not_here: &NotHere, version: i16) -> Option<CurrentLeader> {
    (version >= 16 && not_here.leader >= 0).then_some(CurrentLeader {
        leader_id: not_here.leader,
        leader_epoch: not_here.leader_epoch,
    })
}

/// The endpoints of the leaders the partitions name (v16+).
fn leader_endpoints(
    shard: &Shard,
    topics: &[TopicSlots],
    version: i16,
    listener: &str,
) -> Vec<NodeEndpoint> {
    let leaders = topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|(_, slot)| match slot {
            Slot::NotHere(n) => current_leader(n, version).map(|l| l.leader_id),
            _ => None,
        });
    shard
        .leader_endpoints(leaders, listener)
        .into_iter()
        .map(|b| NodeEndpoint {
            node_id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
        })
        .collect()
}

/// Reads, and while fewer than `min_bytes` came back and time remains, waits
/// for new data on any of the partitions and reads again.
async fn read_until_ready(
    shard: &Rc<Shard>,
    parts: Vec<FetchPart>,
    min_bytes: usize,
    max_bytes: usize,
    deadline: Instant,
) -> Vec<FetchResult> {
    loop {
        let mut results = router::fetch(shard, parts.clone()).await;
        let total = trim_to_max_bytes(&mut results, max_bytes);
        let failed = results.iter().any(|r| r.error_code != 0);
        let now = Instant::now();
        if parts.is_empty() || total >= min_bytes.max(1) || failed || now >= deadline {
            return results;
        }
        // Wait for data past what is there now, not past the fetch offset:
        // otherwise a partition holding less than min_bytes would wake us at
        // once, forever.
        let waits = parts
            .iter()
            .zip(&results)
            .map(|(part, result)| FetchPart {
                offset: part.offset.max(result.readable_end),
                ..part.clone()
            })
            .collect();
        router::wait_for_data(shard, waits, deadline - now).await;
    }
}

/// Drops record sets that would take the response past `max_bytes`, except
/// the first non-empty one. Returns the bytes kept.
fn trim_to_max_bytes(results: &mut [FetchResult], max_bytes: usize) -> usize {
    let mut total = 0usize;
    for result in results.iter_mut() {
        let len = result.records.len();
        if len == 0 {
            continue;
        }
        if total == 0 || total + len <= max_bytes {
            total += len;
        } else {
            result.records = ReadData::empty();
        }
    }
    total
}

fn respond_topic(
    topic: TopicSlots,
    results: &mut [Option<FetchResult>],
    version: i16,
) -> TopicData {
    // log_start_offset exists from v5 on.
    let start = |o: i64| if version >= 5 { o } else { -1 };
    let partitions = topic
        .partitions
        .into_iter()
        .map(|(index, slot)| {
            let failed = |code: i16| PartitionData {
                index,
                diverging_epoch: None,
                error_code: code,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: ReadData::empty(),
                aborted: Vec::new(),
                current_leader: None,
            };
            match slot {
                Slot::Failed(code) => failed(code),
                Slot::NotHere(not_here) => PartitionData {
                    current_leader: current_leader(&not_here, version),
                    ..failed(not_here.error_code)
                },
                Slot::Read(i) => match results.get_mut(i).and_then(Option::take) {
                    Some(r) => PartitionData {
                        index,
                        error_code: r.error_code,
                        high_watermark: r.high_watermark,
                        last_stable_offset: r.last_stable_offset,
                        log_start_offset: start(r.log_start_offset),
                        records: r.records,
                        aborted: r.aborted,
                        diverging_epoch: r.diverging_epoch,
                        current_leader: None,
                    },
                    None => failed(ResponseError::UnknownServerError.code()),
                },
            }
        })
        .collect();
    let (name, id) = if version >= 13 {
        (TopicName::default(), topic.id)
    } else {
        (topic.name, Uuid::nil())
    };
    TopicData {
        name,
        id,
        partitions,
    }
}
