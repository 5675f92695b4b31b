//! What a listener's SASL mechanisms check against, from the settings:
//! PLAIN users from the listener's JAAS text
//! (`listener.name.<l>.plain.sasl.jaas.config`) or the JAAS file
//! (`fjord.sasl.jaas.file`, its KafkaServer section), and OAUTHBEARER's
//! validation settings with the JWKS read from a `file:` URL.
//!
//! Read once at start; errors name the setting and never echo a secret.

use crate::config::BrokerConfig;
use crate::security::sasl::{jaas, Jwks, Mechanism, OAuthConfig, SaslConfig};

pub fn sasl_config(
    config: &BrokerConfig,
    listener: &str,
    mechanisms: &[Mechanism],
) -> Result<SaslConfig, String> {
    let security = &config.security;
    let mut plain_users = Default::default();
    if mechanisms.contains(&Mechanism::Plain) {
        let text = match security.jaas_config(listener, "plain") {
            Some(text) => text.to_string(),
            None if !security.jaas_file.is_empty() => std::fs::read_to_string(&security.jaas_file)
                .map_err(|e| format!("fjord.sasl.jaas.file {}: {e}", security.jaas_file))?,
            None => {
                return Err(format!(
                    "listener {listener} offers PLAIN but has no users: set \
                     listener.name.{}.plain.sasl.jaas.config or fjord.sasl.jaas.file",
                    listener.to_ascii_lowercase()
                ))
            }
        };
        plain_users = jaas::plain_users_from_jaas(&text)
            .map_err(|e| format!("listener {listener}: PLAIN JAAS config: {e}"))?;
    }
    let o = &security.oauth;
    let jwks = match o.jwks_endpoint_url.trim() {
        "" => None,
        url => {
            let path = url.strip_prefix("file://").ok_or_else(|| {
                format!("sasl.oauthbearer.jwks.endpoint.url {url}: fjord reads file:// URLs only")
            })?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("sasl.oauthbearer.jwks.endpoint.url {url}: {e}"))?;
            Some(Jwks::parse(&text).map_err(|e| format!("JWKS {url}: {e}"))?)
        }
    };
    let audience = o
        .expected_audience
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    Ok(SaslConfig {
        plain_users,
        oauth: OAuthConfig {
            jwks,
            expected_issuer: Some(o.expected_issuer.clone()).filter(|i| !i.is_empty()),
            expected_audience: audience,
            sub_claim_name: o.sub_claim_name.clone(),
            scope_claim_name: o.scope_claim_name.clone(),
            clock_skew_s: o.clock_skew_seconds,
        },
    })
}
