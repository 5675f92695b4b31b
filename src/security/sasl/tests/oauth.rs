//! OAUTHBEARER: unsecured tokens as Kafka's default validator takes them,
//! and signed ones (RS256 with a test key, ES256 with a generated one)
//! against a JWKS.
//!
//! Must not: read the clock (tokens are dated from the fixed [`NOW_MS`])
//! or use the test key anywhere but here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use super::*;

/// A 2048-bit RSA key made with `openssl genpkey` for these tests only.
const RSA_PKCS8: &[u8] = include_bytes!("../testdata/rsa2048.pk8");

const NOW_S: i64 = NOW_MS / 1000;

fn part(value: &Value) -> String {
    B64URL.encode(value.to_string())
}

fn unsecured(header: Value, claims: Value) -> String {
    format!("{}.{}.", part(&header), part(&claims))
}

fn initial(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

fn oauth_step(
    config: &SaslConfig,
    server: &mut SaslServer,
    message: &[u8],
) -> Result<Step, SaslError> {
    server.step(message, config, &SecurityState::default(), NOW_MS)
}

/// The first step of a fresh exchange.
fn login(config: &SaslConfig, message: &[u8]) -> Result<Step, SaslError> {
    oauth_step(
        config,
        &mut SaslServer::new(Mechanism::OAuthBearer),
        message,
    )
}

/// Asserts Kafka's refusal: the error challenge, then failure on the
/// client's 0x01, for `reason`.
fn assert_refused(config: &SaslConfig, token: &str, reason: &str) {
    let mut server = SaslServer::new(Mechanism::OAuthBearer);
    let result = oauth_step(config, &mut server, &initial(token));
    assert_eq!(
        result.unwrap(),
        Step::Challenge(br#"{"status":"invalid_token"}"#.to_vec()),
        "{token}"
    );
    let error = oauth_step(config, &mut server, b"\x01").unwrap_err();
    assert!(matches!(error, SaslError::InvalidToken { .. }), "{error}");
    assert!(error.to_string().contains(reason), "{error}, not {reason}");
    assert!(!error.to_string().contains(token));
    assert!(matches!(
        oauth_step(config, &mut server, b"\x01"),
        Err(SaslError::Unexpected(_))
    ));
}

#[test]
fn unsecured_tokens_as_kafkas_default_validator() {
    let config = SaslConfig::default();
    let none = json!({"alg": "none"});
    let token = unsecured(
        none.clone(),
        json!({"sub": "alice", "exp": NOW_S + 60, "iat": NOW_S}),
    );
    assert_eq!(
        login(&config, &initial(&token)).unwrap(),
        Step::Done {
            response: Vec::new(),
            who: Authenticated {
                user: "alice".into(),
                expires_at_ms: Some((NOW_S + 60) * 1000)
            }
        }
    );
    // Fractional exp, scope lists, extensions, a matching authzid, any
    // case of "bearer", and time within the clock skew.
    let token = unsecured(
        none.clone(),
        json!({"sub": "bob", "exp": NOW_S as f64 - 10.25, "scope": ["a", "b"]}),
    );
    let message = format!("n,a=bob,\x01traceId=x y\x01auth=BEARER  {token}\x01\x01");
    match login(&config, message.as_bytes()).unwrap() {
        Step::Done { who, .. } => {
            assert_eq!(who.user, "bob");
            assert_eq!(who.expires_at_ms, Some(NOW_MS - 10_250));
        }
        other => panic!("{other:?}"),
    }

    let refused = [
        // Expired beyond the skew (Kafka: now - skew >= exp).
        (json!({"sub": "alice", "exp": NOW_S - 30}), "expired"),
        (json!({"sub": "alice"}), "no exp"),
        (json!({"sub": "alice", "exp": "soon"}), "not a number"),
        (json!({"exp": NOW_S + 60}), "no principal"),
        (json!({"sub": "  ", "exp": NOW_S + 60}), "no principal"),
        (json!({"sub": 7, "exp": NOW_S + 60}), "no principal"),
        (
            json!({"sub": "alice", "exp": NOW_S + 60, "iat": NOW_S + 31}),
            "issued in the future",
        ),
        (
            json!({"sub": "alice", "exp": NOW_S + 10, "iat": NOW_S + 20}),
            "before it was issued",
        ),
        (
            json!({"sub": "alice", "exp": NOW_S + 60, "scope": 3}),
            "scope",
        ),
    ];
    for (claims, reason) in refused {
        assert_refused(&config, &unsecured(none.clone(), claims), reason);
    }
    let good = json!({"sub": "alice", "exp": NOW_S + 60});
    let refused = [
        (unsecured(json!({"alg": "RS256"}), good.clone()), "alg none"),
        (unsecured(json!({}), good.clone()), "no alg"),
        (
            unsecured(none.clone(), good.clone()) + "c2ln",
            "must not be signed",
        ),
        ("not.a.jwt".into(), "not "),
        ("onlyone".into(), "three"),
        (format!("{}.{}", part(&none), part(&good)), "three"),
    ];
    for (token, reason) in refused {
        assert_refused(&config, &token, reason);
    }

    // Another sub claim name is honoured.
    let config = SaslConfig {
        oauth: OAuthConfig {
            sub_claim_name: "client_id".into(),
            ..OAuthConfig::default()
        },
        ..SaslConfig::default()
    };
    let token = unsecured(none, json!({"client_id": "svc", "exp": NOW_S + 60}));
    assert_eq!(done_user(login(&config, &initial(&token))), "svc");
}

#[test]
fn malformed_initial_responses_fail_at_once() {
    let config = SaslConfig::default();
    let token = unsecured(
        json!({"alg": "none"}),
        json!({"sub": "alice", "exp": NOW_S + 60}),
    );
    let messages = [
        String::new(),
        "garbage".into(),
        format!("n,,auth=Bearer {token}\x01\x01"),
        format!("n,,\x01auth=Bearer {token}\x01"),
        format!("y,,\x01auth=Bearer {token}\x01\x01"),
        format!("n,,\x01auth=Basic {token}\x01\x01"),
        format!("n,,\x01auth=Bearer{token}\x01\x01"),
        "n,,\x01auth=Bearer !!!\x01\x01".into(),
        "n,,\x01auth=Bearer \x01\x01".into(),
        "n,,\x01\x01".into(),
        "n,,\x01x=1\x01\x01".into(),
        format!("n,,\x01auth=Bearer {token}\x01x\x01\x01"),
        format!("n,,\x011=2\x01auth=Bearer {token}\x01\x01"),
    ];
    for message in messages {
        let result = login(&config, message.as_bytes());
        assert!(
            matches!(result, Err(SaslError::Malformed { .. })),
            "{message:?}: {result:?}"
        );
    }
    assert!(matches!(
        login(
            &config,
            format!("n,a=bob,\x01auth=Bearer {token}\x01\x01").as_bytes()
        ),
        Err(SaslError::AuthorizationId)
    ));
}

struct Signer {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    fn new() -> Signer {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Signer {
            rsa: RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap(),
            ec: EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            rng,
        }
    }

    fn jwks(&self) -> Jwks {
        let rsa = PublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        let point = self.ec.public_key().as_ref();
        let doc = json!({"keys": [
            {"kty": "oct", "kid": "secret", "k": "AAAA"},
            {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
             "n": B64URL.encode(&rsa.n), "e": B64URL.encode(&rsa.e)},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256",
             "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..])},
        ]});
        Jwks::parse(&doc.to_string()).unwrap()
    }

    fn sign(&self, header: Value, claims: &Value) -> String {
        let input = format!("{}.{}", part(&header), part(claims));
        let signature = match header["alg"].as_str() {
            Some("ES256") => self
                .ec
                .sign(&self.rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                let alg = &signature::RSA_PKCS1_SHA256;
                self.rsa
                    .sign(alg, &self.rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
        };
        format!("{input}.{}", B64URL.encode(signature))
    }
}

#[test]
fn signed_tokens_against_a_jwks() {
    let signer = Signer::new();
    let config = SaslConfig {
        oauth: OAuthConfig {
            jwks: Some(signer.jwks()),
            expected_issuer: Some("https://issuer.example".into()),
            expected_audience: vec!["kafka".into(), "other".into()],
            ..OAuthConfig::default()
        },
        ..SaslConfig::default()
    };
    let claims = json!({
        "sub": " alice ", "iss": "https://issuer.example", "aud": ["x", "kafka"],
        "exp": NOW_S + 60, "iat": NOW_S, "scope": "read write",
    });
    let rs256 = json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"});
    let token = signer.sign(rs256.clone(), &claims);
    match login(&config, &initial(&token)).unwrap() {
        Step::Done { who, .. } => {
            // Kafka trims the subject of a signed token.
            assert_eq!(who.user, "alice");
            assert_eq!(who.expires_at_ms, Some((NOW_S + 60) * 1000));
        }
        other => panic!("{other:?}"),
    }
    let es256 = signer.sign(json!({"alg": "ES256", "kid": "ec-1"}), &claims);
    assert_eq!(done_user(login(&config, &initial(&es256))), "alice");
    // Without a kid, any key fit for the algorithm is tried.
    let no_kid = signer.sign(json!({"alg": "RS256"}), &claims);
    assert_eq!(done_user(login(&config, &initial(&no_kid))), "alice");

    // A flipped signature bit, another key's kid, an unknown kid.
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = B64URL.decode(sig).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{input}.{}", B64URL.encode(&sig));
    assert_refused(&config, &flipped, "signature does not verify");
    let no_key = "no key matches";
    let ec_kid = signer.sign(json!({"alg": "RS256", "kid": "ec-1"}), &claims);
    assert_refused(&config, &ec_kid, no_key);
    let unknown_kid = signer.sign(json!({"alg": "RS256", "kid": "rsa-2"}), &claims);
    assert_refused(&config, &unknown_kid, no_key);
    // An unsigned token, or a critical header, is not taken when keys are.
    let unsigned = unsecured(json!({"alg": "none"}), claims.clone());
    assert_refused(&config, &unsigned, "not signed");
    let crit = signer.sign(
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["x"]}),
        &claims,
    );
    assert_refused(&config, &crit, "critical");

    let changed = |key: &str, value: Value| {
        let mut c = claims.clone();
        match value {
            Value::Null => c.as_object_mut().unwrap().remove(key),
            v => c.as_object_mut().unwrap().insert(key.into(), v),
        };
        signer.sign(rs256.clone(), &c)
    };
    let refused = [
        (changed("iss", json!("https://evil.example")), "issuer"),
        (changed("iss", Value::Null), "issuer"),
        (changed("aud", json!("someone-else")), "audience"),
        (changed("aud", json!(["a", "b"])), "audience"),
        (changed("aud", Value::Null), "audience"),
        (changed("exp", json!(NOW_S - 30)), "expired"),
        (changed("exp", Value::Null), "no exp"),
        (changed("iat", Value::Null), "no iat"),
        (changed("nbf", json!(NOW_S + 31)), "not yet valid"),
        (changed("sub", json!("   ")), "no principal"),
        (changed("sub", Value::Null), "no principal"),
        (changed("scope", json!(["read", " "])), "blank"),
    ];
    for (token, reason) in refused {
        assert_refused(&config, &token, reason);
    }
    // Within the skew, and an audience given as a string.
    assert_eq!(
        done_user(login(&config, &initial(&changed("nbf", json!(NOW_S + 29))))),
        "alice"
    );
    assert_eq!(
        done_user(login(&config, &initial(&changed("aud", json!("other"))))),
        "alice"
    );
    assert_eq!(
        done_user(login(&config, &initial(&changed("exp", json!(NOW_S - 29))))),
        "alice"
    );
}

#[test]
fn jwks_parsing() {
    let ok = r#"{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"},
                         {"kty":"RSA","use":"enc","n":"!","e":"!"},
                         {"kty":"OKP","crv":"Ed25519","x":"AA"}]}"#;
    let jwks = Jwks::parse(ok).unwrap();
    assert_eq!(format!("{jwks:?}"), r#"Jwks { kids: ["k"] }"#);
    let bad = [
        ("not json", "not valid JSON"),
        (r#"{"kids":[]}"#, "no \"keys\""),
        (r#"{"keys":[]}"#, "no RSA or EC"),
        (r#"{"keys":[1]}"#, "not an object"),
        (r#"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#, "no \"n\""),
        (
            r#"{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}"#,
            "not base64url",
        ),
        (
            r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":7}]}"#,
            "not a string",
        ),
        (r#"{"keys":[{"n":"AQAB"}]}"#, "no \"kty\""),
    ];
    for (doc, expected) in bad {
        let err = Jwks::parse(doc).unwrap_err();
        assert!(err.contains(expected), "{doc}: {err}");
    }
}
