//! Followers copying their leaders: one fetch session per (shard, leader
//! broker), each a task on this shard that asks the leader for all the
//! session's partitions in one Fetch at a time, applies the answer to the
//! local logs, waits until it is durable, and asks again — so the offset it
//! sends is always what this node holds on disk.
//!
//! Fetches are Kafka's (v16: ReplicaState with this broker's id and epoch,
//! topic ids, LastFetchedEpoch), to the leader's inter-broker listener
//! (over TLS and with a SASL login when that listener's protocol asks,
//! see `broker_connection`), so the leader serves them on the same path as
//! consumers. Record bytes go to the log exactly as they arrived.
//!
//! Must not: hold a borrow of the session or the replication state across
//! an await, or report (fetch from) an offset that is not durable.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse};

use super::broker_connection::{warn_limited, BrokerConnection};
use super::Shard;
use crate::cluster::notify::Notify;
use crate::cluster::transport::within;
use crate::replication::follower::{FetchPlan, FetchSession, LocalLog, Reply, Step};
use crate::storage::PartitionLog;
use crate::util::now_ms;

/// The Fetch version followers send (ReplicaState is v15+, topic ids v13+).
const FETCH_VERSION: i16 = 16;

/// The client id of replica fetches.
const CLIENT_ID: &str = "fjord-replica";

/// A fetch session with one leader broker and the task running it.
pub struct Session {
    pub leader: i32,
    pub fetch: RefCell<FetchSession>,
    wake: Notify,
    stopped: Cell<bool>,
}

impl Session {
    fn stop(&self) {
        self.stopped.set(true);
        self.wake.notify();
    }
}

/// Moves each followed partition into the session of its leader (`follows`:
/// partition → (leader, topic id, leader epoch)); sessions left empty stop,
/// new ones start.
pub fn retarget(shard: &Rc<Shard>, follows: HashMap<(String, i32), (i32, uuid::Uuid, i32)>) {
    let mut rep = shard.replication.borrow_mut();
    for (leader, session) in &rep.sessions {
        let mut fetch = session.fetch.borrow_mut();
        let gone: Vec<(String, i32)> = fetch
            .followed()
            .map(|f| (f.topic.clone(), f.partition))
            .filter(|k| follows.get(k).map(|f| f.0) != Some(*leader))
            .collect();
        for (topic, partition) in gone {
            fetch.unfollow(&topic, partition);
        }
    }
    for ((topic, partition), (leader, topic_id, epoch)) in follows {
        let session = rep.sessions.entry(leader).or_insert_with(|| {
            let session = Rc::new(Session {
                leader,
                fetch: RefCell::new(FetchSession::new(shard.config.replication.fetch_backoff_ms)),
                wake: Notify::default(),
                stopped: Cell::new(false),
            });
            glommio::spawn_local(run(shard.clone(), session.clone())).detach();
            session
        });
        session
            .fetch
            .borrow_mut()
            .follow(&topic, topic_id, partition, epoch);
        session.wake.notify();
    }
    rep.sessions.retain(|_, s| {
        let keep = !s.fetch.borrow().is_empty();
        if !keep {
            s.stop();
        }
        keep
    });
}

fn local_log(shard: &Shard, topic: &str, partition: i32) -> Option<LocalLog> {
    let log = shard.log(topic, partition)?;
    Some(LocalLog {
        log_start: log.log_start_offset(),
        log_end: log.log_end_offset(),
        latest_epoch: log.latest_epoch(),
    })
}

async fn run(shard: Rc<Shard>, session: Rc<Session>) {
    let mut conn: Option<BrokerConnection> = None;
    while !session.stopped.get() && !shard.stopping.get() {
        let now = now_ms();
        let plans = session
            .fetch
            .borrow()
            .plan(now, |t, p| local_log(&shard, t, p));
        if plans.is_empty() {
            let retry = session.fetch.borrow().next_retry_ms();
            let wait = retry.map_or(1000, |at| (at - now).clamp(10, 1000));
            within(Duration::from_millis(wait as u64), session.wake.wait()).await;
            continue;
        }
        if let Err(e) = fetch_once(&shard, &session, &mut conn, plans).await {
            tracing::debug!(leader = session.leader, "replica fetch: {e}");
            if conn.take().is_some() {
                // A connection that worked failed: reconnect at once, so a
                // leader that died is known (refused) without delay.
                continue;
            }
            let pause = Duration::from_millis(
                shard.config.replication.fetch_backoff_ms.clamp(10, 1000) as u64,
            );
            within(pause, session.wake.wait()).await;
        }
    }
}

/// One Fetch to the leader and its answer applied.
async fn fetch_once(
    shard: &Rc<Shard>,
    session: &Session,
    conn: &mut Option<BrokerConnection>,
    plans: Vec<FetchPlan>,
) -> Result<(), String> {
    if conn.is_none() {
        let leader = shard
            .broker(session.leader)
            .ok_or_else(|| format!("leader {} not registered", session.leader))?;
        *conn = Some(BrokerConnection::open(shard, &leader.host, leader.port, CLIENT_ID).await?);
    }
    if conn.as_ref().is_some_and(|c| c.expired()) {
        // Log in again before the leader closes the session (KIP-368).
        *conn = None;
        return Err("session lifetime reached; reconnecting".into());
    }
    let request = fetch_request(shard, &plans);
    let cfg = &shard.config.replication;
    let deadline =
        Duration::from_millis(cfg.socket_timeout_ms + cfg.fetch_wait_max_ms.max(0) as u64);
    let response: FetchResponse = conn
        .as_mut()
        .expect("connected above")
        .call_within(ApiKey::Fetch, FETCH_VERSION, &request, deadline)
        .await?;
    if response.error_code == ResponseError::ClusterAuthorizationFailed.code() {
        // Like a failed login, this will not fix itself.
        let e = format!(
            "leader {} refused this broker's fetch (CLUSTER_AUTHORIZATION_FAILED): this \
             broker's principal needs CLUSTER_ACTION on the cluster, or to be in super.users",
            session.leader
        );
        warn_limited(
            shard,
            &format!("fetch@{}", session.leader),
            "replica fetch",
            &e,
        );
    }
    if response.error_code != 0 {
        return Err(format!("fetch error code {}", response.error_code));
    }
    let mut answers = HashMap::new();
    for topic in response.responses {
        for p in topic.partitions {
            answers.insert((topic.topic_id, p.partition_index), p);
        }
    }
    let mut durable = Vec::new();
    for plan in &plans {
        let Some(answer) = answers.remove(&(plan.topic_id, plan.partition)) else {
            continue;
        };
        let Some(log) = shard.log(&plan.topic, plan.partition) else {
            continue;
        };
        let reply = Reply {
            error_code: answer.error_code,
            high_watermark: answer.high_watermark,
            log_start_offset: answer.log_start_offset,
            diverging: (answer.diverging_epoch.epoch >= 0
                || answer.diverging_epoch.end_offset >= 0)
                .then_some((
                    answer.diverging_epoch.epoch,
                    answer.diverging_epoch.end_offset,
                )),
        };
        let step = session
            .fetch
            .borrow_mut()
            .on_reply(plan, &reply, now_ms(), |e| log.end_offset_for_epoch(e));
        if let Some(wait) = apply(shard, session, plan, &log, step, answer.records).await {
            durable.push(wait);
        }
    }
    for (log, wait, hw) in durable {
        match wait.await {
            Ok(()) => log.set_high_watermark(Some(hw.min(log.log_end_offset()))),
            Err(e) => tracing::error!("replica append not made durable: {e}"),
        }
    }
    Ok(())
}

type DurableWait = (
    PartitionLog,
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::storage::StorageError>>>>,
    i64,
);

/// Carries out one partition's step; an append returns what to wait for.
async fn apply(
    shard: &Rc<Shard>,
    session: &Session,
    plan: &FetchPlan,
    log: &PartitionLog,
    step: Step,
    records: Option<Bytes>,
) -> Option<DurableWait> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(
            topic = plan.topic,
            partition = plan.partition,
            "{what}: {e}"
        );
        session
            .fetch
            .borrow_mut()
            .back_off(&plan.topic, plan.partition, now_ms());
    };
    match step {
        Step::Append { high_watermark } => {
            let records = whole_batches(records.unwrap_or_default());
            if records.is_empty() {
                log.set_high_watermark(Some(high_watermark.min(log.log_end_offset())));
                return None;
            }
            match log.append_replica(&records, now_ms()) {
                Ok(appended) => {
                    shard.metrics.replication.fetched(records.len());
                    return Some((log.clone(), appended.durable, high_watermark));
                }
                Err(e) => failed("replica append", &e),
            }
        }
        Step::Truncate { offset } => {
            tracing::info!(
                topic = plan.topic,
                partition = plan.partition,
                offset,
                "truncating to the leader's log"
            );
            if let Err(e) = log.truncate_to(offset).await {
                failed("truncate", &e);
            }
        }
        Step::Restart { start } => {
            tracing::info!(
                topic = plan.topic,
                partition = plan.partition,
                start,
                "restarting below the leader's log start"
            );
            if let Err(e) = log.truncate_fully(start).await {
                failed("restart log", &e);
            }
        }
        Step::Backoff => {}
    }
    None
}

/// The complete batches at the front of `records` (a leader may end a
/// response inside a batch, as Kafka's do).
fn whole_batches(records: Bytes) -> Bytes {
    let mut end = 0usize;
    while records.len() >= end + 12 {
        let len = i32::from_be_bytes(records[end + 8..end + 12].try_into().expect("4 bytes"));
        let total = 12usize.saturating_add(len.max(0) as usize);
        if len <= 0 || records.len() < end + total {
            break;
        }
        end += total;
    }
    records.slice(..end)
}

fn fetch_request(shard: &Shard, plans: &[FetchPlan]) -> FetchRequest {
    let me = shard.node_id();
    let broker_epoch = shard.broker_epoch();
    let cfg = &shard.config.replication;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for plan in plans {
        let partition = FetchPartition::default()
            .with_partition(plan.partition)
            .with_current_leader_epoch(plan.current_leader_epoch)
            .with_fetch_offset(plan.fetch_offset)
            .with_last_fetched_epoch(plan.last_fetched_epoch)
            .with_log_start_offset(plan.log_start_offset)
            .with_partition_max_bytes(cfg.fetch_max_bytes);
        match topics.iter_mut().find(|t| t.topic_id == plan.topic_id) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic_id(plan.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(me))
                .with_replica_epoch(broker_epoch),
        )
        .with_max_wait_ms(cfg.fetch_wait_max_ms)
        .with_min_bytes(1)
        .with_max_bytes(cfg.fetch_response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}
