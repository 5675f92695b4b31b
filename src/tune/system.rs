//! Host-wide checks: CPU frequency governor, clocksource, transparent
//! hugepages, swappiness, the memory-map count, AIO and io_uring limits and
//! the network buffer/backlog sysctls. (Process limits are in `limits`.)

use super::host::Host;
use super::parse;
use super::Check;

pub fn cpu_checks(host: &Host) -> Vec<Check> {
    vec![governor(host), clocksource(host)]
}

pub fn memory_checks(host: &Host) -> Vec<Check> {
    vec![
        transparent_hugepages(host),
        sysctl(host, "vm.swappiness", Want::AtMost(1)),
        // Index files are memory-mapped, two per segment: the kernel's
        // default of 65530 maps would cap a node near 30,000 segments.
        sysctl(host, "vm.max_map_count", Want::AtLeast(262_144)),
    ]
}

pub fn io_checks(host: &Host) -> Vec<Check> {
    vec![
        sysctl(host, "fs.aio-max-nr", Want::AtLeast(1_048_576)),
        sysctl(host, "kernel.io_uring_disabled", Want::AtMost(0)),
        io_uring_group(host),
    ]
}

pub fn network_checks(host: &Host) -> Vec<Check> {
    vec![
        sysctl(host, "net.core.rmem_max", Want::AtLeast(16_777_216)),
        sysctl(host, "net.core.wmem_max", Want::AtLeast(16_777_216)),
        sysctl(host, "net.core.somaxconn", Want::AtLeast(4096)),
    ]
}

/// A numeric sysctl's acceptable range; `--apply` writes the bound.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    AtLeast(u64),
    AtMost(u64),
}

pub fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

pub fn sysctl(host: &Host, key: &str, want: Want) -> Check {
    let path = sysctl_path(key);
    let (bound, recommended) = match want {
        Want::AtLeast(n) => (n, format!(">= {n}")),
        Want::AtMost(n) => (n, n.to_string()),
    };
    let text = match host.read(&path) {
        Ok(text) => text,
        Err(e) => return Check::unavailable(key, recommended, e.reason(&path)),
    };
    let Ok(value) = text.parse::<u64>() else {
        let reason = format!("unexpected value {text:?} in {path}");
        return Check::unavailable(key, recommended, reason);
    };
    let ok = match want {
        Want::AtLeast(n) => value >= n,
        Want::AtMost(n) => value <= n,
    };
    Check::new(key, text, recommended)
        .differs_if(!ok)
        .write(&path, &bound.to_string())
}

/// kernel.io_uring_group only matters when kernel.io_uring_disabled is 1
/// (io_uring then limited to CAP_SYS_ADMIN and this group).
fn io_uring_group(host: &Host) -> Check {
    const KEY: &str = "kernel.io_uring_group";
    let path = sysctl_path(KEY);
    let recommended = "any (used only if io_uring_disabled = 1)";
    let group = match host.read(&path) {
        Ok(text) => text,
        Err(e) => return Check::unavailable(KEY, recommended, e.reason(&path)),
    };
    let disabled = host.read(&sysctl_path("kernel.io_uring_disabled"));
    if disabled.as_deref() != Ok("1") {
        return Check::new(KEY, group, recommended);
    }
    Check::new(
        KEY,
        group,
        "the fjord user's group, or io_uring_disabled = 0",
    )
    .differs_if(true)
    .note(
        "io_uring is limited to root and this group: set kernel.io_uring_disabled = 0 \
             (fjord tune --apply does), or put the broker's user in this group",
    )
}

/// Every CPU's cpufreq governor should be "performance": frequency ramp-up
/// after idle adds latency to a busy-polling executor.
fn governor(host: &Host) -> Check {
    const NAME: &str = "cpu frequency governor";
    let cpus: Vec<String> = host
        .list("/sys/devices/system/cpu")
        .into_iter()
        .filter(|n| n.strip_prefix("cpu").is_some_and(is_number))
        .collect();
    let mut by_governor: Vec<(String, Vec<usize>)> = Vec::new();
    let mut check = Check::new(NAME, "", "performance");
    for cpu in &cpus {
        let path = format!("/sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor");
        let Ok(governor) = host.read(&path) else {
            continue;
        };
        let id = cpu[3..].parse().unwrap_or(0);
        match by_governor.iter_mut().find(|(g, _)| *g == governor) {
            Some((_, ids)) => ids.push(id),
            None => by_governor.push((governor.clone(), vec![id])),
        }
        if governor != "performance" && offers_performance(host, cpu) {
            check = check.write(&path, "performance");
        }
    }
    if by_governor.is_empty() {
        let path = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor";
        let reason = format!("not present on this host ({path}; no cpufreq driver, common in VMs)");
        return Check::unavailable(NAME, "performance", reason);
    }
    let differs = by_governor.iter().any(|(g, _)| g != "performance");
    check.current = describe_groups(&by_governor);
    if differs && check.writes.is_empty() {
        check = check.note("the cpufreq driver does not offer the performance governor");
    }
    check.differs_if(differs)
}

fn offers_performance(host: &Host, cpu: &str) -> bool {
    let path = format!("/sys/devices/system/cpu/{cpu}/cpufreq/scaling_available_governors");
    match host.read(&path) {
        Ok(text) => text.split_whitespace().any(|g| g == "performance"),
        // Not every driver lists them; trying the write is harmless.
        Err(_) => true,
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// "performance" or "powersave (cpus 0-3), performance (cpus 4-7)".
fn describe_groups(groups: &[(String, Vec<usize>)]) -> String {
    if let [(value, _)] = groups {
        return value.clone();
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(value, cpus)| format!("{value} (cpus {})", parse::format_cpu_list(cpus)))
        .collect();
    parts.join(", ")
}

/// tsc is the cheapest clock to read (no syscall, no hypervisor exit) when
/// the kernel trusts it enough to list it.
fn clocksource(host: &Host) -> Check {
    const NAME: &str = "clocksource";
    const DIR: &str = "/sys/devices/system/clocksource/clocksource0";
    let current_path = format!("{DIR}/current_clocksource");
    let current = match host.read(&current_path) {
        Ok(text) => text,
        Err(e) => return Check::unavailable(NAME, "tsc", e.reason(&current_path)),
    };
    let available = host
        .read(&format!("{DIR}/available_clocksource"))
        .unwrap_or_default();
    if current == "tsc" {
        return Check::new(NAME, current, "tsc");
    }
    if !available.split_whitespace().any(|c| c == "tsc") {
        let recommended =
            format!("tsc (not offered here: available {available:?}; keep {current})");
        return Check::new(NAME, current, recommended);
    }
    Check::new(NAME, current, "tsc")
        .differs_if(true)
        .write(&current_path, "tsc")
}

/// "madvise": only memory that asks for huge pages gets them. With "always",
/// page faults anywhere may stall on compaction and khugepaged rewrites
/// memory in the background; "never" is equally fine for fjord.
fn transparent_hugepages(host: &Host) -> Check {
    const NAME: &str = "transparent hugepages";
    const PATH: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
    let recommended = "madvise (or never)";
    let text = match host.read(PATH) {
        Ok(text) => text,
        Err(e) => return Check::unavailable(NAME, recommended, e.reason(PATH)),
    };
    let Some(choice) = parse::choice(&text) else {
        let reason = format!("unexpected value {text:?} in {PATH}");
        return Check::unavailable(NAME, recommended, reason);
    };
    let ok = choice.active == "madvise" || choice.active == "never";
    Check::new(NAME, choice.active, recommended)
        .differs_if(!ok)
        .write(PATH, "madvise")
}
