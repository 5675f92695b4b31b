//! A simulated log's transactional side: fjord's real per-partition
//! `TxnState` (open transactions, aborted list, last stable offset) and
//! `ProducerState` (producer epochs and sequences), fed one `BatchHeader`
//! per batch as `storage::log` feeds them. A marker's header and marker
//! come from the real control batch bytes (`encode_marker`, then
//! `BatchHeader::decode` and `control_marker`). Rebuilt by replaying the
//! batches after a truncation or crash, as fjord's log replays its segments.
//!
//! Owns: turning a simulated `Batch` into what those state machines take,
//! and the leader's checks before an append, in `State::plan`'s order.
//! Must not: decide anything they decide (LSO, aborted ranges, sequence
//! and epoch rules), or know about roles and the network.

use kafka_protocol::error::ResponseError;

use crate::storage::batch::BatchHeader;
use crate::storage::producer_state::{BatchMeta, ProducerState, SeqCheck, SeqError, Staged};
use crate::storage::records::encode_marker;
use crate::storage::txn_state::{control_marker, ControlMarker, Marker, TxnState};
use crate::storage::MarkerSpec;

use super::log::{Batch, Kind};

/// Kafka's batch attribute bit for transactional batches.
const TRANSACTIONAL: i16 = 1 << 4;

/// What the leader does with a batch offered for append.
#[derive(Debug, PartialEq)]
pub enum Admit {
    Append,
    /// A retry of a batch already in the log, at these offsets.
    Duplicate(BatchMeta),
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct TxnView {
    txns: TxnState,
    producers: ProducerState,
}

impl TxnView {
    /// The view of a log holding `batches`.
    pub fn replay<'a>(batches: impl Iterator<Item = &'a Batch>) -> TxnView {
        let mut view = TxnView::default();
        batches.for_each(|b| view.record(b));
        view
    }

    /// `b` was appended (by a leader, or fetched by a follower).
    pub fn record(&mut self, b: &Batch) {
        let Some((h, marker)) = header(b) else {
            return;
        };
        self.producers.replay(&h);
        self.txns.record(&h, b.base, b.end() - 1, marker);
    }

    /// The leader's checks of `b` (at the log end), as `State::plan`: a
    /// marker from an older coordinator epoch than this producer's last
    /// is fenced; then the producer's epoch and sequence rules.
    pub fn admit(&self, b: &Batch) -> Result<Admit, ResponseError> {
        let Some((h, marker)) = header(b) else {
            return Ok(Admit::Append);
        };
        if let Some(m) = marker {
            let last = self.txns.coordinator_epoch(h.producer_id);
            if last.is_some_and(|e| m.coordinator_epoch < e) {
                return Err(ResponseError::TransactionCoordinatorFenced);
            }
        }
        match self.producers.check(&Staged::default(), &h) {
            Ok(SeqCheck::Duplicate(meta)) => Ok(Admit::Duplicate(meta)),
            Ok(SeqCheck::Append | SeqCheck::Unchecked) => Ok(Admit::Append),
            Err(SeqError::InvalidProducerEpoch) => Err(ResponseError::InvalidProducerEpoch),
            Err(SeqError::OutOfOrderSequence) => Err(ResponseError::OutOfOrderSequenceNumber),
        }
    }

    /// The last stable offset at high watermark `hw`, as
    /// `PartitionLog::last_stable_offset` computes it.
    pub fn last_stable_offset(&mut self, hw: i64) -> i64 {
        self.txns.prune_stable(hw);
        self.txns.last_stable_offset(hw)
    }

    /// (producer id, first offset) of the aborted transactions a read of
    /// [`from`, `to`) overlaps.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.txns.aborted_between(from, to)
    }

    /// Whether the producer's transaction is open here at this epoch, as
    /// `PartitionLog::has_ongoing_transaction` (what spares a version 2
    /// produce the coordinator's add).
    pub fn has_ongoing_transaction(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.txns.is_open(producer_id) && self.producers.epoch(producer_id) == Some(producer_epoch)
    }

    pub fn open_transactions(&self) -> usize {
        self.txns.open_count()
    }
}

/// The header (and marker) fjord's log would see for `b`; None for batches
/// without a producer (plain records, coordinator records).
fn header(b: &Batch) -> Option<(BatchHeader, Option<ControlMarker>)> {
    match b.kind {
        Kind::Plain | Kind::State(_) => None,
        Kind::Txn {
            producer_id,
            producer_epoch,
            sequence,
        } => Some((data_header(b, producer_id, producer_epoch, sequence), None)),
        Kind::Marker {
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
        } => {
            assert_eq!(b.ids.len(), 1, "a marker is one control record");
            let spec = MarkerSpec {
                producer_id,
                producer_epoch,
                marker: if commit {
                    Marker::Commit
                } else {
                    Marker::Abort
                },
                coordinator_epoch,
            };
            let bytes = encode_marker(&spec, 0).expect("a marker encodes");
            let mut h = BatchHeader::decode(&bytes).expect("a marker decodes");
            h.base_offset = b.base;
            h.leader_epoch = b.epoch;
            let marker = control_marker(&h, &bytes);
            assert!(marker.is_some(), "fjord reads back the marker it wrote");
            Some((h, marker))
        }
    }
}

fn data_header(b: &Batch, producer_id: i64, producer_epoch: i16, sequence: i32) -> BatchHeader {
    let records = b.ids.len() as i32;
    BatchHeader {
        base_offset: b.base,
        batch_length: 0,
        leader_epoch: b.epoch,
        magic: 2,
        crc: 0,
        attributes: TRANSACTIONAL,
        last_offset_delta: records - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id,
        producer_epoch,
        base_sequence: sequence,
        record_count: records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, ids: Vec<u64>, kind: Kind) -> Batch {
        Batch {
            base,
            epoch: 1,
            ids,
            kind,
        }
    }

    fn txn(sequence: i32) -> Kind {
        Kind::Txn {
            producer_id: 7,
            producer_epoch: 0,
            sequence,
        }
    }

    fn marker(commit: bool, coordinator_epoch: i32) -> Kind {
        Kind::Marker {
            producer_id: 7,
            producer_epoch: 0,
            commit,
            coordinator_epoch,
        }
    }

    #[test]
    fn an_aborted_transaction_is_unstable_until_its_marker_is_committed() {
        let batches = [
            batch(0, vec![1, 2], txn(0)),
            batch(2, vec![3], marker(false, 4)),
        ];
        let mut view = TxnView::replay(batches.iter());
        assert_eq!(view.last_stable_offset(2), 0, "marker not below the hw");
        assert_eq!(view.last_stable_offset(3), 3);
        assert_eq!(view.aborted_between(0, 3), vec![(7, 0)]);
        assert_eq!(view.open_transactions(), 0);
    }

    #[test]
    fn the_leader_refuses_old_coordinators_and_spots_retries() {
        let first = batch(0, vec![1, 2], txn(0));
        let view = TxnView::replay([&first, &batch(2, vec![3], marker(true, 4))].into_iter());
        let stale = batch(3, vec![4], marker(false, 3));
        assert_eq!(
            view.admit(&stale),
            Err(ResponseError::TransactionCoordinatorFenced)
        );
        let retry = batch(3, vec![1, 2], txn(0));
        assert!(matches!(view.admit(&retry), Ok(Admit::Duplicate(m)) if m.base_offset == 0));
        assert_eq!(view.admit(&batch(3, vec![5], txn(2))), Ok(Admit::Append));
    }
}
