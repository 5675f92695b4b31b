//! `fjord topic ...` and `fjord cluster status` run as a separate process
//! against a real broker: create, list, describe (text, JSON, paginated),
//! config overrides, cluster status, delete, and the error exits.

mod common;

use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Broker;
use serde_json::Value;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs the `fjord` binary with `args`, pointed at `bootstrap`.
fn fjord(bootstrap: &str, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(args)
        .args(["--bootstrap", bootstrap, "--timeout", "20"])
        .env("FJORD_LOG", "warn")
        .output()
        .expect("run fjord");
    Run {
        ok: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs a command that must succeed.
fn ok(bootstrap: &str, args: &[&str]) -> String {
    let run = fjord(bootstrap, args);
    assert!(
        run.ok,
        "fjord {args:?} failed\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn json(bootstrap: &str, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = ok(bootstrap, &args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Retries `check` for up to 10 s (metadata reaches every shard asynchronously).
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

fn described(bootstrap: &str, topic: &str, extra: &[&str]) -> Value {
    eventually(&format!("{topic} described"), || {
        let mut args = vec!["topic", "describe", topic, "--json"];
        args.extend_from_slice(extra);
        let run = fjord(bootstrap, &args);
        let value: Value = serde_json::from_str(&run.stdout).ok()?;
        (run.ok && value["partitions"].as_array()?.len() == 3).then_some(value)
    })
}

#[test]
fn topic_and_cluster_commands_against_a_broker() {
    let broker = Broker::start(&[]);
    let b = broker.bootstrap.as_str();

    // The broker registers itself through the quorum just after it starts.
    let status = eventually("the broker registered", || {
        let status = json(b, &["cluster", "status"]);
        (status["cluster"]["brokers"].as_array()?.len() == 1
            && status["quorum"]["leader_id"].as_i64().is_some())
        .then_some(status)
    });
    let brokers = status["cluster"]["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 1, "{status}");
    let node = brokers[0]["id"].as_i64().expect("broker id");
    assert!(!status["cluster"]["cluster_id"].as_str().unwrap().is_empty());
    assert_eq!(
        status["quorum"]["leader_id"].as_i64(),
        Some(node),
        "{status}"
    );
    assert!(status["quorum"]["high_watermark"].as_i64().unwrap() > 0);
    let text = ok(b, &["cluster", "status"]);
    assert!(
        text.contains("Metadata quorum (__cluster_metadata-0):"),
        "{text}"
    );

    let created = ok(
        b,
        &[
            "topic",
            "create",
            "t1",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
        ],
    );
    assert!(created.contains("Created topic t1"), "{created}");

    let listed = eventually("t1 listed", || {
        let out = ok(b, &["topic", "list"]);
        out.lines().any(|l| l.starts_with("t1 ")).then_some(out)
    });
    let row: Vec<&str> = listed
        .lines()
        .find(|l| l.starts_with("t1 "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row, ["t1", "3", "1"], "{listed}");
    let topics = json(b, &["topic", "list", "--internal"]);
    let t1 = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "t1")
        .expect("t1 in JSON list");
    assert_eq!(t1["partitions"], 3);
    assert_eq!(t1["replication_factor"], 1);

    // One partition per page exercises DescribeTopicPartitions' cursor.
    for extra in [&[][..], &["--page-size", "1"][..]] {
        let topic = described(b, "t1", extra);
        assert!(topic["topic_id"].as_str().is_some_and(|id| !id.is_empty()));
        for (i, p) in topic["partitions"].as_array().unwrap().iter().enumerate() {
            assert_eq!(p["partition"], i as i64, "{topic}");
            assert_eq!(p["leader"].as_i64(), Some(node), "{topic}");
            assert_eq!(p["replicas"], serde_json::json!([node]));
            assert_eq!(p["isr"], serde_json::json!([node]));
        }
        assert_eq!(topic["configs"], serde_json::json!({}));
    }
    let text = ok(b, &["topic", "describe", "t1"]);
    assert!(text.contains("Partitions (3):"), "{text}");

    // Config overrides are shown, defaults are not.
    ok(
        b,
        &[
            "topic",
            "create",
            "t2",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=123456",
        ],
    );
    let t2 = described(b, "t2", &[]);
    assert_eq!(
        t2["configs"],
        serde_json::json!({ "retention.ms": "123456" }),
        "{t2}"
    );

    let again = fjord(
        b,
        &[
            "topic",
            "create",
            "t1",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
        ],
    );
    assert!(!again.ok, "creating t1 twice succeeded: {}", again.stdout);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );

    let missing = fjord(b, &["topic", "describe", "no-such-topic"]);
    assert!(!missing.ok, "{}", missing.stdout);
    assert!(
        missing.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        missing.stderr
    );

    let deleted = ok(b, &["topic", "delete", "t1"]);
    assert!(deleted.contains("Deleted topic t1"), "{deleted}");
    eventually("t1 gone", || {
        (!fjord(b, &["topic", "describe", "t1"]).ok).then_some(())
    });
    let gone = fjord(b, &["topic", "delete", "t1"]);
    assert!(
        !gone.ok && gone.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        gone.stderr
    );

    // A dead bootstrap address is skipped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = ok(&format!("{dead},{b}"), &["topic", "list"]);
    assert!(out.contains("t2"), "{out}");
    let none = fjord(&dead, &["topic", "list"]);
    assert!(
        !none.ok && none.stderr.contains("no broker answered"),
        "{}",
        none.stderr
    );
}
