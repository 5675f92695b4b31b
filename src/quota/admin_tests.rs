//! AlterClientQuotas validation and DescribeClientQuotas filters.

use super::*;

const INVALID_REQUEST: i16 = 42;
const UNSUPPORTED_VERSION: i16 = 35;

fn raw(components: &[(&str, Option<&str>)]) -> RawEntity {
    components
        .iter()
        .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
        .collect()
}

fn set(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> Alteration {
    Alteration {
        entity: raw(entity),
        ops: ops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn apply(state: &mut ClientQuotaState, changes: &[QuotaChange]) {
    for c in changes {
        state.set(&c.entity, &c.key, c.value);
    }
}

fn codes(outcomes: &[(RawEntity, Outcome)]) -> Vec<i16> {
    outcomes.iter().map(|(_, (code, _))| *code).collect()
}

#[test]
fn valid_alterations_become_changes_and_unchanged_values_none() {
    let mut state = ClientQuotaState::default();
    let slow = [("client-id", Some("slow"))];
    let request = [set(
        &slow,
        &[
            ("producer_byte_rate", Some(1048576.0)),
            ("request_percentage", Some(12.5)),
        ],
    )];
    let (outcomes, changes) = alter(&state, &request);
    assert_eq!(codes(&outcomes), vec![0]);
    assert_eq!(changes.len(), 2);
    apply(&mut state, &changes);
    // Setting the same again is no change; removing absent keys neither.
    let again = [set(
        &slow,
        &[
            ("producer_byte_rate", Some(1048576.0)),
            ("consumer_byte_rate", None),
        ],
    )];
    let (outcomes, changes) = alter(&state, &again);
    assert_eq!((codes(&outcomes), changes.len()), (vec![0], 0));
    let remove = [set(&slow, &[("request_percentage", None)])];
    let (_, changes) = alter(&state, &remove);
    assert_eq!(changes[0].value, None);
    apply(&mut state, &changes);
    let entity = parse_entity(&raw(&slow)).unwrap();
    assert_eq!(state.get(&entity).unwrap().len(), 1);
}

#[test]
fn entities_and_keys_are_validated_as_kafka_does() {
    let state = ClientQuotaState::default();
    let one = |entity: &[(&str, Option<&str>)], key: &str, value: f64| {
        let (outcomes, changes) = alter(&state, &[set(entity, &[(key, Some(value))])]);
        assert!(outcomes[0].1 .0 != 0 || !changes.is_empty());
        outcomes[0].1 .0
    };
    let user = [("user", Some("alice"))];
    assert_eq!(one(&user, "producer_byte_rate", 100.0), 0);
    assert_eq!(one(&[("user", None)], "consumer_byte_rate", 1.0), 0);
    let both = [("user", Some("alice")), ("client-id", None)];
    assert_eq!(one(&both, "controller_mutation_rate", 0.5), 0);
    assert_eq!(
        one(
            &[("ip", Some("10.0.0.1"))],
            "connection_creation_rate",
            10.0
        ),
        0
    );
    assert_eq!(one(&[("ip", None)], "connection_creation_rate", 10.0), 0);

    // Unknown keys, types and combinations, empty names, bad values.
    assert_eq!(one(&user, "bytes_rate", 1.0), INVALID_REQUEST);
    assert_eq!(one(&user, "connection_creation_rate", 1.0), INVALID_REQUEST);
    assert_eq!(
        one(&[("ip", None)], "producer_byte_rate", 1.0),
        INVALID_REQUEST
    );
    assert_eq!(
        one(&[("group", Some("g"))], "producer_byte_rate", 1.0),
        INVALID_REQUEST
    );
    assert_eq!(one(&[], "producer_byte_rate", 1.0), INVALID_REQUEST);
    let mixed = [("ip", Some("10.0.0.1")), ("user", Some("a"))];
    assert_eq!(one(&mixed, "producer_byte_rate", 1.0), INVALID_REQUEST);
    assert_eq!(
        one(&[("user", Some(""))], "producer_byte_rate", 1.0),
        INVALID_REQUEST
    );
    let twice = [("user", Some("a")), ("user", Some("b"))];
    assert_eq!(one(&twice, "producer_byte_rate", 1.0), INVALID_REQUEST);
    assert_eq!(
        one(
            &[("ip", Some("not an ip"))],
            "connection_creation_rate",
            1.0
        ),
        INVALID_REQUEST
    );
    assert_eq!(one(&user, "producer_byte_rate", 1.5), INVALID_REQUEST);
    assert_eq!(one(&user, "producer_byte_rate", 0.0), INVALID_REQUEST);
    assert_eq!(one(&user, "request_percentage", -1.0), INVALID_REQUEST);
    assert_eq!(one(&user, "request_percentage", f64::NAN), INVALID_REQUEST);
    assert_eq!(
        one(&[("ip", None)], "connection_creation_rate", 3e9),
        INVALID_REQUEST
    );
    // Whole numbers within Kafka's epsilon are whole.
    assert_eq!(one(&user, "producer_byte_rate", 1000.0000001), 0);
}

#[test]
fn a_failing_entity_commits_nothing_and_others_go_ahead() {
    let state = ClientQuotaState::default();
    let request = [
        set(
            &[("user", Some("a"))],
            &[("producer_byte_rate", Some(10.0)), ("nonsense", Some(1.0))],
        ),
        set(
            &[("user", Some("b"))],
            &[("producer_byte_rate", Some(10.0))],
        ),
        set(
            &[("user", Some("c"))],
            &[
                ("producer_byte_rate", Some(10.0)),
                ("producer_byte_rate", None),
            ],
        ),
    ];
    let (outcomes, changes) = alter(&state, &request);
    assert_eq!(codes(&outcomes), vec![INVALID_REQUEST, 0, INVALID_REQUEST]);
    assert!(outcomes[2]
        .1
         .1
        .as_deref()
        .unwrap()
        .contains("Duplicate quota key"));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].entity.user, Some(EntityName::named("b")));
}

#[test]
fn an_entity_named_twice_is_refused_once_in_any_component_order() {
    let state = ClientQuotaState::default();
    let request = [
        set(
            &[("user", Some("a")), ("client-id", Some("c"))],
            &[("producer_byte_rate", Some(10.0))],
        ),
        set(
            &[("client-id", Some("c")), ("user", Some("a"))],
            &[("consumer_byte_rate", Some(10.0))],
        ),
    ];
    let (outcomes, changes) = alter(&state, &request);
    assert_eq!(codes(&outcomes), vec![INVALID_REQUEST]);
    assert!(changes.is_empty());
}

fn state_with(entities: &[&[(&str, Option<&str>)]]) -> ClientQuotaState {
    let mut state = ClientQuotaState::default();
    for e in entities {
        let entity = parse_entity(&raw(e)).unwrap();
        state.set(&entity, "producer_byte_rate", Some(1.0));
    }
    state
}

fn component(entity_type: &str, match_type: i8, name: Option<&str>) -> Component {
    Component {
        entity_type: entity_type.into(),
        match_type,
        name: name.map(str::to_string),
    }
}

fn found(state: &ClientQuotaState, components: &[Component], strict: bool) -> Vec<String> {
    describe(state, components, strict)
        .unwrap()
        .into_iter()
        .map(|(e, _)| {
            e.components()
                .iter()
                .map(|(t, n)| format!("{t}={}", n.unwrap_or("*")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn describe_filters_match_exact_default_and_any_names() {
    let state = state_with(&[
        &[("user", Some("alice"))],
        &[("user", None)],
        &[("user", Some("alice")), ("client-id", Some("app"))],
        &[("user", None), ("client-id", None)],
        &[("client-id", Some("app"))],
        &[("ip", Some("10.0.0.1"))],
    ]);
    let exact = component("user", MATCH_EXACT, Some("alice"));
    assert_eq!(
        found(&state, std::slice::from_ref(&exact), false),
        vec!["user=alice", "user=alice,client-id=app"]
    );
    assert_eq!(
        found(&state, std::slice::from_ref(&exact), true),
        vec!["user=alice"]
    );
    let default = component("user", MATCH_DEFAULT, None);
    assert_eq!(
        found(&state, std::slice::from_ref(&default), false),
        vec!["user=*", "user=*,client-id=*"]
    );
    let any_user = component("user", MATCH_SPECIFIED, None);
    assert_eq!(
        found(&state, std::slice::from_ref(&any_user), true),
        vec!["user=*", "user=alice"]
    );
    let any_client = component("client-id", MATCH_SPECIFIED, None);
    assert_eq!(
        found(&state, &[any_user, any_client.clone()], true),
        vec!["user=*,client-id=*", "user=alice,client-id=app"]
    );
    assert_eq!(found(&state, &[any_client], false).len(), 3);
    // No components: everything, or (strict) nothing.
    assert_eq!(found(&state, &[], false).len(), 6);
    assert!(found(&state, &[], true).is_empty());
    let ip = component("ip", MATCH_SPECIFIED, None);
    assert_eq!(found(&state, &[ip], false), vec!["ip=10.0.0.1"]);
}

#[test]
fn malformed_filters_get_kafkas_errors() {
    let state = ClientQuotaState::default();
    let code = |components: &[Component]| describe(&state, components, false).unwrap_err().0;
    assert_eq!(
        code(&[component("", MATCH_SPECIFIED, None)]),
        INVALID_REQUEST
    );
    assert_eq!(
        code(&[component("group", MATCH_SPECIFIED, None)]),
        UNSUPPORTED_VERSION
    );
    assert_eq!(
        code(&[component("user", MATCH_EXACT, None)]),
        INVALID_REQUEST
    );
    assert_eq!(
        code(&[component("user", MATCH_DEFAULT, Some("a"))]),
        INVALID_REQUEST
    );
    assert_eq!(
        code(&[component("user", MATCH_SPECIFIED, Some("a"))]),
        INVALID_REQUEST
    );
    assert_eq!(code(&[component("user", 7, None)]), INVALID_REQUEST);
    let twice = [
        component("user", MATCH_SPECIFIED, None),
        component("user", MATCH_DEFAULT, None),
    ];
    assert_eq!(code(&twice), INVALID_REQUEST);
    let ip_and_user = [
        component("ip", MATCH_SPECIFIED, None),
        component("user", MATCH_DEFAULT, None),
    ];
    assert_eq!(code(&ip_and_user), INVALID_REQUEST);
}
