//! Tests of the SASL exchanges through [`SaslServer`], one file per
//! mechanism, and a fuzz test that hostile input never panics.
//!
//! Must not: reach outside the process (no sockets, no clock: times are
//! fixed numbers).

mod fuzz;
mod oauth;
pub(super) mod scram;

use super::*;

/// A fixed "now" for the tests: 2023-11-14T22:13:20Z.
const NOW_MS: i64 = 1_700_000_000_000;

fn config() -> SaslConfig {
    let mut config = SaslConfig::default();
    config
        .plain_users
        .insert("alice".into(), "alice-secret".into());
    config
}

/// One step with the default config and no SCRAM users.
fn step(server: &mut SaslServer, token: &[u8]) -> Result<Step, SaslError> {
    server.step(token, &config(), &SecurityState::default(), NOW_MS)
}

fn done_user(result: Result<Step, SaslError>) -> String {
    match result {
        Ok(Step::Done { who, .. }) => who.user,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn mechanisms_are_named_as_kafka_names_them() {
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::from_name("plain"), None);
    assert_eq!(Mechanism::from_name("GSSAPI"), None);
}

#[test]
fn plain_accepts_the_right_password_once() {
    let mut server = SaslServer::new(Mechanism::Plain);
    let result = step(&mut server, b"\0alice\0alice-secret");
    assert_eq!(
        result.unwrap(),
        Step::Done {
            response: Vec::new(),
            who: Authenticated {
                user: "alice".into(),
                expires_at_ms: None
            }
        }
    );
    // An authzid equal to the user is fine; nothing after Done is.
    assert!(matches!(
        step(&mut server, b"\0alice\0alice-secret"),
        Err(SaslError::Unexpected(Mechanism::Plain))
    ));
    let mut server = SaslServer::new(Mechanism::Plain);
    assert_eq!(
        done_user(step(&mut server, b"alice\0alice\0alice-secret")),
        "alice"
    );
}

#[test]
fn plain_refuses_without_saying_why_the_user_failed() {
    let fail = |token: &[u8]| step(&mut SaslServer::new(Mechanism::Plain), token).unwrap_err();
    let wrong = fail(b"\0alice\0wrong");
    let unknown = fail(b"\0mallory\0alice-secret");
    assert!(matches!(
        wrong,
        SaslError::InvalidCredentials(Mechanism::Plain)
    ));
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(wrong.error_code(), 58); // SASL_AUTHENTICATION_FAILED
    assert_eq!(
        wrong.to_string(),
        "Authentication failed: Invalid username or password"
    );
    // A prefix of the password is not the password.
    assert!(matches!(
        fail(b"\0alice\0alice-secre"),
        SaslError::InvalidCredentials(_)
    ));
    assert!(matches!(
        fail(b"bob\0alice\0alice-secret"),
        SaslError::AuthorizationId
    ));
    for malformed in [
        &b"alice alice-secret"[..],
        b"\0alice",
        b"\0alice\0secret\0more",
        b"\0\0alice-secret",
        b"\0alice\0",
        b"\0\xff\0pw",
    ] {
        assert!(
            matches!(fail(malformed), SaslError::Malformed { .. }),
            "{malformed:?}"
        );
    }
    assert!(!format!("{:?}", config()).contains("alice-secret"));
}
