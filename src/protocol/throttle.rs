//! Client quotas on connections, as Kafka enforces them (KIP-219): each
//! request's bytes or time is recorded against the sensor its client's
//! quota names (`crate::quota`), the response goes out at once with
//! `throttle_time_ms`, and the connection's reader takes no further request
//! until that time has passed.
//!
//! Costs nothing without quotas: [`for_request`] checks one flag of the
//! shard and gives `None`, and everything else is skipped. With quotas, a
//! connection keeps its client's resolved limits until the quotas change
//! or the request names another client id.
//!
//! Exempt, as in Kafka: fetches from follower brokers (the caller does not
//! ask for a quota), and the SASL exchange (answered before dispatch).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kafka_protocol::messages as m;

use super::dispatch::Pending;
use crate::quota::sensor::SensorConfig;
use crate::quota::{resolve, ClientLimits, ClientQuotaState, QuotaKind, ShardQuotas};
use crate::security::session::Session;
use crate::shard::Shard;

/// A shard's quota state: its sensors, whether the image has any quota,
/// and a count of quota changes (connections' cached limits compare it).
pub struct ShardThrottle {
    sensors: RefCell<ShardQuotas>,
    enabled: Cell<bool>,
    generation: Cell<u64>,
    origin: Instant,
}

impl ShardThrottle {
    pub fn new(config: SensorConfig) -> ShardThrottle {
        ShardThrottle {
            sensors: RefCell::new(ShardQuotas::new(config)),
            enabled: Cell::new(false),
            generation: Cell::new(0),
            origin: Instant::now(),
        }
    }

    /// A new image was applied; `changed`: its quotas differ from before.
    pub fn update(&self, quotas: &ClientQuotaState, changed: bool) {
        if changed {
            self.generation.set(self.generation.get() + 1);
        }
        self.enabled.set(!quotas.is_empty());
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// One connection's throttle: when its reader may go on, and its client's
/// limits as last resolved.
#[derive(Default)]
pub struct ConnectionThrottle {
    muted_until: Cell<Option<Instant>>,
    cached: RefCell<Option<Cached>>,
}

struct Cached {
    generation: u64,
    /// A re-authenticated connection may be another user.
    user: String,
    client_id: String,
    limits: Rc<ClientLimits>,
}

impl ConnectionThrottle {
    /// How much longer the reader must wait before taking a request.
    pub fn muted_for(&self) -> Option<Duration> {
        let until = self.muted_until.get()?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() {
            self.muted_until.set(None);
        }
        left
    }

    fn mute(&self, throttle_ms: i32) {
        if throttle_ms <= 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(throttle_ms as u64);
        if self.muted_until.get().is_none_or(|u| u < until) {
            self.muted_until.set(Some(until));
        }
    }

    fn limits(&self, shard: &Shard, session: &Session, client_id: &str) -> Rc<ClientLimits> {
        let generation = shard.throttle.generation.get();
        if let Some(c) = &*self.cached.borrow() {
            if c.generation == generation && c.client_id == client_id && c.user == session.user() {
                return c.limits.clone();
            }
        }
        let image = shard.image.borrow();
        let limits = resolve::client_limits(&image.client_quotas, session.user(), client_id);
        let limits = Rc::new(limits);
        *self.cached.borrow_mut() = Some(Cached {
            generation,
            user: session.user().to_string(),
            client_id: client_id.to_string(),
            limits: limits.clone(),
        });
        limits
    }
}

/// The quotas one request counts against; only made when some apply.
pub struct RequestQuota {
    connection: Rc<ConnectionThrottle>,
    limits: Rc<ClientLimits>,
    /// Executor time spent on the request, when a request quota applies.
    clock: Option<Rc<PollClock>>,
}

/// The quotas of a request from `session` with `client_id` (the header's),
/// started at `started`; `None` when none applies.
pub fn for_request(
    shard: &Shard,
    connection: &Rc<ConnectionThrottle>,
    session: &Session,
    client_id: Option<&str>,
    started: Instant,
) -> Option<Rc<RequestQuota>> {
    if !shard.throttle.enabled.get() {
        return None;
    }
    let limits = connection.limits(shard, session, client_id.unwrap_or(""));
    if limits.is_empty() {
        return None;
    }
    let clock = limits.request.is_some().then(|| {
        Rc::new(PollClock {
            spent: Cell::new(Duration::ZERO),
            polling_since: Cell::new(None),
            started: Cell::new(Some(started)),
        })
    });
    Some(Rc::new(RequestQuota {
        connection: connection.clone(),
        limits,
        clock,
    }))
}

impl RequestQuota {
    /// Records `value` of `kind`; the throttle time, and the connection
    /// muted for it.
    fn record(&self, shard: &Shard, kind: QuotaKind, value: f64) -> i32 {
        let Some(limit) = self.limits.get(kind) else {
            return 0;
        };
        let now = shard.throttle.now_ms();
        let ms = shard
            .throttle
            .sensors
            .borrow_mut()
            .record(kind, limit, value, now);
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        if ms > 0 {
            shard.metrics.quota.throttled(kind, ms);
            self.connection.mute(ms);
        }
        ms
    }

    /// A Produce request of `bytes` (the whole frame, as Kafka counts it).
    pub fn produce(&self, shard: &Shard, bytes: usize) -> i32 {
        self.record(shard, QuotaKind::Produce, bytes as f64)
    }

    /// The most a Fetch response may hold under the fetch quota.
    pub fn fetch_cap(&self, shard: &Shard) -> Option<usize> {
        let limit = self.limits.fetch.as_ref()?;
        Some(shard.throttle.sensors.borrow().fetch_cap(limit))
    }

    /// A Fetch response of `bytes` is ready: the throttle time (request
    /// time included). Over a quota, Kafka answers empty and takes the
    /// bytes back, so the caller must drop the records.
    pub fn fetch(&self, shard: &Shard, bytes: usize) -> i32 {
        let request = self.request_time(shard);
        let fetch = self.record(shard, QuotaKind::Fetch, bytes as f64);
        let throttle = request.max(fetch);
        if throttle > 0 {
            if let Some(limit) = &self.limits.fetch {
                let now = shard.throttle.now_ms();
                let mut sensors = shard.throttle.sensors.borrow_mut();
                sensors.unrecord(QuotaKind::Fetch, limit, bytes as f64, now);
            }
        }
        throttle
    }

    /// Records the time spent on the request so far against the request
    /// quota, in Kafka's unit: percent of one core, over seconds.
    pub fn request_time(&self, shard: &Shard) -> i32 {
        let Some(clock) = &self.clock else {
            return 0;
        };
        let percent_seconds = clock.so_far().as_secs_f64() * 100.0;
        self.record(shard, QuotaKind::Request, percent_seconds)
    }
}

/// Sets the response's `throttle_time_ms` from the request quota, when a
/// quota applies (after the handler, so its time counts).
pub fn respond<R: ThrottleTime>(shard: &Shard, quota: Option<&RequestQuota>, response: &mut R) {
    if let Some(quota) = quota {
        let ms = quota.request_time(shard);
        if ms > 0 {
            response.set_throttle_time(ms);
        }
    }
}

/// Executor time spent polling a request's future: Kafka's request time
/// is handler-thread time, not time waiting (a long-polling Fetch).
struct PollClock {
    spent: Cell<Duration>,
    polling_since: Cell<Option<Instant>>,
    /// The request's start, until the first poll: decoding and starting it
    /// (Produce's appends) run in the reader before, and count too.
    started: Cell<Option<Instant>>,
}

impl PollClock {
    fn so_far(&self) -> Duration {
        let elapsed = |at: Option<Instant>| at.map_or(Duration::ZERO, |s| s.elapsed());
        self.spent.get() + elapsed(self.polling_since.get()) + elapsed(self.started.get())
    }
}

struct Timed {
    inner: Pending,
    clock: Rc<PollClock>,
}

impl Future for Timed {
    type Output = <Pending as Future>::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let start = Instant::now();
        if let Some(started) = self.clock.started.take() {
            let before = start.saturating_duration_since(started);
            self.clock.spent.set(self.clock.spent.get() + before);
        }
        self.clock.polling_since.set(Some(start));
        let result = self.inner.as_mut().poll(cx);
        self.clock.polling_since.set(None);
        self.clock
            .spent
            .set(self.clock.spent.get() + start.elapsed());
        result
    }
}

/// `pending`, timed when a request quota applies.
pub fn timed(quota: &Option<Rc<RequestQuota>>, pending: Pending) -> Pending {
    match quota.as_ref().and_then(|q| q.clock.clone()) {
        Some(clock) => Box::pin(Timed {
            inner: pending,
            clock,
        }),
        None => pending,
    }
}

/// Responses that carry `throttle_time_ms`.
pub trait ThrottleTime {
    fn set_throttle_time(&mut self, ms: i32);
}

macro_rules! throttle_time {
    ($($response:ty),* $(,)?) => {
        $(impl ThrottleTime for $response {
            fn set_throttle_time(&mut self, ms: i32) {
                self.throttle_time_ms = ms;
            }
        })*
    };
}

throttle_time!(
    m::ProduceResponse,
    m::ListOffsetsResponse,
    m::MetadataResponse,
    m::ApiVersionsResponse,
    m::CreateTopicsResponse,
    m::DeleteTopicsResponse,
    m::InitProducerIdResponse,
    m::DescribeConfigsResponse,
    m::FindCoordinatorResponse,
    m::JoinGroupResponse,
    m::SyncGroupResponse,
    m::HeartbeatResponse,
    m::LeaveGroupResponse,
    m::OffsetCommitResponse,
    m::OffsetFetchResponse,
    m::ListGroupsResponse,
    m::DescribeGroupsResponse,
    m::DeleteGroupsResponse,
    m::OffsetDeleteResponse,
    m::AlterConfigsResponse,
    m::IncrementalAlterConfigsResponse,
    m::CreatePartitionsResponse,
    m::DescribeLogDirsResponse,
    m::OffsetForLeaderEpochResponse,
    m::DeleteRecordsResponse,
    m::DescribeTopicPartitionsResponse,
    m::DescribeClusterResponse,
    m::CreateAclsResponse,
    m::DescribeAclsResponse,
    m::DeleteAclsResponse,
    m::DescribeUserScramCredentialsResponse,
    m::AlterUserScramCredentialsResponse,
    m::ElectLeadersResponse,
    m::AlterPartitionReassignmentsResponse,
    m::ListPartitionReassignmentsResponse,
    m::DescribeClientQuotasResponse,
    m::AlterClientQuotasResponse,
    m::AddPartitionsToTxnResponse,
    m::EndTxnResponse,
    m::DescribeTransactionsResponse,
    m::ListTransactionsResponse,
    m::DescribeProducersResponse,
    m::AddOffsetsToTxnResponse,
    m::TxnOffsetCommitResponse,
);

/// Responses without a throttle field (DescribeQuorum; WriteTxnMarkers,
/// which only brokers send); the connection is muted all the same.
macro_rules! no_throttle_time {
    ($($response:ty),* $(,)?) => {
        $(impl ThrottleTime for $response {
            fn set_throttle_time(&mut self, _ms: i32) {}
        })*
    };
}

no_throttle_time!(m::DescribeQuorumResponse, m::WriteTxnMarkersResponse);
