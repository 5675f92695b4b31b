//! Client-quota and connection-limit metrics: responses throttled and the
//! throttle time given, by quota (`produce`, `fetch`, `request`), and
//! connections refused at accept, by limit (`broker`, `ip`).
//!
//! Same discipline as the rest of `metrics`: the shard's counters are
//! local (no atomics on the request path) and published at its flush.

use prometheus::local::LocalIntCounter;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::quota::QuotaKind;

/// The shared families, registered once per process.
pub struct QuotaFamilies {
    throttled: IntCounterVec,
    throttle_ms: IntCounterVec,
    refused: IntCounterVec,
}

fn counters(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &["shard", label]).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

const REFUSALS: [&str; 2] = ["broker", "ip"];

impl QuotaFamilies {
    pub fn new(registry: &Registry) -> QuotaFamilies {
        QuotaFamilies {
            throttled: counters(
                registry,
                "fjord_throttled_responses_total",
                "Responses that carried a throttle time (the connection was muted for it), by quota",
                "quota",
            ),
            throttle_ms: counters(
                registry,
                "fjord_throttle_time_ms_total",
                "Throttle time given to clients, by quota",
                "quota",
            ),
            refused: counters(
                registry,
                "fjord_connections_refused_total",
                "Connections closed at accept by max.connections (broker) or max.connections.per.ip (ip)",
                "limit",
            ),
        }
    }

    pub fn shard(&self, shard: &str) -> ShardQuotaMetrics {
        let by_kind = |vec: &IntCounterVec| {
            QuotaKind::ALL.map(|k| vec.with_label_values(&[shard, k.name()]).local())
        };
        ShardQuotaMetrics {
            throttled: by_kind(&self.throttled),
            throttle_ms: by_kind(&self.throttle_ms),
            refused: REFUSALS.map(|r| self.refused.with_label_values(&[shard, r]).local()),
        }
    }
}

/// One shard's recorders.
pub struct ShardQuotaMetrics {
    throttled: [LocalIntCounter; 3],
    throttle_ms: [LocalIntCounter; 3],
    refused: [LocalIntCounter; 2],
}

fn index(kind: QuotaKind) -> usize {
    match kind {
        QuotaKind::Produce => 0,
        QuotaKind::Fetch => 1,
        QuotaKind::Request => 2,
    }
}

impl ShardQuotaMetrics {
    pub fn throttled(&self, kind: QuotaKind, ms: i32) {
        self.throttled[index(kind)].inc();
        self.throttle_ms[index(kind)].inc_by(ms.max(0) as u64);
    }

    /// A connection closed at accept: over `max.connections` (`broker`) or
    /// its address's limit.
    pub fn refused(&self, broker: bool) {
        self.refused[usize::from(!broker)].inc();
    }

    pub fn flush(&self) {
        for c in self
            .throttled
            .iter()
            .chain(&self.throttle_ms)
            .chain(&self.refused)
        {
            c.flush();
        }
    }
}
