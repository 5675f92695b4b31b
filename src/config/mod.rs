//! Broker settings, by Kafka's names, from a TOML file and `--set name=value`.
//!
//! One table lists every setting fjord accepts: its Kafka name, type,
//! default and documentation. Values are kept as validated strings in that
//! table and parsed into the typed fields of [`BrokerConfig`] once, at load.
//! Unknown names and bad values are errors at start, naming the setting.
//! What DescribeConfigs shows of them is in [`describe`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown setting '{0}'")]
    UnknownSetting(String),
    #[error("invalid value '{value}' for {name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("config file: {0}")]
    File(String),
    #[error("--set {0}: expected name=value")]
    BadOverride(String),
}

pub mod describe;
pub mod dynamic;
pub mod listeners;
pub mod replication;
pub mod security;
mod settings;
pub mod topic;
pub mod transactions;
mod types;
pub use replication::ReplicationConfig;
pub use security::SecurityConfig;
use settings::SETTINGS;
pub use transactions::TransactionConfig;
pub use types::ConfigType;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<&'static str, String>,
    /// The settings given by file or `--set` (the rest are defaults).
    explicit: BTreeSet<&'static str>,
    /// The listeners as bound and as advertised, once bound
    /// (DescribeConfigs' `listeners` and `advertised.listeners`).
    bound_listeners: Option<(String, String)>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub log_segment_bytes: u64,
    pub log_roll_ms: u64,
    pub log_index_interval_bytes: u64,
    pub log_index_size_max_bytes: u64,
    pub log_flush_interval_messages: Option<u64>,
    pub log_flush_interval_ms: Option<u64>,
    pub socket_request_max_bytes: usize,
    pub node_id: i32,
    pub partition_cache_bytes: usize,
    /// fjord.batch.cache.bytes: the hot-tail cache budget of each shard.
    pub batch_cache_bytes: usize,
    pub max_inflight_requests_per_connection: usize,
    /// fjord.fd.reserve: descriptors kept out of the partition files'
    /// budget (see `crate::descriptors`).
    pub fd_reserve: u64,
    /// fjord.fetch.splice: cold reads leave the page cache by splice(2).
    pub fetch_splice: bool,
    /// quota.window.num and quota.window.size.seconds (client quotas).
    pub quota_window_num: u32,
    pub quota_window_size_seconds: u32,
    pub group: GroupConfig,
    pub cluster: ClusterConfig,
    pub replication: ReplicationConfig,
    pub transactions: TransactionConfig,
    pub security: SecurityConfig,
}

/// Membership and quorum settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub broker: bool,
    pub controller: bool,
    /// (node id, host:port of its controller listener); empty: this node
    /// is the only voter.
    pub voters: Vec<(i32, String)>,
    pub rack: Option<String>,
    pub heartbeat_interval_ms: u64,
    pub session_timeout_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_bytes: u64,
    /// unclean.leader.election.enable: the default of topics without it.
    pub unclean_leader_election: bool,
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_ms: u64,
    pub leader_imbalance_per_broker_percentage: u32,
}

/// Consumer group coordinator settings (Kafka's names, milliseconds/bytes).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i64,
    pub max_session_timeout_ms: i64,
    pub offsets_topic_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_ms: i64,
}

/// One broker setting's value (DescribeConfigs uses [`describe`]).
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    /// Not given by file or `--set`.
    pub is_default: bool,
    pub doc: &'static str,
}

impl BrokerConfig {
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut values: BTreeMap<&'static str, String> = SETTINGS
            .iter()
            .map(|s| (s.name, s.default.to_string()))
            .collect();
        let mut explicit = BTreeSet::new();
        let mut per_listener = BTreeMap::new();
        let mut assign = |values: &mut BTreeMap<&'static str, String>,
                          explicit: &mut BTreeSet<&'static str>,
                          name: &str,
                          value: String| {
            let lower = name.to_ascii_lowercase();
            if security::is_listener_override(&lower) {
                per_listener.insert(lower, value);
                return Ok(());
            }
            set(values, explicit, name, value)
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
            let mut flat = Vec::new();
            flatten("", &table, &mut flat);
            for (name, value) in flat {
                assign(&mut values, &mut explicit, &name, value)?;
            }
        }
        for item in overrides {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(item.clone()))?;
            let value = value.trim().to_string();
            assign(&mut values, &mut explicit, name.trim(), value)?;
        }
        BrokerConfig::from_values(values, explicit, per_listener)
    }

    fn from_values(
        values: BTreeMap<&'static str, String>,
        explicit: BTreeSet<&'static str>,
        listener_overrides: BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let get = |n: &str| values.get(n).cloned().unwrap_or_default();
        let roll_ms = match get("log.roll.ms").as_str() {
            "" => parse::<u64>("log.roll.hours", &get("log.roll.hours"))? * 3_600_000,
            v => parse::<u64>("log.roll.ms", v)?,
        };
        let node_id = if get("node.id") != "0" {
            "node.id"
        } else {
            "broker.id"
        };
        let cfg = BrokerConfig {
            num_partitions: parse("num.partitions", &get("num.partitions"))?,
            default_replication_factor: parse(
                "default.replication.factor",
                &get("default.replication.factor"),
            )?,
            auto_create_topics_enable: parse(
                "auto.create.topics.enable",
                &get("auto.create.topics.enable"),
            )?,
            log_segment_bytes: parse("log.segment.bytes", &get("log.segment.bytes"))?,
            log_roll_ms: roll_ms,
            log_index_interval_bytes: parse(
                "log.index.interval.bytes",
                &get("log.index.interval.bytes"),
            )?,
            log_index_size_max_bytes: parse(
                "log.index.size.max.bytes",
                &get("log.index.size.max.bytes"),
            )?,
            log_flush_interval_messages: optional(
                "log.flush.interval.messages",
                &get("log.flush.interval.messages"),
            )?,
            log_flush_interval_ms: optional(
                "log.flush.interval.ms",
                &get("log.flush.interval.ms"),
            )?,
            socket_request_max_bytes: parse(
                "socket.request.max.bytes",
                &get("socket.request.max.bytes"),
            )?,
            node_id: parse(node_id, &get(node_id))?,
            partition_cache_bytes: parse(
                "fjord.partition.cache.bytes",
                &get("fjord.partition.cache.bytes"),
            )?,
            batch_cache_bytes: parse("fjord.batch.cache.bytes", &get("fjord.batch.cache.bytes"))?,
            max_inflight_requests_per_connection: parse(
                "fjord.max.inflight.requests.per.connection",
                &get("fjord.max.inflight.requests.per.connection"),
            )?,
            fetch_splice: parse("fjord.fetch.splice", &get("fjord.fetch.splice"))?,
            fd_reserve: parse("fjord.fd.reserve", &get("fjord.fd.reserve"))?,
            quota_window_num: parse("quota.window.num", &get("quota.window.num"))?,
            quota_window_size_seconds: parse(
                "quota.window.size.seconds",
                &get("quota.window.size.seconds"),
            )?,
            group: group_config(&get)?,
            cluster: cluster_config(&get)?,
            replication: replication::replication_config(&get)?,
            transactions: transactions::transaction_config(&get)?,
            security: security::security_config(&get, &listener_overrides)?,
            values,
            explicit,
            bound_listeners: None,
        };
        let positive = [
            ("num.partitions", cfg.num_partitions as i64),
            ("log.segment.bytes", cfg.log_segment_bytes as i64 - 13),
            (
                "socket.request.max.bytes",
                cfg.socket_request_max_bytes as i64,
            ),
            (
                "log.index.interval.bytes",
                cfg.log_index_interval_bytes as i64,
            ),
            ("quota.window.num", i64::from(cfg.quota_window_num)),
            (
                "quota.window.size.seconds",
                i64::from(cfg.quota_window_size_seconds),
            ),
        ];
        for (name, v) in positive {
            if v < 1 {
                return Err(invalid(name, &get_value(&cfg.values, name), "too small"));
            }
        }
        let policy = get_value(&cfg.values, "log.cleanup.policy");
        if !matches!(
            policy.as_str(),
            "delete" | "compact" | "compact,delete" | "delete,compact"
        ) {
            return Err(invalid(
                "log.cleanup.policy",
                &policy,
                "expected delete, compact or compact,delete",
            ));
        }
        // The defaults topics take must be valid topic values.
        for d in cfg.topic_defaults() {
            topic::validate(d.name, &d.value)
                .map_err(|reason| invalid(d.synonym, &d.value, &reason))?;
        }
        let ts = get_value(&cfg.values, "log.message.timestamp.type");
        if !matches!(ts.as_str(), "CreateTime" | "LogAppendTime") {
            return Err(invalid(
                "log.message.timestamp.type",
                &ts,
                "expected CreateTime or LogAppendTime",
            ));
        }
        Ok(cfg)
    }

    /// A partition's cap within its shard's cache budget (0 in the
    /// setting: no cap).
    pub fn partition_cache_bytes(&self) -> usize {
        match self.partition_cache_bytes {
            0 => usize::MAX,
            cap => cap,
        }
    }

    /// Every setting in table order with its value.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        SETTINGS
            .iter()
            .map(|s| ConfigEntry {
                name: s.name,
                value: get_value(&self.values, s.name),
                is_default: !self.explicit.contains(s.name),
                doc: s.doc,
            })
            .collect()
    }

    /// The config with its listeners as bound and as advertised, in
    /// Kafka's `NAME://host:port,...` form (DescribeConfigs shows them).
    pub fn with_listeners(mut self, bound: String, advertised: String) -> BrokerConfig {
        self.bound_listeners = Some((bound, advertised));
        self
    }
}

fn get_value(values: &BTreeMap<&'static str, String>, name: &str) -> String {
    values.get(name).cloned().unwrap_or_default()
}

/// Gives setting `name` the `value` from the file or `--set`: a known name
/// and a value of its type. node.id and broker.id are one setting.
fn set(
    values: &mut BTreeMap<&'static str, String>,
    explicit: &mut BTreeSet<&'static str>,
    name: &str,
    value: String,
) -> Result<(), ConfigError> {
    let Some(known) = settings::find(name) else {
        return Err(ConfigError::UnknownSetting(name.to_string()));
    };
    if !known.kind.parses(&value) {
        let expected = format!("expected {:?}", known.kind).to_lowercase();
        return Err(invalid(name, &value, &expected));
    }
    let names = match known.name {
        "node.id" | "broker.id" => &["node.id", "broker.id"][..],
        _ => std::slice::from_ref(&known.name),
    };
    for &name in names {
        values.insert(name, value.clone());
        explicit.insert(name);
    }
    Ok(())
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => flatten(&name, t, out),
            toml::Value::String(s) => out.push((name, s.clone())),
            other => out.push((name, other.to_string())),
        }
    }
}

fn invalid(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| invalid(name, value, &e.to_string()))
}

fn group_config(get: &dyn Fn(&str) -> String) -> Result<GroupConfig, ConfigError> {
    let num = |name: &str| parse::<i64>(name, &get(name));
    Ok(GroupConfig {
        initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms")?,
        min_session_timeout_ms: num("group.min.session.timeout.ms")?,
        max_session_timeout_ms: num("group.max.session.timeout.ms")?,
        offsets_topic_partitions: parse(
            "offsets.topic.num.partitions",
            &get("offsets.topic.num.partitions"),
        )?,
        offsets_topic_replication_factor: parse(
            "offsets.topic.replication.factor",
            &get("offsets.topic.replication.factor"),
        )?,
        offset_metadata_max_bytes: parse(
            "offset.metadata.max.bytes",
            &get("offset.metadata.max.bytes"),
        )?,
        offsets_retention_ms: num("offsets.retention.minutes")? * 60_000,
        offsets_retention_check_ms: num("offsets.retention.check.interval.ms")?,
    })
}

fn cluster_config(get: &dyn Fn(&str) -> String) -> Result<ClusterConfig, ConfigError> {
    let roles = get("process.roles");
    let roles: Vec<&str> = roles.split(',').map(str::trim).collect();
    if roles.is_empty() || !roles.iter().all(|r| matches!(*r, "broker" | "controller")) {
        return Err(invalid(
            "process.roles",
            &get("process.roles"),
            "expected broker, controller or broker,controller",
        ));
    }
    let voters_text = get("controller.quorum.voters");
    let mut voters = Vec::new();
    for voter in voters_text
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let parsed = voter.split_once('@').and_then(|(id, addr)| {
            let id = id.trim().parse::<i32>().ok().filter(|id| *id >= 0)?;
            addr.rsplit_once(':')?.1.parse::<u16>().ok()?;
            Some((id, addr.trim().to_string()))
        });
        match parsed {
            Some(v) if !voters.iter().any(|(id, _)| *id == v.0) => voters.push(v),
            _ => {
                return Err(invalid(
                    "controller.quorum.voters",
                    &voters_text,
                    "expected id@host:port,... with distinct ids",
                ))
            }
        }
    }
    let rack = Some(get("broker.rack")).filter(|r| !r.is_empty());
    Ok(ClusterConfig {
        broker: roles.contains(&"broker"),
        controller: roles.contains(&"controller"),
        voters,
        rack,
        heartbeat_interval_ms: parse(
            "broker.heartbeat.interval.ms",
            &get("broker.heartbeat.interval.ms"),
        )?,
        session_timeout_ms: parse(
            "broker.session.timeout.ms",
            &get("broker.session.timeout.ms"),
        )?,
        election_timeout_ms: parse(
            "controller.quorum.election.timeout.ms",
            &get("controller.quorum.election.timeout.ms"),
        )?,
        snapshot_bytes: parse(
            "metadata.log.max.record.bytes.between.snapshots",
            &get("metadata.log.max.record.bytes.between.snapshots"),
        )?,
        unclean_leader_election: parse(
            "unclean.leader.election.enable",
            &get("unclean.leader.election.enable"),
        )?,
        auto_leader_rebalance: parse(
            "auto.leader.rebalance.enable",
            &get("auto.leader.rebalance.enable"),
        )?,
        leader_imbalance_check_interval_ms: parse::<u64>(
            "leader.imbalance.check.interval.seconds",
            &get("leader.imbalance.check.interval.seconds"),
        )?
        .saturating_mul(1000),
        leader_imbalance_per_broker_percentage: parse(
            "leader.imbalance.per.broker.percentage",
            &get("leader.imbalance.per.broker.percentage"),
        )?,
    })
}

fn optional(name: &str, value: &str) -> Result<Option<u64>, ConfigError> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(name, value).map(Some)
    }
}

/// `--cores`: a shard count ("2") or a CPU list ("0,2-3").
pub enum CoreSpec {
    Count(usize),
    List(Vec<usize>),
}

pub fn parse_core_list(text: &str) -> Result<CoreSpec, ConfigError> {
    let bad = |reason: &str| invalid("--cores", text, reason);
    if !text.contains([',', '-']) {
        return text
            .trim()
            .parse()
            .map(CoreSpec::Count)
            .map_err(|_| bad("not a number"));
    }
    let mut cpus = Vec::new();
    for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match piece.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.parse().map_err(|_| bad("bad range"))?,
                    b.parse().map_err(|_| bad("bad range"))?,
                );
                if a > b {
                    return Err(bad("range runs backwards"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(piece.parse().map_err(|_| bad("bad CPU number"))?),
        }
    }
    Ok(CoreSpec::List(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let cfg = BrokerConfig::load(None, &[]).unwrap();
        assert_eq!(cfg.num_partitions, 1);
        assert_eq!(cfg.log_flush_interval_messages, None);
        let cfg = BrokerConfig::load(None, &["num.partitions=4".into()]).unwrap();
        assert_eq!(cfg.num_partitions, 4);
    }

    #[test]
    fn file_then_set_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fjord.toml");
        std::fs::write(
            &path,
            "\"num.partitions\" = 3\n[log]\n\"segment.bytes\" = 2000000\n",
        )
        .unwrap();
        let cfg = BrokerConfig::load(Some(&path), &["num.partitions=5".into()]).unwrap();
        assert_eq!(cfg.num_partitions, 5);
        assert_eq!(cfg.log_segment_bytes, 2_000_000);
    }

    #[test]
    fn unknown_and_bad_values_are_named() {
        let e = BrokerConfig::load(None, &["no.such.thing=1".into()]).unwrap_err();
        assert!(e.to_string().contains("no.such.thing"));
        let e = BrokerConfig::load(None, &["num.partitions=zero".into()]).unwrap_err();
        assert!(e.to_string().contains("num.partitions"));
    }

    #[test]
    fn values_must_be_of_the_settings_type() {
        // Settings fjord only stores are checked too.
        let e = BrokerConfig::load(None, &["socket.send.buffer.bytes=big".into()]).unwrap_err();
        assert!(e.to_string().contains("socket.send.buffer.bytes"), "{e}");
        let e = BrokerConfig::load(None, &["log.segment.bytes=4294967296".into()]).unwrap_err();
        assert!(e.to_string().contains("expected int"), "{e}");
    }

    #[test]
    fn log_roll_hours_applies_unless_ms_is_given() {
        let cfg = BrokerConfig::load(None, &["log.roll.hours=1".into()]).unwrap();
        assert_eq!(cfg.log_roll_ms, 3_600_000);
        let both = ["log.roll.hours=1".into(), "log.roll.ms=5000".into()];
        assert_eq!(BrokerConfig::load(None, &both).unwrap().log_roll_ms, 5000);
        let default = BrokerConfig::load(None, &[]).unwrap();
        assert_eq!(default.log_roll_ms, 168 * 3_600_000);
    }

    #[test]
    fn core_lists() {
        assert!(matches!(parse_core_list("2").unwrap(), CoreSpec::Count(2)));
        match parse_core_list("0,2-3").unwrap() {
            CoreSpec::List(l) => assert_eq!(l, vec![0, 2, 3]),
            CoreSpec::Count(_) => panic!("expected a list"),
        }
    }
}
