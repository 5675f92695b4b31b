//! IRQ affinity of the NICs' and disks' interrupts. Report only: `--apply`
//! never moves interrupts (irqbalance may move them back, and kernel-managed
//! IRQs such as NVMe queue vectors refuse to move), it says how to do it.
//!
//! Interrupt handling steals time from whatever runs on the CPU that takes
//! it; for a shard that is a busy executor, so network and disk IRQs are best
//! on CPUs without a shard.

use std::fs;
use std::path::{Path, PathBuf};

use super::block;
use super::host::Host;
use super::parse::{self, Interrupt};
use super::{Check, Shards};

/// A device whose interrupts are checked.
struct Device {
    /// Interface or disk names sharing the device ("eth0", "nvme0n1 nvme0n2").
    label: String,
    /// The device's directory in /sys/devices (on disk).
    path: PathBuf,
    /// NVMe: per-CPU queue vectors whose affinity the kernel manages.
    managed: bool,
}

pub fn checks(host: &Host, shards: &Shards) -> Vec<Check> {
    let interrupts = match host.read("/proc/interrupts") {
        Ok(text) => parse::interrupts(&text),
        Err(e) => {
            let reason = e.reason("/proc/interrupts");
            return vec![Check::unavailable(
                "irq affinity",
                "not on shard cpus",
                reason,
            )];
        }
    };
    let devices = devices(host);
    if devices.is_empty() {
        let reason = "no NIC or disk with a device in /sys".to_string();
        return vec![Check::unavailable(
            "irq affinity",
            "not on shard cpus",
            reason,
        )];
    }
    devices
        .iter()
        .map(|d| device_check(host, shards, &interrupts, d))
        .collect()
}

/// NICs (/sys/class/net entries backed by a device; lo, bridges, ifb and the
/// like have none) and the disks `block` checks.
fn devices(host: &Host) -> Vec<Device> {
    let nics = host
        .list("/sys/class/net")
        .into_iter()
        .map(|n| (format!("/sys/class/net/{n}/device"), n, false));
    let disks = block::disks(host).into_iter().map(|d| {
        let managed = d.starts_with("nvme");
        (format!("/sys/block/{d}/device"), d, managed)
    });
    let mut devices: Vec<Device> = Vec::new();
    for (link, name, managed) in nics.chain(disks) {
        let Some(path) = host.resolve(&link) else {
            continue;
        };
        let path = irq_owner(&path).unwrap_or(path);
        match devices.iter_mut().find(|d| d.path == path) {
            Some(device) => device.label = format!("{} {name}", device.label),
            None => devices.push(Device {
                label: name,
                path,
                managed,
            }),
        }
    }
    devices
}

/// The device directory holding the interrupts: the given one or a close
/// ancestor (virtio devices and NVMe controllers sit below their PCI function).
fn irq_owner(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .take(4)
        .find(|p| p.join("msi_irqs").is_dir() || p.join("irq").is_file())
        .map(Path::to_path_buf)
}

/// The device's MSI/MSI-X vectors, or its legacy line IRQ.
fn device_irqs(path: &Path) -> Vec<u32> {
    let mut irqs: Vec<u32> = fs::read_dir(path.join("msi_irqs"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if irqs.is_empty() {
        let legacy = fs::read_to_string(path.join("irq")).unwrap_or_default();
        irqs.extend(legacy.trim().parse::<u32>().ok().filter(|&n| n != 0));
    }
    irqs.sort_unstable();
    irqs
}

/// The CPUs an IRQ is delivered to (effective affinity where the kernel reports it).
fn affinity(host: &Host, irq: u32) -> Option<Vec<usize>> {
    ["effective_affinity_list", "smp_affinity_list"]
        .iter()
        .find_map(|file| host.read(&format!("/proc/irq/{irq}/{file}")).ok())
        .and_then(|text| parse::cpu_list(&text))
}

fn device_check(host: &Host, shards: &Shards, interrupts: &[Interrupt], device: &Device) -> Check {
    let name = format!("irq affinity {}", device.label);
    let free = shards.free_cpus();
    let recommended = match (device.managed, free.is_empty()) {
        (true, _) => "kernel-managed per-cpu queues".to_string(),
        (false, false) => format!("cpus {} (no shard)", parse::format_cpu_list(&free)),
        (false, true) => "a cpu without a shard".to_string(),
    };
    let requested: Vec<u32> = device_irqs(&device.path)
        .into_iter()
        .filter(|irq| interrupts.iter().any(|i| i.irq == *irq))
        .collect();
    if requested.is_empty() {
        let reason = format!("no interrupts of {} in /proc/interrupts", device.label);
        return Check::unavailable(&name, recommended, reason);
    }
    let mut cpus: Vec<usize> = Vec::new();
    for irq in &requested {
        cpus.extend(affinity(host, *irq).unwrap_or_default());
    }
    let irq_list: Vec<usize> = requested.iter().map(|&i| i as usize).collect();
    let current = format!(
        "irqs {} on cpus {}",
        parse::format_cpu_list(&irq_list),
        parse::format_cpu_list(&cpus)
    );
    let check = Check::new(&name, current, recommended);
    if device.managed {
        return check.note(
            "NVMe queue interrupts are bound by the kernel to the CPUs that submit on each \
             queue; they complete I/O on the submitting shard and cannot be moved",
        );
    }
    let on_shards = cpus.iter().any(|c| shards.cpus.contains(c));
    if !on_shards {
        return check;
    }
    let advice = if free.is_empty() {
        "every online CPU runs a shard: leave some out of --cores for interrupts. "
    } else {
        ""
    };
    check.differs_if(true).note(format!(
        "{advice}fjord does not move IRQs; by hand: echo CPUS > /proc/irq/N/smp_affinity_list \
         for each IRQ, and keep irqbalance off them (--banirq or IRQBALANCE_BANNED_CPUS)"
    ))
}
