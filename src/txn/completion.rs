//! The second phase of the coordinator's changes: a staged record is
//! appended by the caller and reported here, which applies it and says what
//! follows (the reply, the markers, the Complete record); plus the timer
//! work (`tick`) that aborts timed-out transactions and expires idle ids.
//!
//! Must not: apply a record whose write failed, or one staged before its
//! partition was unloaded (the reloaded state came from the log itself).

use kafka_protocol::error::ResponseError as E;

use super::coordinator::{log_value, Awaiting, InFlight, Led, Op, Origin, TxnCoordinator};
use super::metadata::{TxnState, TxnTransit, TxnVersion, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use super::records::{self, VALUE_VERSION};
use super::types::{coordinator_error, Action, Marker, Reply, Token, Write};

impl Op {
    /// The answer to whoever waits on this write, given `code`.
    fn reply(&self, code: i16) -> Option<Reply> {
        let init = |code| Reply::Producer {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            error: code,
        };
        match self {
            Op::Init(f) | Op::End(Origin::InitFence(f)) => Some(init(f.map(code))),
            Op::Add(f) | Op::End(Origin::Client(f)) => Some(Reply::Code(f.map(code))),
            Op::End(Origin::ClientV2(f)) => Some(init(f.map(code))),
            Op::End(Origin::Timeout) | Op::Complete | Op::Expire => None,
        }
    }
}

impl TxnCoordinator {
    /// Records `transit` as in flight for `id` and returns its record.
    pub(super) fn stage(&mut self, id: &str, partition: i32, transit: TxnTransit, op: Op) -> Write {
        debug_assert!(
            self.led.contains_key(&partition),
            "staging for unled {partition}"
        );
        // Generation 0 is never loaded: a write staged without a led
        // partition is answered NOT_COORDINATOR, never applied.
        let led = self.led.get(&partition).copied().unwrap_or(Led {
            coordinator_epoch: -1,
            generation: 0,
        });
        let token = Token(self.next_token);
        self.next_token += 1;
        let value = match op {
            Op::Expire => None,
            // Version 1 of the value carries the next producer id and the
            // transaction version, which a reload needs for version 2.
            _ => {
                let value_version = match transit.version {
                    TxnVersion::V1 => VALUE_VERSION,
                    TxnVersion::V2 => 1,
                };
                Some(records::encode_value(&log_value(&transit), value_version))
            }
        };
        self.writes.insert(
            token,
            InFlight {
                id: id.to_string(),
                partition,
                generation: led.generation,
                transit,
                op,
            },
        );
        Write {
            token,
            partition,
            coordinator_epoch: led.coordinator_epoch,
            key: records::encode_key(id),
            value,
        }
    }

    /// After a Prepare{Commit,Abort} record is in the log: prepares the
    /// Complete transition and asks for the markers (or, with no partitions
    /// to mark, for the Complete record straight away).
    pub(super) fn begin_completion(&mut self, id: &str, now_ms: i64) -> Option<Action> {
        let entry = self.txns.get_mut(id)?;
        let coordinator_epoch = self.led.get(&entry.partition)?.coordinator_epoch;
        let marker = match entry.meta.state {
            TxnState::PrepareCommit => Marker::Commit,
            TxnState::PrepareAbort => Marker::Abort,
            _ => {
                debug_assert!(false, "completing {:?}", entry.meta);
                return None;
            }
        };
        // The markers carry the epoch of the Prepare record (bumped under
        // transaction version 2), whatever the Complete record rotates to.
        let marked = (entry.meta.producer_id, entry.meta.producer_epoch);
        let complete = entry.meta.prepare_complete(now_ms);
        let partitions: Vec<_> = entry.meta.partitions.iter().cloned().collect();
        if partitions.is_empty() {
            let partition = entry.partition;
            return Some(Action::Append(self.stage(
                id,
                partition,
                complete,
                Op::Complete,
            )));
        }
        entry.awaiting = Some(Awaiting::Markers(complete, marked));
        Some(Action::WriteMarkers {
            transactional_id: id.to_string(),
            producer_id: marked.0,
            producer_epoch: marked.1,
            marker,
            coordinator_epoch,
            partitions,
        })
    }

    /// Whether `w` was staged under the current load of its partition.
    fn current(&self, w: &InFlight) -> bool {
        self.led
            .get(&w.partition)
            .is_some_and(|l| l.generation == w.generation)
            && self.txns.contains_key(&w.id)
    }

    /// The record of `token` is written and replicated: applies it and says
    /// what follows. An unknown (or already reported) token gives nothing.
    pub fn write_completed(&mut self, now_ms: i64, token: Token) -> Vec<Action> {
        let Some(w) = self.writes.remove(&token) else {
            return Vec::new();
        };
        let reply = |r: Option<Reply>| r.map(|reply| Action::Reply { token, reply });
        if !self.current(&w) {
            return reply(w.op.reply(E::NotCoordinator.code()))
                .into_iter()
                .collect();
        }
        let Some(entry) = self.txns.get_mut(&w.id) else {
            return Vec::new();
        };
        let meta = &mut entry.meta;
        match w.op {
            Op::Expire => {
                // Kafka re-checks this against racing threads; here the
                // pending Dead has refused every change since staging.
                debug_assert!(
                    meta.pending == Some(TxnState::Dead)
                        && meta.producer_epoch == w.transit.producer_epoch,
                    "{meta:?} changed under its tombstone"
                );
                self.txns.remove(&w.id);
                Vec::new()
            }
            Op::Complete => {
                meta.complete(&w.transit);
                Vec::new()
            }
            Op::Init(_) => {
                meta.complete(&w.transit);
                let answer = Reply::Producer {
                    producer_id: meta.producer_id,
                    producer_epoch: meta.producer_epoch,
                    error: 0,
                };
                reply(Some(answer)).into_iter().collect()
            }
            Op::Add(_) => {
                meta.complete(&w.transit);
                reply(Some(Reply::Code(0))).into_iter().collect()
            }
            Op::End(ref origin) => {
                meta.complete(&w.transit);
                let answer = match origin {
                    Origin::Client(_) => Some(Reply::Code(0)),
                    // The producer id and epoch the Complete record will hold.
                    Origin::ClientV2(_) => Some(Reply::Producer {
                        producer_id: match meta.next_producer_id {
                            NO_PRODUCER_ID => meta.producer_id,
                            next => next,
                        },
                        producer_epoch: match meta.next_producer_id {
                            NO_PRODUCER_ID => meta.producer_epoch,
                            _ => 0,
                        },
                        error: 0,
                    }),
                    // Aborted for a new producer: it retries to get its epoch.
                    Origin::InitFence(_) => w.op.reply(E::ConcurrentTransactions.code()),
                    Origin::Timeout => None,
                };
                let mut actions: Vec<Action> = reply(answer).into_iter().collect();
                actions.extend(self.begin_completion(&w.id, now_ms));
                actions
            }
        }
    }

    /// The record of `token` could not be appended; `append_error` is the
    /// log's error code, mapped for the client as Kafka maps it. The
    /// transition is forgotten, except a Complete record failing with
    /// COORDINATOR_NOT_AVAILABLE, which `tick` offers again; and a fencing
    /// bump, which stays in memory (see `TxnMetadata::has_failed_epoch_fence`).
    pub fn write_failed(&mut self, token: Token, append_error: i16) -> Vec<Action> {
        let Some(w) = self.writes.remove(&token) else {
            return Vec::new();
        };
        let error = coordinator_error(append_error);
        let reply =
            w.op.reply(error)
                .map(|reply| Action::Reply { token, reply });
        if self.current(&w) {
            if let Some(entry) = self.txns.get_mut(&w.id) {
                match w.op {
                    Op::Complete if error == E::CoordinatorNotAvailable.code() => {
                        entry.awaiting = Some(Awaiting::Append(w.transit));
                    }
                    Op::End(Origin::InitFence(_) | Origin::Timeout) => {
                        entry.meta.abort_pending();
                        entry.meta.has_failed_epoch_fence = true;
                    }
                    _ => entry.meta.abort_pending(),
                }
            }
        }
        reply.into_iter().collect()
    }

    /// Every marker of the transaction is written: returns its Complete
    /// record to append. None when the acknowledgement is stale (another
    /// producer epoch, a coordinator epoch no longer led, or no transaction
    /// waiting for markers).
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Option<Write> {
        let entry = self.txns.get_mut(transactional_id)?;
        let partition = entry.partition;
        if self.led.get(&partition)?.coordinator_epoch != coordinator_epoch {
            return None;
        }
        match entry.awaiting.take() {
            Some(Awaiting::Markers(t, marked)) if marked == (producer_id, producer_epoch) => {
                Some(self.stage(transactional_id, partition, t, Op::Complete))
            }
            other => {
                entry.awaiting = other;
                None
            }
        }
    }

    /// Timer work, as Kafka's periodic tasks (the caller picks the cadence):
    /// Ongoing transactions past their timeout are fenced and aborted;
    /// transactional ids idle in Empty or Complete* for `id_expiration_ms`
    /// get a tombstone; Complete records whose append failed retriably are
    /// offered again. Writes come in transactional id order.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Write> {
        let expired_before = now_ms.saturating_sub(self.id_expiration_ms);
        let mut ids: Vec<String> = self.txns.keys().cloned().collect();
        ids.sort();
        let mut writes = Vec::new();
        for id in ids {
            let Some(entry) = self.txns.get_mut(&id) else {
                continue;
            };
            let partition = entry.partition;
            let meta = &mut entry.meta;
            let (transit, op) = match entry.awaiting.take() {
                Some(Awaiting::Append(t)) => (t, Op::Complete),
                other => {
                    // Markers still out (or nothing awaited): put it back.
                    entry.awaiting = other;
                    if meta.pending.is_some() {
                        continue;
                    } else if meta.state == TxnState::Ongoing
                        && meta.txn_start_ms.saturating_add(meta.timeout_ms.into()) < now_ms
                    {
                        (
                            meta.prepare_fence_and_abort(now_ms),
                            Op::End(Origin::Timeout),
                        )
                    } else if meta.state.expiration_allowed()
                        && meta.last_update_ms <= expired_before
                    {
                        (meta.prepare_dead(), Op::Expire)
                    } else {
                        continue;
                    }
                }
            };
            writes.push(self.stage(&id, partition, transit, op));
        }
        writes
    }
}

#[cfg(test)]
#[path = "completion_tests.rs"]
mod tests;
