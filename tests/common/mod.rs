//! Starts the real `fjord` binary on an ephemeral port with a temp data dir.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Broker {
    child: Child,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
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

#[allow(dead_code)]
/// A free port on loopback (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[allow(dead_code)]
/// Nodes 1..=n, each a broker and a controller with one core, on their own
/// ports and data dirs; dropped together.
pub struct Cluster {
    pub nodes: Vec<Broker>,
}

#[allow(dead_code)]
impl Cluster {
    pub fn start(n: usize) -> Cluster {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect();
        let voters = format!("controller.quorum.voters={}", voters.join(","));
        let spawned: Vec<(Child, tempfile::TempDir)> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cport))| spawn_node(i + 1, *port, *cport, &voters))
            .collect();
        let nodes = spawned
            .into_iter()
            .map(|(mut child, dir)| {
                let bootstrap = wait_listening(&mut child);
                Broker {
                    child,
                    bootstrap,
                    _dir: dir,
                }
            })
            .collect();
        Cluster { nodes }
    }

    /// Every node's address, comma separated.
    pub fn bootstrap(&self) -> String {
        let all: Vec<&str> = self.nodes.iter().map(|b| b.bootstrap.as_str()).collect();
        all.join(",")
    }
}

#[allow(dead_code)]
fn spawn_node(id: usize, port: u16, cport: u16, voters: &str) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::File::create(dir.path().join("broker.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(["serve", "--cores", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--controller-listen")
        .arg(format!("127.0.0.1:{cport}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--set", &format!("node.id={id}"), "--set", voters])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start fjord");
    (child, dir)
}

#[allow(dead_code)]
/// Reads stdout up to the line naming the Kafka listener.
fn wait_listening(child: &mut Child) -> String {
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "node exited before listening");
        if let Some(addr) = line.strip_prefix("fjord listening on ") {
            return addr.trim().to_string();
        }
    }
}
