//! The client side of SASL PLAIN and SCRAM-SHA-256/512 (RFC 5802), sans-IO,
//! for the broker's own logins to other brokers (followers fetching over a
//! SASL inter-broker listener).
//!
//! Owns: building the client's messages and checking the server's
//! (nonce continuity, iteration floor, server signature). Reuses the
//! server's SCRAM primitives (`scram::{hmac, hash, salted_password}`).
//!
//! Must not: touch sockets or logs, or put the password, salted password
//! or keys in an error (errors are static reasons, safe to log). No type
//! here derives `Debug`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::scram::{hash, hmac, salted_password};
use super::{random_bytes, Mechanism};
use crate::security::scram::{MIN_ITERATIONS, SCRAM_SHA_256, SCRAM_SHA_512};

/// Iterations above this are refused: a hostile server could otherwise
/// make the broker spin on PBKDF2 (Kafka's ScramMechanism caps at 16384
/// too).
const MAX_ITERATIONS: u32 = 16384;

/// PLAIN's single token: `authzid NUL user NUL password` (no authzid).
pub fn plain_token(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// One SCRAM exchange as the client.
pub struct ScramClient {
    mechanism: i8,
    user: String,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    /// Set by `last`: the signature the server must answer with.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `mechanism` must be a SCRAM one; Err for the others.
    pub fn new(mechanism: Mechanism, user: &str, password: &str) -> Result<ScramClient, String> {
        let mechanism = match mechanism {
            Mechanism::ScramSha256 => SCRAM_SHA_256,
            Mechanism::ScramSha512 => SCRAM_SHA_512,
            other => return Err(format!("{} is not a SCRAM mechanism", other.name())),
        };
        let nonce = random_bytes::<24>().map_err(|e| e.to_string())?;
        Ok(Self::with_nonce(
            mechanism,
            user,
            password,
            &URL_SAFE_NO_PAD.encode(nonce),
        ))
    }

    fn with_nonce(mechanism: i8, user: &str, password: &str, nonce: &str) -> ScramClient {
        let name = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            user: user.to_string(),
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare: format!("n={name},r={nonce}"),
            expected_server_signature: None,
        }
    }

    /// client-first: no channel binding, no authzid.
    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// client-final for the server's server-first.
    pub fn last(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| "SCRAM server-first is not UTF-8".to_string())?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attribute in text.split(',') {
            match attribute.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = STANDARD.decode(v).ok(),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok(),
                Some(("e=", _)) => return Err("the server refused the SCRAM login".into()),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("SCRAM server-first has no nonce")?;
        let salt = salt
            .filter(|s| !s.is_empty())
            .ok_or("SCRAM server-first has no valid salt")?;
        let iterations = iterations
            .filter(|i| (MIN_ITERATIONS as u32..=MAX_ITERATIONS).contains(i))
            .ok_or("SCRAM server-first has a missing or unacceptable iteration count")?;
        // The server's nonce must extend ours (RFC 5802 §5.1).
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err("SCRAM server nonce does not extend the client's".into());
        }
        let salted = salted_password(self.mechanism, self.password.as_bytes(), &salt, iterations);
        let client_key = hmac(self.mechanism, &salted, b"Client Key");
        let stored_key = hash(self.mechanism, &client_key);
        let server_key = hmac(self.mechanism, &salted, b"Server Key");
        // "biws" is base64 of the GS2 header "n,,".
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_signature = hmac(self.mechanism, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.expected_server_signature =
            Some(hmac(self.mechanism, &server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks server-final's signature: proves the server knew the
    /// credential, not just accepted us.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let expected = self
            .expected_server_signature
            .as_ref()
            .ok_or("SCRAM server-final before client-final")?;
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "SCRAM server-final is not UTF-8".to_string())?;
        if text.starts_with("e=") {
            return Err("the server refused the SCRAM login".into());
        }
        let signature = text
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or("SCRAM server-final has no valid signature")?;
        if signature.len() != expected.len() || !bool::from(signature.ct_eq(expected)) {
            return Err(
                "SCRAM server signature is wrong: the server does not know the credential".into(),
            );
        }
        Ok(())
    }

    /// The user this client logs in as.
    pub fn user(&self) -> &str {
        &self.user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::{SaslConfig, SaslServer, Step};
    use crate::security::SecurityState;

    fn state(user: &str, mechanism: i8, password: &str) -> SecurityState {
        crate::security::sasl::tests::scram::users(&[(user, mechanism, password)])
    }

    /// Runs the exchange; returns the server's final message, or its error.
    fn exchange(
        mechanism: Mechanism,
        client: &mut ScramClient,
        lookup: &SecurityState,
    ) -> Result<Vec<u8>, String> {
        let mut server = SaslServer::new(mechanism);
        let config = SaslConfig::default();
        let server_first = match server.step(&client.first(), &config, lookup, 0) {
            Ok(Step::Challenge(c)) => c,
            other => return Err(format!("server-first: {:?}", other.err())),
        };
        let last = client.last(&server_first)?;
        match server.step(&last, &config, lookup, 0) {
            Ok(Step::Done { response, who }) => {
                assert_eq!(who.user, client.user());
                Ok(response)
            }
            other => Err(format!("server-final: {:?}", other.err())),
        }
    }

    #[test]
    fn round_trip_with_fjords_server() {
        for (mechanism, code) in [
            (Mechanism::ScramSha256, SCRAM_SHA_256),
            (Mechanism::ScramSha512, SCRAM_SHA_512),
        ] {
            let lookup = state("bro,ker=1", code, "s3cret");
            let mut client = ScramClient::new(mechanism, "bro,ker=1", "s3cret").unwrap();
            let server_final = exchange(mechanism, &mut client, &lookup).unwrap();
            client.verify(&server_final).unwrap();
        }
    }

    #[test]
    fn wrong_password_fails() {
        let lookup = state("broker", SCRAM_SHA_512, "right");
        let mut client = ScramClient::new(Mechanism::ScramSha512, "broker", "wrong").unwrap();
        assert!(exchange(Mechanism::ScramSha512, &mut client, &lookup).is_err());
    }

    #[test]
    fn a_wrong_server_signature_is_detected() {
        let lookup = state("broker", SCRAM_SHA_256, "pw");
        let mut client = ScramClient::new(Mechanism::ScramSha256, "broker", "pw").unwrap();
        let good = exchange(Mechanism::ScramSha256, &mut client, &lookup).unwrap();
        let mut bad = good.clone();
        let last = bad.len() - 3;
        bad[last] ^= 1;
        assert!(client.verify(&bad).is_err());
        assert!(client.verify(b"e=invalid-proof").is_err());
        assert!(client.verify(b"v=").is_err());
        // A server that never saw the credential cannot sign.
        let fake = format!("v={}", STANDARD.encode([0u8; 32]));
        assert!(client.verify(fake.as_bytes()).is_err());
        client.verify(&good).unwrap();
    }

    #[test]
    fn hostile_server_first_is_refused_without_panic() {
        let mut client = ScramClient::with_nonce(SCRAM_SHA_256, "u", "p", "abc");
        for bad in [
            &b"\xff"[..],
            b"",
            b"r=abc,s=c2FsdA==,i=4096",    // nonce not extended
            b"r=xyzdef,s=c2FsdA==,i=4096", // not our nonce
            b"r=abcdef,s=,i=4096",
            b"r=abcdef,s=c2FsdA==,i=1",
            b"r=abcdef,s=c2FsdA==,i=99999999",
            b"e=unknown-user",
        ] {
            assert!(client.last(bad).is_err(), "{bad:?}");
        }
        assert!(client.last(b"r=abcdef,s=c2FsdA==,i=4096").is_ok());
    }

    #[test]
    fn plain_token_is_nul_separated() {
        assert_eq!(plain_token("a", "b"), b"\0a\0b");
    }
}
