//! Idempotent-producer state of one partition, as Kafka keeps it: per
//! producer id the current epoch and the metadata of its last 5 batches.
//!
//! Owns: the sequence/epoch rules (duplicate, out of order, fenced epoch).
//! Must not: touch files or bytes; it sees batch headers only. It is rebuilt
//! at open by replaying every batch header in the log (no snapshots yet).

use std::collections::{HashMap, VecDeque};

use super::batch::BatchHeader;

/// Batches remembered per producer (Kafka's max.in.flight limit for
/// idempotence is 5, so a retry is always among the last 5).
pub const CACHED_BATCHES: usize = 5;

/// What the log remembers about one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp (DescribeProducers' last timestamp).
    pub max_timestamp: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// Outcome of checking one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Not idempotent (no producer id) or a control batch: no checks.
    Unchecked,
    /// Append it.
    Append,
    /// A retry of a batch already in the log.
    Duplicate(BatchMeta),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    #[error("producer epoch is older than the current one")]
    InvalidProducerEpoch,
    #[error("out of order sequence number")]
    OutOfOrderSequence,
}

#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

/// Changes from one append, applied only if the whole append succeeds.
#[derive(Debug, Default)]
pub struct Staged {
    entries: HashMap<i64, ProducerEntry>,
}

/// Idempotence applies to batches with a producer id and a sequence. The
/// broker's own transactional batches (TxnOffsetCommit's offsets) carry
/// the producer id and no sequence.
fn is_checked(h: &BatchHeader) -> bool {
    h.producer_id >= 0 && !h.is_control() && h.base_sequence >= 0
}

fn check_entry(entry: Option<&ProducerEntry>, h: &BatchHeader) -> Result<SeqCheck, SeqError> {
    let Some(entry) = entry else {
        // Unknown producer: accept any sequence (Kafka does after the log
        // start moved past the producer's batches).
        return Ok(SeqCheck::Append);
    };
    let (first, last) = (h.base_sequence, h.last_sequence());
    if h.producer_epoch < entry.epoch {
        return Err(SeqError::InvalidProducerEpoch);
    }
    if h.producer_epoch > entry.epoch {
        return if first == 0 {
            Ok(SeqCheck::Append)
        } else {
            Err(SeqError::OutOfOrderSequence)
        };
    }
    if let Some(dup) = entry
        .batches
        .iter()
        .find(|b| b.first_seq == first && b.last_seq == last)
    {
        return Ok(SeqCheck::Duplicate(*dup));
    }
    match entry.batches.back() {
        Some(prev) if super::batch::wrapping_seq_add(prev.last_seq, 1) != first => {
            Err(SeqError::OutOfOrderSequence)
        }
        _ => Ok(SeqCheck::Append),
    }
}

fn record_entry(entry: &mut ProducerEntry, h: &BatchHeader, base_offset: i64, last_offset: i64) {
    if h.producer_epoch != entry.epoch {
        entry.epoch = h.producer_epoch;
        entry.batches.clear();
    }
    if h.is_control() {
        return; // control batches carry no sequence
    }
    if entry.batches.len() == CACHED_BATCHES {
        entry.batches.pop_front();
    }
    entry.batches.push_back(BatchMeta {
        first_seq: h.base_sequence,
        last_seq: h.last_sequence(),
        base_offset,
        last_offset,
        max_timestamp: h.max_timestamp,
    });
}

impl ProducerState {
    pub fn new() -> ProducerState {
        ProducerState::default()
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Each producer: id, epoch, and its last batch (None after a marker
    /// of a new epoch, before any batch).
    pub fn producers(&self) -> impl Iterator<Item = (i64, i16, Option<&BatchMeta>)> {
        self.producers
            .iter()
            .map(|(pid, e)| (*pid, e.epoch, e.batches.back()))
    }

    /// The producer's current epoch, if it has state here.
    pub fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Checks `h` against the state plus what `staged` holds from earlier
    /// batches of the same append.
    pub fn check(&self, staged: &Staged, h: &BatchHeader) -> Result<SeqCheck, SeqError> {
        let entry = staged
            .entries
            .get(&h.producer_id)
            .or_else(|| self.producers.get(&h.producer_id));
        if h.is_control() && h.producer_id >= 0 {
            // A transaction marker: no sequence, but a marker of an older
            // epoch than the producer's is a zombie coordinator's.
            return match entry.is_some_and(|e| h.producer_epoch < e.epoch) {
                true => Err(SeqError::InvalidProducerEpoch),
                false => Ok(SeqCheck::Unchecked),
            };
        }
        if !is_checked(h) {
            return Ok(SeqCheck::Unchecked);
        }
        check_entry(entry, h)
    }

    /// Stages an accepted batch at its assigned offsets.
    pub fn stage(&self, staged: &mut Staged, h: &BatchHeader, base_offset: i64, last_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let entry = staged.entries.entry(h.producer_id).or_insert_with(|| {
            self.producers
                .get(&h.producer_id)
                .cloned()
                .unwrap_or_default()
        });
        record_entry(entry, h, base_offset, last_offset);
    }

    /// Applies a successful append.
    pub fn commit(&mut self, staged: Staged) {
        self.producers.extend(staged.entries);
    }

    /// Replays a batch found in the log at open. No checks: what is in the
    /// log was accepted when it was written.
    pub fn replay(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        record_entry(entry, h, h.base_offset, h.last_offset());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{testing, BatchHeader};

    fn header(pid: i64, epoch: i16, seq: i32, records: i32) -> BatchHeader {
        let b = testing::batch(testing::Spec {
            records,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            ..Default::default()
        });
        BatchHeader::decode(&b).unwrap()
    }

    fn append(s: &mut ProducerState, h: &BatchHeader, base: i64) -> Result<SeqCheck, SeqError> {
        let mut staged = Staged::default();
        let r = s.check(&staged, h)?;
        if r == SeqCheck::Append {
            s.stage(&mut staged, h, base, base + i64::from(h.last_offset_delta));
            s.commit(staged);
        }
        Ok(r)
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerState::new();
        assert_eq!(
            append(&mut s, &header(-1, -1, -1, 1), 0),
            Ok(SeqCheck::Unchecked)
        );
        assert_eq!(append(&mut s, &header(7, 0, 0, 2), 1), Ok(SeqCheck::Append));
        assert_eq!(append(&mut s, &header(7, 0, 2, 1), 3), Ok(SeqCheck::Append));
        // Retry of the first batch: duplicate with its original offsets.
        let dup = append(&mut s, &header(7, 0, 0, 2), 9).unwrap();
        assert!(matches!(dup, SeqCheck::Duplicate(m) if m.base_offset == 1 && m.last_offset == 2));
        assert_eq!(
            append(&mut s, &header(7, 0, 5, 1), 4),
            Err(SeqError::OutOfOrderSequence)
        );
        assert_eq!(
            append(&mut s, &header(7, 1, 3, 1), 4),
            Err(SeqError::OutOfOrderSequence)
        );
        assert_eq!(append(&mut s, &header(7, 1, 0, 1), 4), Ok(SeqCheck::Append));
        assert_eq!(
            append(&mut s, &header(7, 0, 1, 1), 5),
            Err(SeqError::InvalidProducerEpoch)
        );
        // Unknown producer with a non-zero sequence is accepted.
        assert_eq!(
            append(&mut s, &header(8, 0, 42, 1), 5),
            Ok(SeqCheck::Append)
        );
    }

    #[test]
    fn only_last_five_are_duplicates() {
        let mut s = ProducerState::new();
        for i in 0..7 {
            append(&mut s, &header(1, 0, i, 1), i64::from(i)).unwrap();
        }
        assert_eq!(
            append(&mut s, &header(1, 0, 1, 1), 7),
            Err(SeqError::OutOfOrderSequence)
        );
        assert!(matches!(
            append(&mut s, &header(1, 0, 2, 1), 7),
            Ok(SeqCheck::Duplicate(_))
        ));
    }

    #[test]
    fn sequence_wraps_at_max() {
        let mut s = ProducerState::new();
        append(&mut s, &header(1, 0, i32::MAX - 1, 2), 0).unwrap();
        assert_eq!(append(&mut s, &header(1, 0, 0, 1), 2), Ok(SeqCheck::Append));
    }

    #[test]
    fn staged_batches_are_seen_within_an_append() {
        let s = ProducerState::new();
        let mut staged = Staged::default();
        let a = header(3, 0, 0, 1);
        let b = header(3, 0, 1, 1);
        let c = header(3, 0, 5, 1);
        assert_eq!(s.check(&staged, &a), Ok(SeqCheck::Append));
        s.stage(&mut staged, &a, 0, 0);
        assert_eq!(s.check(&staged, &b), Ok(SeqCheck::Append));
        s.stage(&mut staged, &b, 1, 1);
        assert_eq!(s.check(&staged, &c), Err(SeqError::OutOfOrderSequence));
        // Nothing committed: the state is untouched.
        assert_eq!(s.producer_count(), 0);
    }
}
