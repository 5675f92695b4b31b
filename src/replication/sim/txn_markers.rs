//! The coordinator's side of writing a transaction's markers, as
//! `shard::txn_markers` does: each data partition's marker goes to its
//! leader as the coordinator's image names it (a produce of one control
//! record, answered once committed), and is retried with fjord's backoff,
//! re-reading the leader, until every partition has it; fjord's own
//! `classify` says which answers are final. Then the core hears
//! `markers_written` and its Complete record is appended.
//!
//! Must not: report markers written before every partition answered
//! success, or outlive the coordinator that started it (a job lives in the
//! `Coordinator`, dropped with leadership; the next one resumes from the
//! Prepare record).

use std::collections::BTreeMap;

use crate::shard::txn_markers::{backoff, classify, Outcome};

use super::broker::Broker;
use super::log::Kind;
use super::net::{Msg, Node};
use super::txn_coordinator::Coordinator;
use super::world::Ctx;

/// How long an unanswered marker waits before it is sent again: beyond the
/// leader's own timeout for a produce waiting on replicas.
const MARKER_TIMEOUT_MS: i64 = 1_000;

/// One transaction's markers still to write.
pub struct MarkerJob {
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    /// Data partitions without their marker yet: the request out, if any,
    /// as (request id, sent at).
    pending: BTreeMap<i32, Option<(u64, i64)>>,
    retry_at: i64,
    attempt: u32,
}

impl MarkerJob {
    pub fn new(
        transactional_id: String,
        (producer_id, producer_epoch): (i64, i16),
        commit: bool,
        coordinator_epoch: i32,
        partitions: Vec<i32>,
    ) -> MarkerJob {
        MarkerJob {
            transactional_id,
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            pending: partitions.into_iter().map(|p| (p, None)).collect(),
            retry_at: 0,
            attempt: 0,
        }
    }

    fn kind(&self) -> Kind {
        Kind::Marker {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            commit: self.commit,
            coordinator_epoch: self.coordinator_epoch,
        }
    }
}

impl Broker {
    /// Sends the markers due: not out, or out too long.
    pub(super) fn tick_markers(&mut self, c: &mut Coordinator, ctx: &mut Ctx) {
        let (me, now) = (self.me(), ctx.now);
        for job in c.markers.iter_mut().filter(|j| now >= j.retry_at) {
            let kind = job.kind();
            for (&p, out) in job.pending.iter_mut() {
                if out.is_some_and(|(_, at)| now - at < MARKER_TIMEOUT_MS) {
                    continue;
                }
                let Some(leader) = self.leader_of(p) else {
                    continue; // no leader now: the next tick looks again
                };
                let id = ctx.next_id();
                *out = Some((id, ctx.now));
                let ids = vec![ctx.next_id()];
                let kind = kind.clone();
                let produce = Msg::Produce {
                    id,
                    partition: p,
                    ids,
                    kind,
                };
                ctx.send(me, Node::Broker(leader), produce);
            }
        }
    }

    /// A leader's answer to a marker: done, retried, or the job ends.
    pub(super) fn on_marker_reply(&mut self, id: u64, result: Result<i64, i16>, ctx: &mut Ctx) {
        let Some(mut c) = self.coordinator.take() else {
            return;
        };
        let found = c.markers.iter().enumerate().find_map(|(j, job)| {
            let p = job
                .pending
                .iter()
                .find(|(_, out)| out.is_some_and(|o| o.0 == id));
            p.map(|(p, _)| (j, *p))
        });
        if let Some((j, p)) = found {
            self.settle_marker(&mut c, j, p, result, ctx);
        }
        self.coordinator = Some(c);
    }

    fn settle_marker(
        &mut self,
        c: &mut Coordinator,
        j: usize,
        p: i32,
        result: Result<i64, i16>,
        ctx: &mut Ctx,
    ) {
        let job = &mut c.markers[j];
        let code = result.err().unwrap_or(0);
        match classify(code, true) {
            Outcome::Done => {
                job.pending.remove(&p);
            }
            Outcome::Retry => {
                ctx.stats.marker_retries += 1;
                job.pending.insert(p, None);
                let pause = backoff(job.attempt).as_millis() as i64;
                job.retry_at = ctx.now + pause;
                job.attempt += 1;
            }
            Outcome::Fenced => {
                ctx.trace(|| format!("markers of {} fenced: {code}", job.transactional_id));
                ctx.stats.markers_fenced += 1;
                c.markers.remove(j);
                return;
            }
        }
        if !c.markers[j].pending.is_empty() {
            return;
        }
        let job = c.markers.remove(j);
        ctx.trace(|| format!("markers of {} written", job.transactional_id));
        let complete = c.core.markers_written(
            &job.transactional_id,
            job.producer_id,
            job.producer_epoch,
            job.coordinator_epoch,
        );
        if let Some(write) = complete {
            self.append_state(c, write, ctx);
        }
    }
}
