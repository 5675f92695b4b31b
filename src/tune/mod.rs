//! `fjord tune`: checks the host settings a thread-per-core, io_uring broker
//! depends on, and with `--apply` (as root) writes the recommended values.
//!
//! This module owns the check model (`Check`, `Status`), the shard set the
//! checks are judged against, and the top-level `run`. The checks themselves
//! live in `system` (sysctls, CPU, memory), `limits` (RLIMIT_MEMLOCK and
//! RLIMIT_NOFILE), `block` (disk queues) and `irq` (interrupt affinity);
//! `apply` writes, `report` prints, `host` reads /proc and /sys, `parse`
//! understands their formats. Everything but the limits (getrlimit) is read
//! from /proc and /sys; a missing file makes a check "unavailable", never an
//! error.

mod apply;
mod block;
mod host;
mod irq;
mod limits;
mod parse;
mod report;
mod system;

use std::path::PathBuf;

pub use host::Host;

/// What `fjord tune` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct TuneOptions {
    /// Write the recommended values (needs root on the real host).
    pub apply: bool,
    /// Print JSON instead of a table.
    pub json: bool,
    /// The shards fjord will run, as given to `fjord serve --cores`
    /// (default: one per online CPU).
    pub cores: Option<String>,
    /// Read and write /proc and /sys under this directory instead of "/"
    /// (for tests; no root needed there).
    pub root: Option<PathBuf>,
}

/// How the host compares with the recommendation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Differs,
    /// Could not be checked, and why.
    Unavailable(String),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Differs => "differs",
            Status::Unavailable(_) => "unavailable",
        }
    }
}

/// One host file `--apply` writes, and the value it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub value: String,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub current: String,
    pub recommended: String,
    pub status: Status,
    /// What `--apply` writes when the check differs.
    pub writes: Vec<Write>,
    /// Extra explanation; for a differing check without writes, why `--apply`
    /// leaves it alone and how to change it by hand.
    pub note: Option<String>,
}

impl Check {
    /// A check whose outcome is `ok`; `--apply` writes nothing unless given writes.
    pub fn new(name: &str, current: impl Into<String>, recommended: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            current: current.into(),
            recommended: recommended.into(),
            status: Status::Ok,
            writes: Vec::new(),
            note: None,
        }
    }

    pub fn unavailable(name: &str, recommended: impl Into<String>, reason: String) -> Check {
        Check {
            status: Status::Unavailable(reason),
            ..Check::new(name, "-", recommended)
        }
    }

    /// Marks the check as differing when `differs` is true.
    pub fn differs_if(mut self, differs: bool) -> Check {
        if differs {
            self.status = Status::Differs;
        }
        self
    }

    /// Adds a file `--apply` writes (only used when the check differs).
    pub fn write(mut self, path: &str, value: &str) -> Check {
        self.writes.push(Write {
            path: path.to_string(),
            value: value.to_string(),
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Check {
        self.note = Some(note.into());
        self
    }

    /// Whether `--apply` has something to write for this check.
    pub fn pending(&self) -> bool {
        self.status == Status::Differs && !self.writes.is_empty()
    }
}

/// The CPUs fjord's shards will run on, one entry per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shards {
    pub cpus: Vec<usize>,
    pub online: Vec<usize>,
}

impl Shards {
    /// Resolves `--cores` the way `fjord serve` does: a count takes the first
    /// online CPUs (wrapping if there are more shards than CPUs), a list is used as is.
    pub fn resolve(host: &Host, cores: Option<&str>) -> Result<Shards, String> {
        let online = host
            .read("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|text| parse::cpu_list(&text))
            .filter(|cpus| !cpus.is_empty())
            .unwrap_or_else(|| vec![0]);
        let spec = match cores {
            Some(text) => crate::config::parse_core_list(text).map_err(|e| e.to_string())?,
            None => crate::config::CoreSpec::Count(online.len()),
        };
        let cpus = match spec {
            crate::config::CoreSpec::Count(0) => return Err("--cores must be at least 1".into()),
            crate::config::CoreSpec::Count(n) => (0..n).map(|i| online[i % online.len()]).collect(),
            crate::config::CoreSpec::List(list) if list.is_empty() => {
                return Err("--cores: empty CPU list".into())
            }
            crate::config::CoreSpec::List(list) => list,
        };
        Ok(Shards { cpus, online })
    }

    /// Online CPUs no shard runs on.
    pub fn free_cpus(&self) -> Vec<usize> {
        let online = self.online.iter().copied();
        online.filter(|c| !self.cpus.contains(c)).collect()
    }
}

/// Runs every check against `host`.
pub fn checks(host: &Host, shards: &Shards) -> Vec<Check> {
    let mut all = system::cpu_checks(host);
    all.extend(system::memory_checks(host));
    all.extend(limits::checks(shards));
    all.extend(system::io_checks(host));
    all.extend(system::network_checks(host));
    all.extend(block::checks(host));
    all.extend(irq::checks(host, shards));
    all
}

/// `fjord tune`: returns the process exit code.
pub fn run(options: &TuneOptions) -> u8 {
    let host = options
        .root
        .clone()
        .map(Host::at)
        .unwrap_or_else(Host::real);
    let shards = match Shards::resolve(&host, options.cores.as_deref()) {
        Ok(shards) => shards,
        Err(e) => {
            eprintln!("fjord tune: {e}");
            return 2;
        }
    };
    let checks = checks(&host, &shards);
    if options.json {
        println!("{}", report::json(&checks, &shards));
    } else {
        print!("{}", report::table(&checks, &shards));
    }
    if !options.apply {
        return 0;
    }
    // Writes under a test root need no privilege; the real host's do.
    let privileged = options.root.is_some() || apply::is_root();
    // With --json, stdout stays pure JSON and the changes go to stderr.
    if options.json {
        apply::apply(&host, &checks, privileged, &mut std::io::stderr())
    } else {
        apply::apply(&host, &checks, privileged, &mut std::io::stdout())
    }
}
