//! Counters and latency histograms shared between the worker threads and
//! the once-a-second reporter, and the figures computed from them.
//!
//! Every producer and consumer owns one `Recorder` (a mutex it takes once per
//! message, never contended except by the reporter's once-a-second `take`).
//! Latencies are recorded in microseconds.

use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency kept apart (one hour, in µs); larger values saturate.
const MAX_MICROS: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("histogram bounds")
}

/// What happened since the last `take`.
pub struct Interval {
    pub messages: u64,
    pub bytes: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl Interval {
    pub fn new() -> Interval {
        Interval {
            messages: 0,
            bytes: 0,
            errors: 0,
            latency: histogram(),
            first: None,
            last: None,
        }
    }

    /// Adds `other` (the counts, the histogram, the first/last times).
    pub fn merge(&mut self, other: &Interval) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.latency.add(&other.latency).expect("same bounds");
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
    }
}

/// One worker's counters.
pub struct Recorder(Mutex<Interval>);

impl Recorder {
    pub fn new() -> Recorder {
        Recorder(Mutex::new(Interval::new()))
    }

    /// One message of `bytes` seen `now`, with its latency in µs if it has one.
    pub fn record(&self, bytes: usize, latency_micros: Option<u64>, now: Instant) {
        let mut i = self.0.lock().expect("recorder");
        i.messages += 1;
        i.bytes += bytes as u64;
        if let Some(l) = latency_micros {
            i.latency.saturating_record(l.max(1));
        }
        i.first.get_or_insert(now);
        i.last = Some(now);
    }

    pub fn error(&self) {
        self.0.lock().expect("recorder").errors += 1;
    }

    /// Returns what was recorded since the last call and starts afresh.
    pub fn take(&self) -> Interval {
        let mut i = self.0.lock().expect("recorder");
        std::mem::replace(&mut *i, Interval::new())
    }
}

/// Sums the intervals of several recorders.
pub fn take_all(recorders: &[std::sync::Arc<Recorder>]) -> Interval {
    let mut sum = Interval::new();
    for r in recorders {
        sum.merge(&r.take());
    }
    sum
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(0.5),
            p99: ms(0.99),
            p99_9: ms(0.999),
            p99_99: ms(0.9999),
            max: h.max() as f64 / 1000.0,
        }
    }
}

/// Messages and bytes over a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throughput {
    pub messages: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    /// 10^6 bytes of message values per second.
    pub mb_per_sec: f64,
}

impl Throughput {
    pub fn of(i: &Interval, seconds: f64) -> Throughput {
        let per = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
        Throughput {
            messages: i.messages,
            bytes: i.bytes,
            errors: i.errors,
            seconds,
            msgs_per_sec: per(i.messages as f64),
            mb_per_sec: per(i.bytes as f64) / 1e6,
        }
    }
}

/// One second of the run, as plotted.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    /// Seconds since the run (or, with a backlog, the consumers) started.
    pub t: f64,
    /// "warmup", "measure" or "backlog-read".
    pub phase: String,
    pub produce_msgs_per_sec: f64,
    pub produce_mb_per_sec: f64,
    pub consume_msgs_per_sec: f64,
    pub consume_mb_per_sec: f64,
    pub publish: Percentiles,
    pub end_to_end: Percentiles,
}
