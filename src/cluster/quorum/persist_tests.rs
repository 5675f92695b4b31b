//! `FilePersister` on real files under a glommio executor: append, suffix
//! overwrite, hard state, snapshots and compaction, torn tails, and that
//! reopening always recovers exactly what was made durable.

use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState, Snapshot};

use super::durable::{MemDisk, Persist, Recovered};
use super::persist::FilePersister;
use super::sim_world::World;

use crate::util::run_local as run;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: format!("e{index}t{term}").into_bytes().into(),
        ..Entry::default()
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..HardState::default()
    }
}

fn snapshot(index: u64, term: u64, data: &str) -> Snapshot {
    let mut s = Snapshot::default();
    s.mut_metadata().index = index;
    s.mut_metadata().term = term;
    s.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
    s.data = data.as_bytes().to_vec().into();
    s
}

fn reopen(dir: &Path) -> Recovered {
    FilePersister::open(dir).expect("reopen").1
}

/// Persists each step through the file persister and a `MemDisk` model;
/// after each, reopening the directory must give the model's state.
async fn persist_all(dir: &Path, steps: &[Persist]) -> MemDisk {
    let (mut p, recovered) = FilePersister::open(dir).expect("open");
    let mut model = MemDisk {
        recovered,
        ..MemDisk::default()
    };
    for step in steps {
        p.persist(step).await.expect("persist");
        model.persist(step);
        assert_eq!(reopen(dir), model.recovered, "after {step:?}");
    }
    model
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("metadata");
    (t, dir)
}

#[test]
fn new_directory_recovers_empty() {
    let (_t, dir) = tmp();
    let (_, r) = FilePersister::open(&dir).expect("open");
    assert_eq!(r, Recovered::default());
}

#[test]
fn append_overwrite_and_hard_state_survive_reopen() {
    let (_t, dir) = tmp();
    run(move || async move {
        let steps = [
            Persist {
                entries: entries(1..=5, 1),
                hard_state: Some(hard_state(1, 1, 0)),
                ..Persist::default()
            },
            // Commit moves only: written in place.
            Persist {
                hard_state: Some(hard_state(1, 1, 3)),
                ..Persist::default()
            },
            // A new leader replaces 4..5 (a raft conflict).
            Persist {
                entries: entries(4..=6, 2),
                hard_state: Some(hard_state(2, 2, 3)),
                ..Persist::default()
            },
            Persist {
                entries: entries(7..=8, 2),
                hard_state: Some(hard_state(2, 2, 7)),
                ..Persist::default()
            },
        ];
        let model = persist_all(&dir, &steps).await;
        let r = &model.recovered;
        assert_eq!(r.entries.len(), 8);
        assert_eq!(r.entries[3].term, 2);
        assert_eq!(r.hard_state, hard_state(2, 2, 7));
    });
}

#[test]
fn snapshots_compact_the_log() {
    let (_t, dir) = tmp();
    run(move || async move {
        let steps = [
            Persist {
                entries: entries(1..=10, 1),
                hard_state: Some(hard_state(1, 1, 10)),
                ..Persist::default()
            },
            // Our own compaction: the entries after it stay.
            Persist::snapshot_only(snapshot(6, 1, "image@6")),
            Persist {
                entries: entries(11..=12, 1),
                ..Persist::default()
            },
            // Another: reads the suffix back from the rewritten log.
            Persist::snapshot_only(snapshot(9, 1, "image@9")),
            // A leader's snapshot our log disagrees with: the log goes.
            Persist {
                snapshot: Some(snapshot(20, 3, "image@20")),
                entries: entries(21..=22, 3),
                hard_state: Some(hard_state(3, 0, 20)),
            },
            // A stale snapshot changes nothing.
            Persist::snapshot_only(snapshot(15, 2, "old")),
        ];
        let model = persist_all(&dir, &steps).await;
        let r = &model.recovered;
        assert_eq!(r.snapshot.as_ref().unwrap().get_metadata().index, 20);
        assert_eq!(r.snapshot.as_ref().unwrap().data.as_ref(), b"image@20");
        let idx: Vec<u64> = r.entries.iter().map(|e| e.index).collect();
        assert_eq!(idx, vec![21, 22]);
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "tmp")
            })
            .count();
        assert_eq!(leftovers, 0, "no tmp files left");
    });
}

#[test]
fn torn_tail_is_cut_and_appending_continues() {
    let (_t, dir) = tmp();
    let d = dir.clone();
    run(move || async move {
        let (mut p, _) = FilePersister::open(&d).expect("open");
        let step = Persist {
            entries: entries(1..=4, 1),
            ..Persist::default()
        };
        p.persist(&step).await.expect("persist");
    });
    let log = dir.join("raft.log");
    let full = std::fs::read(&log).unwrap();
    // Half of the last frame made it, then garbage.
    let last_frame = 8 + entry(4, 1).write_to_bytes().unwrap().len();
    let mut torn = full[..full.len() - last_frame / 2].to_vec();
    torn.extend_from_slice(&[0xab; 5]);
    std::fs::write(&log, &torn).unwrap();
    let r = reopen(&dir);
    assert_eq!(r.entries, entries(1..=3, 1));
    assert_eq!(
        std::fs::metadata(&log).unwrap().len() as usize,
        full.len() - last_frame
    );
    run(move || async move {
        let (mut p, _) = FilePersister::open(&dir).expect("open");
        let step = Persist {
            entries: entries(4..=5, 2),
            ..Persist::default()
        };
        p.persist(&step).await.expect("persist");
        let mut want = entries(1..=3, 1);
        want.extend(entries(4..=5, 2));
        assert_eq!(reopen(&dir).entries, want);
    });
}

#[test]
fn torn_commit_file_is_ignored_corrupt_hard_state_is_refused() {
    let (_t, dir) = tmp();
    let d = dir.clone();
    run(move || async move {
        let steps = [
            Persist {
                entries: entries(1..=3, 1),
                hard_state: Some(hard_state(1, 2, 1)),
                ..Persist::default()
            },
            Persist {
                hard_state: Some(hard_state(1, 2, 3)),
                ..Persist::default()
            },
        ];
        persist_all(&d, &steps).await;
    });
    std::fs::write(dir.join("commit"), [1, 2, 3]).unwrap();
    assert_eq!(reopen(&dir).hard_state, hard_state(1, 2, 1), "falls back");
    std::fs::write(dir.join("hardstate"), [0; 28]).unwrap();
    assert!(FilePersister::open(&dir).is_err());
}

/// A crash after the snapshot's rename but before the log rewrite: the
/// next open finishes the job.
#[test]
fn crash_between_snapshot_and_log_rewrite() {
    let (_t, dir) = tmp();
    let d = dir.clone();
    run(move || async move {
        let step = Persist {
            entries: entries(1..=6, 1),
            ..Persist::default()
        };
        persist_all(&d, &[step]).await;
    });
    let s = snapshot(4, 1, "image@4");
    let payload = s.write_to_bytes().unwrap();
    let mut framed = (payload.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    framed.extend_from_slice(&payload);
    std::fs::write(dir.join("snapshot"), framed).unwrap();
    let r = reopen(&dir);
    assert_eq!(r.entries, entries(5..=6, 1));
    assert_eq!(reopen(&dir), r, "rewritten log is stable");
}

/// Replays the persists one node of a simulated cluster made (crashes,
/// conflicts, leaders' snapshots, compactions) through the file persister
/// and through `MemDisk`, the model the simulation trusts: reopening must
/// give the model's state. Torn persists are off, so the stream is one a
/// real disk could have taken whole.
#[test]
fn simulated_streams_match_the_model() {
    let mut streams = Vec::new();
    for seed in 0..40 {
        let mut w = World::new(seed);
        w.swarm.torn = 0;
        w.recorded = Some(Vec::new());
        for _ in 0..300 {
            w.step(true).expect("simulation");
        }
        streams.extend(w.recorded.take().unwrap_or_default());
    }
    let interesting = |s: &&Vec<Persist>| s.iter().any(|p| p.snapshot.is_some());
    let chosen: Vec<Vec<Persist>> = streams
        .iter()
        .filter(interesting)
        .take(6)
        .cloned()
        .collect();
    assert!(!chosen.is_empty(), "no stream with a snapshot");
    let (_t, root) = tmp();
    run(move || async move {
        for (n, stream) in chosen.iter().enumerate() {
            let dir = root.join(n.to_string());
            let (mut p, _) = FilePersister::open(&dir).expect("open");
            let mut model = MemDisk::default();
            for (k, step) in stream.iter().take(400).enumerate() {
                p.persist(step).await.expect("persist");
                model.persist(step);
                if k % 25 == 0 {
                    assert_eq!(reopen(&dir), model.recovered, "stream {n} step {k}");
                }
            }
            assert_eq!(reopen(&dir), model.recovered, "stream {n} at the end");
        }
    });
}
