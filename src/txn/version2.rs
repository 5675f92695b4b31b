//! Transaction version 2 (KIP-890 part 2, Kafka 4.x): the requests whose
//! rules differ from version 1. EndTxn (v5+) bumps the producer epoch with
//! its Prepare record, so the markers close the transaction under an epoch
//! no earlier batch carries and every partition refuses the old epoch from
//! then on; a retried EndTxn is recognised by its epoch being one behind.
//! Partitions are added implicitly, by the partition leader on Produce v12+
//! and by the group coordinator on TxnOffsetCommit v5+.
//!
//! Must not: change version 1's behaviour (librdkafka and every client that
//! does not ask for version 2 keeps Kafka's version 1 rules).

use kafka_protocol::error::ResponseError as E;

use super::coordinator::{check_name, Op, Origin, TxnCoordinator};
use super::metadata::{is_epoch_exhausted, TopicPartition, TxnState, TxnVersion};
use super::types::{Fenced, Plan};

fn err(e: E) -> i16 {
    e.code()
}

impl TxnCoordinator {
    /// A partition leader (Produce v12+) or group coordinator
    /// (TxnOffsetCommit v5+) adding partitions for the producer, as
    /// AddPartitionsToTxn v5 without verifyOnly. The same checks as a
    /// client's add; the transaction is recorded as version 2.
    pub fn add_partitions_implicit(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<Plan, i16> {
        let producer = (producer_id, producer_epoch);
        let fenced = Fenced::ProducerFenced;
        let id = transactional_id;
        self.add_partitions_as(now_ms, id, producer, partitions, fenced, TxnVersion::V2)
    }

    /// EndTxn v5+. Kafka's table, by state and whether the request is a
    /// retry (its epoch one behind the bumped one, or the last epoch of a
    /// producer id rotated away from):
    ///
    /// | state          | abort retry | abort     | commit retry | commit    |
    /// |----------------|-------------|-----------|--------------|-----------|
    /// | Ongoing        | fenced      | bump      | fenced       | bump      |
    /// | Empty          | fenced      | bump      | fenced       | invalid   |
    /// | CompleteAbort  | done        | bump      | invalid      | invalid   |
    /// | CompleteCommit | invalid     | bump      | done         | invalid   |
    /// | Prepare*       | concurrent (same outcome) or invalid     |           |
    ///
    /// "bump" writes Prepare{Commit,Abort} at epoch + 1; an abort with no
    /// partitions completes at once. When the bump reaches `i16::MAX` a new
    /// producer id is needed: [`Plan::NeedProducerId`] as for
    /// InitProducerId, then call again with it.
    #[allow(clippy::too_many_arguments)]
    pub fn end_txn_v2(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        new_producer_id: Option<i64>,
        fenced: Fenced,
    ) -> Result<Plan, i16> {
        let id = transactional_id;
        check_name(id)?;
        let partition = self.led_partition(id)?;
        let meta = match self.txns.get(id) {
            Some(entry) => &entry.meta,
            None => return Err(err(E::InvalidProducerIdMapping)),
        };
        // Only a version 2 EndTxn's bump has retries; a fence's does not.
        let bumped = meta.version == TxnVersion::V2;
        let retry_on_overflow = bumped
            && meta.prev_producer_id == producer_id
            && is_epoch_exhausted(producer_epoch)
            && meta.producer_epoch == 0;
        let retry_on_bump = bumped && meta.producer_epoch == producer_epoch.wrapping_add(1);
        let current = meta.producer_epoch == producer_epoch;
        let valid_epoch = match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                retry_on_bump || retry_on_overflow || current
            }
            _ => current,
        };
        if meta.producer_id != producer_id && !retry_on_overflow {
            return Err(err(E::InvalidProducerIdMapping));
        }
        // i16::MAX is only ever a fencing epoch, never a producer's.
        if !valid_epoch || producer_epoch == i16::MAX {
            return Err(fenced.map(err(E::ProducerFenced)));
        }
        if meta.pending.is_some() {
            return Err(err(E::ConcurrentTransactions));
        }
        let retry = retry_on_bump || retry_on_overflow;
        let invalid = Err(err(E::InvalidTxnState));
        let no_partition_added = match (meta.state, commit) {
            (TxnState::Ongoing, _) => false,
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if retry => {
                return Ok(Plan::Done);
            }
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false)
                if !retry =>
            {
                true
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                return Err(err(E::ConcurrentTransactions));
            }
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => {
                debug_assert!(false, "{meta:?} in a state never entered");
                return Err(err(E::UnknownServerError));
            }
            _ => return invalid,
        };
        let next_producer_id = match (meta.is_producer_epoch_exhausted(), new_producer_id) {
            (false, _) => super::metadata::NO_PRODUCER_ID,
            (true, Some(fresh)) => fresh,
            (true, None) => return Ok(Plan::NeedProducerId),
        };
        let Some(entry) = self.txns.get_mut(id) else {
            return Err(err(E::UnknownServerError));
        };
        let transit =
            entry
                .meta
                .prepare_end_v2(commit, next_producer_id, now_ms, no_partition_added);
        let op = Op::End(Origin::ClientV2(fenced));
        Ok(Plan::Write(self.stage(id, partition, transit, op)))
    }
}

#[cfg(test)]
#[path = "version2_tests.rs"]
mod tests;
