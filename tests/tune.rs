//! `fjord tune` through the real binary: check mode on this host (read only,
//! unprivileged), and check/apply against a fake /proc and /sys tree.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn fjord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(args)
        .output()
        .expect("run fjord")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every check appears by name, whatever this host offers (a missing file is
/// reported as unavailable, not skipped).
const CHECK_NAMES: [&str; 15] = [
    "cpu frequency governor",
    "clocksource",
    "transparent hugepages",
    "vm.swappiness",
    "vm.max_map_count",
    "RLIMIT_MEMLOCK",
    "RLIMIT_NOFILE",
    "fs.aio-max-nr",
    "kernel.io_uring_disabled",
    "kernel.io_uring_group",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.core.somaxconn",
    "scheduler",
    "irq affinity",
];

#[test]
fn check_mode_on_this_host_names_every_check() {
    let output = fjord(&["tune"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    for name in CHECK_NAMES {
        assert!(text.contains(name), "missing {name:?} in:\n{text}");
    }
    assert!(
        !text.contains("apply:"),
        "check mode must not apply:\n{text}"
    );
}

#[test]
fn json_output_names_every_check() {
    let output = fjord(&["tune", "--json", "--cores", "1"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(text.trim_start().starts_with('{') && text.trim_end().ends_with('}'));
    assert!(text.contains("\"shard_cpus\":[0]"), "{text}");
    for name in CHECK_NAMES {
        assert!(text.contains(name), "missing {name:?} in:\n{text}");
    }
}

#[test]
fn bad_cores_is_an_error() {
    let output = fjord(&["tune", "--cores", "0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

fn fake_root(root: &Path) {
    let files = [
        ("sys/devices/system/cpu/online", "0-3\n"),
        (
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "powersave\n",
        ),
        (
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "performance\n",
        ),
        ("proc/sys/vm/swappiness", "60\n"),
        ("proc/sys/vm/max_map_count", "65530\n"),
        ("proc/sys/fs/aio-max-nr", "65536\n"),
        ("sys/block/sda/queue/scheduler", "[bfq] mq-deadline none\n"),
        (
            "proc/interrupts",
            "           CPU0       CPU1\n 40:  5  0  PCI-MSI 1-edge  eth0\n",
        ),
        ("proc/irq/40/effective_affinity_list", "0\n"),
        ("sys/devices/pci0000:00/0000:00:03.0/msi_irqs/40", "msi\n"),
    ];
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::create_dir_all(root.join("sys/class/net/eth0")).unwrap();
    std::os::unix::fs::symlink(
        root.join("sys/devices/pci0000:00/0000:00:03.0"),
        root.join("sys/class/net/eth0/device"),
    )
    .unwrap();
}

#[test]
fn fake_host_check_then_apply() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    fake_root(dir.path());

    let output = fjord(&["tune", "--root", root, "--cores", "0-1"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(
        text.contains("powersave (cpus 0), performance (cpus 1)"),
        "{text}"
    );
    assert!(text.contains("irqs 40 on cpus 0"), "{text}");
    assert!(text.contains("cpus 2-3 (no shard)"), "{text}");
    assert!(text.contains("not present on this host (/proc/sys/net/core/somaxconn)"));
    // Check mode wrote nothing.
    let swappiness = dir.path().join("proc/sys/vm/swappiness");
    assert_eq!(fs::read_to_string(&swappiness).unwrap(), "60\n");

    let output = fjord(&["tune", "--root", root, "--cores", "0-1", "--apply"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("changed vm.swappiness: 60 → 1"), "{text}");
    assert!(
        text.contains("changed vm.max_map_count: 65530 → 262144"),
        "{text}"
    );
    assert!(
        text.contains("changed fs.aio-max-nr: 65536 → 1048576"),
        "{text}"
    );
    assert!(
        text.contains("changed sda scheduler: bfq → mq-deadline"),
        "{text}"
    );
    assert!(text.contains("changed cpu frequency governor: powersave → performance"));
    assert!(text.contains("not changed: irq affinity eth0"), "{text}");
    assert_eq!(fs::read_to_string(&swappiness).unwrap(), "1");
    let governor = "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor";
    assert_eq!(
        fs::read_to_string(dir.path().join(governor)).unwrap(),
        "performance"
    );
}
