//! One transactional id as the coordinator keeps it (Kafka's
//! TransactionMetadata): the producer id and epoch handed out for it, its
//! transaction's state and partitions, and the transitions between states.
//!
//! A transition is two-phase, as on Kafka: `prepare_*` returns a
//! [`TxnTransit`] (the target, which is what goes into the log) and sets
//! `pending` so no second transition starts; `complete` applies the transit
//! once its record is written, `abort_pending` forgets it if the write fails.
//!
//! Must not: decide whether a request may make a transition (that is the
//! coordinator's job), touch the log, or read a clock.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError as E;

/// A partition in a transaction: topic and partition index.
pub type TopicPartition = (String, i32);

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A transaction's state, with Kafka's ids (the log's `TransactionStatus`)
/// and names (DescribeTransactions and ListTransactions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The byte stored in the log.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether an idle transactional id in this state may expire.
    pub fn expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    /// Kafka's table of the states each state may be entered from. Empty and
    /// Complete* before PrepareAbort are transaction version 2's abort of a
    /// transaction with no partitions (an epoch bump for the producer).
    pub fn valid_previous(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    pub fn can_follow(self, from: TxnState) -> bool {
        self.valid_previous().contains(&from)
    }
}

/// Which transaction protocol a transaction follows, as Kafka records it
/// (the log's ClientTransactionVersion: 0 for version 1, 2 for version 2).
/// Version 2 (KIP-890 part 2) bumps the producer epoch at every EndTxn,
/// so a late batch of a finished transaction can never join the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxnVersion {
    #[default]
    V1,
    V2,
}

impl TxnVersion {
    /// The value the log stores.
    pub fn log_value(self) -> i16 {
        match self {
            TxnVersion::V1 => 0,
            TxnVersion::V2 => 2,
        }
    }

    pub fn from_log(value: i16) -> TxnVersion {
        if value >= 2 {
            TxnVersion::V2
        } else {
            TxnVersion::V1
        }
    }
}

/// Epochs stop one short of `i16::MAX` so the coordinator can always fence
/// the current producer with one more bump.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The state of one transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last transition (Kafka's
    /// previousProducerId): lets a producer whose epoch ran out retry its
    /// InitProducerId after the id was rotated.
    pub prev_producer_id: i64,
    /// Transaction version 2: the producer id a Prepare record rotates to
    /// at completion because its epoch bump reached `i16::MAX`.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last InitProducerId bump, so a retried
    /// InitProducerId gets the same answer; not in the log.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// When the transaction's first partition was added; -1 when none is open.
    pub txn_start_ms: i64,
    pub last_update_ms: i64,
    /// The state a prepared transition leads to, until it completes or fails.
    pub pending: Option<TxnState>,
    /// A fencing bump reached memory but its record failed: the next fence
    /// reuses the epoch instead of bumping again (it was never handed out).
    pub has_failed_epoch_fence: bool,
    /// The protocol of the current (or last) transaction.
    pub version: TxnVersion,
}

/// The target of a prepared transition: what the log record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnTransit {
    pub producer_id: i64,
    pub prev_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    pub txn_start_ms: i64,
    pub last_update_ms: i64,
    pub version: TxnVersion,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: Empty, with no epoch yet,
    /// so the InitProducerId that created it bumps the epoch to 0.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            prev_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_ms: -1,
            last_update_ms: now_ms,
            pending: None,
            has_failed_epoch_fence: false,
            version: TxnVersion::V1,
        }
    }

    pub fn is_producer_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// A transit to `state` that keeps every current value (callers change
    /// what the transition changes), the current producer id becoming the
    /// previous one, as Kafka's prepareTransitionTo records it.
    fn target(&self, state: TxnState, last_update_ms: i64) -> TxnTransit {
        TxnTransit {
            producer_id: self.producer_id,
            prev_producer_id: self.producer_id,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            state,
            partitions: self.partitions.clone(),
            txn_start_ms: self.txn_start_ms,
            last_update_ms,
            version: self.version,
        }
    }

    fn prepare(&mut self, transit: TxnTransit) -> TxnTransit {
        debug_assert!(
            self.pending.is_none(),
            "{self:?} already has a pending transition"
        );
        debug_assert!(
            transit.producer_id >= 0,
            "illegal producer id in {transit:?}"
        );
        debug_assert!(
            transit.state == TxnState::Dead || transit.producer_epoch >= 0,
            "illegal epoch in {transit:?}"
        );
        debug_assert!(
            transit.state.can_follow(self.state),
            "{:?} cannot follow {:?}",
            transit.state,
            self.state
        );
        self.pending = Some(transit.state);
        transit
    }

    /// InitProducerId on an idle id: bump the epoch, unless `expected_epoch`
    /// shows a retry of the last bump (then answer the same epoch again).
    /// Err is PRODUCER_FENCED: the caller's epoch is neither.
    pub fn prepare_increment_epoch(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<TxnTransit, i16> {
        let fenced = E::ProducerFenced.code();
        let bump = || self.producer_epoch.checked_add(1).ok_or(fenced);
        let (epoch, last) = match expected_epoch {
            None => (bump()?, NO_PRODUCER_EPOCH),
            // Continuing after an error with no other producer initialized
            // since (or a brand-new id): bump and remember the old epoch.
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bump()?, self.producer_epoch)
            }
            // A retry of a bump whose answer was lost: a new producer's
            // InitProducerId would have reset the last epoch to -1.
            Some(e) if e == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Err(fenced),
        };
        // The caller rotates the producer id instead of bumping an exhausted epoch.
        debug_assert!(
            !self.is_producer_epoch_exhausted() || epoch == self.producer_epoch,
            "epoch bump past exhaustion on {self:?}"
        );
        let mut t = self.target(TxnState::Empty, now_ms);
        t.producer_epoch = epoch;
        t.last_producer_epoch = last;
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.txn_start_ms = -1;
        Ok(self.prepare(t))
    }

    /// InitProducerId when the epoch has run out: a new producer id at epoch 0.
    pub fn prepare_rotate_producer_id(
        &mut self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        record_last_epoch: bool,
    ) -> TxnTransit {
        debug_assert!(
            !matches!(
                self.state,
                TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
            ),
            "rotating the producer id of an open transaction: {self:?}"
        );
        let mut t = self.target(TxnState::Empty, now_ms);
        t.producer_id = new_producer_id;
        t.producer_epoch = 0;
        t.last_producer_epoch = if record_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.txn_start_ms = -1;
        self.prepare(t)
    }

    pub fn prepare_add_partitions(
        &mut self,
        added: &BTreeSet<TopicPartition>,
        now_ms: i64,
        version: TxnVersion,
    ) -> TxnTransit {
        let mut t = self.target(TxnState::Ongoing, now_ms);
        t.version = version;
        if matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) {
            t.txn_start_ms = now_ms;
        }
        t.partitions.extend(added.iter().cloned());
        self.prepare(t)
    }

    /// EndTxn on an Ongoing transaction (transaction version 1: no epoch bump).
    pub fn prepare_end(&mut self, commit: bool, now_ms: i64) -> TxnTransit {
        let state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let t = self.target(state, now_ms);
        self.prepare(t)
    }

    /// EndTxn under transaction version 2: the epoch is bumped with the
    /// Prepare record (the markers carry the new epoch), rotating to
    /// `next_producer_id` at completion when the bump reaches `i16::MAX`.
    /// An abort with no partitions (`no_partition_added`) starts now.
    pub fn prepare_end_v2(
        &mut self,
        commit: bool,
        next_producer_id: i64,
        now_ms: i64,
        no_partition_added: bool,
    ) -> TxnTransit {
        debug_assert!(self.producer_epoch < i16::MAX, "bump past MAX: {self:?}");
        debug_assert_eq!(
            next_producer_id != NO_PRODUCER_ID,
            self.is_producer_epoch_exhausted(),
            "a new producer id exactly when the epoch runs out: {self:?}"
        );
        let state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let mut t = self.target(state, now_ms);
        t.producer_epoch = self.producer_epoch + 1;
        t.last_producer_epoch = self.producer_epoch;
        t.next_producer_id = next_producer_id;
        t.version = TxnVersion::V2;
        if no_partition_added {
            t.txn_start_ms = now_ms;
        }
        self.prepare(t)
    }

    /// Fences the current producer and aborts its Ongoing transaction, as
    /// Kafka's prepareFenceProducerEpoch followed by an abort that is not
    /// from the client. The bumped epoch is applied at once, before the
    /// record is written, so the fenced producer is refused from now on;
    /// it is never handed to a client, so a failed write loses nothing.
    pub fn prepare_fence_and_abort(&mut self, now_ms: i64) -> TxnTransit {
        debug_assert_eq!(self.state, TxnState::Ongoing);
        // A failed fence left its unreturned bump in memory (possibly MAX,
        // from MAX - 1): that epoch is reused, not bumped again.
        debug_assert!(
            self.has_failed_epoch_fence || self.producer_epoch < i16::MAX,
            "fencing would overflow: {self:?}"
        );
        if !self.has_failed_epoch_fence {
            self.producer_epoch = self.producer_epoch.saturating_add(1);
        }
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
        // The bump is the fence's, not an EndTxn's: recorded as version 1,
        // so a version 2 EndTxn one epoch behind is not taken for its retry
        // (that would hand the fenced producer the fencing epoch).
        let mut t = self.target(TxnState::PrepareAbort, now_ms);
        t.version = TxnVersion::V1;
        self.prepare(t)
    }

    /// After the markers: Complete{Commit,Abort}, partitions cleared.
    pub fn prepare_complete(&mut self, now_ms: i64) -> TxnTransit {
        let state = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        // The Prepare record is in the log, so any fencing bump is durable.
        self.has_failed_epoch_fence = false;
        let mut t = self.target(state, now_ms);
        t.partitions.clear();
        if self.version == TxnVersion::V2 && self.next_producer_id != NO_PRODUCER_ID {
            // The bump reached MAX: the client sees MAX - 1 then the new id at 0.
            t.producer_id = self.next_producer_id;
            t.producer_epoch = 0;
        }
        self.prepare(t)
    }

    /// Expiration: the tombstone's transit (no record value is written).
    pub fn prepare_dead(&mut self) -> TxnTransit {
        let mut t = self.target(TxnState::Dead, self.last_update_ms);
        t.partitions.clear();
        self.prepare(t)
    }

    /// The prepared transition failed to reach the log.
    pub fn abort_pending(&mut self) {
        self.pending = None;
    }

    /// Applies `t` once its record is in the log. The checks are Kafka's
    /// completeTransitionTo; a failure is a coordinator bug, so they are
    /// debug assertions and the record (already durable) wins regardless.
    pub fn complete(&mut self, t: &TxnTransit) {
        debug_assert_eq!(self.pending, Some(t.state), "{self:?} completing {t:?}");
        let same_producer =
            t.producer_id == self.producer_id && t.producer_epoch == self.producer_epoch;
        // Transaction version 2 bumps with Prepare and may rotate with Complete.
        let v2_bump = t.version == TxnVersion::V2
            && t.producer_id == self.producer_id
            && t.last_producer_epoch == self.producer_epoch
            && t.producer_epoch == self.producer_epoch.wrapping_add(1);
        let v2_rotation = t.version == TxnVersion::V2
            && t.producer_epoch == 0
            && t.prev_producer_id == self.producer_id
            && t.producer_id == self.next_producer_id;
        match t.state {
            TxnState::Empty => {
                debug_assert!(
                    t.producer_epoch == self.producer_epoch
                        || t.producer_epoch == self.producer_epoch.wrapping_add(1)
                        || (t.producer_epoch == 0 && t.producer_id != self.producer_id),
                    "{self:?} to {t:?}"
                );
                debug_assert!(t.partitions.is_empty() && t.txn_start_ms == -1);
                self.timeout_ms = t.timeout_ms;
                self.producer_epoch = t.producer_epoch;
                self.last_producer_epoch = t.last_producer_epoch;
                self.producer_id = t.producer_id;
                self.prev_producer_id = t.prev_producer_id;
            }
            TxnState::Ongoing => {
                debug_assert!(same_producer && self.partitions.is_subset(&t.partitions));
                debug_assert_eq!(self.timeout_ms, t.timeout_ms);
                self.txn_start_ms = t.txn_start_ms;
                self.partitions.extend(t.partitions.iter().cloned());
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                debug_assert!(
                    (same_producer || v2_bump) && self.partitions == t.partitions,
                    "{self:?} to {t:?}"
                );
                debug_assert!(self.txn_start_ms == t.txn_start_ms || v2_bump);
                self.producer_epoch = t.producer_epoch;
                self.last_producer_epoch = t.last_producer_epoch;
                self.next_producer_id = t.next_producer_id;
                self.txn_start_ms = t.txn_start_ms;
            }
            TxnState::CompleteCommit | TxnState::CompleteAbort => {
                debug_assert!(
                    (same_producer || v2_rotation) && t.txn_start_ms != -1,
                    "{self:?} to {t:?}"
                );
                self.producer_id = t.producer_id;
                self.prev_producer_id = t.prev_producer_id;
                self.next_producer_id = NO_PRODUCER_ID;
                self.producer_epoch = t.producer_epoch;
                self.txn_start_ms = t.txn_start_ms;
                self.partitions.clear();
            }
            // Dead completes by removal; PrepareEpochFence is never prepared
            // on its own (the fence goes straight to PrepareAbort).
            TxnState::Dead | TxnState::PrepareEpochFence => {
                debug_assert!(false, "completing {t:?} on {self:?}");
            }
        }
        self.last_update_ms = t.last_update_ms;
        self.version = t.version;
        self.pending = None;
        self.state = t.state;
    }
}
