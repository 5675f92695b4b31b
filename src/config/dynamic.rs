//! Configs set at run time on a BROKER or GROUP resource through
//! AlterConfigs / IncrementalAlterConfigs, and shown by DescribeConfigs.
//!
//! Owns: this broker's dynamic overrides and each group's configs. Only the
//! controller shard holds them (`Shard::dynamic_configs`); other shards ask
//! it. Every change is written to `DATA_DIR/dynamic-configs.toml`
//! (atomically, synced) before it is acknowledged.
//!
//! Must not: change how fjord behaves. A broker setting fjord acts on stays
//! static (`--config`/`--set`) and is refused here; the broker names
//! accepted are ones Kafka updates at run time and that mean nothing to
//! fjord (Kerberos/SASL login tuning — fjord has no SASL — thread pool
//! sizes, connection limits), stored and described only. Group configs
//! (`consumer.session.timeout.ms`, `consumer.heartbeat.interval.ms`) govern
//! KIP-848 consumer groups, which fjord does not have; classic groups ignore
//! them on Kafka too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use super::types::ConfigType;

const FILE: &str = "dynamic-configs.toml";

/// An error code and message.
pub type Outcome = (i16, Option<String>);

type Configs = BTreeMap<String, String>;

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

/// A broker config Kafka updates at run time, which fjord stores without
/// acting on: its name, type, Kafka's default and a description.
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

/// Kafka's dynamically updatable broker configs that fjord stores without
/// acting on them.
pub const BROKER_DYNAMIC: &[DynamicSetting] = &[
    dynamic(
        "sasl.kerberos.kinit.cmd",
        Kind::Text,
        "/usr/bin/kinit",
        "Kerberos kinit command path (fjord has no SASL/GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.min.time.before.relogin",
        Kind::Long,
        "60000",
        "Login thread sleep between refresh attempts (fjord has no SASL/GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.principal.to.local.rules",
        Kind::List,
        "DEFAULT",
        "Rules mapping principal names to short names (fjord has no SASL/GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.ticket.renew.jitter",
        Kind::Double,
        "0.05",
        "Random jitter added to the renewal time (fjord has no SASL/GSSAPI)",
    ),
    dynamic(
        "sasl.kerberos.ticket.renew.window.factor",
        Kind::Double,
        "0.8",
        "Share of the ticket lifetime before renewal (fjord has no SASL/GSSAPI)",
    ),
    dynamic(
        "sasl.login.refresh.buffer.seconds",
        Kind::Short(0),
        "300",
        "Credential refresh buffer (fjord has no SASL/OAUTHBEARER)",
    ),
    dynamic(
        "sasl.login.refresh.min.period.seconds",
        Kind::Short(0),
        "60",
        "Least wait between credential refreshes (fjord has no SASL/OAUTHBEARER)",
    ),
    dynamic(
        "sasl.login.refresh.window.factor",
        Kind::Double,
        "0.8",
        "Share of the credential lifetime before refresh (fjord has no SASL/OAUTHBEARER)",
    ),
    dynamic(
        "sasl.login.refresh.window.jitter",
        Kind::Double,
        "0.05",
        "Random jitter added to the refresh time (fjord has no SASL/OAUTHBEARER)",
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
        "Most connections the broker allows",
    ),
    dynamic(
        "max.connections.per.ip",
        Kind::Int(0),
        "2147483647",
        "Most connections from one IP address",
    ),
    dynamic(
        "max.connection.creation.rate",
        Kind::Int(0),
        "2147483647",
        "Most new connections per second",
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

/// Which dynamic configs a call is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Broker,
    Group(String),
}

/// A call to the controller's dynamic configs.
#[derive(Clone, Debug)]
pub enum DynamicCall {
    Get(Target),
    Set {
        target: Target,
        configs: Configs,
        validate_only: bool,
    },
}

/// The answer to a [`DynamicCall`], variant for variant.
#[derive(Clone, Debug)]
pub enum DynamicReply {
    Current(Configs),
    Set(Outcome),
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    broker: Configs,
    #[serde(default)]
    group: BTreeMap<String, Configs>,
}

pub struct DynamicConfigs {
    path: PathBuf,
    state: File,
}

fn invalid(error: ResponseError, message: String) -> Outcome {
    (error.code(), Some(message))
}

impl DynamicConfigs {
    /// Reads the stored overrides. A file that does not parse is an error
    /// rather than a silent reset to defaults.
    pub fn load(data_dir: &Path) -> std::io::Result<DynamicConfigs> {
        let path = data_dir.join(FILE);
        let state = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                let msg = format!("{}: {e}", path.display());
                std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(e),
        };
        Ok(DynamicConfigs { path, state })
    }

    /// Controller: runs `call`.
    pub fn handle(&mut self, call: DynamicCall) -> DynamicReply {
        match call {
            DynamicCall::Get(target) => DynamicReply::Current(self.get(&target)),
            DynamicCall::Set {
                target,
                configs,
                validate_only,
            } => DynamicReply::Set(self.set(&target, configs, validate_only)),
        }
    }

    /// The overrides of `target` (empty when none are set).
    pub fn get(&self, target: &Target) -> Configs {
        match target {
            Target::Broker => self.state.broker.clone(),
            Target::Group(id) => self.state.group.get(id).cloned().unwrap_or_default(),
        }
    }

    /// Replaces `target`'s overrides with `configs` once every one is valid.
    pub fn set(&mut self, target: &Target, configs: Configs, validate_only: bool) -> Outcome {
        if let Err(outcome) = validate(target, &configs) {
            return outcome;
        }
        if validate_only || self.get(target) == configs {
            return (0, None);
        }
        let mut next = File {
            broker: self.state.broker.clone(),
            group: self.state.group.clone(),
        };
        match target {
            Target::Broker => next.broker = configs,
            Target::Group(id) if configs.is_empty() => {
                next.group.remove(id);
            }
            Target::Group(id) => {
                next.group.insert(id.clone(), configs);
            }
        }
        if let Err(e) = write(&self.path, &next) {
            tracing::error!("writing dynamic configs: {e}");
            return invalid(ResponseError::KafkaStorageError, e.to_string());
        }
        tracing::info!(?target, "dynamic configs changed");
        self.state = next;
        (0, None)
    }
}

/// Kafka's checks: a known name and a value of its type (and range).
pub fn validate(target: &Target, configs: &Configs) -> Result<(), Outcome> {
    match target {
        Target::Broker => configs.iter().try_for_each(|(k, v)| validate_broker(k, v)),
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

/// Writes the file aside, syncs it, renames it over the old one and syncs
/// the directory.
fn write(path: &Path, state: &File) -> std::io::Result<()> {
    let text = toml::to_string(state).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
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

    #[test]
    fn broker_and_group_configs_are_validated_stored_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = DynamicConfigs::load(dir.path()).unwrap();
        let broker = configs(&[("sasl.kerberos.min.time.before.relogin", "58000")]);
        assert_eq!(store.set(&Target::Broker, broker.clone(), false).0, 0);
        let static_setting = configs(&[("log.retention.ms", "1000")]);
        let invalid_request = ResponseError::InvalidRequest.code();
        assert_eq!(
            store.set(&Target::Broker, static_setting, false).0,
            invalid_request
        );
        let bad_value = configs(&[("background.threads", "0")]);
        let invalid_config = ResponseError::InvalidConfig.code();
        assert_eq!(
            store.set(&Target::Broker, bad_value, false).0,
            invalid_config
        );

        let group = Target::Group("g".into());
        let session = configs(&[("consumer.session.timeout.ms", "50000")]);
        assert_eq!(store.set(&group, session.clone(), false).0, 0);
        let too_short = configs(&[("consumer.session.timeout.ms", "1000")]);
        assert_eq!(store.set(&group, too_short, false).0, invalid_config);
        let unknown = configs(&[("session.timeout.ms", "50000")]);
        assert_eq!(store.set(&group, unknown, false).0, invalid_config);

        let reloaded = DynamicConfigs::load(dir.path()).unwrap();
        assert_eq!(reloaded.get(&Target::Broker), broker);
        assert_eq!(reloaded.get(&group), session);
        assert!(reloaded.get(&Target::Group("other".into())).is_empty());
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
        assert_eq!(
            broker_setting("background.threads").map(|s| s.config_type()),
            Some(ConfigType::Int)
        );
    }
}
