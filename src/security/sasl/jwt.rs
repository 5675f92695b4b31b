//! JWT access tokens for OAUTHBEARER, validated as Kafka's broker does:
//! unsigned tokens (`alg: none`) by the rules of Kafka's default
//! OAuthBearerUnsecuredValidatorCallbackHandler, signed ones (RS*, PS*,
//! ES256, ES384) against keys from a JWKS document by the rules of its
//! OAuthBearerValidatorCallbackHandler (jose4j underneath).
//!
//! Must not: fetch keys (the broker reads the JWKS and hands it in), read
//! a clock (the time is an argument), or put any part of a token into an
//! error: reasons are static strings.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::signature::{self, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::OAuthConfig;

/// JWKS values are base64url, with or without padding depending on who
/// wrote them.
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The public keys signed tokens are checked with.
#[derive(Clone)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Clone)]
struct Jwk {
    kid: Option<String>,
    /// When set, the only algorithm this key may verify.
    alg: Option<String>,
    key: Key,
}

#[derive(Clone)]
enum Key {
    /// Big-endian modulus (no leading zeros) and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point: 0x04 || x || y.
    Ec { curve: Curve, point: Vec<u8> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

impl std::fmt::Debug for Jwks {
    // Public keys are not secret, but their bytes help nobody in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self
            .keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("(no kid)"))
            .collect();
        f.debug_struct("Jwks").field("kids", &kids).finish()
    }
}

impl Jwks {
    /// Reads a JWKS document (`{"keys": [...]}`). Keys of other types
    /// (oct, OKP) and keys not for signatures (`use` other than "sig") are
    /// skipped; a malformed RSA or EC key is an error.
    pub fn parse(json: &str) -> Result<Jwks, String> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| format!("JWKS is not valid JSON: {e}"))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no \"keys\" array")?;
        let mut keys = Vec::new();
        for (i, jwk) in list.iter().enumerate() {
            let jwk = jwk
                .as_object()
                .ok_or_else(|| format!("JWKS key {i} is not an object"))?;
            if let Some(key) = parse_jwk(jwk).map_err(|e| format!("JWKS key {i}: {e}"))? {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err("JWKS has no RSA or EC signing keys".into());
        }
        Ok(Jwks { keys })
    }
}

fn parse_jwk(jwk: &Map<String, Value>) -> Result<Option<Jwk>, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name)?.ok_or_else(|| format!("no \"{name}\""))?;
        JWK_BASE64
            .decode(value)
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let key = match text("kty")?.as_deref() {
        Some("RSA") => {
            let n = bytes("n")?;
            let first = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            Key::Rsa {
                n: n[first..].to_vec(),
                e: bytes("e")?,
            }
        }
        Some("EC") => {
            let curve = match text("crv")?.as_deref() {
                Some("P-256") => Curve::P256,
                Some("P-384") => Curve::P384,
                _ => return Ok(None),
            };
            let len = curve.coordinate_len();
            let mut point = vec![4u8];
            for c in ["x", "y"] {
                let v = bytes(c)?;
                if v.len() > len {
                    return Err(format!("\"{c}\" is too long for the curve"));
                }
                point.resize(point.len() + len - v.len(), 0);
                point.extend_from_slice(&v);
            }
            Key::Ec { curve, point }
        }
        Some(_) => return Ok(None),
        None => return Err("no \"kty\"".into()),
    };
    Ok(Some(Jwk {
        kid: text("kid")?,
        alg: text("alg")?,
        key,
    }))
}

/// A token that passed.
pub(super) struct Token {
    pub principal: String,
    pub exp_ms: i64,
}

/// Validates a compact-serialized JWT; Err is a static reason.
pub(super) fn validate(
    token: &str,
    config: &OAuthConfig,
    now_ms: i64,
) -> Result<Token, &'static str> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("not three dot-separated parts");
    };
    let header = decode_json(header)?;
    let claims = decode_json(claims)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("no alg in header")?;
    let times = Times::new(config.clock_skew_s, now_ms);
    match &config.jwks {
        None => {
            if alg != "none" {
                return Err("unsecured tokens must have alg none");
            }
            if !signature.is_empty() {
                return Err("unsecured tokens must not be signed");
            }
            unsecured_claims(&claims, config, times)
        }
        Some(jwks) => {
            if header.contains_key("crit") {
                return Err("critical header parameters are not supported");
            }
            let signed = &token[..token.len() - signature.len() - 1];
            verify_signature(jwks, &header, alg, signed.as_bytes(), signature)?;
            signed_claims(&claims, config, times)
        }
    }
}

fn decode_json(part: &str) -> Result<Map<String, Value>, &'static str> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "not base64url")?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("not a JSON object"),
    }
}

#[derive(Clone, Copy)]
struct Times {
    now_ms: i64,
    skew_ms: i64,
}

impl Times {
    fn new(clock_skew_s: i64, now_ms: i64) -> Times {
        Times {
            now_ms,
            skew_ms: clock_skew_s.max(0).saturating_mul(1000),
        }
    }

    /// Kafka (and jose4j): expired once now - skew >= exp.
    fn expired(self, exp_ms: f64) -> bool {
        (self.now_ms.saturating_sub(self.skew_ms)) as f64 >= exp_ms
    }

    /// A time claim later than now + skew.
    fn in_future(self, ms: f64) -> bool {
        ms > self.now_ms.saturating_add(self.skew_ms) as f64
    }
}

/// A numeric claim, if present; Err if present and not a number.
fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, &'static str> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or("a time claim is not a number"),
    }
}

/// Kafka's OAuthBearerUnsecuredJws and its validator: `exp` required,
/// `iat` optional, principal non-blank, scope a string or strings.
fn unsecured_claims(
    claims: &Map<String, Value>,
    config: &OAuthConfig,
    times: Times,
) -> Result<Token, &'static str> {
    let exp = number(claims, "exp")?.ok_or("no exp claim")?;
    let iat = number(claims, "iat")?;
    let principal = claims
        .get(config.sub_claim_name.trim())
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or("no principal claim")?;
    match claims.get(config.scope_claim_name.trim()) {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(scopes)) if scopes.iter().all(Value::is_string) => {}
        Some(_) => return Err("scope claim is not a string or a list of strings"),
    }
    if iat.is_some_and(|iat| times.in_future(iat * 1000.0)) {
        return Err("issued in the future");
    }
    if times.expired(exp * 1000.0) {
        return Err("expired");
    }
    if iat.is_some_and(|iat| iat > exp) {
        return Err("expires before it was issued");
    }
    Ok(Token {
        principal: principal.to_string(),
        // Java's Math.round; `as` saturates absurd values.
        exp_ms: (exp * 1000.0).round() as i64,
    })
}

/// Kafka's signed-token rules (jose4j's JwtConsumer as Kafka builds it,
/// then ClaimValidationUtils): `exp` and `iat` required, `nbf` honoured,
/// issuer and audience when configured, principal non-blank (trimmed).
fn signed_claims(
    claims: &Map<String, Value>,
    config: &OAuthConfig,
    times: Times,
) -> Result<Token, &'static str> {
    // jose4j reads NumericDates as whole seconds.
    let seconds =
        |name| -> Result<Option<f64>, &'static str> { Ok(number(claims, name)?.map(f64::trunc)) };
    let exp = seconds("exp")?.ok_or("no exp claim")?;
    let iat = seconds("iat")?.ok_or("no iat claim")?;
    if exp < 0.0 || iat < 0.0 {
        return Err("negative time claim");
    }
    if times.expired(exp * 1000.0) {
        return Err("expired");
    }
    if seconds("nbf")?.is_some_and(|nbf| times.in_future(nbf * 1000.0)) {
        return Err("not yet valid");
    }
    if let Some(expected) = &config.expected_issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(expected.as_str()) {
            return Err("issuer is not the expected one");
        }
    }
    if !config.expected_audience.is_empty() {
        let named = |a: &Value| {
            a.as_str()
                .is_some_and(|a| config.expected_audience.iter().any(|e| e == a))
        };
        let ok = match claims.get("aud") {
            Some(Value::Array(auds)) => auds.iter().any(named),
            Some(aud) => named(aud),
            None => false,
        };
        if !ok {
            return Err("audience is not an expected one");
        }
    }
    let principal = claims
        .get(config.sub_claim_name.trim())
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("no principal claim")?;
    let blank = |s: &Value| s.as_str().is_none_or(|s| s.trim().is_empty());
    match claims.get(config.scope_claim_name.trim()) {
        Some(Value::Array(scopes)) if scopes.iter().any(blank) => {
            return Err("a scope is blank");
        }
        Some(scope @ Value::String(_)) if blank(scope) => return Err("a scope is blank"),
        _ => {}
    }
    Ok(Token {
        principal: principal.to_string(),
        exp_ms: (exp * 1000.0) as i64,
    })
}

enum Verifier {
    Rsa(&'static RsaParameters),
    Ec(Curve, &'static signature::EcdsaVerificationAlgorithm),
}

impl Verifier {
    fn for_alg(alg: &str) -> Result<Verifier, &'static str> {
        use signature::*;
        Ok(match alg {
            "RS256" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA256),
            "RS384" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA384),
            "RS512" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA512),
            "PS256" => Verifier::Rsa(&RSA_PSS_2048_8192_SHA256),
            "PS384" => Verifier::Rsa(&RSA_PSS_2048_8192_SHA384),
            "PS512" => Verifier::Rsa(&RSA_PSS_2048_8192_SHA512),
            "ES256" => Verifier::Ec(Curve::P256, &ECDSA_P256_SHA256_FIXED),
            "ES384" => Verifier::Ec(Curve::P384, &ECDSA_P384_SHA384_FIXED),
            "none" => return Err("token is not signed"),
            _ => return Err("unsupported signature algorithm"),
        })
    }

    /// Whether `key` can check this algorithm's signatures, and if so
    /// whether it checks this one.
    fn verify(&self, key: &Key, message: &[u8], sig: &[u8]) -> Option<bool> {
        match (self, key) {
            (Verifier::Rsa(params), Key::Rsa { n, e }) => Some(
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok(),
            ),
            (Verifier::Ec(curve, alg), Key::Ec { curve: c, point }) if curve == c => Some(
                UnparsedPublicKey::new(*alg, point)
                    .verify(message, sig)
                    .is_ok(),
            ),
            _ => None,
        }
    }
}

/// Checks the signature with the key the header's `kid` names (or, with
/// no `kid`, with any key fit for the algorithm).
fn verify_signature(
    jwks: &Jwks,
    header: &Map<String, Value>,
    alg: &str,
    message: &[u8],
    signature: &str,
) -> Result<(), &'static str> {
    let verifier = Verifier::for_alg(alg)?;
    let sig = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "signature is not base64url")?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err("kid is not a string"),
    };
    let mut found = false;
    for jwk in &jwks.keys {
        if kid.is_some_and(|kid| jwk.kid.as_deref() != Some(kid))
            || jwk.alg.as_deref().is_some_and(|a| a != alg)
        {
            continue;
        }
        match verifier.verify(&jwk.key, message, &sig) {
            Some(true) => return Ok(()),
            Some(false) => found = true,
            None => {}
        }
    }
    Err(if found {
        "signature does not verify"
    } else {
        "no key matches the token's kid and alg"
    })
}
