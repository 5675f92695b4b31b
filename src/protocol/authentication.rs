//! The SASL gate of one connection: which requests may pass before the
//! client has authenticated, the SaslHandshake / SaslAuthenticate exchange
//! (v1 framing in Kafka requests, v0 framing as raw tokens after a
//! SaslHandshake v0), the session's lifetime and re-authentication
//! (KIP-368).
//!
//! Owns: the order of the exchange and its answers, as Kafka's
//! SaslServerAuthenticator gives them. A failed login is answered with
//! SASL_AUTHENTICATION_FAILED and the connection closes; a request other
//! than ApiVersions before authentication, or any request but a
//! re-authentication after the session expired, closes it with one log
//! line. Must not: check credentials itself (`security::sasl` does) or
//! log a token.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::codec::{decode, encode_response};
use super::listener::Listener;
use crate::security::sasl::{Mechanism, SaslServer, Step};
use crate::security::session::Session;
use crate::security::SecurityState;

/// What to do with one frame.
pub enum Admit {
    /// A Kafka request to dispatch as this session.
    Dispatch(Rc<Session>),
    /// The gate's own answer (a complete frame), in request order.
    Answer(Bytes),
    /// Answer, then close the connection for `reason`.
    AnswerAndClose(Bytes, String),
    Close(String),
}

enum State {
    /// No mechanism chosen yet.
    Handshake,
    /// A SaslHandshake chose a mechanism; tokens come as SaslAuthenticate
    /// requests, or as raw frames when the handshake was v0.
    Exchange {
        server: SaslServer,
        raw: bool,
    },
    Authenticated,
}

pub struct Authenticator {
    listener: Arc<Listener>,
    state: State,
    /// The connection's session: unauthenticated (ANONYMOUS, or the TLS
    /// certificate's principal) until a SASL login replaces it.
    session: Rc<Session>,
    /// When the SASL session ends (KIP-368), if it does.
    expires: Option<Instant>,
    /// The mechanism of the first login: a re-authentication must use it.
    mechanism: Option<Mechanism>,
    /// A SASL login succeeded on this connection (later ones are
    /// re-authentications).
    logged_in: bool,
}

impl Authenticator {
    pub fn new(listener: Arc<Listener>, session: Session) -> Authenticator {
        let state = match listener.protocol.uses_sasl() {
            true => State::Handshake,
            false => State::Authenticated,
        };
        Authenticator {
            listener,
            state,
            session: Rc::new(session),
            expires: None,
            mechanism: None,
            logged_in: false,
        }
    }

    /// The largest frame the client may send now.
    pub fn max_frame(&self, configured: usize) -> usize {
        match self.state {
            State::Authenticated => configured,
            _ => configured.min(self.listener.max_unauthenticated_frame),
        }
    }

    /// Decides what `frame` (a request without its length prefix) is.
    pub fn admit(&mut self, frame: &Bytes, security: &SecurityState) -> Admit {
        if let State::Exchange { raw: true, .. } = self.state {
            return self.raw_token(frame, security);
        }
        if frame.len() < 8 {
            return Admit::Close(format!("request frame of {} bytes", frame.len()));
        }
        let key = frame.slice(0..2).get_i16();
        match ApiKey::try_from(key) {
            Ok(ApiKey::SaslHandshake) => self.handshake(frame),
            Ok(ApiKey::SaslAuthenticate) => self.authenticate(frame, security),
            Ok(ApiKey::ApiVersions) => Admit::Dispatch(self.session.clone()),
            _ => match self.state {
                State::Authenticated if self.expired() => Admit::Close(
                    "the SASL session expired and the client did not re-authenticate".into(),
                ),
                State::Authenticated => Admit::Dispatch(self.session.clone()),
                _ => Admit::Close(format!(
                    "unexpected request (API key {key}) before SASL authentication"
                )),
            },
        }
    }

    fn expired(&self) -> bool {
        self.expires.is_some_and(|at| Instant::now() >= at)
    }

    fn handshake(&mut self, frame: &Bytes) -> Admit {
        let Ok((version, header, request)) = parse::<SaslHandshakeRequest>(frame) else {
            return Admit::Close("malformed SaslHandshake".into());
        };
        let offered: Vec<StrBytes> = self
            .listener
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let reply = |code: i16| {
            let body = SaslHandshakeResponse::default()
                .with_error_code(code)
                .with_mechanisms(offered.clone());
            encode_response(ApiKey::SaslHandshake, version, header.correlation_id, &body)
        };
        if !self.listener.protocol.uses_sasl() {
            // Kafka answers, and keeps serving, where SASL is off.
            return answer(reply(ResponseError::IllegalSaslState.code()));
        }
        let asked = Mechanism::from_name(request.mechanism.as_str());
        let reauthenticating = matches!(self.state, State::Authenticated);
        let exchanging = matches!(self.state, State::Exchange { .. });
        let refusal = if exchanging {
            Some(ResponseError::IllegalSaslState)
        } else if asked.is_none_or(|m| !self.listener.mechanisms.contains(&m)) {
            Some(ResponseError::UnsupportedSaslMechanism)
        } else if reauthenticating && (version == 0 || asked != self.mechanism) {
            // KIP-368: re-authentication uses the v1 framing and the same
            // mechanism.
            Some(ResponseError::IllegalSaslState)
        } else {
            None
        };
        match (refusal, asked) {
            (None, Some(mechanism)) => {
                self.state = State::Exchange {
                    server: SaslServer::new(mechanism),
                    raw: version == 0,
                };
                self.mechanism = Some(mechanism);
                answer(reply(0))
            }
            (error, _) => {
                let error = error.unwrap_or(ResponseError::IllegalSaslState);
                let why = format!(
                    "SaslHandshake for {} refused: {error:?}",
                    request.mechanism.as_str()
                );
                match reply(error.code()) {
                    Ok(frame) => Admit::AnswerAndClose(frame, why),
                    Err(e) => Admit::Close(e),
                }
            }
        }
    }

    fn authenticate(&mut self, frame: &Bytes, security: &SecurityState) -> Admit {
        let Ok((version, header, request)) = parse::<SaslAuthenticateRequest>(frame) else {
            return Admit::Close("malformed SaslAuthenticate".into());
        };
        let reply = |code: i16, message: Option<String>, bytes: Bytes, lifetime_ms: i64| {
            let body = SaslAuthenticateResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
                .with_auth_bytes(bytes)
                .with_session_lifetime_ms(lifetime_ms);
            encode_response(
                ApiKey::SaslAuthenticate,
                version,
                header.correlation_id,
                &body,
            )
        };
        if !self.listener.protocol.uses_sasl() {
            let message = "SaslAuthenticate on a listener without SASL".to_string();
            let code = ResponseError::IllegalSaslState.code();
            return answer(reply(code, Some(message), Bytes::new(), 0));
        }
        let State::Exchange { raw: false, .. } = self.state else {
            let message = "SaslAuthenticate without a SaslHandshake first".to_string();
            let code = ResponseError::IllegalSaslState.code();
            return close_with(reply(code, Some(message.clone()), Bytes::new(), 0), message);
        };
        match self.step(&request.auth_bytes, security) {
            Ok(StepOutcome::Challenge(bytes)) => answer(reply(0, None, bytes, 0)),
            Ok(StepOutcome::Done(bytes, lifetime_ms)) => answer(reply(0, None, bytes, lifetime_ms)),
            Err(message) => {
                let code = ResponseError::SaslAuthenticationFailed.code();
                close_with(reply(code, Some(message.clone()), Bytes::new(), 0), message)
            }
        }
    }

    /// SaslHandshake v0 framing: the frame is the token, the answer a
    /// length-prefixed token; a failure just closes the connection.
    fn raw_token(&mut self, frame: &Bytes, security: &SecurityState) -> Admit {
        let framed = |token: Bytes| {
            let mut out = BytesMut::with_capacity(4 + token.len());
            out.put_i32(token.len() as i32);
            out.put_slice(&token);
            Admit::Answer(out.freeze())
        };
        match self.step(frame, security) {
            Ok(StepOutcome::Challenge(bytes)) | Ok(StepOutcome::Done(bytes, _)) => framed(bytes),
            Err(message) => Admit::Close(message),
        }
    }

    fn step(&mut self, token: &[u8], security: &SecurityState) -> Result<StepOutcome, String> {
        let State::Exchange { server, .. } = &mut self.state else {
            return Err("no SASL exchange in progress".into());
        };
        let now_ms = crate::util::now_ms();
        let step = server.step(token, &self.listener.sasl, security, now_ms);
        let (response, who) = match step {
            Ok(Step::Challenge(bytes)) => return Ok(StepOutcome::Challenge(Bytes::from(bytes))),
            Ok(Step::Done { response, who }) => (response, who),
            Err(e) => {
                self.state = State::Handshake;
                return Err(e.to_string());
            }
        };
        let previous = self.session.clone();
        let session = Session::new(Some(&who.user), &previous.host, &previous.listener);
        if self.logged_in && previous.principal != session.principal {
            self.state = State::Handshake;
            return Err("a re-authentication may not change the principal".into());
        }
        let lifetime_ms = self.lifetime_ms(who.expires_at_ms, now_ms);
        self.expires =
            (lifetime_ms > 0).then(|| Instant::now() + Duration::from_millis(lifetime_ms as u64));
        self.session = Rc::new(session);
        self.state = State::Authenticated;
        self.logged_in = true;
        Ok(StepOutcome::Done(Bytes::from(response), lifetime_ms))
    }

    /// KIP-368: the session lasts connections.max.reauth.ms, and no longer
    /// than the credential (an OAUTHBEARER token's expiry); 0: forever.
    fn lifetime_ms(&self, credential_expires_at_ms: Option<i64>, now_ms: i64) -> i64 {
        let by_setting = Some(self.listener.reauth_ms).filter(|ms| *ms > 0);
        let by_credential = credential_expires_at_ms.map(|at| (at - now_ms).max(1));
        match (by_setting, by_credential) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0,
        }
    }
}

enum StepOutcome {
    Challenge(Bytes),
    /// The last server message and the session lifetime (0: none).
    Done(Bytes, i64),
}

fn answer(frame: Result<Bytes, String>) -> Admit {
    match frame {
        Ok(frame) => Admit::Answer(frame),
        Err(e) => Admit::Close(e),
    }
}

fn close_with(frame: Result<Bytes, String>, reason: String) -> Admit {
    match frame {
        Ok(frame) => Admit::AnswerAndClose(frame, reason),
        Err(e) => Admit::Close(e),
    }
}

/// The version, header and body of a request frame.
fn parse<T: kafka_protocol::protocol::Decodable>(
    frame: &Bytes,
) -> Result<(i16, RequestHeader, T), String> {
    let mut body = frame.clone();
    let key = frame.slice(0..2).get_i16();
    let version = frame.slice(2..4).get_i16();
    let api = ApiKey::try_from(key).map_err(|_| format!("unknown API key {key}"))?;
    let range = api.valid_versions();
    if version < range.min || version > range.max {
        return Err(format!("{api:?} v{version} is not supported"));
    }
    let header: RequestHeader = decode(&mut body, api.request_header_version(version))?;
    let request = decode(&mut body, version)?;
    Ok((version, header, request))
}
