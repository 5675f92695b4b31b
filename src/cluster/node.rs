//! One node's membership in the cluster, on its controller shard (0): the
//! quorum (when this node is a voter), the metadata image it has applied,
//! and the way changes reach the active controller and come back.
//!
//! A change travels: any shard → shard 0 → [`ClusterNode::submit`] → the
//! active controller (here, or over the controller listener) → planned into
//! records (`commands`), proposed, committed by a majority → applied to the
//! image on every voter (`raft_loop`) → published to every shard of each
//! node (the [`Publisher`] the shard layer gives us) → the submitter waits
//! until its own node has published the change, then answers.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::commands::{Command, Defaults, Refusal, Reply};
use super::image::MetadataImage;
use super::notify::{Notify, OffsetWaiters};
use super::quorum::{FilePersister, Quorum};
use super::registry::Registry;
use super::transport::{Connection, Outbox};
use super::wire::{ControllerRequest, ControllerResponse, Purpose, QuorumState};
use crate::config::ClusterConfig;

/// How long a change may take to reach the active controller, commit and
/// come back before the client gets a retriable error.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Hands a new image to every shard of this node.
pub trait Publisher {
    /// Resolves once every shard has applied `image`.
    fn publish(
        &self,
        image: Arc<MetadataImage>,
        controller_id: i32,
    ) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Where clients reach this node's broker.
#[derive(Clone, Debug)]
pub struct BrokerEndpoint {
    /// Registered with; new for every start of the process.
    pub incarnation: uuid::Uuid,
    pub host: String,
    pub port: i32,
    /// Every client listener as advertised.
    pub listeners: Vec<super::image::ListenerEndpoint>,
}

/// What a single-node fjord kept outside any log, to seed a new metadata
/// log with when this node is the cluster's only voter.
#[derive(Clone, Debug, Default)]
pub struct LegacyState {
    pub cluster_id: Option<String>,
    /// (name, id, partition count, config overrides)
    pub topics: Vec<(String, uuid::Uuid, i32, BTreeMap<String, String>)>,
    pub next_producer_id: i64,
    /// ACL bindings and SCRAM credentials (`DATA_DIR/security/`).
    pub security: crate::security::SecurityState,
    /// This broker's and each group's dynamic configs
    /// (`DATA_DIR/dynamic-configs.toml`).
    pub dynamic_configs: crate::config::dynamic::DynamicConfigState,
}

pub struct NodeOptions {
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub cluster: ClusterConfig,
    pub defaults: Defaults,
    /// The controller listener's address, if this node is a voter.
    pub controller_listen: Option<String>,
    /// `None`: a controller-only node.
    pub broker: Option<BrokerEndpoint>,
    /// `--add-scram`: credentials the first entry of a new log carries.
    pub bootstrap_scram: Vec<(String, crate::security::scram::ScramCredential)>,
    pub legacy: LegacyState,
    /// How controller-listener connections are secured, both ways.
    pub link: std::sync::Arc<super::link::LinkSecurity>,
}

pub struct ClusterNode {
    pub(super) node_id: i32,
    pub(super) options: NodeOptions,
    /// (node id, controller address) of every voter.
    pub(super) voters: Vec<(i32, String)>,
    pub(super) quorum: Option<RefCell<Quorum>>,
    pub(super) persister: RefCell<Option<FilePersister>>,
    /// Raft messages received, stepped by the raft loop.
    pub(super) inbox: RefCell<VecDeque<raft::eraftpb::Message>>,
    pub(super) wake: Notify,
    pub(super) outboxes: HashMap<i32, Rc<Outbox>>,
    /// The image as applied from committed entries.
    pub(super) image: RefCell<Arc<MetadataImage>>,
    /// Offsets this node's shards have all applied.
    pub(super) published: OffsetWaiters,
    pub(super) publisher: Rc<dyn Publisher>,
    pub(super) publish_wake: Notify,
    /// Our proposals awaiting commit, by nonce; told the index they
    /// committed at.
    pub(super) proposals: RefCell<HashMap<u64, futures_channel::oneshot::Sender<u64>>>,
    /// Active controller only: one change at a time is planned and
    /// committed, so each plan sees every change before it.
    pub(super) command_lock: glommio::sync::Semaphore,
    pub(super) registry: RefCell<Registry>,
    /// Active controller only: each broker's current session connection.
    pub(super) broker_sessions: RefCell<HashMap<i32, u64>>,
    pub(super) was_leader: Cell<bool>,
    /// The raft index at which this node last became leader: plans wait
    /// until everything before it is applied.
    pub(super) leader_since: Cell<u64>,
    pub(super) bytes_since_snapshot: Cell<u64>,
    /// Where the active controller was last seen, for calls from here.
    pub(super) leader_hint: Cell<Option<i32>>,
    pub(super) connections: RefCell<HashMap<(i32, Purpose), Rc<Connection>>>,
    /// Changes sent to the active controller on another node.
    pub(super) forwarded: Cell<u64>,
    /// Leader elections this node committed as active controller: all,
    /// and those from outside the ISR.
    pub(super) leader_elections: Cell<u64>,
    pub(super) unclean_elections: Cell<u64>,
    /// This broker's epoch once registered (-1 before).
    pub(super) broker_epoch: Cell<i64>,
    pub(super) stopping: Cell<bool>,
}

impl ClusterNode {
    /// Whether `node_id` is a voter whose controller port could not be
    /// reached at the last try (a broker-only node: never known).
    pub(super) fn refuses_connections(&self, node_id: i32) -> bool {
        self.outboxes
            .get(&node_id)
            .is_some_and(|o| o.unreachable.get())
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The last image this node applied.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    pub fn is_voter(&self) -> bool {
        self.quorum.is_some()
    }

    /// Whether this node is the active controller: the quorum's leader,
    /// once the raft loop has taken up the role (`active::on_leadership`).
    pub fn is_active(&self) -> bool {
        self.was_leader.get() && self.quorum.as_ref().is_some_and(|q| q.borrow().is_leader())
    }

    /// The active controller's node id, -1 when unknown.
    pub fn controller_id(&self) -> i32 {
        let known = match &self.quorum {
            Some(q) => q.borrow().leader_id().map(raft_to_node),
            None => self.leader_hint.get(),
        };
        known.unwrap_or(-1)
    }

    /// Commits `command` through the active controller and returns once
    /// this node has applied it: (offset, reply).
    pub async fn submit(self: &Rc<Self>, command: Command) -> Result<(u64, Reply), Refusal> {
        let request = ControllerRequest::Command(command);
        let response = self.call_controller(request, SUBMIT_TIMEOUT).await?;
        match response {
            ControllerResponse::Committed { offset, reply } => {
                self.wait_published(offset).await?;
                Ok((offset, reply))
            }
            ControllerResponse::Refused(refusal) => Err(refusal),
            other => Err(unexpected(&other)),
        }
    }

    /// The quorum's state, from the active controller.
    pub async fn describe_quorum(self: &Rc<Self>) -> Result<QuorumState, Refusal> {
        match self
            .call_controller(ControllerRequest::DescribeQuorum, SUBMIT_TIMEOUT)
            .await?
        {
            ControllerResponse::Quorum(state) => Ok(state),
            ControllerResponse::Refused(refusal) => Err(refusal),
            other => Err(unexpected(&other)),
        }
    }

    /// Waits until this node's shards have applied `offset`.
    pub async fn wait_published(&self, offset: u64) -> Result<(), Refusal> {
        super::transport::within(SUBMIT_TIMEOUT, self.published.wait_for(offset))
            .await
            .ok_or_else(|| Refusal {
                code: ResponseError::RequestTimedOut.code(),
                message: format!("change committed at {offset} but not yet applied here"),
            })
    }

    /// The gauges Prometheus shows for this node.
    pub fn metrics_snapshot(&self) -> crate::metrics::cluster::ClusterSnapshot {
        let image = self.image();
        let (role, term, commit) = match &self.quorum {
            Some(q) => {
                let q = q.borrow();
                let role = if q.is_leader() { 3 } else { 1 };
                (role, q.term(), q.commit_index())
            }
            None => (0, 0, image.offset),
        };
        crate::metrics::cluster::ClusterSnapshot {
            quorum_role: role,
            term,
            commit_index: commit,
            applied_offset: self.published.reached(),
            brokers_registered: image.brokers.len() as u64,
            brokers_fenced: image.brokers.values().filter(|b| b.fenced).count() as u64,
            forwarded_requests: self.forwarded.get(),
            active: self.is_active(),
            offline_partitions: super::elections::offline_partitions(&image),
            leader_elections: self.leader_elections.get(),
            unclean_elections: self.unclean_elections.get(),
        }
    }

    pub fn published_offset(&self) -> u64 {
        self.published.reached()
    }

    pub(super) fn set_image(&self, image: MetadataImage) {
        *self.image.borrow_mut() = Arc::new(image);
        self.publish_wake.notify();
    }
}

/// Raft ids may not be 0; node ids may.
pub fn node_to_raft(node_id: i32) -> u64 {
    node_id as u64 + 1
}

pub fn raft_to_node(raft_id: u64) -> i32 {
    raft_id.saturating_sub(1) as i32
}

pub(super) fn unexpected(response: &ControllerResponse) -> Refusal {
    Refusal {
        code: ResponseError::UnknownServerError.code(),
        message: format!("unexpected controller response {response:?}"),
    }
}

pub(super) fn not_controller(message: &str) -> Refusal {
    Refusal {
        code: ResponseError::NotController.code(),
        message: message.to_string(),
    }
}

/// Publishes the newest image whenever it changes, one at a time and in
/// order, then wakes whoever waits for it.
pub(super) async fn run_publisher(node: Rc<ClusterNode>) {
    let mut published_once = false;
    loop {
        let image = node.image();
        if !published_once || image.offset > node.published.reached() {
            let controller = node.controller_id();
            node.publisher.publish(image.clone(), controller).await;
            node.published.advance(image.offset);
            published_once = true;
            continue;
        }
        node.publish_wake.wait().await;
    }
}
