//! One run of a workload against one bootstrap address: create the topic,
//! fill the backlog if there is one, start consumers (and wait for their
//! partitions), start producers, and every second collect the workers'
//! counters into the per-second series, the measured totals and the live
//! progress line; the broker's CPU time is read at the measured window's
//! edges.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::{histogram, take_all, Interval, Percentiles, Recorder, Second, Throughput};
use crate::workers::{fill_backlog, spawn_producers, wait_for_assignment, Workers};
use crate::workload::Workload;
use crate::{admin, consumer, cpu};

/// Where to run and what else to do around the run.
#[derive(Debug, Clone)]
pub struct Target {
    pub bootstrap: String,
    pub broker_pid: Option<u32>,
    pub reuse_topic: bool,
    pub keep_topic: bool,
    pub replication_factor: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokerCpu {
    pub pid: u32,
    /// utime + stime of the broker over the measured window.
    pub cpu_seconds: f64,
    /// 10^9 bytes of message values produced / consumed in the window.
    pub gb_in: f64,
    pub gb_out: f64,
    pub cpu_seconds_per_gb_in: Option<f64>,
    pub cpu_seconds_per_gb_out: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub workload: String,
    pub description: String,
    pub bootstrap: String,
    pub topic: String,
    pub started_unix_ms: u64,
    /// Target messages per second over all producers; None = max.
    pub target_msgs_per_sec: Option<f64>,
    pub partitions: i32,
    pub producers: usize,
    pub consumers: usize,
    pub message_size: usize,
    pub acks: String,
    pub warmup_seconds: u64,
    pub duration_seconds: u64,
    pub backlog_bytes: u64,
    pub produce: Throughput,
    pub consume: Throughput,
    /// Send → delivery report.
    pub publish_latency_ms: Percentiles,
    /// Producer timestamp in the payload → consumer receive.
    pub end_to_end_latency_ms: Percentiles,
    pub broker_cpu: Option<BrokerCpu>,
    pub series: Vec<Second>,
}

/// Prints one progress line to stderr.
fn progress(
    t: u64,
    phase: &str,
    p: &Interval,
    c: &Interval,
    pub_so_far: &Histogram<u64>,
    e2e_so_far: &Histogram<u64>,
) {
    let ms = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1000.0;
    eprintln!(
        "[{t:>4}s {phase:<12}] produce {:>9} msg/s {:>8.1} MB/s p99 {:>8.2} ms | consume {:>9} msg/s {:>8.1} MB/s e2e p99 {:>8.2} ms",
        p.messages,
        p.bytes as f64 / 1e6,
        ms(pub_so_far),
        c.messages,
        c.bytes as f64 / 1e6,
        ms(e2e_so_far),
    );
}

fn second(t: f64, phase: &str, p: &Interval, c: &Interval, span: f64) -> Second {
    Second {
        t,
        phase: phase.to_string(),
        produce_msgs_per_sec: p.messages as f64 / span,
        produce_mb_per_sec: p.bytes as f64 / 1e6 / span,
        consume_msgs_per_sec: c.messages as f64 / span,
        consume_mb_per_sec: c.bytes as f64 / 1e6 / span,
        publish: Percentiles::of(&p.latency),
        end_to_end: Percentiles::of(&c.latency),
    }
}

fn read_cpu(pid: Option<u32>) -> Option<(u32, f64)> {
    let pid = pid?;
    match cpu::cpu_seconds(pid) {
        Ok(s) => Some((pid, s)),
        Err(e) => {
            eprintln!("broker CPU: {e}");
            None
        }
    }
}

fn broker_cpu(
    start: Option<(u32, f64)>,
    end: Option<(u32, f64)>,
    bytes_in: u64,
    bytes_out: u64,
) -> Option<BrokerCpu> {
    let ((pid, a), (_, b)) = (start?, end?);
    let cpu_seconds = b - a;
    let (gb_in, gb_out) = (bytes_in as f64 / 1e9, bytes_out as f64 / 1e9);
    let per = |gb: f64| (gb > 0.0).then(|| cpu_seconds / gb);
    Some(BrokerCpu {
        pid,
        cpu_seconds,
        gb_in,
        gb_out,
        cpu_seconds_per_gb_in: per(gb_in),
        cpu_seconds_per_gb_out: per(gb_out),
    })
}

/// Runs `w` against `target` and returns what was measured.
pub fn run(target: &Target, w: &Workload) -> Result<RunResult, String> {
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let topic = if target.reuse_topic {
        w.topic.clone()
    } else {
        format!("{}-{started_unix_ms}", w.topic)
    };
    eprintln!(
        "workload {} against {} (topic {topic})",
        w.name, target.bootstrap
    );
    admin::create_topic(
        &target.bootstrap,
        &topic,
        w.partitions,
        target.replication_factor,
    )?;
    let rate = w.rate()?;
    let backlog = w.backlog_messages();

    if backlog > 0 {
        fill_backlog(target, w, &topic, backlog)?;
    }

    // Consumers first, so that they hold their partitions before data flows.
    let mut consumers = Workers::new();
    let total_read = Arc::new(AtomicU64::new(0));
    let mut assigned = Vec::new();
    let group_id = format!("fjord-perf-{started_unix_ms}");
    for i in 0..w.consumers.count {
        let held = Arc::new(AtomicUsize::new(0));
        assigned.push(held.clone());
        let job = consumer::Job {
            bootstrap: target.bootstrap.clone(),
            topic: topic.clone(),
            group_id: if w.consumers.group {
                group_id.clone()
            } else {
                format!("{group_id}-{i}")
            },
            workload: w.clone(),
            from_start: backlog > 0,
            assigned: held,
            total: total_read.clone(),
            stop: consumers.stop.clone(),
            recorder: Arc::new(Recorder::new()),
        };
        consumers.spawn(format!("consumer-{i}"), move |recorder| {
            consumer::run(consumer::Job { recorder, ..job })
        });
    }
    let consumers_started = Instant::now();
    let cpu_at_consumer_start = read_cpu(target.broker_pid);
    if backlog == 0 && w.consumers.count > 0 {
        wait_for_assignment(w, &assigned)?;
    }

    let producers = if backlog == 0 {
        spawn_producers(target, w, &topic, rate, None)
    } else {
        Workers::new()
    };

    let t0 = if backlog > 0 {
        consumers_started
    } else {
        Instant::now()
    };
    let expected_reads = backlog
        * if w.consumers.group {
            1
        } else {
            w.consumers.count as u64
        };
    let measure_from = if backlog > 0 { 0 } else { w.warmup_seconds };
    let end = measure_from + w.duration_seconds;
    let mut series = Vec::new();
    let (mut prod_total, mut cons_total) = (Interval::new(), Interval::new());
    let (mut pub_so_far, mut e2e_so_far) = (histogram(), histogram());
    let mut cpu_start = if backlog > 0 {
        cpu_at_consumer_start
    } else {
        None
    };
    let mut window_start = t0;
    if measure_from == 0 && backlog == 0 {
        cpu_start = read_cpu(target.broker_pid);
    }
    let mut tick: u64 = 0;
    let mut last_tick_at = t0;
    loop {
        let next = t0 + Duration::from_secs(tick + 1);
        let drained = backlog > 0 && total_read.load(Ordering::Relaxed) >= expected_reads;
        if !drained && Instant::now() < next {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            continue;
        }
        let now = Instant::now();
        let span = (now - last_tick_at).as_secs_f64().max(1e-6);
        last_tick_at = now;
        let phase = if backlog > 0 {
            "backlog-read"
        } else if tick < measure_from {
            "warmup"
        } else {
            "measure"
        };
        let p = take_all(&producers.recorders);
        let c = take_all(&consumers.recorders);
        pub_so_far.add(&p.latency).expect("bounds");
        e2e_so_far.add(&c.latency).expect("bounds");
        progress(tick + 1, phase, &p, &c, &pub_so_far, &e2e_so_far);
        series.push(second((now - t0).as_secs_f64(), phase, &p, &c, span));
        if phase != "warmup" {
            prod_total.merge(&p);
            cons_total.merge(&c);
        }
        tick += 1;
        if tick == measure_from {
            cpu_start = read_cpu(target.broker_pid);
            window_start = Instant::now();
            pub_so_far.reset();
            e2e_so_far.reset();
        }
        if drained || tick >= end {
            break;
        }
    }
    let cpu_end = read_cpu(target.broker_pid);
    let window = window_start.elapsed().as_secs_f64();
    producers.finish()?;
    consumers.finish()?;
    if backlog > 0 && total_read.load(Ordering::Relaxed) < expected_reads {
        eprintln!(
            "note: consumers read {} of {expected_reads} backlog messages within {} s",
            total_read.load(Ordering::Relaxed),
            w.duration_seconds
        );
    }
    if !target.keep_topic {
        if let Err(e) = admin::delete_topic(&target.bootstrap, &topic) {
            eprintln!("{e}");
        }
    }
    // A backlog read is timed from its first to its last message (group
    // joins before the first fetch are not the broker's read speed).
    let consume_seconds = match (backlog > 0, cons_total.first, cons_total.last) {
        (true, Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => window,
    };
    Ok(RunResult {
        workload: w.name.clone(),
        description: w.description.clone(),
        bootstrap: target.bootstrap.clone(),
        topic,
        started_unix_ms,
        target_msgs_per_sec: rate,
        partitions: w.partitions,
        producers: if backlog > 0 { 0 } else { w.producers.count },
        consumers: w.consumers.count,
        message_size: w.producers.message_size,
        acks: w.acks()?,
        warmup_seconds: if backlog > 0 { 0 } else { w.warmup_seconds },
        duration_seconds: w.duration_seconds,
        backlog_bytes: w.backlog_bytes,
        produce: Throughput::of(&prod_total, window),
        consume: Throughput::of(&cons_total, consume_seconds),
        publish_latency_ms: Percentiles::of(&prod_total.latency),
        end_to_end_latency_ms: if backlog > 0 {
            Percentiles::default()
        } else {
            Percentiles::of(&cons_total.latency)
        },
        broker_cpu: broker_cpu(cpu_start, cpu_end, prod_total.bytes, cons_total.bytes),
        series,
    })
}
