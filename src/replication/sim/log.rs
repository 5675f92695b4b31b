//! One broker's simulated disk for one partition: record batches, the
//! leader-epoch cache, the durable prefix and the high watermark.
//!
//! Owns the storage rules the replication state machines rely on: offsets
//! are contiguous (an append not at the log end is a bug and panics), a
//! flush makes durable exactly what was written before it began, a crash
//! keeps only the durable prefix, and the epoch cache answers
//! `end_offset_for_epoch` as Kafka's `LeaderEpochFileCache.endOffsetFor`.
//! Every batch carries a hash chain over all record ids up to it, so the
//! checker compares two logs' prefixes in O(log n). Its transactional
//! side (`txn_log::TxnView`) follows every append and is rebuilt by replay
//! whenever batches go (truncation, crash), as fjord's log does.
//!
//! Must not: know about roles, the network or the checker.

use bytes::Bytes;

use super::txn_log::TxnView;

/// What a batch is, beyond its record ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A plain (non-transactional) producer's records.
    Plain,
    /// A transactional producer's records.
    Txn {
        producer_id: i64,
        producer_epoch: i16,
        sequence: i32,
    },
    /// A transaction marker: one control record.
    Marker {
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    },
    /// `__transaction_state` records, one per id: key, value (None: a
    /// tombstone).
    State(Vec<(Bytes, Option<Bytes>)>),
}

/// A batch as stored and as fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub base: i64,
    /// The leader epoch the leader stamped on it.
    pub epoch: i32,
    /// Producer-assigned record ids, unique across the run.
    pub ids: Vec<u64>,
    pub kind: Kind,
}

impl Batch {
    pub fn end(&self) -> i64 {
        self.base + self.ids.len() as i64
    }
}

#[derive(Clone, Debug)]
struct Stored {
    batch: Batch,
    /// The chain over every record before this batch.
    chain_before: u64,
    /// The write counter when it was appended (what a flush covers).
    written: u64,
}

/// One step of the record-id hash chain (the checker uses it too).
pub fn chain(prev: u64, id: u64) -> u64 {
    let mut z = prev ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct Log {
    start: i64,
    batches: Vec<Stored>,
    /// (epoch, start offset), both strictly increasing.
    epochs: Vec<(i32, i64)>,
    durable_end: i64,
    pub hw: i64,
    writes: u64,
    /// Transactions and producers as the batches say.
    txn: TxnView,
}

impl Log {
    pub fn start(&self) -> i64 {
        self.start
    }

    pub fn end(&self) -> i64 {
        self.batches.last().map_or(self.start, |s| s.batch.end())
    }

    pub fn durable_end(&self) -> i64 {
        self.durable_end
    }

    pub fn is_durable(&self) -> bool {
        self.durable_end == self.end()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|e| e.0)
    }

    pub fn epochs(&self) -> &[(i32, i64)] {
        &self.epochs
    }

    /// A leader's append of plain records: stamps `epoch`, returns the
    /// batch's base offset.
    pub fn append(&mut self, epoch: i32, ids: Vec<u64>) -> i64 {
        self.append_kind(epoch, ids, Kind::Plain)
    }

    /// A leader's append of a batch of any kind.
    pub fn append_kind(&mut self, epoch: i32, ids: Vec<u64>, kind: Kind) -> i64 {
        assert!(!ids.is_empty(), "empty batch");
        assert_eq!(
            self.latest_epoch(),
            Some(epoch),
            "leader appends in its epoch"
        );
        let base = self.end();
        self.push(Batch {
            base,
            epoch,
            ids,
            kind,
        });
        base
    }

    /// A follower's append of a fetched batch, as it came. Offsets must be
    /// contiguous; the epoch cache learns the batch's epoch (Kafka's
    /// `maybeAssignEpochStartOffset`).
    pub fn append_fetched(&mut self, batch: &Batch) -> Result<(), String> {
        if batch.base != self.end() {
            return Err(format!(
                "fetched batch at {} appended at log end {} (gap or overlap)",
                batch.base,
                self.end()
            ));
        }
        if self.latest_epoch().is_none_or(|e| batch.epoch > e) {
            self.assign_epoch(batch.epoch, batch.base);
        }
        self.push(batch.clone());
        Ok(())
    }

    pub fn txn(&self) -> &TxnView {
        &self.txn
    }

    /// The transactional view, to prune (reads only move its caches).
    pub fn txn_mut(&mut self) -> &mut TxnView {
        &mut self.txn
    }

    /// Every batch, in offset order.
    pub fn batches(&self) -> impl Iterator<Item = &Batch> {
        self.batches.iter().map(|s| &s.batch)
    }

    fn push(&mut self, batch: Batch) {
        self.txn.record(&batch);
        let chain_before = self.chain_at_end();
        self.writes += 1;
        self.batches.push(Stored {
            batch,
            chain_before,
            written: self.writes,
        });
    }

    /// Kafka's `LeaderEpochFileCache.assign`: a no-op if the latest entry
    /// already is this epoch from no later offset; else entries with an
    /// epoch or start not below the new one go, and it is appended.
    pub fn assign_epoch(&mut self, epoch: i32, start: i64) {
        if self
            .epochs
            .last()
            .is_some_and(|&(e, s)| e == epoch && s <= start)
        {
            return;
        }
        self.epochs.retain(|&(e, s)| e < epoch && s < start);
        self.epochs.push((epoch, start));
    }

    /// Kafka's `endOffsetFor`; see the module doc.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, self.end()));
        }
        let higher = self.epochs.iter().find(|(e, _)| *e > epoch)?;
        match self.epochs.iter().rev().find(|(e, _)| *e <= epoch) {
            None => Some((epoch, higher.1)),
            Some(floor) => Some((floor.0, higher.1)),
        }
    }

    /// Removes every batch not wholly below `offset` (Kafka truncates at
    /// batch boundaries) and every epoch entry starting at or after it,
    /// even when `offset` is at or past the log end.
    pub fn truncate_to(&mut self, offset: i64) {
        let before = self.batches.len();
        self.batches.retain(|s| s.batch.end() <= offset);
        if self.batches.len() < before {
            self.txn = TxnView::replay(self.batches());
        }
        self.epochs.retain(|&(_, s)| s < offset);
        let end = self.end();
        self.durable_end = self.durable_end.min(end);
        self.hw = self.hw.min(end);
    }

    /// Empties the log, which now starts at `start`.
    pub fn restart(&mut self, start: i64) {
        self.batches.clear();
        self.epochs.clear();
        self.txn = TxnView::default();
        self.start = start;
        self.durable_end = start;
        self.hw = start;
    }

    /// The mark a flush starting now carries.
    pub fn flush_mark(&self) -> u64 {
        self.writes
    }

    /// A flush begun at `mark` completed: what was written before it is
    /// durable (batches truncated and rewritten since are not).
    pub fn flushed(&mut self, mark: u64) {
        let first = self
            .batches
            .partition_point(|s| s.batch.end() <= self.durable_end);
        for s in &self.batches[first..] {
            if s.written > mark {
                break;
            }
            self.durable_end = s.batch.end();
        }
    }

    /// A crash: only the durable prefix survives (and the epoch entries
    /// within it, as Kafka's recovery truncates the cache to the log end).
    pub fn crash(&mut self) {
        let durable = self.durable_end;
        self.truncate_to(durable);
        assert_eq!(self.end(), durable, "the durable end is a batch boundary");
    }

    /// Batches from `from` (the one holding it first) ending at or below
    /// `upto`, at most `max` of them.
    pub fn read(&self, from: i64, upto: i64, max: usize) -> Vec<Batch> {
        let first = self.batches.partition_point(|s| s.batch.end() <= from);
        self.batches[first..]
            .iter()
            .take_while(|s| s.batch.end() <= upto)
            .take(max)
            .map(|s| s.batch.clone())
            .collect()
    }

    /// The record id at `offset`.
    pub fn id_at(&self, offset: i64) -> Option<u64> {
        let i = self.batches.partition_point(|s| s.batch.end() <= offset);
        let s = self.batches.get(i)?;
        let k = usize::try_from(offset - s.batch.base).ok()?;
        s.batch.ids.get(k).copied()
    }

    /// The hash chain over records `[start, offset)`; None past the end.
    pub fn chain_at(&self, offset: i64) -> Option<u64> {
        if offset > self.end() || offset < self.start {
            return None;
        }
        let i = self.batches.partition_point(|s| s.batch.end() < offset);
        let Some(s) = self.batches.get(i) else {
            return Some(self.chain_at_end());
        };
        let within = usize::try_from(offset - s.batch.base).ok()?;
        let ids = s.batch.ids.iter().take(within);
        Some(ids.fold(s.chain_before, |h, id| chain(h, *id)))
    }

    fn chain_at_end(&self) -> u64 {
        self.batches.last().map_or(0, |s| {
            s.batch
                .ids
                .iter()
                .fold(s.chain_before, |h, id| chain(h, *id))
        })
    }

    /// Every (offset, id) in `[from, to)`, for failure reports.
    pub fn records(&self, from: i64, to: i64) -> Vec<(i64, u64)> {
        (from..to.min(self.end()))
            .filter_map(|o| self.id_at(o).map(|id| (o, id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(epochs: &[(i32, i64)], end: i64) -> Log {
        let mut log = Log::default();
        for (i, &(e, s)) in epochs.iter().enumerate() {
            log.assign_epoch(e, s);
            let next = epochs.get(i + 1).map_or(end, |n| n.1);
            if next > s {
                log.append(e, (s as u64..next as u64).collect());
            }
        }
        log
    }

    #[test]
    fn end_offset_for_epoch_follows_kafka() {
        let log = log_with(&[(1, 0), (3, 10), (5, 20)], 30);
        assert_eq!(log.end_offset_for_epoch(5), Some((5, 30)));
        assert_eq!(log.end_offset_for_epoch(3), Some((3, 20)));
        assert_eq!(log.end_offset_for_epoch(4), Some((3, 20)));
        assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
        assert_eq!(log.end_offset_for_epoch(6), None);
        assert_eq!(Log::default().end_offset_for_epoch(0), None);
    }

    #[test]
    fn truncation_drops_epochs_from_the_offset_on_even_at_the_end() {
        let mut log = log_with(&[(1, 0), (3, 10)], 10);
        assert_eq!(log.epochs(), &[(1, 0), (3, 10)]);
        log.truncate_to(10);
        assert_eq!(log.epochs(), &[(1, 0)]);
        assert_eq!(log.end(), 10);
    }

    #[test]
    fn a_flush_covers_only_what_was_written_before_it() {
        let mut log = log_with(&[(1, 0)], 5);
        let mark = log.flush_mark();
        log.append(1, vec![100, 101]);
        log.flushed(mark);
        assert_eq!(log.durable_end(), 5);
        log.crash();
        assert_eq!(log.end(), 5);
    }

    #[test]
    fn chains_agree_exactly_on_equal_prefixes() {
        let a = log_with(&[(1, 0)], 6);
        let mut b = Log::default();
        b.assign_epoch(1, 0);
        b.append(1, vec![0, 1, 2]);
        b.append(1, vec![3, 4, 99]);
        assert_eq!(a.chain_at(5), b.chain_at(5));
        assert_eq!(a.chain_at(4), b.chain_at(4));
        assert_ne!(a.chain_at(6), b.chain_at(6));
        assert_eq!(a.chain_at(7), None);
    }
}
