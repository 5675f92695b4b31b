//! How this broker connects to other brokers' inter-broker listener as a
//! client (a follower fetching from its leader, a transaction coordinator
//! writing markers), as Kafka does: TLS when
//! the listener's protocol uses it (`net::tls_client::for_listener`), then
//! a SASL login (SaslHandshake v1, SaslAuthenticate v2) with
//! `sasl.mechanism.inter.broker.protocol` and the broker's credentials
//! (`security::sasl::login`).
//!
//! Owns: checking those settings once at start and carrying the login over
//! Kafka requests. Must not: log or print the password.

use std::sync::Arc;

use glommio::net::TcpStream;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use rustls::ClientConfig;

use crate::config::listeners::ListenerSpec;
use crate::config::BrokerConfig;
use crate::net::tls_client::{self, ClientStream};
use crate::security::sasl::login::{Login, SaslExchange};
use crate::security::sasl::Mechanism;

/// Built once at start, shared by every shard.
#[derive(Clone, Default)]
pub struct InterBrokerClient {
    tls: Option<Arc<ClientConfig>>,
    login: Option<Arc<Login>>,
}

/// Sends one request and returns its response (the caller's connection).
pub trait Call {
    #[allow(async_fn_in_trait)] // used on one thread, never sent
    async fn call<Q, R>(&mut self, api: ApiKey, version: i16, request: &Q) -> Result<R, String>
    where
        Q: kafka_protocol::protocol::Encodable,
        R: kafka_protocol::protocol::Decodable;
}

impl InterBrokerClient {
    /// What connecting to `spec` (the inter-broker listener) takes; errors
    /// name the setting that is missing or wrong.
    pub fn build(config: &BrokerConfig, spec: &ListenerSpec) -> Result<InterBrokerClient, String> {
        let name = &spec.name;
        let tls = tls_client::for_listener(config, name, spec.protocol.uses_tls())?;
        let login = match spec.protocol.uses_sasl() {
            false => None,
            true => Some(Arc::new(Login::from_settings(
                config,
                name,
                "sasl.mechanism.inter.broker.protocol",
                &config.security.inter_broker_sasl_mechanism,
                &[
                    Mechanism::Plain,
                    Mechanism::ScramSha256,
                    Mechanism::ScramSha512,
                ],
            )?)),
        };
        Ok(InterBrokerClient { tls, login })
    }

    /// TLS on `stream` if the listener uses it; `host` is the leader's
    /// advertised host, which its certificate must name.
    pub async fn secure(&self, stream: TcpStream, host: &str) -> Result<ClientStream, String> {
        ClientStream::open(stream, host, self.tls.as_ref()).await
    }

    /// The SASL login, if the listener uses SASL. Returns the session
    /// lifetime the leader granted (ms, 0: unlimited).
    pub async fn authenticate(&self, conn: &mut impl Call) -> Result<i64, String> {
        match &self.login {
            None => Ok(0),
            Some(login) => login.run(&mut KafkaSasl(conn)).await,
        }
    }
}

/// SASL over Kafka's SaslHandshake v1 and SaslAuthenticate v2.
struct KafkaSasl<'a, C>(&'a mut C);

impl<C: Call> SaslExchange for KafkaSasl<'_, C> {
    async fn handshake(&mut self, mechanism: &str) -> Result<(), String> {
        let request =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
        let response: SaslHandshakeResponse =
            self.0.call(ApiKey::SaslHandshake, 1, &request).await?;
        match response.error_code {
            0 => Ok(()),
            code => Err(format!("refused (error code {code})")),
        }
    }

    async fn token(&mut self, token: Vec<u8>) -> Result<(Vec<u8>, i64), String> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let response: SaslAuthenticateResponse =
            self.0.call(ApiKey::SaslAuthenticate, 2, &request).await?;
        if response.error_code != 0 {
            return Err(response.error_message.as_deref().unwrap_or("").to_string());
        }
        Ok((response.auth_bytes.to_vec(), response.session_lifetime_ms))
    }
}
