//! How often a follower warns that it cannot log in to a leader's
//! inter-broker listener: a wrong password or a missing credential does not
//! fix itself, and the follower retries every fetch backoff, so the first
//! failure per leader address is logged at once and later ones at most
//! once a minute, with how many were left out in between.
//!
//! Owns: the per-leader counts of one shard (plain state in the shard's
//! `ShardReplication`; shards do not share it). Must not: do I/O or read
//! the clock (the caller passes the time), so the tests choose it.

use std::collections::HashMap;

/// The shortest time between two warnings about one leader.
pub const INTERVAL_MS: i64 = 60_000;

/// Failed logins by leader address, only for leaders whose last login failed.
#[derive(Default)]
pub struct LoginWarnings {
    by_leader: HashMap<String, Warned>,
}

struct Warned {
    /// When the last warning about this leader was logged.
    logged_at_ms: i64,
    /// Failures since then that were not logged.
    suppressed: u64,
}

impl LoginWarnings {
    /// Counts a failed login to `leader` at `now_ms`. `Some(n)` when this
    /// failure is to be logged, `n` being the failures left out since the
    /// last warning about that leader.
    pub fn failed(&mut self, leader: &str, now_ms: i64) -> Option<u64> {
        let Some(warned) = self.by_leader.get_mut(leader) else {
            self.by_leader.insert(
                leader.to_string(),
                Warned {
                    logged_at_ms: now_ms,
                    suppressed: 0,
                },
            );
            return Some(0);
        };
        if now_ms - warned.logged_at_ms < INTERVAL_MS {
            warned.suppressed += 1;
            return None;
        }
        warned.logged_at_ms = now_ms;
        Some(std::mem::take(&mut warned.suppressed))
    }

    /// A login to `leader` worked: its next failure is news again.
    pub fn succeeded(&mut self, leader: &str) {
        self.by_leader.remove(leader);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_then_one_a_minute_with_the_count_left_out() {
        let mut w = LoginWarnings::default();
        let t0 = 1_000_000;
        assert_eq!(w.failed("b1:9092", t0), Some(0));
        let within: Vec<_> = (1..=5)
            .map(|i| w.failed("b1:9092", t0 + i * 10_000))
            .collect();
        assert_eq!(within, vec![None; 5]);
        assert_eq!(w.failed("b1:9092", t0 + INTERVAL_MS - 1), None);
        assert_eq!(w.failed("b1:9092", t0 + INTERVAL_MS), Some(6));
        // The minute counts from that warning, and the count starts over.
        assert_eq!(w.failed("b1:9092", t0 + INTERVAL_MS + 1), None);
        assert_eq!(w.failed("b1:9092", t0 + 2 * INTERVAL_MS), Some(1));
    }

    #[test]
    fn leaders_are_counted_apart_and_a_success_starts_over() {
        let mut w = LoginWarnings::default();
        assert_eq!(w.failed("b1:9092", 0), Some(0));
        assert_eq!(w.failed("b2:9092", 1), Some(0));
        assert_eq!(w.failed("b1:9092", 2), None);
        assert_eq!(w.failed("b2:9092", 3), None);
        w.succeeded("b1:9092");
        assert_eq!(w.failed("b1:9092", 4), Some(0));
        assert_eq!(w.failed("b2:9092", 5), None);
        assert_eq!(w.failed("b2:9092", INTERVAL_MS + 1), Some(2));
    }
}
