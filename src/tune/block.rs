//! Block device queue checks: the I/O scheduler and request merging of each
//! real disk in /sys/block. Loop, RAM, zram and stacked (dm, md) devices are
//! skipped: their I/O lands on a real disk that is checked itself.

use super::host::Host;
use super::parse;
use super::Check;

/// Prefixes of /sys/block names that are not physical (or virtual-machine) disks.
const SKIPPED: [&str; 8] = ["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"];

/// How a disk should be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    /// NVMe or virtio-blk: deep hardware queues, no scheduler, no merging.
    Fast,
    /// SATA/SAS/SD and the rest: a light scheduler (mq-deadline) or none.
    Other,
}

pub fn kind(name: &str) -> DiskKind {
    if name.starts_with("nvme") || name.starts_with("vd") {
        DiskKind::Fast
    } else {
        DiskKind::Other
    }
}

/// The real disks in /sys/block that have a request queue scheduler.
pub fn disks(host: &Host) -> Vec<String> {
    host.list("/sys/block")
        .into_iter()
        .filter(|name| !SKIPPED.iter().any(|p| name.starts_with(p)))
        .filter(|name| host.exists(&format!("/sys/block/{name}/queue/scheduler")))
        .collect()
}

pub fn checks(host: &Host) -> Vec<Check> {
    let disks = disks(host);
    if disks.is_empty() {
        let reason = "no NVMe, virtio, SCSI or SATA disks in /sys/block".to_string();
        return vec![Check::unavailable("block scheduler", "none", reason)];
    }
    let mut all = Vec::new();
    for disk in disks {
        all.push(scheduler(host, &disk));
        if kind(&disk) == DiskKind::Fast {
            all.push(nomerges(host, &disk));
        }
    }
    all
}

/// NVMe and virtio disks reorder nothing a scheduler could improve on; the
/// scheduler only costs CPU. Other disks get mq-deadline (or none).
fn scheduler(host: &Host, disk: &str) -> Check {
    let name = format!("{disk} scheduler");
    let path = format!("/sys/block/{disk}/queue/scheduler");
    let (want, recommended) = match kind(disk) {
        DiskKind::Fast => ("none", "none"),
        DiskKind::Other => ("mq-deadline", "mq-deadline (or none)"),
    };
    let text = match host.read(&path) {
        Ok(text) => text,
        Err(e) => return Check::unavailable(&name, recommended, e.reason(&path)),
    };
    let Some(choice) = parse::choice(&text) else {
        let reason = format!("unexpected value {text:?} in {path}");
        return Check::unavailable(&name, recommended, reason);
    };
    let ok = choice.active == want || (kind(disk) == DiskKind::Other && choice.active == "none");
    let check = Check::new(&name, choice.active.clone(), recommended).differs_if(!ok);
    if choice.offers(want) {
        check.write(&path, want)
    } else {
        check.note(format!("the kernel does not offer {want} for {disk}"))
    }
}

/// nomerges = 2: do not try to merge requests at all. fjord writes large
/// aligned blocks itself, so merge attempts are CPU spent for nothing.
fn nomerges(host: &Host, disk: &str) -> Check {
    let name = format!("{disk} nomerges");
    let path = format!("/sys/block/{disk}/queue/nomerges");
    match host.read(&path) {
        Ok(text) => Check::new(&name, text.clone(), "2")
            .differs_if(text != "2")
            .write(&path, "2"),
        Err(e) => Check::unavailable(&name, "2", e.reason(&path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_kinds() {
        assert_eq!(kind("nvme0n1"), DiskKind::Fast);
        assert_eq!(kind("vda"), DiskKind::Fast);
        assert_eq!(kind("sda"), DiskKind::Other);
        assert_eq!(kind("mmcblk0"), DiskKind::Other);
    }
}
