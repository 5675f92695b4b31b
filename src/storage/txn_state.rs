//! The transactions of one partition as its log records them, the part of
//! Kafka's ProducerStateManager that read_committed consumers depend on:
//! which producers have a transaction open and from which offset, which
//! completed transactions were aborted (what a read_committed fetch
//! returns as its aborted-transaction list, Kafka's `.txnindex`), and from
//! those the last stable offset (LSO).
//!
//! A transaction opens at its producer's first transactional batch and
//! ends at the control batch (commit or abort marker) written for it. It
//! stays unstable until its marker is below the high watermark, so a
//! consumer never reads records whose outcome a failover could change.
//!
//! Owns: those rules, on batch headers and a marker's type. Must not:
//! touch files, or decide whether a batch may be appended (the log and the
//! transaction coordinator do). It is rebuilt at open by replaying the log,
//! as the producer state is.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::batch::{BatchHeader, HEADER_LEN};

/// What a control batch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Abort,
    Commit,
}

impl Marker {
    /// The control record key's type field (Kafka's ControlRecordType).
    pub fn code(self) -> i16 {
        match self {
            Marker::Abort => 0,
            Marker::Commit => 1,
        }
    }
}

/// A transaction marker as its control record says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlMarker {
    pub marker: Marker,
    /// The coordinator epoch that wrote it (the record's value).
    pub coordinator_epoch: i32,
}

/// The marker a control batch carries: the type in its first record's key
/// (version i16, type i16), the coordinator epoch in its value (version
/// i16, epoch i32). None for anything else (Kafka ignores control records
/// of unknown types).
pub fn control_marker(h: &BatchHeader, batch: &[u8]) -> Option<ControlMarker> {
    if !h.is_control() || h.compression() != 0 {
        return None;
    }
    let mut rest = batch.get(HEADER_LEN..h.total_len())?;
    let _length = varint(&mut rest)?;
    let _attributes = take(&mut rest, 1)?;
    let _timestamp_delta = varint(&mut rest)?;
    let _offset_delta = varint(&mut rest)?;
    let key_len = varint(&mut rest)?;
    if key_len < 4 {
        return None;
    }
    let key = take(&mut rest, key_len as usize)?;
    let marker = match i16::from_be_bytes([key[2], key[3]]) {
        0 => Marker::Abort,
        1 => Marker::Commit,
        _ => return None,
    };
    let value_len = varint(&mut rest)?;
    let coordinator_epoch = match value_len >= 6 {
        true => {
            let value = take(&mut rest, 6)?;
            i32::from_be_bytes([value[2], value[3], value[4], value[5]])
        }
        false => -1,
    };
    Some(ControlMarker {
        marker,
        coordinator_epoch,
    })
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Some(head)
}

/// A zigzag varint (records' framing).
fn varint(buf: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *take(buf, 1)?.first()?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

/// An aborted transaction: its producer, its first offset and its marker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Default, Clone)]
pub struct TxnState {
    /// Open transactions: producer id → first offset.
    open: HashMap<i64, i64>,
    /// (first offset, producer id) of the open transactions.
    open_firsts: BTreeSet<(i64, i64)>,
    /// Completed transactions whose marker may not be below the high
    /// watermark yet: marker offset → first offset. Pruned by
    /// [`TxnState::prune_stable`].
    unreplicated: BTreeMap<i64, i64>,
    /// Aborted transactions in marker order (so by `last_offset`).
    aborted: VecDeque<AbortedTxn>,
    /// The coordinator epoch of each producer's last marker: an older
    /// coordinator's marker is refused (a zombie coordinator).
    coordinator_epochs: HashMap<i64, i32>,
}

impl TxnState {
    /// Records a batch appended at [`base`, `last`]; `marker` is what a
    /// control batch says (see [`control_marker`]).
    pub fn record(&mut self, h: &BatchHeader, base: i64, last: i64, marker: Option<ControlMarker>) {
        if h.producer_id < 0 || !h.is_transactional() {
            return;
        }
        let pid = h.producer_id;
        if !h.is_control() {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.open.entry(pid) {
                slot.insert(base);
                self.open_firsts.insert((base, pid));
            }
            return;
        }
        let Some(ControlMarker {
            marker,
            coordinator_epoch,
        }) = marker
        else {
            return;
        };
        let seen = self
            .coordinator_epochs
            .entry(pid)
            .or_insert(coordinator_epoch);
        *seen = (*seen).max(coordinator_epoch);
        // A marker with nothing open (a partition added but never written,
        // a retried marker) completes an empty transaction at itself.
        let first = match self.open.remove(&pid) {
            Some(first) => {
                self.open_firsts.remove(&(first, pid));
                first
            }
            None => last,
        };
        self.unreplicated.insert(last, first);
        if marker == Marker::Abort {
            debug_assert!(self.aborted.back().is_none_or(|a| a.last_offset < last));
            self.aborted.push_back(AbortedTxn {
                producer_id: pid,
                first_offset: first,
                last_offset: last,
            });
        }
    }

    /// Forgets completed transactions whose marker is below `hw` (the high
    /// watermark, which only a truncation lowers, and that rebuilds this
    /// state): they are stable for good.
    pub fn prune_stable(&mut self, hw: i64) {
        while let Some(entry) = self.unreplicated.first_entry() {
            if *entry.key() >= hw {
                break;
            }
            entry.remove();
        }
    }

    /// The last stable offset at high watermark `hw`: the first offset of
    /// the earliest transaction that is open, or whose marker is not below
    /// `hw` yet; `hw` when there is none.
    pub fn last_stable_offset(&self, hw: i64) -> i64 {
        let open = self.open_firsts.first().map(|&(first, _)| first);
        let unreplicated = self.unreplicated.range(hw..).map(|(_, &first)| first).min();
        [open, unreplicated]
            .into_iter()
            .flatten()
            .fold(hw, i64::min)
    }

    /// The coordinator epoch of `producer_id`'s last marker here.
    pub fn coordinator_epoch(&self, producer_id: i64) -> Option<i32> {
        self.coordinator_epochs.get(&producer_id).copied()
    }

    /// The first offset of `producer_id`'s open transaction here.
    pub fn open_since(&self, producer_id: i64) -> Option<i64> {
        self.open.get(&producer_id).copied()
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.open.contains_key(&producer_id)
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// (producer id, first offset) of the aborted transactions a read of
    /// [`from`, `to`) overlaps, in marker order: what a read_committed
    /// fetch returns with those records.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted
            .range(start..)
            .filter(|a| a.first_offset < to)
            .map(|a| (a.producer_id, a.first_offset))
            .collect()
    }

    /// A copy of the aborted transactions' ranges by producer, for the
    /// cleaner.
    pub fn aborted_ranges(&self) -> AbortedRanges {
        let mut by_producer: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for a in &self.aborted {
            by_producer
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        AbortedRanges(by_producer)
    }

    /// The log now starts at `start`: aborted transactions wholly below it
    /// can no longer be read.
    pub fn forget_before(&mut self, start: i64) {
        while self.aborted.front().is_some_and(|a| a.last_offset < start) {
            self.aborted.pop_front();
        }
    }
}

/// Which offsets of which producers belong to aborted transactions.
#[derive(Debug, Default)]
pub struct AbortedRanges(HashMap<i64, Vec<(i64, i64)>>);

impl AbortedRanges {
    /// Whether `producer_id`'s batch at `offset` was aborted.
    pub fn contains(&self, producer_id: i64, offset: i64) -> bool {
        self.0
            .get(&producer_id)
            .is_some_and(|ranges| ranges.iter().any(|&(f, l)| f <= offset && offset <= l))
    }
}
