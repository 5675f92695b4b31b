//! The rebalance state machine and offset expiry, without I/O: each test
//! drives `membership` on a `Group` and checks what members are told.

use bytes::Bytes;
use futures_channel::oneshot::Receiver;
use kafka_protocol::error::ResponseError as E;

use super::membership::{self, Effects, Join, Sync};
use super::offsets::expirable;
use super::records::OffsetValue;
use super::state::{Group, GroupState};
use super::types::*;

const SESSION: i32 = 10_000;

fn args(member_id: &str, protocols: &[&str]) -> JoinArgs {
    JoinArgs {
        member_id: member_id.into(),
        instance_id: None,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: 30_000,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        require_known_member: true,
        can_skip_assignment: false,
    }
}

fn join(g: &mut Group, a: JoinArgs, now: i64) -> Join {
    membership::join(g, a, now, 0, &mut Effects::default())
}

fn now_result(j: Join) -> JoinResult {
    match j {
        Join::Now(r) => r,
        Join::Wait(_) => panic!("expected an immediate answer"),
    }
}

fn waiting(j: Join) -> Receiver<JoinResult> {
    match j {
        Join::Wait(rx) => rx,
        Join::Now(r) => panic!("expected to wait, got error {}", r.error),
    }
}

fn answered<T>(rx: &mut Receiver<T>) -> Option<T> {
    rx.try_recv().expect("sender alive")
}

/// A member id from MEMBER_ID_REQUIRED, then the join with it.
fn join_new(g: &mut Group, protocols: &[&str], now: i64) -> (String, Receiver<JoinResult>) {
    let first = now_result(join(g, args("", protocols), now));
    assert_eq!(first.error, E::MemberIdRequired.code());
    let id = first.member_id.clone();
    (id.clone(), waiting(join(g, args(&id, protocols), now)))
}

/// Two members joined and synced: a Stable group at generation 1.
fn stable_pair(g: &mut Group) -> (String, String) {
    let (a, mut ra) = join_new(g, &["range"], 0);
    let ja = answered(&mut ra).expect("a lone member completes the join at once");
    assert_eq!(ja.generation, 1);
    // b joins: a must rejoin before generation 2 forms.
    let (b, mut rb) = join_new(g, &["range"], 1);
    assert!(answered(&mut rb).is_none());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let mut ra = waiting(join(g, args(&a, &["range"]), 2));
    let (ja, jb) = (answered(&mut ra).unwrap(), answered(&mut rb).unwrap());
    assert_eq!((ja.generation, jb.generation), (2, 2));
    assert_eq!(ja.leader, a);
    assert_eq!(ja.members.len(), 2, "the leader sees every member");
    assert!(jb.members.is_empty());
    let mut sb = match membership::sync(g, sync_args(&b, 2, vec![]), 3) {
        Sync::Wait(rx) => rx,
        _ => panic!("a follower waits for the leader"),
    };
    let assignments = vec![
        (a.clone(), Bytes::from("pa")),
        (b.clone(), Bytes::from("pb")),
    ];
    let mut sa = match membership::sync(g, sync_args(&a, 2, assignments), 3) {
        Sync::Persist(rx) => rx,
        _ => panic!("the leader's sync persists"),
    };
    assert!(
        answered(&mut sb).is_none(),
        "nothing before the assignment is durable"
    );
    membership::finish_sync(g, 2, true, 4, 0);
    assert_eq!(answered(&mut sa).unwrap().assignment, Bytes::from("pa"));
    assert_eq!(answered(&mut sb).unwrap().assignment, Bytes::from("pb"));
    assert_eq!(g.state, GroupState::Stable);
    (a, b)
}

fn sync_args(member: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> SyncArgs {
    SyncArgs {
        generation,
        member_id: member.into(),
        instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

fn who(member: &str) -> MemberRef {
    MemberRef {
        member_id: member.into(),
        instance_id: None,
    }
}

#[test]
fn members_join_sync_and_get_their_assignment() {
    let mut g = Group::new("g", 0, 0);
    stable_pair(&mut g);
}

#[test]
fn heartbeat_checks_member_generation_and_state() {
    let mut g = Group::new("g", 0, 0);
    let (a, _b) = stable_pair(&mut g);
    assert_eq!(membership::heartbeat(&mut g, 2, &who(&a), 10), None);
    assert_eq!(
        membership::heartbeat(&mut g, 1, &who(&a), 10),
        Some(E::IllegalGeneration)
    );
    assert_eq!(
        membership::heartbeat(&mut g, 2, &who("stranger"), 10),
        Some(E::UnknownMemberId)
    );
    // A third member's arrival starts a rebalance the others learn of.
    let (_c, _rc) = join_new(&mut g, &["range"], 11);
    assert_eq!(
        membership::heartbeat(&mut g, 2, &who(&a), 12),
        Some(E::RebalanceInProgress)
    );
}

#[test]
fn leaving_member_triggers_rebalance_and_last_one_empties_group() {
    let mut g = Group::new("g", 0, 0);
    let (a, b) = stable_pair(&mut g);
    let mut fx = Effects::default();
    assert_eq!(
        membership::leave(&mut g, &[who(&b)], 10, 0, &mut fx),
        vec![0]
    );
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let mut ra = waiting(join(&mut g, args(&a, &["range"]), 11));
    assert_eq!(answered(&mut ra).unwrap().generation, 3);
    let mut fx = Effects::default();
    assert_eq!(
        membership::leave(&mut g, &[who(&a), who("ghost")], 12, 0, &mut fx),
        vec![0, E::UnknownMemberId.code()]
    );
    assert_eq!(g.state, GroupState::Empty);
    assert!(fx.persist, "an emptied group is persisted");
}

#[test]
fn expired_session_removes_member_and_rebalances() {
    let mut g = Group::new("g", 0, 0);
    let (a, b) = stable_pair(&mut g);
    // a keeps heartbeating; b goes silent.
    assert_eq!(
        membership::heartbeat(&mut g, 2, &who(&a), SESSION as i64),
        None
    );
    let mut fx = Effects::default();
    membership::tick(&mut g, SESSION as i64 + 5, 0, &mut fx);
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let mut ra = waiting(join(&mut g, args(&a, &["range"]), SESSION as i64 + 6));
    let r = answered(&mut ra).unwrap();
    assert_eq!((r.generation, r.members.len()), (3, 1));
}

#[test]
fn join_deadline_drops_members_that_do_not_rejoin() {
    let mut g = Group::new("g", 0, 0);
    let (a, b) = stable_pair(&mut g);
    let mut ra = waiting(join(&mut g, args(&a, &["range", "roundrobin"]), 10));
    // b heartbeats (alive) but never rejoins: the rebalance timeout ends it.
    assert_eq!(
        membership::heartbeat(&mut g, 2, &who(&b), 20),
        Some(E::RebalanceInProgress)
    );
    membership::tick(&mut g, 10 + 30_000, 0, &mut Effects::default());
    let r = answered(&mut ra).unwrap();
    assert_eq!(r.members.len(), 1);
    assert!(!g.members.contains_key(&b));
}

#[test]
fn protocol_is_chosen_among_those_all_members_support() {
    let mut g = Group::new("g", 0, 0);
    let (_a, mut ra) = join_new(&mut g, &["roundrobin", "range"], 0);
    answered(&mut ra).unwrap();
    let (_b, mut rb) = join_new(&mut g, &["range", "sticky"], 1);
    let a = g.first_member().unwrap();
    let mut ra = waiting(join(&mut g, args(&a, &["roundrobin", "range"]), 2));
    assert_eq!(
        answered(&mut rb).unwrap().protocol_name.as_deref(),
        Some("range")
    );
    let leader = answered(&mut ra).unwrap();
    assert_eq!(
        leader
            .members
            .iter()
            .find(|m| m.member_id == a)
            .unwrap()
            .metadata,
        Bytes::from("meta-range")
    );
    // A member with nothing in common is refused.
    let r = now_result(join(&mut g, args("", &["cooperative-sticky"]), 3));
    assert_eq!(r.error, E::InconsistentGroupProtocol.code());
}

#[test]
fn sync_errors() {
    let mut g = Group::new("g", 0, 0);
    let (a, _b) = stable_pair(&mut g);
    let err = |s: Sync| match s {
        Sync::Now(r) => r.error,
        _ => panic!("expected an immediate answer"),
    };
    assert_eq!(
        err(membership::sync(&mut g, sync_args(&a, 7, vec![]), 5)),
        E::IllegalGeneration.code()
    );
    assert_eq!(
        err(membership::sync(&mut g, sync_args("x", 2, vec![]), 5)),
        E::UnknownMemberId.code()
    );
    let mut wrong = sync_args(&a, 2, vec![]);
    wrong.protocol_name = Some("roundrobin".into());
    assert_eq!(
        err(membership::sync(&mut g, wrong, 5)),
        E::InconsistentGroupProtocol.code()
    );
    // Stable: the member's current assignment, at once.
    match membership::sync(&mut g, sync_args(&a, 2, vec![]), 5) {
        Sync::Now(r) => assert_eq!((r.error, r.assignment), (0, Bytes::from("pa"))),
        _ => panic!("Stable answers at once"),
    }
}

fn static_args(member_id: &str, instance: &str) -> JoinArgs {
    JoinArgs {
        instance_id: Some(instance.into()),
        ..args(member_id, &["range"])
    }
}

#[test]
fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
    let mut g = Group::new("g", 0, 0);
    let mut r1 = waiting(join(&mut g, static_args("", "i1"), 0));
    let old = answered(&mut r1).unwrap().member_id;
    match membership::sync(
        &mut g,
        SyncArgs {
            instance_id: Some("i1".into()),
            ..sync_args(&old, 1, vec![(old.clone(), Bytes::from("p"))])
        },
        1,
    ) {
        Sync::Persist(_) => membership::finish_sync(&mut g, 1, true, 2, 0),
        _ => panic!("leader persists"),
    }
    // Restarted with the same instance id and no member id.
    let mut fx = Effects::default();
    let r = now_result(membership::join(
        &mut g,
        static_args("", "i1"),
        3,
        0,
        &mut fx,
    ));
    assert_eq!(
        (r.error, r.generation),
        (0, 1),
        "same generation: no rebalance"
    );
    assert_ne!(r.member_id, old);
    assert_eq!(g.state, GroupState::Stable);
    assert!(fx.persist);
    let hb = |g: &mut Group, id: &str| {
        membership::heartbeat(
            g,
            1,
            &MemberRef {
                member_id: id.into(),
                instance_id: Some("i1".into()),
            },
            4,
        )
    };
    assert_eq!(hb(&mut g, &old), Some(E::FencedInstanceId));
    assert_eq!(hb(&mut g, &r.member_id), None);
}

fn offset(ts: i64) -> OffsetValue {
    OffsetValue {
        offset: 1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: ts,
    }
}

#[test]
fn offsets_of_long_empty_groups_expire() {
    let mut g = Group::new("g", 0, 0);
    g.offsets.insert(("t".into(), 0), offset(100));
    g.offsets.insert(("t".into(), 1), offset(5_000));
    assert_eq!(expirable(&g, 1_000, 10_000), None, "nothing old enough");
    let (mut gone, whole) = expirable(&g, 10_100, 10_000).unwrap();
    gone.sort();
    assert_eq!((gone, whole), (vec![("t".to_string(), 0)], false));
    let (gone, whole) = expirable(&g, 15_000, 10_000).unwrap();
    assert_eq!((gone.len(), whole), (2, true));
    // A group with members keeps its offsets.
    stable_pair(&mut g);
    assert_eq!(expirable(&g, 1_000_000, 10_000), None);
}
