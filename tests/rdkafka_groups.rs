//! Consumer groups through the rdkafka crate: four members of one group
//! share eight partitions two each; when one closes, the other three cover
//! all eight; messages produced across the hand-over are each consumed once
//! with manual synchronous commits.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Broker;
use futures_lite::future::block_on;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "rk-groups";

fn member(bootstrap: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "rk-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

fn produce(bootstrap: &str, range: std::ops::Range<i32>) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for i in range {
        let value = i.to_string();
        let record = FutureRecord::<(), _>::to(TOPIC)
            .payload(&value)
            .partition(i % 8);
        block_on(p.send(record, Duration::from_secs(10))).expect("produce");
    }
}

fn assignment(c: &BaseConsumer) -> Vec<i32> {
    let mut v: Vec<i32> = c
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect();
    v.sort();
    v
}

/// Polls every member until `ok` holds for their assignments. Messages that
/// arrive meanwhile are committed and counted, never dropped.
fn settle(
    members: &[BaseConsumer],
    seen: &mut Vec<i32>,
    ok: impl Fn(&[Vec<i32>]) -> bool,
) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for c in members {
            pump(c, seen);
        }
        let a: Vec<Vec<i32>> = members.iter().map(assignment).collect();
        if ok(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "assignment did not settle: {a:?}"
        );
    }
}

fn covers_all(a: &[Vec<i32>]) -> bool {
    let all: Vec<i32> = a.iter().flatten().copied().collect();
    all.len() == 8 && all.iter().copied().collect::<BTreeSet<_>>() == (0..8).collect()
}

/// Consumes until `seen` holds `want` values, committing each message first.
fn consume(members: &[BaseConsumer], seen: &mut Vec<i32>, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < want {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {want}",
            seen.len()
        );
        for c in members {
            pump(c, seen);
        }
    }
}

/// One poll: a message is committed, then counted.
fn pump(c: &BaseConsumer, seen: &mut Vec<i32>) {
    if let Some(Ok(m)) = c.poll(Duration::from_millis(20)) {
        c.commit_message(&m, CommitMode::Sync).expect("commit");
        let v = std::str::from_utf8(m.payload().expect("payload")).expect("utf8");
        seen.push(v.parse().expect("number"));
    }
}

#[test]
fn four_members_share_eight_partitions_and_hand_over_on_close() {
    let broker = Broker::start(&[
        "--set",
        "num.partitions=8",
        "--set",
        "group.initial.rebalance.delay.ms=0",
    ]);
    produce(&broker.bootstrap, 0..200);
    let mut members: Vec<BaseConsumer> = (0..4).map(|_| member(&broker.bootstrap)).collect();
    let mut seen = Vec::new();
    let a = settle(&members, &mut seen, |a| {
        covers_all(a) && a.iter().all(|p| p.len() == 2)
    });
    assert_eq!(a.iter().map(Vec::len).sum::<usize>(), 8);
    consume(&members, &mut seen, 200);
    drop(members.pop()); // close: LeaveGroup
    settle(&members, &mut seen, covers_all);
    produce(&broker.bootstrap, 200..400);
    consume(&members, &mut seen, 400);

    seen.sort();
    assert_eq!(
        seen,
        (0..400).collect::<Vec<_>>(),
        "each message exactly once"
    );
}
