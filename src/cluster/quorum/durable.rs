//! The shape of the quorum's durable state, shared by the core (which
//! produces it), the file persister (which writes it) and the simulation's
//! in-memory disk: what one ready asks to make durable (`Persist`), what a
//! restart finds (`Recovered`), and the one rule that decides which log
//! entries outlive a snapshot.

use raft::eraftpb::{Entry, HardState, Snapshot};

/// What persistence found at start. Empty (all defaults) for a new node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// Term, vote and commit. The commit index may lag (it is written
    /// without a sync; see `persist`), never the term or vote.
    pub hard_state: HardState,
    /// The newest durable snapshot: the caller's state machine (the metadata
    /// image, opaque bytes) at `metadata.index`, and the voters then.
    pub snapshot: Option<Snapshot>,
    /// The entries after the snapshot, contiguous, in index order.
    pub entries: Vec<Entry>,
}

/// What must be durable before `Quorum::advance` is called, applied in
/// this order: snapshot, entries, hard state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Persist {
    /// A snapshot to install: one the leader sent (the log is then replaced)
    /// or one `Quorum::compact` made (the log keeps the entries after it).
    pub snapshot: Option<Snapshot>,
    /// Entries to append. If the first one's index is not past the last
    /// durable entry, the log is cut there first (a raft conflict).
    pub entries: Vec<Entry>,
    /// The new hard state, if it changed.
    pub hard_state: Option<HardState>,
}

impl Persist {
    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }

    /// The `Persist` that makes a snapshot from `Quorum::compact` durable.
    pub fn snapshot_only(snapshot: Snapshot) -> Persist {
        Persist {
            snapshot: Some(snapshot),
            ..Persist::default()
        }
    }
}

/// Whether the log entries after a snapshot survive installing it, given
/// the log's term at the snapshot's index (None if the log has no entry
/// there).
///
/// They survive exactly when the log agrees with the snapshot at its index:
/// by log matching, everything up to it is then identical. That is always
/// so for our own compaction; raft-rs installs a leader's snapshot only when
/// the log does NOT match there (otherwise it just moves the commit index),
/// and then any later entries are from a divergent history and must go.
pub(crate) fn suffix_survives(term_at_snapshot: Option<u64>, snapshot_term: u64) -> bool {
    term_at_snapshot == Some(snapshot_term)
}

/// An in-memory "disk": the same `Persist` semantics as the file persister,
/// for the simulation (its contents are what a crash leaves behind).
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct MemDisk {
    pub(crate) recovered: Recovered,
    /// The commit index as of the last term/vote write: the file persister
    /// syncs the hard state only when term or vote change, so a crash may
    /// roll the commit index back to anywhere between this and the latest.
    pub(crate) synced_commit: u64,
}

#[cfg(test)]
impl MemDisk {
    fn snapshot_index(&self) -> u64 {
        self.recovered
            .snapshot
            .as_ref()
            .map_or(0, |s| s.get_metadata().index)
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        let snapshot = self.recovered.snapshot.as_ref().map(|s| s.get_metadata());
        if snapshot.is_some_and(|m| m.index == index) {
            return snapshot.map(|m| m.term);
        }
        let first = self.snapshot_index() + 1;
        let i = usize::try_from(index.checked_sub(first)?).ok()?;
        self.recovered.entries.get(i).map(|e| e.term)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) {
        let (index, term) = (snapshot.get_metadata().index, snapshot.get_metadata().term);
        if index <= self.snapshot_index() {
            return; // an older or equal snapshot is already durable
        }
        if suffix_survives(self.term_at(index), term) {
            self.recovered.entries.retain(|e| e.index > index);
        } else {
            self.recovered.entries.clear();
        }
        self.recovered.snapshot = Some(snapshot.clone());
    }

    /// Cuts the log before `index` (the file persister's durable truncate).
    fn truncate_from(&mut self, index: u64) {
        self.recovered.entries.retain(|e| e.index < index);
    }

    fn push(&mut self, entry: &Entry) {
        let expected = self
            .recovered
            .entries
            .last()
            .map_or(self.snapshot_index(), |e| e.index)
            + 1;
        assert_eq!(entry.index, expected, "gap in appended entries");
        self.recovered.entries.push(entry.clone());
    }

    fn set_hard_state(&mut self, hs: &HardState) {
        let old = &self.recovered.hard_state;
        if hs.term != old.term || hs.vote != old.vote {
            self.synced_commit = hs.commit;
        }
        self.recovered.hard_state = hs.clone();
    }

    /// Applies a whole `Persist`, as a completed `FilePersister::persist`.
    pub(crate) fn persist(&mut self, p: &Persist) {
        self.persist_partially(p, usize::MAX);
    }

    /// Applies the first `steps` of a `Persist` in the file persister's
    /// order (snapshot; truncation; one step per entry; hard state): what a
    /// crash in the middle of `FilePersister::persist` can leave.
    pub(crate) fn persist_partially(&mut self, p: &Persist, steps: usize) {
        let mut left = steps;
        let mut step = |f: &mut dyn FnMut()| {
            if left > 0 {
                left -= 1;
                f();
            }
        };
        if let Some(s) = &p.snapshot {
            step(&mut || self.install_snapshot(s));
        }
        if let Some(first) = p.entries.first() {
            step(&mut || self.truncate_from(first.index));
        }
        for e in &p.entries {
            step(&mut || self.push(e));
        }
        if let Some(hs) = &p.hard_state {
            step(&mut || self.set_hard_state(hs));
        }
    }
}
