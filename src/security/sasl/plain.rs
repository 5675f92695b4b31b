//! SASL/PLAIN (RFC 4616) as Kafka's PlainSaslServer does it: one message
//! `authzid NUL authcid NUL passwd`, checked against the configured users.
//!
//! Must not: keep or print the password, or answer differently for an
//! unknown user and a wrong password (both compare against something, in
//! constant time, and fail with one message).

use std::collections::HashMap;

use super::{secrets_equal, Authenticated, Mechanism, SaslError, Step};

fn malformed(what: &'static str) -> SaslError {
    SaslError::Malformed {
        mechanism: Mechanism::Plain,
        what,
    }
}

pub(super) fn authenticate(
    message: &[u8],
    users: &HashMap<String, String>,
) -> Result<Step, SaslError> {
    // Kafka splits on NUL into at most four pieces and wants three.
    let parts: Vec<&[u8]> = message.splitn(4, |&b| b == 0).collect();
    let [authzid, user, password] = parts[..] else {
        return Err(malformed("expected 3 tokens separated by NUL"));
    };
    let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user)) else {
        return Err(malformed("names must be UTF-8"));
    };
    if user.is_empty() {
        return Err(malformed("username not specified"));
    }
    if password.is_empty() {
        return Err(malformed("password not specified"));
    }
    // An unknown user is compared against an empty password, which never
    // matches (an empty password was refused above), so both paths take
    // the same time.
    let expected = users.get(user).map(String::as_bytes).unwrap_or_default();
    if !(secrets_equal(password, expected) && users.contains_key(user)) {
        return Err(SaslError::InvalidCredentials(Mechanism::Plain));
    }
    // Checked after the password, as Kafka does: only someone who knows
    // the password learns that the authzid was the problem.
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::AuthorizationId);
    }
    Ok(Step::Done {
        response: Vec::new(),
        who: Authenticated {
            user: user.to_string(),
            expires_at_ms: None,
        },
    })
}
