//! `fjord-group-bench`: consumer-group coordinator benchmarks over the raw
//! Kafka protocol, against any Kafka-compatible bootstrap address.
//!
//! * `rebalance`: a 4-member group over a 64-partition topic. Each round all
//!   members rejoin at once; the time measured runs from the last JoinGroup
//!   sent to the last member holding its SyncGroup assignment. (The initial
//!   rebalance delay applies only to a group's first join, so rounds after
//!   the first do not include it.)
//! * `commits`: 100 members of one group, each committing its partition's
//!   offset every 100 ms (or INTERVAL_MS; 0 = back to back) and heartbeating
//!   every second, for a duration;
//!   reports commits/s achieved and commit latency percentiles.
//!
//! Blocking sockets and one thread per member: the tool measures the broker,
//! so it stays simple.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

#[path = "common/wire.rs"]
mod wire;
use wire::{create_topic, s, Conn};

fn subscription(topic: &str, round: u64) -> Bytes {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![s(topic)])
        .with_user_data(Some(Bytes::from(round.to_be_bytes().to_vec())));
    let mut b = BytesMut::new();
    b.put_i16(0);
    sub.encode(&mut b, 0).expect("subscription");
    b.freeze()
}

fn assignment(topic: &str, partitions: Vec<i32>) -> Bytes {
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        AssignedTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(partitions),
    ]);
    let mut b = BytesMut::new();
    b.put_i16(0);
    a.encode(&mut b, 0).expect("assignment");
    b.freeze()
}

/// One group member on its own connection.
struct Member {
    conn: Conn,
    group: String,
    topic: String,
    id: String,
    generation: i32,
    round: u64,
}

impl Member {
    fn new(addr: &str, group: &str, topic: &str) -> Member {
        let mut conn = Conn::open(addr);
        let find = FindCoordinatorRequest::default().with_key(s(group));
        let found = conn.call(3, &find);
        assert_eq!(found.error_code, 0, "FindCoordinator");
        Member {
            conn,
            group: group.into(),
            topic: topic.into(),
            id: String::new(),
            generation: -1,
            round: 0,
        }
    }

    /// JoinGroup then SyncGroup (the leader assigns round-robin). Blocks
    /// until the coordinator ends the join phase.
    fn join(&mut self) {
        self.round += 1;
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(s(&self.id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(&self.topic, self.round))]);
        let response = self.conn.call(5, &request);
        if response.error_code == 79 {
            // MEMBER_ID_REQUIRED: join again with the id handed out.
            self.id = response.member_id.to_string();
            return self.join();
        }
        assert_eq!(response.error_code, 0, "JoinGroup");
        self.id = response.member_id.to_string();
        self.generation = response.generation_id;
        let assignments = if response.leader == response.member_id {
            let members: Vec<String> = response
                .members
                .iter()
                .map(|m| m.member_id.to_string())
                .collect();
            let partitions = 64.max(members.len() as i32);
            members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let mine = (0..partitions)
                        .filter(|p| *p as usize % members.len() == i)
                        .collect();
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(assignment(&self.topic, mine))
                })
                .collect()
        } else {
            Vec::new()
        };
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.id))
            .with_assignments(assignments);
        let synced = self.conn.call(3, &sync);
        assert_eq!(synced.error_code, 0, "SyncGroup");
        assert!(
            !synced.assignment.is_empty() || response.members.len() > 64,
            "an assignment"
        );
    }

    fn commit(&mut self, partition: i32, offset: i64) -> i16 {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id_or_member_epoch(self.generation)
            .with_member_id(s(&self.id))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(&self.topic)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)])]);
        self.conn.call(7, &request).topics[0].partitions[0].error_code
    }

    fn heartbeat(&mut self) -> i16 {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.id));
        self.conn.call(3, &request).error_code
    }
}

fn rebalance(addr: &str, rounds: usize) {
    let topic = "group-bench-64";
    create_topic(addr, topic, 64, &[]);
    let group = format!("rebalance-{}", std::process::id());
    let members: Vec<Member> = (0..4).map(|_| Member::new(addr, &group, topic)).collect();
    let start = Arc::new(Barrier::new(5));
    let sent = Arc::new(Barrier::new(5));
    let done = Arc::new(Barrier::new(5));
    let threads: Vec<_> = members
        .into_iter()
        .map(|mut m| {
            let (start, sent, done) = (start.clone(), sent.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..=rounds {
                    start.wait();
                    sent.wait();
                    m.join();
                    done.wait();
                }
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for round in 0..=rounds {
        start.wait();
        sent.wait();
        let t0 = Instant::now();
        done.wait();
        // Round 0 forms the group (and pays any initial delay): not counted.
        if round > 0 {
            hist.record(t0.elapsed().as_micros() as u64)
                .expect("record");
        }
    }
    for t in threads {
        t.join().expect("member thread");
    }
    println!(
        "rebalance, 4 members, 64 partitions, {rounds} rounds: p50 {} us, p99 {} us, max {} us",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max()
    );
}

fn commits(addr: &str, members: usize, seconds: u64, interval_ms: u64) {
    let topic = "group-bench-commits";
    create_topic(addr, topic, members as i32, &[]);
    let group = format!("commits-{}", std::process::id());
    let joined = Arc::new(Barrier::new(members + 1));
    let threads: Vec<_> = (0..members)
        .map(|i| {
            let (addr, group, joined) = (addr.to_string(), group.clone(), joined.clone());
            std::thread::spawn(move || {
                let mut m = Member::new(&addr, &group, topic);
                m.join();
                // Members rejoin until the generation every member saw settles.
                while m.heartbeat() != 0 {
                    m.join();
                }
                joined.wait();
                let mut hist = Histogram::<u64>::new(3).expect("histogram");
                let (mut ok, mut failed) = (0u64, 0u64);
                let end = Instant::now() + Duration::from_secs(seconds);
                let mut next = Instant::now();
                let mut beat = Instant::now();
                let mut offset = 0;
                while Instant::now() < end {
                    next += Duration::from_millis(interval_ms);
                    let t = Instant::now();
                    offset += 1;
                    match m.commit(i as i32, offset) {
                        0 => ok += 1,
                        // REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION: rejoin.
                        27 | 22 => {
                            failed += 1;
                            m.join();
                        }
                        _ => failed += 1,
                    }
                    hist.record(t.elapsed().as_micros() as u64).expect("record");
                    if beat.elapsed() >= Duration::from_secs(1) {
                        m.heartbeat();
                        beat = Instant::now();
                    }
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                (ok, failed, hist)
            })
        })
        .collect();
    joined.wait();
    let started = Instant::now();
    let mut total = Histogram::<u64>::new(3).expect("histogram");
    let (mut ok, mut failed) = (0, 0);
    for t in threads {
        let (o, f, h) = t.join().expect("member thread");
        ok += o;
        failed += f;
        total.add(h).expect("merge");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "commits, {members} members x 1 per {interval_ms} ms, {seconds} s: {:.0} commits/s ok, {failed} failed; latency p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        ok as f64 / secs,
        total.value_at_quantile(0.5),
        total.value_at_quantile(0.99),
        total.value_at_quantile(0.999),
        total.max()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: fjord-group-bench ADDR rebalance [ROUNDS] | ADDR commits [MEMBERS] [SECONDS] [INTERVAL_MS]";
    let (Some(addr), Some(mode)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let num = |i: usize, default: u64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    match mode.as_str() {
        "rebalance" => rebalance(addr, num(3, 200) as usize),
        "commits" => commits(addr, num(3, 100) as usize, num(4, 20), num(5, 100)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
