//! Configs set at run time on a BROKER or GROUP resource through
//! AlterConfigs / IncrementalAlterConfigs, and shown by DescribeConfigs.
//!
//! Owns: which names and values are accepted ([`validate`]), how a request
//! edits a target's configs ([`ConfigEdit`]), and [`DynamicConfigState`],
//! the part of the metadata image holding every broker's, the cluster
//! default's and each group's configs. Changes are records in the metadata
//! log, planned by the active controller (`crate::cluster`); reads answer
//! from each shard's image. [`load_legacy`] reads what a single-node fjord
//! kept in `DATA_DIR/dynamic-configs.toml`, to seed a new log.
//!
//! Must not: make a static setting dynamic. A broker setting fjord acts on
//! at start stays static (`--config`/`--set`) and is refused here; the
//! broker names accepted are ones Kafka updates at run time. The connection
//! limits (`max.connections`, `max.connections.per.ip` and its overrides)
//! are enforced at accept from the image (`crate::quota::connections`);
//! the rest — Kerberos/SASL login tuning, thread pool sizes,
//! `max.connection.creation.rate` — are stored and described only. Group
//! configs (`consumer.session.timeout.ms`, `consumer.heartbeat.interval.ms`)
//! govern KIP-848 consumer groups, which fjord does not have; classic
//! groups ignore them on Kafka too.

use std::collections::BTreeMap;
use std::path::Path;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use super::types::ConfigType;

/// The single-node file, read only to seed a new metadata log.
const LEGACY_FILE: &str = "dynamic-configs.toml";

/// An error code and message.
pub type Outcome = (i16, Option<String>);

pub type Configs = BTreeMap<String, String>;

/// What a value must parse as.
#[derive(Clone, Copy)]
enum Kind {
    Long,
    /// An integer at least this large.
    Int(i64),
    /// A 16-bit integer at least this large.
    Short(i64),
    Double,
    Text,
    /// A comma-separated list.
    List,
}

impl Kind {
    fn config_type(self) -> ConfigType {
        match self {
            Kind::Long => ConfigType::Long,
            Kind::Int(_) => ConfigType::Int,
            Kind::Short(_) => ConfigType::Short,
            Kind::Double => ConfigType::Double,
            Kind::Text => ConfigType::String,
            Kind::List => ConfigType::List,
        }
    }

    /// Whether `value` is of this type (numbers: not empty, and in range).
    fn accepts(self, value: &str) -> bool {
        let at_least = |min: i64| value.trim().parse::<i64>().is_ok_and(|v| v >= min);
        self.config_type().parses(value)
            && match self {
                Kind::Int(min) | Kind::Short(min) => at_least(min),
                Kind::Long | Kind::Double => !value.trim().is_empty(),
                Kind::Text | Kind::List => true,
            }
    }
}

/// A broker config Kafka updates at run time: its name, type, Kafka's
/// default and a description.
pub struct DynamicSetting {
    pub name: &'static str,
    kind: Kind,
    pub default: &'static str,
    pub doc: &'static str,
}

impl DynamicSetting {
    /// Kafka's type for it (DescribeConfigs v3+).
    pub fn config_type(&self) -> ConfigType {
        self.kind.config_type()
    }
}

const fn dynamic(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> DynamicSetting {
    DynamicSetting {
        name,
        kind,
        default,
        doc,
    }
}

/// Kafka's dynamically updatable broker configs that fjord accepts (the
/// connection limits it enforces, the rest it stores).
pub const BROKER_DYNAMIC: &[DynamicSetting] = &[
    dynamic(
        "sasl.kerberos.kinit.cmd",
        Kind::Text,
        "/usr/bin/kinit",
        "Kerberos kinit command path (fjord has no GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.min.time.before.relogin",
        Kind::Long,
        "60000",
        "Login thread sleep between refresh attempts (fjord has no GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.principal.to.local.rules",
        Kind::List,
        "DEFAULT",
        "Rules mapping principal names to short names (fjord has no GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.ticket.renew.jitter",
        Kind::Double,
        "0.05",
        "Random jitter added to the renewal time (fjord has no GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.ticket.renew.window.factor",
        Kind::Double,
        "0.8",
        "Share of the ticket lifetime before renewal (fjord has no GSSAPI)",
    ),
    dynamic(
        "sasl.login.refresh.buffer.seconds",
        Kind::Short(0),
        "300",
        "Credential refresh buffer (a broker's own OAUTHBEARER login; fjord's brokers do not log in)",
    ),
    dynamic(
        "sasl.login.refresh.min.period.seconds",
        Kind::Short(0),
        "60",
        "Least wait between credential refreshes (a broker's own OAUTHBEARER login; fjord's brokers do not log in)",
    ),
    dynamic(
        "sasl.login.refresh.window.factor",
        Kind::Double,
        "0.8",
        "Share of the credential lifetime before refresh (a broker's own OAUTHBEARER login; fjord's brokers do not log in)",
    ),
    dynamic(
        "sasl.login.refresh.window.jitter",
        Kind::Double,
        "0.05",
        "Random jitter added to the refresh time (a broker's own OAUTHBEARER login; fjord's brokers do not log in)",
    ),
    dynamic(
        "background.threads",
        Kind::Int(1),
        "10",
        "Background processing threads (fjord is thread-per-core)",
    ),
    dynamic(
        "num.replica.fetchers",
        Kind::Int(1),
        "1",
        "Replica fetcher threads per source broker",
    ),
    dynamic(
        "num.recovery.threads.per.data.dir",
        Kind::Int(1),
        "2",
        "Log recovery threads per data directory (fjord is thread-per-core)",
    ),
    dynamic(
        "log.cleaner.threads",
        Kind::Int(0),
        "1",
        "Compaction threads (fjord compacts on each shard)",
    ),
    dynamic(
        "max.connections",
        Kind::Int(0),
        "2147483647",
        "Most client connections the broker keeps open; more are closed at accept",
    ),
    dynamic(
        "max.connections.per.ip",
        Kind::Int(0),
        "2147483647",
        "Most connections from one IP address; more are closed at accept",
    ),
    dynamic(
        "max.connections.per.ip.overrides",
        Kind::Text,
        "",
        "Per-address limits, ip:count,... (IP addresses, not host names)",
    ),
    dynamic(
        "max.connection.creation.rate",
        Kind::Int(0),
        "2147483647",
        "Most new connections per second (stored, not enforced)",
    ),
];

/// The run-time broker config called `name`.
pub fn broker_setting(name: &str) -> Option<&'static DynamicSetting> {
    BROKER_DYNAMIC.iter().find(|s| s.name == name)
}

/// One of Kafka's group configs.
pub struct GroupSetting {
    pub name: &'static str,
    /// The broker setting giving its default (Kafka's; not one of fjord's).
    pub broker_setting: &'static str,
    pub default: i64,
    /// The allowed range, inclusive.
    pub range: (i64, i64),
    pub doc: &'static str,
}

/// Kafka's group configs (all INT).
pub const GROUP_CONFIGS: &[GroupSetting] = &[
    GroupSetting {
        name: "consumer.session.timeout.ms",
        broker_setting: "group.consumer.session.timeout.ms",
        default: 45_000,
        range: (45_000, 60_000),
        doc: "Session timeout of the group's KIP-848 consumers",
    },
    GroupSetting {
        name: "consumer.heartbeat.interval.ms",
        broker_setting: "group.consumer.heartbeat.interval.ms",
        default: 5_000,
        range: (5_000, 15_000),
        doc: "Heartbeat interval of the group's KIP-848 consumers",
    },
];

/// Whose dynamic configs: one broker's, the cluster-wide broker default
/// (Kafka's BROKER resource named ""), or a group's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Broker(i32),
    ClusterDefault,
    Group(String),
}

/// How a request changes a target's configs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConfigEdit {
    /// AlterConfigs: exactly these, every other config back to its default.
    Replace(Configs),
    /// IncrementalAlterConfigs, in order: `Some` sets a value, `None`
    /// deletes the config (back to its default).
    Incremental(Vec<(String, Option<String>)>),
}

impl ConfigEdit {
    /// `current` after the edit.
    pub fn apply(&self, current: &Configs) -> Configs {
        match self {
            ConfigEdit::Replace(configs) => configs.clone(),
            ConfigEdit::Incremental(ops) => {
                let mut next = current.clone();
                for (name, value) in ops {
                    match value {
                        Some(value) => next.insert(name.clone(), value.clone()),
                        None => next.remove(name),
                    };
                }
                next
            }
        }
    }
}

/// Every target's dynamic configs, as the metadata image holds them. A
/// target without any is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicConfigState {
    #[serde(default)]
    pub brokers: BTreeMap<i32, Configs>,
    #[serde(default)]
    pub cluster_default: Configs,
    #[serde(default)]
    pub groups: BTreeMap<String, Configs>,
}

impl DynamicConfigState {
    /// The configs set on `target` (empty when none are).
    pub fn get(&self, target: &Target) -> Configs {
        match target {
            Target::Broker(id) => self.brokers.get(id).cloned().unwrap_or_default(),
            Target::ClusterDefault => self.cluster_default.clone(),
            Target::Group(id) => self.groups.get(id).cloned().unwrap_or_default(),
        }
    }

    /// Replaces `target`'s configs (applying a committed change).
    pub fn set(&mut self, target: &Target, configs: Configs) {
        match target {
            Target::Broker(id) if configs.is_empty() => {
                self.brokers.remove(id);
            }
            Target::Broker(id) => {
                self.brokers.insert(*id, configs);
            }
            Target::ClusterDefault => self.cluster_default = configs,
            Target::Group(id) if configs.is_empty() => {
                self.groups.remove(id);
            }
            Target::Group(id) => {
                self.groups.insert(id.clone(), configs);
            }
        }
    }
}

#[derive(Default, Deserialize)]
struct LegacyFile {
    #[serde(default)]
    broker: Configs,
    #[serde(default)]
    group: BTreeMap<String, Configs>,
}

/// Reads a single-node fjord's `dynamic-configs.toml` (none is empty): its
/// broker configs become broker `node_id`'s. A file that does not parse is
/// an error rather than a silent reset to defaults.
pub fn load_legacy(data_dir: &Path, node_id: i32) -> std::io::Result<DynamicConfigState> {
    let path = data_dir.join(LEGACY_FILE);
    let file: LegacyFile = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            let msg = format!("{}: {e}", path.display());
            std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LegacyFile::default(),
        Err(e) => return Err(e),
    };
    let mut state = DynamicConfigState::default();
    state.set(&Target::Broker(node_id), file.broker);
    for (group, configs) in file.group {
        state.set(&Target::Group(group), configs);
    }
    Ok(state)
}

fn invalid(error: ResponseError, message: String) -> Outcome {
    (error.code(), Some(message))
}

/// Kafka's checks: a known name and a value of its type (and range).
pub fn validate(target: &Target, configs: &Configs) -> Result<(), Outcome> {
    match target {
        Target::Broker(id) if *id < 0 => Err(invalid(
            ResponseError::InvalidRequest,
            format!("invalid broker id {id}"),
        )),
        Target::Broker(_) | Target::ClusterDefault => {
            configs.iter().try_for_each(|(k, v)| validate_broker(k, v))
        }
        Target::Group(id) if id.is_empty() => Err(invalid(
            ResponseError::InvalidRequest,
            "group id must not be empty".into(),
        )),
        Target::Group(_) => validate_group(configs),
    }
}

fn validate_broker(name: &str, value: &str) -> Result<(), Outcome> {
    let Some(setting) = broker_setting(name) else {
        let msg = format!(
            "{name} cannot be changed at run time: fjord's broker settings are static \
             (use --config or --set at start)"
        );
        return Err(invalid(ResponseError::InvalidRequest, msg));
    };
    let overrides = name == crate::quota::connections::MAX_CONNECTIONS_PER_IP_OVERRIDES;
    if overrides {
        return crate::quota::connections::parse_overrides(value)
            .map(|_| ())
            .map_err(|why| invalid(ResponseError::InvalidConfig, format!("{name}: {why}")));
    }
    if setting.kind.accepts(value) {
        Ok(())
    } else {
        let msg = format!("invalid value {value:?} for {name}");
        Err(invalid(ResponseError::InvalidConfig, msg))
    }
}

fn validate_group(configs: &Configs) -> Result<(), Outcome> {
    for (name, value) in configs {
        let Some(GroupSetting {
            range: (min, max), ..
        }) = GROUP_CONFIGS.iter().find(|c| c.name == name)
        else {
            let msg = format!("unknown group config {name}");
            return Err(invalid(ResponseError::InvalidConfig, msg));
        };
        match value.trim().parse::<i32>() {
            Ok(v) if (*min..=*max).contains(&i64::from(v)) => {}
            _ => {
                let msg = format!("{name} must be an integer in {min}..={max}, not {value:?}");
                return Err(invalid(ResponseError::InvalidConfig, msg));
            }
        }
    }
    let effective = |name: &str| {
        let default = GROUP_CONFIGS
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.default);
        configs
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    if effective("consumer.heartbeat.interval.ms") >= effective("consumer.session.timeout.ms") {
        let msg = "consumer.heartbeat.interval.ms must be below consumer.session.timeout.ms";
        return Err(invalid(ResponseError::InvalidConfig, msg.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> Configs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn code(result: Result<(), Outcome>) -> i16 {
        result.err().map_or(0, |o| o.0)
    }

    #[test]
    fn broker_and_group_configs_are_validated() {
        let broker = Target::Broker(0);
        let relogin = configs(&[("sasl.kerberos.min.time.before.relogin", "58000")]);
        assert_eq!(code(validate(&broker, &relogin)), 0);
        assert_eq!(code(validate(&Target::ClusterDefault, &relogin)), 0);
        let invalid_request = ResponseError::InvalidRequest.code();
        assert_eq!(
            code(validate(&Target::Broker(-1), &relogin)),
            invalid_request
        );
        let static_setting = configs(&[("log.retention.ms", "1000")]);
        assert_eq!(code(validate(&broker, &static_setting)), invalid_request);
        let invalid_config = ResponseError::InvalidConfig.code();
        let bad_value = configs(&[("background.threads", "0")]);
        assert_eq!(code(validate(&broker, &bad_value)), invalid_config);

        let group = Target::Group("g".into());
        let session = configs(&[("consumer.session.timeout.ms", "50000")]);
        assert_eq!(code(validate(&group, &session)), 0);
        let too_short = configs(&[("consumer.session.timeout.ms", "1000")]);
        assert_eq!(code(validate(&group, &too_short)), invalid_config);
        let unknown = configs(&[("session.timeout.ms", "50000")]);
        assert_eq!(code(validate(&group, &unknown)), invalid_config);
        let unnamed = Target::Group(String::new());
        assert_eq!(code(validate(&unnamed, &session)), invalid_request);
    }

    #[test]
    fn edits_replace_or_set_and_delete() {
        let current = configs(&[("a", "1"), ("b", "2")]);
        let replace = ConfigEdit::Replace(configs(&[("c", "3")]));
        assert_eq!(replace.apply(&current), configs(&[("c", "3")]));
        let ops = ConfigEdit::Incremental(vec![
            ("a".into(), None),
            ("c".into(), Some("3".into())),
            ("b".into(), Some("4".into())),
        ]);
        assert_eq!(ops.apply(&current), configs(&[("b", "4"), ("c", "3")]));
    }

    #[test]
    fn state_keeps_each_target_apart_and_forgets_empty_ones() {
        let mut state = DynamicConfigState::default();
        let one = configs(&[("max.connections", "10")]);
        state.set(&Target::Broker(1), one.clone());
        state.set(&Target::Group("g".into()), one.clone());
        assert_eq!(state.get(&Target::Broker(1)), one);
        assert!(state.get(&Target::Broker(2)).is_empty());
        assert!(state.get(&Target::ClusterDefault).is_empty());
        state.set(&Target::Group("g".into()), Configs::new());
        state.set(&Target::Broker(1), Configs::new());
        assert_eq!(state, DynamicConfigState::default());
    }

    #[test]
    fn the_single_node_file_seeds_this_broker_and_the_groups() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load_legacy(dir.path(), 3).unwrap(),
            DynamicConfigState::default()
        );
        std::fs::write(
            dir.path().join(LEGACY_FILE),
            "[broker]\n\"max.connections\" = \"10\"\n\n[group.g]\n\"consumer.session.timeout.ms\" = \"50000\"\n",
        )
        .unwrap();
        let state = load_legacy(dir.path(), 3).unwrap();
        assert_eq!(
            state.get(&Target::Broker(3)),
            configs(&[("max.connections", "10")])
        );
        assert_eq!(
            state.get(&Target::Group("g".into())),
            configs(&[("consumer.session.timeout.ms", "50000")])
        );
        std::fs::write(dir.path().join(LEGACY_FILE), "broker = 3").unwrap();
        assert!(load_legacy(dir.path(), 3).is_err());
    }

    #[test]
    fn kafkas_defaults_are_valid_values() {
        for s in BROKER_DYNAMIC {
            assert!(validate_broker(s.name, s.default).is_ok(), "{}", s.name);
            assert!(!s.doc.is_empty(), "{}", s.name);
        }
        assert!(validate_broker("sasl.login.refresh.buffer.seconds", "40000").is_err());
        assert!(validate_broker("sasl.kerberos.min.time.before.relogin", "").is_err());
        assert!(validate_broker("sasl.kerberos.ticket.renew.jitter", " ").is_err());
        assert!(validate_broker("max.connections.per.ip.overrides", "127.0.0.1:3").is_ok());
        assert!(validate_broker("max.connections.per.ip.overrides", "localhost:3").is_err());
        assert_eq!(
            broker_setting("background.threads").map(|s| s.config_type()),
            Some(ConfigType::Int)
        );
    }
}
