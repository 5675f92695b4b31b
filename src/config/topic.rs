//! Topic-level configs: Kafka's names, how each value is validated, and the
//! effective [`TopicConfig`] of a topic (its overrides over the broker's
//! defaults, see `BrokerConfig::topic_defaults`). Knows nothing of storage
//! or the wire; callers turn a `TopicConfig` into what they need.

use std::collections::BTreeMap;

use super::BrokerConfig;

/// How a topic config's value is checked.
#[derive(Clone, Copy)]
enum Kind {
    /// An integer at least `min`.
    Long(i64),
    /// A ratio in [0, 1].
    Ratio,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// cleanup.policy: a list of delete / compact.
    Policy,
}

/// Every topic config fjord accepts (Kafka's names).
const TOPIC_CONFIGS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::Policy),
    ("retention.ms", Kind::Long(-1)),
    ("retention.bytes", Kind::Long(-1)),
    ("segment.bytes", Kind::Long(14)),
    ("segment.ms", Kind::Long(1)),
    ("segment.index.bytes", Kind::Long(4)),
    ("index.interval.bytes", Kind::Long(0)),
    ("max.message.bytes", Kind::Long(0)),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("message.timestamp.before.max.ms", Kind::Long(0)),
    ("message.timestamp.after.max.ms", Kind::Long(0)),
    (
        "compression.type",
        Kind::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
    ),
    ("min.insync.replicas", Kind::Long(1)),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Long(0)),
    ("max.compaction.lag.ms", Kind::Long(1)),
    ("delete.retention.ms", Kind::Long(0)),
    ("flush.messages", Kind::Long(1)),
    ("flush.ms", Kind::Long(0)),
];

/// Checks `value` for topic config `name`; Err names the problem, as
/// INVALID_CONFIG's message.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some((_, kind)) = TOPIC_CONFIGS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("unknown topic config '{name}'"));
    };
    let bad = |why: &str| Err(format!("invalid value '{value}' for {name}: {why}"));
    match kind {
        Kind::Long(min) => match value.trim().parse::<i64>() {
            Ok(v) if v >= *min => Ok(()),
            Ok(_) => bad(&format!("must be at least {min}")),
            Err(_) => bad("not an integer"),
        },
        Kind::Ratio => match value.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(()),
            _ => bad("must be a number between 0 and 1"),
        },
        Kind::OneOf(words) if words.contains(&value) => Ok(()),
        Kind::OneOf(words) => bad(&format!("expected one of {}", words.join(", "))),
        Kind::Policy => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if !items.is_empty() && items.iter().all(|i| matches!(*i, "delete" | "compact")) {
                Ok(())
            } else {
                bad("expected delete, compact or compact,delete")
            }
        }
    }
}

/// Whether cleanup.policy is a list config (IncrementalAlterConfigs APPEND
/// and SUBTRACT apply to it).
pub fn is_list(name: &str) -> bool {
    name == "cleanup.policy"
}

/// A topic's effective configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicConfig {
    pub delete: bool,
    pub compact: bool,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub segment_ms: u64,
    pub segment_index_bytes: u64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: usize,
    pub log_append_time: bool,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// None = keep what the producer sent; else the codec name to recompress to.
    pub compression: Option<String>,
    pub min_insync_replicas: i32,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
    pub flush_messages: Option<u64>,
    pub flush_ms: Option<u64>,
}

impl TopicConfig {
    /// The broker's defaults overlaid with `overrides` (already validated).
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicConfig {
        let mut values: BTreeMap<&str, String> = broker
            .topic_defaults()
            .into_iter()
            .map(|d| (d.name, d.value))
            .collect();
        for (k, v) in overrides {
            if let Some((name, _)) = TOPIC_CONFIGS.iter().find(|(n, _)| n == k) {
                values.insert(name, v.clone());
            }
        }
        let text = |n: &str| values.get(n).cloned().unwrap_or_default();
        let long = |n: &str| text(n).trim().parse::<i64>().unwrap_or(-1);
        // Kafka's "never flush on count/time" is Long.MAX: fjord's None.
        let flush = |n: &str| {
            Some(long(n))
                .filter(|v| *v > 0 && *v < i64::MAX)
                .map(|v| v as u64)
        };
        let policy = text("cleanup.policy");
        let compression = text("compression.type");
        TopicConfig {
            delete: policy.split(',').any(|p| p.trim() == "delete"),
            compact: policy.split(',').any(|p| p.trim() == "compact"),
            retention_ms: long("retention.ms"),
            retention_bytes: long("retention.bytes"),
            segment_bytes: long("segment.bytes").clamp(14, i32::MAX as i64) as u64,
            segment_ms: long("segment.ms").max(1) as u64,
            segment_index_bytes: long("segment.index.bytes").max(4) as u64,
            index_interval_bytes: long("index.interval.bytes").max(1) as u64,
            max_message_bytes: long("max.message.bytes").max(0) as usize,
            log_append_time: text("message.timestamp.type") == "LogAppendTime",
            timestamp_before_max_ms: long("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: long("message.timestamp.after.max.ms"),
            compression: (compression != "producer").then_some(compression),
            min_insync_replicas: long("min.insync.replicas") as i32,
            min_cleanable_dirty_ratio: text("min.cleanable.dirty.ratio")
                .trim()
                .parse()
                .unwrap_or(0.5),
            min_compaction_lag_ms: long("min.compaction.lag.ms"),
            max_compaction_lag_ms: long("max.compaction.lag.ms"),
            delete_retention_ms: long("delete.retention.ms"),
            flush_messages: flush("flush.messages"),
            flush_ms: flush("flush.ms"),
        }
    }
}

/// Kafka's rule for topic names: 1–249 of `[a-zA-Z0-9._-]`, not "." or "..".
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("min.cleanable.dirty.ratio", "0.1").is_ok());
        let e = validate("retention.ms", "soon").unwrap_err();
        assert!(e.contains("retention.ms") && e.contains("soon"), "{e}");
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate("compression.type", "brotli").is_err());
        assert!(validate("no.such.config", "1")
            .unwrap_err()
            .contains("no.such.config"));
    }

    #[test]
    fn overrides_win_over_broker_defaults() {
        let broker = BrokerConfig::load(None, &["log.retention.bytes=1000".into()]).unwrap();
        let defaults = TopicConfig::resolve(&broker, &BTreeMap::new());
        assert_eq!(defaults.retention_bytes, 1000);
        assert!(defaults.delete && !defaults.compact);
        assert_eq!(defaults.compression, None);
        let overrides: BTreeMap<String, String> = [
            ("retention.bytes", "5"),
            ("cleanup.policy", "compact"),
            ("compression.type", "zstd"),
            ("message.timestamp.type", "LogAppendTime"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let t = TopicConfig::resolve(&broker, &overrides);
        assert_eq!(t.retention_bytes, 5);
        assert!(t.compact && !t.delete);
        assert_eq!(t.compression.as_deref(), Some("zstd"));
        assert!(t.log_append_time);
        assert_eq!(t.delete_retention_ms, 86_400_000);
    }
}
