//! Transaction version 2: the epoch bump at EndTxn, retries, the abort of
//! an empty transaction, producer id rotation when the epoch runs out, and
//! resuming a bumped transaction from the log.

use kafka_protocol::error::ResponseError as E;

use crate::txn::harness::*;
use crate::txn::metadata::{TxnState, TxnVersion};
use crate::txn::records::{self, TxnLogValue};
use crate::txn::types::{Action, Marker, Plan, Reply};

fn add(h: &mut Harness, id: &str, p: (i64, i16), parts: &[(&str, i32)]) -> Result<Plan, i16> {
    h.c.add_partitions_implicit(h.now, id, p.0, p.1, tps(parts))
}

fn end(h: &mut Harness, id: &str, p: (i64, i16), commit: bool) -> Result<Plan, i16> {
    let plan = h.c.end_txn_v2(h.now, id, p.0, p.1, commit, None, NEW);
    if plan != Ok(Plan::NeedProducerId) {
        return plan;
    }
    h.next_pid += 1;
    let fresh = Some(h.next_pid);
    h.c.end_txn_v2(h.now, id, p.0, p.1, commit, fresh, NEW)
}

fn added(h: &mut Harness, id: &str, p: (i64, i16), parts: &[(&str, i32)]) -> Vec<Action> {
    let plan = add(h, id, p, parts);
    h.commit(plan)
}

fn ended(h: &mut Harness, id: &str, p: (i64, i16), commit: bool) -> Vec<Action> {
    let plan = end(h, id, p, commit);
    h.commit(plan)
}

/// The one reply's producer id and epoch.
fn answer(actions: &[Action]) -> (i64, i16) {
    match replies(actions).as_slice() {
        [Reply::Producer {
            producer_id,
            producer_epoch,
            error: 0,
        }] => (*producer_id, *producer_epoch),
        other => panic!("expected a producer id and epoch, got {other:?}"),
    }
}

/// A transaction over `parts` committed or aborted to the end (Prepare,
/// markers, Complete); returns the answer and the markers' producer.
fn run(h: &mut Harness, id: &str, p: (i64, i16), commit: bool) -> ((i64, i16), (i64, i16)) {
    let actions = added(h, id, p, &[("t", 0), ("u", 1)]);
    assert_eq!(replies(&actions), vec![Reply::Code(0)]);
    let actions = ended(h, id, p, commit);
    let next = answer(&actions);
    let (pid, epoch, marker, coordinator_epoch, partitions) = markers(&actions);
    assert_eq!(marker == Marker::Commit, commit);
    assert_eq!(partitions, tps(&[("t", 0), ("u", 1)]));
    let complete =
        h.c.markers_written(id, pid, epoch, coordinator_epoch)
            .expect("the Complete record");
    assert_eq!(h.append(complete), vec![]);
    (next, (pid, epoch))
}

#[test]
fn end_txn_bumps_the_epoch_and_the_markers_carry_it() {
    let mut h = Harness::new();
    let p = h.init("v");
    assert_eq!(p.1, 0);
    let (next, marked) = run(&mut h, "v", p, true);
    assert_eq!(next, (p.0, 1));
    assert_eq!(
        marked,
        (p.0, 1),
        "markers close the transaction at the new epoch"
    );
    let m = h.meta("v");
    assert_eq!(
        (m.state, m.producer_epoch, m.version),
        (TxnState::CompleteCommit, 1, TxnVersion::V2)
    );
    // The log says so, in the value version that carries it.
    let (_, last) = h.log.last().cloned().unwrap();
    let v = records::decode_value(&last.unwrap()).unwrap();
    assert_eq!((v.producer_epoch, v.client_txn_version), (1, 2));

    // The next transaction runs at the new epoch; the old one is fenced.
    assert_eq!(
        add(&mut h, "v", p, &[("t", 0)]),
        Err(code(E::ProducerFenced))
    );
    let (next, _) = run(&mut h, "v", next, false);
    assert_eq!(next, (p.0, 2));
    assert_eq!(h.state("v"), TxnState::CompleteAbort);
}

#[test]
fn a_retried_end_txn_gets_the_same_answer() {
    let mut h = Harness::new();
    let p = h.init("r");
    added(&mut h, "r", p, &[("t", 0)]);
    let actions = ended(&mut h, "r", p, true);
    let next = answer(&actions);
    // Markers still out: the retry waits, a request at the new epoch is
    // not this producer's (it has not been told the epoch yet); while the
    // Complete transition is pending, any outcome waits.
    assert_eq!(
        end(&mut h, "r", p, true),
        Err(code(E::ConcurrentTransactions))
    );
    assert_eq!(end(&mut h, "r", next, true), Err(code(E::ProducerFenced)));
    assert_eq!(
        end(&mut h, "r", p, false),
        Err(code(E::ConcurrentTransactions))
    );
    let (pid, epoch, _, ce, _) = markers(&actions);
    let complete = h.c.markers_written("r", pid, epoch, ce).unwrap();
    h.append(complete);
    // Done: the retry succeeds without a write; the other outcome is refused.
    assert_eq!(end(&mut h, "r", p, true), Ok(Plan::Done));
    assert_eq!(end(&mut h, "r", p, false), Err(code(E::InvalidTxnState)));
    assert_eq!(h.meta("r").producer_epoch, next.1);
    // Two behind is a zombie.
    let (later, _) = run(&mut h, "r", next, true);
    assert_eq!(end(&mut h, "r", p, true), Err(code(E::ProducerFenced)));
    assert_eq!(later, (p.0, 2));
}

#[test]
fn an_abort_with_no_partitions_bumps_the_epoch() {
    let mut h = Harness::new();
    let p = h.init("e");
    assert_eq!(end(&mut h, "e", p, true), Err(code(E::InvalidTxnState)));
    let actions = ended(&mut h, "e", p, false);
    assert_eq!(answer(&actions), (p.0, 1));
    // No partitions, no markers: the Complete record follows at once.
    let complete = actions.iter().find_map(|a| match a {
        Action::Append(w) => Some(w.clone()),
        _ => None,
    });
    let complete = complete.expect("a Complete record");
    assert_eq!(
        records::decode_value(complete.value.as_ref().unwrap())
            .unwrap()
            .state,
        TxnState::CompleteAbort
    );
    h.append(complete);
    let m = h.meta("e");
    assert_eq!((m.state, m.producer_epoch), (TxnState::CompleteAbort, 1));
    // The same again from CompleteAbort (a client aborting after an
    // abortable error with nothing added).
    let actions = ended(&mut h, "e", (p.0, 1), false);
    assert_eq!(answer(&actions), (p.0, 2));
}

/// An id loaded from the log at `epoch`, idle (CompleteCommit, version 2).
fn at_epoch(h: &mut Harness, id: &str, producer_id: i64, epoch: i16) {
    let v = TxnLogValue {
        producer_id,
        prev_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: epoch,
        timeout_ms: TIMEOUT,
        state: TxnState::CompleteCommit,
        partitions: Default::default(),
        last_update_ms: T0,
        start_ms: T0,
        client_txn_version: 2,
    };
    h.log
        .push((records::encode_key(id), Some(records::encode_value(&v, 1))));
    let log = h.log.clone();
    h.c.load(h.now, 0, EPOCH, log);
}

#[test]
fn the_last_epoch_rotates_to_a_new_producer_id() {
    let mut h = Harness::new();
    at_epoch(&mut h, "x", 77, i16::MAX - 2);
    let (next, _) = run(&mut h, "x", (77, i16::MAX - 2), true);
    assert_eq!(next, (77, i16::MAX - 1));
    // MAX - 1 is exhausted: the bump to MAX needs a new producer id, which
    // the client gets at epoch 0; the markers close at (77, MAX).
    let (next, marked) = run(&mut h, "x", next, true);
    assert_eq!(next, (h.next_pid, 0));
    assert_eq!(marked, (77, i16::MAX));
    let m = h.meta("x");
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.prev_producer_id),
        (h.next_pid, 0, 77)
    );
    // A retry from the old id at its last epoch is answered as the first.
    assert_eq!(end(&mut h, "x", (77, i16::MAX - 1), true), Ok(Plan::Done));
    let (next, _) = run(&mut h, "x", next, false);
    assert_eq!(next, (h.next_pid, 1));
}

#[test]
fn a_reload_resumes_a_bumped_transaction_with_its_next_producer_id() {
    let mut h = Harness::new();
    at_epoch(&mut h, "y", 88, i16::MAX - 1);
    added(&mut h, "y", (88, i16::MAX - 1), &[("t", 0)]);
    let actions = ended(&mut h, "y", (88, i16::MAX - 1), true);
    let next = answer(&actions);
    // The coordinator moves before the markers are written.
    let log = h.log.clone();
    let loaded = h.c.load(h.now, 0, EPOCH + 1, log);
    let (pid, epoch, marker, ce, _) = markers(&loaded.actions);
    assert_eq!(
        (pid, epoch, marker, ce),
        (88, i16::MAX, Marker::Commit, EPOCH + 1)
    );
    let complete = h.c.markers_written("y", pid, epoch, ce).unwrap();
    h.append(complete);
    let m = h.meta("y");
    assert_eq!((m.producer_id, m.producer_epoch), next);
    assert_eq!(m.state, TxnState::CompleteCommit);
}

#[test]
fn version_1_end_txn_keeps_the_epoch() {
    let mut h = Harness::new();
    let p = h.init("one");
    h.open("one", p, &[("t", 0)]);
    h.finish("one", p, true);
    let m = h.meta("one");
    assert_eq!((m.producer_epoch, m.version), (p.1, TxnVersion::V1));
    let (_, last) = h.log.last().cloned().unwrap();
    assert_eq!(
        records::decode_value(&last.unwrap())
            .unwrap()
            .client_txn_version,
        0
    );
}

/// Found by the replication simulation (a version 2 producer at its last
/// epoch, its coordinator's fencing write failing once): the fence that
/// follows reuses the unreturned epoch MAX, so it does not overflow.
#[test]
fn a_failed_fence_at_the_last_epoch_is_retried_at_the_same_epoch() {
    let mut h = Harness::new();
    at_epoch(&mut h, "f", 66, i16::MAX - 1);
    added(&mut h, "f", (66, i16::MAX - 1), &[("t", 0)]);
    let w = written(h.init_plan("f", None));
    assert_eq!(value_of(&w).producer_epoch, i16::MAX);
    h.c.write_failed(w.token, code(E::RequestTimedOut));
    assert!(h.meta("f").has_failed_epoch_fence);

    let w = written(h.init_plan("f", None));
    assert_eq!(value_of(&w).producer_epoch, i16::MAX, "the fence is reused");
    let actions = h.append(w);
    let (pid, epoch, marker, ce, _) = markers(&actions);
    assert_eq!((pid, epoch, marker), (66, i16::MAX, Marker::Abort));
    let complete = h.c.markers_written("f", pid, epoch, ce).unwrap();
    h.append(complete);
    // MAX is exhausted: the producer comes back under a new id.
    assert_eq!(h.init("f"), (h.next_pid, 0));
}

#[test]
fn a_fenced_producer_is_not_taken_for_a_retry() {
    // A version 2 transaction times out: the coordinator fences the
    // producer (epoch + 1) and aborts. The producer's own abort, one epoch
    // behind, looks like a retry of a version 2 bump but is not one: it is
    // fenced, and never handed the fencing epoch. At the last epoch that
    // epoch is i16::MAX, which no producer may hold.
    for start in [3, i16::MAX - 2] {
        let mut h = Harness::new();
        at_epoch(&mut h, "f", 55, start);
        let p = (55, start + 1);
        let (next, _) = run(&mut h, "f", (55, start), true);
        assert_eq!(next, p);
        added(&mut h, "f", p, &[("t", 0)]);
        h.now += i64::from(TIMEOUT) + 1;
        let writes = h.c.tick(h.now);
        let [fence] = writes.as_slice() else {
            panic!("one fence expected, got {writes:?}");
        };
        let actions = h.append(fence.clone());
        let (pid, epoch, marker, ce, _) = markers(&actions);
        assert_eq!((pid, epoch, marker), (55, p.1 + 1, Marker::Abort));
        let complete = h.c.markers_written("f", pid, epoch, ce).unwrap();
        h.append(complete);
        assert_eq!(end(&mut h, "f", p, false), Err(code(E::ProducerFenced)));
        assert_eq!(end(&mut h, "f", p, true), Err(code(E::ProducerFenced)));
        assert_eq!(
            add(&mut h, "f", p, &[("t", 0)]),
            Err(code(E::ProducerFenced))
        );
    }
}
