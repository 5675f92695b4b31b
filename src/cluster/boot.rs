//! Starting a node's cluster side on the controller shard: open the raft
//! state, replay the committed metadata log into the image, hand the image
//! to every shard once before anything is served, then start the loops
//! (raft, publisher, controller listener, expiry, broker lifecycle).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::net::TcpListener;

use super::image::MetadataImage;
use super::node::{node_to_raft, run_publisher, ClusterNode, NodeOptions, Publisher};
use super::quorum::{FilePersister, Quorum, QuorumConfig};
use super::raft_loop::{self, TICK};
use super::transport::Outbox;

/// How long a node that is the only voter waits at start for its log to be
/// bootstrapped and its broker registered before serving.
const SOLE_VOTER_START: Duration = Duration::from_secs(10);

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
    let (quorum, persister) = if is_voter {
        let (quorum, persister) = open_quorum(&options, &voters)?;
        (Some(RefCell::new(quorum)), Some(persister))
    } else {
        (None, None)
    };
    let outboxes: HashMap<i32, Rc<Outbox>> = voters
        .iter()
        .filter(|(id, _)| is_voter && *id != node_id)
        .map(|(id, addr)| (*id, Outbox::start(node_id, addr.clone())))
        .collect();
    let node = Rc::new(ClusterNode {
        node_id,
        voters,
        quorum,
        persister: RefCell::new(persister),
        inbox: RefCell::new(VecDeque::new()),
        wake: Default::default(),
        outboxes,
        image: RefCell::new(Arc::new(MetadataImage::default())),
        published: Default::default(),
        publisher,
        publish_wake: Default::default(),
        proposals: RefCell::new(BTreeMap::new()),
        command_lock: glommio::sync::Semaphore::new(1),
        registry: Default::default(),
        broker_sessions: RefCell::new(HashMap::new()),
        was_leader: Cell::new(false),
        leader_since: Cell::new(0),
        bytes_since_snapshot: Cell::new(0),
        leader_hint: Cell::new(None),
        connections: RefCell::new(HashMap::new()),
        forwarded: Cell::new(0),
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
    if node.voters.len() == 1 && is_voter {
        wait_sole_voter_ready(&node).await;
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

fn open_quorum(
    options: &NodeOptions,
    voters: &[(i32, String)],
) -> Result<(Quorum, FilePersister), String> {
    let dir = options.data_dir.join("metadata");
    let (persister, recovered) =
        FilePersister::open(&dir).map_err(|e| format!("metadata log in {}: {e}", dir.display()))?;
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
    Ok((quorum, persister))
}

fn spawn_loops(node: &Rc<ClusterNode>, listener: Option<TcpListener>) {
    glommio::spawn_local(raft_loop::run(node.clone())).detach();
    glommio::spawn_local(run_publisher(node.clone())).detach();
    if let Some(listener) = listener {
        let service = Rc::new(super::active::Service(node.clone()));
        glommio::spawn_local(super::transport::serve(listener, service)).detach();
    }
    if node.is_voter() {
        glommio::spawn_local(super::active::run_expiry(node.clone())).detach();
    } else {
        glommio::spawn_local(super::lifecycle::follow_image(node.clone())).detach();
    }
    if node.options.broker.is_some() {
        let incarnation = uuid::Uuid::new_v4();
        glommio::spawn_local(super::lifecycle::run_broker(node.clone(), incarnation)).detach();
    }
}

/// A one-node cluster serves only once its log is bootstrapped (an
/// upgraded data dir's topics are in the image) and its broker is in.
async fn wait_sole_voter_ready(node: &Rc<ClusterNode>) {
    let until = Instant::now() + SOLE_VOTER_START;
    while Instant::now() < until {
        let image = node.image();
        let registered = image.brokers.get(&node.node_id).is_some_and(|b| !b.fenced);
        let bootstrapped = image.cluster_id.is_some();
        if bootstrapped && (registered || node.options.broker.is_none()) {
            node.wait_published(image.offset).await.ok();
            return;
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!("metadata not ready after {SOLE_VOTER_START:?}; serving anyway");
}
