//! The coordinator driven as clients drive it: whole transactions, fencing,
//! retries and the errors Kafka answers with.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::ApiKey;

use super::*;
use crate::txn::harness::*;
use crate::txn::types::{Action, Marker, Reply};

#[test]
fn commit_runs_from_init_to_complete() {
    let mut h = Harness::new();
    let p = h.init("a");
    assert_eq!(p, (1001, 0));
    assert_eq!(h.state("a"), TxnState::Empty);

    h.now += 10;
    let w = written(h.add("a", p, &[("t", 0), ("t", 1)]));
    // The record is what the metadata becomes once it is written.
    let v = value_of(&w);
    assert_eq!(
        (v.producer_id, v.producer_epoch, v.state),
        (1001, 0, TxnState::Ongoing)
    );
    assert_eq!((v.start_ms, v.last_update_ms), (T0 + 10, T0 + 10));
    assert_eq!(
        v.partitions,
        tps(&[("t", 0), ("t", 1)]).into_iter().collect()
    );
    assert_eq!(replies(&h.append(w)), vec![Reply::Code(0)]);
    assert_eq!(h.state("a"), TxnState::Ongoing);
    // Partitions already in the transaction need no record.
    assert_eq!(h.add("a", p, &[("t", 1)]), Ok(Plan::Done));

    let plan = h.end("a", p, true);
    let actions = h.commit(plan);
    assert_eq!(replies(&actions), vec![Reply::Code(0)]);
    assert_eq!(
        markers(&actions),
        (1001, 0, Marker::Commit, EPOCH, tps(&[("t", 0), ("t", 1)]))
    );
    assert_eq!(h.state("a"), TxnState::PrepareCommit);
    assert_eq!(h.meta("a").pending, Some(TxnState::CompleteCommit));

    let w =
        h.c.markers_written("a", 1001, 0, EPOCH)
            .expect("Complete record");
    assert_eq!(value_of(&w).state, TxnState::CompleteCommit);
    assert!(value_of(&w).partitions.is_empty());
    assert_eq!(h.append(w), vec![]);
    let m = h.meta("a");
    assert_eq!(
        (m.state, m.pending, m.partitions.len()),
        (TxnState::CompleteCommit, None, 0)
    );
    // A second acknowledgement of the same markers is stale.
    assert_eq!(h.c.markers_written("a", 1001, 0, EPOCH), None);
}

#[test]
fn abort_with_offsets_then_a_new_transaction() {
    let mut h = Harness::new();
    let p = h.init("a");
    let plan = h.c.add_offsets(h.now, "a", p.0, p.1, 3, NEW);
    assert_eq!(replies(&h.commit(plan)), vec![Reply::Code(0)]);
    h.open("a", p, &[("t", 0)]);
    let both = tps(&[("__consumer_offsets", 3), ("t", 0)]);
    assert_eq!(h.meta("a").partitions, both.iter().cloned().collect());

    let plan = h.end("a", p, false);
    let actions = h.commit(plan);
    assert_eq!(markers(&actions), (p.0, 0, Marker::Abort, EPOCH, both));
    // Acknowledgements for another epoch or coordinator epoch are stale.
    assert_eq!(h.c.markers_written("a", p.0, 1, EPOCH), None);
    assert_eq!(h.c.markers_written("a", p.0, 0, EPOCH - 1), None);
    let w = h.c.markers_written("a", p.0, 0, EPOCH).unwrap();
    h.append(w);
    assert_eq!(h.state("a"), TxnState::CompleteAbort);

    h.now += 1000;
    h.open("a", p, &[("u", 2)]);
    let m = h.meta("a");
    assert_eq!((m.state, m.txn_start_ms), (TxnState::Ongoing, T0 + 1000));
    assert_eq!(m.partitions, tps(&[("u", 2)]).into_iter().collect());
}

#[test]
fn a_second_init_fences_the_first_producer() {
    let mut h = Harness::new();
    let old = h.init("z");
    let new = h.init("z");
    assert_eq!(new, (old.0, old.1 + 1));
    let fenced = code(E::ProducerFenced);
    assert_eq!(h.add("z", old, &[("t", 0)]), Err(fenced));
    assert_eq!(h.end("z", old, true), Err(fenced));
    // Old request versions name it INVALID_PRODUCER_EPOCH.
    let legacy = Fenced::for_request(ApiKey::EndTxn, 1);
    assert_eq!(legacy, Fenced::InvalidProducerEpoch);
    assert_eq!(
        h.c.end_txn(h.now, "z", old.0, old.1, true, legacy),
        Err(code(E::InvalidProducerEpoch))
    );
    assert_eq!(
        Fenced::for_request(ApiKey::EndTxn, 2),
        Fenced::ProducerFenced
    );
    assert_eq!(Fenced::for_request(ApiKey::InitProducerId, 3), legacy);
    assert_eq!(Fenced::for_request(ApiKey::InitProducerId, 4), NEW);
    // Another producer id, or an id never initialized, is no mapping at all.
    let mapping = code(E::InvalidProducerIdMapping);
    assert_eq!(h.add("z", (old.0 + 1, new.1), &[("t", 0)]), Err(mapping));
    assert_eq!(h.end("nobody", new, true), Err(mapping));
    h.open("z", new, &[("t", 0)]);
}

#[test]
fn init_while_ongoing_aborts_the_open_transaction() {
    let mut h = Harness::new();
    let p = h.init("o");
    h.open("o", p, &[("t", 0)]);

    let w = written(h.init_plan("o", None));
    let v = value_of(&w);
    assert_eq!((v.state, v.producer_epoch), (TxnState::PrepareAbort, 1));
    // The old producer is fenced before the abort is even written.
    assert_eq!(h.add("o", p, &[("t", 1)]), Err(code(E::ProducerFenced)));
    assert_eq!(h.init_plan("o", None), Err(code(E::ConcurrentTransactions)));

    let actions = h.append(w);
    let retry = code(E::ConcurrentTransactions);
    assert_eq!(
        replies(&actions),
        vec![Reply::Producer {
            producer_id: -1,
            producer_epoch: -1,
            error: retry
        }]
    );
    assert_eq!(
        markers(&actions),
        (p.0, 1, Marker::Abort, EPOCH, tps(&[("t", 0)]))
    );
    assert_eq!(h.init_plan("o", None), Err(retry));
    let w = h.c.markers_written("o", p.0, 1, EPOCH).unwrap();
    h.append(w);
    assert_eq!(h.state("o"), TxnState::CompleteAbort);
    // The client's retry gets a second bump: the aborting epoch was never its.
    assert_eq!(h.init("o"), (p.0, 2));
}

#[test]
fn end_txn_retries_and_wrong_outcomes() {
    let mut h = Harness::new();
    let p = h.init("e");
    let invalid = code(E::InvalidTxnState);
    let busy = code(E::ConcurrentTransactions);
    assert_eq!(h.end("e", p, true), Err(invalid), "nothing to end");
    h.open("e", p, &[("t", 0)]);
    let w = written(h.end("e", p, true));
    assert_eq!(h.end("e", p, true), Err(busy), "Prepare record pending");
    let actions = h.append(w);
    assert_eq!(h.end("e", p, true), Err(busy), "markers pending");
    assert_eq!(h.end("e", p, false), Err(busy), "markers pending");
    let (pid, epoch, _, ce, _) = markers(&actions);
    let w = h.c.markers_written("e", pid, epoch, ce).unwrap();
    h.append(w);
    assert_eq!(
        h.end("e", p, true),
        Ok(Plan::Done),
        "a retried commit succeeds"
    );
    assert_eq!(h.end("e", p, false), Err(invalid), "abort after commit");

    h.open("e", p, &[("t", 0)]);
    h.finish("e", p, false);
    assert_eq!(h.end("e", p, false), Ok(Plan::Done));
    assert_eq!(h.end("e", p, true), Err(invalid));
}

#[test]
fn calls_during_a_pending_write_are_concurrent_transactions() {
    let mut h = Harness::new();
    let p = h.init("c");
    let w = written(h.add("c", p, &[("t", 0)]));
    let busy = Err(code(E::ConcurrentTransactions));
    assert_eq!(h.add("c", p, &[("t", 1)]), busy);
    assert_eq!(h.end("c", p, true), busy);
    assert_eq!(h.init_plan("c", None), busy);
    // Verification reads what is written: t-0 is not in the transaction yet.
    let verify = h.c.verify_partitions("c", p.0, p.1, tps(&[("t", 0)]));
    assert_eq!(
        verify,
        Ok(vec![(tp("t", 0), code(E::TransactionAbortable))])
    );
    h.append(w);
    let verify =
        h.c.verify_partitions("c", p.0, p.1, tps(&[("t", 0), ("t", 1)]));
    assert_eq!(
        verify,
        Ok(vec![
            (tp("t", 0), 0),
            (tp("t", 1), code(E::TransactionAbortable))
        ])
    );
    h.open("c", p, &[("t", 1)]);
}

#[test]
fn init_checks_its_arguments() {
    let mut h = Harness::new();
    let init = |h: &mut Harness, id: &str, timeout| {
        h.c.init_producer_id(h.now, id, timeout, None, None, NEW)
    };
    assert_eq!(init(&mut h, "", TIMEOUT), Err(code(E::InvalidRequest)));
    let bad_timeout = Err(code(E::InvalidTransactionTimeout));
    assert_eq!(init(&mut h, "i", 0), bad_timeout);
    assert_eq!(init(&mut h, "i", 900_001), bad_timeout);
    assert_eq!(init(&mut h, "i", 900_000), Ok(Plan::NeedProducerId));
    h.c.max_timeout_ms = 1000;
    assert_eq!(init(&mut h, "i", 1001), bad_timeout);
    let long = "x".repeat(40_000);
    assert_eq!(init(&mut h, &long, TIMEOUT), Err(code(E::InvalidRequest)));
}

#[test]
fn a_recovering_producer_keeps_its_id_kip_360() {
    let mut h = Harness::new();
    let p = h.init("r");
    assert_eq!(h.init_with("r", Some(p)), Ok((p.0, 1)));
    // A retry of that bump (its answer lost) gets the same epoch again.
    assert_eq!(h.init_with("r", Some(p)), Ok((p.0, 1)));
    let fenced = code(E::ProducerFenced);
    assert_eq!(h.init_with("r", Some((p.0, 7))), Err(fenced));
    assert_eq!(h.init_with("r", Some((p.0 + 9, 1))), Err(fenced));
    let legacy = Fenced::for_request(ApiKey::InitProducerId, 3);
    assert_eq!(
        h.c.init_producer_id(h.now, "r", TIMEOUT, Some((p.0, 7)), None, legacy),
        Err(code(E::InvalidProducerEpoch))
    );
}

#[test]
fn an_exhausted_epoch_gets_a_new_producer_id() {
    let mut h = Harness::new();
    let last = i16::MAX - 1;
    let v = records::TxnLogValue {
        producer_id: 7,
        prev_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: last,
        timeout_ms: TIMEOUT,
        state: TxnState::CompleteCommit,
        partitions: Default::default(),
        last_update_ms: T0,
        start_ms: T0,
        client_txn_version: 0,
    };
    let log = vec![(records::encode_key("x"), Some(records::encode_value(&v, 0)))];
    h.c.load(T0, 0, EPOCH, log);
    let plan =
        h.c.init_producer_id(h.now, "x", TIMEOUT, Some((7, last)), None, NEW);
    assert_eq!(plan, Ok(Plan::NeedProducerId));
    assert_eq!(h.init_with("x", Some((7, last))), Ok((1001, 0)));
    assert_eq!(h.meta("x").prev_producer_id, 7);
    // The old producer retrying the same call is answered the same.
    assert_eq!(h.init_with("x", Some((7, last))), Ok((1001, 0)));
}

#[test]
fn describe_and_list() {
    let mut h = Harness::new();
    let a = h.init("a");
    h.open("a", a, &[("t", 0), ("u", 1)]);
    let b = h.init("b");
    let c = h.init("c");
    h.open("c", c, &[("t", 0)]);
    h.finish("c", c, true);

    let d = h.c.describe("a").unwrap();
    assert_eq!(
        (d.state, d.producer_id, d.producer_epoch),
        (TxnState::Ongoing, a.0, 0)
    );
    assert_eq!((d.timeout_ms, d.start_ms), (TIMEOUT, T0));
    assert_eq!(
        d.partitions,
        tps(&[("t", 0), ("u", 1)]).into_iter().collect()
    );
    assert_eq!(h.c.describe(""), Err(code(E::InvalidRequest)));
    assert_eq!(h.c.describe("nope"), Err(code(E::TransactionalIdNotFound)));

    let ids = |l: Listing| -> Vec<String> {
        l.transactions
            .into_iter()
            .map(|t| t.transactional_id)
            .collect()
    };
    let none: [&str; 0] = [];
    assert_eq!(ids(h.c.list(&none, &[])), ["a", "b", "c"]);
    assert_eq!(ids(h.c.list(&["Ongoing"], &[])), ["a"]);
    assert_eq!(ids(h.c.list(&none, &[b.0])), ["b"]);
    assert_eq!(
        ids(h.c.list(&["CompleteCommit", "Empty"], &[a.0, c.0])),
        ["c"]
    );
    let l = h.c.list(&["Ongoing", "Bogus"], &[]);
    assert_eq!(l.unknown_state_filters, ["Bogus"]);
    assert_eq!(l.transactions[0].state, TxnState::Ongoing);
    assert!(h.c.list(&["Bogus"], &[]).transactions.is_empty());
}

#[test]
fn only_led_partitions_are_coordinated() {
    let mut c = TxnCoordinator::new(50);
    // Kafka's Utils.abs of the Java hash: "my-txn" hashes negative.
    assert_eq!(c.partition_for("my-txn"), 45);
    assert_eq!(c.partition_for("transactional-id-1"), 41);
    assert_eq!(partition_for("polygenelubricants", 50), 0, "i32::MIN");
    let none = Vec::<(bytes::Bytes, Option<bytes::Bytes>)>::new();
    c.load(T0, 45, EPOCH, none.clone());
    let not_coordinator = code(E::NotCoordinator);
    let init = |c: &mut TxnCoordinator, id| c.init_producer_id(T0, id, TIMEOUT, None, Some(1), NEW);
    assert_eq!(init(&mut c, "transactional-id-1"), Err(not_coordinator));
    assert_eq!(c.describe("transactional-id-1"), Err(not_coordinator));

    // A write staged before an unload is answered NOT_COORDINATOR, not applied.
    let w = written(init(&mut c, "my-txn"));
    assert_eq!(c.unload(45), 1);
    c.load(T0, 45, EPOCH + 1, none);
    let actions = c.write_completed(T0, w.token);
    assert_eq!(
        actions,
        vec![Action::Reply {
            token: w.token,
            reply: Reply::Producer {
                producer_id: -1,
                producer_epoch: -1,
                error: code(E::NotCoordinator)
            }
        }]
    );
    assert_eq!(c.metadata("my-txn"), None);
    assert_eq!(c.write_completed(T0, w.token), vec![], "reported twice");
}

#[test]
fn a_transaction_without_partitions_completes_without_markers() {
    let mut h = Harness::new();
    let p = h.init("n");
    h.open("n", p, &[]);
    let plan = h.end("n", p, true);
    let actions = h.commit(plan);
    assert_eq!(replies(&actions), vec![Reply::Code(0)]);
    let [_, Action::Append(w)] = actions.as_slice() else {
        panic!("expected the Complete record, got {actions:?}");
    };
    assert_eq!(h.append(w.clone()), vec![]);
    assert_eq!(h.state("n"), TxnState::CompleteCommit);
}
