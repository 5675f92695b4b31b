//! What the transaction coordinator's core takes and gives: the plan a
//! request leads to, the records to append, the actions that follow a
//! write, and the plain data DescribeTransactions and ListTransactions
//! answer with.
//!
//! Must not: hold state or logic beyond mapping error codes as Kafka's
//! request handlers do.

use std::collections::BTreeSet;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::ApiKey;

use super::metadata::{TopicPartition, TxnState};

/// Names one accepted change between its record's append and
/// `write_completed` / `write_failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(super) u64);

/// A record to append to `__transaction_state` (acks=all, as Kafka does),
/// then report with the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub token: Token,
    /// The `__transaction_state` partition.
    pub partition: i32,
    /// The leader epoch the coordinator loaded the partition at: append only
    /// while still leading at it.
    pub coordinator_epoch: i32,
    pub key: Bytes,
    /// None: a tombstone (the transactional id expired).
    pub value: Option<Bytes>,
}

/// What an accepted request needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to write: the request has succeeded as things stand.
    Done,
    /// Append this record; the answer comes from `write_completed` or
    /// `write_failed`.
    Write(Write),
    /// InitProducerId only: get a producer id from the controller and call
    /// again with it.
    NeedProducerId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Commit,
    Abort,
}

/// An answer to a request whose record was written (or failed to be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// InitProducerId, and EndTxn under transaction version 2 (the epoch
    /// the next transaction uses).
    Producer {
        producer_id: i64,
        producer_epoch: i16,
        error: i16,
    },
    /// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn: an error code alone
    /// (0 for success).
    Code(i16),
}

/// What the caller does after a write completes or fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer the request whose write carried `token`.
    Reply { token: Token, reply: Reply },
    /// Append this record too: a Complete record needing no markers.
    Append(Write),
    /// Write the transaction's markers to its partitions' leaders, then call
    /// `markers_written` with these identifiers.
    WriteMarkers {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        marker: Marker,
        coordinator_epoch: i32,
        partitions: Vec<TopicPartition>,
    },
}

/// Which code a request's version has for a fenced producer. KIP-588 added
/// PRODUCER_FENCED; older requests get INVALID_PRODUCER_EPOCH, which their
/// clients handle the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fenced {
    ProducerFenced,
    InvalidProducerEpoch,
}

impl Fenced {
    /// As Kafka's handlers choose: InitProducerId before v4,
    /// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn before v2.
    pub fn for_request(api: ApiKey, version: i16) -> Fenced {
        let first = match api {
            ApiKey::InitProducerId => 4,
            ApiKey::AddPartitionsToTxn | ApiKey::AddOffsetsToTxn | ApiKey::EndTxn => 2,
            _ => 0,
        };
        if version < first {
            Fenced::InvalidProducerEpoch
        } else {
            Fenced::ProducerFenced
        }
    }

    /// `code`, with PRODUCER_FENCED renamed for an old request.
    pub fn map(self, code: i16) -> i16 {
        if self == Fenced::InvalidProducerEpoch && code == E::ProducerFenced.code() {
            E::InvalidProducerEpoch.code()
        } else {
            code
        }
    }
}

/// The coordinator's error for a failed `__transaction_state` append, as
/// Kafka's TransactionStateManager maps the log's errors for clients.
pub fn coordinator_error(append_error: i16) -> i16 {
    let c = |e: E| e.code();
    match append_error {
        x if x == c(E::UnknownTopicOrPartition)
            || x == c(E::NotEnoughReplicas)
            || x == c(E::NotEnoughReplicasAfterAppend)
            || x == c(E::RequestTimedOut) =>
        {
            c(E::CoordinatorNotAvailable)
        }
        x if x == c(E::NotLeaderOrFollower) || x == c(E::KafkaStorageError) => c(E::NotCoordinator),
        x if x == c(E::MessageTooLarge) || x == c(E::RecordListTooLarge) => {
            c(E::UnknownServerError)
        }
        other => other,
    }
}

/// A coordinator's refusal that passes by itself: it is moving or
/// loading, or still completing the producer's previous transaction. A
/// partition leader or group coordinator asking on a producer's behalf
/// turns it into an error the producer retries.
pub fn is_transient(code: i16) -> bool {
    let transient = [
        E::NotCoordinator,
        E::CoordinatorNotAvailable,
        E::CoordinatorLoadInProgress,
        E::ConcurrentTransactions,
    ];
    transient.iter().any(|e| e.code() == code)
}

/// DescribeTransactions' answer for one transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub partitions: BTreeSet<TopicPartition>,
}

/// One row of ListTransactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// ListTransactions' answer: the matching transactions, and the state
/// filters that name no state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub transactions: Vec<Listed>,
    pub unknown_state_filters: Vec<String>,
}
