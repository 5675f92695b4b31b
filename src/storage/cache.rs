//! Hot-tail batch cache: the most recent batches of a partition, as the
//! `Bytes` that were queued for the disk (headers already rewritten).
//!
//! Owns: a contiguous run of batches ending at the log end offset, within a
//! byte budget (oldest evicted first). Must not: serve data at or above the
//! high watermark (the caller passes it), or hold anything but whole batches.
//! Why: O_DIRECT bypasses the page cache, so without this every tailing
//! consumer would read what was just written back from the device.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

struct Cached {
    base: i64,
    last: i64,
    data: Bytes,
}

pub struct BatchCache {
    batches: VecDeque<Cached>,
    bytes: usize,
    budget: usize,
}

impl BatchCache {
    pub fn new(budget: usize) -> BatchCache {
        BatchCache {
            batches: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Adds the newest batch; evicts the oldest beyond the budget (the new
    /// batch too if it alone exceeds it: reads then go to disk).
    pub fn push(&mut self, base: i64, last: i64, data: Bytes) {
        debug_assert!(self.batches.back().is_none_or(|b| b.last + 1 == base));
        self.bytes += data.len();
        self.batches.push_back(Cached { base, last, data });
        self.evict();
    }

    /// Changes the budget (topic config update), evicting the oldest.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        self.evict();
    }

    /// Forgets every batch starting below `offset` (compaction rewrote
    /// them). The rest is still a contiguous run ending at the log end.
    pub fn invalidate_below(&mut self, offset: i64) {
        while self.batches.front().is_some_and(|b| b.base < offset) {
            if let Some(old) = self.batches.pop_front() {
                self.bytes -= old.data.len();
            }
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.budget {
            let Some(old) = self.batches.pop_front() else {
                break;
            };
            self.bytes -= old.data.len();
        }
    }

    /// Forgets everything (the log failed: the cache may hold batches that
    /// will never be written).
    pub fn clear(&mut self) {
        self.batches.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whole batches from the one holding `offset`, below `hw`, within
    /// `max_bytes` (at least one if `min_one`). None when `offset` is
    /// older than the cache (read from disk instead).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, hw: i64) -> Option<Bytes> {
        let first = self.batches.front()?;
        if offset < first.base {
            return None;
        }
        let start = self.batches.partition_point(|b| b.last < offset);
        let mut picked: Vec<&Bytes> = Vec::new();
        let mut total = 0usize;
        for b in self.batches.range(start..) {
            let fits = total + b.data.len() <= max_bytes || (picked.is_empty() && min_one);
            if b.last >= hw || !fits {
                break;
            }
            total += b.data.len();
            picked.push(&b.data);
        }
        Some(match picked.as_slice() {
            [] => Bytes::new(),
            [one] => (*one).clone(), // zero copy for the common single batch
            many => {
                let mut out = BytesMut::with_capacity(total);
                many.iter().for_each(|b| out.extend_from_slice(b));
                out.freeze()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> BatchCache {
        let mut c = BatchCache::new(100);
        c.push(0, 1, Bytes::from(vec![0u8; 30]));
        c.push(2, 2, Bytes::from(vec![2u8; 30]));
        c.push(3, 5, Bytes::from(vec![3u8; 30]));
        c
    }

    #[test]
    fn reads_whole_batches_within_limits() {
        let c = filled();
        assert_eq!(c.read(1, 1000, true, 6).unwrap().len(), 90);
        assert_eq!(c.read(2, 59, true, 6).unwrap().len(), 30);
        assert_eq!(c.read(2, 10, true, 6).unwrap().len(), 30);
        assert_eq!(c.read(2, 10, false, 6).unwrap().len(), 0);
        // Never at or past the high watermark.
        assert_eq!(c.read(0, 1000, true, 3).unwrap().len(), 60);
        assert_eq!(c.read(3, 1000, true, 3).unwrap().len(), 0);
    }

    #[test]
    fn evicts_oldest() {
        let mut c = filled();
        c.push(6, 6, Bytes::from(vec![6u8; 30]));
        assert_eq!(c.bytes(), 90);
        assert!(c.read(1, 1000, true, 7).is_none());
        assert_eq!(c.read(2, 1000, true, 7).unwrap()[0], 2);
        c.push(7, 7, Bytes::from(vec![7u8; 500]));
        assert_eq!(c.bytes(), 0);
        assert!(c.read(7, 1000, true, 8).is_none());
    }

    #[test]
    fn invalidate_and_shrink() {
        let mut c = filled();
        c.invalidate_below(3);
        assert_eq!(c.bytes(), 30);
        assert!(c.read(2, 1000, true, 6).is_none());
        assert_eq!(c.read(3, 1000, true, 6).unwrap().len(), 30);
        let mut c = filled();
        c.set_budget(60);
        assert_eq!(c.bytes(), 60);
        assert!(c.read(1, 1000, true, 6).is_none());
    }
}
