//! fjord-perf: an end-to-end load generator for any Kafka-compatible
//! bootstrap address (fjord, Apache Kafka, Redpanda) built on librdkafka (the
//! rdkafka crate). It runs a TOML workload (perf/workloads/) and reports
//! throughput, publish and end-to-end latency percentiles and, given the
//! broker's pid, its CPU-seconds per GB; `compare` runs one workload against
//! two addresses and prints the ratios. See perf/fjord_perf/README.md.
//!
//! `cargo run --release --example fjord-perf -- run --workload W --bootstrap ADDR`

mod admin;
mod client;
mod consumer;
mod cpu;
mod plot;
mod producer;
mod report;
mod runner;
mod stats;
mod workers;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use runner::Target;
use workload::{Overrides, Workload};

#[derive(Parser)]
#[command(
    name = "fjord-perf",
    about = "Load generator for Kafka-compatible brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Workload file (TOML), e.g. perf/workloads/1-max-throughput.toml.
    #[arg(long)]
    workload: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
    /// Use the workload's topic name as is (default: add a per-run suffix).
    #[arg(long)]
    reuse_topic: bool,
    /// Keep the topic after the run (default: delete it).
    #[arg(long)]
    keep_topic: bool,
    /// Replication factor of the created topic.
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,
    /// Write the result as JSON to this file.
    #[arg(long)]
    out: Option<String>,
    /// Write an HTML page of SVG charts to this file.
    #[arg(long)]
    plot: Option<String>,
    /// A librdkafka setting for every client, e.g.
    /// --client-config security.protocol=SASL_SSL (repeatable).
    #[arg(long = "client-config", value_name = "NAME=VALUE")]
    client_config: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload against one broker.
    Run {
        #[command(flatten)]
        common: Common,
        /// Bootstrap address, e.g. 127.0.0.1:9092.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// The broker's process id (same machine): report its CPU-s per GB.
        #[arg(long)]
        broker_pid: Option<u32>,
    },
    /// Run a workload against A, then against B, and print the ratios B/A.
    Compare {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        a: String,
        #[arg(long)]
        b: String,
        #[arg(long)]
        a_pid: Option<u32>,
        #[arg(long)]
        b_pid: Option<u32>,
    },
}

fn target(common: &Common, bootstrap: &str, pid: Option<u32>) -> Target {
    Target {
        bootstrap: bootstrap.to_string(),
        broker_pid: pid,
        reuse_topic: common.reuse_topic,
        keep_topic: common.keep_topic,
        replication_factor: common.replication_factor,
    }
}

fn load(common: &Common) -> Result<Workload, String> {
    client::set_extra(&common.client_config)?;
    let mut w = Workload::load(&common.workload)?;
    w.apply(&common.overrides)?;
    Ok(w)
}

fn write_plot(path: &Option<String>, runs: &[(&str, &runner::RunResult)]) -> Result<(), String> {
    if let Some(path) = path {
        std::fs::write(path, plot::html(runs)).map_err(|e| format!("{path}: {e}"))?;
        eprintln!("plot written to {path}");
    }
    Ok(())
}

fn main_result() -> Result<(), String> {
    match Cli::parse().command {
        Command::Run {
            common,
            bootstrap,
            broker_pid,
        } => {
            let w = load(&common)?;
            let result = runner::run(&target(&common, &bootstrap, broker_pid), &w)?;
            print!("{}", report::summary(&result));
            if let Some(out) = &common.out {
                report::write_json(out, &result)?;
                eprintln!("result written to {out}");
            }
            write_plot(&common.plot, &[("run", &result)])
        }
        Command::Compare {
            common,
            a,
            b,
            a_pid,
            b_pid,
        } => {
            let w = load(&common)?;
            let ra = runner::run(&target(&common, &a, a_pid), &w)?;
            let rb = runner::run(&target(&common, &b, b_pid), &w)?;
            print!("{}", report::summary(&ra));
            print!("{}", report::summary(&rb));
            let c = report::compare(ra, rb);
            print!("{}", report::comparison_table(&c));
            if let Some(out) = &common.out {
                report::write_json(out, &c)?;
                eprintln!("comparison written to {out}");
            }
            write_plot(&common.plot, &[("a", &c.a), ("b", &c.b)])
        }
    }
}

fn main() -> ExitCode {
    match main_result() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fjord-perf: {e}");
            ExitCode::FAILURE
        }
    }
}
