//! `fjord cluster ...` and `fjord topic ...`: operator commands that speak
//! the Kafka protocol to any broker (fjord or Kafka), for hosts without
//! Kafka's Java tools.
//!
//! `client` is a small synchronous Kafka client (framing, version
//! negotiation, errors); `status` implements `cluster status`, `topic` the
//! `topic list|create|delete` commands and `describe` `topic describe`
//! (with `lag`, each replica's lag from every broker's DescribeLogDirs).
//! Every command prints text by default and JSON with `--json`, and exits
//! non-zero when the broker could not be reached or answered with an error.

pub mod client;
mod describe;
mod lag;
mod status;
mod topic;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use client::{Client, ClientError};

/// How to reach the cluster and how to print; accepted before or after the
/// subcommand.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// A broker to ask, HOST:PORT. Repeatable or comma-separated; each is
    /// tried in turn until one answers.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT"
    )]
    pub bootstrap: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the broker (connecting, and each admin operation).
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

impl ConnectArgs {
    /// Connects to the first bootstrap broker that answers. The socket waits
    /// a little longer than the operation timeout sent to the broker, so the
    /// broker's own timeout error arrives rather than a read timeout.
    fn connect(&self) -> Result<Client, Failure> {
        let wait = Duration::from_secs(self.timeout.max(1)) + Duration::from_secs(5);
        Ok(Client::connect_any(&self.bootstrap, wait)?)
    }

    /// The operation timeout sent in admin requests, in milliseconds.
    fn timeout_ms(&self) -> i32 {
        self.timeout.saturating_mul(1000).min(i32::MAX as u64) as i32
    }
}

/// `fjord cluster ...`
#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Cluster id, controller and brokers (DescribeCluster), and the metadata
    /// quorum's leader, epoch, high watermark and voter lag (DescribeQuorum).
    Status,
}

/// `fjord topic ...`
#[derive(Args, Debug)]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Subcommand, Debug)]
enum TopicCommand {
    /// Every topic with its partition count and replication factor.
    List {
        /// Include internal topics (names starting with "__").
        #[arg(long)]
        internal: bool,
    },
    /// One topic's partitions (leader, epoch, replicas, ISR), id and config overrides.
    Describe {
        /// The topic.
        name: String,
        /// Partitions per DescribeTopicPartitions page.
        #[arg(long, default_value_t = 2000, hide = true)]
        page_size: i32,
    },
    /// Create a topic.
    Create {
        /// The topic.
        name: String,
        /// Number of partitions (default: the broker's num.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replicas per partition (default: the broker's default.replication.factor).
        #[arg(long)]
        replication_factor: Option<i16>,
        /// A topic config, e.g. --config retention.ms=3600000 (repeatable).
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        /// The topic.
        name: String,
    },
}

/// Runs `fjord cluster ...`.
pub fn run_cluster(args: ClusterArgs) -> ExitCode {
    let connect = &args.connect;
    finish(match args.command {
        ClusterCommand::Status => status::run(connect),
    })
}

/// Runs `fjord topic ...`.
pub fn run_topic(args: TopicArgs) -> ExitCode {
    let connect = &args.connect;
    finish(match args.command {
        TopicCommand::List { internal } => topic::list(connect, internal),
        TopicCommand::Describe { name, page_size } => describe::run(connect, &name, page_size),
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => topic::create(
            connect,
            &topic::NewTopic {
                name,
                partitions: partitions.unwrap_or(-1),
                replication_factor: replication_factor.unwrap_or(-1),
                configs,
            },
        ),
        TopicCommand::Delete { name } => topic::delete(connect, &name),
    })
}

/// Why a command failed, printed to stderr as `fjord: ...`.
#[derive(Debug)]
struct Failure(String);

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure(e)
    }
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("fjord: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("fjord: cannot render JSON: {e}"),
    }
}

/// A section of output that may have failed on its own; renders as the value,
/// or as `{"error": "..."}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Section<T> {
    Ok(T),
    Failed { error: String },
}

impl<T> Section<T> {
    fn from_result(result: Result<T, ClientError>) -> Section<T> {
        match result {
            Ok(value) => Section::Ok(value),
            Err(e) => Section::Failed {
                error: e.to_string(),
            },
        }
    }

    fn error(&self) -> Option<&str> {
        match self {
            Section::Ok(_) => None,
            Section::Failed { error } => Some(error),
        }
    }
}

/// Left-aligned columns, two spaces apart, each line indented by `indent`.
fn table(indent: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::from(indent);
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A list of broker ids as `1,2,3`.
fn ids(list: &[i32]) -> String {
    list.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let rows = vec![
            vec!["1".to_string(), "host:9092".to_string()],
            vec!["10".to_string(), "h:1".to_string()],
        ];
        assert_eq!(
            table("  ", &["ID", "ADDRESS"], &rows),
            "  ID  ADDRESS\n  1   host:9092\n  10  h:1\n"
        );
    }

    #[test]
    fn section_json() {
        let ok: Section<u32> = Section::Ok(3);
        let failed: Section<u32> = Section::from_result(Err(ClientError::Closed));
        assert_eq!(serde_json::to_string(&ok).unwrap(), "3");
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"error":"connection closed by the broker"}"#
        );
    }
}
