//! The security store: Kafka's answers for ACL and SCRAM changes, and the
//! state surviving a reload from disk.

use kafka_protocol::error::ResponseError;

use super::acl::{operation, pattern, permission, resource, AclBinding, AclFilter};
use super::scram::{SCRAM_SHA_256, SCRAM_SHA_512};
use super::{ScramUpsertion, SecurityStore};

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

fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
    ScramUpsertion {
        user: user.into(),
        mechanism,
        iterations,
        salt: bytes::Bytes::from_static(b"s\0lt"),
        salted_password: bytes::Bytes::from_static(b"\0ecret"),
    }
}

#[test]
fn acls_are_created_once_filtered_deleted_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SecurityStore::load(dir.path()).unwrap();
    let a = acl("t1", pattern::PREFIXED, "User:a", operation::READ);
    let b = acl("t1", pattern::LITERAL, "User:b", operation::WRITE);
    let c = acl("t2", pattern::LITERAL, "User:b", operation::WRITE);
    let bad = acl("", pattern::LITERAL, "User:b", operation::WRITE);
    let outcomes = store.create_acls(vec![a.clone(), b.clone(), c.clone(), a.clone(), bad]);
    let codes: Vec<i16> = outcomes.iter().map(|o| o.0).collect();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(codes, [0, 0, 0, 0, invalid]);

    let matching = store
        .describe_acls(&topic_filter("t1", pattern::MATCH))
        .unwrap();
    // Sorted by pattern type: LITERAL (3) before PREFIXED (4).
    assert_eq!(matching, [b.clone(), a.clone()]);
    let reloaded = SecurityStore::load(dir.path()).unwrap();
    assert_eq!(
        reloaded
            .describe_acls(&topic_filter("t2", pattern::ANY))
            .unwrap(),
        std::slice::from_ref(&c)
    );

    // Both filters match `b`: each reports it; it is removed once.
    let results = store.delete_acls(&[
        topic_filter("t1", pattern::MATCH),
        topic_filter("t1", pattern::LITERAL),
        topic_filter("t1", 0),
    ]);
    assert_eq!(results[0].as_ref().unwrap(), &[b.clone(), a]);
    assert_eq!(results[1].as_ref().unwrap(), &[b]);
    assert_eq!(results[2].as_ref().unwrap_err().0, invalid);
    let reloaded = SecurityStore::load(dir.path()).unwrap();
    let all = AclFilter {
        resource_type: resource::ANY,
        resource_name: None,
        pattern_type: pattern::ANY,
        ..topic_filter("", pattern::ANY)
    };
    assert_eq!(reloaded.describe_acls(&all).unwrap(), [c]);
}

#[test]
fn scram_credentials_are_described_without_secrets_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SecurityStore::load(dir.path()).unwrap();
    let missing = &store.describe_scram(Some(vec!["alice".into()]))[0];
    assert_eq!(missing.error_code, ResponseError::ResourceNotFound.code());

    let altered = store.alter_scram(
        vec![],
        vec![
            upsert("alice", SCRAM_SHA_256, 10000),
            upsert("bob", SCRAM_SHA_512, 4096),
        ],
    );
    assert!(altered.iter().all(|(_, o)| o.0 == 0), "{altered:?}");
    let store = SecurityStore::load(dir.path()).unwrap();
    let described = store.describe_scram(None);
    let users: Vec<(&str, &[(i8, i32)])> = described
        .iter()
        .map(|u| (u.user.as_str(), u.credentials.as_slice()))
        .collect();
    assert_eq!(
        users,
        [("alice", &[(1, 10000)][..]), ("bob", &[(2, 4096)][..])]
    );

    let text = std::fs::read_to_string(dir.path().join("security/scram.toml")).unwrap();
    assert!(
        !text.contains(&hex(b"\0ecret")),
        "the salted password is not stored"
    );
}

#[test]
fn scram_alterations_get_kafkas_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SecurityStore::load(dir.path()).unwrap();
    let altered = store.alter_scram(
        vec![
            ("carol".into(), SCRAM_SHA_256),
            ("dave".into(), SCRAM_SHA_256),
        ],
        vec![upsert("dave", SCRAM_SHA_256, 8192), upsert("erin", 9, 8192)],
    );
    let codes: Vec<(&str, i16)> = altered.iter().map(|(u, o)| (u.as_str(), o.0)).collect();
    assert_eq!(
        codes,
        [
            ("carol", ResponseError::ResourceNotFound.code()),
            ("dave", ResponseError::DuplicateResource.code()),
            ("erin", ResponseError::UnsupportedSaslMechanism.code()),
        ]
    );
    let described = store.describe_scram(Some(vec!["dave".into(), "x".into(), "x".into()]));
    let codes: Vec<i16> = described.iter().map(|u| u.error_code).collect();
    assert_eq!(
        codes,
        [
            ResponseError::ResourceNotFound.code(),
            ResponseError::DuplicateResource.code()
        ]
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
