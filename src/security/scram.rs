//! SCRAM credentials as Kafka keeps them (RFC 5802): from the salted
//! password a client sends, only the salt, the iteration count and the two
//! derived keys (StoredKey, ServerKey) are kept. The salted password itself
//! is dropped: it would let anyone holding it log in as the user. Nothing
//! secret ever leaves the broker; DescribeUserScramCredentials reports the
//! mechanism and iterations only.

use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};
use kafka_protocol::error::ResponseError::UnacceptableCredential;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's `ScramMechanism` codes.
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;

/// Kafka's bounds on iterations, the same for both mechanisms.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// One user's credential for one mechanism. Its `Debug` shows only the
/// mechanism and iterations: the keys would let anyone holding them pose as
/// the broker.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub mechanism: i8,
    pub iterations: i32,
    /// Hex, as kept in the metadata log.
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

/// Why an upsertion or deletion is refused: (Kafka error, message).
pub type Refusal = (kafka_protocol::error::ResponseError, String);

pub fn known_mechanism(mechanism: i8) -> bool {
    mechanism == SCRAM_SHA_256 || mechanism == SCRAM_SHA_512
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Checks an upsertion as Kafka's controller does and derives the keys.
    /// Runs where the request arrived: only the result travels.
    pub fn derive(
        user: &str,
        mechanism: i8,
        iterations: i32,
        salt: &[u8],
        salted_password: &[u8],
    ) -> Result<ScramCredential, Refusal> {
        check_upsertion(user, mechanism, iterations)?;
        if salt.is_empty() || salted_password.is_empty() {
            let msg = "salt and salted password must not be empty".to_string();
            return Err((UnacceptableCredential, msg));
        }
        let (stored_key, server_key) = if mechanism == SCRAM_SHA_256 {
            keys::<Sha256>(salted_password)
        } else {
            keys::<Sha512>(salted_password)
        };
        Ok(ScramCredential {
            mechanism,
            iterations,
            salt: hex(salt),
            stored_key: hex(&stored_key),
            server_key: hex(&server_key),
        })
    }

    /// The controller's check of a credential derived elsewhere (it came
    /// over the network): the same rules as [`ScramCredential::derive`],
    /// and keys that are non-empty hex.
    pub fn check(&self, user: &str) -> Result<(), Refusal> {
        check_upsertion(user, self.mechanism, self.iterations)?;
        let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex(&self.salt) || !is_hex(&self.stored_key) || !is_hex(&self.server_key) {
            let msg = "salt and keys must be non-empty hex".to_string();
            return Err((UnacceptableCredential, msg));
        }
        Ok(())
    }
}

/// Kafka's checks on an upsertion that need no secret.
fn check_upsertion(user: &str, mechanism: i8, iterations: i32) -> Result<(), Refusal> {
    check_user_and_mechanism(user, mechanism)?;
    if iterations < MIN_ITERATIONS {
        let msg = format!("too few iterations: {iterations} < {MIN_ITERATIONS}");
        return Err((UnacceptableCredential, msg));
    }
    if iterations > MAX_ITERATIONS {
        let msg = format!("too many iterations: {iterations} > {MAX_ITERATIONS}");
        return Err((UnacceptableCredential, msg));
    }
    Ok(())
}

/// Checks shared by upsertions and deletions.
pub fn check_user_and_mechanism(user: &str, mechanism: i8) -> Result<(), Refusal> {
    use kafka_protocol::error::ResponseError::*;
    if user.is_empty() {
        return Err((UnacceptableCredential, "user name must not be empty".into()));
    }
    if !known_mechanism(mechanism) {
        let msg = format!("unknown SCRAM mechanism {mechanism}");
        return Err((UnsupportedSaslMechanism, msg));
    }
    Ok(())
}

/// RFC 5802: ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
/// H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
fn keys<D>(salted_password: &[u8]) -> (Vec<u8>, Vec<u8>)
where
    D: Digest + BlockSizeUser,
{
    let hmac = |text: &[u8]| {
        let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(salted_password)
            .expect("HMAC takes keys of any length");
        mac.update(text);
        mac.finalize().into_bytes().to_vec()
    };
    let client_key = hmac(b"Client Key");
    let stored_key = D::digest(&client_key).to_vec();
    (stored_key, hmac(b"Server Key"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::error::ResponseError;

    #[test]
    fn keys_follow_rfc_5802() {
        // SaltedPassword = PBKDF2-HMAC-SHA-256("pencil", "salt", 4096); the
        // expected keys were computed independently with Python's hmac.
        let salted = unhex("0997564f292923271312698037b6b0a06a8be7fbd912480847c5a1ace4b8d1c7");
        let (stored, server) = keys::<Sha256>(&salted);
        assert_eq!(
            hex(&stored),
            "bbe88bb3da86e31a73f27e22045265cdefdf54e8cfda386a4085f1fcd0221524"
        );
        assert_eq!(
            hex(&server),
            "7a5421e304f8f1ea5e669c170719628487629be044923a77b1400577f202cb22"
        );
        assert_eq!(keys::<Sha512>(&salted).0.len(), 64);
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn upsertions_are_checked_as_kafka_does() {
        let ok = ScramCredential::derive("u", SCRAM_SHA_256, 8192, b"salt", b"pw").unwrap();
        assert_eq!(
            (ok.mechanism, ok.iterations, ok.salt.as_str()),
            (1, 8192, "73616c74")
        );
        let code = |r: Result<ScramCredential, Refusal>| r.unwrap_err().0;
        assert_eq!(
            code(ScramCredential::derive("", 1, 8192, b"s", b"p")),
            ResponseError::UnacceptableCredential
        );
        assert_eq!(
            code(ScramCredential::derive("u", 3, 8192, b"s", b"p")),
            ResponseError::UnsupportedSaslMechanism
        );
        assert_eq!(
            code(ScramCredential::derive("u", 2, 4095, b"s", b"p")),
            ResponseError::UnacceptableCredential
        );
        assert_eq!(
            code(ScramCredential::derive("u", 2, 16385, b"s", b"p")),
            ResponseError::UnacceptableCredential
        );
    }

    #[test]
    fn credentials_from_elsewhere_are_checked_and_never_printed() {
        let ok = ScramCredential::derive("u", SCRAM_SHA_512, 4096, b"salt", b"pw").unwrap();
        assert!(ok.check("u").is_ok());
        assert!(ok.check("").is_err());
        let printed = format!("{ok:?}");
        assert!(!printed.contains(&ok.stored_key) && !printed.contains(&ok.server_key));
        let bad = [
            ScramCredential {
                iterations: 100,
                ..ok.clone()
            },
            ScramCredential {
                mechanism: 7,
                ..ok.clone()
            },
            ScramCredential {
                stored_key: "not hex".into(),
                ..ok.clone()
            },
            ScramCredential {
                salt: String::new(),
                ..ok.clone()
            },
        ];
        for credential in bad {
            assert!(credential.check("u").is_err(), "{credential:?}");
        }
    }
}
