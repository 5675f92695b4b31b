//! Security settings (Kafka's names): listeners, TLS, SASL and the
//! authorizer, as validated text and numbers.
//!
//! Owns: reading them out of the settings table and the per-listener
//! overrides (`listener.name.<listener>.<setting>`, Kafka's prefix), and
//! answering "what is setting X on listener Y". Must not: load keys, parse
//! JAAS or decide anything (`net::tls`, `security::sasl` and
//! `security::authorizer` do, from these values).

use std::collections::BTreeMap;

use super::{parse, ConfigError};

/// The settings a listener may override with Kafka's
/// `listener.name.<listener>.` prefix (besides `<mechanism>.sasl.jaas.config`).
pub const PER_LISTENER: &[&str] = &[
    "sasl.enabled.mechanisms",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.client.auth",
    "ssl.principal.mapping.rules",
    "connections.max.reauth.ms",
];

#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub listeners: String,
    pub advertised_listeners: String,
    pub protocol_map: String,
    pub inter_broker_listener_name: String,
    pub inter_broker_protocol: String,
    /// sasl.mechanism.inter.broker.protocol: how this broker logs in to
    /// other brokers on a SASL inter-broker listener.
    pub inter_broker_sasl_mechanism: String,
    pub controller_listener_names: String,
    /// sasl.mechanism.controller.protocol: how this node logs in to the
    /// controllers on a SASL controller listener.
    pub controller_sasl_mechanism: String,
    /// `listener.name.<listener>.<setting>` → value, keys lower case.
    overrides: BTreeMap<String, String>,
    pub authorizer_class_name: String,
    pub super_users: String,
    pub allow_everyone_if_no_acl_found: bool,
    /// Largest frame a client may send before it has authenticated.
    pub sasl_max_receive_size: usize,
    pub oauth: OAuthSettings,
    /// A JAAS file (Kafka's java.security.auth.login.config), read for the
    /// KafkaServer section's PLAIN users.
    pub jaas_file: String,
}

#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    pub jwks_endpoint_url: String,
    pub expected_issuer: String,
    pub expected_audience: String,
    pub sub_claim_name: String,
    pub scope_claim_name: String,
    pub clock_skew_seconds: i64,
}

impl super::BrokerConfig {
    /// Setting `name` as listener `listener` sees it: its
    /// `listener.name.` override, else the broker-wide value.
    pub fn on_listener(&self, listener: &str, name: &str) -> String {
        let key = format!("listener.name.{}.{name}", listener.to_ascii_lowercase());
        match self.security.overrides.get(&key) {
            Some(value) => value.clone(),
            None => super::get_value(&self.values, name),
        }
    }

    /// The SASL mechanisms enabled on a listener, upper case.
    pub fn sasl_mechanisms(&self, listener: &str) -> Vec<String> {
        self.on_listener(listener, "sasl.enabled.mechanisms")
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect()
    }

    /// connections.max.reauth.ms on a listener (0: sessions never expire).
    pub fn reauth_ms(&self, listener: &str) -> i64 {
        self.on_listener(listener, "connections.max.reauth.ms")
            .parse()
            .unwrap_or(0)
    }
}

impl SecurityConfig {
    /// A mechanism's JAAS text on a listener
    /// (`listener.name.<l>.<mechanism>.sasl.jaas.config`), if given.
    pub fn jaas_config(&self, listener: &str, mechanism: &str) -> Option<&str> {
        let key = format!(
            "listener.name.{}.{}.sasl.jaas.config",
            listener.to_ascii_lowercase(),
            mechanism.to_ascii_lowercase()
        );
        self.overrides.get(&key).map(String::as_str)
    }
}

/// Whether `name` is a valid per-listener override name.
pub fn is_listener_override(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("listener.name.") else {
        return false;
    };
    let Some((listener, setting)) = rest.split_once('.') else {
        return false;
    };
    !listener.is_empty()
        && (PER_LISTENER.contains(&setting)
            || setting
                .strip_suffix(".sasl.jaas.config")
                .is_some_and(|m| !m.is_empty() && !m.contains('.')))
}

/// Builds the security settings from the table's values and the
/// per-listener overrides.
pub(super) fn security_config(
    get: &dyn Fn(&str) -> String,
    overrides: &BTreeMap<String, String>,
) -> Result<SecurityConfig, ConfigError> {
    let number = |name: &str| -> Result<i64, ConfigError> { parse(name, &get(name)) };
    for (name, value) in overrides {
        let setting = name.splitn(4, '.').nth(3).unwrap_or_default();
        if setting == "connections.max.reauth.ms" {
            parse::<i64>(name, value)?;
        }
    }
    Ok(SecurityConfig {
        listeners: get("listeners"),
        advertised_listeners: get("advertised.listeners"),
        protocol_map: get("listener.security.protocol.map"),
        inter_broker_listener_name: get("inter.broker.listener.name"),
        inter_broker_protocol: get("security.inter.broker.protocol"),
        inter_broker_sasl_mechanism: get("sasl.mechanism.inter.broker.protocol"),
        controller_listener_names: get("controller.listener.names"),
        controller_sasl_mechanism: get("sasl.mechanism.controller.protocol"),
        overrides: overrides.clone(),
        authorizer_class_name: get("authorizer.class.name"),
        super_users: get("super.users"),
        allow_everyone_if_no_acl_found: parse(
            "allow.everyone.if.no.acl.found",
            &get("allow.everyone.if.no.acl.found"),
        )?,
        sasl_max_receive_size: number("sasl.server.max.receive.size")?.max(1) as usize,
        oauth: OAuthSettings {
            jwks_endpoint_url: get("sasl.oauthbearer.jwks.endpoint.url"),
            expected_issuer: get("sasl.oauthbearer.expected.issuer"),
            expected_audience: get("sasl.oauthbearer.expected.audience"),
            sub_claim_name: get("sasl.oauthbearer.sub.claim.name"),
            scope_claim_name: get("sasl.oauthbearer.scope.claim.name"),
            clock_skew_seconds: number("sasl.oauthbearer.clock.skew.seconds")?,
        },
        jaas_file: get("fjord.sasl.jaas.file"),
    })
}

#[cfg(test)]
mod tests {
    use super::is_listener_override;

    #[test]
    fn a_listener_sees_its_override_else_the_broker_value() {
        let sets: Vec<String> = [
            "ssl.client.auth=requested",
            "listener.name.sasl_ssl.ssl.client.auth=required",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms=scram-sha-512, PLAIN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let config = crate::config::BrokerConfig::load(None, &sets).unwrap();
        assert_eq!(
            config.on_listener("SASL_SSL", "ssl.client.auth"),
            "required"
        );
        assert_eq!(config.on_listener("SSL", "ssl.client.auth"), "requested");
        assert_eq!(
            config.sasl_mechanisms("SASL_SSL"),
            ["SCRAM-SHA-512", "PLAIN"]
        );
        assert_eq!(config.sasl_mechanisms("SSL"), ["GSSAPI"], "Kafka's default");
        assert_eq!(config.reauth_ms("SASL_SSL"), 0);
    }

    #[test]
    fn listener_overrides_are_kafkas_prefix() {
        assert!(is_listener_override(
            "listener.name.sasl_ssl.ssl.client.auth"
        ));
        assert!(is_listener_override(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config"
        ));
        assert!(is_listener_override(
            "listener.name.sasl_ssl.sasl.enabled.mechanisms"
        ));
        assert!(!is_listener_override("listener.name.x.num.partitions"));
        assert!(!is_listener_override("listener.name..ssl.client.auth"));
        assert!(!is_listener_override("ssl.client.auth"));
    }
}
