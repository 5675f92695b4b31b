//! An earlier life of the cluster, for the seeds that ask for one: the
//! `__transaction_state` partition starts with one record, on every
//! replica, that leaves a transactional id's producer epoch a few bumps
//! short of `i16::MAX` (its last transaction committed). Transaction
//! version 2 bumps the epoch at every EndTxn, so such a producer soon runs
//! out and the coordinator rotates its producer id: the path a real
//! cluster takes only after 32767 transactions.
//!
//! Must not: write anything but what fjord's coordinator itself writes (a
//! `TxnLogValue` through `records`), or touch a data partition.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::txn::records::{encode_key, encode_value, TxnLogValue};
use crate::txn::TxnState;

use super::log::{Batch, Kind, Log};

/// The producer id of the earlier life: far from the run's own ids.
pub const OLD_PRODUCER_ID: i64 = 1 << 40;

/// The record: `transactional_id` at `epoch`, its last transaction
/// committed under transaction version 2.
fn record(transactional_id: &str, epoch: i16) -> (Bytes, Option<Bytes>) {
    let value = TxnLogValue {
        producer_id: OLD_PRODUCER_ID,
        prev_producer_id: OLD_PRODUCER_ID,
        next_producer_id: -1,
        producer_epoch: epoch,
        timeout_ms: 60_000,
        state: TxnState::CompleteCommit,
        partitions: BTreeSet::new(),
        last_update_ms: 0,
        start_ms: 0,
        client_txn_version: 2,
    };
    // Value version 1 carries the transaction version, as the core writes it.
    (encode_key(transactional_id), Some(encode_value(&value, 1)))
}

/// Puts the record (as record id `id`) in `log`, durably, at offset 0 in
/// leader epoch 0, as if fetched from that earlier leader.
pub fn seed(log: &mut Log, transactional_id: &str, epoch: i16, id: u64) {
    assert_eq!(log.end(), 0, "the earlier life comes first");
    let batch = Batch {
        base: 0,
        epoch: 0,
        ids: vec![id],
        kind: Kind::State(vec![record(transactional_id, epoch)]),
    };
    log.append_fetched(&batch)
        .expect("an empty log takes offset 0");
    log.flushed(log.flush_mark());
}
