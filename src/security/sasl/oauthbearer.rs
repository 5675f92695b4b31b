//! SASL/OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer does it:
//! the client's initial response carries a bearer token; a valid token
//! ends the exchange, an invalid one gets a JSON error challenge, which the
//! client acknowledges with a lone 0x01 before the server fails.
//!
//! Must not: validate tokens itself (`jwt` does) or keep or print the
//! token.

use super::jwt;
use super::{Authenticated, Mechanism, OAuthConfig, SaslError, Step};

/// Kafka's error challenge for a refused token (its validators never set
/// a scope or an openid-configuration here).
const INVALID_TOKEN: &[u8] = br#"{"status":"invalid_token"}"#;

#[derive(Default)]
pub(super) struct OAuthServer {
    /// Why the token was refused, once the error challenge has been sent.
    refused: Option<&'static str>,
}

fn malformed(what: &'static str) -> SaslError {
    SaslError::Malformed {
        mechanism: Mechanism::OAuthBearer,
        what,
    }
}

impl OAuthServer {
    pub(super) fn step(
        &mut self,
        message: &[u8],
        config: &OAuthConfig,
        now_ms: i64,
    ) -> Result<Step, SaslError> {
        if let Some(reason) = self.refused {
            // The client's acknowledgement (0x01) or anything else: the
            // exchange has failed either way.
            return Err(SaslError::InvalidToken { reason });
        }
        let response = parse_initial_response(message)?;
        let token = match jwt::validate(response.token, config, now_ms) {
            Ok(token) => token,
            Err(reason) => {
                self.refused = Some(reason);
                return Ok(Step::Challenge(INVALID_TOKEN.to_vec()));
            }
        };
        if response
            .authzid
            .is_some_and(|authzid| authzid != token.principal)
        {
            return Err(SaslError::AuthorizationId);
        }
        Ok(Step::Done {
            response: Vec::new(),
            who: Authenticated {
                user: token.principal,
                expires_at_ms: Some(token.exp_ms),
            },
        })
    }
}

struct InitialResponse<'a> {
    authzid: Option<&'a str>,
    token: &'a str,
}

/// `n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01]*\x01`, with
/// Kafka's character classes. Extensions other than `auth` are accepted
/// and ignored, as Kafka's default validators do. The authzid is compared
/// as sent: Kafka's client does not escape it, so neither side decodes.
fn parse_initial_response(message: &[u8]) -> Result<InitialResponse<'_>, SaslError> {
    let message = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
    let rest = message
        .strip_prefix("n,")
        .ok_or(malformed("bad GS2 header"))?;
    let (authzid, rest) = rest.split_once(',').ok_or(malformed("bad GS2 header"))?;
    let authzid = match authzid {
        "" => None,
        a => {
            let a = a.strip_prefix("a=").ok_or(malformed("bad GS2 header"))?;
            let ok = |c: char| c.is_ascii() && c != '\0' && c != ',';
            if a.is_empty() || !a.chars().all(ok) {
                return Err(malformed("bad authzid"));
            }
            Some(a)
        }
    };
    let pairs = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix('\x01'))
        .ok_or(malformed("bad separators"))?;
    let mut auth = None;
    // Each pair ends with 0x01; the final 0x01 was stripped above.
    let pairs = pairs.strip_suffix('\x01').ok_or(malformed("no auth"))?;
    for pair in pairs.split('\x01') {
        let (key, value) = pair.split_once('=').ok_or(malformed("bad key=value"))?;
        let value_ok = |c: char| matches!(c, '\x21'..='\x7e' | ' ' | '\t' | '\r' | '\n');
        if key.is_empty()
            || !key.bytes().all(|b| b.is_ascii_alphabetic())
            || value.is_empty()
            || !value.chars().all(value_ok)
        {
            return Err(malformed("bad key=value"));
        }
        if key == "auth" {
            auth = Some(value);
        }
    }
    let auth = auth.ok_or(malformed("no auth"))?;
    // `scheme SP+ token`, scheme compared without case.
    let (scheme, token) = auth.split_once(' ').ok_or(malformed("bad auth"))?;
    let token = token.trim_start_matches(' ');
    let token_ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || !token.bytes().all(token_ok) {
        return Err(malformed("bad auth"));
    }
    Ok(InitialResponse { authzid, token })
}
