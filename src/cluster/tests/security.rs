//! ACL, SCRAM and dynamic-config commands: their plans, the records they
//! commit, the image those build, the JSON forms (log, snapshot, wire), and
//! the seeding of a single-node data dir's state.

use kafka_protocol::error::ResponseError;

use super::*;
use crate::cluster::node::LegacyState;
use crate::cluster::records;
use crate::cluster::security_commands::{DynamicConfigsCommand, SecurityCommand};
use crate::cluster::seed;
use crate::cluster::wire::{self, ControllerRequest, ControllerResponse, Frame};
use crate::config::dynamic::{ConfigEdit, DynamicConfigState, Target};
use crate::security::acl::{operation, pattern, permission, resource, AclBinding, AclFilter};
use crate::security::scram::{ScramCredential, SCRAM_SHA_256, SCRAM_SHA_512};
use crate::security::{DerivedUpsertion, ScramUpsertion, SecurityState};

fn acl(name: &str, principal: &str) -> AclBinding {
    AclBinding {
        resource_type: resource::TOPIC,
        resource_name: name.into(),
        pattern_type: pattern::LITERAL,
        principal: principal.into(),
        host: "*".into(),
        operation: operation::READ,
        permission_type: permission::ALLOW,
    }
}

fn by_name(name: &str) -> AclFilter {
    AclFilter {
        resource_type: resource::TOPIC,
        resource_name: Some(name.into()),
        pattern_type: pattern::ANY,
        principal: None,
        host: None,
        operation: operation::ANY,
        permission_type: permission::ANY,
    }
}

fn derived(user: &str, mechanism: i8, iterations: i32) -> DerivedUpsertion {
    ScramUpsertion {
        user: user.into(),
        mechanism,
        iterations,
        salt: bytes::Bytes::from_static(b"salt"),
        salted_password: bytes::Bytes::from_static(b"salted"),
    }
    .derive()
}

fn credential(mechanism: i8, iterations: i32) -> ScramCredential {
    ScramCredential::derive("u", mechanism, iterations, b"salt", b"salted").unwrap()
}

fn secure(command: SecurityCommand) -> Command {
    Command::Security(command)
}

fn set_configs(target: Target, pairs: &[(&str, &str)], validate_only: bool) -> Command {
    Command::DynamicConfigs(DynamicConfigsCommand {
        target,
        edit: ConfigEdit::Replace(configs(pairs)),
        validate_only,
    })
}

#[test]
fn created_acls_become_one_record_each_and_describe_from_the_image() {
    let mut cluster = Cluster::new();
    let (a, b) = (acl("t", "User:a"), acl("t", "User:b"));
    let mut bad = acl("t", "nobody");
    bad.pattern_type = pattern::MATCH;
    let command = secure(SecurityCommand::CreateAcls(vec![
        a.clone(),
        bad,
        a.clone(),
        b.clone(),
    ]));
    let plan = cluster.plan(command.clone()).unwrap();
    assert_eq!(
        plan.records,
        [
            MetadataRecord::AddAcl { binding: a.clone() },
            MetadataRecord::AddAcl { binding: b.clone() },
        ]
    );
    let Reply::AclsCreated(outcomes) = &plan.reply else {
        panic!("reply {:?}", plan.reply);
    };
    let codes: Vec<i16> = outcomes.iter().map(|o| o.0).collect();
    assert_eq!(codes, [0, ResponseError::InvalidRequest.code(), 0, 0]);
    cluster.commit(&plan.records);
    assert_eq!(
        cluster.image.security.describe_acls(&by_name("t")).unwrap(),
        [a, b]
    );
    // The same bindings again: answered alike, nothing to commit.
    assert!(cluster.plan(command).unwrap().records.is_empty());
}

#[test]
fn deleted_acls_are_reported_per_filter_and_removed_once() {
    let mut cluster = Cluster::new();
    let (a, other) = (acl("t", "User:a"), acl("u", "User:a"));
    cluster.run(secure(SecurityCommand::CreateAcls(vec![
        a.clone(),
        other.clone(),
    ])));
    let mut unknown = by_name("t");
    unknown.operation = 0;
    let plan = cluster
        .plan(secure(SecurityCommand::DeleteAcls(vec![
            by_name("t"),
            by_name("t"),
            unknown,
        ])))
        .unwrap();
    assert_eq!(
        plan.records,
        [MetadataRecord::RemoveAcl { binding: a.clone() }]
    );
    let Reply::AclsDeleted(results) = &plan.reply else {
        panic!("reply {:?}", plan.reply);
    };
    assert_eq!(results[0].as_ref().unwrap(), std::slice::from_ref(&a));
    assert_eq!(results[1].as_ref().unwrap(), std::slice::from_ref(&a));
    assert_eq!(
        results[2].as_ref().unwrap_err().0,
        ResponseError::InvalidRequest.code()
    );
    cluster.commit(&plan.records);
    assert_eq!(
        cluster.image.security.acls().iter().collect::<Vec<_>>(),
        [&other]
    );
}

#[test]
fn scram_changes_carry_derived_credentials_only() {
    let mut cluster = Cluster::new();
    let plan = cluster
        .plan(secure(SecurityCommand::AlterScram {
            deletions: vec![("nobody".into(), SCRAM_SHA_256)],
            upsertions: vec![
                derived("alice", SCRAM_SHA_256, 8192),
                derived("bob", SCRAM_SHA_512, 100),
            ],
        }))
        .unwrap();
    let Reply::ScramAltered(outcomes) = &plan.reply else {
        panic!("reply {:?}", plan.reply);
    };
    let codes: Vec<(&str, i16)> = outcomes.iter().map(|(u, o)| (u.as_str(), o.0)).collect();
    assert_eq!(
        codes,
        [
            ("nobody", ResponseError::ResourceNotFound.code()),
            ("alice", 0),
            ("bob", ResponseError::UnacceptableCredential.code()),
        ]
    );
    let [MetadataRecord::ScramCredential { user, credential }] = plan.records.as_slice() else {
        panic!("records {:?}", plan.records);
    };
    assert_eq!((user.as_str(), credential.iterations), ("alice", 8192));
    let json = String::from_utf8(records::encode(&plan.records)).unwrap();
    assert!(
        !json.contains(&hex(b"salted")),
        "no salted password in the log"
    );
    cluster.commit(&plan.records);
    let described = cluster.image.security.describe_scram(None);
    assert_eq!(described[0].credentials, [(SCRAM_SHA_256, 8192)]);

    let reply = cluster.run(secure(SecurityCommand::AlterScram {
        deletions: vec![("alice".into(), SCRAM_SHA_256)],
        upsertions: Vec::new(),
    }));
    assert_eq!(
        reply,
        Reply::ScramAltered(vec![("alice".into(), (0, None))])
    );
    assert!(cluster.image.security.users.is_empty());
}

#[test]
fn dynamic_configs_are_validated_then_replaced_per_target() {
    let mut cluster = Cluster::new();
    let relogin = [("sasl.kerberos.min.time.before.relogin", "58000")];
    assert!(cluster
        .plan(set_configs(Target::Broker(1), &relogin, true))
        .unwrap()
        .records
        .is_empty());
    assert_eq!(
        cluster.run(set_configs(Target::Broker(1), &relogin, false)),
        Reply::Done
    );
    cluster.run(set_configs(
        Target::ClusterDefault,
        &[("max.connections", "100")],
        false,
    ));
    let group = Target::Group("g".into());
    cluster.run(set_configs(
        group.clone(),
        &[("consumer.session.timeout.ms", "50000")],
        false,
    ));
    let state = &cluster.image.dynamic_configs;
    assert_eq!(state.get(&Target::Broker(1)), configs(&relogin));
    assert!(state.get(&Target::Broker(2)).is_empty());
    assert_eq!(
        state.get(&Target::ClusterDefault),
        configs(&[("max.connections", "100")])
    );

    // Incremental edits apply to the configs the controller has.
    let edit = ConfigEdit::Incremental(vec![
        ("consumer.session.timeout.ms".into(), None),
        ("consumer.heartbeat.interval.ms".into(), Some("6000".into())),
    ]);
    cluster.run(Command::DynamicConfigs(DynamicConfigsCommand {
        target: group.clone(),
        edit,
        validate_only: false,
    }));
    assert_eq!(
        cluster.image.dynamic_configs.get(&group),
        configs(&[("consumer.heartbeat.interval.ms", "6000")])
    );

    let refusal = cluster
        .plan(set_configs(
            Target::Broker(1),
            &[("log.retention.ms", "1")],
            false,
        ))
        .unwrap_err();
    assert_eq!(refusal.code, ResponseError::InvalidRequest.code());
    assert!(refusal.message.contains("static"), "{refusal:?}");
    let refusal = cluster
        .plan(set_configs(
            group,
            &[("consumer.session.timeout.ms", "1")],
            false,
        ))
        .unwrap_err();
    assert_eq!(refusal.code, ResponseError::InvalidConfig.code());
    // Unchanged configs commit nothing.
    assert!(cluster
        .plan(set_configs(Target::Broker(1), &relogin, false))
        .unwrap()
        .records
        .is_empty());
}

#[test]
fn removing_what_is_not_there_changes_nothing() {
    let mut cluster = Cluster::new();
    let before = cluster.image.clone();
    cluster.commit(&[
        MetadataRecord::RemoveAcl {
            binding: acl("t", "User:a"),
        },
        MetadataRecord::RemoveScramCredential {
            user: "u".into(),
            mechanism: SCRAM_SHA_256,
        },
    ]);
    assert_eq!(cluster.image.security, before.security);
}

/// A single-node data dir's ACLs, credentials and dynamic configs.
fn legacy_security() -> (SecurityState, DynamicConfigState) {
    let mut security = SecurityState::default();
    security.add_acl(acl("orders", "User:alice"));
    security.add_acl(acl("", "User:invalid"));
    security.upsert_credential("alice", credential(SCRAM_SHA_256, 8192));
    security.upsert_credential("alice", credential(SCRAM_SHA_512, 4096));
    let mut dynamic = DynamicConfigState::default();
    dynamic.set(&Target::Broker(1), configs(&[("max.connections", "10")]));
    dynamic.set(
        &Target::Group("g".into()),
        configs(&[("consumer.session.timeout.ms", "50000")]),
    );
    (security, dynamic)
}

#[test]
fn a_sole_voter_seeds_the_single_node_security_state() {
    let (security, dynamic) = legacy_security();
    let legacy = LegacyState {
        cluster_id: Some("old-cluster".into()),
        security: security.clone(),
        dynamic_configs: dynamic.clone(),
        ..LegacyState::default()
    };
    let mut image = MetadataImage::default();
    image.apply_batch(1, &seed::first_entry(&legacy, &[], true, 1));
    assert_eq!(image.cluster_id.as_deref(), Some("old-cluster"));
    assert_eq!(image.dynamic_configs, dynamic);
    assert_eq!(image.security.users, security.users);
    // The invalid binding a single node could not have accepted stays out.
    assert_eq!(
        image.security.acls().iter().collect::<Vec<_>>(),
        [&acl("orders", "User:alice")]
    );

    // One of several voters starts a fresh cluster.
    let mut image = MetadataImage::default();
    image.apply_batch(1, &seed::first_entry(&legacy, &[], false, 1));
    assert_ne!(image.cluster_id.as_deref(), Some("old-cluster"));
    assert_eq!(image.security, SecurityState::default());
    assert_eq!(image.dynamic_configs, DynamicConfigState::default());
}

#[test]
fn records_snapshots_and_commands_keep_their_json_form() {
    let (security, dynamic) = legacy_security();
    let seeded = crate::cluster::security_commands::seed(&security, &dynamic);
    let decoded = records::decode(&records::encode(&seeded)).unwrap();
    assert_eq!(decoded, seeded);

    let mut image = MetadataImage::default();
    image.apply_batch(1, &seeded);
    let restored = MetadataImage::from_snapshot(&image.to_snapshot()).unwrap();
    assert_eq!(restored, image);
    // A snapshot from before these fields existed still loads.
    let old = br#"{"offset":3,"cluster_id":"c","brokers":{},"topics":{},"next_producer_id":0}"#;
    let old = MetadataImage::from_snapshot(old).unwrap();
    assert_eq!(old.security, SecurityState::default());

    let frames = [
        Frame::Response {
            id: 1,
            body: ControllerResponse::Image(Box::new(image)),
        },
        Frame::Request {
            id: 2,
            body: ControllerRequest::Command(secure(SecurityCommand::AlterScram {
                deletions: vec![("a".into(), SCRAM_SHA_256)],
                upsertions: vec![derived("b", SCRAM_SHA_256, 8192), derived("c", 9, 8192)],
            })),
        },
        Frame::Request {
            id: 3,
            body: ControllerRequest::Command(set_configs(Target::ClusterDefault, &[], true)),
        },
        Frame::Response {
            id: 4,
            body: ControllerResponse::Committed {
                offset: 9,
                reply: Reply::AclsDeleted(vec![Ok(vec![acl("t", "User:a")]), Err((35, None))]),
            },
        },
    ];
    for frame in frames {
        assert_eq!(wire::decode(&wire::encode(&frame)).unwrap(), frame);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
