//! How this broker connects to other brokers' inter-broker listener as a
//! client (a follower fetching from its leader), as Kafka does: TLS when
//! the listener's protocol uses it, trusting the listener's
//! `ssl.truststore.location`; then a SASL login (SaslHandshake v1,
//! SaslAuthenticate v2) with `sasl.mechanism.inter.broker.protocol` and
//! the `username`/`password` of that mechanism's JAAS entry on the
//! listener (`listener.name.<l>.<mechanism>.sasl.jaas.config`, else the
//! `fjord.sasl.jaas.file` KafkaServer section).
//!
//! Owns: checking those settings once at start (errors name the setting)
//! and the per-connection steps. Must not: log or print the password (no
//! type here derives `Debug`), or read files after start.

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
use crate::net::tls_client::{self, TlsClientStream};
use crate::security::sasl::client::{plain_token, ScramClient};
use crate::security::sasl::{jaas, Mechanism};

/// Built once at start, shared by every shard.
#[derive(Clone, Default)]
pub struct InterBrokerClient {
    tls: Option<Arc<ClientConfig>>,
    login: Option<Arc<Login>>,
}

/// The broker's own credentials. Not `Debug`: it holds the password.
struct Login {
    mechanism: Mechanism,
    user: String,
    password: String,
}

/// The socket to the leader, encrypted or not.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsClientStream>),
}

impl Transport {
    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        use futures_lite::AsyncWriteExt;
        match self {
            Transport::Plain(s) => s.write_all(data).await,
            Transport::Tls(s) => s.write_all(data).await,
        }
    }

    pub async fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        use futures_lite::AsyncReadExt;
        match self {
            Transport::Plain(s) => s.read_exact(buf).await,
            Transport::Tls(s) => s.read_exact(buf).await,
        }
    }
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
        let tls = match spec.protocol.uses_tls() {
            false => None,
            true => {
                let get = |s: &str| config.on_listener(name, s);
                let truststore = get("ssl.truststore.location");
                if truststore.is_empty() {
                    return Err(format!(
                        "the inter-broker listener {name} uses TLS: set ssl.truststore.location \
                         (PEM) to the CA of the brokers' certificates, which followers check \
                         their leader against"
                    ));
                }
                // Present our certificate only where the leader asks for one.
                let client_auth = get("ssl.client.auth").to_ascii_lowercase();
                let keystore = get("ssl.keystore.location");
                let keystore = (matches!(client_auth.as_str(), "requested" | "required")
                    && !keystore.is_empty())
                .then_some(std::path::Path::new(&keystore));
                let config = tls_client::client_config(truststore.as_ref(), keystore)
                    .map_err(|e| format!("inter-broker listener {name}: {e}"))?;
                Some(Arc::new(config))
            }
        };
        let login = match spec.protocol.uses_sasl() {
            false => None,
            true => Some(Arc::new(login(config, spec)?)),
        };
        Ok(InterBrokerClient { tls, login })
    }

    /// TLS on `stream` if the listener uses it; `host` is the leader's
    /// advertised host, which its certificate must name.
    pub async fn secure(&self, stream: TcpStream, host: &str) -> Result<Transport, String> {
        match &self.tls {
            None => Ok(Transport::Plain(stream)),
            Some(config) => tls_client::connect(stream, host, config.clone())
                .await
                .map(|s| Transport::Tls(Box::new(s)))
                .map_err(|e| format!("TLS handshake with {host}: {e}")),
        }
    }

    /// The SASL login, if the listener uses SASL. Returns the session
    /// lifetime the leader granted (ms, 0: unlimited).
    pub async fn authenticate(&self, conn: &mut impl Call) -> Result<i64, String> {
        let Some(login) = &self.login else {
            return Ok(0);
        };
        let mechanism = login.mechanism.name();
        let request =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let response: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 1, &request).await?;
        if response.error_code != 0 {
            return Err(format!(
                "SASL handshake for {mechanism} refused (error code {})",
                response.error_code
            ));
        }
        let last = match login.mechanism {
            Mechanism::Plain => {
                let token = plain_token(&login.user, &login.password);
                authenticate(conn, login, token).await?
            }
            _ => {
                let mut scram = ScramClient::new(login.mechanism, &login.user, &login.password)?;
                let server_first = authenticate(conn, login, scram.first()).await?;
                let client_final = scram.last(&server_first.auth_bytes)?;
                let server_final = authenticate(conn, login, client_final).await?;
                scram.verify(&server_final.auth_bytes)?;
                server_final
            }
        };
        Ok(last.session_lifetime_ms.max(0))
    }
}

/// One SaslAuthenticate round; a refusal names the user, never the password.
async fn authenticate(
    conn: &mut impl Call,
    login: &Login,
    token: Vec<u8>,
) -> Result<SaslAuthenticateResponse, String> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
    let response: SaslAuthenticateResponse =
        conn.call(ApiKey::SaslAuthenticate, 2, &request).await?;
    if response.error_code != 0 {
        return Err(format!(
            "authentication failed as {} with {}: {}",
            login.user,
            login.mechanism.name(),
            response.error_message.as_deref().unwrap_or("")
        ));
    }
    Ok(response)
}

/// sasl.mechanism.inter.broker.protocol and its credentials.
fn login(config: &BrokerConfig, spec: &ListenerSpec) -> Result<Login, String> {
    let security = &config.security;
    let name = &spec.name;
    let wanted = security
        .inter_broker_sasl_mechanism
        .trim()
        .to_ascii_uppercase();
    let mechanism = Mechanism::from_name(&wanted)
        .filter(|m| *m != Mechanism::OAuthBearer)
        .ok_or_else(|| {
            format!(
                "the inter-broker listener {name} uses SASL: set \
                 sasl.mechanism.inter.broker.protocol to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 \
                 (it is {wanted:?}; fjord's brokers cannot log in with it)"
            )
        })?;
    if !config.sasl_mechanisms(name).contains(&wanted) {
        return Err(format!(
            "sasl.mechanism.inter.broker.protocol={wanted} is not in the sasl.enabled.mechanisms \
             of the inter-broker listener {name}"
        ));
    }
    let text = match security.jaas_config(name, &wanted) {
        Some(text) => text.to_string(),
        None if !security.jaas_file.is_empty() => std::fs::read_to_string(&security.jaas_file)
            .map_err(|e| format!("fjord.sasl.jaas.file {}: {e}", security.jaas_file))?,
        None => {
            return Err(format!(
            "the inter-broker listener {name} uses SASL: set listener.name.{}.{}.sasl.jaas.config \
                 with the broker's username=\"...\" password=\"...\"",
            name.to_ascii_lowercase(),
            wanted.to_ascii_lowercase()
        ))
        }
    };
    let (user, password) = jaas::login_from_jaas(&text, &wanted).map_err(|e| {
        format!(
            "listener.name.{}.{}.sasl.jaas.config: {e}",
            name.to_ascii_lowercase(),
            wanted.to_ascii_lowercase()
        )
    })?;
    Ok(Login {
        mechanism,
        user,
        password,
    })
}
