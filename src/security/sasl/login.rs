//! This node logging in to another node as a SASL client: a follower to
//! its leader's inter-broker listener, a node to a voter's controller
//! listener. The mechanism comes from a setting
//! (`sasl.mechanism.inter.broker.protocol`,
//! `sasl.mechanism.controller.protocol`), the username and password from
//! that mechanism's JAAS entry on the listener
//! (`listener.name.<l>.<mechanism>.sasl.jaas.config`, else the
//! `fjord.sasl.jaas.file` KafkaServer section), as Kafka reads them.
//!
//! Owns: checking those settings once at start (errors name the setting)
//! and driving the exchange over whatever carries it ([`SaslExchange`]).
//! Must not: log or print the password (nothing here derives `Debug`), or
//! read files after start.

use super::client::{plain_token, ScramClient};
use super::{jaas, Mechanism};
use crate::config::BrokerConfig;

/// Carries SASL messages to the server: Kafka's SaslHandshake and
/// SaslAuthenticate, or the controller listener's own frames.
pub trait SaslExchange {
    /// Asks for `mechanism`; an error if the server refuses it.
    #[allow(async_fn_in_trait)] // used on one thread, never sent
    async fn handshake(&mut self, mechanism: &str) -> Result<(), String>;
    /// Sends one token. Returns the server's answer and the session
    /// lifetime it granted (ms, 0: unlimited), or the server's refusal.
    #[allow(async_fn_in_trait)]
    async fn token(&mut self, token: Vec<u8>) -> Result<(Vec<u8>, i64), String>;
}

/// This node's credentials for one mechanism. Not `Debug`: it holds the
/// password.
pub struct Login {
    mechanism: Mechanism,
    user: String,
    password: String,
}

impl Login {
    /// The mechanism `setting` names (its value `wanted`) and its
    /// credentials on `listener`. `allowed`: the mechanisms this kind of
    /// connection can log in with.
    pub fn from_settings(
        config: &BrokerConfig,
        listener: &str,
        setting: &str,
        wanted: &str,
        allowed: &[Mechanism],
    ) -> Result<Login, String> {
        let security = &config.security;
        let wanted = wanted.trim().to_ascii_uppercase();
        let names: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
        let mechanism = Mechanism::from_name(&wanted)
            .filter(|m| allowed.contains(m))
            .ok_or_else(|| {
                format!(
                    "listener {listener} uses SASL: set {setting} to one of {} \
                     (it is {wanted:?}; fjord's nodes cannot log in with it here)",
                    names.join(", ")
                )
            })?;
        if !config.sasl_mechanisms(listener).contains(&wanted) {
            return Err(format!(
                "{setting}={wanted} is not in the sasl.enabled.mechanisms of listener {listener}"
            ));
        }
        let entry = format!(
            "listener.name.{}.{}.sasl.jaas.config",
            listener.to_ascii_lowercase(),
            wanted.to_ascii_lowercase()
        );
        let text = match security.jaas_config(listener, &wanted) {
            Some(text) => text.to_string(),
            None if !security.jaas_file.is_empty() => std::fs::read_to_string(&security.jaas_file)
                .map_err(|e| format!("fjord.sasl.jaas.file {}: {e}", security.jaas_file))?,
            None => {
                return Err(format!(
                    "listener {listener} uses SASL: set {entry} with this node's \
                     username=\"...\" password=\"...\""
                ))
            }
        };
        let (user, password) =
            jaas::login_from_jaas(&text, &wanted).map_err(|e| format!("{entry}: {e}"))?;
        Ok(Login {
            mechanism,
            user,
            password,
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Logs in. Returns the session lifetime the server granted (ms, 0:
    /// unlimited). A refusal names the user and mechanism, never the
    /// password.
    pub async fn run(&self, exchange: &mut impl SaslExchange) -> Result<i64, String> {
        let mechanism = self.mechanism.name();
        exchange
            .handshake(mechanism)
            .await
            .map_err(|e| format!("SASL handshake for {mechanism}: {e}"))?;
        let refused = |e: String| {
            format!(
                "authentication failed as {} with {mechanism}: {e}",
                self.user
            )
        };
        let (_, lifetime) = match self.mechanism {
            Mechanism::Plain => {
                let token = plain_token(&self.user, &self.password);
                exchange.token(token).await.map_err(refused)?
            }
            _ => {
                let mut scram = ScramClient::new(self.mechanism, &self.user, &self.password)?;
                let (server_first, _) = exchange.token(scram.first()).await.map_err(refused)?;
                let client_final = scram.last(&server_first)?;
                let (server_final, lifetime) =
                    exchange.token(client_final).await.map_err(refused)?;
                scram.verify(&server_final)?;
                (server_final, lifetime)
            }
        };
        Ok(lifetime.max(0))
    }
}
