//! `fjord tune --apply`: writes the recommended values of differing checks,
//! printing each change (old → new), and says what it leaves alone and why.
//! Without privilege it writes nothing and lists what would need root.

use super::host::Host;
use super::parse;
use super::{Check, Status, Write};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Applies `checks` to `host`; returns the exit code (0 all done, 1 something
/// needed root or failed). Output goes to `out`.
pub fn apply(host: &Host, checks: &[Check], privileged: bool, out: &mut dyn std::io::Write) -> u8 {
    let pending: Vec<&Check> = checks.iter().filter(|c| c.pending()).collect();
    let manual = checks
        .iter()
        .filter(|c| c.status == Status::Differs && c.writes.is_empty());
    let _ = writeln!(out, "\napply:");
    let mut code = 0;
    if pending.is_empty() {
        let _ = writeln!(out, "  nothing to write");
    } else if !privileged {
        for check in &pending {
            for write in &check.writes {
                let _ = writeln!(
                    out,
                    "  needs root: {}: {}",
                    check.name,
                    describe(host, write)
                );
            }
        }
        let _ = writeln!(
            out,
            "  run `fjord tune --apply` as root to make these changes"
        );
        code = 1;
    } else {
        for check in &pending {
            for write in &check.writes {
                if !write_one(host, check, write, out) {
                    code = 1;
                }
            }
        }
        let _ = writeln!(
            out,
            "  these are runtime values and reset at reboot: install tuning/sysctl.d/99-fjord.conf \
             for the sysctls (see tuning/README.md for the rest)"
        );
    }
    for check in manual {
        let why = check.note.as_deref().unwrap_or("no automatic fix");
        let _ = writeln!(out, "  not changed: {}: {why}", check.name);
    }
    code
}

/// "write performance to /sys/.../scaling_governor (now powersave)".
fn describe(host: &Host, write: &Write) -> String {
    let now = host
        .read(&write.path)
        .map(|t| shown(&t))
        .unwrap_or_default();
    format!("write {} to {} (now {now})", write.value, write.path)
}

/// Writes one value and reports it; false if it failed or did not take.
fn write_one(host: &Host, check: &Check, write: &Write, out: &mut dyn std::io::Write) -> bool {
    let old = host
        .read(&write.path)
        .map(|t| shown(&t))
        .unwrap_or_default();
    if let Err(e) = host.write(&write.path, &write.value) {
        let _ = writeln!(
            out,
            "  failed: {}: writing {} to {}: {e}",
            check.name, write.value, write.path
        );
        return false;
    }
    let new = host
        .read(&write.path)
        .map(|t| shown(&t))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  changed {}: {old} → {new} ({})",
        check.name, write.path
    );
    if new != write.value {
        let _ = writeln!(out, "  warning: wrote {} but it reads {new}", write.value);
        return false;
    }
    true
}

/// The value a tunable file holds: the active word of a "[choice]" file, else the text.
fn shown(text: &str) -> String {
    match parse::choice(text) {
        Some(choice) if text.contains('[') => choice.active,
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{checks, Shards};
    use super::*;
    use std::fs;

    fn fake_host() -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("sys/devices/system/cpu/online", "0-1\n"),
            (
                "sys/kernel/mm/transparent_hugepage/enabled",
                "[always] madvise never\n",
            ),
            ("proc/sys/vm/swappiness", "60\n"),
            ("proc/sys/net/core/somaxconn", "8192\n"),
            ("sys/block/nvme0n1/queue/scheduler", "[mq-deadline] none\n"),
            ("sys/block/nvme0n1/queue/nomerges", "0\n"),
            ("sys/block/loop0/queue/scheduler", "[none] mq-deadline\n"),
        ];
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let host = Host::at(dir.path());
        (dir, host)
    }

    fn find<'a>(all: &'a [Check], name: &str) -> &'a Check {
        all.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn checks_on_a_fake_host() {
        let (_dir, host) = fake_host();
        let shards = Shards::resolve(&host, None).unwrap();
        assert_eq!(shards.cpus, [0, 1]);
        let all = checks(&host, &shards);
        assert_eq!(find(&all, "vm.swappiness").status, Status::Differs);
        assert_eq!(find(&all, "net.core.somaxconn").status, Status::Ok);
        assert_eq!(find(&all, "transparent hugepages").current, "always");
        assert_eq!(find(&all, "nvme0n1 scheduler").current, "mq-deadline");
        assert!(matches!(
            find(&all, "fs.aio-max-nr").status,
            Status::Unavailable(ref r) if r.starts_with("not present on this host")
        ));
        assert!(!all.iter().any(|c| c.name.contains("loop0")));
    }

    #[test]
    fn unprivileged_apply_writes_nothing() {
        let (_dir, host) = fake_host();
        let all = checks(&host, &Shards::resolve(&host, Some("1")).unwrap());
        let mut out = Vec::new();
        assert_eq!(apply(&host, &all, false, &mut out), 1);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("needs root: vm.swappiness: write 1 to /proc/sys/vm/swappiness (now 60)")
        );
        assert_eq!(host.read("/proc/sys/vm/swappiness").unwrap(), "60");
    }

    #[test]
    fn privileged_apply_writes_recommended_values() {
        let (_dir, host) = fake_host();
        let all = checks(&host, &Shards::resolve(&host, None).unwrap());
        let mut out = Vec::new();
        // Plain files keep what is written (no kernel turning "madvise" into
        // "always [madvise] never"), so the read-back of choice files matches.
        assert_eq!(apply(&host, &all, true, &mut out), 0);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("changed vm.swappiness: 60 → 1"), "{out}");
        assert!(
            out.contains("changed transparent hugepages: always → madvise"),
            "{out}"
        );
        assert!(
            out.contains("changed nvme0n1 scheduler: mq-deadline → none"),
            "{out}"
        );
        assert_eq!(host.read("/proc/sys/vm/swappiness").unwrap(), "1");
        assert_eq!(host.read("/sys/block/nvme0n1/queue/nomerges").unwrap(), "2");
        assert_eq!(host.read("/proc/sys/net/core/somaxconn").unwrap(), "8192");
    }
}
