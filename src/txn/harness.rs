//! Test driver for the coordinator: plays the caller's part (appending
//! records to an in-memory log, supplying producer ids) so tests read like
//! a client's conversation. Test-only.

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

use super::coordinator::{Loaded, TxnCoordinator};
use super::metadata::{TopicPartition, TxnMetadata, TxnState};
use super::records::{self, TxnLogValue};
use super::types::{Action, Fenced, Marker, Plan, Reply, Write};

pub const T0: i64 = 1_700_000_000_000;
pub const EPOCH: i32 = 5;
pub const TIMEOUT: i32 = 60_000;
pub const NEW: Fenced = Fenced::ProducerFenced;

pub fn code(e: E) -> i16 {
    e.code()
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    (topic.to_string(), partition)
}

pub fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    list.iter().map(|(t, p)| tp(t, *p)).collect()
}

pub fn replies(actions: &[Action]) -> Vec<Reply> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

/// The WriteMarkers action's (producer id, epoch, marker, coordinator
/// epoch, partitions); panics if there is none.
pub fn markers(actions: &[Action]) -> (i64, i16, Marker, i32, Vec<TopicPartition>) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::WriteMarkers {
                producer_id,
                producer_epoch,
                marker,
                coordinator_epoch,
                partitions,
                ..
            } => Some((
                *producer_id,
                *producer_epoch,
                *marker,
                *coordinator_epoch,
                partitions.clone(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no markers in {actions:?}"))
}

pub fn written(plan: Result<Plan, i16>) -> Write {
    match plan {
        Ok(Plan::Write(w)) => w,
        other => panic!("expected a write, got {other:?}"),
    }
}

pub fn value_of(w: &Write) -> TxnLogValue {
    records::decode_value(w.value.as_ref().expect("a value, not a tombstone")).unwrap()
}

pub struct Harness {
    pub c: TxnCoordinator,
    /// Every record appended, in order: what a reload replays.
    pub log: Vec<(Bytes, Option<Bytes>)>,
    pub now: i64,
    pub next_pid: i64,
}

impl Harness {
    /// A coordinator with one `__transaction_state` partition, led at EPOCH.
    pub fn new() -> Self {
        let mut c = TxnCoordinator::new(1);
        let loaded = c.load(T0, 0, EPOCH, Vec::<(Bytes, Option<Bytes>)>::new());
        assert_eq!(loaded, Loaded::default());
        Harness {
            c,
            log: Vec::new(),
            now: T0,
            next_pid: 1000,
        }
    }

    /// Appends `w` to the log and reports it written.
    pub fn append(&mut self, w: Write) -> Vec<Action> {
        self.log.push((w.key.clone(), w.value.clone()));
        self.c.write_completed(self.now, w.token)
    }

    pub fn commit(&mut self, plan: Result<Plan, i16>) -> Vec<Action> {
        let w = written(plan);
        self.append(w)
    }

    /// InitProducerId as a client sends it, producer ids from a counter.
    pub fn init_plan(&mut self, id: &str, expected: Option<(i64, i16)>) -> Result<Plan, i16> {
        let plan = self
            .c
            .init_producer_id(self.now, id, TIMEOUT, expected, None, NEW);
        if plan != Ok(Plan::NeedProducerId) {
            return plan;
        }
        self.next_pid += 1;
        self.c
            .init_producer_id(self.now, id, TIMEOUT, expected, Some(self.next_pid), NEW)
    }

    /// A whole InitProducerId: Ok((producer id, epoch)) or its error.
    pub fn init_with(&mut self, id: &str, expected: Option<(i64, i16)>) -> Result<(i64, i16), i16> {
        let plan = self.init_plan(id, expected)?;
        let actions = self.commit(Ok(plan));
        match replies(&actions).as_slice() {
            [Reply::Producer {
                producer_id,
                producer_epoch,
                error: 0,
            }] => Ok((*producer_id, *producer_epoch)),
            [Reply::Producer { error, .. }] => Err(*error),
            other => panic!("unexpected replies {other:?}"),
        }
    }

    pub fn init(&mut self, id: &str) -> (i64, i16) {
        self.init_with(id, None).expect("InitProducerId")
    }

    pub fn add(&mut self, id: &str, p: (i64, i16), parts: &[(&str, i32)]) -> Result<Plan, i16> {
        self.c
            .add_partitions(self.now, id, p.0, p.1, tps(parts), NEW)
    }

    pub fn end(&mut self, id: &str, p: (i64, i16), commit: bool) -> Result<Plan, i16> {
        self.c.end_txn(self.now, id, p.0, p.1, commit, NEW)
    }

    /// Adds `parts` and lets the record be written.
    pub fn open(&mut self, id: &str, p: (i64, i16), parts: &[(&str, i32)]) {
        let plan = self.add(id, p, parts);
        let actions = self.commit(plan);
        assert_eq!(replies(&actions), vec![Reply::Code(0)]);
    }

    /// Ends the transaction and lets everything finish: the Prepare record,
    /// the markers, the Complete record.
    pub fn finish(&mut self, id: &str, p: (i64, i16), commit: bool) {
        let plan = self.end(id, p, commit);
        let actions = self.commit(plan);
        assert_eq!(replies(&actions), vec![Reply::Code(0)]);
        let (pid, epoch, _, coordinator_epoch, _) = markers(&actions);
        let w = self
            .c
            .markers_written(id, pid, epoch, coordinator_epoch)
            .expect("the Complete record");
        assert_eq!(self.append(w), vec![]);
    }

    pub fn meta(&self, id: &str) -> TxnMetadata {
        self.c.metadata(id).cloned().expect("a transactional id")
    }

    pub fn state(&self, id: &str) -> TxnState {
        self.meta(id).state
    }
}
