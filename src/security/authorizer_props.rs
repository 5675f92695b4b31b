//! The authorizer's indexed decisions against a linear scan of the binding
//! set, over random small sets, resources and askers.

use proptest::prelude::*;

use super::acl::{self, operation as op, pattern, permission, resource, AclBinding, AclFilter};
use super::authorizer::{
    authorize, authorized_operations, AuthorizerConfig, Request, STANDARD_AUTHORIZER,
};
use super::authorizer_tests::{binding, state, ALICE, BOB};
use super::SecurityState;

use pattern::{LITERAL, PREFIXED};

/// Kafka's rules read straight off the binding set, no index.
fn naive(
    s: &SecurityState,
    c: &AuthorizerConfig,
    who: &Request,
    operation: i8,
    rt: i8,
    name: &str,
) -> bool {
    if !c.enabled || c.super_users.iter().any(|u| u == who.principal) {
        return true;
    }
    let applies = AclFilter {
        resource_type: rt,
        resource_name: Some(name.into()),
        pattern_type: pattern::MATCH,
        principal: None,
        host: None,
        operation: op::ANY,
        permission_type: permission::ANY,
    };
    let applying: Vec<&AclBinding> = s.acls().iter().filter(|a| applies.matches(a)).collect();
    if applying.is_empty() {
        return c.allow_everyone_if_no_acl_found;
    }
    let mine: Vec<&&AclBinding> = applying
        .iter()
        .filter(|a| a.principal == who.principal || a.principal == "User:*")
        .filter(|a| a.host == "*" || a.host == who.host)
        .collect();
    let denied = mine.iter().any(|a| {
        a.permission_type == permission::DENY
            && (a.operation == operation || a.operation == op::ALL)
    });
    let implied: &[i8] = match operation {
        op::DESCRIBE => &[op::READ, op::WRITE, op::DELETE, op::ALTER],
        op::DESCRIBE_CONFIGS => &[op::ALTER_CONFIGS],
        _ => &[],
    };
    let allowed = mine.iter().any(|a| {
        a.permission_type == permission::ALLOW
            && (a.operation == operation
                || a.operation == op::ALL
                || implied.contains(&a.operation))
    });
    !denied && allowed
}

const NAME: &str = "[abé*]{1,4}";

fn arb_binding() -> impl Strategy<Value = AclBinding> {
    let ops = [
        op::ALL,
        op::READ,
        op::WRITE,
        op::DELETE,
        op::ALTER,
        op::DESCRIBE,
        op::DESCRIBE_CONFIGS,
        op::ALTER_CONFIGS,
    ];
    (
        prop::sample::select(vec![resource::TOPIC, resource::GROUP]),
        NAME,
        prop::sample::select(vec![LITERAL, PREFIXED]),
        prop::sample::select(vec!["User:alice", "User:bob", "User:*"]),
        prop::sample::select(vec!["*", "10.0.0.1", "10.0.0.2"]),
        prop::sample::select(ops.to_vec()),
        prop::sample::select(vec![permission::ALLOW, permission::DENY]),
    )
        .prop_map(|(rt, name, pt, principal, host, operation, perm)| {
            binding(rt, &name, pt, principal, host, operation, perm)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn indexed_decisions_are_the_linear_scans(
        bindings in prop::collection::vec(arb_binding(), 0..12),
        removed in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        names in prop::collection::vec(NAME, 1..6),
        everyone in any::<bool>(),
        super_bob in any::<bool>(),
    ) {
        let mut s = state(bindings.clone());
        for i in removed {
            if !bindings.is_empty() {
                s.remove_acl(&bindings[i.index(bindings.len())]);
            }
        }
        let read: SecurityState = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        prop_assert_eq!(&read, &s);
        let supers = if super_bob { "User:bob" } else { "" };
        let c = AuthorizerConfig::parse(STANDARD_AUTHORIZER, supers, everyone).unwrap();
        for who in [ALICE, BOB, Request { host: "10.0.0.2", ..ALICE }] {
            for rt in [resource::TOPIC, resource::GROUP] {
                for name in &names {
                    let mut expected_bits = 0;
                    for &operation in acl::supported_operations(rt) {
                        let want = naive(&s, &c, &who, operation, rt, name);
                        prop_assert_eq!(
                            authorize(&s, &c, &who, operation, rt, name), want,
                            "{:?} op {} on {} {:?}", who, operation, rt, name
                        );
                        if want {
                            expected_bits |= 1 << operation;
                        }
                    }
                    prop_assert_eq!(authorized_operations(&s, &c, &who, rt, name), expected_bits);
                }
            }
        }
    }
}
