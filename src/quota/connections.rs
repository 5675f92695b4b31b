//! Connection limits: `max.connections` (the broker's), `max.connections.per.ip`
//! and `max.connections.per.ip.overrides` (`host:count,...`), from the
//! dynamic broker configs of the metadata image — this broker's entry,
//! then the cluster default, then Kafka's default (no limit) — and the
//! counts they are checked against.
//!
//! The counts are the broker's, kept exactly in one place (the controller
//! shard; see `shard::connection_limits` for the messages): a per-IP limit
//! split across shards would let a client through or not depending on
//! which shard SO_REUSEPORT hashed each connection to. A connection over a
//! limit is closed at once (Kafka closes per-IP excess too, and makes a
//! connection over `max.connections` wait; fjord closes it as well).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// Config name → value, as the image keeps a target's dynamic configs.
pub type Configs = std::collections::BTreeMap<String, String>;

pub const MAX_CONNECTIONS: &str = "max.connections";
pub const MAX_CONNECTIONS_PER_IP: &str = "max.connections.per.ip";
pub const MAX_CONNECTIONS_PER_IP_OVERRIDES: &str = "max.connections.per.ip.overrides";

/// Kafka's default for both counts: no limit.
const UNLIMITED: u32 = i32::MAX as u32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: u32,
    pub per_ip: u32,
    pub overrides: HashMap<IpAddr, u32>,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: UNLIMITED,
            per_ip: UNLIMITED,
            overrides: HashMap::new(),
        }
    }
}

impl ConnectionLimits {
    /// The limits from a broker's own dynamic configs and the cluster
    /// default's. Values that do not parse (never accepted by the
    /// controller) count as unset.
    pub fn from_configs(broker: &Configs, cluster: &Configs) -> ConnectionLimits {
        let value = |name: &str| broker.get(name).or_else(|| cluster.get(name));
        let count = |name: &str| {
            value(name)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .map_or(UNLIMITED, |v| v.min(UNLIMITED))
        };
        ConnectionLimits {
            max_connections: count(MAX_CONNECTIONS),
            per_ip: count(MAX_CONNECTIONS_PER_IP),
            overrides: value(MAX_CONNECTIONS_PER_IP_OVERRIDES)
                .and_then(|v| parse_overrides(v).ok())
                .unwrap_or_default(),
        }
    }

    /// Whether nothing is limited (then connections are only counted).
    pub fn is_unlimited(&self) -> bool {
        *self == ConnectionLimits::default()
    }

    pub fn per_ip_limit(&self, ip: &IpAddr) -> u32 {
        self.overrides.get(ip).copied().unwrap_or(self.per_ip)
    }
}

/// `host:count,...` with IP addresses as hosts (Kafka also resolves host
/// names, which a config check must not do here). IPv6 addresses may be
/// bracketed; the count is after the last colon.
pub fn parse_overrides(text: &str) -> Result<HashMap<IpAddr, u32>, String> {
    let mut out = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, count)) = entry.rsplit_once(':') else {
            return Err(format!("{entry:?} is not host:count"));
        };
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("{host:?} is not an IP address"))?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|c| *c <= UNLIMITED)
            .ok_or_else(|| format!("{count:?} is not a connection count"))?;
        out.insert(ip, count);
    }
    Ok(out)
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `max.connections` reached.
    Broker(u32),
    /// This address's limit reached.
    Ip(u32),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Broker(n) => write!(f, "max.connections ({n}) reached"),
            Refused::Ip(n) => write!(f, "max.connections.per.ip ({n}) reached for this address"),
        }
    }
}

/// Open connections, in total and by address.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

impl ConnectionCounts {
    /// Counts a new connection from `ip`, unless `limits` (when enforced)
    /// refuse it: the address's limit first, then the broker's, as Kafka
    /// checks them. A `protected` connection (Kafka's inter-broker
    /// listener) is not held to the broker's.
    pub fn open(
        &mut self,
        ip: IpAddr,
        limits: Option<&ConnectionLimits>,
        protected: bool,
    ) -> Result<(), Refused> {
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if let Some(limits) = limits {
            let per_ip = limits.per_ip_limit(&ip);
            if from_ip >= per_ip {
                return Err(Refused::Ip(per_ip));
            }
            if !protected && self.total >= limits.max_connections {
                return Err(Refused::Broker(limits.max_connections));
            }
        }
        self.total += 1;
        self.per_ip.insert(ip, from_ip + 1);
        Ok(())
    }

    pub fn close(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    pub fn from_ip(&self, ip: &IpAddr) -> u32 {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }
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
    fn the_broker_entry_wins_over_the_cluster_default_over_kafkas() {
        let none = Configs::new();
        assert!(ConnectionLimits::from_configs(&none, &none).is_unlimited());
        let cluster = configs(&[("max.connections.per.ip", "5"), ("max.connections", "100")]);
        let broker = configs(&[("max.connections.per.ip", "7")]);
        let limits = ConnectionLimits::from_configs(&broker, &cluster);
        assert_eq!((limits.per_ip, limits.max_connections), (7, 100));
        let limits = ConnectionLimits::from_configs(&none, &cluster);
        assert_eq!(limits.per_ip, 5);
        assert!(!limits.is_unlimited());
    }

    #[test]
    fn overrides_parse_ips_and_refuse_the_rest() {
        let parsed = parse_overrides("127.0.0.1:2, [::1]:0 ,10.0.0.1:100").unwrap();
        assert_eq!(parsed[&"127.0.0.1".parse::<IpAddr>().unwrap()], 2);
        assert_eq!(parsed[&"::1".parse::<IpAddr>().unwrap()], 0);
        assert_eq!(parse_overrides("").unwrap().len(), 0);
        assert!(parse_overrides("localhost:3").is_err());
        assert!(parse_overrides("127.0.0.1").is_err());
        assert!(parse_overrides("127.0.0.1:-1").is_err());
        let limits = ConnectionLimits::from_configs(
            &configs(&[
                ("max.connections.per.ip", "5"),
                ("max.connections.per.ip.overrides", "10.0.0.1:1"),
            ]),
            &Configs::new(),
        );
        assert_eq!(limits.per_ip_limit(&"10.0.0.1".parse().unwrap()), 1);
        assert_eq!(limits.per_ip_limit(&"10.0.0.2".parse().unwrap()), 5);
    }

    #[test]
    fn counts_refuse_past_the_limits_and_free_on_close() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let limits = ConnectionLimits {
            max_connections: 3,
            per_ip: 2,
            ..ConnectionLimits::default()
        };
        let mut counts = ConnectionCounts::default();
        assert_eq!(counts.open(a, Some(&limits), false), Ok(()));
        assert_eq!(counts.open(a, Some(&limits), false), Ok(()));
        assert_eq!(counts.open(a, Some(&limits), false), Err(Refused::Ip(2)));
        assert_eq!(counts.open(b, Some(&limits), false), Ok(()));
        assert_eq!(
            counts.open(b, Some(&limits), false),
            Err(Refused::Broker(3))
        );
        // Unenforced, connections are still counted; a protected one is
        // held to its address's limit only.
        assert_eq!(counts.open(b, None, false), Ok(()));
        assert_eq!(counts.open(b, Some(&limits), true), Err(Refused::Ip(2)));
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(counts.open(c, Some(&limits), true), Ok(()));
        counts.close(c);
        assert_eq!((counts.total(), counts.from_ip(&b)), (4, 2));
        counts.close(a);
        counts.close(b);
        counts.close(b);
        assert_eq!(counts.open(a, Some(&limits), false), Ok(()));
        assert_eq!(counts.from_ip(&b), 0);
        assert_eq!((counts.total(), counts.from_ip(&a)), (2, 2));
    }
}
