//! The transaction coordinator on its shard: `txn::TxnCoordinator` (the
//! sans-IO rules) driven with I/O. A transactional id lives in one
//! `__transaction_state` partition, coordinated by the shard leading it
//! (requests reach it over the mesh). This module loads a partition's
//! records when leadership arrives, appends each record the core asks for
//! (acks=all, `internal_log`), reports it back, and carries out what
//! follows: the reply, the markers (`txn_markers`), the Complete record.
//! A timer aborts transactions past their timeout.
//!
//! Must not: hold the coordinator's borrow across an await, or answer a
//! request before its record is below the high watermark.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use super::internal_log;
use super::messages::{ShardRequest, ShardResponse};
use super::txn_markers::{write_markers, MarkerRequest};
use super::{router, Shard};
use crate::txn::{
    Action, Fenced, Listing, Plan, Reply, TopicPartition, TxnCoordinator, TxnDescription, Write,
    TRANSACTION_STATE_TOPIC as TOPIC,
};
use crate::util::now_ms;

/// A shard's coordinator and the partitions it is still loading.
pub struct TxnHost {
    pub core: TxnCoordinator,
    /// Partitions being replayed, by load token.
    loading: HashMap<i32, u64>,
    load_seq: u64,
}

impl TxnHost {
    pub fn new(config: &crate::config::TransactionConfig) -> TxnHost {
        let mut core = TxnCoordinator::new(config.log_partitions);
        core.max_timeout_ms = config.max_timeout_ms;
        core.id_expiration_ms = config.id_expiration_ms;
        TxnHost {
            core,
            loading: HashMap::new(),
            load_seq: 0,
        }
    }
}

/// A request for the coordinator of one transactional id.
#[derive(Clone, Debug)]
pub enum TxnCall {
    InitProducerId {
        id: String,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fenced: Fenced,
    },
    AddPartitions {
        id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        fenced: Fenced,
    },
    /// Answered with the next transaction's producer id and epoch under
    /// transaction version 2 (`version2`, EndTxn v5+), else a code.
    EndTxn {
        id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        fenced: Fenced,
        version2: bool,
    },
    /// Transaction version 2: a partition leader (Produce v12+) or group
    /// coordinator (TxnOffsetCommit v5+) adds the producer's partitions.
    AddImplicit {
        id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
    },
    /// KIP-890: are these partitions in the producer's transaction?
    Verify {
        id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
    },
    Describe {
        id: String,
    },
    /// ListTransactions: this shard's part.
    List {
        states: Vec<String>,
        producer_ids: Vec<i64>,
    },
}

impl TxnCall {
    fn id(&self) -> Option<&str> {
        match self {
            TxnCall::InitProducerId { id, .. }
            | TxnCall::AddPartitions { id, .. }
            | TxnCall::EndTxn { id, .. }
            | TxnCall::AddImplicit { id, .. }
            | TxnCall::Verify { id, .. }
            | TxnCall::Describe { id } => Some(id),
            TxnCall::List { .. } => None,
        }
    }
}

#[derive(Debug)]
pub enum TxnAnswer {
    /// InitProducerId's (producer id, epoch) or its error; EndTxn's under
    /// transaction version 2.
    Producer(Result<(i64, i16), i16>),
    /// AddPartitionsToTxn, EndTxn: 0 or an error code.
    Code(i16),
    /// Verify: each partition's code, or one code for them all.
    Verified(Result<Vec<(TopicPartition, i16)>, i16>),
    Described(Result<TxnDescription, i16>),
    Listed(Listing),
}

/// Sends `call` to the shard coordinating its id (any shard for a list),
/// on this broker: NOT_COORDINATOR when another broker leads its partition.
pub async fn call(shard: &Rc<Shard>, call: TxnCall) -> TxnAnswer {
    let Some(id) = call.id() else {
        return handle(shard, call).await;
    };
    let partition = shard.txns.borrow().core.partition_for(id);
    let not_coordinator = || failed(&call, E::NotCoordinator.code());
    if shard.check_leader(TOPIC, partition).is_err() {
        return not_coordinator();
    }
    let owner = shard.owner_of(TOPIC, partition);
    if owner == shard.id {
        return handle(shard, call).await;
    }
    let request = ShardRequest::Txn(call.clone());
    match shard.mesh.send(owner, request).await.await {
        Ok(ShardResponse::Txn(answer)) => answer,
        _ => failed(&call, E::CoordinatorNotAvailable.code()),
    }
}

fn failed(call: &TxnCall, code: i16) -> TxnAnswer {
    match call {
        TxnCall::InitProducerId { .. } => TxnAnswer::Producer(Err(code)),
        TxnCall::EndTxn { version2: true, .. } => TxnAnswer::Producer(Err(code)),
        TxnCall::Describe { .. } => TxnAnswer::Described(Err(code)),
        TxnCall::Verify { .. } => TxnAnswer::Verified(Err(code)),
        TxnCall::List { .. } => TxnAnswer::Listed(Listing::default()),
        _ => TxnAnswer::Code(code),
    }
}

/// Runs `call` on this shard, the coordinator of its id.
pub async fn handle(shard: &Rc<Shard>, call: TxnCall) -> TxnAnswer {
    if let Some(id) = call.id() {
        let host = shard.txns.borrow();
        if host.loading.contains_key(&host.core.partition_for(id)) {
            return failed(&call, E::CoordinatorLoadInProgress.code());
        }
    }
    let now = now_ms();
    let plan = match &call {
        TxnCall::InitProducerId {
            id,
            timeout_ms,
            expected,
            fenced,
        } => {
            let (timeout_ms, expected, fenced) = (*timeout_ms, *expected, *fenced);
            with_producer_id(shard, |core, fresh| {
                core.init_producer_id(now_ms(), id, timeout_ms, expected, fresh, fenced)
            })
            .await
        }
        TxnCall::AddPartitions { .. } | TxnCall::AddImplicit { .. } => {
            add_plan_after_completion(shard, &call).await
        }
        TxnCall::EndTxn {
            id,
            producer_id,
            producer_epoch,
            commit,
            fenced,
            version2: false,
        } => shard.txns.borrow_mut().core.end_txn(
            now,
            id,
            *producer_id,
            *producer_epoch,
            *commit,
            *fenced,
        ),
        TxnCall::EndTxn {
            id,
            producer_id,
            producer_epoch,
            commit,
            fenced,
            version2: true,
        } => {
            let (pid, epoch, commit, fenced) = (*producer_id, *producer_epoch, *commit, *fenced);
            with_producer_id(shard, |core, fresh| {
                core.end_txn_v2(now_ms(), id, pid, epoch, commit, fresh, fenced)
            })
            .await
        }
        TxnCall::Verify {
            id,
            producer_id,
            producer_epoch,
            partitions,
        } => {
            let host = shard.txns.borrow();
            let verified = host.core.verify_partitions(
                id,
                *producer_id,
                *producer_epoch,
                partitions.iter().cloned(),
            );
            return TxnAnswer::Verified(verified);
        }
        TxnCall::Describe { id } => {
            return TxnAnswer::Described(shard.txns.borrow().core.describe(id))
        }
        TxnCall::List {
            states,
            producer_ids,
        } => return TxnAnswer::Listed(shard.txns.borrow().core.list(states, producer_ids)),
    };
    let write = match plan {
        Err(code) => return failed(&call, code),
        Ok(Plan::NeedProducerId) => return failed(&call, E::UnknownServerError.code()),
        Ok(Plan::Done) => return done(shard, &call),
        Ok(Plan::Write(write)) => write,
    };
    let token = write.token;
    let reply = execute(shard, write)
        .await
        .into_iter()
        .find_map(|(t, reply)| (t == token).then_some(reply));
    match reply {
        Some(Reply::Producer {
            producer_id,
            producer_epoch,
            error: 0,
        }) => TxnAnswer::Producer(Ok((producer_id, producer_epoch))),
        Some(Reply::Producer { error, .. }) => TxnAnswer::Producer(Err(error)),
        Some(Reply::Code(code)) => TxnAnswer::Code(code),
        None => failed(&call, E::UnknownServerError.code()),
    }
}

/// How long an add waits for the producer's previous transaction to
/// complete (its markers and Complete record, a few ms) before answering
/// CONCURRENT_TRANSACTIONS, and the first pause between tries.
const ADD_WAIT: Duration = Duration::from_millis(100);
const ADD_FIRST_PAUSE: Duration = Duration::from_millis(1);

/// The plan of an add (AddPartitionsToTxn, AddOffsetsToTxn, or implicit).
/// A producer starts its next transaction as soon as EndTxn answers, while
/// the coordinator still writes the last one's markers; the add waits here
/// for that (as Kafka 4 brokers retry implicit adds) rather than send the
/// client into its own backoff, which is tens of ms.
async fn add_plan_after_completion(shard: &Rc<Shard>, call: &TxnCall) -> Result<Plan, i16> {
    let (mut pause, mut waited) = (ADD_FIRST_PAUSE, Duration::ZERO);
    loop {
        let plan = add_plan(shard, call);
        if plan != Err(E::ConcurrentTransactions.code()) || waited >= ADD_WAIT {
            return plan;
        }
        glommio::timer::sleep(pause).await;
        waited += pause;
        pause = (pause * 2)
            .min(ADD_WAIT - waited.min(ADD_WAIT))
            .max(ADD_FIRST_PAUSE);
    }
}

fn add_plan(shard: &Shard, call: &TxnCall) -> Result<Plan, i16> {
    let now = now_ms();
    match call {
        TxnCall::AddPartitions {
            id,
            producer_id,
            producer_epoch,
            partitions,
            fenced,
        } => shard.txns.borrow_mut().core.add_partitions(
            now,
            id,
            *producer_id,
            *producer_epoch,
            partitions.iter().cloned(),
            *fenced,
        ),
        TxnCall::AddImplicit {
            id,
            producer_id,
            producer_epoch,
            partitions,
        } => shard.txns.borrow_mut().core.add_partitions_implicit(
            now,
            id,
            *producer_id,
            *producer_epoch,
            partitions.iter().cloned(),
        ),
        _ => Err(E::UnknownServerError.code()),
    }
}

/// The plan of InitProducerId or a version 2 EndTxn, with a producer id
/// from the controller when the core asks for one (a new transactional id,
/// or an exhausted epoch).
async fn with_producer_id(
    shard: &Rc<Shard>,
    mut plan_with: impl FnMut(&mut TxnCoordinator, Option<i64>) -> Result<Plan, i16>,
) -> Result<Plan, i16> {
    let mut fresh = None;
    loop {
        let plan = plan_with(&mut shard.txns.borrow_mut().core, fresh)?;
        if !matches!(plan, Plan::NeedProducerId) || fresh.is_some() {
            return Ok(plan);
        }
        fresh = match router::to_controller(shard, ShardRequest::AllocateProducerId).await {
            Some(ShardResponse::ProducerId(Ok(pid))) => Some(pid),
            _ => return Err(E::CoordinatorNotAvailable.code()),
        };
    }
}

/// The answer when nothing had to be written.
fn done(shard: &Shard, call: &TxnCall) -> TxnAnswer {
    match call {
        TxnCall::InitProducerId { id, .. }
        | TxnCall::EndTxn {
            id, version2: true, ..
        } => {
            let host = shard.txns.borrow();
            match host.core.metadata(id) {
                Some(m) => TxnAnswer::Producer(Ok((m.producer_id, m.producer_epoch))),
                None => TxnAnswer::Producer(Err(E::UnknownServerError.code())),
            }
        }
        _ => TxnAnswer::Code(0),
    }
}

/// Appends `write`, reports it, and carries out what follows; returns the
/// replies (by token) the outcome produced.
async fn execute(shard: &Rc<Shard>, write: Write) -> Vec<(crate::txn::Token, Reply)> {
    let token = write.token;
    let entries = vec![(write.key, write.value)];
    let outcome = internal_log::persist(
        shard,
        TOPIC,
        write.partition,
        Some(write.coordinator_epoch),
        entries,
    )
    .await;
    let actions = {
        let mut host = shard.txns.borrow_mut();
        match outcome {
            Ok(()) => host.core.write_completed(now_ms(), token),
            Err(e) => host.core.write_failed(token, e.code()),
        }
    };
    follow(shard, actions)
}

/// Starts what `actions` ask for; returns their replies.
fn follow(shard: &Rc<Shard>, actions: Vec<Action>) -> Vec<(crate::txn::Token, Reply)> {
    let mut replies = Vec::new();
    for action in actions {
        match action {
            Action::Reply { token, reply } => replies.push((token, reply)),
            Action::Append(write) => spawn_write(shard, write),
            Action::WriteMarkers {
                transactional_id,
                producer_id,
                producer_epoch,
                marker,
                coordinator_epoch,
                partitions,
            } => {
                let request = MarkerRequest {
                    producer_id,
                    producer_epoch,
                    commit: marker == crate::txn::Marker::Commit,
                    coordinator_epoch,
                    partitions,
                };
                spawn_markers(shard, transactional_id, request);
            }
        }
    }
    replies
}

fn spawn_write(shard: &Rc<Shard>, write: Write) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        execute(&shard, write).await;
    })
    .detach();
}

/// Writes a transaction's markers, then its Complete record; stops if this
/// shard stops leading the id's partition at that coordinator epoch (the
/// next coordinator resumes from the Prepare record).
fn spawn_markers(shard: &Rc<Shard>, id: String, request: MarkerRequest) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let (pid, epoch, coordinator_epoch) = (
            request.producer_id,
            request.producer_epoch,
            request.coordinator_epoch,
        );
        let partition = shard.txns.borrow().core.partition_for(&id);
        let leading =
            || internal_log::leader_epoch(&shard, TOPIC, partition) == Some(coordinator_epoch);
        if let Err(e) = write_markers(&shard, request, leading).await {
            tracing::warn!(transactional_id = id, "transaction markers: {e}");
            return;
        }
        let complete =
            shard
                .txns
                .borrow_mut()
                .core
                .markers_written(&id, pid, epoch, coordinator_epoch);
        if let Some(write) = complete {
            execute(&shard, write).await;
        }
    })
    .detach();
}

/// The `__transaction_state` partitions whose leadership this shard just
/// gained and lost (`shard::replication::reconcile`, no borrow held).
pub fn on_leadership(shard: &Rc<Shard>, gained: Vec<i32>, lost: Vec<i32>) {
    for p in lost {
        let mut host = shard.txns.borrow_mut();
        host.loading.remove(&p);
        let dropped = host.core.unload(p);
        tracing::info!(
            partition = p,
            transactions = dropped,
            "no longer transaction coordinator"
        );
    }
    for p in gained {
        let token = {
            let mut host = shard.txns.borrow_mut();
            host.core.unload(p);
            host.load_seq += 1;
            let token = host.load_seq;
            host.loading.insert(p, token);
            token
        };
        let shard = shard.clone();
        glommio::spawn_local(async move { load(&shard, p, token).await }).detach();
    }
}

/// Replays `partition` once everything in its log is committed, unless
/// leadership moved on meanwhile; then resumes unfinished completions.
async fn load(shard: &Rc<Shard>, partition: i32, token: u64) {
    let current = || shard.txns.borrow().loading.get(&partition) == Some(&token);
    if !internal_log::await_committed(shard, TOPIC, partition, current).await {
        return;
    }
    let records = internal_log::read_records(shard, TOPIC, partition).await;
    let Some(epoch) = internal_log::leader_epoch(shard, TOPIC, partition) else {
        return;
    };
    let actions = {
        let mut host = shard.txns.borrow_mut();
        if host.loading.get(&partition) != Some(&token) {
            return;
        }
        host.loading.remove(&partition);
        let loaded = host.core.load(now_ms(), partition, epoch, records);
        if loaded.skipped > 0 {
            tracing::warn!(
                partition,
                skipped = loaded.skipped,
                "unreadable transaction records"
            );
        }
        loaded.actions
    };
    tracing::info!(partition, "loaded transactions");
    follow(shard, actions);
}

/// Aborts transactions past their timeout and expires idle ids, every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
pub async fn run_timer(shard: Rc<Shard>) {
    let every = Duration::from_millis(shard.config.transactions.abort_check_ms);
    while !shard.stopping.get() {
        glommio::timer::sleep(every).await;
        let writes = shard.txns.borrow_mut().core.tick(now_ms());
        for write in writes {
            spawn_write(&shard, write);
        }
    }
}
