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
    Double,
    Text,
}

/// Kafka's dynamically updatable broker configs that fjord stores without
/// acting on them.
const BROKER_DYNAMIC: &[(&str, Kind)] = &[
    ("sasl.kerberos.kinit.cmd", Kind::Text),
    ("sasl.kerberos.min.time.before.relogin", Kind::Long),
    ("sasl.kerberos.principal.to.local.rules", Kind::Text),
    ("sasl.kerberos.ticket.renew.jitter", Kind::Double),
    ("sasl.kerberos.ticket.renew.window.factor", Kind::Double),
    ("sasl.login.refresh.buffer.seconds", Kind::Int(0)),
    ("sasl.login.refresh.min.period.seconds", Kind::Int(0)),
    ("sasl.login.refresh.window.factor", Kind::Double),
    ("sasl.login.refresh.window.jitter", Kind::Double),
    ("background.threads", Kind::Int(1)),
    ("num.replica.fetchers", Kind::Int(1)),
    ("num.recovery.threads.per.data.dir", Kind::Int(1)),
    ("log.cleaner.threads", Kind::Int(0)),
    ("max.connections", Kind::Int(0)),
    ("max.connections.per.ip", Kind::Int(0)),
    ("max.connection.creation.rate", Kind::Int(0)),
];

/// Kafka's group configs: (name, the broker setting giving the default,
/// its default, allowed range).
pub const GROUP_CONFIGS: &[(&str, &str, i64, (i64, i64))] = &[
    (
        "consumer.session.timeout.ms",
        "group.consumer.session.timeout.ms",
        45_000,
        (45_000, 60_000),
    ),
    (
        "consumer.heartbeat.interval.ms",
        "group.consumer.heartbeat.interval.ms",
        5_000,
        (5_000, 15_000),
    ),
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
    let Some((_, kind)) = BROKER_DYNAMIC.iter().find(|(n, _)| *n == name) else {
        let msg = format!(
            "{name} cannot be changed at run time: fjord's broker settings are static \
             (use --config or --set at start)"
        );
        return Err(invalid(ResponseError::InvalidRequest, msg));
    };
    let ok = match kind {
        Kind::Long => value.trim().parse::<i64>().is_ok(),
        Kind::Int(min) => value
            .trim()
            .parse::<i32>()
            .is_ok_and(|v| i64::from(v) >= *min),
        Kind::Double => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
        Kind::Text => true,
    };
    if ok {
        Ok(())
    } else {
        let msg = format!("invalid value {value:?} for {name}");
        Err(invalid(ResponseError::InvalidConfig, msg))
    }
}

fn validate_group(configs: &Configs) -> Result<(), Outcome> {
    for (name, value) in configs {
        let Some((_, _, _, (min, max))) = GROUP_CONFIGS.iter().find(|c| c.0 == name) else {
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
            .find(|c| c.0 == name)
            .map_or(0, |c| c.2);
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
}
