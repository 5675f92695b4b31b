//! Kafka's listener settings: `listeners`, `advertised.listeners`,
//! `listener.security.protocol.map`, `inter.broker.listener.name` and
//! `controller.listener.names`, parsed into the listeners a broker binds.
//!
//! Owns: the syntax (`NAME://host:port,...`), the name → security protocol
//! mapping and the checks Kafka makes at start (distinct names and ports,
//! every name mapped, the inter-broker listener among them). Must not:
//! bind sockets or load keys (the runtime and `net::tls` do).

use std::net::{SocketAddr, ToSocketAddrs};

/// How a listener's connections are secured (Kafka's SecurityProtocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(text: &str) -> Option<SecurityProtocol> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener as configured, before binding.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerSpec {
    /// Upper case, as Kafka normalises it.
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Where to bind (port 0: any free port).
    pub bind: SocketAddr,
    /// What clients are told: (host, port); port 0 means "the bound port".
    pub advertised: Option<(String, u16)>,
}

/// One `NAME://host:port` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// Parses a `NAME://host:port,...` list. An empty host means every
/// interface, as in Kafka.
pub fn parse_endpoints(setting: &str, text: &str) -> Result<Vec<Endpoint>, String> {
    let mut out: Vec<Endpoint> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| format!("{setting}: '{item}': {why}");
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| bad("expected NAME://host:port"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("a listener name is letters, digits and _"));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if out.iter().any(|e| e.name == name) {
            return Err(bad("listener names must be distinct"));
        }
        out.push(Endpoint { name, host, port });
    }
    Ok(out)
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub fn parse_protocol_map(text: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, protocol) = item.split_once(':').ok_or_else(|| {
                format!("listener.security.protocol.map: '{item}': expected NAME:PROTOCOL")
            })?;
            let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
                format!("listener.security.protocol.map: '{item}': unknown security protocol")
            })?;
            Ok((name.trim().to_ascii_uppercase(), protocol))
        })
        .collect()
}

/// The controller listener every node connects to (the first name in
/// `controller.listener.names`) and its security protocol, from
/// `listener.security.protocol.map` (PLAINTEXT when the map leaves it out).
pub fn controller_listener(
    controller_listener_names: &str,
    protocol_map: &str,
) -> Result<(String, SecurityProtocol), String> {
    let name = controller_listener_names
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .find(|s| !s.is_empty())
        .ok_or("controller.listener.names is empty")?;
    let protocol = parse_protocol_map(protocol_map)?
        .into_iter()
        .find(|(n, _)| *n == name)
        .map_or(SecurityProtocol::Plaintext, |(_, p)| p);
    Ok((name, protocol))
}

/// The settings that decide the listeners, as given.
pub struct ListenerSettings<'a> {
    pub listeners: &'a str,
    pub advertised_listeners: &'a str,
    pub protocol_map: &'a str,
    /// Names of controller listeners: not bound for clients.
    pub controller_listener_names: &'a str,
}

/// The client listeners to bind, in the order given, and the controller
/// listener's address when `listeners` names one.
pub fn resolve(
    settings: &ListenerSettings,
) -> Result<(Vec<ListenerSpec>, Option<SocketAddr>), String> {
    let map = parse_protocol_map(settings.protocol_map)?;
    let endpoints = parse_endpoints("listeners", settings.listeners)?;
    let advertised = parse_endpoints("advertised.listeners", settings.advertised_listeners)?;
    let controller_names: Vec<String> = settings
        .controller_listener_names
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    let mut specs = Vec::new();
    let mut controller = None;
    for endpoint in endpoints {
        let bind = bind_address(&endpoint)?;
        let protocol = map
            .iter()
            .find(|(name, _)| *name == endpoint.name)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                format!(
                    "listener {} has no entry in listener.security.protocol.map",
                    endpoint.name
                )
            })?;
        if controller_names.contains(&endpoint.name) {
            controller = Some(bind);
            continue;
        }
        if specs
            .iter()
            .any(|s: &ListenerSpec| s.bind.port() == bind.port() && bind.port() != 0)
        {
            return Err(format!("listeners: port {} is used twice", bind.port()));
        }
        let advertised = advertised
            .iter()
            .find(|a| a.name == endpoint.name)
            .map(|a| (a.host.clone(), a.port));
        specs.push(ListenerSpec {
            name: endpoint.name,
            protocol,
            bind,
            advertised,
        });
    }
    if let Some(extra) = advertised
        .iter()
        .find(|a| !specs.iter().any(|s| s.name == a.name))
    {
        return Err(format!(
            "advertised.listeners names {}, which is not a client listener in listeners",
            extra.name
        ));
    }
    Ok((specs, controller))
}

fn bind_address(endpoint: &Endpoint) -> Result<SocketAddr, String> {
    let host = match endpoint.host.as_str() {
        "" => "0.0.0.0",
        h => h,
    };
    (host, endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("listener {}: {host}: {e}", endpoint.name))?
        .next()
        .ok_or_else(|| format!("listener {}: {host}: no address", endpoint.name))
}

/// The inter-broker listener: `inter.broker.listener.name`, else the one
/// whose protocol is `security.inter.broker.protocol` (Kafka's rule).
pub fn inter_broker<'a>(
    specs: &'a [ListenerSpec],
    name: &str,
    protocol: &str,
) -> Result<&'a ListenerSpec, String> {
    if !name.trim().is_empty() {
        let name = name.trim().to_ascii_uppercase();
        return specs.iter().find(|s| s.name == name).ok_or_else(|| {
            format!("inter.broker.listener.name {name} is not a client listener in listeners")
        });
    }
    let protocol = SecurityProtocol::parse(protocol)
        .ok_or_else(|| format!("security.inter.broker.protocol: unknown protocol '{protocol}'"))?;
    specs
        .iter()
        .find(|s| s.protocol == protocol)
        .ok_or_else(|| {
            format!(
                "no listener uses security.inter.broker.protocol {}; set inter.broker.listener.name",
                protocol.name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT";

    fn settings<'a>(listeners: &'a str, advertised: &'a str) -> ListenerSettings<'a> {
        ListenerSettings {
            listeners,
            advertised_listeners: advertised,
            protocol_map: MAP,
            controller_listener_names: "CONTROLLER",
        }
    }

    #[test]
    fn parses_kafkas_listener_lists() {
        let (specs, controller) = resolve(&settings(
            "PLAINTEXT://127.0.0.1:9092,sasl_ssl://:9094,CONTROLLER://127.0.0.1:9093",
            "SASL_SSL://broker1.example:19094",
        ))
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "PLAINTEXT");
        assert_eq!(specs[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(specs[1].protocol, SecurityProtocol::SaslSsl);
        assert!(specs[1].bind.ip().is_unspecified());
        assert_eq!(
            specs[1].advertised,
            Some(("broker1.example".to_string(), 19094))
        );
        assert_eq!(controller.unwrap().port(), 9093);
    }

    #[test]
    fn ipv6_hosts_take_brackets() {
        let eps = parse_endpoints("listeners", "PLAINTEXT://[::1]:9092").unwrap();
        assert_eq!(eps[0].host, "::1");
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        for (listeners, advertised) in [
            ("PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", ""),
            ("PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9092", ""),
            ("UNMAPPED://127.0.0.1:9092", ""),
            ("PLAINTEXT://127.0.0.1", ""),
            ("PLAINTEXT://127.0.0.1:9092", "SSL://h:1"),
            ("127.0.0.1:9092", ""),
        ] {
            assert!(
                resolve(&settings(listeners, advertised)).is_err(),
                "{listeners} / {advertised}"
            );
        }
    }

    #[test]
    fn inter_broker_by_name_or_protocol() {
        let (specs, _) = resolve(&settings(
            "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
            "",
        ))
        .unwrap();
        assert_eq!(
            inter_broker(&specs, "", "PLAINTEXT").unwrap().name,
            "PLAINTEXT"
        );
        assert_eq!(
            inter_broker(&specs, "sasl_ssl", "PLAINTEXT").unwrap().name,
            "SASL_SSL"
        );
        assert!(inter_broker(&specs, "", "SSL").is_err());
        assert!(inter_broker(&specs, "OTHER", "PLAINTEXT").is_err());
    }
}
