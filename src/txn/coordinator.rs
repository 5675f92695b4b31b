//! The transaction coordinator's request side (Kafka's
//! TransactionCoordinator and TransactionStateManager; version 2's EndTxn
//! and implicit adds are in `version2`): which `__transaction_state`
//! partitions this shard leads, the transactional ids in them, and the
//! rules InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions and
//! ListTransactions follow. A request is refused with a Kafka error code,
//! succeeds as it stands ([`Plan::Done`]), or asks for a record to be
//! written ([`Plan::Write`]); the second phase lives in `completion`.
//!
//! Must not: do I/O or read a clock (time comes in as `now_ms`), start a
//! transition while another is pending for the same id, or answer for a
//! transactional id whose partition it does not lead.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::error::ResponseError as E;

use super::metadata::{
    is_epoch_exhausted, TopicPartition, TxnMetadata, TxnState, TxnTransit, TxnVersion,
    NO_PRODUCER_EPOCH,
};
use super::records::{self, TxnLogValue};
use super::types::{Action, Fenced, Listed, Listing, Plan, Token, TxnDescription};
use super::{partition_for, OFFSETS_TOPIC};

/// Kafka's transaction.max.timeout.ms default (15 minutes).
pub const DEFAULT_MAX_TIMEOUT_MS: i32 = 900_000;
/// Kafka's transactional.id.expiration.ms default (7 days).
pub const DEFAULT_ID_EXPIRATION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The transactions of the `__transaction_state` partitions this shard leads.
pub struct TxnCoordinator {
    /// Longest transaction timeout InitProducerId accepts.
    pub max_timeout_ms: i32,
    /// How long an idle transactional id lives after its last update.
    pub id_expiration_ms: i64,
    /// `__transaction_state`'s partition count: places transactional ids.
    partition_count: i32,
    pub(super) led: HashMap<i32, Led>,
    pub(super) txns: HashMap<String, Entry>,
    pub(super) writes: HashMap<Token, InFlight>,
    pub(super) next_token: u64,
    next_generation: u64,
}

/// A led partition: the leader epoch it was loaded at, and which load this
/// is, so a write staged before an unload and reload is not applied after.
#[derive(Clone, Copy, Debug)]
pub(super) struct Led {
    pub coordinator_epoch: i32,
    pub generation: u64,
}

pub(super) struct Entry {
    pub meta: TxnMetadata,
    pub partition: i32,
    /// A prepared Complete transition still to be written.
    pub awaiting: Option<Awaiting>,
}

pub(super) enum Awaiting {
    /// Its markers, written with this producer id and epoch, are being
    /// written (`markers_written` stages the Complete transit).
    Markers(TxnTransit, (i64, i16)),
    /// Its append failed retriably (`tick` stages it again).
    Append(TxnTransit),
}

/// A staged write and what to do when it is reported.
pub(super) struct InFlight {
    pub id: String,
    pub partition: i32,
    pub generation: u64,
    pub transit: TxnTransit,
    pub op: Op,
}

pub(super) enum Op {
    Init(Fenced),
    Add(Fenced),
    /// A Prepare{Commit,Abort} record.
    End(Origin),
    /// A Complete{Commit,Abort} record: nobody waits for it.
    Complete,
    /// A tombstone.
    Expire,
}

/// Who ended a transaction, and so who hears when the Prepare record is in.
pub(super) enum Origin {
    Client(Fenced),
    /// EndTxn v5+ (transaction version 2): answered with the producer id
    /// and epoch the next transaction uses.
    ClientV2(Fenced),
    /// InitProducerId fencing an Ongoing transaction: answered
    /// CONCURRENT_TRANSACTIONS so the client retries once it is aborted.
    InitFence(Fenced),
    Timeout,
}

/// What `load` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Markers to resend (or Complete records to append) for transactions
    /// the log left in PrepareCommit or PrepareAbort.
    pub actions: Vec<Action>,
    /// Records that could not be decoded, or named a state Kafka never writes.
    pub skipped: usize,
}

fn err(e: E) -> i16 {
    e.code()
}

/// Transactional ids and topic names must fit the log's i16-length strings.
pub(super) fn check_name(name: &str) -> Result<(), i16> {
    if name.is_empty() || name.len() > i16::MAX as usize {
        Err(err(E::InvalidRequest))
    } else {
        Ok(())
    }
}

pub(super) fn log_value(t: &TxnTransit) -> TxnLogValue {
    TxnLogValue {
        producer_id: t.producer_id,
        prev_producer_id: t.prev_producer_id,
        next_producer_id: t.next_producer_id,
        producer_epoch: t.producer_epoch,
        timeout_ms: t.timeout_ms,
        state: t.state,
        partitions: t.partitions.clone(),
        last_update_ms: t.last_update_ms,
        start_ms: t.txn_start_ms,
        client_txn_version: t.version.log_value(),
    }
}

fn loaded_metadata(id: &str, v: TxnLogValue) -> TxnMetadata {
    TxnMetadata {
        transactional_id: id.to_string(),
        producer_id: v.producer_id,
        prev_producer_id: v.prev_producer_id,
        next_producer_id: v.next_producer_id,
        producer_epoch: v.producer_epoch,
        // Not in the log: a retried InitProducerId across a coordinator
        // move is refused, as on Kafka.
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: v.timeout_ms,
        state: v.state,
        partitions: v.partitions,
        txn_start_ms: v.start_ms,
        last_update_ms: v.last_update_ms,
        pending: None,
        has_failed_epoch_fence: false,
        version: TxnVersion::from_log(v.client_txn_version),
    }
}

impl TxnCoordinator {
    /// A coordinator leading nothing yet; `partition_count` is
    /// `__transaction_state`'s (Kafka's default is 50).
    pub fn new(partition_count: i32) -> Self {
        TxnCoordinator {
            max_timeout_ms: DEFAULT_MAX_TIMEOUT_MS,
            id_expiration_ms: DEFAULT_ID_EXPIRATION_MS,
            partition_count: partition_count.max(1),
            led: HashMap::new(),
            txns: HashMap::new(),
            writes: HashMap::new(),
            next_token: 0,
            next_generation: 1,
        }
    }

    /// The `__transaction_state` partition that holds `transactional_id`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.partition_count)
    }

    /// A transactional id's state, for inspection.
    pub fn metadata(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id).map(|e| &e.meta)
    }

    /// Starts leading `partition` at `coordinator_epoch` with its records in
    /// log order (key, value; a None value is a tombstone): the last value
    /// per key wins. Replaces whatever was loaded for it before. The caller
    /// answers COORDINATOR_LOAD_IN_PROGRESS while it reads the records.
    pub fn load<K, V>(
        &mut self,
        now_ms: i64,
        partition: i32,
        coordinator_epoch: i32,
        records: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Loaded
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.unload(partition);
        let mut skipped = 0;
        let mut latest: HashMap<String, TxnLogValue> = HashMap::new();
        for (key, value) in records {
            match records::decode(key.as_ref(), value.as_ref().map(AsRef::as_ref)) {
                Ok((id, None)) => {
                    latest.remove(&id);
                }
                // Kafka never writes these (Dead is a tombstone, the fence
                // goes straight to PrepareAbort): not a state to resume.
                Ok((_, Some(v)))
                    if matches!(v.state, TxnState::Dead | TxnState::PrepareEpochFence) =>
                {
                    skipped += 1;
                }
                Ok((id, Some(v))) => {
                    latest.insert(id, v);
                }
                Err(_) => skipped += 1,
            }
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.led.insert(
            partition,
            Led {
                coordinator_epoch,
                generation,
            },
        );
        let mut unfinished = Vec::new();
        for (id, v) in latest {
            if matches!(v.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                unfinished.push(id.clone());
            }
            let meta = loaded_metadata(&id, v);
            let entry = Entry {
                meta,
                partition,
                awaiting: None,
            };
            self.txns.insert(id, entry);
        }
        unfinished.sort();
        let actions = unfinished
            .iter()
            .filter_map(|id| self.begin_completion(id, now_ms))
            .collect();
        Loaded { actions, skipped }
    }

    /// Stops leading `partition`: its transactions are dropped. Writes in
    /// flight for them are answered NOT_COORDINATOR when reported.
    pub fn unload(&mut self, partition: i32) -> usize {
        self.led.remove(&partition);
        let before = self.txns.len();
        self.txns.retain(|_, e| e.partition != partition);
        before - self.txns.len()
    }

    pub(super) fn led_partition(&self, id: &str) -> Result<i32, i16> {
        let partition = self.partition_for(id);
        if self.led.contains_key(&partition) {
            Ok(partition)
        } else {
            Err(err(E::NotCoordinator))
        }
    }

    /// The entry a producer's request names, if the producer is current.
    fn producer_entry(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        fenced: Fenced,
    ) -> Result<&Entry, i16> {
        match self.txns.get(id) {
            Some(e) if e.meta.producer_id == producer_id => {
                if e.meta.producer_epoch == producer_epoch {
                    Ok(e)
                } else {
                    Err(fenced.map(err(E::ProducerFenced)))
                }
            }
            _ => Err(err(E::InvalidProducerIdMapping)),
        }
    }

    /// `producer_entry`, to change it.
    fn producer_entry_mut(
        &mut self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        fenced: Fenced,
    ) -> Result<&mut Entry, i16> {
        self.producer_entry(id, producer_id, producer_epoch, fenced)?;
        self.txns
            .get_mut(id)
            .ok_or(err(E::InvalidProducerIdMapping))
    }

    /// InitProducerId for a transactional id. When a fresh producer id is
    /// needed (a new transactional id, or an exhausted epoch) and
    /// `new_producer_id` is None, answers [`Plan::NeedProducerId`]: get one
    /// from the controller and call again with it (all checks run again; an
    /// id not needed by then is simply unused). `expected` is KIP-360's
    /// current producer id and epoch, sent by a producer recovering.
    pub fn init_producer_id(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        new_producer_id: Option<i64>,
        fenced: Fenced,
    ) -> Result<Plan, i16> {
        let id = transactional_id;
        check_name(id)?;
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return Err(err(E::InvalidTransactionTimeout));
        }
        let partition = self.led_partition(id)?;
        let mut fresh = new_producer_id;
        if !self.txns.contains_key(id) {
            // Created before its record is written, as on Kafka: a failed
            // write leaves it Empty with no epoch, and a retry reuses its id.
            let Some(producer_id) = fresh.take() else {
                return Ok(Plan::NeedProducerId);
            };
            let meta = TxnMetadata::new(id, producer_id, timeout_ms, now_ms);
            let entry = Entry {
                meta,
                partition,
                awaiting: None,
            };
            self.txns.insert(id.to_string(), entry);
        }
        let Some(entry) = self.txns.get_mut(id) else {
            return Err(err(E::UnknownServerError));
        };
        let meta = &mut entry.meta;
        if meta.pending.is_some() {
            return Err(err(E::ConcurrentTransactions));
        }
        if let Some((producer_id, epoch)) = expected {
            // A new id (no epoch yet), the current producer id, or the one
            // just rotated away from by a producer that exhausted its epochs.
            let valid = meta.producer_epoch == NO_PRODUCER_EPOCH
                || producer_id == meta.producer_id
                || (producer_id == meta.prev_producer_id && is_epoch_exhausted(epoch));
            if !valid {
                return Err(fenced.map(err(E::ProducerFenced)));
            }
        }
        let (transit, op) = match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(err(E::ConcurrentTransactions));
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = meta.is_producer_epoch_exhausted()
                    && expected.is_none_or(|(_, e)| e == meta.producer_epoch);
                let transit = if rotate {
                    let Some(producer_id) = fresh else {
                        return Ok(Plan::NeedProducerId);
                    };
                    meta.prepare_rotate_producer_id(
                        producer_id,
                        timeout_ms,
                        now_ms,
                        expected.is_some(),
                    )
                } else {
                    meta.prepare_increment_epoch(timeout_ms, expected.map(|(_, e)| e), now_ms)
                        .map_err(|code| fenced.map(code))?
                };
                (transit, Op::Init(fenced))
            }
            // Abort the open transaction first, under a bumped epoch that is
            // never returned; the client retries and bumps again (rotating
            // the producer id if the fence used up the epochs).
            TxnState::Ongoing => (
                meta.prepare_fence_and_abort(now_ms),
                Op::End(Origin::InitFence(fenced)),
            ),
            TxnState::Dead | TxnState::PrepareEpochFence => {
                debug_assert!(false, "{meta:?} in a state never entered");
                return Err(err(E::UnknownServerError));
            }
        };
        Ok(Plan::Write(self.stage(id, partition, transit, op)))
    }

    /// AddPartitionsToTxn (and, through `add_offsets`, AddOffsetsToTxn).
    /// The caller has checked the topics exist and may be written.
    pub fn add_partitions(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
        fenced: Fenced,
    ) -> Result<Plan, i16> {
        let producer = (producer_id, producer_epoch);
        let version = TxnVersion::V1;
        self.add_partitions_as(
            now_ms,
            transactional_id,
            producer,
            partitions,
            fenced,
            version,
        )
    }

    /// `add_partitions` recording the transaction's protocol version.
    pub(super) fn add_partitions_as(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        partitions: impl IntoIterator<Item = TopicPartition>,
        fenced: Fenced,
        version: TxnVersion,
    ) -> Result<Plan, i16> {
        let id = transactional_id;
        check_name(id)?;
        let partitions: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        for (topic, _) in &partitions {
            check_name(topic)?;
        }
        let partition = self.led_partition(id)?;
        let entry = self.producer_entry_mut(id, producer_id, producer_epoch, fenced)?;
        let meta = &mut entry.meta;
        if meta.pending.is_some()
            || matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return Err(err(E::ConcurrentTransactions));
        }
        if meta.state == TxnState::Ongoing && partitions.is_subset(&meta.partitions) {
            return Ok(Plan::Done);
        }
        let transit = meta.prepare_add_partitions(&partitions, now_ms, version);
        Ok(Plan::Write(self.stage(
            id,
            partition,
            transit,
            Op::Add(fenced),
        )))
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition.
    pub fn add_offsets(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: i32,
        fenced: Fenced,
    ) -> Result<Plan, i16> {
        let partition = (OFFSETS_TOPIC.to_string(), offsets_partition);
        self.add_partitions(
            now_ms,
            transactional_id,
            producer_id,
            producer_epoch,
            [partition],
            fenced,
        )
    }

    /// AddPartitionsToTxn's verifyOnly form (a broker checking a produce,
    /// KIP-890): each partition is NONE if in the transaction, else
    /// TRANSACTION_ABORTABLE. Reads only; pending transitions don't matter.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<Vec<(TopicPartition, i16)>, i16> {
        let id = transactional_id;
        check_name(id)?;
        self.led_partition(id)?;
        let entry = self.producer_entry(id, producer_id, producer_epoch, Fenced::ProducerFenced)?;
        if matches!(
            entry.meta.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort
        ) {
            return Err(err(E::ConcurrentTransactions));
        }
        Ok(partitions
            .into_iter()
            .map(|p| {
                let code = if entry.meta.partitions.contains(&p) {
                    0
                } else {
                    err(E::TransactionAbortable)
                };
                (p, code)
            })
            .collect())
    }

    /// EndTxn. Retrying the outcome that already completed succeeds; the
    /// other outcome is INVALID_TXN_STATE.
    pub fn end_txn(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        fenced: Fenced,
    ) -> Result<Plan, i16> {
        let id = transactional_id;
        check_name(id)?;
        let partition = self.led_partition(id)?;
        let entry = self.producer_entry_mut(id, producer_id, producer_epoch, fenced)?;
        let meta = &mut entry.meta;
        if meta.pending.is_some() {
            return Err(err(E::ConcurrentTransactions));
        }
        let transit = match (meta.state, commit) {
            (TxnState::Ongoing, _) => meta.prepare_end(commit, now_ms),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                return Ok(Plan::Done);
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                return Err(err(E::ConcurrentTransactions));
            }
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => {
                debug_assert!(false, "{meta:?} in a state never entered");
                return Err(err(E::UnknownServerError));
            }
            _ => return Err(err(E::InvalidTxnState)),
        };
        Ok(Plan::Write(self.stage(
            id,
            partition,
            transit,
            Op::End(Origin::Client(fenced)),
        )))
    }

    /// DescribeTransactions for one transactional id.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, i16> {
        let id = transactional_id;
        if id.is_empty() {
            return Err(err(E::InvalidRequest));
        }
        self.led_partition(id)?;
        match self.txns.get(id) {
            Some(e) if e.meta.state != TxnState::Dead => Ok(TxnDescription {
                transactional_id: id.to_string(),
                state: e.meta.state,
                producer_id: e.meta.producer_id,
                producer_epoch: e.meta.producer_epoch,
                timeout_ms: e.meta.timeout_ms,
                start_ms: e.meta.txn_start_ms,
                partitions: e.meta.partitions.clone(),
            }),
            _ => Err(err(E::TransactionalIdNotFound)),
        }
    }

    /// ListTransactions over every led partition, sorted by transactional
    /// id. Empty filters match everything; a state name Kafka doesn't know
    /// matches nothing and is reported back.
    pub fn list<S: AsRef<str>>(&self, states: &[S], producer_ids: &[i64]) -> Listing {
        let mut listing = Listing::default();
        let mut wanted = Vec::new();
        for name in states {
            match TxnState::from_name(name.as_ref()) {
                Some(s) => wanted.push(s),
                None => listing
                    .unknown_state_filters
                    .push(name.as_ref().to_string()),
            }
        }
        for e in self.txns.values() {
            let m = &e.meta;
            if m.state != TxnState::Dead
                && (producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                && (states.is_empty() || wanted.contains(&m.state))
            {
                listing.transactions.push(Listed {
                    transactional_id: m.transactional_id.clone(),
                    producer_id: m.producer_id,
                    state: m.state,
                });
            }
        }
        listing
            .transactions
            .sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        listing
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
