//! One client listener as connections see it: its name (Metadata answers
//! with the endpoints of the listener a client came in on), its security
//! protocol, and what that protocol needs — the TLS acceptor, the SASL
//! mechanisms offered and how long a SASL session lasts.
//!
//! Built once at start from the settings and shared read-only by every
//! shard. Must not: change after start, or hold per-connection state.

use std::net::SocketAddr;

use crate::config::listeners::SecurityProtocol;
use crate::config::BrokerConfig;
use crate::net::tls::{ClientAuth, TlsAcceptor, TlsSettings};
use crate::security::sasl::{Mechanism, SaslConfig};

pub struct Listener {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Where every shard binds (the port chosen at start when 0 was asked).
    pub bound: SocketAddr,
    pub tls: Option<TlsAcceptor>,
    /// Offered on SaslHandshake, in the configured order.
    pub mechanisms: Vec<Mechanism>,
    pub sasl: SaslConfig,
    /// connections.max.reauth.ms (0: a session lasts as long as the
    /// connection).
    pub reauth_ms: i64,
    /// sasl.server.max.receive.size: the largest frame before a client
    /// has authenticated.
    pub max_unauthenticated_frame: usize,
    /// The inter-broker listener (followers fetch from it): let in past
    /// `max.connections`, as Kafka protects it.
    pub inter_broker: bool,
}

impl Listener {
    /// The listener called `name` bound at `bound`, with its TLS and SASL
    /// settings loaded (keys, JAAS users, JWKS): errors name the setting.
    pub fn build(
        config: &BrokerConfig,
        name: &str,
        protocol: SecurityProtocol,
        bound: SocketAddr,
    ) -> Result<Listener, String> {
        let security = &config.security;
        let tls = match protocol.uses_tls() {
            true => Some(tls_acceptor(config, name)?),
            false => None,
        };
        let mut mechanisms = Vec::new();
        if protocol.uses_sasl() {
            for m in config.sasl_mechanisms(name) {
                let mechanism = Mechanism::from_name(&m).ok_or_else(|| {
                    format!(
                        "listener {name}: SASL mechanism {m} is not supported \
                         (sasl.enabled.mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)"
                    )
                })?;
                mechanisms.push(mechanism);
            }
            if mechanisms.is_empty() {
                return Err(format!(
                    "listener {name} is {} but sasl.enabled.mechanisms is empty",
                    protocol.name()
                ));
            }
        }
        let sasl = super::sasl_settings::sasl_config(config, name, &mechanisms)?;
        Ok(Listener {
            name: name.to_string(),
            protocol,
            bound,
            tls,
            mechanisms,
            sasl,
            reauth_ms: config.reauth_ms(name),
            max_unauthenticated_frame: security.sasl_max_receive_size,
            inter_broker: false,
        })
    }
}

fn tls_acceptor(config: &BrokerConfig, listener: &str) -> Result<TlsAcceptor, String> {
    let get = |n: &str| config.on_listener(listener, n);
    let pem = |setting: &str| -> Result<(), String> {
        match get(setting).to_ascii_uppercase().as_str() {
            "PEM" => Ok(()),
            other => Err(format!(
                "listener {listener}: {setting}={other}: fjord reads PEM key and trust stores only"
            )),
        }
    };
    pem("ssl.keystore.type")?;
    let keystore = get("ssl.keystore.location");
    if keystore.is_empty() {
        return Err(format!(
            "listener {listener} uses TLS but ssl.keystore.location is not set"
        ));
    }
    let truststore = Some(get("ssl.truststore.location")).filter(|t| !t.is_empty());
    if truststore.is_some() {
        pem("ssl.truststore.type")?;
    }
    let client_auth = match get("ssl.client.auth").to_ascii_lowercase().as_str() {
        "" | "none" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        other => {
            return Err(format!(
                "listener {listener}: ssl.client.auth={other}: expected none, requested or required"
            ))
        }
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(format!(
            "listener {listener}: ssl.client.auth needs ssl.truststore.location"
        ));
    }
    let settings = TlsSettings {
        keystore_pem: keystore.into(),
        truststore_pem: truststore.map(Into::into),
        client_auth,
        principal_mapping_rules: get("ssl.principal.mapping.rules"),
    };
    TlsAcceptor::new(&settings).map_err(|e| format!("listener {listener}: {e}"))
}
