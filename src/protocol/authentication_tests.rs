//! The SASL gate driven with real request frames: what passes before a
//! login, the v1 and v0 exchanges, refusals, re-authentication and
//! session expiry, and random frames in every state.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;

use super::authentication::{Admit, Authenticator};
use super::listener::Listener;
use crate::config::listeners::SecurityProtocol;
use crate::security::sasl::{Mechanism, SaslConfig};
use crate::security::session::Session;
use crate::security::SecurityState;

fn listener(protocol: SecurityProtocol, reauth_ms: i64) -> Arc<Listener> {
    let mut sasl = SaslConfig::default();
    sasl.plain_users.insert("alice".into(), "alice-pw".into());
    sasl.plain_users.insert("bob".into(), "bob-pw".into());
    Arc::new(Listener {
        name: "SASL_PLAINTEXT".into(),
        protocol,
        bound: "127.0.0.1:9092".parse().unwrap(),
        tls: None,
        mechanisms: vec![Mechanism::Plain, Mechanism::ScramSha512],
        sasl,
        reauth_ms,
        max_unauthenticated_frame: 524288,
        inter_broker: false,
    })
}

fn gate(reauth_ms: i64) -> Authenticator {
    let session = Session::new(None, "10.0.0.1", "SASL_PLAINTEXT");
    Authenticator::new(
        listener(SecurityProtocol::SaslPlaintext, reauth_ms),
        session,
    )
}

fn request<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(11);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

fn handshake(mechanism: &str, version: i16) -> Bytes {
    let body =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
    request(ApiKey::SaslHandshake, version, &body)
}

fn authenticate(token: &[u8]) -> Bytes {
    let body = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token));
    request(ApiKey::SaslAuthenticate, 2, &body)
}

fn metadata() -> Bytes {
    let body = kafka_protocol::messages::MetadataRequest::default();
    request(ApiKey::Metadata, 12, &body)
}

/// The body of an answer frame (after the length and response header).
fn body<T: Decodable>(frame: &Bytes, key: ApiKey, version: i16) -> T {
    let mut frame = frame.clone();
    let length = frame.get_i32() as usize;
    assert_eq!(length, frame.len());
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    T::decode(&mut frame, version).unwrap()
}

fn answer(admit: Admit) -> Bytes {
    match admit {
        Admit::Answer(frame) => frame,
        other => panic!("expected an answer, got {}", describe(&other)),
    }
}

fn describe(admit: &Admit) -> String {
    match admit {
        Admit::Dispatch(s) => format!("dispatch as {}", s.principal),
        Admit::Answer(_) => "answer".into(),
        Admit::AnswerAndClose(_, why) => format!("answer and close: {why}"),
        Admit::Close(why) => format!("close: {why}"),
    }
}

fn login(gate: &mut Authenticator, user: &str, password: &str) -> Admit {
    let state = SecurityState::default();
    let reply = answer(gate.admit(&handshake("PLAIN", 1), &state));
    let reply: SaslHandshakeResponse = body(&reply, ApiKey::SaslHandshake, 1);
    assert_eq!(reply.error_code, 0);
    gate.admit(
        &authenticate(format!("\0{user}\0{password}").as_bytes()),
        &state,
    )
}

#[test]
fn only_api_versions_and_sasl_pass_before_a_login() {
    let mut gate = gate(0);
    let state = SecurityState::default();
    let versions = request(
        ApiKey::ApiVersions,
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    assert!(
        matches!(gate.admit(&versions, &state), Admit::Dispatch(s) if s.principal == "User:ANONYMOUS")
    );
    assert!(matches!(gate.admit(&metadata(), &state), Admit::Close(_)));
    assert_eq!(
        gate.max_frame(100 << 20),
        524288,
        "unauthenticated frames are small"
    );
}

#[test]
fn a_plain_login_sets_the_principal() {
    let mut gate = gate(0);
    let reply = answer(login(&mut gate, "alice", "alice-pw"));
    let reply: SaslAuthenticateResponse = body(&reply, ApiKey::SaslAuthenticate, 2);
    assert_eq!((reply.error_code, reply.session_lifetime_ms), (0, 0));
    match gate.admit(&metadata(), &SecurityState::default()) {
        Admit::Dispatch(session) => {
            assert_eq!(session.principal, "User:alice");
            assert_eq!(session.host, "10.0.0.1");
        }
        other => panic!("{}", describe(&other)),
    }
    assert_eq!(gate.max_frame(100 << 20), 100 << 20);
}

#[test]
fn a_failed_login_is_answered_then_closed() {
    let mut gate = gate(0);
    let Admit::AnswerAndClose(frame, _) = login(&mut gate, "alice", "wrong") else {
        panic!("a failed login must close the connection");
    };
    let reply: SaslAuthenticateResponse = body(&frame, ApiKey::SaslAuthenticate, 2);
    assert_eq!(
        reply.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    let message = reply.error_message.unwrap().to_string();
    assert!(
        !message.contains("wrong"),
        "never echo the secret: {message}"
    );
}

#[test]
fn an_unoffered_mechanism_gets_the_list_and_a_close() {
    let mut gate = gate(0);
    let Admit::AnswerAndClose(frame, _) =
        gate.admit(&handshake("GSSAPI", 1), &SecurityState::default())
    else {
        panic!("expected a refusal");
    };
    let reply: SaslHandshakeResponse = body(&frame, ApiKey::SaslHandshake, 1);
    assert_eq!(
        reply.error_code,
        ResponseError::UnsupportedSaslMechanism.code()
    );
    let offered: Vec<String> = reply.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-512"]);
}

#[test]
fn v0_framing_carries_raw_tokens() {
    let mut gate = gate(0);
    let state = SecurityState::default();
    answer(gate.admit(&handshake("PLAIN", 0), &state));
    let token = Bytes::from_static(b"\0bob\0bob-pw");
    let framed = answer(gate.admit(&token, &state));
    assert_eq!(
        &framed[..],
        &[0, 0, 0, 0],
        "an empty final token, length-prefixed"
    );
    assert!(
        matches!(gate.admit(&metadata(), &state), Admit::Dispatch(s) if s.principal == "User:bob")
    );
}

#[test]
fn sasl_requests_on_a_plain_listener_are_illegal() {
    let session = Session::new(None, "h", "PLAINTEXT");
    let mut gate = Authenticator::new(listener(SecurityProtocol::Plaintext, 0), session);
    let state = SecurityState::default();
    assert!(matches!(
        gate.admit(&metadata(), &state),
        Admit::Dispatch(_)
    ));
    let frame = answer(gate.admit(&handshake("PLAIN", 1), &state));
    let reply: SaslHandshakeResponse = body(&frame, ApiKey::SaslHandshake, 1);
    assert_eq!(reply.error_code, ResponseError::IllegalSaslState.code());
    let frame = answer(gate.admit(&authenticate(b"\0a\0b"), &state));
    let reply: SaslAuthenticateResponse = body(&frame, ApiKey::SaslAuthenticate, 2);
    assert_eq!(reply.error_code, ResponseError::IllegalSaslState.code());
    assert!(
        matches!(gate.admit(&metadata(), &state), Admit::Dispatch(_)),
        "still serving"
    );
}

#[test]
fn sessions_expire_and_reauthentication_keeps_the_principal() {
    let mut gate = gate(60_000);
    let reply = answer(login(&mut gate, "alice", "alice-pw"));
    let reply: SaslAuthenticateResponse = body(&reply, ApiKey::SaslAuthenticate, 2);
    assert_eq!(reply.session_lifetime_ms, 60_000);
    // KIP-368: the same principal may re-authenticate on the connection…
    answer(login(&mut gate, "alice", "alice-pw"));
    // …another may not.
    assert!(matches!(
        login(&mut gate, "bob", "bob-pw"),
        Admit::AnswerAndClose(..)
    ));

    let mut gate = self::gate(1);
    answer(login(&mut gate, "alice", "alice-pw"));
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(
        matches!(
            gate.admit(&metadata(), &SecurityState::default()),
            Admit::Close(_)
        ),
        "an expired session closes on its next request"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Random frames in each state of the exchange: the gate decides, it
    /// never panics.
    #[test]
    fn random_frames_never_panic(stage in 0u8..4, bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut gate = gate(0);
        let state = SecurityState::default();
        match stage {
            1 => { gate.admit(&handshake("PLAIN", 1), &state); }
            2 => { gate.admit(&handshake("SCRAM-SHA-512", 0), &state); }
            3 => { login(&mut gate, "alice", "alice-pw"); }
            _ => {}
        }
        let frame = Bytes::from(bytes.clone());
        let _ = gate.admit(&frame, &state);
        // Random bytes under a well-formed SaslAuthenticate header too.
        let _ = gate.admit(&authenticate(&bytes), &state);
    }
}
