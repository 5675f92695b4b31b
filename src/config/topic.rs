//! Topic-level configs: Kafka's names, types (KIP-569) and descriptions,
//! how each value is validated, the broker setting each takes its default
//! from (`BrokerConfig::topic_defaults`), and the effective [`TopicConfig`]
//! of a topic (its overrides over those defaults). Knows nothing of storage
//! or the wire; callers turn a `TopicConfig` into what they need.

use std::collections::BTreeMap;

use super::types::ConfigType;
use super::BrokerConfig;

/// How a topic config's value is checked.
#[derive(Clone, Copy)]
enum Kind {
    /// A 32-bit integer at least `min`.
    Int(i64),
    /// A 64-bit integer at least `min`.
    Long(i64),
    /// A ratio in [0, 1].
    Ratio,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// cleanup.policy: a list of delete / compact.
    Policy,
    /// true or false (any case, as Kafka parses booleans).
    Bool,
}

impl Kind {
    /// Kafka's type for the config (KIP-569).
    fn config_type(self) -> ConfigType {
        match self {
            Kind::Int(_) => ConfigType::Int,
            Kind::Long(_) => ConfigType::Long,
            Kind::Ratio => ConfigType::Double,
            Kind::OneOf(_) => ConfigType::String,
            Kind::Policy => ConfigType::List,
            Kind::Bool => ConfigType::Boolean,
        }
    }
}

const CODECS: &[&str] = &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

/// Every topic config fjord accepts (Kafka's names): how it is checked and
/// a one-line description.
const TOPIC_CONFIGS: &[(&str, Kind, &str)] = &[
    (
        "cleanup.policy",
        Kind::Policy,
        "delete (by retention), compact (keep each key's latest) or both",
    ),
    (
        "retention.ms",
        Kind::Long(-1),
        "Delete segments older than this (-1: no time limit)",
    ),
    (
        "retention.bytes",
        Kind::Long(-1),
        "Delete old segments past this size per partition (-1: no size limit)",
    ),
    (
        "segment.bytes",
        Kind::Int(14),
        "Roll a segment at this size",
    ),
    ("segment.ms", Kind::Long(1), "Roll a segment after this age"),
    (
        "segment.index.bytes",
        Kind::Int(4),
        "Preallocated size of a segment's offset index",
    ),
    (
        "index.interval.bytes",
        Kind::Int(0),
        "Bytes of log between offset index entries",
    ),
    (
        "max.message.bytes",
        Kind::Int(0),
        "Largest record batch accepted",
    ),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime (the producer's) or LogAppendTime (the broker's clock)",
    ),
    (
        "message.timestamp.before.max.ms",
        Kind::Long(0),
        "How far in the past a record's timestamp may be",
    ),
    (
        "message.timestamp.after.max.ms",
        Kind::Long(0),
        "How far in the future a record's timestamp may be",
    ),
    (
        "compression.type",
        Kind::OneOf(CODECS),
        "producer (keep as sent) or the codec to store batches in",
    ),
    (
        "min.insync.replicas",
        Kind::Int(1),
        "Replicas that must have a write acks=all waits for",
    ),
    (
        "min.cleanable.dirty.ratio",
        Kind::Ratio,
        "Dirty share of the log before compaction runs",
    ),
    (
        "min.compaction.lag.ms",
        Kind::Long(0),
        "Records younger than this stay uncompacted",
    ),
    (
        "max.compaction.lag.ms",
        Kind::Long(1),
        "Compact a record at most this long after it is written",
    ),
    (
        "delete.retention.ms",
        Kind::Long(0),
        "Keep tombstones this long after compaction",
    ),
    (
        "flush.messages",
        Kind::Long(1),
        "fsync after this many records (Long.MAX: fjord's fsync before every acknowledgement)",
    ),
    (
        "flush.ms",
        Kind::Long(0),
        "fsync after this long (Long.MAX: fjord's fsync before every acknowledgement)",
    ),
    (
        "unclean.leader.election.enable",
        Kind::Bool,
        "Elect a replica outside the ISR when no ISR member is live (may lose data)",
    ),
];

/// Kafka's type (KIP-569) and a description of topic config `name`.
pub fn type_and_doc(name: &str) -> Option<(ConfigType, &'static str)> {
    TOPIC_CONFIGS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, kind, doc)| (kind.config_type(), *doc))
}

/// Checks `value` for topic config `name`; Err names the problem, as
/// INVALID_CONFIG's message.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some((_, kind, _)) = TOPIC_CONFIGS.iter().find(|(n, ..)| *n == name) else {
        return Err(format!("unknown topic config '{name}'"));
    };
    let bad = |why: &str| Err(format!("invalid value '{value}' for {name}: {why}"));
    match kind {
        Kind::Int(min) => match value.trim().parse::<i32>() {
            Ok(v) if i64::from(v) >= *min => Ok(()),
            Ok(_) => bad(&format!("must be at least {min}")),
            Err(_) => bad("not a 32-bit integer"),
        },
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
        Kind::Bool if !value.trim().is_empty() && ConfigType::Boolean.parses(value) => Ok(()),
        Kind::Bool => bad("expected true or false"),
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

/// A topic-level config and the broker setting its default comes from.
pub struct TopicConfigDefault {
    pub name: &'static str,
    pub synonym: &'static str,
    pub value: String,
    /// The broker setting was not given (by file or `--set`).
    pub is_default: bool,
    pub kind: ConfigType,
    pub doc: &'static str,
}

impl BrokerConfig {
    /// Topic configs with the broker defaults they take.
    pub fn topic_defaults(&self) -> Vec<TopicConfigDefault> {
        let get = |name: &str| super::get_value(&self.values, name);
        let retention_ms = match (get("log.retention.ms"), get("log.retention.minutes")) {
            (ms, _) if !ms.is_empty() => ("log.retention.ms", ms),
            (_, min) if !min.is_empty() => (
                "log.retention.minutes",
                (min.parse::<i64>().unwrap_or(0) * 60_000).to_string(),
            ),
            _ => (
                "log.retention.hours",
                (get("log.retention.hours").parse::<i64>().unwrap_or(168) * 3_600_000).to_string(),
            ),
        };
        let flush = |n: &str| match get(n) {
            v if v.is_empty() => i64::MAX.to_string(),
            v => v,
        };
        let roll_from = match get("log.roll.ms") {
            ms if ms.is_empty() => "log.roll.hours",
            _ => "log.roll.ms",
        };
        let mut out = vec![
            (
                "cleanup.policy",
                "log.cleanup.policy",
                get("log.cleanup.policy"),
            ),
            ("retention.ms", retention_ms.0, retention_ms.1),
            (
                "retention.bytes",
                "log.retention.bytes",
                get("log.retention.bytes"),
            ),
            (
                "segment.bytes",
                "log.segment.bytes",
                self.log_segment_bytes.to_string(),
            ),
            ("segment.ms", roll_from, self.log_roll_ms.to_string()),
            (
                "segment.index.bytes",
                "log.index.size.max.bytes",
                self.log_index_size_max_bytes.to_string(),
            ),
            (
                "index.interval.bytes",
                "log.index.interval.bytes",
                self.log_index_interval_bytes.to_string(),
            ),
            (
                "max.message.bytes",
                "message.max.bytes",
                get("message.max.bytes"),
            ),
            (
                "message.timestamp.type",
                "log.message.timestamp.type",
                get("log.message.timestamp.type"),
            ),
            (
                "compression.type",
                "compression.type",
                get("compression.type"),
            ),
            (
                "min.cleanable.dirty.ratio",
                "log.cleaner.min.cleanable.ratio",
                get("log.cleaner.min.cleanable.ratio"),
            ),
            (
                "min.compaction.lag.ms",
                "log.cleaner.min.compaction.lag.ms",
                get("log.cleaner.min.compaction.lag.ms"),
            ),
            (
                "max.compaction.lag.ms",
                "log.cleaner.max.compaction.lag.ms",
                get("log.cleaner.max.compaction.lag.ms"),
            ),
            (
                "delete.retention.ms",
                "log.cleaner.delete.retention.ms",
                get("log.cleaner.delete.retention.ms"),
            ),
            (
                "message.timestamp.before.max.ms",
                "log.message.timestamp.before.max.ms",
                get("log.message.timestamp.before.max.ms"),
            ),
            (
                "message.timestamp.after.max.ms",
                "log.message.timestamp.after.max.ms",
                get("log.message.timestamp.after.max.ms"),
            ),
            (
                "min.insync.replicas",
                "min.insync.replicas",
                get("min.insync.replicas"),
            ),
            (
                "flush.messages",
                "log.flush.interval.messages",
                flush("log.flush.interval.messages"),
            ),
            (
                "flush.ms",
                "log.flush.interval.ms",
                flush("log.flush.interval.ms"),
            ),
            (
                "unclean.leader.election.enable",
                "unclean.leader.election.enable",
                get("unclean.leader.election.enable"),
            ),
        ];
        out.drain(..)
            .map(|(name, synonym, value)| {
                let (kind, doc) = type_and_doc(name).unwrap_or((ConfigType::Unknown, ""));
                TopicConfigDefault {
                    name,
                    synonym,
                    is_default: !self.explicit.contains(synonym),
                    value,
                    kind,
                    doc,
                }
            })
            .collect()
    }
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
            if let Some((name, ..)) = TOPIC_CONFIGS.iter().find(|(n, ..)| n == k) {
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
    fn every_topic_config_has_a_type_and_doc() {
        for (name, ..) in TOPIC_CONFIGS {
            let (kind, doc) = type_and_doc(name).unwrap();
            assert_ne!(kind, ConfigType::Unknown, "{name}");
            assert!(!doc.is_empty(), "{name}");
        }
        assert_eq!(type_and_doc("segment.bytes").unwrap().0, ConfigType::Int);
        assert_eq!(type_and_doc("retention.ms").unwrap().0, ConfigType::Long);
        assert_eq!(type_and_doc("cleanup.policy").unwrap().0, ConfigType::List);
        assert!(type_and_doc("no.such.config").is_none());
        assert!(validate("segment.bytes", "4294967296").is_err(), "an INT");
        assert!(validate("retention.bytes", "4294967296").is_ok(), "a LONG");
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
