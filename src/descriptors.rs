//! The broker process's file descriptors: raising RLIMIT_NOFILE at start,
//! the budget left for partition files once a reserve is set aside, and
//! how many descriptors are open now (for the metrics).
//!
//! Owns: the RLIMIT_NOFILE calls and the budget arithmetic. Must not: open
//! or close partition files (a per-shard descriptor cache is to do that,
//! within [`Budget::per_shard`]), or run on a request path (counting reads
//! /proc).

use std::io;

/// Default of `fjord.fd.reserve`: descriptors kept out of the partition
/// budget for client and broker connections (two each: the socket and its
/// duplicate for the writer half), splice pipes (two each; up to 16 pooled
/// per shard plus those in flight), a cold read's page-cache reopen of its
/// segment, io_uring rings and eventfds (a handful per shard), the metadata
/// log and listeners. 1024 leaves room for about 400 connections on a small
/// limit and is noise on the recommended 1,048,576.
pub const DEFAULT_RESERVE: u64 = 1024;

/// Fewest descriptors a shard's partition cache gets even when the reserve
/// would leave it less: below this a cache would thrash on every request.
pub const MIN_PER_SHARD: u64 = 32;

/// A process resource limit as getrlimit reports it; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The limit on `resource` (a `libc::RLIMIT_*`), or `None` if getrlimit failed.
pub fn get_limit(resource: libc::__rlimit_resource_t) -> Option<Limit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return None;
    }
    // rlim_t is 32 bits on some targets.
    #[allow(clippy::unnecessary_cast)]
    let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    Some(Limit {
        soft: finite(limit.rlim_cur),
        hard: finite(limit.rlim_max),
    })
}

/// The soft RLIMIT_NOFILE to ask for: the hard limit. Linux refuses an
/// unlimited one (nothing above fs.nr_open), so an unlimited hard limit
/// becomes fs.nr_open; `None` if there is nothing to raise.
pub fn raised_soft(limit: Limit, nr_open: Option<u64>) -> Option<u64> {
    let target = limit.hard.or(nr_open)?;
    match limit.soft {
        Some(soft) if soft >= target => None,
        None => None,
        Some(_) => Some(target),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now
/// in force. Leaves it as it was (with the error) if setrlimit refuses.
pub fn raise_nofile() -> io::Result<Limit> {
    let Some(limit) = get_limit(libc::RLIMIT_NOFILE) else {
        return Err(io::Error::last_os_error());
    };
    let Some(soft) = raised_soft(limit, nr_open()) else {
        return Ok(limit);
    };
    let wanted = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: limit
            .hard
            .map_or(libc::RLIM_INFINITY, |h| h as libc::rlim_t),
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Limit {
        soft: Some(soft),
        ..limit
    })
}

fn nr_open() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?;
    text.trim().parse().ok()
}

/// How the descriptor limit divides between the reserve and partition files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft RLIMIT_NOFILE (u64::MAX when unlimited).
    pub limit: u64,
    pub reserve: u64,
    pub shards: u64,
    /// Descriptors each shard's partition files may hold.
    pub per_shard: u64,
    /// Whether [`MIN_PER_SHARD`] had to be taken out of the reserve.
    pub squeezed: bool,
}

impl Budget {
    pub fn new(limit: u64, reserve: u64, shards: usize) -> Budget {
        let shards = shards.max(1) as u64;
        let per_shard = limit.saturating_sub(reserve) / shards;
        Budget {
            limit,
            reserve,
            shards,
            per_shard: per_shard.max(MIN_PER_SHARD),
            squeezed: per_shard < MIN_PER_SHARD,
        }
    }

    /// Descriptors all shards' partition files may hold together.
    pub fn partitions(&self) -> u64 {
        self.per_shard.saturating_mul(self.shards)
    }
}

/// At start, before any shard runs: raises the soft limit, logs the limit
/// and the partition budget once, and returns the budget.
pub fn start(shards: usize, reserve: u64) -> Budget {
    let unknown = Limit {
        soft: None,
        hard: None,
    };
    let limit = raise_nofile().unwrap_or_else(|e| {
        tracing::warn!("could not raise RLIMIT_NOFILE to its hard limit: {e}");
        get_limit(libc::RLIMIT_NOFILE).unwrap_or(unknown)
    });
    let budget = Budget::new(limit.soft.unwrap_or(u64::MAX), reserve, shards);
    tracing::info!(
        soft = limit.soft.map_or("unlimited".into(), |l| l.to_string()),
        hard = limit.hard.map_or("unlimited".into(), |l| l.to_string()),
        reserve,
        partition_budget = budget.partitions(),
        per_shard = budget.per_shard,
        "RLIMIT_NOFILE: soft limit raised to the hard one; partition files may hold it less \
         fjord.fd.reserve"
    );
    if budget.squeezed {
        tracing::warn!(
            "RLIMIT_NOFILE {} leaves less than {MIN_PER_SHARD} descriptors per shard after \
             fjord.fd.reserve {reserve}: raise the limit (fjord tune)",
            budget.limit
        );
    }
    budget
}

/// Descriptors open in this process now. Linux 6.2 and later report the
/// count as the size of /proc/self/fd, without listing it (a listing of
/// 50,000 entries would stall the shard that scrapes); older kernels
/// report 0 and the directory is counted.
pub fn open_count() -> io::Result<u64> {
    const DIR: &str = "/proc/self/fd";
    let size = std::fs::metadata(DIR)?.len();
    if size > 0 {
        return Ok(size);
    }
    // Less the descriptor read_dir itself holds open while listing.
    Ok((std::fs::read_dir(DIR)?.count() as u64).saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: Option<u64>, hard: Option<u64>) -> Limit {
        Limit { soft, hard }
    }

    #[test]
    fn soft_limit_is_raised_to_the_hard_one() {
        assert_eq!(
            raised_soft(limit(Some(1024), Some(524288)), None),
            Some(524288)
        );
        assert_eq!(
            raised_soft(limit(Some(2048), Some(2048)), Some(1 << 20)),
            None
        );
        // An unlimited hard limit means fs.nr_open on Linux.
        assert_eq!(
            raised_soft(limit(Some(1024), None), Some(1 << 20)),
            Some(1 << 20)
        );
        assert_eq!(raised_soft(limit(Some(1024), None), None), None);
        assert_eq!(raised_soft(limit(None, None), Some(1 << 20)), None);
    }

    #[test]
    fn budget_is_the_limit_less_the_reserve_per_shard() {
        let b = Budget::new(20_000, DEFAULT_RESERVE, 2);
        assert_eq!(b.per_shard, (20_000 - 1024) / 2);
        assert_eq!(b.partitions(), 18_976);
        assert!(!b.squeezed);
        let b = Budget::new(1 << 20, DEFAULT_RESERVE, 64);
        assert_eq!(b.per_shard, ((1 << 20) - 1024) / 64);
    }

    #[test]
    fn the_setting_defaults_to_the_documented_reserve() {
        let config = crate::config::BrokerConfig::load(None, &[]).unwrap();
        assert_eq!(config.fd_reserve, DEFAULT_RESERVE);
    }

    #[test]
    fn a_small_limit_still_leaves_each_shard_a_minimum() {
        let b = Budget::new(1024, DEFAULT_RESERVE, 4);
        assert_eq!(b.per_shard, MIN_PER_SHARD);
        assert!(b.squeezed);
        let b = Budget::new(2048, DEFAULT_RESERVE, 1);
        assert_eq!((b.per_shard, b.squeezed), (1024, false));
    }

    #[test]
    fn unlimited_does_not_overflow() {
        let b = Budget::new(u64::MAX, DEFAULT_RESERVE, 3);
        assert_eq!(b.per_shard, (u64::MAX - 1024) / 3);
        assert!(b.partitions() <= u64::MAX - 1024);
    }

    #[test]
    fn open_descriptors_are_counted_within_the_limit() {
        // Other tests open files on other threads: only bounds are stable.
        let count = open_count().unwrap();
        let soft = get_limit(libc::RLIMIT_NOFILE).unwrap().soft;
        assert!(count >= 3, "stdin, stdout and stderr at least: {count}");
        assert!(soft.is_none_or(|s| count <= s), "{count} > {soft:?}");
    }
}
