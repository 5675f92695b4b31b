//! Parsers for the text formats `fjord tune` reads from /proc and /sys, and
//! the small formatters it prints with. Pure functions, unit-tested on real
//! kernel output.

/// A sysfs "choice" file such as `always [madvise] never` or
/// `none [mq-deadline] kyber bfq`: the bracketed (active) word and every word
/// offered. A single bare word (e.g. `none`) is both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub active: String,
    pub offered: Vec<String>,
}

impl Choice {
    pub fn offers(&self, word: &str) -> bool {
        self.offered.iter().any(|w| w == word)
    }
}

pub fn choice(text: &str) -> Option<Choice> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let active = words
        .iter()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .or(match words.as_slice() {
            [only] => Some(*only),
            _ => None,
        })?;
    let offered = words
        .iter()
        .map(|w| w.trim_matches(['[', ']']).to_string())
        .collect();
    Some(Choice {
        active: active.to_string(),
        offered,
    })
}

/// A kernel CPU list such as `0-3,8,10-11` (as in /sys/devices/system/cpu/online
/// and /proc/irq/N/smp_affinity_list). Sorted, without duplicates.
pub fn cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for piece in text.trim().split(',').filter(|p| !p.is_empty()) {
        match piece.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(piece.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The inverse of [`cpu_list`]: `[0, 1, 2, 5]` → `0-2,5`.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(match sorted[i] {
            end if end == start => start.to_string(),
            end => format!("{start}-{end}"),
        });
        i += 1;
    }
    parts.join(",")
}

/// One numbered line of /proc/interrupts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt {
    pub irq: u32,
    /// Interrupts handled by each CPU column.
    pub per_cpu: Vec<u64>,
    /// Everything after the counts (chip, hardware IRQ, trigger, device names),
    /// with runs of spaces collapsed.
    pub description: String,
}

/// The numbered IRQ lines of /proc/interrupts; summary rows (NMI, LOC, ...) are skipped.
pub fn interrupts(text: &str) -> Vec<Interrupt> {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .map(|header| header.split_whitespace().count())
        .unwrap_or(0);
    lines.filter_map(|line| interrupt(line, cpus)).collect()
}

fn interrupt(line: &str, cpus: usize) -> Option<Interrupt> {
    let (label, rest) = line.trim_start().split_once(':')?;
    let irq = label.parse().ok()?;
    let mut words = rest.split_whitespace().peekable();
    let mut per_cpu = Vec::with_capacity(cpus);
    while per_cpu.len() < cpus {
        match words.peek().and_then(|w| w.parse::<u64>().ok()) {
            Some(n) => {
                per_cpu.push(n);
                words.next();
            }
            None => break,
        }
    }
    let description = words.collect::<Vec<_>>().join(" ");
    Some(Interrupt {
        irq,
        per_cpu,
        description,
    })
}

/// A byte count for humans: `65536` → `64 KiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while unit + 1 < UNITS.len() && value >= 1024 && value.is_multiple_of(1024) {
        value /= 1024;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thp_choice() {
        let c = choice("always [madvise] never\n").unwrap();
        assert_eq!(c.active, "madvise");
        assert_eq!(c.offered, ["always", "madvise", "never"]);
        assert_eq!(choice("[always] madvise never").unwrap().active, "always");
    }

    #[test]
    fn scheduler_choice() {
        let c = choice("[mq-deadline] none").unwrap();
        assert_eq!(c.active, "mq-deadline");
        assert!(c.offers("none"));
        let c = choice("none [mq-deadline] kyber bfq").unwrap();
        assert_eq!(c.active, "mq-deadline");
        assert_eq!(c.offered.len(), 4);
        assert_eq!(
            choice("[none] mq-deadline kyber bfq").unwrap().active,
            "none"
        );
        // Devices without a blk-mq elevator show a bare "none".
        assert_eq!(choice("none").unwrap().active, "none");
        assert_eq!(choice("none mq-deadline"), None);
        assert_eq!(choice(""), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-3,8,10-11\n").unwrap(), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list("5").unwrap(), [5]);
        assert_eq!(cpu_list("").unwrap(), Vec::<usize>::new());
        assert_eq!(cpu_list("3-1"), None);
        assert_eq!(cpu_list("x"), None);
        assert_eq!(format_cpu_list(&[5, 0, 1, 2, 8, 9]), "0-2,5,8-9");
        assert_eq!(format_cpu_list(&[]), "");
    }

    const INTERRUPTS: &str = "\
           CPU0       CPU1       CPU2       CPU3
  0:         12          0          0          0   IO-APIC   2-edge      timer
  9:          0          4          0          0   IO-APIC   9-fasteoi   acpi
 16:          0          0          0          0   IO-APIC  16-fasteoi   ehci_hcd:usb1, uhci_hcd:usb2
124:     118532          0          0          0  IR-PCI-MSI 524288-edge      nvme0q0
125:    4417791          0          0          0  IR-PCI-MSIX-0000:01:00.0    1-edge      nvme0q1
 36:          0      17288          0          0  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
140:          0          0       9933          0  IR-PCI-MSI 1572864-edge      enp3s0-TxRx-2
NMI:          0          0          0          0   Non-maskable interrupts
LOC:     149462     192881     100001     100002   Local timer interrupts
ERR:          0
MIS:          0
";

    #[test]
    fn proc_interrupts() {
        let irqs = interrupts(INTERRUPTS);
        assert_eq!(irqs.len(), 7);
        assert_eq!(irqs[0].irq, 0);
        assert_eq!(irqs[0].per_cpu, [12, 0, 0, 0]);
        assert_eq!(irqs[0].description, "IO-APIC 2-edge timer");
        assert_eq!(
            irqs[2].description,
            "IO-APIC 16-fasteoi ehci_hcd:usb1, uhci_hcd:usb2"
        );
        let nvme = &irqs[4];
        assert_eq!(nvme.irq, 125);
        assert_eq!(nvme.description, "IR-PCI-MSIX-0000:01:00.0 1-edge nvme0q1");
        assert_eq!(nvme.per_cpu, [4417791, 0, 0, 0]);
        assert!(irqs[5].description.ends_with(" virtio1-req.0"));
        assert_eq!(irqs[6].per_cpu[2], 9933);
        assert_eq!(irqs[6].description, "IR-PCI-MSI 1572864-edge enp3s0-TxRx-2");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(format_bytes(65536), "64 KiB");
        assert_eq!(format_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_bytes(0), "0 B");
    }
}
