//! Securing connections on the controller listener, as Kafka secures its
//! controller listener: TLS when the listener's protocol uses it, then a
//! SASL login (PLAIN) when it uses SASL, both before the `Hello`. The
//! accepting node learns the peer's principal (the SASL user, else the
//! TLS certificate's mapped subject, else ANONYMOUS); the caller then
//! checks that it may act as a node of the cluster.
//!
//! SCRAM is refused here at start: its credentials live in the metadata
//! log, which the controllers must reach each other to replicate (Kafka's
//! controllers cannot use SCRAM either).
//!
//! Owns: the handshakes and the settings they use. Must not: frame
//! anything but the login, keep a password in a log line, or wait without
//! a deadline (the caller bounds each step).

use std::sync::Arc;

use bytes::BytesMut;
use glommio::net::TcpStream;
use rustls::ClientConfig;

use super::wire::{self, Frame, SaslMessage};
use crate::net::halves::{ReadHalf, WriteHalf};
use crate::net::tls::TlsAcceptor;
use crate::net::tls_client::ClientStream;
use crate::security::authorizer::AuthorizerConfig;
use crate::security::sasl::login::{Login, SaslExchange};
use crate::security::sasl::{CredentialLookup, Mechanism, SaslConfig, SaslServer, Step};
use crate::security::scram::ScramCredential;
use crate::util::now_ms;

/// Largest frame taken from a peer that has not logged in yet.
pub const MAX_LOGIN_FRAME: usize = 64 * 1024;

/// How this node's controller-listener connections are secured, in both
/// directions. The default is PLAINTEXT: nothing to check.
#[derive(Default)]
pub struct LinkSecurity {
    /// "SASL_SSL" and the like, for log lines.
    pub protocol: &'static str,
    /// Accepting: the TLS side of the listener.
    pub acceptor: Option<TlsAcceptor>,
    /// Accepting: mechanisms offered (empty: no SASL).
    pub mechanisms: Vec<Mechanism>,
    pub sasl: SaslConfig,
    /// Whether peers' principals are checked (CLUSTER_ACTION on the
    /// cluster), and super.users.
    pub authorizer: AuthorizerConfig,
    /// Connecting: TLS to the voters, trusting the listener's trust store.
    pub connector: Option<Arc<ClientConfig>>,
    /// Connecting: this node's login (sasl.mechanism.controller.protocol).
    pub login: Option<Login>,
}

/// A connection past its security steps.
pub struct Secured {
    pub reader: ReadHalf,
    /// Bytes read past the login (the start of the next frame).
    pub pending: BytesMut,
    pub writer: WriteHalf,
    /// "User:name".
    pub principal: String,
}

impl LinkSecurity {
    /// The accepting side: TLS, then the SASL login. Errors are one line
    /// for the log, without secrets.
    pub async fn accept(&self, stream: TcpStream) -> Result<Secured, String> {
        let (reader, writer, tls_principal) = match &self.acceptor {
            None => {
                let writer = crate::net::dup_stream(&stream).map_err(|e| format!("dup: {e}"))?;
                (ReadHalf::Plain(stream), WriteHalf::Plain(writer), None)
            }
            Some(acceptor) => {
                let (r, w, principal) = acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                (ReadHalf::Tls(r), WriteHalf::Tls(w), principal)
            }
        };
        let mut secured = Secured {
            reader,
            pending: BytesMut::new(),
            writer,
            principal: format!("User:{}", tls_principal.as_deref().unwrap_or("ANONYMOUS")),
        };
        if !self.mechanisms.is_empty() {
            let user = self.sasl_login(&mut secured).await?;
            secured.principal = format!("User:{user}");
        }
        Ok(secured)
    }

    /// Runs the server side of the login; returns the user.
    async fn sasl_login(&self, link: &mut Secured) -> Result<String, String> {
        let mechanism = match next_login_frame(link).await? {
            SaslMessage::Handshake { mechanism } => mechanism,
            other => return Err(format!("expected a SASL handshake, got {other:?}")),
        };
        let Some(chosen) = Mechanism::from_name(&mechanism.to_ascii_uppercase())
            .filter(|m| self.mechanisms.contains(m))
        else {
            let offered: Vec<&str> = self.mechanisms.iter().map(|m| m.name()).collect();
            let why = format!(
                "SASL mechanism {mechanism:?} is not enabled here (enabled: {})",
                offered.join(",")
            );
            send(link, SaslMessage::Refused(why.clone())).await?;
            return Err(why);
        };
        send(link, SaslMessage::Answer(Vec::new())).await?;
        let mut server = SaslServer::new(chosen);
        loop {
            let token = match next_login_frame(link).await? {
                SaslMessage::Token(token) => token,
                other => return Err(format!("expected a SASL token, got {other:?}")),
            };
            match server.step(&token, &self.sasl, &NoScram, now_ms()) {
                Ok(Step::Challenge(bytes)) => send(link, SaslMessage::Answer(bytes)).await?,
                Ok(Step::Done { response, who }) => {
                    send(link, SaslMessage::Answer(response)).await?;
                    return Ok(who.user);
                }
                Err(e) => {
                    send(link, SaslMessage::Refused(e.to_string())).await?;
                    return Err(e.to_string());
                }
            }
        }
    }

    /// The connecting side: TLS to `host` (which the voter's certificate
    /// must name), then this node's login.
    pub async fn connect(&self, stream: TcpStream, host: &str) -> Result<Secured, String> {
        let mut stream = ClientStream::open(stream, host, self.connector.as_ref()).await?;
        if let Some(login) = &self.login {
            login.run(&mut FrameSasl(&mut stream)).await?;
        }
        let (reader, writer) = stream.into_halves().map_err(|e| format!("split: {e}"))?;
        Ok(Secured {
            reader,
            pending: BytesMut::new(),
            writer,
            principal: String::new(),
        })
    }
}

/// The host part of a `host:port` address, for checking certificates.
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_matches(['[', ']'])
}

/// SCRAM is never offered on the controller listener (see the module doc).
struct NoScram;

impl CredentialLookup for NoScram {
    fn scram(&self, _user: &str, _mechanism: i8) -> Option<ScramCredential> {
        None
    }
}

async fn send(link: &mut Secured, message: SaslMessage) -> Result<(), String> {
    let bytes = wire::encode(&Frame::Sasl(message));
    link.writer
        .write_all(bytes)
        .await
        .map_err(|e| format!("write: {e}"))
}

/// The next login frame from a peer not yet trusted: small frames only.
async fn next_login_frame(link: &mut Secured) -> Result<SaslMessage, String> {
    loop {
        if let Some(len) = wire::frame_len(&link.pending)? {
            if len > MAX_LOGIN_FRAME {
                return Err(format!("a login frame of {len} bytes"));
            }
            if link.pending.len() >= len {
                let frame = wire::decode(&link.pending[..len]);
                let _ = link.pending.split_to(len);
                return match frame? {
                    Frame::Sasl(message) => Ok(message),
                    other => Err(format!("expected a SASL frame, got {}", frame_kind(&other))),
                };
            }
        }
        let n = link
            .reader
            .fill(&mut link.pending)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed during the login".into());
        }
    }
}

fn frame_kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "a hello (the peer does not log in: is its controller listener SASL?)",
        Frame::Raft(_) => "a raft message",
        Frame::Request { .. } => "a request",
        Frame::Response { .. } => "a response",
        Frame::Sasl(_) => "a SASL frame",
    }
}

/// The client side of the login over SASL frames, one at a time.
struct FrameSasl<'a>(&'a mut ClientStream);

impl FrameSasl<'_> {
    async fn exchange(&mut self, message: SaslMessage) -> Result<Vec<u8>, String> {
        let bytes = wire::encode(&Frame::Sasl(message));
        let io = |e: std::io::Error| format!("controller login: {e}");
        self.0.write_all(&bytes).await.map_err(io)?;
        let mut prefix = [0u8; 4];
        self.0.read_exact(&mut prefix).await.map_err(io)?;
        let len = match wire::frame_len(&prefix)? {
            Some(len) if len <= MAX_LOGIN_FRAME => len,
            Some(len) => return Err(format!("a login answer of {len} bytes")),
            None => return Err("no length".into()),
        };
        let mut frame = vec![0u8; len];
        frame[..4].copy_from_slice(&prefix);
        self.0.read_exact(&mut frame[4..]).await.map_err(io)?;
        match wire::decode(&frame)? {
            Frame::Sasl(SaslMessage::Answer(token)) => Ok(token),
            Frame::Sasl(SaslMessage::Refused(why)) => Err(why),
            other => Err(format!("unexpected answer {}", frame_kind(&other))),
        }
    }
}

impl SaslExchange for FrameSasl<'_> {
    async fn handshake(&mut self, mechanism: &str) -> Result<(), String> {
        let mechanism = mechanism.to_string();
        self.exchange(SaslMessage::Handshake { mechanism })
            .await
            .map(drop)
    }

    async fn token(&mut self, token: Vec<u8>) -> Result<(Vec<u8>, i64), String> {
        // Controller sessions last as long as the connection.
        self.exchange(SaslMessage::Token(token))
            .await
            .map(|t| (t, 0))
    }
}
