//! Replication metrics of one broker, in Kafka's meanings: partitions led
//! here that are under-replicated (ISR smaller than the replica set) or
//! under min.insync.replicas, committed ISR shrinks and expansions of those
//! leaders, each follower's lag behind its leader (messages and time), and
//! the bytes leaders served to followers and followers appended.
//!
//! Same discipline as the rest of `metrics`: counters are local to the shard
//! (no atomics on the fetch paths) and published at the once-a-second
//! flush; the gauges are set at that flush from a [`ReplicationSnapshot`]
//! the shard computes from its replication state. Nothing here knows the
//! replication types.
//!
//! Must not: keep lag series of partitions no longer led here (their labels
//! are removed at the next flush, so cardinality stays bounded by the
//! partitions this broker leads).

use std::cell::RefCell;
use std::collections::HashSet;

use prometheus::local::LocalIntCounter;
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Labels of a lag series besides `shard`: topic, partition, replica.
type LagLabels = (String, String, String);

/// The shared families, registered once per process.
pub struct ReplicationFamilies {
    under_replicated: IntGaugeVec,
    under_min_isr: IntGaugeVec,
    isr_shrinks: IntCounterVec,
    isr_expands: IntCounterVec,
    lag_messages: IntGaugeVec,
    lag_ms: IntGaugeVec,
    served: IntCounterVec,
    fetched: IntCounterVec,
}

/// One follower of a partition led here, as its leader sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowerLag {
    pub topic: String,
    pub partition: i32,
    pub replica: i32,
    /// Leader's log end minus the follower's durable end.
    pub messages: i64,
    /// Now minus the last time the follower was caught up.
    pub ms: i64,
}

/// A shard's replication gauges at one flush.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicationSnapshot {
    pub under_replicated: usize,
    pub under_min_isr: usize,
    pub followers: Vec<FollowerLag>,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn counters(registry: &Registry, name: &str, help: &str) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), &["shard"]).expect("valid metric"),
    )
}

const LAG_LABELS: [&str; 4] = ["shard", "topic", "partition", "replica"];

impl ReplicationFamilies {
    pub(super) fn new(registry: &Registry) -> ReplicationFamilies {
        ReplicationFamilies {
            under_replicated: gauges(
                registry,
                "fjord_under_replicated_partitions",
                "Partitions led here whose ISR is smaller than their replica set",
                &["shard"],
            ),
            under_min_isr: gauges(
                registry,
                "fjord_under_min_isr_partitions",
                "Partitions led here whose ISR is smaller than the topic's min.insync.replicas",
                &["shard"],
            ),
            isr_shrinks: counters(
                registry,
                "fjord_isr_shrinks_total",
                "Committed ISR changes of partitions led here that removed a replica",
            ),
            isr_expands: counters(
                registry,
                "fjord_isr_expands_total",
                "Committed ISR changes of partitions led here that added a replica",
            ),
            lag_messages: gauges(
                registry,
                "fjord_follower_lag_messages",
                "Leader's log end minus the follower's durable end (partitions led here)",
                &LAG_LABELS,
            ),
            lag_ms: gauges(
                registry,
                "fjord_follower_lag_ms",
                "Milliseconds since the follower was last caught up (partitions led here)",
                &LAG_LABELS,
            ),
            served: counters(
                registry,
                "fjord_replica_fetch_bytes_total",
                "Record bytes this broker's leaders served to follower fetches",
            ),
            fetched: counters(
                registry,
                "fjord_replica_fetched_bytes_total",
                "Record bytes this broker's followers appended from their leaders",
            ),
        }
    }

    pub(super) fn shard(&self, label: &str) -> ShardReplicationMetrics {
        ShardReplicationMetrics {
            shard: label.to_string(),
            under_replicated: self.under_replicated.with_label_values(&[label]),
            under_min_isr: self.under_min_isr.with_label_values(&[label]),
            isr_shrinks: self.isr_shrinks.with_label_values(&[label]).local(),
            isr_expands: self.isr_expands.with_label_values(&[label]).local(),
            served: self.served.with_label_values(&[label]).local(),
            fetched: self.fetched.with_label_values(&[label]).local(),
            lag_messages: self.lag_messages.clone(),
            lag_ms: self.lag_ms.clone(),
            lag_series: RefCell::new(HashSet::new()),
        }
    }
}

/// One shard's replication recorders. See the module doc.
pub struct ShardReplicationMetrics {
    shard: String,
    under_replicated: IntGauge,
    under_min_isr: IntGauge,
    isr_shrinks: LocalIntCounter,
    isr_expands: LocalIntCounter,
    served: LocalIntCounter,
    fetched: LocalIntCounter,
    lag_messages: IntGaugeVec,
    lag_ms: IntGaugeVec,
    /// The lag series this shard set at its last flush.
    lag_series: RefCell<HashSet<LagLabels>>,
}

impl ShardReplicationMetrics {
    /// A leader here served `bytes` of records to a follower.
    pub fn served(&self, bytes: usize) {
        self.served.inc_by(bytes as u64);
    }

    /// A follower here appended `bytes` of records from its leader.
    pub fn fetched(&self, bytes: usize) {
        self.fetched.inc_by(bytes as u64);
    }

    /// A committed ISR change of a partition led here.
    pub fn isr_changed(&self, shrank: bool, expanded: bool) {
        if shrank {
            self.isr_shrinks.inc();
        }
        if expanded {
            self.isr_expands.inc();
        }
    }

    /// Publishes the counters and sets the gauges from `now`.
    pub fn flush(&self, now: &ReplicationSnapshot) {
        for c in [
            &self.isr_shrinks,
            &self.isr_expands,
            &self.served,
            &self.fetched,
        ] {
            c.flush();
        }
        self.under_replicated.set(now.under_replicated as i64);
        self.under_min_isr.set(now.under_min_isr as i64);
        self.set_lags(&now.followers);
    }

    fn set_lags(&self, followers: &[FollowerLag]) {
        let mut current = HashSet::with_capacity(followers.len());
        for f in followers {
            let labels = (
                f.topic.clone(),
                f.partition.to_string(),
                f.replica.to_string(),
            );
            let values = self.values(&labels);
            self.lag_messages.with_label_values(&values).set(f.messages);
            self.lag_ms.with_label_values(&values).set(f.ms);
            current.insert(labels);
        }
        let before = self.lag_series.replace(current);
        for gone in before.difference(&self.lag_series.borrow()) {
            let values = self.values(gone);
            // Absent already only if another flush removed it: fine.
            let _ = self.lag_messages.remove_label_values(&values);
            let _ = self.lag_ms.remove_label_values(&values);
        }
    }

    fn values<'a>(&'a self, l: &'a LagLabels) -> [&'a str; 4] {
        [
            self.shard.as_str(),
            l.0.as_str(),
            l.1.as_str(),
            l.2.as_str(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(topic: &str, replica: i32, messages: i64) -> FollowerLag {
        FollowerLag {
            topic: topic.into(),
            partition: 0,
            replica,
            messages,
            ms: 5,
        }
    }

    #[test]
    fn lag_series_of_partitions_no_longer_led_are_removed() {
        let registry = Registry::new();
        let m = ReplicationFamilies::new(&registry).shard("0");
        m.flush(&ReplicationSnapshot {
            under_replicated: 1,
            under_min_isr: 0,
            followers: vec![lag("a", 2, 7), lag("b", 3, 0)],
        });
        let text = render(&registry);
        assert!(text.contains(
            r#"fjord_follower_lag_messages{partition="0",replica="2",shard="0",topic="a"} 7"#
        ));
        assert!(text.contains(r#"fjord_under_replicated_partitions{shard="0"} 1"#));
        m.flush(&ReplicationSnapshot {
            followers: vec![lag("b", 3, 1)],
            ..Default::default()
        });
        let text = render(&registry);
        assert!(!text.contains(r#"topic="a""#), "{text}");
        assert!(text.contains(r#"replica="3",shard="0",topic="b"} 1"#));
    }

    #[test]
    fn counters_publish_at_flush() {
        let registry = Registry::new();
        let m = ReplicationFamilies::new(&registry).shard("1");
        m.served(100);
        m.fetched(40);
        m.isr_changed(true, false);
        assert!(!render(&registry).contains("fjord_replica_fetch_bytes_total{shard=\"1\"} 100"));
        m.flush(&ReplicationSnapshot::default());
        let text = render(&registry);
        assert!(text.contains("fjord_replica_fetch_bytes_total{shard=\"1\"} 100"));
        assert!(text.contains("fjord_replica_fetched_bytes_total{shard=\"1\"} 40"));
        assert!(text.contains("fjord_isr_shrinks_total{shard=\"1\"} 1"));
        assert!(text.contains("fjord_isr_expands_total{shard=\"1\"} 0"));
    }

    fn render(registry: &Registry) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encodes");
        String::from_utf8(out).expect("utf-8")
    }
}
