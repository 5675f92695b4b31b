//! The `fjord` command line: `fjord serve` runs the broker, `fjord tune` checks the host,
//! `fjord cluster` and `fjord topic` administer a running cluster over the Kafka protocol.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fjord::config::listeners::{self, ListenerSpec};
use fjord::config::{parse_core_list, BrokerConfig, CoreSpec};
use fjord::shard::runtime::{serve, ServeOptions};

#[derive(Parser)]
#[command(name = "fjord", version, about = "Kafka-compatible message broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// Check host settings (CPU governor, IRQs, THP, sysctls, disk queues, memlock, open files).
    Tune(TuneArgs),
    /// Inspect a running cluster: `fjord cluster status`.
    Cluster(fjord::admin_cli::ClusterArgs),
    /// List, describe, create and delete topics on a running cluster.
    Topic(fjord::admin_cli::TopicArgs),
}

#[derive(clap::Args)]
struct TuneArgs {
    /// Write the recommended values where they differ (needs root).
    #[arg(long)]
    apply: bool,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
    /// The shards fjord will run, as for `serve --cores` (default: one per online CPU).
    #[arg(long)]
    cores: Option<String>,
    /// Read /proc and /sys under this directory instead of / (testing).
    #[arg(long, hide = true)]
    root: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address of one PLAINTEXT listener for Kafka clients (port 0 picks a
    /// free port). Default 127.0.0.1:9092; the `listeners` setting instead
    /// configures several, with security protocols.
    #[arg(long)]
    listen: Option<String>,
    /// host:port clients are told to connect to (default: the listen
    /// address); with `listeners`, use `advertised.listeners`.
    #[arg(long)]
    advertise: Option<String>,
    /// Where partition logs live.
    #[arg(long, default_value = "./fjord-data")]
    data_dir: PathBuf,
    /// Number of shards (one pinned thread each), or a CPU list like "0,2-3".
    /// Default: one per online CPU.
    #[arg(long)]
    cores: Option<String>,
    /// TOML file of broker settings with Kafka's names.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of this node's controller listener (quorum and broker-to-
    /// controller traffic). Default: its entry in controller.quorum.voters.
    #[arg(long)]
    controller_listen: Option<String>,
    /// Serve Prometheus metrics over HTTP on this address (e.g. 127.0.0.1:9644).
    #[arg(long)]
    metrics_addr: Option<String>,
    /// A broker setting, e.g. --set num.partitions=4 (repeatable; wins over --config).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// A SCRAM credential to create before any client can connect, as
    /// kafka-storage.sh format takes it:
    /// 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable).
    #[arg(long = "add-scram", value_name = "MECHANISM=[name=...,password=...]")]
    add_scram: Vec<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FJORD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Tune(args) => {
            return ExitCode::from(fjord::tune::run(&fjord::tune::TuneOptions {
                apply: args.apply,
                json: args.json,
                cores: args.cores,
                root: args.root,
            }))
        }
        Command::Cluster(args) => return fjord::admin_cli::run_cluster(args),
        Command::Topic(args) => return fjord::admin_cli::run_topic(args),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fjord: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: ServeArgs) -> Result<(), String> {
    let config =
        BrokerConfig::load(args.config.as_deref(), &args.set).map_err(|e| e.to_string())?;
    let (listeners, controller_from_listeners) = listeners(&args, &config)?;
    let cpus = cpus(args.cores.as_deref())?;
    let metrics_addr = args
        .metrics_addr
        .as_deref()
        .map(|a| resolve("metrics-addr", a))
        .transpose()?;
    let controller_listen = args
        .controller_listen
        .as_deref()
        .map(|a| resolve("controller-listen", a))
        .transpose()?
        .or(controller_from_listeners);
    let scram_users = args
        .add_scram
        .iter()
        .map(|s| {
            fjord::security::sasl::add_scram::parse(s).map_err(|e| format!("--add-scram: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    serve(ServeOptions {
        controller_listen,
        listeners,
        scram_users,
        data_dir: args.data_dir,
        cpus,
        config,
        metrics_addr,
    })
    .map_err(|e| e.to_string())
}

/// The client listeners: the `listeners` setting, or one PLAINTEXT
/// listener on --listen (and --advertise); plus the controller listener's
/// address when `listeners` names it.
fn listeners(
    args: &ServeArgs,
    config: &BrokerConfig,
) -> Result<(Vec<ListenerSpec>, Option<SocketAddr>), String> {
    let security = &config.security;
    if !security.listeners.trim().is_empty() {
        if args.listen.is_some() || args.advertise.is_some() {
            return Err("--listen/--advertise and the listeners setting exclude each other".into());
        }
        return listeners::resolve(&listeners::ListenerSettings {
            listeners: &security.listeners,
            advertised_listeners: &security.advertised_listeners,
            protocol_map: &security.protocol_map,
            controller_listener_names: &security.controller_listener_names,
        });
    }
    let listen = resolve("listen", args.listen.as_deref().unwrap_or("127.0.0.1:9092"))?;
    let advertised = args.advertise.as_deref().map(split_host_port).transpose()?;
    let spec = ListenerSpec {
        name: "PLAINTEXT".into(),
        protocol: listeners::SecurityProtocol::Plaintext,
        bind: listen,
        advertised,
    };
    Ok((vec![spec], None))
}

fn resolve(flag: &str, addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("--{flag} {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("--{flag} {addr}: no address"))
}

fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("--advertise {text}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("--advertise {text}: bad port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// The CPU each shard is pinned to.
fn cpus(spec: Option<&str>) -> Result<Vec<usize>, String> {
    let online: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let online = if online.is_empty() { vec![0] } else { online };
    let spec = match spec {
        Some(text) => parse_core_list(text).map_err(|e| e.to_string())?,
        None => CoreSpec::Count(online.len()),
    };
    match spec {
        CoreSpec::Count(0) => Err("--cores must be at least 1".into()),
        // More shards than CPUs is allowed (tests do it); they share CPUs.
        CoreSpec::Count(n) => Ok((0..n).map(|i| online[i % online.len()]).collect()),
        CoreSpec::List(list) if list.is_empty() => Err("--cores: empty CPU list".into()),
        CoreSpec::List(list) => Ok(list),
    }
}
