//! The shard's hot-tail cache budget: one byte limit shared by the batch
//! caches of every partition a shard owns, and the least-recently-used
//! order in which those caches give bytes back.
//!
//! Owns: the bytes in use, the limit, the eviction count, and an indexed
//! LRU list of partition caches (weak references, so a dropped log leaves
//! by itself). Must not: reach a partition's log state (eviction works on
//! the cache alone, which lives outside the state borrow), hold its own
//! `RefCell` borrow while calling into a cache, or wait for a busy cache
//! (a cache borrowed elsewhere is skipped). Everything is shard-local
//! (`Rc`/`Cell`): no atomics on the produce/fetch path.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::cache::PartitionCache;

/// Marks the end of the LRU list.
const NIL: usize = usize::MAX;

/// The cache budget of one shard; cheap to clone (every log of the shard
/// holds one). See the module doc.
#[derive(Clone)]
pub struct CacheBudget {
    shared: Rc<Shared>,
}

struct Shared {
    limit: usize,
    used: Cell<usize>,
    evictions: Cell<u64>,
    lru: RefCell<Lru>,
}

/// A point-in-time view of a shard's cache budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetSnapshot {
    pub limit: usize,
    pub used: usize,
    /// Batches dropped to stay within the budget or a partition's cap
    /// (running total).
    pub evictions: u64,
}

impl CacheBudget {
    /// A budget of `limit` bytes for all the caches that will share it.
    pub fn new(limit: usize) -> CacheBudget {
        CacheBudget {
            shared: Rc::new(Shared {
                limit,
                used: Cell::new(0),
                evictions: Cell::new(0),
                lru: RefCell::new(Lru::default()),
            }),
        }
    }

    pub fn snapshot(&self) -> BudgetSnapshot {
        BudgetSnapshot {
            limit: self.shared.limit,
            used: self.shared.used.get(),
            evictions: self.shared.evictions.get(),
        }
    }

    pub(super) fn over(&self) -> bool {
        self.shared.used.get() > self.shared.limit
    }

    pub(super) fn grew(&self, bytes: usize) {
        let used = &self.shared.used;
        used.set(used.get() + bytes);
    }

    /// `bytes` left a cache; `evicted` batches of them for lack of room.
    pub(super) fn shrank(&self, bytes: usize, evicted: u64) {
        let used = &self.shared.used;
        debug_assert!(used.get() >= bytes);
        used.set(used.get().saturating_sub(bytes));
        let ev = &self.shared.evictions;
        ev.set(ev.get() + evicted);
    }

    /// Puts a new cache at the most-recently-used end; returns its slot.
    pub(super) fn register(&self, cache: Weak<PartitionCache>) -> usize {
        self.shared.lru.borrow_mut().insert(cache)
    }

    /// Forgets a slot (its cache is being dropped).
    pub(super) fn unregister(&self, slot: usize) {
        if let Ok(mut lru) = self.shared.lru.try_borrow_mut() {
            lru.remove(slot);
        }
    }

    /// Marks a cache as just used (read or written).
    pub(super) fn touch(&self, slot: usize) {
        if let Ok(mut lru) = self.shared.lru.try_borrow_mut() {
            lru.move_to_front(slot);
        }
    }

    /// Evicts, least recently used cache first and oldest batches first
    /// within it, until the shard is within its limit. Caches borrowed
    /// elsewhere are passed over.
    pub(super) fn enforce(&self) {
        let mut slot = self.shared.lru.borrow().tail;
        while self.over() && slot != NIL {
            // Copy out what is needed so no list borrow spans the eviction.
            let (cache, prev) = {
                let lru = self.shared.lru.borrow();
                let node = &lru.nodes[slot];
                (node.cache.upgrade(), node.prev)
            };
            if let Some(cache) = cache {
                cache.evict_while_over(self);
            }
            slot = prev;
        }
    }
}

/// A doubly linked list in a vector: O(1) touch, insert and remove.
/// `head` is the most recently used entry.
struct Lru {
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
}

struct Node {
    prev: usize,
    next: usize,
    cache: Weak<PartitionCache>,
}

impl Default for Lru {
    fn default() -> Self {
        Lru {
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl Lru {
    fn insert(&mut self, cache: Weak<PartitionCache>) -> usize {
        let node = Node {
            prev: NIL,
            next: NIL,
            cache,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.link_front(slot);
        slot
    }

    fn remove(&mut self, slot: usize) {
        self.unlink(slot);
        self.nodes[slot].cache = Weak::new();
        self.free.push(slot);
    }

    fn move_to_front(&mut self, slot: usize) {
        if self.head != slot {
            self.unlink(slot);
            self.link_front(slot);
        }
    }

    fn link_front(&mut self, slot: usize) {
        self.nodes[slot].prev = NIL;
        self.nodes[slot].next = self.head;
        match self.head {
            NIL => self.tail = slot,
            old => self.nodes[old].prev = slot,
        }
        self.head = slot;
    }

    fn unlink(&mut self, slot: usize) {
        let (prev, next) = (self.nodes[slot].prev, self.nodes[slot].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn batch(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    /// Pushes `count` batches of `size` bytes after `next` offsets.
    fn fill(c: &PartitionCache, next: &mut i64, count: usize, size: usize) {
        for _ in 0..count {
            c.push(*next, *next, batch(size));
            *next += 1;
        }
    }

    #[test]
    fn least_recently_used_partition_gives_back_first() {
        let budget = CacheBudget::new(300);
        let caches: Vec<_> = (0..3).map(|_| PartitionCache::new(&budget, 1000)).collect();
        let mut next = [0i64; 3];
        for (i, c) in caches.iter().enumerate() {
            fill(c, &mut next[i], 2, 50); // a, then b, then c: 300 bytes
        }
        // Reading a makes b the least recently used.
        assert!(caches[0].read(0, 1000, true, 2).is_some());
        fill(&caches[2], &mut next[2], 1, 50);
        assert_eq!(
            caches.iter().map(|c| c.bytes()).collect::<Vec<_>>(),
            [100, 50, 150]
        );
        // b's oldest went first: its run still ends at its log end.
        assert!(caches[1].read(0, 1000, true, 2).is_none());
        assert_eq!(caches[1].read(1, 1000, true, 2).unwrap().len(), 1);
        // Those reads made b recent: a large push now empties a, not b.
        fill(&caches[2], &mut next[2], 1, 100);
        assert_eq!(
            caches.iter().map(|c| c.bytes()).collect::<Vec<_>>(),
            [0, 50, 250]
        );
        let snap = budget.snapshot();
        assert_eq!((snap.used, snap.limit, snap.evictions), (300, 300, 3));
    }

    #[test]
    fn never_more_than_the_budget() {
        let budget = CacheBudget::new(1000);
        let caches: Vec<_> = (0..5).map(|_| PartitionCache::new(&budget, 600)).collect();
        let mut next = [0i64; 5];
        for round in 0..200usize {
            let i = round * 7 % 5;
            fill(&caches[i], &mut next[i], 1, 1 + round * 13 % 170);
            let held: usize = caches.iter().map(|c| c.bytes()).sum();
            assert!(held <= 1000 && held == budget.snapshot().used);
            assert!(caches.iter().all(|c| c.bytes() <= 600));
        }
    }

    #[test]
    fn dropped_caches_leave_the_list() {
        let budget = CacheBudget::new(100);
        let a = PartitionCache::new(&budget, 1000);
        let b = PartitionCache::new(&budget, 1000);
        a.push(0, 0, batch(60));
        drop(a);
        assert_eq!(budget.snapshot().used, 0);
        let c = PartitionCache::new(&budget, 1000); // reuses a's slot
        b.push(0, 0, batch(60));
        c.push(0, 0, batch(60));
        assert_eq!((b.bytes(), c.bytes()), (0, 60));
    }
}
