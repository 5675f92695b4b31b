//! SASL server mechanisms as sans-IO state machines: PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512 and OAUTHBEARER, each behaving as Kafka's broker does.
//!
//! Owns: the exchange of one connection ([`SaslServer`]): the client's
//! tokens in, challenges or the authenticated principal out, checked
//! against what the broker knows ([`SaslConfig`], [`CredentialLookup`]).
//! Also the parsers for where that knowledge comes from: JAAS text
//! ([`jaas`]) and `kafka-storage.sh format --add-scram` ([`add_scram`]).
//!
//! Must not: touch sockets, clocks or logs. The connection code frames the
//! tokens (SaslHandshake/SaslAuthenticate), passes the wall clock in, and
//! decides what to log. Nothing here may print a password, a salted
//! password, a key or a token: errors carry only static reasons, and no
//! type holding a secret derives `Debug`. Errors never say whether a user
//! exists.

pub mod add_scram;
pub mod client;
pub mod jaas;
mod jwt;
pub mod login;
mod oauthbearer;
mod plain;
mod scram;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;

use super::scram::ScramCredential;
use super::SecurityState;

pub use jwt::Jwks;

/// The mechanisms a client may name in SaslHandshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// Kafka matches mechanism names exactly (case-sensitive).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Who logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The principal name, without "User:".
    pub user: String,
    /// OAUTHBEARER: when the token expires (ms since the epoch); Kafka
    /// closes or re-authenticates the connection by then.
    pub expires_at_ms: Option<i64>,
}

/// What the server answers to one client token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this and wait for the client's next token.
    Challenge(Vec<u8>),
    /// Send `response`; the client is authenticated.
    Done {
        response: Vec<u8>,
        who: Authenticated,
    },
}

/// Why an exchange failed. Every variant is reported to the client as
/// SASL_AUTHENTICATION_FAILED with the `Display` text, which is safe to
/// send and to log: it never echoes the client's input and never tells an
/// unknown user from a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    /// Unknown user, wrong password or proof, a replayed or mismatched
    /// nonce, a credential of another mechanism: one message for all.
    #[error("{}", invalid_credentials(*.0))]
    InvalidCredentials(Mechanism),
    /// The client's message breaks the mechanism's syntax.
    #[error("Authentication failed: invalid {} message: {what}", .mechanism.name())]
    Malformed {
        mechanism: Mechanism,
        what: &'static str,
    },
    /// Allowed by the RFC but refused by Kafka's broker (channel binding,
    /// delegation tokens, mandatory extensions).
    #[error("Authentication failed: {what} is not supported with SASL mechanism {}", .mechanism.name())]
    Unsupported {
        mechanism: Mechanism,
        what: &'static str,
    },
    /// The client asked to act as someone other than who it proved to be.
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationId,
    /// An OAUTHBEARER token was refused (after the error challenge).
    #[error("Authentication failed: invalid OAUTHBEARER token: {reason}")]
    InvalidToken { reason: &'static str },
    /// A token after the exchange succeeded or failed.
    #[error("Authentication failed: unexpected SASL message after the {} exchange ended", .0.name())]
    Unexpected(Mechanism),
    /// The OS random source failed (no nonce could be made).
    #[error("Authentication failed: the broker could not generate a nonce")]
    RandomSource,
}

impl SaslError {
    /// The Kafka error code the client gets for every variant.
    pub fn error_code(&self) -> i16 {
        kafka_protocol::error::ResponseError::SaslAuthenticationFailed.code()
    }
}

fn invalid_credentials(mechanism: Mechanism) -> String {
    match mechanism {
        // Kafka's PlainSaslServer says this; the others fail with a
        // SaslException, which Kafka reports as below.
        Mechanism::Plain => "Authentication failed: Invalid username or password".into(),
        m => format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            m.name()
        ),
    }
}

/// What the mechanisms check against. Built by the broker from settings
/// and from its metadata image.
#[derive(Clone, Default)]
pub struct SaslConfig {
    /// PLAIN users and their passwords (from the JAAS `user_NAME` options).
    pub plain_users: HashMap<String, String>,
    pub oauth: OAuthConfig,
}

impl std::fmt::Debug for SaslConfig {
    // The PLAIN passwords are never printed; user names are not secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut users: Vec<&String> = self.plain_users.keys().collect();
        users.sort();
        f.debug_struct("SaslConfig")
            .field("plain_users", &users)
            .field("oauth", &self.oauth)
            .finish()
    }
}

/// How OAUTHBEARER tokens are validated (Kafka's `sasl.oauthbearer.*`).
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// Keys for signed tokens. None: Kafka's default unsecured validator,
    /// which accepts unsigned (`alg: none`) tokens only.
    pub jwks: Option<Jwks>,
    pub expected_issuer: Option<String>,
    /// When non-empty, the token's `aud` must name one of these.
    pub expected_audience: Vec<String>,
    pub sub_claim_name: String,
    pub scope_claim_name: String,
    pub clock_skew_s: i64,
}

impl Default for OAuthConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        OAuthConfig {
            jwks: None,
            expected_issuer: None,
            expected_audience: Vec::new(),
            sub_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            clock_skew_s: 30,
        }
    }
}

/// Where SCRAM credentials come from.
pub trait CredentialLookup {
    /// `user`'s credential for `mechanism` (SCRAM_SHA_256 or SCRAM_SHA_512).
    fn scram(&self, user: &str, mechanism: i8) -> Option<ScramCredential>;
}

impl CredentialLookup for SecurityState {
    fn scram(&self, user: &str, mechanism: i8) -> Option<ScramCredential> {
        self.users.get(user)?.get(&mechanism).cloned()
    }
}

/// One authentication exchange on one connection.
pub struct SaslServer {
    mechanism: Mechanism,
    state: State,
}

enum State {
    Plain,
    Scram(Box<scram::ScramServer>),
    OAuth(oauthbearer::OAuthServer),
    /// Succeeded or failed: no more tokens are taken.
    Ended,
}

impl std::fmt::Debug for SaslServer {
    // The state may hold a credential's keys: show only where it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Ended => "ended",
            _ => "in progress",
        };
        f.debug_struct("SaslServer")
            .field("mechanism", &self.mechanism)
            .field("state", &state)
            .finish()
    }
}

impl SaslServer {
    pub fn new(mechanism: Mechanism) -> SaslServer {
        let state = match mechanism {
            Mechanism::Plain => State::Plain,
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                State::Scram(Box::new(scram::ScramServer::new(mechanism, None)))
            }
            Mechanism::OAuthBearer => State::OAuth(oauthbearer::OAuthServer::default()),
        };
        SaslServer { mechanism, state }
    }

    /// A SCRAM server whose nonce is fixed, for test vectors.
    #[cfg(test)]
    pub(crate) fn with_server_nonce(mechanism: Mechanism, nonce: &str) -> SaslServer {
        let scram = scram::ScramServer::new(mechanism, Some(nonce.to_string()));
        SaslServer {
            mechanism,
            state: State::Scram(Box::new(scram)),
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Feeds the client's next token. `now_ms` is wall-clock ms since the
    /// epoch. After `Done` or an error, every further token is refused.
    pub fn step(
        &mut self,
        token: &[u8],
        config: &SaslConfig,
        lookup: &dyn CredentialLookup,
        now_ms: i64,
    ) -> Result<Step, SaslError> {
        let result = match &mut self.state {
            State::Plain => plain::authenticate(token, &config.plain_users),
            State::Scram(server) => server.step(token, lookup),
            State::OAuth(server) => server.step(token, &config.oauth, now_ms),
            State::Ended => Err(SaslError::Unexpected(self.mechanism)),
        };
        if !matches!(result, Ok(Step::Challenge(_))) {
            // Drops any credential the exchange held.
            self.state = State::Ended;
        }
        result
    }
}

/// Compares two secrets in time independent of where they differ and of
/// their lengths (both are hashed first, so only digests are compared).
fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

/// Bytes from the OS's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], SaslError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|_| SaslError::RandomSource)?;
    Ok(bytes)
}
