//! The `--plot` file: one self-contained HTML page of inline SVG charts (no
//! scripts, no external resources): throughput per second, latency
//! percentiles per second, and the run's overall latency percentiles, for
//! one run or for both runs of a comparison.

use std::fmt::Write as _;

use crate::report::summary;
use crate::runner::RunResult;
use crate::stats::Percentiles;

const W: f64 = 860.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

struct Line {
    name: String,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Tick values for a linear axis from 0 to `max`.
fn linear_ticks(max: f64) -> Vec<f64> {
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(mag * 10.0);
    (0..=((max / step).ceil() as usize))
        .map(|i| i as f64 * step)
        .collect()
}

/// An SVG line chart. With `log`, y is log10 (values <= 0 are dropped);
/// `x_names` labels x positions 0, 1, 2… instead of numbers.
fn chart(title: &str, y_label: &str, log: bool, x_names: &[&str], lines: &[Line]) -> String {
    let all: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .filter(|&(_, y)| !log || y > 0.0)
        .collect();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    if all.is_empty() {
        let _ = writeln!(svg, r#"<text x="{LEFT}" y="60">no data</text></svg>"#);
        return svg;
    }
    let x_max = all.iter().map(|p| p.0).fold(f64::MIN, f64::max).max(1.0);
    let x_min = if x_names.is_empty() { 0.0 } else { -0.3 };
    let x_max = if x_names.is_empty() {
        x_max
    } else {
        x_max + 0.3
    };
    let (y_lo, y_hi, ticks) = if log {
        let lo = all
            .iter()
            .map(|p| p.1)
            .fold(f64::MAX, f64::min)
            .log10()
            .floor();
        let hi = all
            .iter()
            .map(|p| p.1)
            .fold(f64::MIN, f64::max)
            .log10()
            .ceil();
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
        (lo, hi, ticks)
    } else {
        let max = all.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
        let ticks = linear_ticks(max);
        (0.0, *ticks.last().expect("ticks"), ticks)
    };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * pw;
    let sy = |y: f64| {
        let v = if log { y.log10() } else { y };
        TOP + ph - (v - y_lo) / (y_hi - y_lo) * ph
    };
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for t in ticks {
        let y = sy(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 5.0,
            y + 4.0,
            if t >= 1.0 {
                format!("{t}")
            } else {
                format!("{t:.3}")
            }
        );
    }
    if x_names.is_empty() {
        for t in linear_ticks(x_max) {
            if t <= x_max {
                let x = sx(t);
                let _ = writeln!(
                    svg,
                    r#"<text x="{x:.1}" y="{}" text-anchor="middle">{t}</text>"#,
                    TOP + ph + 15.0
                );
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">seconds</text>"#,
            LEFT + pw / 2.0,
            H - 5.0
        );
    } else {
        for (i, name) in x_names.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                sx(i as f64),
                TOP + ph + 15.0,
                esc(name)
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(y_label)
    );
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|&&(_, y)| !log || y > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if line.dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{}"/>"#,
            points.join(" ")
        );
        if !x_names.is_empty() {
            for p in &points {
                let (x, y) = p.split_once(',').expect("point");
                let _ = writeln!(svg, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
            }
        }
        let ly = TOP + 12.0 + i as f64 * 16.0;
        let lx = LEFT + pw + 10.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            lx + 22.0,
            ly + 4.0,
            esc(&line.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn percentile_points(p: &Percentiles) -> Vec<(f64, f64)> {
    if p.count == 0 {
        return Vec::new();
    }
    [p.p50, p.p99, p.p99_9, p.p99_99, p.max]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as f64, v))
        .collect()
}

/// The HTML page for `runs` (label, result).
pub fn html(runs: &[(&str, &RunResult)]) -> String {
    let prefix = |label: &str, what: &str| {
        if runs.len() > 1 {
            format!("{label}: {what}")
        } else {
            what.to_string()
        }
    };
    let mut throughput = Vec::new();
    let mut per_second = Vec::new();
    let mut overall = Vec::new();
    for (label, r) in runs {
        let series = |f: &dyn Fn(&crate::stats::Second) -> f64| -> Vec<(f64, f64)> {
            r.series.iter().map(|s| (s.t, f(s))).collect()
        };
        if r.producers > 0 {
            throughput.push(Line {
                name: prefix(label, "produce MB/s"),
                dashed: false,
                points: series(&|s| s.produce_mb_per_sec),
            });
        }
        throughput.push(Line {
            name: prefix(label, "consume MB/s"),
            dashed: true,
            points: series(&|s| s.consume_mb_per_sec),
        });
        for (what, pick, dashed) in [
            ("publish p50", 0, false),
            ("publish p99", 1, false),
            ("e2e p50", 2, true),
            ("e2e p99", 3, true),
        ] {
            per_second.push(Line {
                name: prefix(label, what),
                dashed,
                points: r
                    .series
                    .iter()
                    .filter(|s| {
                        if pick < 2 {
                            s.publish.count > 0
                        } else {
                            s.end_to_end.count > 0
                        }
                    })
                    .map(|s| {
                        let v = match pick {
                            0 => s.publish.p50,
                            1 => s.publish.p99,
                            2 => s.end_to_end.p50,
                            _ => s.end_to_end.p99,
                        };
                        (s.t, v)
                    })
                    .collect(),
            });
        }
        overall.push(Line {
            name: prefix(label, "publish"),
            dashed: false,
            points: percentile_points(&r.publish_latency_ms),
        });
        overall.push(Line {
            name: prefix(label, "end-to-end"),
            dashed: true,
            points: percentile_points(&r.end_to_end_latency_ms),
        });
    }
    let mut page = String::new();
    let title = runs
        .iter()
        .map(|(l, r)| format!("{l} = {} @ {}", r.workload, r.bootstrap))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fjord-perf: {}</title></head>\n<body style=\"font-family:sans-serif\">\n<h2>fjord-perf: {}</h2>",
        esc(&title),
        esc(&title)
    );
    page.push_str(&chart(
        "Throughput per second",
        "MB/s",
        false,
        &[],
        &throughput,
    ));
    page.push_str(&chart(
        "Latency per second (ms, log scale)",
        "ms",
        true,
        &[],
        &per_second,
    ));
    page.push_str(&chart(
        "Latency percentiles over the measured window (ms, log scale)",
        "ms",
        true,
        &["p50", "p99", "p99.9", "p99.99", "max"],
        &overall,
    ));
    for (label, r) in runs {
        let _ = writeln!(
            page,
            "<h3>{}</h3><pre>{}</pre>",
            esc(label),
            esc(&summary(r))
        );
    }
    page.push_str("</body></html>\n");
    page
}
