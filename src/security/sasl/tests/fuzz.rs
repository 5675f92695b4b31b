//! Hostile input never panics: random tokens, and random tails after
//! valid-looking prefixes, fed to every mechanism.
//!
//! Must not: assert anything about the answers (the other tests do); only
//! that there is one.

use proptest::prelude::*;

use super::*;
use crate::security::scram::SCRAM_SHA_256;

/// Prefixes that get random input past the first checks.
const PREFIXES: [&[u8]; 6] = [
    b"",
    b"\0alice\0",
    b"n,,n=bob,r=",
    b"n,a=bob,n=bob,r=abc,",
    b"n,,\x01auth=Bearer ",
    b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.",
];

fn lookup() -> SecurityState {
    let mut state = SecurityState::default();
    let credential =
        ScramCredential::derive("bob", SCRAM_SHA_256, 4096, b"salt", b"salted").unwrap();
    state.upsert_credential("bob", credential);
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_tokens_never_panic(
        prefix in 0..PREFIXES.len(),
        tokens in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..4),
        signed in any::<bool>(),
    ) {
        let mut config = config();
        if signed {
            let jwks = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},
                {"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#;
            config.oauth.jwks = Some(Jwks::parse(jwks).unwrap());
        }
        let state = lookup();
        for mechanism in Mechanism::ALL {
            let mut server = SaslServer::new(mechanism);
            for (i, token) in tokens.iter().enumerate() {
                let mut message = if i == 0 { PREFIXES[prefix].to_vec() } else { Vec::new() };
                message.extend_from_slice(token);
                let _ = server.step(&message, &config, &state, NOW_MS);
            }
        }
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,80}", count in 1..3usize) {
        let state = lookup();
        for mechanism in Mechanism::ALL {
            let mut server = SaslServer::new(mechanism);
            for _ in 0..count {
                let _ = server.step(text.as_bytes(), &config(), &state, NOW_MS);
            }
        }
        let _ = jaas::plain_users_from_jaas(&text);
        let _ = add_scram::parse(&format!("SCRAM-SHA-256=[{text}]"));
        let _ = Jwks::parse(&text);
    }
}
