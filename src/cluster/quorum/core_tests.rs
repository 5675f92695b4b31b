//! `Quorum`'s API contract on small hand-driven clusters: construction
//! checks, refusals, the ready loop, restarts, compaction, and that no
//! message a peer can send makes it panic.

use raft::eraftpb::{Entry, Message, MessageType, Snapshot};

use super::core::Quorum;
use super::durable::{MemDisk, Persist, Recovered};
use super::sim_world::Rng;
use super::types::{Advanced, QuorumConfig};

fn config(id: u64, voters: &[u64]) -> QuorumConfig {
    QuorumConfig {
        id,
        voters: voters.to_vec(),
        election_tick: 10,
        heartbeat_tick: 3,
        logger: slog::Logger::root(slog::Discard, slog::o!()),
    }
}

/// Runs the ready loop to quiescence against `disk`; returns everything
/// released.
fn settle(q: &mut Quorum, disk: &mut MemDisk) -> Vec<Advanced> {
    let mut out = Vec::new();
    while let Some(work) = q.ready() {
        disk.persist(work.persist());
        out.push(q.advance(work));
    }
    out
}

fn committed_data(released: &[Advanced]) -> Vec<Vec<u8>> {
    released
        .iter()
        .flat_map(|a| a.committed.iter().map(|c| c.data.clone()))
        .filter(|d| !d.is_empty())
        .collect()
}

/// A single voter elects itself and returns its disk.
fn single_leader() -> (Quorum, MemDisk) {
    let mut q = Quorum::new(config(1, &[1]), Recovered::default()).expect("new");
    let mut disk = MemDisk::default();
    for _ in 0..30 {
        q.tick();
        settle(&mut q, &mut disk);
    }
    assert!(q.is_leader());
    (q, disk)
}

#[test]
fn construction_is_checked() {
    assert!(Quorum::new(config(0, &[1]), Recovered::default()).is_err());
    assert!(Quorum::new(config(4, &[1, 2, 3]), Recovered::default()).is_err());
    assert!(Quorum::new(config(1, &[]), Recovered::default()).is_err());
    let mut c = config(1, &[1, 2, 3]);
    c.heartbeat_tick = 10;
    assert!(
        Quorum::new(c, Recovered::default()).is_err(),
        "heartbeat >= election"
    );
    let gap = Recovered {
        entries: vec![entry(1, 1), entry(3, 1)],
        ..Recovered::default()
    };
    assert!(Quorum::new(config(1, &[1]), gap).is_err());
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        ..Entry::default()
    }
}

#[test]
fn single_voter_commits_and_restarts() {
    let (mut q, mut disk) = single_leader();
    assert_eq!(q.leader_id(), Some(1));
    assert_eq!(q.voters(), vec![1]);
    q.propose(b"a".to_vec()).expect("leader");
    q.propose(b"b".to_vec()).expect("leader");
    let released = settle(&mut q, &mut disk);
    assert_eq!(
        committed_data(&released),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(q.applied_index(), q.commit_index());
    assert_eq!(q.last_index(), 3, "the leader's empty entry, then a and b");
    let progress = q.progress();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].matched, 3);

    // A restart replays every committed entry after the (absent) snapshot.
    let mut q = Quorum::new(config(1, &[1]), disk.recovered.clone()).expect("restart");
    assert_eq!(q.applied_index(), 0);
    let released = settle(&mut q, &mut disk);
    assert_eq!(
        committed_data(&released),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(q.applied_index(), 3);
}

#[test]
fn followers_refuse_proposals_and_strange_messages() {
    let mut q = Quorum::new(config(1, &[1, 2, 3]), Recovered::default()).expect("new");
    assert_eq!(q.propose(b"x".to_vec()).unwrap_err().leader, None);
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.term = 1;
    (m.to, m.from) = (2, 3);
    assert!(q.step(m.clone()).is_err(), "not addressed to us");
    (m.to, m.from) = (1, 9);
    assert!(q.step(m.clone()).is_err(), "not from a voter");
    m.from = 2;
    m.set_msg_type(MessageType::MsgHup);
    assert!(q.step(m.clone()).is_err(), "local type");
    m.set_msg_type(MessageType::MsgHeartbeat);
    assert!(q.step(m).is_ok());
    let mut disk = MemDisk::default();
    settle(&mut q, &mut disk);
    assert_eq!(q.leader_id(), Some(2));
    assert_eq!(q.propose(b"x".to_vec()).unwrap_err().leader, Some(2));
    assert!(q.progress().is_empty(), "only the leader tracks progress");
}

#[test]
fn compaction_is_bounded_by_applied_and_recovers() {
    let (mut q, mut disk) = single_leader();
    for v in [b"a", b"b", b"c"] {
        q.propose(v.to_vec()).expect("leader");
    }
    settle(&mut q, &mut disk);
    let applied = q.applied_index();
    assert!(q.compact(applied + 1, b"image".to_vec()).is_err());
    let s = q.compact(applied - 1, b"image".to_vec()).expect("compact");
    assert!(
        q.compact(applied - 1, b"again".to_vec()).is_err(),
        "not past the last one"
    );
    disk.persist(&Persist::snapshot_only(s.clone()));
    assert_eq!(disk.recovered.entries.len(), 1, "only the entry after it");

    // While a Work is out, compaction waits.
    q.propose(b"d".to_vec()).expect("leader");
    let work = q.ready().expect("work");
    assert!(q.compact(applied, b"image".to_vec()).is_err());
    disk.persist(work.persist());
    q.advance(work);
    settle(&mut q, &mut disk);

    let mut q = Quorum::new(config(1, &[1]), disk.recovered.clone()).expect("restart");
    assert_eq!(q.applied_index(), s.get_metadata().index);
    assert_eq!(
        q.snapshot().map(|s| s.data.to_vec()),
        Some(b"image".to_vec())
    );
    let released = settle(&mut q, &mut disk);
    assert_eq!(
        committed_data(&released),
        vec![b"c".to_vec(), b"d".to_vec()]
    );
}

#[test]
fn events_while_persisting_are_queued() {
    let (mut q, mut disk) = single_leader();
    q.propose(b"a".to_vec()).expect("leader");
    let work = q.ready().expect("work");
    assert!(q.ready().is_none(), "one Work at a time");
    q.propose(b"b".to_vec()).expect("queued");
    q.tick();
    disk.persist(work.persist());
    let mut released = vec![q.advance(work)];
    released.extend(settle(&mut q, &mut disk));
    assert_eq!(
        committed_data(&released),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
}

/// Node 1 of three, made leader by answering its own campaign.
fn leader_of_three(disk: &mut MemDisk) -> Quorum {
    let mut q = Quorum::new(config(1, &[1, 2, 3]), Recovered::default()).expect("new");
    for _ in 0..100 {
        q.tick();
        let sent: Vec<Message> = settle(&mut q, disk)
            .into_iter()
            .flat_map(|a| a.messages)
            .collect();
        for m in sent.iter().filter(|m| m.to == 2) {
            let reply = match m.get_msg_type() {
                MessageType::MsgRequestPreVote => MessageType::MsgRequestPreVoteResponse,
                MessageType::MsgRequestVote => MessageType::MsgRequestVoteResponse,
                _ => continue,
            };
            let mut r = Message::default();
            r.set_msg_type(reply);
            (r.to, r.from, r.term) = (1, 2, m.term);
            q.step(r).expect("vote");
        }
        if q.is_leader() {
            return q;
        }
    }
    panic!("no leader");
}

/// Random messages, well-formed or not, from voters or not: stepping them
/// into a follower or a leader never panics (refusing is fine). Most are
/// plausible (peer types, near the current term) so that they get past the
/// addressing checks and reach raft-rs.
#[test]
fn hostile_messages_never_panic() {
    let mut rng = Rng::new(42);
    let (mut disk, mut leader_disk) = (MemDisk::default(), MemDisk::default());
    let mut follower = Quorum::new(config(1, &[1, 2, 3]), Recovered::default()).expect("new");
    let mut leader = leader_of_three(&mut leader_disk);
    let (mut stepped, mut led) = (0, 0);
    for _ in 0..20_000 {
        let m = random_message(&mut rng, follower.term(), follower.last_index());
        stepped += u32::from(follower.step(m).is_ok());
        settle(&mut follower, &mut disk);
        let m = random_message(&mut rng, leader.term(), leader.last_index());
        stepped += u32::from(leader.step(m).is_ok());
        settle(&mut leader, &mut leader_disk);
        if rng.chance(50) {
            follower.tick();
            leader.tick();
        }
        if rng.chance(20) && leader.is_leader() {
            let _ = leader.propose(b"p".to_vec());
        }
        if !leader.is_leader() {
            leader_disk = MemDisk::default();
            leader = leader_of_three(&mut leader_disk);
            led += 1;
        }
    }
    assert!(stepped > 10_000, "only {stepped} messages reached raft-rs");
    assert!(led < 5_000, "the leader lost its lead {led} times");
}

fn random_message(rng: &mut Rng, term: u64, last: u64) -> Message {
    let near = |rng: &mut Rng, x: u64| match rng.below(8) {
        0 => rng.next(),
        1 => 0,
        n => (x + n).saturating_sub(4),
    };
    let peer_types = [3, 4, 5, 6, 7, 8, 9, 17, 18];
    let mut m = Message::default();
    let t = if rng.chance(900) {
        peer_types[rng.below(9) as usize]
    } else {
        rng.below(20) as i32
    };
    m.set_msg_type(protobuf::ProtobufEnum::from_i32(t).unwrap_or_default());
    m.to = if rng.chance(950) { 1 } else { rng.below(4) };
    m.from = if rng.chance(950) {
        2 + rng.below(2)
    } else {
        rng.below(5)
    };
    m.term = if rng.chance(700) {
        term.max(1)
    } else {
        near(rng, term + 1)
    };
    m.log_term = near(rng, term);
    m.index = near(rng, last);
    m.commit = near(rng, last);
    m.reject = rng.chance(300);
    m.reject_hint = near(rng, last);
    let mut index = m.index;
    for _ in 0..rng.below(4) {
        index = index.wrapping_add(if rng.chance(950) { 1 } else { rng.below(3) });
        let t = if rng.chance(900) {
            m.term
        } else {
            near(rng, term)
        };
        let mut e = entry(index, t);
        e.data = vec![rng.next() as u8; rng.below(8) as usize].into();
        m.mut_entries().push(e);
    }
    if m.get_msg_type() == MessageType::MsgSnapshot || rng.chance(50) {
        let mut s = Snapshot::default();
        s.mut_metadata().index = near(rng, last + 2);
        s.mut_metadata().term = near(rng, term);
        let voters = if rng.chance(900) {
            vec![1, 2, 3]
        } else {
            vec![rng.below(5)]
        };
        s.mut_metadata().mut_conf_state().voters = voters;
        s.data = b"image".to_vec().into();
        m.set_snapshot(s);
    }
    m
}
