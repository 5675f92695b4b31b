//! The replication half of a simulated broker: as a follower, its fetch
//! sessions (plan, send, apply the `Step`s, flush, and fetch again only
//! once durable, so the offset a leader sees is durable); as a leader,
//! serving fetches (epoch checks, the KIP-320 divergence check, durable
//! data only) and feeding `LeaderState::on_fetch`.
//!
//! Must not: append a fetched batch anywhere but at the log end, or send
//! a fetch while a followed partition holds data not yet durable.

use kafka_protocol::error::ResponseError;

use crate::replication::divergence::diverging;
use crate::replication::follower::{FetchPlan, LocalLog, Reply, Step};

use super::broker::{Broker, Role, Waiting};
use super::log::Batch;
use super::net::{Msg, Node};
use super::world::Ctx;

impl Broker {
    /// Times out lost fetches and sends those due.
    pub(super) fn tick_sessions(&mut self, ctx: &mut Ctx) {
        let timeout = self.cfg.request_timeout_ms;
        let leaders: Vec<i32> = self.sessions.keys().copied().collect();
        for leader in leaders {
            let s = self.sessions.get_mut(&leader).expect("listed");
            if matches!(s.waiting, Waiting::Reply { sent_at, .. } if ctx.now - sent_at > timeout) {
                s.waiting = Waiting::Idle;
            }
            self.try_fetch(leader, ctx);
        }
    }

    /// Sends the session's next fetch if it is due and every partition it
    /// follows is durable to its end.
    pub(super) fn try_fetch(&mut self, leader: i32, ctx: &mut Ctx) {
        let parts = &self.parts;
        let Some(s) = self.sessions.get_mut(&leader) else {
            return;
        };
        if !matches!(s.waiting, Waiting::Idle) || ctx.now < s.next_at {
            return;
        }
        let log = |p: i32| &parts[p as usize].log;
        if s.fetch.followed().any(|f| !log(f.partition).is_durable()) {
            return; // the flush's completion fetches
        }
        let plans = s.fetch.plan(ctx.now, |_, p| {
            let log = log(p);
            Some(LocalLog {
                log_start: log.start(),
                log_end: log.end(),
                latest_epoch: log.latest_epoch(),
            })
        });
        if plans.is_empty() {
            return;
        }
        let id = ctx.next_id();
        s.waiting = Waiting::Reply {
            id,
            sent_at: ctx.now,
        };
        s.plans = plans.clone();
        let fetch = Msg::Fetch {
            id,
            broker: self.id,
            broker_epoch: self.epoch.unwrap_or(-1),
            plans,
        };
        ctx.send(Node::Broker(self.id), Node::Broker(leader), fetch);
    }

    pub(super) fn on_fetch_reply(
        &mut self,
        from: Node,
        id: u64,
        replies: Vec<(Reply, Vec<Batch>)>,
        ctx: &mut Ctx,
    ) {
        let Node::Broker(leader) = from else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&leader) else {
            return;
        };
        if !matches!(s.waiting, Waiting::Reply { id: want, .. } if want == id) {
            return; // a duplicate, or for a request given up on
        }
        s.waiting = Waiting::Idle;
        let plans = std::mem::take(&mut s.plans);
        assert_eq!(plans.len(), replies.len(), "one answer per partition");
        let mut busy = false;
        for (plan, (reply, batches)) in plans.iter().zip(replies) {
            busy |= self.apply_reply(leader, plan, &reply, &batches, ctx);
        }
        let idle = self.cfg.idle_fetch_ms;
        if let Some(s) = self.sessions.get_mut(&leader) {
            s.next_at = if busy { ctx.now } else { ctx.now + idle };
        }
        self.try_fetch(leader, ctx);
    }

    /// Carries out one partition's `Step`. True if the log changed.
    fn apply_reply(
        &mut self,
        leader: i32,
        plan: &FetchPlan,
        reply: &Reply,
        batches: &[Batch],
        ctx: &mut Ctx,
    ) -> bool {
        let (me, inc) = (self.id, self.incarnation);
        let s = self.sessions.get_mut(&leader).expect("replied session");
        let p = plan.partition;
        let log = &mut self.parts[p as usize].log;
        let step = s
            .fetch
            .on_reply(plan, reply, ctx.now, |e| log.end_offset_for_epoch(e));
        match step {
            Step::Append { high_watermark } => {
                for b in batches {
                    if let Err(e) = log.append_fetched(b) {
                        ctx.fail(format!("b{me} p{p} from b{leader}: {e}"));
                        return false;
                    }
                }
                log.hw = high_watermark.min(log.end());
                if !batches.is_empty() {
                    ctx.flush(me, inc, p, log.flush_mark());
                }
                !batches.is_empty()
            }
            Step::Truncate { offset } => {
                ctx.trace(|| {
                    format!(
                        "b{me} p{p} truncates to {offset} (end {}, epochs {:?}, reply {reply:?})",
                        log.end(),
                        log.epochs()
                    )
                });
                ctx.stats.truncations += 1;
                log.truncate_to(offset);
                true
            }
            Step::Restart { start } => {
                log.restart(start);
                true
            }
            Step::Backoff => false,
        }
    }

    /// Serves a follower's fetch: per partition an error, a divergence, or
    /// durable batches from its fetch offset with the high watermark.
    pub(super) fn serve_fetch(
        &mut self,
        from: Node,
        id: u64,
        follower: i32,
        broker_epoch: i64,
        plans: Vec<FetchPlan>,
        ctx: &mut Ctx,
    ) {
        let parts = plans
            .iter()
            .map(|plan| self.serve_partition(follower, broker_epoch, plan, ctx))
            .collect();
        ctx.send(Node::Broker(self.id), from, Msg::FetchReply { id, parts });
    }

    fn serve_partition(
        &mut self,
        follower: i32,
        broker_epoch: i64,
        plan: &FetchPlan,
        ctx: &mut Ctx,
    ) -> (Reply, Vec<Batch>) {
        let p = plan.partition;
        let max = self.cfg.max_batches;
        let part = &mut self.parts[p as usize];
        let log = &part.log;
        let error = |e: Option<ResponseError>, hw: i64| Reply {
            error_code: e.map_or(0, |e| e.code()),
            high_watermark: hw,
            log_start_offset: log.start(),
            diverging: None,
        };
        let Role::Leader(leader) = &mut part.role else {
            return (
                error(Some(ResponseError::NotLeaderOrFollower), -1),
                Vec::new(),
            );
        };
        let hw = leader.high_watermark();
        if plan.current_leader_epoch < leader.leader_epoch() {
            return (
                error(Some(ResponseError::FencedLeaderEpoch), hw),
                Vec::new(),
            );
        }
        if plan.current_leader_epoch > leader.leader_epoch() {
            return (
                error(Some(ResponseError::UnknownLeaderEpoch), hw),
                Vec::new(),
            );
        }
        let epoch_end = log.end_offset_for_epoch(plan.last_fetched_epoch);
        let diverged = diverging(
            plan.last_fetched_epoch,
            plan.fetch_offset,
            epoch_end,
            log.end(),
        );
        if diverged.is_some() {
            let reply = Reply {
                diverging: diverged,
                ..error(None, hw)
            };
            return (reply, Vec::new());
        }
        if plan.fetch_offset > log.end() {
            return (error(Some(ResponseError::OffsetOutOfRange), hw), Vec::new());
        }
        let batches = log.read(plan.fetch_offset, log.durable_end(), max);
        let (moved, alter) = leader.on_fetch(follower, broker_epoch, plan.fetch_offset, ctx.now);
        let reply = error(None, leader.high_watermark());
        if moved.is_some() {
            self.hw_moved(p, ctx);
        }
        if let Some(alter) = alter {
            self.send_alter(p, alter, ctx);
        }
        (reply, batches)
    }
}
