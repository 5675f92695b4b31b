//! Starts the real `fjord` binary on an ephemeral port with a temp data dir.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Broker {
    child: Child,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start(extra: &[&str]) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("broker.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cores",
                "2",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start fjord");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read listening line");
        let bootstrap = line
            .strip_prefix("fjord listening on ")
            .unwrap_or_else(|| panic!("broker did not start: {line:?}"))
            .trim()
            .to_string();
        Broker {
            child,
            bootstrap,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
