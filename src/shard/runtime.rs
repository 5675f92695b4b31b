//! Starting and stopping the broker: one pinned executor per core, each with
//! its own listener on the shared port (SO_REUSEPORT spreads connections over
//! shards), its end of the mesh, and the logs it owns.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use super::mesh::{self, Mesh, MeshMessage};
use super::topics::TopicTable;
use super::{service, BrokerIdentity, Shard, CONTROLLER_SHARD};
use crate::cluster::commands::Defaults;
use crate::cluster::image::MetadataImage;
use crate::cluster::node::{BrokerEndpoint, ClusterNode, LegacyState, NodeOptions};
use crate::config::listeners::ListenerSpec;
use crate::config::BrokerConfig;
use crate::protocol::listener::Listener;
use crate::quota::sensor::SensorConfig;
use crate::security::authorizer::AuthorizerConfig;
use crate::storage::ShardStorage;

/// Everything `fjord serve` needs, resolved from flags and settings.
pub struct ServeOptions {
    /// Client listeners in order (the first is printed as `fjord listening
    /// on`); empty on a controller-only node.
    pub listeners: Vec<ListenerSpec>,
    pub data_dir: PathBuf,
    /// CPUs to pin one shard each to.
    pub cpus: Vec<usize>,
    pub config: BrokerConfig,
    /// Where to serve Prometheus metrics (from shard 0), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The controller listener (voters); default: this node's address in
    /// controller.quorum.voters, or none for a lone voter.
    pub controller_listen: Option<SocketAddr>,
    /// `--add-scram` credentials: written into a new metadata log before
    /// any client can connect (ignored once the log exists).
    pub scram_users: Vec<(String, crate::security::scram::ScramCredential)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("shard {0} failed to start: {1}")]
    Shard(usize, String),
}

/// Runs the broker until SIGINT/SIGTERM. Prints `fjord listener NAME on
/// ADDR (PROTOCOL)` per listener, then `fjord listening on ADDR` (the
/// first listener) on stdout once every shard accepts connections.
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    // Before anything opens a descriptor: listeners and logs count against it.
    crate::descriptors::start(options.cpus.len(), options.config.fd_reserve);
    let io = |what: &str| {
        let what = what.to_string();
        move |e| ServeError::Io(what, e)
    };
    std::fs::create_dir_all(&options.data_dir).map_err(io("create data dir"))?;
    // glommio opens files relative to nothing: hand everything an absolute
    // path.
    let data_dir = std::fs::canonicalize(&options.data_dir).map_err(io("resolve data dir"))?;
    let options = ServeOptions {
        data_dir,
        ..options
    };
    let _lock =
        lock_data_dir(&options.data_dir).map_err(io("lock data dir (another fjord running?)"))?;
    let table = TopicTable::load(&options.data_dir).map_err(io("read topics"))?;
    let controller_listen = controller_address(&options)?;
    if let Some(addr) = controller_listen {
        wait_until_free(addr);
    }
    if options.config.cluster.broker && options.listeners.is_empty() {
        let msg = "a broker needs a client listener (listeners or --listen)".to_string();
        return Err(ServeError::Shard(0, msg));
    }
    let bound = super::listeners::BoundListeners::bind(&options.config, &options.listeners)
        .map_err(|e| ServeError::Shard(0, e))?;
    let inter_broker = bound.advertised.get(bound.inter_broker).cloned();
    let identity = BrokerIdentity {
        node_id: options.config.node_id,
        incarnation: uuid::Uuid::new_v4(),
        host: inter_broker
            .as_ref()
            .map_or_else(String::new, |e| e.host.clone()),
        port: inter_broker.as_ref().map_or(0, |e| e.port),
        listeners: bound.advertised.clone(),
        cluster_id: cluster_id(&options.data_dir),
    };
    let security = &options.config.security;
    let authorizer = AuthorizerConfig::parse(
        &security.authorizer_class_name,
        &security.super_users,
        security.allow_everyone_if_no_acl_found,
    )
    .map_err(|e| ServeError::Shard(0, format!("authorizer.class.name: {e}")))?;
    let controller_link = super::controller_link::link_security(
        &options.config,
        &authorizer,
        controller_listen.is_some(),
    )
    .map_err(|e| ServeError::Shard(0, e))?;
    let controller_link = Arc::new(controller_link);
    let config = {
        let (listening, advertised) = bound.describe();
        options.config.clone().with_listeners(listening, advertised)
    };
    let legacy = legacy_state(&options.data_dir, &table, &identity)
        .map_err(io("read the single-node state"))?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(io("install signal handler"))?;
    }

    let shards = options.cpus.len();
    let metrics = crate::metrics::Metrics::new();
    let mesh = MeshBuilder::<MeshMessage, _>::full(shards, 1024);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::new();
    for (index, cpu) in options.cpus.iter().copied().enumerate() {
        let start = ShardStart {
            index,
            authorizer: authorizer.clone(),
            interbroker_client: bound.interbroker_client.clone(),
            listeners: bound.listeners.clone(),
            identity: identity.clone(),
            data_dir: options.data_dir.clone(),
            config: config.clone(),
            legacy: legacy.clone(),
            scram_users: options.scram_users.clone(),
            controller_listen,
            controller_link: controller_link.clone(),
            stop: stop.clone(),
            ready: ready_tx.clone(),
            metrics: metrics.clone(),
            metrics_addr: options.metrics_addr,
        };
        let mesh = mesh.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("fjord-shard-{index}"))
            .spawn(move || async move { run_shard(start, mesh).await })
            .map_err(|e| ServeError::Shard(index, e.to_string()))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                return Err(ServeError::Shard(0, e));
            }
            Err(_) => return Err(ServeError::Shard(0, "exited during start".into())),
        }
    }
    match bound.listeners.first() {
        Some(first) if options.config.cluster.broker => {
            say(&format!("fjord listening on {}", first.bound));
            super::listeners::announce(&bound.listeners);
        }
        _ => say("fjord controller ready (process.roles=controller: no client listener)"),
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(shards, data_dir = %options.data_dir.display(), "fjord started");
    for handle in handles {
        let _ = handle.join();
    }
    drop(bound);
    tracing::info!("fjord stopped");
    Ok(())
}

struct ShardStart {
    index: usize,
    authorizer: AuthorizerConfig,
    interbroker_client: super::interbroker_client::InterBrokerClient,
    listeners: Vec<Arc<Listener>>,
    identity: BrokerIdentity,
    data_dir: PathBuf,
    config: BrokerConfig,
    legacy: LegacyState,
    scram_users: Vec<(String, crate::security::scram::ScramCredential)>,
    controller_listen: Option<SocketAddr>,
    controller_link: Arc<crate::cluster::link::LinkSecurity>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
    metrics: Arc<crate::metrics::Metrics>,
    metrics_addr: Option<SocketAddr>,
}

async fn run_shard(
    start: ShardStart,
    mesh: MeshBuilder<MeshMessage, glommio::channels::channel_mesh::Full>,
) {
    let ready = start.ready.clone();
    if let Err(e) = run_shard_inner(start, mesh).await {
        tracing::error!("shard failed: {e}");
        let _ = ready.send(Err(e));
    }
}

async fn run_shard_inner(
    start: ShardStart,
    mesh: MeshBuilder<MeshMessage, glommio::channels::channel_mesh::Full>,
) -> Result<(), String> {
    let (senders, receivers) = mesh.join().await.map_err(|_| "join mesh".to_string())?;
    let metrics = start.metrics.shard(start.index);
    let storage = ShardStorage::new(start.config.batch_cache_bytes, metrics.io_observer());
    let shard = Rc::new(Shard {
        id: start.index,
        config: start.config.clone(),
        data_dir: start.data_dir.clone(),
        identity: start.identity.clone(),
        topics: RefCell::new(TopicTable::default()),
        logs: RefCell::new(HashMap::new()),
        mesh: Rc::new(Mesh::new(senders)),
        image: RefCell::new(Arc::new(MetadataImage::default())),
        controller_id: Cell::new(-1),
        image_received: Cell::new(false),
        cluster: RefCell::new(None),
        producer_ids: Cell::new((0, 0)),
        stopping: Cell::new(false),
        groups: RefCell::new(Default::default()),
        txns: RefCell::new(super::txn_coordinator::TxnHost::new(
            &start.config.transactions,
        )),
        sender: Default::default(),
        replication: Default::default(),
        topic_configs: RefCell::new(HashMap::new()),
        authorizer: start.authorizer.clone(),
        interbroker_client: start.interbroker_client.clone(),
        broker_connections: Default::default(),
        throttle: crate::protocol::throttle::ShardThrottle::new(SensorConfig::new(
            start.config.quota_window_num,
            start.config.quota_window_size_seconds,
        )),
        connections: Default::default(),
        metrics,
        storage,
    });
    debug_assert_eq!(shard.mesh.shard_id(), shard.id);
    let handler = {
        let shard = shard.clone();
        move |from, id, request| service::handle_remote(&shard, from, id, request)
    };
    mesh::spawn_receivers(shard.mesh.clone(), receivers, handler);
    if shard.id == CONTROLLER_SHARD {
        let node = start_cluster(&shard, &start).await?;
        *shard.cluster.borrow_mut() = Some(node);
    } else {
        // The controller shard hands every shard the replayed image first.
        while !shard.image_received.get() && !start.stop.load(Ordering::Relaxed) {
            glommio::timer::sleep(Duration::from_millis(2)).await;
        }
    }
    glommio::spawn_local(crate::group::run_timers(shard.clone())).detach();
    glommio::spawn_local(super::txn_coordinator::run_timer(shard.clone())).detach();
    glommio::spawn_local(super::replication::run_ticks(shard.clone())).detach();
    super::maintenance::spawn(shard.clone());
    glommio::spawn_local(flush_metrics(shard.clone(), start.metrics.clone())).detach();
    if let (Some(addr), CONTROLLER_SHARD) = (start.metrics_addr, start.index) {
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("bind metrics address {addr}: {e}"))?;
        glommio::spawn_local(serve_metrics(listener, start.metrics.clone())).detach();
    }
    // A controller-only node (process.roles=controller) takes no clients.
    let sockets = match shard.config.cluster.broker {
        true => super::listeners::bind_on_shard(&start.listeners)?,
        false => Vec::new(),
    };
    let _ = start.ready.send(Ok(()));

    let stop = start.stop.clone();
    let stopped = async move {
        while !stop.load(Ordering::Relaxed) {
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }
    };
    let sockets = sockets.into_iter().zip(start.listeners.iter().cloned());
    let accept = super::listeners::accept_all(shard.clone(), sockets.collect());
    let accept = async {
        accept.await;
        std::future::pending::<()>().await
    };
    futures_lite::future::or(stopped, accept).await;
    let node = shard.cluster.borrow().clone();
    if let Some(node) = node {
        node.shutdown().await;
    }
    shard.stopping.set(true);
    service::close_all(&shard).await;
    tracing::debug!(shard = shard.id, "shard stopped");
    Ok(())
}

/// Prints a line for scripts on stdout. A reader may stop reading after
/// the line it waits for and close the pipe: that must not stop fjord
/// (println! would panic).
pub(super) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The controller shard's part in the cluster: binds the controller
/// listener (voters), then replays the metadata log and publishes it.
async fn start_cluster(shard: &Rc<Shard>, start: &ShardStart) -> Result<Rc<ClusterNode>, String> {
    let listener = match start.controller_listen {
        Some(addr) => Some(
            TcpListener::bind(addr).map_err(|e| format!("bind controller listener {addr}: {e}"))?,
        ),
        None => None,
    };
    let bound = listener.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(addr) = bound {
        say(&format!("fjord controller listening on {addr}"));
    }
    let config = &shard.config;
    let options = NodeOptions {
        node_id: config.node_id,
        data_dir: shard.data_dir.clone(),
        cluster: config.cluster.clone(),
        defaults: Defaults {
            num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
            unclean_leader_election: config.cluster.unclean_leader_election,
            min_insync_replicas: crate::config::topic::TopicConfig::resolve(
                config,
                &Default::default(),
            )
            .min_insync_replicas,
        },
        controller_listen: bound.map(|a| a.to_string()),
        broker: config.cluster.broker.then(|| BrokerEndpoint {
            incarnation: shard.identity.incarnation,
            host: shard.identity.host.clone(),
            port: shard.identity.port,
            listeners: shard.identity.listeners.clone(),
        }),
        legacy: start.legacy.clone(),
        bootstrap_scram: start.scram_users.clone(),
        link: start.controller_link.clone(),
    };
    let publisher = Rc::new(super::publish::ShardPublisher(shard.clone()));
    crate::cluster::boot::start(options, publisher, listener).await
}

/// Where the controller listener binds: the flag, else this node's entry
/// in controller.quorum.voters.
fn controller_address(options: &ServeOptions) -> Result<Option<SocketAddr>, ServeError> {
    if options.controller_listen.is_some() {
        return Ok(options.controller_listen);
    }
    let me = options.config.node_id;
    let Some((_, addr)) = options
        .config
        .cluster
        .voters
        .iter()
        .find(|(id, _)| *id == me)
    else {
        return Ok(None);
    };
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(Some)
        .ok_or_else(|| {
            ServeError::Io(
                format!("controller address {addr}"),
                std::io::ErrorKind::InvalidInput.into(),
            )
        })
}

/// After a kill -9 the old process's listening socket lingers a few ms
/// while io_uring tears down; binding beside it (SO_REUSEPORT) would let
/// clients land on the dying socket. Wait (bounded) until nothing answers.
pub(super) fn wait_until_free(addr: SocketAddr) {
    if addr.port() == 0 {
        return;
    }
    let target = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        match std::net::TcpStream::connect_timeout(&target, Duration::from_millis(100)) {
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return,
        }
    }
    tracing::warn!(%addr, "something still listens on {addr}; binding beside it");
}

/// What a single-node fjord kept outside a log, for seeding a new one.
/// Once this node has a metadata log, its security and dynamic-config
/// files are no longer needed: one that cannot be read is then skipped
/// with a warning instead of stopping the start.
fn legacy_state(
    dir: &std::path::Path,
    table: &TopicTable,
    identity: &BrokerIdentity,
) -> std::io::Result<LegacyState> {
    let next_producer_id = match std::fs::read_to_string(dir.join("producer_ids")) {
        Ok(text) => text.trim().parse::<i64>().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("producer_ids: {e}"),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let has_log = dir.join("metadata").exists();
    let security = optional(
        crate::security::legacy::load(dir),
        has_log,
        "ACLs and SCRAM",
    )?;
    let dynamic_configs = optional(
        crate::config::dynamic::load_legacy(dir, identity.node_id),
        has_log,
        "dynamic configs",
    )?;
    Ok(LegacyState {
        cluster_id: Some(identity.cluster_id.clone()),
        topics: table
            .iter()
            .map(|t| (t.name.clone(), t.id, t.partitions, t.configs.clone()))
            .collect(),
        next_producer_id,
        security,
        dynamic_configs,
    })
}

/// A single-node file read: an error stops the start only while there is
/// no metadata log to hold what the file held.
fn optional<T: Default>(
    result: std::io::Result<T>,
    has_log: bool,
    what: &str,
) -> std::io::Result<T> {
    match result {
        Err(e) if has_log => {
            tracing::warn!("ignoring the single-node {what}: {e}");
            Ok(T::default())
        }
        other => other,
    }
}

/// Binds (without listening) to learn the real port when asked for port 0 and
/// to hold it while shards bind their own SO_REUSEPORT listeners.
pub(super) fn reserve_port(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// An exclusive lock on the data dir for the life of the process, so two
/// brokers never write the same logs.
fn lock_data_dir(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    // SAFETY: flock on a valid, owned fd has no memory-safety preconditions.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// A stable cluster id, created with the data dir (Kafka's meta.properties role).
fn cluster_id(dir: &std::path::Path) -> String {
    let path = dir.join("cluster.id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    if let Err(e) = std::fs::write(&path, &id) {
        tracing::warn!("could not save cluster id: {e}");
    }
    id
}

/// Publishes the shard's local metric recorders once a second.
async fn flush_metrics(shard: Rc<Shard>, metrics: Arc<crate::metrics::Metrics>) {
    while !shard.stopping.get() {
        glommio::timer::sleep(Duration::from_secs(1)).await;
        let (storage, partitions) = {
            let logs = shard.logs.borrow();
            let storage = logs
                .values()
                .flat_map(|partitions| partitions.values().map(|log| log.stats()))
                .fold(Default::default(), |a, b| a + b);
            (storage, logs.values().map(HashMap::len).sum())
        };
        let cache = shard.storage.cache.snapshot();
        shard.metrics.flush(shard.mesh.sent(), storage, cache);
        shard.metrics.set_partitions(partitions);
        let replication = super::replication_stats::snapshot(&shard, crate::util::now_ms());
        shard.metrics.replication.flush(&replication);
        let node = shard.cluster.borrow().clone();
        if let Some(node) = node {
            metrics.cluster.set(node.metrics_snapshot());
        }
    }
}

/// A minimal HTTP/1.1 responder: any request gets the metrics text. Scrapers
/// send one GET per connection; nothing else is served here.
async fn serve_metrics(listener: TcpListener, metrics: Arc<crate::metrics::Metrics>) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok(mut stream) = listener.accept().await else {
            glommio::timer::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let metrics = metrics.clone();
        glommio::spawn_local(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = metrics.render();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.close().await;
        })
        .detach();
    }
}
