//! What DescribeConfigs shows for this broker: every setting fjord accepts,
//! each with its value, source, read-only flag, type (KIP-569),
//! documentation and synonyms, as Kafka's broker reports them.
//!
//! Three kinds of entry, in this order:
//! - the static settings of the settings table: read-only; source
//!   STATIC_BROKER_CONFIG when given by file or `--set`, else DEFAULT_CONFIG;
//!   `listeners` and `advertised.listeners` show the listeners as bound
//!   (STATIC_BROKER_CONFIG), whether from the settings or `--listen`;
//! - Kafka's run-time configs of [`BROKER_DYNAMIC`]: writable;
//!   DYNAMIC_BROKER_CONFIG when stored, else DEFAULT_CONFIG.
//!
//! Synonyms follow Kafka: every name standing for the same setting
//! (log.roll.ms/hours, log.retention.ms/minutes/hours, node.id/broker.id),
//! at each source giving it a value, most authoritative source first, from
//! the entry's own name on. The entry's source is its first synonym's.

use std::collections::BTreeMap;

use super::dynamic::{DynamicSetting, BROKER_DYNAMIC};
use super::settings::{self, Setting, SETTINGS};
use super::{BrokerConfig, ConfigType};

/// Kafka's ConfigSource: where a config's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
    Group = 8,
}

impl ConfigSource {
    /// The code DescribeConfigs carries.
    pub fn code(self) -> i8 {
        self as i8
    }
}

/// One source's value for a name standing for a setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Synonym {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One broker setting as DescribeConfigs reports it.
#[derive(Clone, Debug)]
pub struct BrokerEntry {
    pub name: &'static str,
    /// None: unset (Kafka's null), or sensitive.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub kind: ConfigType,
    pub doc: &'static str,
    pub synonyms: Vec<Synonym>,
}

/// Names standing for one setting, the most specific first (Kafka's order).
const FAMILIES: &[&[&str]] = &[
    &["log.roll.ms", "log.roll.hours"],
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
];

impl BrokerConfig {
    /// Every broker setting, for DescribeConfigs on this broker. `dynamic`
    /// holds the run-time configs stored for it, `defaults` the cluster-wide
    /// ones beneath them; `advertised` is the host and port clients are
    /// told to use.
    pub fn describe(
        &self,
        dynamic: &BTreeMap<String, String>,
        defaults: &BTreeMap<String, String>,
        advertised: (&str, i32),
    ) -> Vec<BrokerEntry> {
        let mut entries: Vec<BrokerEntry> = SETTINGS.iter().map(|s| self.static_entry(s)).collect();
        for entry in &mut entries {
            if !matches!(entry.name, "listeners" | "advertised.listeners") {
                continue;
            }
            if let Some(value) = self.listener_value(entry.name, advertised) {
                entry.source = ConfigSource::StaticBroker;
                entry.synonyms = vec![Synonym {
                    name: entry.name,
                    value: Some(value.clone()),
                    source: ConfigSource::StaticBroker,
                }];
                entry.value = Some(value);
            }
        }
        entries.extend(
            BROKER_DYNAMIC
                .iter()
                .map(|s| dynamic_entry(s, dynamic, defaults)),
        );
        entries
    }

    fn static_entry(&self, setting: &'static Setting) -> BrokerEntry {
        let synonyms = self.synonyms(setting.name);
        BrokerEntry {
            name: setting.name,
            value: shown(setting.kind, &super::get_value(&self.values, setting.name)),
            source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
            read_only: true,
            kind: setting.kind,
            doc: setting.doc,
            synonyms,
        }
    }

    /// Kafka's synonyms of static setting `name`: given values of its
    /// family, then defaults, skipping those before `name`'s own.
    pub fn synonyms(&self, name: &'static str) -> Vec<Synonym> {
        let family: Vec<&'static Setting> = family(name)
            .iter()
            .filter_map(|n| settings::find(n))
            .collect();
        let given = family
            .iter()
            .filter(|s| self.explicit.contains(s.name))
            .map(|s| Synonym {
                name: s.name,
                value: shown(s.kind, &super::get_value(&self.values, s.name)),
                source: ConfigSource::StaticBroker,
            });
        let defaults = family
            .iter()
            .filter(|s| !s.default.is_empty())
            .map(|s| Synonym {
                name: s.name,
                value: shown(s.kind, s.default),
                source: ConfigSource::Default,
            });
        given
            .chain(defaults)
            .skip_while(|s| s.name != name)
            .collect()
    }

    /// `listeners` and `advertised.listeners` as bound (Kafka shows the
    /// resolved values), else as `advertised` says.
    fn listener_value(&self, name: &str, (host, port): (&str, i32)) -> Option<String> {
        if let Some((bound, advertised)) = &self.bound_listeners {
            return Some(
                if name == "listeners" {
                    bound
                } else {
                    advertised
                }
                .clone(),
            );
        }
        if !super::get_value(&self.values, name).is_empty() {
            return None;
        }
        Some(match host.contains(':') {
            true => format!("PLAINTEXT://[{host}]:{port}"),
            false => format!("PLAINTEXT://{host}:{port}"),
        })
    }
}

/// A run-time config: the broker's stored value, else the cluster-wide
/// one, else Kafka's default (synonyms in that order).
fn dynamic_entry(
    setting: &'static DynamicSetting,
    stored: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
) -> BrokerEntry {
    let kind = setting.config_type();
    let mut synonyms = Vec::new();
    let layers = [
        (stored, ConfigSource::DynamicBroker),
        (defaults, ConfigSource::DynamicDefaultBroker),
    ];
    for (configs, source) in layers {
        if let Some(value) = configs.get(setting.name) {
            synonyms.push(Synonym {
                name: setting.name,
                value: shown(kind, value),
                source,
            });
        }
    }
    synonyms.push(Synonym {
        name: setting.name,
        value: shown(kind, setting.default),
        source: ConfigSource::Default,
    });
    BrokerEntry {
        name: setting.name,
        value: synonyms[0].value.clone(),
        source: synonyms[0].source,
        read_only: false,
        kind,
        doc: setting.doc,
        synonyms,
    }
}

/// The names standing for the same setting as `name`, `name` first among
/// equals (node.id and broker.id are each other's synonym).
fn family(name: &'static str) -> Vec<&'static str> {
    match name {
        "node.id" => vec!["node.id", "broker.id"],
        "broker.id" => vec!["broker.id", "node.id"],
        _ => FAMILIES
            .iter()
            .find(|f| f.contains(&name))
            .map_or_else(|| vec![name], |f| f.to_vec()),
    }
}

/// A value as DescribeConfigs shows it: none for a sensitive config, and
/// an unset ("") one is null unless it is an (empty) list.
fn shown(kind: ConfigType, value: &str) -> Option<String> {
    let unset = value.is_empty() && kind != ConfigType::List;
    (!kind.is_sensitive() && !unset).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(sets: &[&str], dynamic: &[(&str, &str)]) -> Vec<BrokerEntry> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let dynamic = dynamic
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cfg = BrokerConfig::load(None, &sets).unwrap();
        let cfg = cfg.with_listeners(
            "PLAINTEXT://0.0.0.0:9092".into(),
            "PLAINTEXT://broker-1.example:19092".into(),
        );
        cfg.describe(&dynamic, &BTreeMap::new(), ("broker-1.example", 19092))
    }

    fn find<'a>(entries: &'a [BrokerEntry], name: &str) -> &'a BrokerEntry {
        entries.iter().find(|e| e.name == name).unwrap()
    }

    fn synonym(name: &'static str, value: &str, source: ConfigSource) -> Synonym {
        let value = Some(value.to_string());
        Synonym {
            name,
            value,
            source,
        }
    }

    #[test]
    fn defaults_and_given_settings() {
        let entries = describe(&["num.partitions=4"], &[]);
        let segment = find(&entries, "log.segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("1073741824"));
        assert_eq!(segment.source, ConfigSource::Default);
        assert!(segment.read_only);
        assert_eq!(segment.kind, ConfigType::Int);
        assert!(!segment.doc.is_empty());
        let partitions = find(&entries, "num.partitions");
        assert_eq!(partitions.source, ConfigSource::StaticBroker);
        assert_eq!(
            partitions.synonyms,
            vec![
                synonym("num.partitions", "4", ConfigSource::StaticBroker),
                synonym("num.partitions", "1", ConfigSource::Default),
            ]
        );
        let retention_ms = find(&entries, "log.retention.ms");
        assert_eq!(retention_ms.value, None, "unset is null");
        assert_eq!(retention_ms.source, ConfigSource::Default);
        assert!(retention_ms.synonyms.is_empty());
    }

    #[test]
    fn synonyms_follow_kafkas_families() {
        let entries = describe(&["log.retention.ms=1000", "node.id=3"], &[]);
        let ms = find(&entries, "log.retention.ms");
        assert_eq!(ms.source, ConfigSource::StaticBroker);
        assert_eq!(
            ms.synonyms,
            vec![
                synonym("log.retention.ms", "1000", ConfigSource::StaticBroker),
                synonym("log.retention.hours", "168", ConfigSource::Default),
            ]
        );
        let hours = find(&entries, "log.retention.hours");
        assert_eq!(hours.source, ConfigSource::Default);
        assert_eq!(hours.synonyms.len(), 1);
        let node = find(&entries, "node.id");
        assert_eq!(node.value.as_deref(), Some("3"));
        assert_eq!(node.source, ConfigSource::StaticBroker);
        let names: Vec<_> = node.synonyms.iter().map(|s| s.name).collect();
        assert_eq!(names, ["node.id", "broker.id", "node.id", "broker.id"]);
        let broker = find(&entries, "broker.id");
        assert_eq!(broker.synonyms[0].name, "broker.id");
        assert_eq!(broker.synonyms[1].name, "node.id");
    }

    #[test]
    fn listeners_show_as_bound_and_read_only() {
        let entries = describe(&[], &[]);
        for (name, value) in [
            ("listeners", "PLAINTEXT://0.0.0.0:9092"),
            ("advertised.listeners", "PLAINTEXT://broker-1.example:19092"),
        ] {
            let e = find(&entries, name);
            assert_eq!(e.value.as_deref(), Some(value), "{name}");
            assert_eq!((e.source, e.read_only), (ConfigSource::StaticBroker, true));
        }
        let controller = find(&entries, "controller.listener.names");
        assert_eq!(controller.value.as_deref(), Some("CONTROLLER"));
        assert_eq!(controller.source, ConfigSource::Default);
        let cfg = BrokerConfig::load(None, &[]).unwrap();
        let v6 = cfg.describe(&BTreeMap::new(), &BTreeMap::new(), ("::1", 9093));
        let listeners = find(&v6, "listeners").value.as_deref();
        assert_eq!(
            listeners,
            Some("PLAINTEXT://[::1]:9093"),
            "unbound: advertised"
        );
    }

    #[test]
    fn run_time_configs_are_writable() {
        let entries = describe(&[], &[("background.threads", "4")]);
        let threads = find(&entries, "background.threads");
        assert_eq!(threads.value.as_deref(), Some("4"));
        assert_eq!(threads.source, ConfigSource::DynamicBroker);
        assert!(!threads.read_only);
        assert_eq!(threads.synonyms.len(), 2);
        let fetchers = find(&entries, "num.replica.fetchers");
        assert_eq!(fetchers.source, ConfigSource::Default);
        assert_eq!(fetchers.kind, ConfigType::Int);
    }

    #[test]
    fn cluster_wide_defaults_sit_between_the_broker_and_kafka() {
        let pairs = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cfg = BrokerConfig::load(None, &[]).unwrap();
        let own = pairs(&[("background.threads", "4")]);
        let defaults = pairs(&[("background.threads", "6"), ("max.connections", "100")]);
        let entries = cfg.describe(&own, &defaults, ("h", 9092));
        let threads = find(&entries, "background.threads");
        assert_eq!(threads.value.as_deref(), Some("4"));
        let sources: Vec<ConfigSource> = threads.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(
            sources,
            [
                ConfigSource::DynamicBroker,
                ConfigSource::DynamicDefaultBroker,
                ConfigSource::Default
            ]
        );
        let connections = find(&entries, "max.connections");
        assert_eq!(connections.value.as_deref(), Some("100"));
        assert_eq!(connections.source, ConfigSource::DynamicDefaultBroker);
    }

    #[test]
    fn every_entry_is_named_once_typed_and_documented() {
        let entries = describe(&[], &[]);
        assert_eq!(entries.len(), SETTINGS.len() + BROKER_DYNAMIC.len());
        for (i, e) in entries.iter().enumerate() {
            assert!(
                entries[..i].iter().all(|o| o.name != e.name),
                "{} twice",
                e.name
            );
            assert_ne!(e.kind, ConfigType::Unknown, "{}", e.name);
            assert!(!e.doc.is_empty(), "{}", e.name);
        }
        for s in BROKER_DYNAMIC {
            assert!(s.config_type().parses(s.default), "{}", s.name);
        }
    }
}
