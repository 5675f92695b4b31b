//! The authorizer: each of Kafka's rules on small binding sets (the
//! indexed decision against a linear scan over random ones is in
//! `authorizer_props`).

use super::acl::{self, operation as op, pattern, permission, resource, AclBinding, CLUSTER_NAME};
use super::authorizer::{
    authorize, authorize_by_resource_type, authorized_operations, AuthorizerConfig, Request,
    ACL_AUTHORIZER, STANDARD_AUTHORIZER,
};
use super::SecurityState;

pub(super) const ALICE: Request = Request {
    principal: "User:alice",
    host: "10.0.0.1",
};
pub(super) const BOB: Request = Request {
    principal: "User:bob",
    host: "10.0.0.2",
};

pub(super) fn binding(
    resource_type: i8,
    name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission_type: i8,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: host.into(),
        operation,
        permission_type,
    }
}

/// A topic binding for any host.
fn topic(name: &str, pattern_type: i8, principal: &str, operation: i8, perm: i8) -> AclBinding {
    binding(
        resource::TOPIC,
        name,
        pattern_type,
        principal,
        "*",
        operation,
        perm,
    )
}

fn allow(name: &str, pattern_type: i8, principal: &str, operation: i8) -> AclBinding {
    topic(name, pattern_type, principal, operation, permission::ALLOW)
}

fn deny(name: &str, pattern_type: i8, principal: &str, operation: i8) -> AclBinding {
    topic(name, pattern_type, principal, operation, permission::DENY)
}

pub(super) fn state(bindings: impl IntoIterator<Item = AclBinding>) -> SecurityState {
    let mut state = SecurityState::default();
    for b in bindings {
        state.add_acl(b);
    }
    state
}

fn enabled() -> AuthorizerConfig {
    AuthorizerConfig::parse(STANDARD_AUTHORIZER, "", false).unwrap()
}

fn may(state: &SecurityState, who: &Request, operation: i8, name: &str) -> bool {
    authorize(state, &enabled(), who, operation, resource::TOPIC, name)
}

use pattern::{LITERAL, PREFIXED};

#[test]
fn config_is_parsed_as_kafka_reads_it() {
    assert_eq!(
        AuthorizerConfig::parse("", "User:admin", true).unwrap(),
        AuthorizerConfig::default()
    );
    assert!(!AuthorizerConfig::default().enabled);
    let c = AuthorizerConfig::parse(STANDARD_AUTHORIZER, " User:admin ;; User:ops;", true).unwrap();
    assert!(c.enabled && c.allow_everyone_if_no_acl_found);
    assert_eq!(c.super_users, ["User:admin", "User:ops"]);
    let c = AuthorizerConfig::parse(ACL_AUTHORIZER, "", false).unwrap();
    assert!(c.enabled && c.super_users.is_empty() && !c.allow_everyone_if_no_acl_found);
    let err = AuthorizerConfig::parse("com.example.MyAuthorizer", "", false).unwrap_err();
    assert!(err.contains("com.example.MyAuthorizer"), "{err}");
    let err = AuthorizerConfig::parse(STANDARD_AUTHORIZER, "User:a;admin", false).unwrap_err();
    assert!(err.contains("admin"), "{err}");
}

#[test]
fn disabled_allows_everything() {
    let s = state([deny("t", LITERAL, "User:*", op::ALL)]);
    let off = AuthorizerConfig::default();
    assert!(authorize(&s, &off, &ALICE, op::READ, resource::TOPIC, "t"));
    assert!(authorize_by_resource_type(
        &s,
        &off,
        &ALICE,
        op::READ,
        resource::TOPIC
    ));
    let all = acl::authorized_operations(resource::TOPIC);
    assert_eq!(
        authorized_operations(&s, &off, &ALICE, resource::TOPIC, "t"),
        all
    );
}

#[test]
fn super_users_are_allowed_despite_denies() {
    let s = state([deny("t", LITERAL, "User:*", op::ALL)]);
    let config = AuthorizerConfig::parse(STANDARD_AUTHORIZER, "User:alice", false).unwrap();
    assert!(authorize(
        &s,
        &config,
        &ALICE,
        op::WRITE,
        resource::TOPIC,
        "t"
    ));
    assert!(!authorize(
        &s,
        &config,
        &BOB,
        op::WRITE,
        resource::TOPIC,
        "t"
    ));
    assert!(authorize_by_resource_type(
        &s,
        &config,
        &ALICE,
        op::WRITE,
        resource::TOPIC
    ));
    assert_eq!(
        authorized_operations(&s, &config, &ALICE, resource::TOPIC, "t"),
        acl::authorized_operations(resource::TOPIC)
    );
}

#[test]
fn literal_names_match_exactly_and_the_wildcard_matches_all() {
    let s = state([allow("orders", LITERAL, "User:alice", op::READ)]);
    assert!(may(&s, &ALICE, op::READ, "orders"));
    assert!(!may(&s, &ALICE, op::READ, "orders-eu"));
    assert!(!may(&s, &ALICE, op::READ, "order"));
    assert!(!may(&s, &ALICE, op::WRITE, "orders"));
    let s = state([allow("*", LITERAL, "User:alice", op::READ)]);
    assert!(may(&s, &ALICE, op::READ, "orders"));
    assert!(may(&s, &ALICE, op::READ, "*"));
    // Another resource type's bindings do not apply.
    let group = binding(
        resource::GROUP,
        "*",
        LITERAL,
        "User:alice",
        "*",
        op::READ,
        3,
    );
    assert!(!may(&state([group]), &ALICE, op::READ, "orders"));
}

#[test]
fn prefixed_names_match_what_starts_with_them() {
    let s = state([allow("ord", PREFIXED, "User:alice", op::READ)]);
    assert!(may(&s, &ALICE, op::READ, "ord"));
    assert!(may(&s, &ALICE, op::READ, "orders"));
    assert!(!may(&s, &ALICE, op::READ, "or"));
    assert!(!may(&s, &ALICE, op::READ, "xord"));
    // Among unrelated prefixes on both sides in sort order.
    let s = state([
        allow("o", PREFIXED, "User:bob", op::READ),
        allow("orc", PREFIXED, "User:alice", op::READ),
        allow("ord", PREFIXED, "User:alice", op::READ),
        allow("ordersz", PREFIXED, "User:alice", op::READ),
        allow("os", PREFIXED, "User:alice", op::READ),
    ]);
    assert!(may(&s, &ALICE, op::READ, "orders"));
    assert!(may(&s, &ALICE, op::READ, "orcs"));
    assert!(may(&s, &ALICE, op::READ, "os"));
    assert!(!may(&s, &ALICE, op::READ, "oz"));
    assert!(!may(&s, &ALICE, op::READ, "o"));
    assert!(may(&s, &BOB, op::READ, "oz"));
    // A PREFIXED "*" is a prefix like any other, not a wildcard.
    let s = state([allow("*", PREFIXED, "User:alice", op::READ)]);
    assert!(!may(&s, &ALICE, op::READ, "orders"));
    assert!(may(&s, &ALICE, op::READ, "*orders"));
}

#[test]
fn principal_and_host_must_match_or_be_wildcards() {
    let s = state([allow("t", LITERAL, "User:*", op::READ)]);
    assert!(may(&s, &ALICE, op::READ, "t"));
    assert!(may(&s, &BOB, op::READ, "t"));
    let host_bound = binding(
        resource::TOPIC,
        "t",
        LITERAL,
        "User:alice",
        "10.0.0.1",
        3,
        3,
    );
    let s = state([host_bound]);
    assert!(may(&s, &ALICE, op::READ, "t"));
    let elsewhere = Request {
        host: "10.0.0.9",
        ..ALICE
    };
    assert!(!may(&s, &elsewhere, op::READ, "t"));
    assert!(!may(&s, &BOB, op::READ, "t"));
    // Only User:* is a wildcard principal.
    let s = state([allow("t", LITERAL, "Group:*", op::READ)]);
    assert!(!may(&s, &ALICE, op::READ, "t"));
}

#[test]
fn deny_beats_allow() {
    let s = state([
        allow("*", LITERAL, "User:*", op::ALL),
        deny("secret", PREFIXED, "User:alice", op::READ),
    ]);
    assert!(!may(&s, &ALICE, op::READ, "secret-1"));
    assert!(may(&s, &ALICE, op::WRITE, "secret-1"));
    assert!(may(&s, &BOB, op::READ, "secret-1"));
    assert!(may(&s, &ALICE, op::READ, "public"));
    // A DENY of ALL denies every operation.
    let s = state([
        allow("t", LITERAL, "User:alice", op::READ),
        deny("t", LITERAL, "User:alice", op::ALL),
    ]);
    for operation in [op::READ, op::DESCRIBE, op::DESCRIBE_CONFIGS, op::DELETE] {
        assert!(!may(&s, &ALICE, operation, "t"), "{operation}");
    }
}

#[test]
fn allow_of_all_allows_everything() {
    let s = state([allow("t", LITERAL, "User:alice", op::ALL)]);
    for &operation in acl::supported_operations(resource::TOPIC) {
        assert!(may(&s, &ALICE, operation, "t"), "{operation}");
    }
}

#[test]
fn allows_imply_describe_and_describe_configs_but_denies_do_not() {
    for granted in [op::READ, op::WRITE, op::DELETE, op::ALTER, op::DESCRIBE] {
        let s = state([allow("t", LITERAL, "User:alice", granted)]);
        assert!(may(&s, &ALICE, op::DESCRIBE, "t"), "{granted}");
        assert!(!may(&s, &ALICE, op::DESCRIBE_CONFIGS, "t"), "{granted}");
    }
    for granted in [op::CREATE, op::ALTER_CONFIGS, op::DESCRIBE_CONFIGS] {
        let s = state([allow("t", LITERAL, "User:alice", granted)]);
        assert!(!may(&s, &ALICE, op::DESCRIBE, "t"), "{granted}");
    }
    let s = state([allow("t", LITERAL, "User:alice", op::ALTER_CONFIGS)]);
    assert!(may(&s, &ALICE, op::DESCRIBE_CONFIGS, "t"));
    // Nothing implies anything else.
    assert!(!may(&s, &ALICE, op::ALTER, "t"));
    let s = state([allow("t", LITERAL, "User:alice", op::DESCRIBE)]);
    assert!(!may(&s, &ALICE, op::READ, "t"));

    // A DENY of READ leaves DESCRIBE to the ALLOW of it; a DENY of
    // DESCRIBE denies DESCRIBE, not READ.
    let s = state([
        allow("t", LITERAL, "User:alice", op::READ),
        deny("t", LITERAL, "User:alice", op::READ),
    ]);
    assert!(!may(&s, &ALICE, op::READ, "t"));
    assert!(may(&s, &ALICE, op::DESCRIBE, "t"));
    let s = state([
        allow("t", LITERAL, "User:alice", op::READ),
        deny("t", LITERAL, "User:alice", op::DESCRIBE),
    ]);
    assert!(may(&s, &ALICE, op::READ, "t"));
    assert!(!may(&s, &ALICE, op::DESCRIBE, "t"));
    let s = state([
        allow("t", LITERAL, "User:alice", op::ALTER_CONFIGS),
        deny("t", LITERAL, "User:alice", op::ALTER_CONFIGS),
    ]);
    assert!(may(&s, &ALICE, op::DESCRIBE_CONFIGS, "t"));
}

#[test]
fn no_binding_on_the_resource_gets_the_default() {
    let everyone = AuthorizerConfig::parse(STANDARD_AUTHORIZER, "", true).unwrap();
    let empty = SecurityState::default();
    assert!(authorize(
        &empty,
        &everyone,
        &ALICE,
        op::READ,
        resource::TOPIC,
        "t"
    ));
    assert!(!authorize(
        &empty,
        &enabled(),
        &ALICE,
        op::READ,
        resource::TOPIC,
        "t"
    ));

    // Bindings on other resources (or of other types) leave the default.
    let s = state([
        allow("other", LITERAL, "User:bob", op::READ),
        allow("tx", PREFIXED, "User:bob", op::READ),
        binding(resource::GROUP, "t", LITERAL, "User:bob", "*", op::READ, 3),
    ]);
    assert!(authorize(
        &s,
        &everyone,
        &ALICE,
        op::READ,
        resource::TOPIC,
        "t"
    ));
    assert!(!authorize(
        &s,
        &enabled(),
        &ALICE,
        op::READ,
        resource::TOPIC,
        "t"
    ));

    // A binding on the resource for someone else, or another operation or
    // host, takes the default away: the resource is no longer unprotected.
    for b in [
        allow("t", LITERAL, "User:bob", op::READ),
        allow("*", LITERAL, "User:bob", op::READ),
        allow("t", PREFIXED, "User:alice", op::WRITE),
        binding(
            resource::TOPIC,
            "t",
            LITERAL,
            "User:alice",
            "10.9.9.9",
            3,
            3,
        ),
    ] {
        let s = state([b.clone()]);
        assert!(
            !authorize(&s, &everyone, &ALICE, op::READ, resource::TOPIC, "t"),
            "{b:?}"
        );
    }
}

#[test]
fn by_resource_type_needs_an_allow_not_negated_by_a_deny() {
    let t = |s: &SecurityState, who: &Request, operation: i8| {
        authorize_by_resource_type(s, &enabled(), who, operation, resource::TOPIC)
    };
    assert!(!t(&SecurityState::default(), &ALICE, op::WRITE));
    let s = state([allow("orders", LITERAL, "User:alice", op::WRITE)]);
    assert!(t(&s, &ALICE, op::WRITE));
    assert!(!t(&s, &BOB, op::WRITE));
    assert!(!t(&s, &ALICE, op::READ));
    // A literal DENY of the same name negates a literal ALLOW.
    let mut denied = s.clone();
    denied.add_acl(deny("orders", LITERAL, "User:alice", op::WRITE));
    assert!(!t(&denied, &ALICE, op::WRITE));
    // A PREFIXED DENY negates what starts with it, a LITERAL DENY only
    // its own name.
    let s = state([
        allow("orders", PREFIXED, "User:alice", op::ALL),
        deny("ord", PREFIXED, "User:*", op::WRITE),
    ]);
    assert!(!t(&s, &ALICE, op::WRITE));
    assert!(t(&s, &ALICE, op::READ));
    let s = state([
        allow("orders", PREFIXED, "User:alice", op::WRITE),
        deny("orders", LITERAL, "User:alice", op::WRITE),
    ]);
    assert!(t(&s, &ALICE, op::WRITE));
    let s = state([
        allow("orders", LITERAL, "User:alice", op::WRITE),
        deny("orders-eu", PREFIXED, "User:alice", op::WRITE),
    ]);
    assert!(t(&s, &ALICE, op::WRITE));
    // A wildcard DENY negates everything, a wildcard ALLOW allows.
    let s = state([
        allow("orders", LITERAL, "User:alice", op::WRITE),
        deny("*", LITERAL, "User:alice", op::WRITE),
    ]);
    assert!(!t(&s, &ALICE, op::WRITE));
    let s = state([
        allow("*", LITERAL, "User:alice", op::WRITE),
        deny("orders", PREFIXED, "User:alice", op::WRITE),
    ]);
    assert!(t(&s, &ALICE, op::WRITE));
    // Another host's binding does not count; implication does not apply
    // here, except through the check on a resource named "hardcode".
    let elsewhere = binding(
        resource::TOPIC,
        "t",
        LITERAL,
        "User:alice",
        "10.9.9.9",
        4,
        3,
    );
    assert!(!t(&state([elsewhere]), &ALICE, op::WRITE));
    let s = state([allow("t", LITERAL, "User:alice", op::READ)]);
    assert!(!t(&s, &ALICE, op::DESCRIBE));
    let s = state([allow("*", LITERAL, "User:alice", op::READ)]);
    assert!(t(&s, &ALICE, op::DESCRIBE));
}

#[test]
fn by_resource_type_allows_by_default_where_nothing_applies_to_hardcode() {
    let everyone = AuthorizerConfig::parse(STANDARD_AUTHORIZER, "", true).unwrap();
    let s = state([deny("orders", LITERAL, "User:alice", op::WRITE)]);
    assert!(authorize_by_resource_type(
        &s,
        &everyone,
        &ALICE,
        op::WRITE,
        resource::TOPIC
    ));
    let s = state([deny("*", LITERAL, "User:bob", op::WRITE)]);
    assert!(!authorize_by_resource_type(
        &s,
        &everyone,
        &ALICE,
        op::WRITE,
        resource::TOPIC
    ));
    // InitProducerId's check: IDEMPOTENT_WRITE on the cluster.
    let cluster = binding(
        resource::CLUSTER,
        CLUSTER_NAME,
        LITERAL,
        "User:alice",
        "*",
        op::IDEMPOTENT_WRITE,
        permission::ALLOW,
    );
    let s = state([cluster]);
    let c = enabled();
    assert!(authorize(
        &s,
        &c,
        &ALICE,
        op::IDEMPOTENT_WRITE,
        resource::CLUSTER,
        CLUSTER_NAME
    ));
    assert!(!authorize(
        &s,
        &c,
        &BOB,
        op::IDEMPOTENT_WRITE,
        resource::CLUSTER,
        CLUSTER_NAME
    ));
}

#[test]
fn authorized_operations_sets_the_bit_of_each_allowed_operation() {
    let c = enabled();
    let bits =
        |s: &SecurityState, name: &str| authorized_operations(s, &c, &ALICE, resource::TOPIC, name);
    assert_eq!(bits(&SecurityState::default(), "t"), 0);
    let s = state([
        allow("t", LITERAL, "User:alice", op::READ),
        allow("t", PREFIXED, "User:alice", op::ALTER_CONFIGS),
    ]);
    let expected =
        1 << op::READ | 1 << op::DESCRIBE | 1 << op::ALTER_CONFIGS | 1 << op::DESCRIBE_CONFIGS;
    assert_eq!(bits(&s, "t"), expected);
    assert_eq!(bits(&s, "u"), 0);
    let s = state([
        allow("t", LITERAL, "User:alice", op::ALL),
        deny("t", LITERAL, "User:alice", op::DELETE),
    ]);
    let all = acl::authorized_operations(resource::TOPIC);
    assert_eq!(bits(&s, "t"), all & !(1 << op::DELETE));
    let everyone = AuthorizerConfig::parse(STANDARD_AUTHORIZER, "", true).unwrap();
    assert_eq!(
        authorized_operations(&s, &everyone, &ALICE, resource::TOPIC, "u"),
        all
    );
}

#[test]
fn the_index_follows_removals_and_is_rebuilt_when_read() {
    let a = allow("t", PREFIXED, "User:alice", op::READ);
    let mut s = state([a.clone(), deny("t", LITERAL, "User:alice", op::READ)]);
    assert!(!may(&s, &ALICE, op::READ, "t"));
    let copy = s.clone();
    assert!(s.remove_acl(&deny("t", LITERAL, "User:alice", op::READ)));
    assert!(may(&s, &ALICE, op::READ, "t"));
    // The clone, sharing the index until then, is unchanged.
    assert!(!may(&copy, &ALICE, op::READ, "t"));
    let read: SecurityState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(read, s);
    assert!(may(&read, &ALICE, op::READ, "tt"));
    assert!(s.remove_acl(&a));
    assert_eq!(s, SecurityState::default());
}
