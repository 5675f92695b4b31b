//! What is printed and written at the end: the summary table (stdout), the
//! JSON result file, and compare mode's table of b/a ratios.

use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::RunResult;
use crate::stats::Percentiles;

fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn latency_row(out: &mut String, name: &str, p: &Percentiles) {
    if p.count == 0 {
        let _ = writeln!(out, "{name:<12} (none)");
        return;
    }
    let _ = writeln!(
        out,
        "{name:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>11}",
        p.p50,
        p.p99,
        p.p99_9,
        p.p99_99,
        p.max,
        thousands(p.count as f64)
    );
}

/// The human-readable summary of one run.
pub fn summary(r: &RunResult) -> String {
    let mut out = String::new();
    let rate = r
        .target_msgs_per_sec
        .map_or("max".to_string(), |v| format!("{} msg/s", thousands(v)));
    let _ = writeln!(
        out,
        "== {} against {} ({} partitions, {} producers, {} consumers, {} B messages, acks={}, rate {rate})",
        r.workload, r.bootstrap, r.partitions, r.producers, r.consumers, r.message_size, r.acks
    );
    if r.backlog_bytes > 0 {
        let _ = writeln!(
            out,
            "backlog of {} bytes read by the consumers; time from first to last message read: {:.2} s",
            thousands(r.backlog_bytes as f64),
            r.consume.seconds
        );
    } else {
        let _ = writeln!(
            out,
            "measured {:.1} s after {} s of warm-up",
            r.produce.seconds, r.warmup_seconds
        );
    }
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>9} {:>13} {:>7}",
        "throughput", "msg/s", "MB/s", "messages", "errors"
    );
    for (name, t) in [("produce", &r.produce), ("consume", &r.consume)] {
        let _ = writeln!(
            out,
            "{name:<12} {:>12} {:>9.1} {:>13} {:>7}",
            thousands(t.msgs_per_sec),
            t.mb_per_sec,
            thousands(t.messages as f64),
            t.errors
        );
    }
    let _ = writeln!(
        out,
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "latency ms", "p50", "p99", "p99.9", "p99.99", "max", "count"
    );
    latency_row(&mut out, "publish", &r.publish_latency_ms);
    latency_row(&mut out, "end-to-end", &r.end_to_end_latency_ms);
    match &r.broker_cpu {
        Some(c) => {
            let per = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "broker CPU (pid {}): {:.2} CPU-s in the window; {} CPU-s per GB in ({:.3} GB), {} per GB out ({:.3} GB)",
                c.pid,
                c.cpu_seconds,
                per(c.cpu_seconds_per_gb_in),
                c.gb_in,
                per(c.cpu_seconds_per_gb_out),
                c.gb_out
            );
        }
        None => {
            let _ = writeln!(out, "broker CPU: not measured (no --broker-pid)");
        }
    }
    out
}

/// One compared figure.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// b / a; above 1 means b is higher (better for throughput, worse for
    /// latency and CPU per GB).
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: RunResult,
    pub b: RunResult,
    pub ratios: Vec<Ratio>,
}

fn figures(r: &RunResult) -> Vec<(&'static str, Option<f64>)> {
    let lat = |p: &Percentiles| {
        let some = |v: f64| (p.count > 0).then_some(v);
        [
            some(p.p50),
            some(p.p99),
            some(p.p99_9),
            some(p.p99_99),
            some(p.max),
        ]
    };
    let [p50, p99, p999, p9999, pmax] = lat(&r.publish_latency_ms);
    let [e50, e99, e999, e9999, emax] = lat(&r.end_to_end_latency_ms);
    let cpu = r.broker_cpu.as_ref();
    vec![
        ("produce msg/s", Some(r.produce.msgs_per_sec)),
        ("produce MB/s", Some(r.produce.mb_per_sec)),
        ("consume msg/s", Some(r.consume.msgs_per_sec)),
        ("consume MB/s", Some(r.consume.mb_per_sec)),
        ("publish p50 ms", p50),
        ("publish p99 ms", p99),
        ("publish p99.9 ms", p999),
        ("publish p99.99 ms", p9999),
        ("publish max ms", pmax),
        ("end-to-end p50 ms", e50),
        ("end-to-end p99 ms", e99),
        ("end-to-end p99.9 ms", e999),
        ("end-to-end p99.99 ms", e9999),
        ("end-to-end max ms", emax),
        (
            "broker CPU-s per GB in",
            cpu.and_then(|c| c.cpu_seconds_per_gb_in),
        ),
        (
            "broker CPU-s per GB out",
            cpu.and_then(|c| c.cpu_seconds_per_gb_out),
        ),
    ]
}

pub fn compare(a: RunResult, b: RunResult) -> Comparison {
    let ratios = figures(&a)
        .into_iter()
        .zip(figures(&b))
        .map(|((metric, x), (_, y))| Ratio {
            metric: metric.to_string(),
            a: x,
            b: y,
            ratio: match (x, y) {
                (Some(x), Some(y)) if x > 0.0 => Some(y / x),
                _ => None,
            },
        })
        .collect();
    Comparison { a, b, ratios }
}

pub fn comparison_table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== compare: a = {}, b = {}",
        c.a.bootstrap, c.b.bootstrap
    );
    let _ = writeln!(out, "{:<26} {:>14} {:>14} {:>8}", "metric", "a", "b", "b/a");
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in &c.ratios {
        let _ = writeln!(
            out,
            "{:<26} {:>14} {:>14} {:>8}",
            r.metric,
            show(r.a),
            show(r.b),
            r.ratio.map_or("-".to_string(), |v| format!("{v:.2}"))
        );
    }
    out
}

pub fn write_json<T: Serialize>(path: &str, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("json: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{path}: {e}"))
}
