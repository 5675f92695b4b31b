//! Hot-tail batch cache: the most recent batches of a partition, as the
//! `Bytes` that were queued for the disk (headers already rewritten).
//!
//! Owns: per partition, a contiguous run of whole batches (offsets
//! increasing, gaps only where the leader's log has them) ending at the log
//! end offset ([`BatchCache`]), and its place in the shard's budget
//! ([`PartitionCache`]: byte accounting, LRU touches, an optional
//! per-partition cap). Must not: serve data at or above the high watermark
//! (the caller passes it), hold anything but whole batches, or drop any
//! batch but the oldest (a hole would make `read` skip records).
//! Why: O_DIRECT bypasses the page cache, so without this every tailing
//! consumer would read what was just written back from the device.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;

use super::budget::CacheBudget;

struct Cached {
    base: i64,
    last: i64,
    data: Bytes,
}

/// One partition's run of cached batches; knows nothing of the budget.
pub struct BatchCache {
    batches: VecDeque<Cached>,
    bytes: usize,
}

impl BatchCache {
    fn new() -> BatchCache {
        BatchCache {
            batches: VecDeque::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, base: i64, last: i64, data: Bytes) {
        // Increasing; a follower's batches may leave offset gaps.
        debug_assert!(self.batches.back().is_none_or(|b| b.last < base));
        self.bytes += data.len();
        self.batches.push_back(Cached { base, last, data });
    }

    /// Drops the newest batch; returns its size.
    fn pop_newest(&mut self) -> Option<usize> {
        let new = self.batches.pop_back()?;
        self.bytes -= new.data.len();
        Some(new.data.len())
    }

    /// Drops the oldest batch; returns its size.
    fn pop_oldest(&mut self) -> Option<usize> {
        let old = self.batches.pop_front()?;
        self.bytes -= old.data.len();
        Some(old.data.len())
    }

    /// Whole batches from the one holding `offset`, below `hw`, within
    /// `max_bytes` (at least one if `min_one`), as they are stored (the
    /// caller decides whether to join them). None when `offset` is older
    /// than the cache (read from disk instead).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        hw: i64,
    ) -> Option<Vec<Bytes>> {
        let first = self.batches.front()?;
        if offset < first.base {
            return None;
        }
        let start = self.batches.partition_point(|b| b.last < offset);
        let mut picked = Vec::new();
        let mut total = 0usize;
        for b in self.batches.range(start..) {
            let fits = total + b.data.len() <= max_bytes || (picked.is_empty() && min_one);
            if b.last >= hw || !fits {
                break;
            }
            total += b.data.len();
            picked.push(b.data.clone());
        }
        Some(picked)
    }
}

/// A partition's cache as a member of the shard's [`CacheBudget`]. It lives
/// in its own `Rc`, outside the log's state, so the budget can evict from
/// it while another partition's log state is borrowed.
pub struct PartitionCache {
    run: RefCell<BatchCache>,
    /// Most bytes this partition may hold (0: caches nothing).
    cap: std::cell::Cell<usize>,
    budget: CacheBudget,
    /// This cache's entry in the budget's LRU list.
    slot: usize,
}

impl PartitionCache {
    pub fn new(budget: &CacheBudget, cap: usize) -> Rc<PartitionCache> {
        Rc::new_cyclic(|me| PartitionCache {
            run: RefCell::new(BatchCache::new()),
            cap: std::cell::Cell::new(cap),
            budget: budget.clone(),
            slot: budget.register(me.clone()),
        })
    }

    /// Adds the newest batch, then evicts: this partition's oldest beyond
    /// its cap, then the shard's least recently used beyond the budget
    /// (the new batch too if it alone exceeds either: reads go to disk).
    pub fn push(&self, base: i64, last: i64, data: Bytes) {
        if self.cap.get() == 0 {
            return; // caching is off for this partition; its run is empty
        }
        self.budget.touch(self.slot);
        self.budget.grew(data.len());
        self.run.borrow_mut().push(base, last, data);
        self.trim(self.cap.get(), true);
        self.budget.enforce();
    }

    /// Whole batches for a read (see [`BatchCache::read`]); counts as use.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        hw: i64,
    ) -> Option<Vec<Bytes>> {
        self.budget.touch(self.slot);
        self.run.borrow().read(offset, max_bytes, min_one, hw)
    }

    /// Changes the per-partition cap (topic config update).
    pub fn set_cap(&self, cap: usize) {
        self.cap.set(cap);
        self.trim(cap, true);
    }

    /// Forgets every batch starting below `offset` (compaction rewrote
    /// them). The rest is still a contiguous run ending at the log end.
    pub fn invalidate_below(&self, offset: i64) {
        let mut run = self.run.borrow_mut();
        while run.batches.front().is_some_and(|b| b.base < offset) {
            if let Some(n) = run.pop_oldest() {
                self.budget.shrank(n, 0);
            }
        }
    }

    /// Forgets every batch holding offsets at or above `offset` (the log
    /// was truncated there). What remains still ends at the log end.
    pub fn truncate_from(&self, offset: i64) {
        let mut run = self.run.borrow_mut();
        while run.batches.back().is_some_and(|b| b.last >= offset) {
            if let Some(n) = run.pop_newest() {
                self.budget.shrank(n, 0);
            }
        }
    }

    /// Forgets everything (the log failed: the cache may hold batches that
    /// will never be written).
    pub fn clear(&self) {
        self.trim(0, false);
    }

    /// Bytes this partition holds.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.run.borrow().bytes
    }

    /// Drops the oldest batches until at most `cap` bytes remain.
    fn trim(&self, cap: usize, eviction: bool) {
        let mut run = self.run.borrow_mut();
        while run.bytes > cap {
            let Some(n) = run.pop_oldest() else { break };
            self.budget.shrank(n, u64::from(eviction));
        }
    }

    /// The budget's eviction step: oldest first until the shard is within
    /// its limit or this cache is empty. Skipped if the cache is in use.
    pub(super) fn evict_while_over(&self, budget: &CacheBudget) {
        let Ok(mut run) = self.run.try_borrow_mut() else {
            return;
        };
        while budget.over() {
            let Some(n) = run.pop_oldest() else { break };
            budget.shrank(n, 1);
        }
    }
}

impl Drop for PartitionCache {
    fn drop(&mut self) {
        let bytes = self.run.get_mut().bytes;
        self.budget.shrank(bytes, 0);
        self.budget.unregister(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(read: Option<Vec<Bytes>>) -> usize {
        read.expect("cached").iter().map(Bytes::len).sum()
    }

    fn filled(budget: &CacheBudget) -> Rc<PartitionCache> {
        let c = PartitionCache::new(budget, usize::MAX);
        c.push(0, 1, Bytes::from(vec![0u8; 30]));
        c.push(2, 2, Bytes::from(vec![2u8; 30]));
        c.push(3, 5, Bytes::from(vec![3u8; 30]));
        c
    }

    #[test]
    fn reads_whole_batches_within_limits() {
        let c = filled(&CacheBudget::new(100));
        assert_eq!(c.read(1, 1000, true, 6).unwrap().len(), 3);
        assert_eq!(len(c.read(1, 1000, true, 6)), 90);
        assert_eq!(len(c.read(2, 59, true, 6)), 30);
        assert_eq!(len(c.read(2, 10, true, 6)), 30);
        assert_eq!(len(c.read(2, 10, false, 6)), 0);
        // Never at or past the high watermark.
        assert_eq!(len(c.read(0, 1000, true, 3)), 60);
        assert_eq!(len(c.read(3, 1000, true, 3)), 0);
        // Batches come back as stored, not joined.
        assert_eq!(c.read(2, 1000, true, 6).unwrap()[1][0], 3);
    }

    #[test]
    fn evicts_oldest_beyond_the_budget() {
        let budget = CacheBudget::new(100);
        let c = filled(&budget);
        c.push(6, 6, Bytes::from(vec![6u8; 30]));
        assert_eq!((c.bytes(), budget.snapshot().used), (90, 90));
        assert_eq!(budget.snapshot().evictions, 1);
        assert!(c.read(1, 1000, true, 7).is_none());
        assert_eq!(c.read(2, 1000, true, 7).unwrap()[0][0], 2);
    }

    #[test]
    fn a_batch_larger_than_the_budget_empties_the_cache() {
        let budget = CacheBudget::new(100);
        let c = filled(&budget);
        c.push(6, 6, Bytes::from(vec![6u8; 500]));
        assert_eq!((c.bytes(), budget.snapshot().used), (0, 0));
        assert_eq!(budget.snapshot().evictions, 4);
        assert!(c.read(6, 1000, true, 7).is_none());
        // The run restarts at the next batch.
        c.push(7, 7, Bytes::from(vec![7u8; 10]));
        assert!(c.read(6, 1000, true, 8).is_none());
        assert_eq!(len(c.read(7, 1000, true, 8)), 10);
    }

    #[test]
    fn per_partition_cap() {
        let budget = CacheBudget::new(1000);
        let c = filled(&budget);
        c.set_cap(60);
        assert_eq!((c.bytes(), budget.snapshot().used), (60, 60));
        assert!(c.read(1, 1000, true, 6).is_none());
        c.push(6, 6, Bytes::from(vec![6u8; 30]));
        assert_eq!(c.bytes(), 60);
        let off = PartitionCache::new(&budget, 0);
        off.push(0, 0, Bytes::from(vec![0u8; 10]));
        assert!(off.read(0, 1000, true, 1).is_none());
        assert_eq!(budget.snapshot().used, 60);
        assert_eq!(budget.snapshot().evictions, 2);
    }

    #[test]
    fn invalidate_below_after_compaction() {
        let budget = CacheBudget::new(100);
        let c = filled(&budget);
        c.invalidate_below(3);
        assert_eq!((c.bytes(), budget.snapshot().used), (30, 30));
        assert_eq!(budget.snapshot().evictions, 0);
        assert!(c.read(2, 1000, true, 6).is_none());
        assert_eq!(len(c.read(3, 1000, true, 6)), 30);
    }

    #[test]
    fn clear_on_failure_and_drop_give_bytes_back() {
        let budget = CacheBudget::new(1000);
        let a = filled(&budget);
        let b = filled(&budget);
        assert_eq!(budget.snapshot().used, 180);
        a.clear();
        assert!(a.read(3, 1000, true, 6).is_none());
        assert_eq!(budget.snapshot().used, 90);
        drop(b);
        assert_eq!(budget.snapshot().used, 0);
        assert_eq!(budget.snapshot().evictions, 0);
    }
}
