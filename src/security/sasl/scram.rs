//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's
//! ScramSaslServer does them: client-first, server-first (nonce, salt,
//! iterations), client-final (proof), server-final (signature). Also the
//! SCRAM primitives (HMAC, H, Hi) that `add_scram` and the tests share.
//!
//! Must not: keep the credential past the exchange, print a key, or let
//! the client tell an unknown user from a wrong password. Kafka fails an
//! unknown user at the first message; here the user gets a made-up salt
//! and fails at the proof, like a wrong password, so neither the message
//! nor the step reveals who exists.

use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::{Digest, KeyInit};
use hmac::{Mac, SimpleHmac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::super::scram::{ScramCredential, MIN_ITERATIONS, SCRAM_SHA_256, SCRAM_SHA_512};
use super::{random_bytes, Authenticated, CredentialLookup, Mechanism, SaslError, Step};

pub(crate) fn hmac(mechanism: i8, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn mac<D: Digest + BlockSizeUser>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac =
            <SimpleHmac<D> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match mechanism {
        SCRAM_SHA_256 => mac::<Sha256>(key, data),
        _ => mac::<Sha512>(key, data),
    }
}

pub(crate) fn hash(mechanism: i8, data: &[u8]) -> Vec<u8> {
    match mechanism {
        SCRAM_SHA_256 => Sha256::digest(data).to_vec(),
        _ => Sha512::digest(data).to_vec(),
    }
}

/// RFC 5802's Hi(): PBKDF2 with HMAC, one block of output. Kafka does not
/// SASLprep the password, so neither does this.
pub(crate) fn salted_password(
    mechanism: i8,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(mechanism, password, &block);
    let mut result = u.clone();
    for _ in 1..iterations {
        u = hmac(mechanism, password, &u);
        result.iter_mut().zip(&u).for_each(|(r, x)| *r ^= x);
    }
    result
}

pub(super) struct ScramServer {
    name: Mechanism,
    /// SCRAM_SHA_256 or SCRAM_SHA_512.
    mechanism: i8,
    /// Tests fix the server nonce; otherwise it is random.
    fixed_nonce: Option<String>,
    /// Set by the client-first message.
    pending: Option<Pending>,
}

/// What the client-final message is checked against.
struct Pending {
    user: String,
    /// None for an unknown user: the exchange goes on, and fails at the
    /// proof.
    credential: Option<ScramCredential>,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    pub(super) fn new(name: Mechanism, fixed_nonce: Option<String>) -> ScramServer {
        let mechanism = match name {
            Mechanism::ScramSha256 => SCRAM_SHA_256,
            _ => SCRAM_SHA_512,
        };
        ScramServer {
            name,
            mechanism,
            fixed_nonce,
            pending: None,
        }
    }

    pub(super) fn step(
        &mut self,
        message: &[u8],
        lookup: &dyn CredentialLookup,
    ) -> Result<Step, SaslError> {
        let message = std::str::from_utf8(message).map_err(|_| self.malformed("not UTF-8"))?;
        match self.pending.take() {
            None => self.client_first(message, lookup),
            Some(pending) => self.client_final(message, pending),
        }
    }

    fn malformed(&self, what: &'static str) -> SaslError {
        SaslError::Malformed {
            mechanism: self.name,
            what,
        }
    }

    fn unsupported(&self, what: &'static str) -> SaslError {
        SaslError::Unsupported {
            mechanism: self.name,
            what,
        }
    }

    fn invalid(&self) -> SaslError {
        SaslError::InvalidCredentials(self.name)
    }

    /// client-first = gs2-header [reserved-mext ","] username "," nonce
    /// ["," extensions]; answers server-first.
    fn client_first(
        &mut self,
        message: &str,
        lookup: &dyn CredentialLookup,
    ) -> Result<Step, SaslError> {
        let Some(rest) = message.strip_prefix("n,") else {
            if message.starts_with("y,") || message.starts_with("p=") {
                return Err(self.unsupported("channel binding"));
            }
            return Err(self.malformed("bad GS2 header"));
        };
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(self.malformed("bad GS2 header"))?;
        let authzid = match authzid {
            "" => None,
            a => {
                let name = a
                    .strip_prefix("a=")
                    .ok_or(self.malformed("bad GS2 header"))?;
                Some(decode_saslname(name).ok_or(self.malformed("bad authzid"))?)
            }
        };
        let gs2_header = message[..message.len() - bare.len()].to_string();
        let mut attributes = bare.split(',');
        let mut first = attributes.next().unwrap_or_default();
        if first.starts_with("m=") {
            // RFC 5802: an unknown mandatory extension must fail.
            return Err(self.unsupported("a mandatory extension (m=)"));
        }
        let user = first
            .strip_prefix("n=")
            .and_then(decode_saslname)
            .ok_or(self.malformed("bad username"))?;
        first = attributes.next().unwrap_or_default();
        let client_nonce = first
            .strip_prefix("r=")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .ok_or(self.malformed("bad nonce"))?;
        for extension in attributes {
            let (key, value) = extension
                .split_once('=')
                .filter(|(k, v)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()) && !v.is_empty()
                })
                .ok_or(self.malformed("bad extension"))?;
            // Kafka uses tokenauth=true for delegation tokens, which fjord
            // does not issue; other extensions are ignored, as in Kafka.
            if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
                return Err(self.unsupported("delegation token authentication"));
            }
        }
        // Checked before the lookup, so that it tells nothing about
        // whether the user exists.
        if authzid.is_some_and(|a| a != user) {
            return Err(SaslError::AuthorizationId);
        }

        let credential = lookup
            .scram(&user, self.mechanism)
            .filter(|c| c.mechanism == self.mechanism && c.iterations >= MIN_ITERATIONS);
        let (salt, iterations) = match &credential {
            Some(c) => (unhex(&c.salt).ok_or(self.invalid())?, c.iterations),
            None => (mock_salt(self.mechanism, &user)?, MIN_ITERATIONS),
        };
        let server_nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => URL_SAFE_NO_PAD.encode(random_bytes::<18>()?),
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={iterations}", STANDARD.encode(salt));
        self.pending = Some(Pending {
            user,
            credential,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        });
        Ok(Step::Challenge(server_first.into_bytes()))
    }

    /// client-final = "c=" channel-binding "," nonce ["," extensions] ","
    /// proof; answers server-final.
    fn client_final(&mut self, message: &str, pending: Pending) -> Result<Step, SaslError> {
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or(self.malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or(self.malformed("no channel binding"))?;
        let nonce = attributes
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(self.malformed("no nonce"))?;
        if binding != STANDARD.encode(&pending.gs2_header) {
            return Err(self.unsupported("channel binding"));
        }
        // librdkafka before 2.6.1 sends the client nonce twice (its own,
        // then ours, which starts with it); Kafka 3.8.1+ accepts that by
        // checking the end, and so does fjord (kcat on Debian is 2.0.2).
        if !nonce.ends_with(&pending.nonce) {
            return Err(self.invalid());
        }
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| self.malformed("proof is not base64"))?;

        let auth_message = format!(
            "{},{},{without_proof}",
            pending.client_first_bare, pending.server_first
        );
        let keys = pending
            .credential
            .as_ref()
            .and_then(|c| Some((unhex(&c.stored_key)?, unhex(&c.server_key)?)));
        let Some((stored_key, server_key)) = keys else {
            return Err(self.invalid());
        };
        let client_signature = hmac(self.mechanism, &stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(self.invalid());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let computed = hash(self.mechanism, &client_key);
        if !bool::from(computed.ct_eq(&stored_key)) {
            return Err(self.invalid());
        }
        let server_signature = hmac(self.mechanism, &server_key, auth_message.as_bytes());
        Ok(Step::Done {
            response: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
            who: Authenticated {
                user: pending.user,
                expires_at_ms: None,
            },
        })
    }
}

/// saslname with `=2C` and `=3D` decoded; None when empty or when it has
/// a bare `,` or `=`.
fn decode_saslname(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(',') || name.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let escaped = rest.get(i..i + 3)?;
        out.push(match escaped {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The salt shown to a user without a credential: the same for the same
/// name for the life of the process (a real user's salt does not change
/// between attempts either), and unrelated to any real salt.
fn mock_salt(mechanism: i8, user: &str) -> Result<Vec<u8>, SaslError> {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = match KEY.get() {
        Some(key) => key,
        None => {
            let fresh = random_bytes::<32>()?;
            KEY.get_or_init(|| fresh)
        }
    };
    let mut data = vec![mechanism as u8];
    data.extend_from_slice(user.as_bytes());
    Ok(hmac(SCRAM_SHA_256, key, &data))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    // from_str_radix alone would take a sign ("+f").
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslnames_decode_as_rfc_5802_says() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("user").as_deref(), Some("user"));
        for bad in ["", "a=", "a=2", "a=41", "a,b", "=2c"] {
            assert_eq!(decode_saslname(bad), None, "{bad}");
        }
    }

    #[test]
    fn hi_is_pbkdf2() {
        // Expected values from Python's hashlib.pbkdf2_hmac.
        let hi = |m, p: &[u8], s: &[u8], i| hex(&salted_password(m, p, s, i));
        assert_eq!(
            hi(SCRAM_SHA_256, b"password", b"salt", 1),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hi(SCRAM_SHA_256, b"pencil", b"salt", 4096),
            "0997564f292923271312698037b6b0a06a8be7fbd912480847c5a1ace4b8d1c7"
        );
        assert_eq!(
            hi(SCRAM_SHA_512, b"pencil", b"salt", 4096),
            "2cfe3a1c151662b1ea49d13f595674a1c666add70df15d3d02254e9905993878\
             261da7407fd11c2fee4b0a30df5154b1a752f86a13380ddd4bdd9a7c958ec769"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn unhex_takes_only_hex() {
        assert_eq!(unhex("0aff"), Some(vec![10, 255]));
        for bad in ["0", "zz", "+f", "-1"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }
}
