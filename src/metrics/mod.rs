//! Prometheus metrics: what each shard counts and the `--metrics-addr`
//! endpoint that serves them as Prometheus text.
//!
//! Thread-per-core: each shard records into the `prometheus` crate's *local*
//! (unsynchronized) counters and histograms, and a once-a-second task per
//! shard flushes them into the shared registry. The produce/fetch path
//! therefore touches no atomics; the shared metrics see one flush per second
//! per shard. Every series carries a `shard` label. Storage samples each
//! fdatasync and group commit into the shard's [`IoHistograms`] (through
//! `storage::IoObserver`); the cache gauges are set from the shard's
//! budget at each flush. Replication's counters and gauges are in
//! `replication` (set from the shard's replication state at the flush);
//! the process's descriptor gauges are in `process` (read at each render).
//!
//! Must not: be read by the request path, or block a shard while rendering
//! (the endpoint renders on shard 0 from the shared registry).

pub mod cluster;
pub mod process;
pub mod quota;
pub mod replication;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::storage::{BudgetSnapshot, IoObserver, StatsSnapshot};
use kafka_protocol::messages::ApiKey;
use prometheus::local::{LocalHistogram, LocalIntCounter};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Highest API key fjord counts separately (all of Kafka's fit).
const MAX_API_KEY: usize = 100;

/// The shared registry with every metric family.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    produce_latency: HistogramVec,
    fetch_latency: HistogramVec,
    connections: IntGaugeVec,
    cross_shard: IntCounterVec,
    storage: [IntCounterVec; 5],
    fsync_latency: HistogramVec,
    commit_bytes: HistogramVec,
    cache_used: IntGaugeVec,
    cache_limit: IntGaugeVec,
    cache_evictions: IntCounterVec,
    partitions: IntGaugeVec,
    replication: replication::ReplicationFamilies,
    quota: quota::QuotaFamilies,
    /// Set by the controller shard from its cluster node.
    pub cluster: cluster::ClusterGauges,
    process: process::ProcessGauges,
}

/// Storage counters, in `StatsSnapshot` field order.
const STORAGE: [(&str, &str); 5] = [
    ("fjord_fsyncs_total", "fdatasync calls on partition logs"),
    (
        "fjord_fsync_microseconds_total",
        "Time spent in fdatasync (divide by fsyncs for the mean)",
    ),
    (
        "fjord_log_written_bytes_total",
        "Bytes written to partition logs (divide by fsyncs for the mean sync batch)",
    ),
    (
        "fjord_cache_hits_total",
        "Fetch reads served by the hot-tail batch cache",
    ),
    (
        "fjord_cache_misses_total",
        "Fetch reads that went to the segment files",
    ),
];

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn latency(registry: &Registry, name: &str, help: &str) -> HistogramVec {
    // 50 µs .. ~1.6 s, doubling.
    let buckets = prometheus::exponential_buckets(0.000_05, 2.0, 16).expect("buckets");
    histogram(registry, name, help, buckets)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), &["shard"]).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["shard"])
        .expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let connections = IntGaugeVec::new(
            Opts::new("fjord_connections", "Open client connections"),
            &["shard"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(connections.clone()))
            .expect("unique metric");
        Arc::new(Metrics {
            requests: counter(
                &registry,
                "fjord_requests_total",
                "Requests received, by API",
                &["shard", "api"],
            ),
            errors: counter(
                &registry,
                "fjord_request_errors_total",
                "Requests that could not be answered (connection closed), by API",
                &["shard", "api"],
            ),
            bytes_in: counter(
                &registry,
                "fjord_produce_bytes_total",
                "Bytes of Produce requests",
                &["shard"],
            ),
            bytes_out: counter(
                &registry,
                "fjord_fetch_bytes_total",
                "Bytes of Fetch responses",
                &["shard"],
            ),
            produce_latency: latency(
                &registry,
                "fjord_produce_latency_seconds",
                "Produce request to response",
            ),
            fetch_latency: latency(
                &registry,
                "fjord_fetch_latency_seconds",
                "Fetch request to response",
            ),
            cross_shard: counter(
                &registry,
                "fjord_cross_shard_messages_total",
                "Requests sent to other shards",
                &["shard"],
            ),
            storage: STORAGE.map(|(name, help)| counter(&registry, name, help, &["shard"])),
            fsync_latency: latency(
                &registry,
                "fjord_fsync_latency_seconds",
                "fdatasync of a partition segment",
            ),
            commit_bytes: histogram(
                &registry,
                "fjord_sync_batch_bytes",
                "Bytes written by one group commit (covered by one fdatasync unless flush intervals are set)",
                // 512 B .. 8 MiB, doubling (a round writes at most 4 MiB).
                prometheus::exponential_buckets(512.0, 2.0, 15).expect("buckets"),
            ),
            cache_used: gauge(
                &registry,
                "fjord_cache_bytes",
                "Bytes held by the shard's hot-tail batch cache",
            ),
            cache_limit: gauge(
                &registry,
                "fjord_cache_budget_bytes",
                "The shard's hot-tail cache budget (fjord.batch.cache.bytes)",
            ),
            cache_evictions: counter(
                &registry,
                "fjord_cache_evictions_total",
                "Batches dropped from the hot-tail cache to stay within its budget",
                &["shard"],
            ),
            partitions: gauge(
                &registry,
                "fjord_partitions",
                "Partition logs the shard holds open (those it leads and those it follows)",
            ),
            connections,
            replication: replication::ReplicationFamilies::new(&registry),
            quota: quota::QuotaFamilies::new(&registry),
            cluster: cluster::ClusterGauges::new(&registry),
            process: process::ProcessGauges::new(&registry),
            registry,
        })
    }

    /// The Prometheus text exposition of everything flushed so far.
    pub fn render(&self) -> String {
        self.process.refresh();
        let mut out = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::warn!("rendering metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// The recorder of one shard.
    pub fn shard(&self, shard: usize) -> ShardMetrics {
        let label = shard.to_string();
        let per_api = |vec: &IntCounterVec| {
            (0..=MAX_API_KEY)
                .map(|k| {
                    let name = ApiKey::try_from(k as i16)
                        .map_or_else(|_| format!("key{k}"), |a| format!("{a:?}"));
                    vec.with_label_values(&[label.as_str(), name.as_str()])
                        .local()
                })
                .collect()
        };
        ShardMetrics {
            requests: per_api(&self.requests),
            errors: per_api(&self.errors),
            bytes_in: self.bytes_in.with_label_values(&[label.as_str()]).local(),
            bytes_out: self.bytes_out.with_label_values(&[label.as_str()]).local(),
            produce_latency: self
                .produce_latency
                .with_label_values(&[label.as_str()])
                .local(),
            fetch_latency: self
                .fetch_latency
                .with_label_values(&[label.as_str()])
                .local(),
            connections: self.connections.with_label_values(&[label.as_str()]),
            cross_shard: self
                .cross_shard
                .with_label_values(&[label.as_str()])
                .local(),
            cross_shard_seen: Cell::new(0),
            storage: self
                .storage
                .clone()
                .map(|c| c.with_label_values(&[label.as_str()]).local()),
            storage_seen: Cell::new(StatsSnapshot::default()),
            io: Rc::new(IoHistograms {
                fsync: self
                    .fsync_latency
                    .with_label_values(&[label.as_str()])
                    .local(),
                commit: self
                    .commit_bytes
                    .with_label_values(&[label.as_str()])
                    .local(),
            }),
            cache_used: self.cache_used.with_label_values(&[label.as_str()]),
            cache_limit: self.cache_limit.with_label_values(&[label.as_str()]),
            cache_evictions: self
                .cache_evictions
                .with_label_values(&[label.as_str()])
                .local(),
            evictions_seen: Cell::new(0),
            partitions: self.partitions.with_label_values(&[label.as_str()]),
            replication: self.replication.shard(&label),
            quota: self.quota.shard(&label),
        }
    }
}

/// A shard's storage I/O distributions, recorded by its logs as samples
/// happen (unsynchronized; published at the shard's flush).
pub struct IoHistograms {
    fsync: LocalHistogram,
    commit: LocalHistogram,
}

impl IoObserver for IoHistograms {
    fn fsynced(&self, took: Duration) {
        self.fsync.observe(took.as_secs_f64());
    }

    fn committed(&self, bytes: u64) {
        self.commit.observe(bytes as f64);
    }
}

/// One shard's unsynchronized recorders (see the module doc).
pub struct ShardMetrics {
    requests: Vec<LocalIntCounter>,
    errors: Vec<LocalIntCounter>,
    bytes_in: LocalIntCounter,
    bytes_out: LocalIntCounter,
    produce_latency: LocalHistogram,
    fetch_latency: LocalHistogram,
    connections: IntGauge,
    cross_shard: LocalIntCounter,
    cross_shard_seen: Cell<u64>,
    storage: [LocalIntCounter; 5],
    storage_seen: Cell<StatsSnapshot>,
    io: Rc<IoHistograms>,
    cache_used: IntGauge,
    cache_limit: IntGauge,
    cache_evictions: LocalIntCounter,
    evictions_seen: Cell<u64>,
    partitions: IntGauge,
    /// Replication's recorders (published by the shard's flush task).
    pub replication: replication::ShardReplicationMetrics,
    /// Throttled responses and refused connections.
    pub quota: quota::ShardQuotaMetrics,
}

impl ShardMetrics {
    pub fn request(&self, api_key: i16) {
        if let Some(c) = self.requests.get(api_key as usize) {
            c.inc();
        }
    }

    pub fn error(&self, api_key: i16) {
        if let Some(c) = self.errors.get(api_key as usize) {
            c.inc();
        }
    }

    pub fn produced(&self, bytes: usize, took: Duration) {
        self.bytes_in.inc_by(bytes as u64);
        self.produce_latency.observe(took.as_secs_f64());
    }

    pub fn fetched(&self, bytes: usize, took: Duration) {
        self.bytes_out.inc_by(bytes as u64);
        self.fetch_latency.observe(took.as_secs_f64());
    }

    /// Where this shard's logs report fdatasyncs and group commits.
    pub fn io_observer(&self) -> Rc<dyn IoObserver> {
        self.io.clone()
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    /// Publishes how many partition logs the shard holds.
    pub fn set_partitions(&self, count: usize) {
        self.partitions.set(count as i64);
    }

    /// Publishes everything recorded since the last flush; `mesh_sent` is
    /// the shard's running count of cross-shard requests and `storage` the
    /// sum of its logs' counters (a deleted log makes a total shrink: that
    /// interval adds nothing); `cache` is the shard's cache budget.
    pub fn flush(&self, mesh_sent: u64, storage: StatsSnapshot, cache: BudgetSnapshot) {
        self.cross_shard
            .inc_by(mesh_sent.saturating_sub(self.cross_shard_seen.replace(mesh_sent)));
        let before = self.storage_seen.replace(storage);
        let now = [
            storage.fsyncs,
            storage.fsync_micros,
            storage.written_bytes,
            storage.cache_hits,
            storage.cache_misses,
        ];
        let was = [
            before.fsyncs,
            before.fsync_micros,
            before.written_bytes,
            before.cache_hits,
            before.cache_misses,
        ];
        for ((c, n), w) in self.storage.iter().zip(now).zip(was) {
            c.inc_by(n.saturating_sub(w));
            c.flush();
        }
        for c in self.requests.iter().chain(&self.errors) {
            c.flush();
        }
        self.bytes_in.flush();
        self.bytes_out.flush();
        self.produce_latency.flush();
        self.fetch_latency.flush();
        self.cross_shard.flush();
        self.quota.flush();
        self.flush_storage_io(cache);
    }

    fn flush_storage_io(&self, cache: BudgetSnapshot) {
        self.io.fsync.flush();
        self.io.commit.flush();
        self.cache_used.set(cache.used as i64);
        self.cache_limit.set(cache.limit as i64);
        let seen = self.evictions_seen.replace(cache.evictions);
        self.cache_evictions
            .inc_by(cache.evictions.saturating_sub(seen));
        self.cache_evictions.flush();
    }
}
