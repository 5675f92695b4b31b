//! The second phase and the timers: failed writes, timeouts, expiration,
//! and resuming from the log.

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

use crate::txn::coordinator::{Loaded, TxnCoordinator};
use crate::txn::harness::*;
use crate::txn::metadata::TxnState;
use crate::txn::records;
use crate::txn::types::{Action, Marker, Plan, Reply};

const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;

#[test]
fn a_failed_write_leaves_state_unchanged() {
    let mut h = Harness::new();
    let p = h.init("f");
    let before = h.meta("f");
    let w = written(h.add("f", p, &[("t", 0)]));
    let actions = h.c.write_failed(w.token, code(E::NotEnoughReplicas));
    // Mapped as Kafka maps append errors for the client.
    assert_eq!(
        replies(&actions),
        vec![Reply::Code(code(E::CoordinatorNotAvailable))]
    );
    assert_eq!(h.meta("f"), before);
    assert_eq!(
        h.c.write_completed(h.now, w.token),
        vec![],
        "already reported"
    );

    h.open("f", p, &[("t", 0)]);
    let before = h.meta("f");
    let w = written(h.end("f", p, true));
    let actions = h.c.write_failed(w.token, code(E::NotLeaderOrFollower));
    assert_eq!(
        replies(&actions),
        vec![Reply::Code(code(E::NotCoordinator))]
    );
    assert_eq!(h.meta("f"), before);
    h.finish("f", p, true);
}

#[test]
fn a_new_id_whose_first_write_fails_keeps_its_producer_id() {
    let mut h = Harness::new();
    let w = written(h.init_plan("n", None));
    let actions = h.c.write_failed(w.token, code(E::RequestTimedOut));
    assert_eq!(
        replies(&actions),
        vec![Reply::Producer {
            producer_id: -1,
            producer_epoch: -1,
            error: code(E::CoordinatorNotAvailable)
        }]
    );
    // As on Kafka the id exists from the first attempt, with no epoch yet,
    // so the retry needs no new producer id.
    let m = h.meta("n");
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.pending),
        (1001, -1, None)
    );
    let plan = h.c.init_producer_id(h.now, "n", TIMEOUT, None, None, NEW);
    assert_eq!(replies(&h.commit(plan)).len(), 1);
    assert_eq!(
        (h.meta("n").producer_id, h.meta("n").producer_epoch),
        (1001, 0)
    );
}

#[test]
fn a_failed_fence_keeps_its_epoch_and_does_not_bump_again() {
    let mut h = Harness::new();
    let p = h.init("g");
    h.open("g", p, &[("t", 0)]);
    let w = written(h.init_plan("g", None));
    assert_eq!(value_of(&w).producer_epoch, 1);
    h.c.write_failed(w.token, code(E::RequestTimedOut));
    let m = h.meta("g");
    assert_eq!(
        (m.state, m.producer_epoch, m.pending),
        (TxnState::Ongoing, 1, None)
    );
    assert!(m.has_failed_epoch_fence);
    assert_eq!(h.add("g", p, &[("t", 1)]), Err(code(E::ProducerFenced)));

    let w = written(h.init_plan("g", None));
    assert_eq!(
        value_of(&w).producer_epoch,
        1,
        "the unreturned epoch is reused"
    );
    let actions = h.append(w);
    assert_eq!(markers(&actions).1, 1);
    let w = h.c.markers_written("g", p.0, 1, EPOCH).unwrap();
    h.append(w);
    assert!(!h.meta("g").has_failed_epoch_fence);
    assert_eq!(h.init("g"), (p.0, 2));
}

#[test]
fn a_complete_record_is_retried_by_tick_or_left_for_the_next_leader() {
    let mut h = Harness::new();
    let p = h.init("k");
    h.open("k", p, &[("t", 0)]);
    let plan = h.end("k", p, true);
    h.commit(plan);
    let w = h.c.markers_written("k", p.0, p.1, EPOCH).unwrap();
    assert_eq!(
        h.c.write_failed(w.token, code(E::NotEnoughReplicas)),
        vec![]
    );
    assert_eq!(h.meta("k").pending, Some(TxnState::CompleteCommit));
    assert_eq!(h.init_plan("k", None), Err(code(E::ConcurrentTransactions)));
    let again = h.c.tick(h.now);
    assert_eq!(again.len(), 1);
    assert_eq!((&again[0].key, &again[0].value), (&w.key, &w.value));
    assert_eq!(h.c.tick(h.now), vec![], "offered once per failure");
    h.append(again[0].clone());
    assert_eq!(h.state("k"), TxnState::CompleteCommit);

    // Not retriable: left in PrepareCommit until a reload resumes it.
    h.open("k", p, &[("t", 0)]);
    let plan = h.end("k", p, true);
    h.commit(plan);
    let w = h.c.markers_written("k", p.0, p.1, EPOCH).unwrap();
    h.c.write_failed(w.token, code(E::NotLeaderOrFollower));
    let m = h.meta("k");
    assert_eq!((m.state, m.pending), (TxnState::PrepareCommit, None));
    assert_eq!(h.c.tick(h.now), vec![]);
    assert_eq!(h.end("k", p, true), Err(code(E::ConcurrentTransactions)));
    assert_eq!(h.end("k", p, false), Err(code(E::InvalidTxnState)));
}

#[test]
fn tick_aborts_a_timed_out_transaction() {
    let mut h = Harness::new();
    let p = h.init("t");
    h.open("t", p, &[("t", 0)]);
    assert_eq!(
        h.c.tick(T0 + TIMEOUT as i64),
        vec![],
        "not past its timeout yet"
    );
    h.now = T0 + TIMEOUT as i64 + 1;
    let writes = h.c.tick(h.now);
    let [w] = writes.as_slice() else {
        panic!("expected one abort, got {writes:?}");
    };
    let v = value_of(w);
    assert_eq!((v.state, v.producer_epoch), (TxnState::PrepareAbort, 1));
    // The producer that timed out is fenced, as on Kafka.
    assert_eq!(h.end("t", p, true), Err(code(E::ProducerFenced)));
    assert_eq!(h.c.tick(h.now), vec![], "pending");

    let actions = h.append(w.clone());
    assert_eq!(replies(&actions), vec![], "nobody asked");
    assert_eq!(
        markers(&actions),
        (p.0, 1, Marker::Abort, EPOCH, tps(&[("t", 0)]))
    );
    // Ticking while the markers are out changes nothing.
    assert_eq!(h.c.tick(h.now + 2 * WEEK_MS), vec![]);
    let w = h.c.markers_written("t", p.0, 1, EPOCH).unwrap();
    h.append(w);
    assert_eq!(h.state("t"), TxnState::CompleteAbort);
    assert_eq!(h.init("t"), (p.0, 2));
}

#[test]
fn tick_expires_idle_ids_with_a_tombstone() {
    let mut h = Harness::new();
    let p = h.init("idle");
    assert_eq!(h.c.tick(T0 + WEEK_MS - 1), vec![]);
    let writes = h.c.tick(T0 + WEEK_MS);
    let [w] = writes.as_slice() else {
        panic!("expected a tombstone, got {writes:?}");
    };
    assert_eq!(
        (w.partition, w.coordinator_epoch, &w.value),
        (0, EPOCH, &None)
    );
    assert_eq!(records::decode_key(&w.key).unwrap(), "idle");
    assert_eq!(
        h.add("idle", p, &[("t", 0)]),
        Err(code(E::ConcurrentTransactions))
    );
    // A failed tombstone keeps the id; the next tick tries again.
    h.c.write_failed(w.token, code(E::NotEnoughReplicas));
    assert_eq!(h.meta("idle").pending, None);
    let writes = h.c.tick(T0 + WEEK_MS);
    assert_eq!(writes.len(), 1);
    h.now = T0 + WEEK_MS;
    assert_eq!(h.append(writes[0].clone()), vec![]);
    assert_eq!(h.c.metadata("idle"), None);
    assert_eq!(h.c.describe("idle"), Err(code(E::TransactionalIdNotFound)));
    // Gone for good: the id starts over with a new producer id.
    assert_eq!(h.init("idle"), (1002, 0));
}

#[test]
fn load_reproduces_state_and_resumes_an_unfinished_commit() {
    let mut h = Harness::new();
    let a = h.init("a");
    h.open("a", a, &[("t", 0), ("t", 1)]);
    let plan = h.end("a", a, true);
    h.commit(plan); // PrepareCommit in the log; markers never acknowledged
    let b = h.init("b");
    h.open("b", b, &[("u", 0)]);
    let c = h.init("c");
    h.log.push((records::encode_key("c"), None));
    h.log
        .push((Bytes::from_static(b"junk"), Some(Bytes::from_static(b"x"))));
    assert!(c.0 > 0);

    let mut c2 = TxnCoordinator::new(1);
    let loaded = c2.load(T0 + 5, 0, EPOCH + 1, h.log.clone());
    assert_eq!(loaded.skipped, 1);
    let [Action::WriteMarkers {
        transactional_id,
        marker,
        coordinator_epoch,
        partitions,
        ..
    }] = loaded.actions.as_slice()
    else {
        panic!("expected markers for a, got {loaded:?}");
    };
    assert_eq!((transactional_id.as_str(), *marker), ("a", Marker::Commit));
    assert_eq!(
        (*coordinator_epoch, partitions.clone()),
        (EPOCH + 1, tps(&[("t", 0), ("t", 1)]))
    );
    for id in ["a", "b"] {
        assert_eq!(c2.describe(id), h.c.describe(id), "{id}");
    }
    assert_eq!(c2.metadata("c"), None, "tombstoned");
    assert_eq!(
        c2.metadata("a").unwrap().pending,
        Some(TxnState::CompleteCommit)
    );
    assert_eq!(
        c2.markers_written("a", a.0, a.1, EPOCH),
        None,
        "old coordinator epoch"
    );

    let w = c2.markers_written("a", a.0, a.1, EPOCH + 1).unwrap();
    assert_eq!(c2.write_completed(T0 + 6, w.token), vec![]);
    assert_eq!(c2.metadata("a").unwrap().state, TxnState::CompleteCommit);
    // The resumed id serves its producer as before.
    let plan = c2.add_partitions(T0 + 7, "b", b.0, b.1, tps(&[("u", 0)]), NEW);
    assert_eq!(plan, Ok(Plan::Done));
    let plan = c2.end_txn(T0 + 7, "a", a.0, a.1, true, NEW);
    assert_eq!(plan, Ok(Plan::Done));
}

#[test]
fn load_replaces_and_unload_drops() {
    let mut h = Harness::new();
    let p = h.init("x");
    h.open("x", p, &[("t", 0)]);
    assert_eq!(h.c.unload(0), 1);
    assert_eq!(h.c.describe("x"), Err(code(E::NotCoordinator)));
    let log = h.log.clone();
    assert_eq!(h.c.load(T0, 0, EPOCH, log.clone()), Loaded::default());
    // Loading again replaces rather than merges.
    let loaded = h.c.load(T0, 0, EPOCH, log[..1].to_vec());
    assert_eq!(loaded, Loaded::default());
    assert_eq!(h.state("x"), TxnState::Empty);
}
