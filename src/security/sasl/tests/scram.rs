//! SCRAM: RFC 7677's test vector, and round trips with a client written
//! here from RFC 5802.
//!
//! Must not: depend on the server's random nonce except where a test
//! fixes it ([`SaslServer::with_server_nonce`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::super::scram::{hash, hmac, salted_password};
use super::*;
use crate::security::scram::{SCRAM_SHA_256, SCRAM_SHA_512};

/// A credential store with each (user, mechanism code, password).
pub(in crate::security::sasl) fn users(list: &[(&str, i8, &str)]) -> SecurityState {
    let mut state = SecurityState::default();
    for &(user, mechanism, password) in list {
        let salt = b"a salt of sixteen";
        let salted = salted_password(mechanism, password.as_bytes(), salt, 4096);
        let credential = ScramCredential::derive(user, mechanism, 4096, salt, &salted).unwrap();
        state.upsert_credential(user, credential);
    }
    state
}

fn scram_step(
    server: &mut SaslServer,
    message: &str,
    lookup: &dyn CredentialLookup,
) -> Result<Step, SaslError> {
    server.step(message.as_bytes(), &config(), lookup, NOW_MS)
}

fn challenge(result: Result<Step, SaslError>) -> String {
    match result {
        Ok(Step::Challenge(c)) => String::from_utf8(c).unwrap(),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

#[test]
fn rfc_7677_test_vector() {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let salted = salted_password(SCRAM_SHA_256, b"pencil", &salt, 4096);
    let mut state = SecurityState::default();
    let credential = ScramCredential::derive("user", SCRAM_SHA_256, 4096, &salt, &salted).unwrap();
    state.upsert_credential("user", credential);

    let mut server =
        SaslServer::with_server_nonce(Mechanism::ScramSha256, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    let server_first = challenge(scram_step(
        &mut server,
        "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        &state,
    ));
    assert_eq!(
        server_first,
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let done = scram_step(
        &mut server,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        &state,
    );
    assert_eq!(
        done.unwrap(),
        Step::Done {
            response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
            who: Authenticated {
                user: "user".into(),
                expires_at_ms: None
            },
        }
    );
}

/// RFC 5802's client side.
struct Client {
    mechanism: i8,
    gs2_header: &'static str,
    user: &'static str,
    password: &'static str,
    nonce: &'static str,
}

impl Client {
    fn new(mechanism: i8, user: &'static str, password: &'static str) -> Client {
        Client {
            mechanism,
            gs2_header: "n,,",
            user,
            password,
            nonce: "fyko+d2lbbFgONRv9qkxdawL",
        }
    }

    fn bare(&self) -> String {
        let user = self.user.replace('=', "=3D").replace(',', "=2C");
        format!("n={user},r={}", self.nonce)
    }

    fn first(&self) -> String {
        format!("{}{}", self.gs2_header, self.bare())
    }

    /// The client-final message for `server_first`, and the server-final
    /// message the client expects back.
    fn last(&self, server_first: &str) -> (String, String) {
        self.last_with(server_first, false)
    }

    /// `last`, optionally with librdkafka's old bug of sending its own
    /// nonce again in front of the server's (which starts with it).
    fn last_with(&self, server_first: &str, repeat_nonce: bool) -> (String, String) {
        let field = |key: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(key))
                .unwrap()
        };
        let nonce = field("r=");
        assert!(nonce.starts_with(self.nonce) && nonce.len() > self.nonce.len());
        let salt = B64.decode(field("s=")).unwrap();
        let iterations: u32 = field("i=").parse().unwrap();
        let m = self.mechanism;
        let salted = salted_password(m, self.password.as_bytes(), &salt, iterations);
        let client_key = hmac(m, &salted, b"Client Key");
        let stored_key = hash(m, &client_key);
        let binding = B64.encode(self.gs2_header);
        let prefix = if repeat_nonce { self.nonce } else { "" };
        let without_proof = format!("c={binding},r={prefix}{nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.bare());
        let signature = hmac(m, &stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac(m, &salted, b"Server Key");
        let verifier = B64.encode(hmac(m, &server_key, auth.as_bytes()));
        (
            format!("{without_proof},p={}", B64.encode(proof)),
            format!("v={verifier}"),
        )
    }

    /// The whole exchange against a fresh server.
    fn login(
        &self,
        mechanism: Mechanism,
        lookup: &dyn CredentialLookup,
    ) -> Result<Step, SaslError> {
        let mut server = SaslServer::new(mechanism);
        let server_first = challenge(scram_step(&mut server, &self.first(), lookup));
        let (last, _) = self.last(&server_first);
        scram_step(&mut server, &last, lookup)
    }
}

#[test]
fn scram_sha_512_round_trip() {
    let state = users(&[
        ("a,b=c", SCRAM_SHA_512, "pw"),
        ("bob", SCRAM_SHA_512, "bob-pw"),
    ]);
    for (user, password) in [("a,b=c", "pw"), ("bob", "bob-pw")] {
        let client = Client::new(SCRAM_SHA_512, user, password);
        let mut server = SaslServer::new(Mechanism::ScramSha512);
        let server_first = challenge(scram_step(&mut server, &client.first(), &state));
        let (last, expected) = client.last(&server_first);
        match scram_step(&mut server, &last, &state).unwrap() {
            Step::Done { response, who } => {
                assert_eq!(String::from_utf8(response).unwrap(), expected);
                assert_eq!(who.user, user);
            }
            other => panic!("{other:?}"),
        }
        // Nothing is taken after Done.
        assert!(matches!(
            scram_step(&mut server, &last, &state),
            Err(SaslError::Unexpected(_))
        ));
    }
    // An authzid naming the user themself, with the matching binding.
    let client = Client {
        gs2_header: "n,a=bob,",
        ..Client::new(SCRAM_SHA_512, "bob", "bob-pw")
    };
    assert_eq!(
        done_user(client.login(Mechanism::ScramSha512, &state)),
        "bob"
    );
}

#[test]
fn scram_failures_look_alike() {
    let state = users(&[
        ("bob", SCRAM_SHA_512, "bob-pw"),
        ("sha256", SCRAM_SHA_256, "pw"),
    ]);
    let wrong_password = Client::new(SCRAM_SHA_512, "bob", "guess")
        .login(Mechanism::ScramSha512, &state)
        .unwrap_err();
    // An unknown user gets a salt and fails at the proof, like a wrong
    // password; so does a user with only the other mechanism's credential.
    let unknown = Client::new(SCRAM_SHA_512, "nobody", "guess")
        .login(Mechanism::ScramSha512, &state)
        .unwrap_err();
    let other_mechanism = Client::new(SCRAM_SHA_512, "sha256", "pw")
        .login(Mechanism::ScramSha512, &state)
        .unwrap_err();
    for error in [&wrong_password, &unknown, &other_mechanism] {
        assert!(matches!(
            error,
            SaslError::InvalidCredentials(Mechanism::ScramSha512)
        ));
        assert_eq!(
            error.to_string(),
            "Authentication failed during authentication due to invalid credentials \
             with SASL mechanism SCRAM-SHA-512"
        );
    }
    // An unknown user's salt is the same on every attempt, as a real one's.
    let salt_of = |user| {
        let client = Client::new(SCRAM_SHA_512, user, "x");
        let first = challenge(scram_step(
            &mut SaslServer::new(Mechanism::ScramSha512),
            &client.first(),
            &state,
        ));
        first.split(",s=").nth(1).unwrap().to_string()
    };
    assert_eq!(salt_of("nobody"), salt_of("nobody"));
    assert_ne!(salt_of("nobody"), salt_of("someone"));
}

/// A lookup that hands out whatever credential it holds, whatever the
/// mechanism asked for.
struct Careless(ScramCredential);

impl CredentialLookup for Careless {
    fn scram(&self, _: &str, _: i8) -> Option<ScramCredential> {
        Some(self.0.clone())
    }
}

#[test]
fn a_credential_of_the_other_mechanism_is_refused() {
    let salted = salted_password(SCRAM_SHA_256, b"pw", b"salt", 4096);
    let c = ScramCredential::derive("bob", SCRAM_SHA_256, 4096, b"salt", &salted).unwrap();
    let lookup = Careless(c);
    let client = Client::new(SCRAM_SHA_512, "bob", "pw");
    assert!(matches!(
        client.login(Mechanism::ScramSha512, &lookup),
        Err(SaslError::InvalidCredentials(_))
    ));
    let client = Client::new(SCRAM_SHA_256, "bob", "pw");
    assert_eq!(
        done_user(client.login(Mechanism::ScramSha256, &lookup)),
        "bob"
    );
}

#[test]
fn replayed_or_altered_final_messages_fail() {
    let state = users(&[("bob", SCRAM_SHA_512, "bob-pw")]);
    let client = Client::new(SCRAM_SHA_512, "bob", "bob-pw");
    let mut first_server = SaslServer::new(Mechanism::ScramSha512);
    let server_first = challenge(scram_step(&mut first_server, &client.first(), &state));
    let (last, _) = client.last(&server_first);

    // Replayed to another exchange: that one has a new server nonce.
    let mut replay = SaslServer::new(Mechanism::ScramSha512);
    challenge(scram_step(&mut replay, &client.first(), &state));
    assert!(matches!(
        scram_step(&mut replay, &last, &state),
        Err(SaslError::InvalidCredentials(_))
    ));
    // After a failure nothing more is taken.
    assert!(matches!(
        scram_step(&mut replay, &last, &state),
        Err(SaslError::Unexpected(_))
    ));

    // Altered messages, each against a server with a fixed nonce (so the
    // same client-final would otherwise pass, as the first case checks).
    let fixed = || {
        let mut server = SaslServer::with_server_nonce(Mechanism::ScramSha512, "NONCE");
        let server_first = challenge(scram_step(&mut server, &client.first(), &state));
        (server, server_first)
    };
    let (mut server, server_first) = fixed();
    let (last, _) = client.last(&server_first);
    assert_eq!(done_user(scram_step(&mut server, &last, &state)), "bob");
    // librdkafka before 2.6.1 repeats its nonce; Kafka 3.8.1+ accepts it.
    let (mut server, server_first) = fixed();
    let (doubled, _) = client.last_with(&server_first, true);
    assert_eq!(done_user(scram_step(&mut server, &doubled, &state)), "bob");
    let altered = [
        last.replacen(",r=fyko", ",r=fykO", 1),
        last.replacen("NONCE", "NONCF", 1),
        last.replacen("c=biws", "c=eSws", 1),
        last.replacen(",p=", ",p=AAAA", 1),
        last.replacen(",p=", ",x=1,p=", 1),
        last.split(",p=").next().unwrap().to_string() + ",p=AAAA",
    ];
    for message in altered {
        let (mut server, _) = fixed();
        assert!(
            scram_step(&mut server, &message, &state).is_err(),
            "{message}"
        );
    }
}

#[test]
fn client_first_messages_kafka_refuses() {
    let state = users(&[("bob", SCRAM_SHA_256, "pw")]);
    let first = |m: &str| scram_step(&mut SaslServer::new(Mechanism::ScramSha256), m, &state);
    let unsupported = [
        "p=tls-unique,,n=bob,r=abc",
        "y,,n=bob,r=abc",
        "n,,m=ext,n=bob,r=abc",
        "n,,n=bob,r=abc,tokenauth=true",
        "n,,n=bob,r=abc,tokenauth=TRUE",
    ];
    for m in unsupported {
        assert!(
            matches!(first(m), Err(SaslError::Unsupported { .. })),
            "{m}"
        );
    }
    let malformed = [
        "",
        "n,,",
        "n,,n=,r=abc",
        "n,,n=bob",
        "n,,n=bob,r=",
        "n,,r=abc,n=bob",
        "n,,n=b=ob,r=abc",
        "n,x=bob,n=bob,r=abc",
        "n,,n=bob,r=abc,=x",
        "n,,n=bob,r=abc,1=x",
        "n,,n=bob,r=a\u{7f}",
    ];
    for m in malformed {
        assert!(
            matches!(first(m), Err(SaslError::Malformed { .. })),
            "{m:?}"
        );
    }
    assert!(matches!(
        first("n,a=alice,n=bob,r=abc"),
        Err(SaslError::AuthorizationId)
    ));
    // Unknown extensions are ignored, as Kafka does; tokenauth=false too.
    challenge(first("n,,n=bob,r=abc,foo=bar,tokenauth=false"));
}
