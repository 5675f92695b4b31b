//! `LogStore`: the in-memory copy of the durable raft state that raft-rs
//! reads through `raft::Storage` — hard state, voters, the newest snapshot
//! (with the state machine's bytes, so a lagging follower can be sent it)
//! and the entries after it.
//!
//! It only ever holds what is already durable: the core applies a `Persist`
//! to it after the caller has written that `Persist` to disk. raft-rs
//! `fatal!`s on storage errors other than `Compacted` and `Unavailable`, so
//! those are the only two ever returned for log reads.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use super::durable::{suffix_survives, Persist};

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    hard_state: HardState,
    conf_state: ConfState,
    /// `metadata.index == 0` means "no snapshot yet".
    snapshot: Snapshot,
    /// `entries[i].index == snapshot index + 1 + i`.
    entries: Vec<Entry>,
}

impl LogStore {
    /// A store holding recovered state. `entries` must be contiguous and
    /// start right after the snapshot (or at 1 without one).
    pub(crate) fn new(
        hard_state: HardState,
        conf_state: ConfState,
        snapshot: Snapshot,
        entries: Vec<Entry>,
    ) -> Result<LogStore, String> {
        let first = snapshot.get_metadata().index + 1;
        for (i, e) in entries.iter().enumerate() {
            if e.index != first + i as u64 {
                return Err(format!(
                    "entry {} where {} was expected",
                    e.index,
                    first + i as u64
                ));
            }
        }
        Ok(LogStore {
            hard_state,
            conf_state,
            snapshot,
            entries,
        })
    }

    pub(crate) fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub(crate) fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    pub(crate) fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }

    /// The newest snapshot, if any.
    pub(crate) fn snapshot_ref(&self) -> Option<&Snapshot> {
        (self.snapshot.get_metadata().index > 0).then_some(&self.snapshot)
    }

    pub(crate) fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    pub(crate) fn first(&self) -> u64 {
        self.snapshot_index() + 1
    }

    pub(crate) fn last(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot_index(), |e| e.index)
    }

    /// The term at `index`, including the snapshot's own index.
    pub(crate) fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index() {
            return Some(self.snapshot.get_metadata().term);
        }
        let offset = index.checked_sub(self.first())?;
        self.entries
            .get(usize::try_from(offset).ok()?)
            .map(|e| e.term)
    }

    /// Makes the store match the disk after `p` has been made durable.
    pub(crate) fn apply(&mut self, p: &Persist) {
        if let Some(s) = &p.snapshot {
            self.install(s.clone());
        }
        self.append(&p.entries);
        if let Some(hs) = &p.hard_state {
            self.hard_state = hs.clone();
        }
    }

    /// Installs a snapshot (a leader's, or our own compaction).
    pub(crate) fn install(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        if meta.index <= self.snapshot_index() {
            return;
        }
        if suffix_survives(self.term_at(meta.index), meta.term) {
            self.entries.retain(|e| e.index > meta.index);
        } else {
            self.entries.clear();
        }
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.conf_state = meta.get_conf_state().clone();
        self.snapshot = snapshot;
    }

    /// Appends entries, first cutting any suffix they replace.
    fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        // raft-rs only hands out entries after the snapshot and without a
        // gap; anything else is a bug in it or in us, not bad input.
        assert!(
            first.index > self.snapshot_index() && first.index <= self.last() + 1,
            "append of {} outside [{}, {}]",
            first.index,
            self.first(),
            self.last() + 1
        );
        let keep = (first.index - self.first()) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let from = (low - self.first()) as usize;
        let to = (high - self.first()) as usize;
        let mut out = self.entries[from..to].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.snapshot_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.term_at(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match self.snapshot_ref() {
            Some(s) if s.get_metadata().index >= request_index => Ok(s.clone()),
            _ => Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s.mut_metadata().mut_conf_state().voters = vec![1];
        s
    }

    fn store(entries: &[(u64, u64)]) -> LogStore {
        let entries = entries.iter().map(|&(i, t)| entry(i, t)).collect();
        LogStore::new(
            HardState::default(),
            ConfState::default(),
            Snapshot::default(),
            entries,
        )
        .expect("contiguous")
    }

    #[test]
    fn reads_respect_bounds() {
        let s = store(&[(1, 1), (2, 1), (3, 2)]);
        assert_eq!(s.first_index().unwrap(), 1);
        assert_eq!(s.last_index().unwrap(), 3);
        assert_eq!(s.term(0).unwrap(), 0);
        assert_eq!(s.term(3).unwrap(), 2);
        assert!(s.term(4).is_err());
        let got = s.entries(2, 4, None, GetEntriesContext::empty(false));
        assert_eq!(got.unwrap().len(), 2);
        assert!(s
            .entries(2, 5, None, GetEntriesContext::empty(false))
            .is_err());
        assert!(s.snapshot(0, 2).is_err(), "no snapshot yet");
    }

    #[test]
    fn rejects_gaps_at_construction() {
        let entries = vec![entry(1, 1), entry(3, 1)];
        let r = LogStore::new(
            HardState::default(),
            ConfState::default(),
            Snapshot::default(),
            entries,
        );
        assert!(r.is_err());
    }

    #[test]
    fn conflicting_append_replaces_suffix() {
        let mut s = store(&[(1, 1), (2, 1), (3, 1)]);
        s.append(&[entry(2, 2)]);
        assert_eq!(s.last(), 2);
        assert_eq!(s.term_at(2), Some(2));
    }

    #[test]
    fn own_snapshot_keeps_suffix_foreign_one_replaces_log() {
        let mut s = store(&[(1, 1), (2, 1), (3, 1)]);
        s.install(snapshot(2, 1));
        assert_eq!((s.first(), s.last()), (3, 3));
        assert_eq!(s.term(2).unwrap(), 1);
        assert!(matches!(
            s.term(1),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        assert!(s
            .entries(2, 3, None, GetEntriesContext::empty(false))
            .is_err());
        s.install(snapshot(5, 3));
        assert_eq!((s.first(), s.last()), (6, 5));
        assert_eq!(s.hard_state().commit, 5);
        assert_eq!(s.snapshot(0, 2).unwrap().get_metadata().index, 5);
    }
}
