//! Starting a node's cluster side on the controller shard: open the raft
//! state, replay the committed metadata log into the image, hand the image
//! to every shard once before anything is served, then start the loops
//! (raft, publisher, controller listener, expiry, broker lifecycle).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::net::TcpListener;

use super::image::MetadataImage;
use super::node::{node_to_raft, run_publisher, ClusterNode, NodeOptions, Publisher};
use super::quorum::{FilePersister, Quorum, QuorumConfig};
use super::raft_loop::{self, TICK};
use super::registry::Registry;
use super::transport::Outbox;

/// How long a broker waits at start to be registered before serving.
const START_WAIT: Duration = Duration::from_secs(10);

/// Starts the cluster side of this node. `listener` is the controller
/// listener, bound by the caller (a voter has one).
pub async fn start(
    options: NodeOptions,
    publisher: Rc<dyn Publisher>,
    listener: Option<TcpListener>,
) -> Result<Rc<ClusterNode>, String> {
    let node_id = options.node_id;
    let voters = voter_list(&options)?;
    let is_voter = voters.iter().any(|(id, _)| *id == node_id);
    let (quorum, persister, image) = if is_voter {
        let (quorum, persister, image) = open_quorum(&options, &voters)?;
        (Some(RefCell::new(quorum)), Some(persister), image)
    } else {
        (None, None, MetadataImage::default())
    };
    let outboxes: HashMap<i32, Rc<Outbox>> = voters
        .iter()
        .filter(|(id, _)| is_voter && *id != node_id)
        .map(|(id, addr)| {
            let outbox = Outbox::start(node_id, addr.clone(), options.link.clone());
            (*id, outbox)
        })
        .collect();
    let node = Rc::new(ClusterNode {
        node_id,
        voters,
        quorum,
        persister: RefCell::new(persister),
        inbox: RefCell::new(VecDeque::new()),
        wake: Default::default(),
        outboxes,
        image: RefCell::new(Arc::new(image)),
        published: Default::default(),
        publisher,
        publish_wake: Default::default(),
        proposals: RefCell::new(HashMap::new()),
        command_lock: glommio::sync::Semaphore::new(1),
        registry: RefCell::new(Registry::new(options.defaults.clone())),
        broker_sessions: RefCell::new(HashMap::new()),
        was_leader: Cell::new(false),
        leader_since: Cell::new(0),
        bytes_since_snapshot: Cell::new(0),
        leader_hint: Cell::new(None),
        connections: RefCell::new(HashMap::new()),
        forwarded: Cell::new(0),
        leader_elections: Cell::new(0),
        unclean_elections: Cell::new(0),
        broker_epoch: Cell::new(-1),
        stopping: Cell::new(false),
        options,
    });
    // Everything this node knows to be committed, applied before serving.
    raft_loop::drive(&node).await;
    let image = node.image();
    node.publisher
        .publish(image.clone(), node.controller_id())
        .await;
    node.published.advance(image.offset);
    tracing::info!(
        node = node_id,
        offset = image.offset,
        voter = is_voter,
        "metadata replayed"
    );
    spawn_loops(&node, listener);
    if node.options.broker.is_some() {
        wait_registered(&node).await;
    }
    Ok(node)
}

fn voter_list(options: &NodeOptions) -> Result<Vec<(i32, String)>, String> {
    let cluster = &options.cluster;
    let voters = if cluster.voters.is_empty() {
        let addr = options.controller_listen.clone().unwrap_or_default();
        vec![(options.node_id, addr)]
    } else {
        cluster.voters.clone()
    };
    let listed = voters.iter().any(|(id, _)| *id == options.node_id);
    if cluster.controller && !listed {
        return Err(format!(
            "process.roles includes controller but node.id {} is not in controller.quorum.voters",
            options.node_id
        ));
    }
    if !cluster.controller && listed {
        return Err(format!(
            "node.id {} is in controller.quorum.voters but process.roles lacks controller",
            options.node_id
        ));
    }
    Ok(voters)
}

/// The quorum and its persister, and the image as of the recovered
/// snapshot (the entries after it are replayed by the first readies).
fn open_quorum(
    options: &NodeOptions,
    voters: &[(i32, String)],
) -> Result<(Quorum, FilePersister, MetadataImage), String> {
    let dir = options.data_dir.join("metadata");
    let (persister, recovered) =
        FilePersister::open(&dir).map_err(|e| format!("metadata log in {}: {e}", dir.display()))?;
    let image = match &recovered.snapshot {
        Some(snapshot) => {
            let mut image = MetadataImage::from_snapshot(snapshot.get_data())?;
            image.offset = snapshot.get_metadata().index;
            image
        }
        None => MetadataImage::default(),
    };
    let ticks = |ms: u64| (ms / TICK.as_millis() as u64).max(2) as usize;
    let config = QuorumConfig {
        id: node_to_raft(options.node_id),
        voters: voters.iter().map(|(id, _)| node_to_raft(*id)).collect(),
        election_tick: ticks(options.cluster.election_timeout_ms),
        heartbeat_tick: 1,
        logger: slog::Logger::root(slog::Discard, slog::o!()),
    };
    let election_tick = config.election_tick;
    let mut quorum = Quorum::new(config, recovered)?;
    if voters.len() == 1 {
        // Nobody to wait for: run the election timer out now, and a lone
        // voter elects itself.
        for _ in 0..2 * election_tick + 1 {
            if quorum.is_leader() {
                break;
            }
            quorum.tick();
        }
    }
    Ok((quorum, persister, image))
}

fn spawn_loops(node: &Rc<ClusterNode>, listener: Option<TcpListener>) {
    glommio::spawn_local(raft_loop::run(node.clone())).detach();
    glommio::spawn_local(run_publisher(node.clone())).detach();
    if let Some(listener) = listener {
        let service = Rc::new(super::active::Service(node.clone()));
        let security = node.options.link.clone();
        glommio::spawn_local(super::transport::serve(listener, service, security)).detach();
    }
    if node.is_voter() {
        glommio::spawn_local(super::active::run_expiry(node.clone())).detach();
        glommio::spawn_local(super::active::run_rebalance(node.clone())).detach();
    } else {
        glommio::spawn_local(super::lifecycle::follow_image(node.clone())).detach();
    }
    if let Some(broker) = &node.options.broker {
        let incarnation = broker.incarnation;
        glommio::spawn_local(super::lifecycle::run_broker(node.clone(), incarnation)).detach();
    }
}

/// A broker serves clients only once it is in the cluster, as Kafka's do:
/// the log is bootstrapped (an upgraded data dir's topics are in the image),
/// this incarnation is registered and unfenced, and its shards have the
/// image that says so. Bounded: with no quorum to answer (a majority of
/// the voters down), the node serves what it has and catches up later.
async fn wait_registered(node: &Rc<ClusterNode>) {
    let until = Instant::now() + START_WAIT;
    while Instant::now() < until {
        let image = node.image();
        // This incarnation: a replayed image may hold the previous run's
        // registration, unfenced if it died without being noticed.
        let incarnation = node.options.broker.as_ref().map(|b| b.incarnation);
        let registered = image
            .brokers
            .get(&node.node_id)
            .is_some_and(|b| !b.fenced && Some(b.incarnation) == incarnation);
        if image.cluster_id.is_some() && registered {
            node.wait_published(image.offset).await.ok();
            return;
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!("not registered with the controllers after {START_WAIT:?}; serving anyway");
}
