//! Access to the host's /proc and /sys files for `fjord tune`.
//!
//! Every path is taken relative to a root directory ("/" normally; a fake tree
//! in tests), so the checks can be exercised without touching the real host.
//! A missing file is an ordinary answer (`Missing`), never a panic.

use std::fs;
use std::io;
use std::path::PathBuf;

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file does not exist on this host (old kernel, no driver, VM, ...).
    Missing,
    /// The file exists but could not be read.
    Other(String),
}

impl ReadError {
    /// The text shown as the reason a check is unavailable.
    pub fn reason(&self, path: &str) -> String {
        match self {
            ReadError::Missing => format!("not present on this host ({path})"),
            ReadError::Other(e) => format!("cannot read {path}: {e}"),
        }
    }
}

/// The host's file system, seen from `root`.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The real host.
    pub fn real() -> Host {
        Host::at("/")
    }

    /// A host whose /proc and /sys live under `root`.
    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// The on-disk location of an absolute host path such as "/proc/sys/vm/swappiness".
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// The file's contents with surrounding whitespace removed.
    pub fn read(&self, host_path: &str) -> Result<String, ReadError> {
        match fs::read_to_string(self.path(host_path)) {
            Ok(text) => Ok(text.trim().to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ReadError::Missing),
            Err(e) => Err(ReadError::Other(e.to_string())),
        }
    }

    /// Whether the path exists.
    pub fn exists(&self, host_path: &str) -> bool {
        self.path(host_path).exists()
    }

    /// Names of the entries of a directory, sorted; empty if it is missing.
    pub fn list(&self, host_dir: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(host_dir))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| natural_cmp(a, b));
        names
    }

    /// The host path a symlink (e.g. /sys/class/net/eth0/device) resolves to,
    /// as a path under the root, if it resolves.
    pub fn resolve(&self, host_path: &str) -> Option<PathBuf> {
        fs::canonicalize(self.path(host_path)).ok()
    }

    /// Writes `value` to the file (which must already exist: kernel tunables do).
    pub fn write(&self, host_path: &str, value: &str) -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(host_path))?;
        io::Write::write_all(&mut file, value.as_bytes())
    }
}

/// Orders "cpu2" before "cpu10" and "35" before "100".
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head.to_string(), tail.parse::<u64>().ok())
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_and_missing_files() {
        let mut names = vec!["cpu10", "cpu2", "cpufreq", "cpu1"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["cpu1", "cpu2", "cpu10", "cpufreq"]);
        let dir = tempfile::tempdir().unwrap();
        let host = Host::at(dir.path());
        assert_eq!(
            host.read("/proc/sys/vm/swappiness"),
            Err(ReadError::Missing)
        );
        assert!(host.list("/sys/block").is_empty());
    }
}
