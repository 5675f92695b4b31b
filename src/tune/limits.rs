//! Process resource limits: RLIMIT_MEMLOCK (glommio's io_uring rings) and
//! RLIMIT_NOFILE (connections, segment files, pipes).
//!
//! These are the limits of the `fjord tune` process itself, which is what a
//! `fjord serve` started the same way inherits. A process cannot raise
//! another's, so `--apply` never writes them: the checks only advise, naming
//! the systemd unit and limits.d files under `tuning/`. Must not: call
//! setrlimit (`fjord serve` raises its own soft RLIMIT_NOFILE at start).

use super::parse;
use super::{Check, Shards};
use crate::descriptors::{get_limit, Limit};

/// glommio's documented minimum of locked memory per executor (shard).
pub const MEMLOCK_PER_SHARD: u64 = 512 * 1024;

/// The hard RLIMIT_NOFILE recommended: room for tens of thousands of
/// partitions and connections, and Linux's default fs.nr_open (the most a
/// hard limit may be without raising that sysctl).
pub const NOFILE_HARD: u64 = 1_048_576;

pub fn checks(shards: &Shards) -> Vec<Check> {
    vec![
        memlock(shards, get_limit(libc::RLIMIT_MEMLOCK)),
        nofile(get_limit(libc::RLIMIT_NOFILE)),
    ]
}

/// RLIMIT_MEMLOCK: at least [`MEMLOCK_PER_SHARD`] per shard, best unlimited.
pub fn memlock(shards: &Shards, limit: Option<Limit>) -> Check {
    const NAME: &str = "RLIMIT_MEMLOCK";
    let count = shards.cpus.len() as u64;
    let needed = MEMLOCK_PER_SHARD * count;
    let recommended = format!(
        "unlimited (>= {} for {count} shards)",
        parse::format_bytes(needed)
    );
    let Some(limit) = limit else {
        let reason = "getrlimit(RLIMIT_MEMLOCK) failed".to_string();
        return Check::unavailable(NAME, recommended, reason);
    };
    let current = describe(limit, parse::format_bytes);
    let ok = limit.soft.is_none_or(|s| s >= needed);
    advise(
        Check::new(NAME, current, recommended).differs_if(!ok),
        "set LimitMEMLOCK=infinity in the systemd unit (tuning/fjord.service) or memlock \
         in tuning/limits.d/fjord.conf",
    )
}

/// RLIMIT_NOFILE: the hard limit decides, since `fjord serve` raises its
/// soft limit to it at start; each partition segment and connection holds
/// descriptors.
pub fn nofile(limit: Option<Limit>) -> Check {
    const NAME: &str = "RLIMIT_NOFILE";
    let recommended = format!("hard >= {NOFILE_HARD} (fjord raises soft to hard)");
    let Some(limit) = limit else {
        let reason = "getrlimit(RLIMIT_NOFILE) failed".to_string();
        return Check::unavailable(NAME, recommended, reason);
    };
    let current = describe(limit, |n| n.to_string());
    let ok = limit.hard.is_none_or(|h| h >= NOFILE_HARD);
    advise(
        Check::new(NAME, current, recommended).differs_if(!ok),
        "set LimitNOFILE=1048576 in the systemd unit (tuning/fjord.service), nofile in \
         tuning/limits.d/fjord.conf for login shells, or --ulimit nofile=1048576 for Docker",
    )
}

/// "soft 64 KiB, hard unlimited".
fn describe(limit: Limit, format: fn(u64) -> String) -> String {
    let text = |l: Option<u64>| l.map_or_else(|| "unlimited".to_string(), format);
    format!("soft {}, hard {}", text(limit.soft), text(limit.hard))
}

/// A differing limit check's note: how to change it, since `--apply` cannot.
fn advise(check: Check, how: &str) -> Check {
    if check.status != super::Status::Differs {
        return check;
    }
    check.note(format!("a process can only change its own limits: {how}"))
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn limit(soft: Option<u64>, hard: Option<u64>) -> Option<Limit> {
        Some(Limit { soft, hard })
    }

    #[test]
    fn nofile_judges_the_hard_limit() {
        let low = nofile(limit(Some(1024), Some(20_000)));
        assert_eq!(low.status, Status::Differs);
        assert_eq!(low.current, "soft 1024, hard 20000");
        assert!(low.note.as_deref().unwrap().contains("LimitNOFILE=1048576"));
        assert!(
            low.writes.is_empty(),
            "a process cannot set another's limit"
        );
        // A low soft limit is fine: fjord raises it to the hard one.
        let ok = nofile(limit(Some(1024), Some(NOFILE_HARD)));
        assert_eq!((ok.status, ok.note), (Status::Ok, None));
        assert_eq!(nofile(limit(None, None)).status, Status::Ok);
        assert!(matches!(nofile(None).status, Status::Unavailable(_)));
    }

    #[test]
    fn memlock_needs_512_kib_per_shard() {
        let shards = Shards {
            cpus: vec![0, 1],
            online: vec![0, 1],
        };
        let check = memlock(&shards, limit(Some(512 * 1024), None));
        assert_eq!(check.status, Status::Differs);
        assert_eq!(check.current, "soft 512 KiB, hard unlimited");
        assert!(check.note.unwrap().contains("LimitMEMLOCK=infinity"));
        let check = memlock(&shards, limit(Some(1 << 20), Some(1 << 20)));
        assert_eq!(check.status, Status::Ok);
    }
}
