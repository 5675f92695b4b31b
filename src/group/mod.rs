//! Consumer groups: the coordinator Kafka clients expect, thread-per-core.
//!
//! Each group lives on one shard: the owner of its `__consumer_offsets`
//! partition (Kafka's hash of the group id modulo the partition count). Only
//! that shard touches the group, so there are no locks; requests for a group
//! reach its shard over the mesh (`route`). Group metadata and committed
//! offsets are records in that partition, written through the ordinary
//! partition log with the leader epoch and replicated like an acks=all
//! produce (`store`). Only the partition's leader coordinates: its groups are
//! replayed when this node becomes leader and dropped when it stops
//! (`loading`). `membership` is the rebalance state machine, `offsets` the
//! commit/fetch/admin side.
//!
//! Must not: touch another shard's groups, await while borrowing the table,
//! or answer a commit before its record is below the high watermark.

pub mod loading;
pub mod membership;
pub mod offsets;
pub mod records;
pub mod route;
pub mod state;
pub mod store;
pub mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use crate::shard::Shard;
use crate::util::now_ms;
use membership::{Effects, Join, Sync};
use state::Group;
use types::*;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often member sessions, join/sync deadlines and the initial delay are
/// checked. Bounds how late a deadline can fire.
const TICK: Duration = Duration::from_millis(50);

/// The groups of one shard.
#[derive(Default)]
pub struct Coordinator {
    pub groups: HashMap<String, Group>,
    /// `__consumer_offsets` partitions led here whose records have been
    /// replayed: their groups are served.
    pub loaded: HashSet<i32>,
    /// Partitions led here still being replayed, by load token.
    pub loading: HashMap<i32, u64>,
    /// The last load token handed out.
    pub load_seq: u64,
}

impl Coordinator {
    pub fn group_or_new(&mut self, id: &str, partition: i32, now: i64) -> &mut Group {
        self.groups
            .entry(id.to_string())
            .or_insert_with(|| Group::new(id, partition, now))
    }
}

/// Runs one group call on this shard, which owns `partition`.
pub async fn handle(shard: &Rc<Shard>, partition: i32, call: GroupCall) -> Result<GroupReply, E> {
    if let GroupCall::List = call {
        return Ok(GroupReply::List(offsets::list(&shard.groups.borrow())));
    }
    shard.groups.borrow().status(partition)?;
    Ok(match call {
        GroupCall::Join(id, args) => GroupReply::Join(join(shard, partition, id, args).await),
        GroupCall::Sync(id, args) => GroupReply::Sync(sync(shard, partition, id, args).await),
        GroupCall::Heartbeat(id, generation, who) => {
            let now = now_ms();
            let mut table = shard.groups.borrow_mut();
            let error = match table.groups.get_mut(&id) {
                None => Some(E::UnknownMemberId),
                Some(g) => membership::heartbeat(g, generation, &who, now),
            };
            GroupReply::Code(error.map_or(0, |e| e.code()))
        }
        GroupCall::Leave(id, who) => leave(shard, id, who),
        GroupCall::Commit(id, args) => {
            GroupReply::Commit(offsets::commit(shard, partition, id, args).await)
        }
        GroupCall::TxnCommit {
            group,
            producer_id,
            producer_epoch,
            args,
        } => GroupReply::Commit(
            offsets::commit_transactional(
                shard,
                partition,
                group,
                (producer_id, producer_epoch),
                args,
            )
            .await,
        ),
        GroupCall::FetchOffsets(id, parts, require_stable) => {
            offsets::fetch(&shard.groups.borrow(), &id, parts, require_stable)
        }
        GroupCall::Describe(id) => {
            GroupReply::Describe(offsets::describe(&shard.groups.borrow(), &id))
        }
        GroupCall::Delete(id) => {
            tick_now(shard, &id).await;
            GroupReply::Code(offsets::delete(shard, partition, id).await)
        }
        GroupCall::DeleteOffsets(id, parts) => {
            offsets::delete_offsets(shard, partition, id, parts).await
        }
        GroupCall::List => unreachable!("answered above"),
    })
}

async fn join(shard: &Rc<Shard>, partition: i32, id: String, args: JoinArgs) -> JoinResult {
    let cfg = &shard.config.group;
    let session = args.session_timeout_ms as i64;
    if session < cfg.min_session_timeout_ms || session > cfg.max_session_timeout_ms {
        return membership::join_error(E::InvalidSessionTimeout, &args.member_id);
    }
    let now = now_ms();
    let mut fx = Effects::default();
    let outcome = {
        let mut table = shard.groups.borrow_mut();
        if !table.groups.contains_key(&id) && !args.member_id.is_empty() {
            return membership::join_error(E::UnknownMemberId, &args.member_id);
        }
        let g = table.group_or_new(&id, partition, now);
        membership::join(
            g,
            args.clone(),
            now,
            cfg.initial_rebalance_delay_ms,
            &mut fx,
        )
    };
    apply_effects(shard, &id, fx);
    match outcome {
        Join::Now(result) => result,
        Join::Wait(rx) => rx.await.unwrap_or_else(|_| {
            membership::join_error(gone_error(shard, partition), &args.member_id)
        }),
    }
}

async fn sync(shard: &Rc<Shard>, partition: i32, id: String, args: SyncArgs) -> SyncResult {
    let now = now_ms();
    let generation = args.generation;
    let (outcome, persist) = {
        let mut table = shard.groups.borrow_mut();
        let Some(g) = table.groups.get_mut(&id) else {
            return membership::sync_error(E::UnknownMemberId);
        };
        let outcome = membership::sync(g, args, now);
        let persist = matches!(outcome, Sync::Persist(_)).then(|| (g.partition, g.to_value()));
        (outcome, persist)
    };
    if let Some((partition, value)) = persist {
        let entry = (records::group_key(&id), Some(records::encode_group(&value)));
        let ok = store::persist(shard, partition, vec![entry]).await.is_ok();
        let delay = shard.config.group.initial_rebalance_delay_ms;
        if let Some(g) = shard.groups.borrow_mut().groups.get_mut(&id) {
            membership::finish_sync(g, generation, ok, now_ms(), delay);
        }
    }
    match outcome {
        Sync::Now(result) => result,
        Sync::Wait(rx) | Sync::Persist(rx) => rx
            .await
            .unwrap_or_else(|_| membership::sync_error(gone_error(shard, partition))),
    }
}

/// Why a waiting member's answer never came (its sender was dropped): the
/// group was unloaded because leadership moved (the client should find the
/// new coordinator), or else the member was removed.
fn gone_error(shard: &Shard, partition: i32) -> E {
    match shard.groups.borrow().status(partition) {
        Ok(()) => E::UnknownMemberId,
        Err(_) => E::NotCoordinator,
    }
}

fn leave(shard: &Rc<Shard>, id: String, who: Vec<MemberRef>) -> GroupReply {
    let now = now_ms();
    let mut fx = Effects::default();
    let codes = {
        let mut table = shard.groups.borrow_mut();
        match table.groups.get_mut(&id) {
            None => vec![E::UnknownMemberId.code(); who.len()],
            Some(g) => membership::leave(
                g,
                &who,
                now,
                shard.config.group.initial_rebalance_delay_ms,
                &mut fx,
            ),
        }
    };
    apply_effects(shard, &id, fx);
    GroupReply::Leave(0, codes)
}

/// Persists the group's metadata in the background when a transition asked
/// for it (the group emptied, or a static member got a new id).
/// Applies `id`'s deadlines that have passed, now rather than at the next
/// tick: a DeleteGroups sent just after the last member's session ran out
/// finds the group empty, as on Kafka, whose expirations fire on time.
/// The new group record is written before the caller goes on, so it cannot
/// land after a tombstone the caller writes.
async fn tick_now(shard: &Rc<Shard>, id: &str) {
    let mut fx = Effects::default();
    let record = {
        let mut table = shard.groups.borrow_mut();
        let Some(g) = table.groups.get_mut(id) else {
            return;
        };
        let delay = shard.config.group.initial_rebalance_delay_ms;
        membership::tick(g, now_ms(), delay, &mut fx);
        fx.persist.then(|| (g.partition, g.to_value()))
    };
    if let Some((partition, value)) = record {
        let entry = (records::group_key(id), Some(records::encode_group(&value)));
        if let Err(e) = store::persist(shard, partition, vec![entry]).await {
            tracing::warn!("persisting group metadata: {e:?}");
        }
    }
}

fn apply_effects(shard: &Rc<Shard>, id: &str, fx: Effects) {
    if !fx.persist {
        return;
    }
    let Some((partition, value)) = shard
        .groups
        .borrow()
        .groups
        .get(id)
        .map(|g| (g.partition, g.to_value()))
    else {
        return;
    };
    let shard = shard.clone();
    let entry = (records::group_key(id), Some(records::encode_group(&value)));
    glommio::spawn_local(async move {
        if let Err(e) = store::persist(&shard, partition, vec![entry]).await {
            tracing::warn!("persisting group metadata: {e:?}");
        }
    })
    .detach();
}

/// The shard's group timer: sessions, deadlines, offset expiry. Runs until
/// the shard stops.
pub async fn run_timers(shard: Rc<Shard>) {
    let check_every = shard.config.group.offsets_retention_check_ms.max(1000);
    let mut next_expiry = now_ms() + check_every;
    while !shard.stopping.get() {
        glommio::timer::sleep(TICK).await;
        let now = now_ms();
        let delay = shard.config.group.initial_rebalance_delay_ms;
        let mut persist = Vec::new();
        for g in shard.groups.borrow_mut().groups.values_mut() {
            let mut fx = Effects::default();
            membership::tick(g, now, delay, &mut fx);
            if fx.persist {
                persist.push(g.id.clone());
            }
        }
        for id in persist {
            apply_effects(&shard, &id, Effects { persist: true });
        }
        if now >= next_expiry {
            next_expiry = now + check_every;
            offsets::expire(&shard).await;
        }
    }
}
