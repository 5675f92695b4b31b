//! The process's file descriptors: how many are open and the soft
//! RLIMIT_NOFILE, named after the Prometheus process collector's
//! `process_open_fds` and `process_max_fds` with fjord's prefix.
//!
//! Read when the endpoint renders, not at each shard's flush: only scrapes
//! need them. Must not: list /proc/self/fd on a kernel that reports its
//! count directly (see `descriptors::open_count`).

use prometheus::{IntGauge, Opts, Registry};

pub struct ProcessGauges {
    open_fds: IntGauge,
    max_fds: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::with_opts(Opts::new(name, help)).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl ProcessGauges {
    pub(super) fn new(registry: &Registry) -> ProcessGauges {
        ProcessGauges {
            open_fds: gauge(
                registry,
                "fjord_open_fds",
                "File descriptors open in the broker process (sockets, segment and index files, pipes, rings)",
            ),
            max_fds: gauge(
                registry,
                "fjord_max_fds",
                "The soft RLIMIT_NOFILE (raised to the hard limit at start; -1: unlimited)",
            ),
        }
    }

    /// Reads both values now; one that cannot be read keeps its last value.
    pub(super) fn refresh(&self) {
        match crate::descriptors::open_count() {
            Ok(count) => self.open_fds.set(count as i64),
            Err(e) => tracing::debug!("counting open descriptors: {e}"),
        }
        if let Some(limit) = crate::descriptors::get_limit(libc::RLIMIT_NOFILE) {
            let soft = limit.soft.map_or(-1, |s| s.min(i64::MAX as u64) as i64);
            self.max_fds.set(soft);
        }
    }
}
