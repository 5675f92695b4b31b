//! Workload files: an OpenMessaging-Benchmark-like description of one run
//! (topic shape, producers, consumers, message size, keys, rate, producer
//! settings, warm-up and duration) read from TOML, plus the command-line
//! overrides that let a big workload be run small.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One workload file (see perf/fjord_perf/README.md for every field).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Shown in reports; defaults to the file name without extension.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Topic name; a per-run suffix is added unless `--reuse-topic`.
    pub topic: String,
    pub partitions: i32,
    /// Whole seconds of load before measuring starts.
    #[serde(default = "default_warmup")]
    pub warmup_seconds: u64,
    /// Whole seconds measured (with a backlog: the most the read may take).
    pub duration_seconds: u64,
    /// When > 0: fill the topic with this many bytes of messages first (not
    /// measured), then measure the consumers draining it.
    #[serde(default)]
    pub backlog_bytes: u64,
    pub producers: Producers,
    pub consumers: Consumers,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producers {
    pub count: usize,
    pub message_size: usize,
    /// `"max"`, a number of messages per second (all producers together),
    /// or a string such as `"20MB/s"` (MB = 10^6 bytes of message values).
    pub rate: Scalar,
    /// `"none"`, `"random"` (uniform over `key_count` keys) or
    /// `"round-robin"` (cycles through `key_count` keys).
    #[serde(default = "default_keys")]
    pub keys: String,
    #[serde(default)]
    pub key_count: u64,
    /// `0`, `1` or `"all"`.
    pub acks: Scalar,
    pub linger_ms: u64,
    pub batch_size: u64,
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Messages awaiting a delivery report per producer before the next send
    /// (0 = no limit). 1 = produce, wait for the delivery report, repeat.
    #[serde(default)]
    pub max_in_flight: u64,
    /// Extra librdkafka producer properties, passed as is.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumers {
    pub count: usize,
    /// true: all consumers share one consumer group (each message read
    /// once); false: every consumer is assigned every partition without a
    /// group (each message read `count` times).
    #[serde(default = "default_true")]
    pub group: bool,
    /// Extra librdkafka consumer properties, passed as is.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// A TOML value that may be written as a number or a string.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Float(v) => write!(f, "{v}"),
            Scalar::Text(v) => write!(f, "{v}"),
        }
    }
}

fn default_warmup() -> u64 {
    5
}
fn default_keys() -> String {
    "none".into()
}
fn default_compression() -> String {
    "none".into()
}
fn default_true() -> bool {
    true
}

/// How message keys are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keys {
    None,
    Random(u64),
    RoundRobin(u64),
}

/// Values of the command line that replace the file's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Measured seconds (replaces duration_seconds).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Warm-up seconds (replaces warmup_seconds).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Backlog to fill before measuring consumers, in bytes (e.g. 300000000).
    #[arg(long)]
    pub backlog_bytes: Option<u64>,
    /// Target rate: "max", messages/s, or e.g. "20MB/s".
    #[arg(long)]
    pub rate: Option<String>,
    /// Message value size in bytes (at least 8).
    #[arg(long)]
    pub message_size: Option<usize>,
    /// Number of producers.
    #[arg(long)]
    pub producers: Option<usize>,
    /// Number of consumers.
    #[arg(long)]
    pub consumers: Option<usize>,
    /// Topic name (before the per-run suffix).
    #[arg(long)]
    pub topic: Option<String>,
}

impl Workload {
    pub fn load(path: &Path) -> Result<Workload, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut w: Workload =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if w.name.is_empty() {
            w.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        w.validate()?;
        Ok(w)
    }

    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        if let Some(v) = o.duration {
            self.duration_seconds = v;
        }
        if let Some(v) = o.warmup {
            self.warmup_seconds = v;
        }
        if let Some(v) = o.backlog_bytes {
            self.backlog_bytes = v;
        }
        if let Some(v) = &o.rate {
            self.producers.rate = match v.parse::<f64>() {
                Ok(n) => Scalar::Float(n),
                Err(_) => Scalar::Text(v.clone()),
            };
        }
        if let Some(v) = o.message_size {
            self.producers.message_size = v;
        }
        if let Some(v) = o.producers {
            self.producers.count = v;
        }
        if let Some(v) = o.consumers {
            self.consumers.count = v;
        }
        if let Some(v) = &o.topic {
            self.topic = v.clone();
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<(), String> {
        let p = &self.producers;
        if self.partitions < 1 {
            return Err("partitions must be at least 1".into());
        }
        if p.message_size < 8 {
            return Err("message_size must be at least 8 (the timestamp)".into());
        }
        if p.count == 0 {
            return Err("at least one producer is needed".into());
        }
        if self.duration_seconds == 0 {
            return Err("duration_seconds must be at least 1".into());
        }
        if self.backlog_bytes > 0 && self.consumers.count == 0 {
            return Err("backlog_bytes needs consumers".into());
        }
        self.rate()?;
        self.keys()?;
        self.acks()?;
        Ok(())
    }

    /// Target messages per second over all producers; None = as fast as possible.
    pub fn rate(&self) -> Result<Option<f64>, String> {
        let size = self.producers.message_size as f64;
        let rate = match &self.producers.rate {
            Scalar::Int(n) => *n as f64,
            Scalar::Float(n) => *n,
            Scalar::Text(t) if t.eq_ignore_ascii_case("max") => return Ok(None),
            Scalar::Text(t) => {
                let lower = t.to_ascii_lowercase().replace(' ', "");
                let (num, scale) = if let Some(n) = lower.strip_suffix("mb/s") {
                    (n, 1e6 / size)
                } else if let Some(n) = lower.strip_suffix("msg/s") {
                    (n, 1.0)
                } else {
                    (lower.as_str(), 1.0)
                };
                num.parse::<f64>()
                    .map_err(|_| format!("bad rate {t:?}: use \"max\", msg/s or \"N MB/s\""))?
                    * scale
            }
        };
        if rate <= 0.0 {
            return Err("rate must be > 0".into());
        }
        Ok(Some(rate))
    }

    pub fn keys(&self) -> Result<Keys, String> {
        let n = self.producers.key_count;
        match self.producers.keys.as_str() {
            "none" => Ok(Keys::None),
            "random" | "round-robin" if n == 0 => Err("key_count must be > 0".into()),
            "random" => Ok(Keys::Random(n)),
            "round-robin" => Ok(Keys::RoundRobin(n)),
            other => Err(format!("keys {other:?}: none, random or round-robin")),
        }
    }

    /// The `acks` producer property.
    pub fn acks(&self) -> Result<String, String> {
        match &self.producers.acks {
            Scalar::Int(v @ -1..=1) => Ok(v.to_string()),
            Scalar::Text(t) if t == "all" || t == "-1" || t == "0" || t == "1" => Ok(t.clone()),
            other => Err(format!("acks {other}: 0, 1 or \"all\"")),
        }
    }

    /// Messages written before measuring (0 without a backlog).
    pub fn backlog_messages(&self) -> u64 {
        self.backlog_bytes / self.producers.message_size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_workloads_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("perf/workloads");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("perf/workloads") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let w = Workload::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!w.name.is_empty());
                seen += 1;
            }
        }
        assert!(seen >= 4, "expected the four standard workloads");
        let w = Workload::load(&dir.join("2-latency.toml")).expect("latency");
        let rate = w.rate().expect("rate").expect("fixed rate");
        assert!((rate - 20e6 / 1024.0).abs() < 1e-6);
        let mut w = Workload::load(&dir.join("4-cold-fanout.toml")).expect("fanout");
        assert_eq!(w.backlog_bytes, 3_000_000_000);
        let small = Overrides {
            backlog_bytes: Some(1_000_000),
            rate: Some("500".into()),
            ..Overrides::default()
        };
        w.apply(&small).expect("overrides");
        assert_eq!(w.backlog_messages(), 1_000_000 / 1024);
        assert_eq!(w.rate().expect("rate"), Some(500.0));
    }
}
