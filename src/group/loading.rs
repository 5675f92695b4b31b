//! Which `__consumer_offsets` partitions this shard coordinates: the
//! coordinator moves with leadership. When this node becomes leader of an
//! offsets partition its groups are replayed from the log; when leadership
//! ends they are dropped. Requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS
//! (loading) or NOT_COORDINATOR (not leading), as on Kafka.
//!
//! Must not: mark a partition loaded before every committed record in it has
//! been replayed, keep a partition's groups after its leadership ended, or
//! let a load that leadership overtook install its groups.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;

use super::{store, Coordinator, OFFSETS_TOPIC};
use crate::shard::internal_log;
use crate::shard::Shard;

impl Coordinator {
    /// Whether this shard coordinates the groups of `partition` now.
    pub fn status(&self, partition: i32) -> Result<(), E> {
        if self.loaded.contains(&partition) {
            Ok(())
        } else if self.loading.contains_key(&partition) {
            Err(E::CoordinatorLoadInProgress)
        } else {
            Err(E::NotCoordinator)
        }
    }

    /// Drops `partition`'s groups and any load under way. Dropping a group
    /// drops its waiting members' senders, which answers them.
    fn unload(&mut self, partition: i32) -> usize {
        self.loading.remove(&partition);
        self.loaded.remove(&partition);
        let before = self.groups.len();
        self.groups.retain(|_, g| g.partition != partition);
        before - self.groups.len()
    }

    /// Starts a load of `partition`; the token names it, so a load
    /// overtaken by an unload (or a newer load) knows to give up.
    fn begin_load(&mut self, partition: i32) -> u64 {
        self.unload(partition);
        self.load_seq += 1;
        self.loading.insert(partition, self.load_seq);
        self.load_seq
    }

    fn is_current(&self, partition: i32, token: u64) -> bool {
        self.loading.get(&partition) == Some(&token)
    }
}

/// The offsets partitions whose leadership this shard just gained (a new
/// leader epoch counts: the log is the truth, memory is rebuilt from it) and
/// lost. Called by `shard::replication::reconcile` with no borrow held.
pub fn on_leadership(shard: &Rc<Shard>, gained: Vec<i32>, lost: Vec<i32>) {
    for p in lost {
        let dropped = shard.groups.borrow_mut().unload(p);
        tracing::info!(partition = p, groups = dropped, "no longer coordinator");
    }
    for p in gained {
        let token = shard.groups.borrow_mut().begin_load(p);
        let shard = shard.clone();
        glommio::spawn_local(async move { load(&shard, p, token).await }).detach();
    }
}

/// Replays `partition` once everything in its log is committed, then marks
/// it loaded, unless leadership moved on meanwhile.
async fn load(shard: &Rc<Shard>, partition: i32, token: u64) {
    if !await_committed(shard, partition, token).await {
        return;
    }
    let groups = store::load(shard, partition).await;
    let mut table = shard.groups.borrow_mut();
    if !table.is_current(partition, token) || leader_epoch(shard, partition).is_none() {
        return;
    }
    let count = groups.len();
    for g in groups {
        table.groups.insert(g.id.clone(), g);
    }
    table.loading.remove(&partition);
    table.loaded.insert(partition);
    tracing::info!(partition, groups = count, "loaded consumer groups");
}

/// Waits until everything in the partition's log is committed
/// (`shard::internal_log::await_committed`). False if the load was
/// overtaken.
async fn await_committed(shard: &Rc<Shard>, partition: i32, token: u64) -> bool {
    let current = || shard.groups.borrow().is_current(partition, token);
    internal_log::await_committed(shard, OFFSETS_TOPIC, partition, current).await
}

/// The epoch this shard leads `partition` in, if it does.
fn leader_epoch(shard: &Shard, partition: i32) -> Option<i32> {
    internal_log::leader_epoch(shard, OFFSETS_TOPIC, partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::state::Group;

    fn with_groups(parts: &[(&str, i32)]) -> Coordinator {
        let mut c = Coordinator::default();
        for (id, p) in parts {
            c.groups.insert(id.to_string(), Group::new(id, *p, 0));
        }
        c
    }

    #[test]
    fn status_follows_load_and_unload() {
        let mut c = Coordinator::default();
        assert_eq!(c.status(0), Err(E::NotCoordinator));
        let token = c.begin_load(0);
        assert_eq!(c.status(0), Err(E::CoordinatorLoadInProgress));
        assert!(c.is_current(0, token));
        c.loading.remove(&0);
        c.loaded.insert(0);
        assert_eq!(c.status(0), Ok(()));
        c.unload(0);
        assert_eq!(c.status(0), Err(E::NotCoordinator));
    }

    #[test]
    fn unload_drops_only_that_partitions_groups() {
        let mut c = with_groups(&[("a", 0), ("b", 1), ("c", 0)]);
        c.loaded.extend([0, 1]);
        assert_eq!(c.unload(0), 2);
        assert_eq!(c.groups.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(c.status(1), Ok(()));
    }

    #[test]
    fn a_newer_load_or_an_unload_overtakes_a_load() {
        let mut c = with_groups(&[("a", 2)]);
        let first = c.begin_load(2);
        assert!(c.groups.is_empty(), "a load starts from nothing");
        let second = c.begin_load(2);
        assert!(!c.is_current(2, first));
        assert!(c.is_current(2, second));
        c.unload(2);
        assert!(!c.is_current(2, second));
    }
}
