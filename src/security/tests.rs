//! The security state: Kafka's answers for ACL and SCRAM requests, the
//! changes they make, and the single-node files read for an upgrade.

use kafka_protocol::error::ResponseError;

use super::acl::{operation, pattern, permission, resource, AclBinding, AclFilter};
use super::scram::{SCRAM_SHA_256, SCRAM_SHA_512};
use super::state::{ScramChange, SecurityState};
use super::{DerivedUpsertion, ScramUpsertion};

fn acl(name: &str, pattern_type: i8, principal: &str, op: i8) -> AclBinding {
    AclBinding {
        resource_type: resource::TOPIC,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation: op,
        permission_type: permission::ALLOW,
    }
}

fn topic_filter(name: &str, pattern_type: i8) -> AclFilter {
    AclFilter {
        resource_type: resource::TOPIC,
        resource_name: Some(name.into()),
        pattern_type,
        principal: None,
        host: None,
        operation: operation::ANY,
        permission_type: permission::ANY,
    }
}

fn upsert(user: &str, mechanism: i8, iterations: i32) -> DerivedUpsertion {
    ScramUpsertion {
        user: user.into(),
        mechanism,
        iterations,
        salt: bytes::Bytes::from_static(b"s\0lt"),
        salted_password: bytes::Bytes::from_static(b"\0ecret"),
    }
    .derive()
}

/// Applies SCRAM changes as the image does.
fn apply(state: &mut SecurityState, changes: Vec<ScramChange>) {
    for change in changes {
        match change {
            ScramChange::Upsert { user, credential } => state.upsert_credential(&user, credential),
            ScramChange::Delete { user, mechanism } => {
                assert!(state.delete_credential(&user, mechanism));
            }
        }
    }
}

#[test]
fn acls_are_created_once_filtered_and_deleted() {
    let mut state = SecurityState::default();
    let a = acl("t1", pattern::PREFIXED, "User:a", operation::READ);
    let b = acl("t1", pattern::LITERAL, "User:b", operation::WRITE);
    let c = acl("t2", pattern::LITERAL, "User:b", operation::WRITE);
    let bad = acl("", pattern::LITERAL, "User:b", operation::WRITE);
    let (outcomes, added) = state.create_acls(&[a.clone(), b.clone(), c.clone(), a.clone(), bad]);
    let codes: Vec<i16> = outcomes.iter().map(|o| o.0).collect();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(codes, [0, 0, 0, 0, invalid]);
    assert_eq!(added, [a.clone(), b.clone(), c.clone()]);
    for binding in added {
        state.add_acl(binding);
    }
    // Creating again succeeds and adds nothing.
    let (outcomes, added) = state.create_acls(std::slice::from_ref(&a));
    assert_eq!((outcomes, added.len()), (vec![(0, None)], 0));

    let matching = state
        .describe_acls(&topic_filter("t1", pattern::MATCH))
        .unwrap();
    // Sorted by pattern type: LITERAL (3) before PREFIXED (4).
    assert_eq!(matching, [b.clone(), a.clone()]);

    // Both filters match `b`: each reports it; it is removed once.
    let (results, removed) = state.delete_acls(&[
        topic_filter("t1", pattern::MATCH),
        topic_filter("t1", pattern::LITERAL),
        topic_filter("t1", 0),
    ]);
    assert_eq!(results[0].as_ref().unwrap(), &[b.clone(), a.clone()]);
    assert_eq!(results[1].as_ref().unwrap(), std::slice::from_ref(&b));
    assert_eq!(results[2].as_ref().unwrap_err().0, invalid);
    assert_eq!(removed, [b, a]);
    for binding in &removed {
        assert!(state.remove_acl(binding));
    }
    let all = AclFilter {
        resource_type: resource::ANY,
        resource_name: None,
        pattern_type: pattern::ANY,
        ..topic_filter("", pattern::ANY)
    };
    assert_eq!(state.describe_acls(&all).unwrap(), [c]);
}

#[test]
fn scram_credentials_are_described_without_secrets() {
    let mut state = SecurityState::default();
    let missing = &state.describe_scram(Some(vec!["alice".into()]))[0];
    assert_eq!(missing.error_code, ResponseError::ResourceNotFound.code());

    let (altered, changes) = state.alter_scram(
        &[],
        &[
            upsert("alice", SCRAM_SHA_256, 10000),
            upsert("bob", SCRAM_SHA_512, 4096),
        ],
    );
    assert!(altered.iter().all(|(_, o)| o.0 == 0), "{altered:?}");
    apply(&mut state, changes);
    let described = state.describe_scram(None);
    let users: Vec<(&str, &[(i8, i32)])> = described
        .iter()
        .map(|u| (u.user.as_str(), u.credentials.as_slice()))
        .collect();
    assert_eq!(
        users,
        [("alice", &[(1, 10000)][..]), ("bob", &[(2, 4096)][..])]
    );
    let json = serde_json::to_string(&state).unwrap();
    assert!(
        !json.contains(&hex(b"\0ecret")),
        "the salted password is not kept"
    );

    let (altered, changes) = state.alter_scram(&[("bob".into(), SCRAM_SHA_512)], &[]);
    assert_eq!(altered, [("bob".to_string(), (0, None))]);
    apply(&mut state, changes);
    assert_eq!(
        state.users.keys().collect::<Vec<_>>(),
        ["alice"],
        "a user without credentials is forgotten"
    );
}

#[test]
fn scram_alterations_get_kafkas_errors() {
    let mut state = SecurityState::default();
    let (_, changes) = state.alter_scram(&[], &[upsert("dave", SCRAM_SHA_256, 8192)]);
    apply(&mut state, changes);
    let (altered, changes) = state.alter_scram(
        &[
            ("carol".into(), SCRAM_SHA_256),
            ("dave".into(), SCRAM_SHA_256),
        ],
        &[
            upsert("dave", SCRAM_SHA_256, 8192),
            upsert("erin", 9, 8192),
            upsert("frank", SCRAM_SHA_256, 100),
        ],
    );
    let codes: Vec<(&str, i16)> = altered.iter().map(|(u, o)| (u.as_str(), o.0)).collect();
    assert_eq!(
        codes,
        [
            ("carol", ResponseError::ResourceNotFound.code()),
            ("dave", ResponseError::DuplicateResource.code()),
            ("erin", ResponseError::UnsupportedSaslMechanism.code()),
            ("frank", ResponseError::UnacceptableCredential.code()),
        ]
    );
    assert!(changes.is_empty());
    let described = state.describe_scram(Some(vec!["carol".into(), "x".into(), "x".into()]));
    let codes: Vec<i16> = described.iter().map(|u| u.error_code).collect();
    assert_eq!(
        codes,
        [
            ResponseError::ResourceNotFound.code(),
            ResponseError::DuplicateResource.code()
        ]
    );
}

#[test]
fn a_forged_credential_is_refused_by_the_controller() {
    let state = SecurityState::default();
    let mut forged = upsert("mallory", SCRAM_SHA_256, 8192);
    if let Ok(credential) = &mut forged.credential {
        credential.iterations = 1;
    }
    let (altered, changes) = state.alter_scram(&[], &[forged]);
    assert_eq!(
        altered[0].1 .0,
        ResponseError::UnacceptableCredential.code()
    );
    assert!(changes.is_empty());
}

#[test]
fn single_node_files_are_read_for_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        super::legacy::load(dir.path()).unwrap(),
        SecurityState::default()
    );
    let security = dir.path().join("security");
    std::fs::create_dir_all(&security).unwrap();
    std::fs::write(
        security.join("acls.toml"),
        r#"[[acl]]
resource_type = 2
resource_name = "orders"
pattern_type = 3
principal = "User:alice"
host = "*"
operation = 3
permission_type = 3
"#,
    )
    .unwrap();
    std::fs::write(
        security.join("scram.toml"),
        r#"[[user]]
name = "alice"

[[user.credential]]
mechanism = 1
iterations = 8192
salt = "73616c74"
stored_key = "00ff"
server_key = "ff00"
"#,
    )
    .unwrap();
    let state = super::legacy::load(dir.path()).unwrap();
    assert_eq!(
        state.acls().iter().collect::<Vec<_>>(),
        [&acl(
            "orders",
            pattern::LITERAL,
            "User:alice",
            operation::READ
        )]
    );
    assert_eq!(state.users["alice"][&SCRAM_SHA_256].iterations, 8192);

    std::fs::write(security.join("acls.toml"), "not toml [").unwrap();
    assert!(super::legacy::load(dir.path()).is_err());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
