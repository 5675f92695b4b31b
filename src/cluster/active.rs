//! The active controller's side: requests arriving on the controller
//! listener (or from this node itself), planned one at a time against the
//! committed image, proposed, and answered once committed and applied
//! here. Also the duties only the active controller has: session expiry,
//! fencing a broker whose connection closed, and the periodic leader
//! rebalance (`auto.leader.rebalance.enable`).

use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::commands::{self, Command, Refusal};
use super::elections;
use super::node::{node_to_raft, not_controller, raft_to_node, ClusterNode, SUBMIT_TIMEOUT};
use super::quorum;
use super::records::{self, MetadataRecord};
use super::seed;
use super::transport::{within, Inbound, Peer, Reply};
use super::wire::{ControllerRequest, ControllerResponse, Purpose, QuorumState, VoterState};
use crate::security::{acl, authorizer};
use crate::util::now_ms;

/// How often the active controller looks for expired broker sessions.
const EXPIRY_CHECK: Duration = Duration::from_millis(200);

/// The controller listener's handler.
pub(super) struct Service(pub Rc<ClusterNode>);

impl Inbound for Service {
    fn raft(&self, from: i32, bytes: Vec<u8>) {
        let message = match quorum::decode_message(&bytes) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(from, "undecodable raft message: {e}");
                return;
            }
        };
        if message.from != node_to_raft(from) {
            tracing::warn!(
                from,
                claimed = raft_to_node(message.from),
                "raft message from the wrong node"
            );
            return;
        }
        self.0.inbox.borrow_mut().push_back(message);
        self.0.wake.notify();
    }

    fn request(&self, peer: &Peer, request: ControllerRequest) -> Reply {
        let node = self.0.clone();
        let peer = peer.clone();
        Box::pin(async move { handle(&node, Some(&peer), request).await })
    }

    fn may_join(&self, principal: &str, host: &str) -> bool {
        let config = &self.0.options.link.authorizer;
        if !config.enabled {
            return true;
        }
        // super.users decide before any ACL is replicated; ACLs granting
        // CLUSTER_ACTION work once this node has them.
        let who = authorizer::Request { principal, host };
        authorizer::authorize(
            &self.0.image().security,
            config,
            &who,
            acl::operation::CLUSTER_ACTION,
            acl::resource::CLUSTER,
            acl::CLUSTER_NAME,
        )
    }

    fn closed(&self, peer: &Peer) {
        if peer.hello.purpose != Purpose::Broker {
            return;
        }
        let broker = peer.hello.node_id;
        let current = self.0.broker_sessions.borrow().get(&broker).copied();
        if current != Some(peer.connection) {
            return;
        }
        self.0.broker_sessions.borrow_mut().remove(&broker);
        let node = self.0.clone();
        glommio::spawn_local(async move {
            let _ = with_lock(&node, |image| {
                Ok(node.registry.borrow_mut().connection_closed(image, broker))
            })
            .await;
            tracing::info!(broker, "broker connection closed: fenced");
        })
        .detach();
    }
}

/// Answers one controller request. `peer` is `None` for this node's own.
pub(super) async fn handle(
    node: &Rc<ClusterNode>,
    peer: Option<&Peer>,
    request: ControllerRequest,
) -> ControllerResponse {
    match request {
        ControllerRequest::FetchImage { after, wait_ms } => fetch_image(node, after, wait_ms).await,
        _ if !node.is_active() => ControllerResponse::NotController {
            leader: Some(node.controller_id()).filter(|id| *id >= 0),
        },
        ControllerRequest::DescribeQuorum => ControllerResponse::Quorum(quorum_state(node)),
        ControllerRequest::Command(command) => execute(node, command).await,
        ControllerRequest::Heartbeat {
            node_id,
            epoch,
            metadata_offset,
            want_shutdown,
        } => {
            if let Some(peer) = peer.filter(|p| p.hello.purpose == Purpose::Broker) {
                node.broker_sessions
                    .borrow_mut()
                    .insert(node_id, peer.connection);
            }
            let mut reply = None;
            let outcome = with_lock(node, |image| {
                let (records, answer) = node.registry.borrow_mut().heartbeat(
                    image,
                    node_id,
                    epoch,
                    metadata_offset,
                    want_shutdown,
                    now_ms() as u64,
                )?;
                reply = Some(answer);
                Ok(records)
            })
            .await;
            match (outcome, reply) {
                (Ok(_), Some(reply)) => ControllerResponse::Heartbeat(reply),
                (Err(refusal), _) => ControllerResponse::Refused(refusal),
                (Ok(_), None) => ControllerResponse::Refused(not_controller("no heartbeat reply")),
            }
        }
    }
}

async fn execute(node: &Rc<ClusterNode>, command: Command) -> ControllerResponse {
    let defaults = node.options.defaults.clone();
    let mut reply = None;
    let outcome = with_lock(node, |image| {
        let plan = commands::plan(image, &defaults, &command)?;
        reply = Some(plan.reply);
        Ok(plan.records)
    })
    .await;
    match (outcome, reply) {
        (Ok(offset), Some(reply)) => ControllerResponse::Committed { offset, reply },
        (Err(refusal), _) => ControllerResponse::Refused(refusal),
        (Ok(_), None) => ControllerResponse::Refused(not_controller("no plan")),
    }
}

/// Under the command lock, on a fully caught-up image: plans records with
/// `plan` and commits them. Returns the offset at which the change is
/// applied here (the current offset when there was nothing to commit).
async fn with_lock(
    node: &Rc<ClusterNode>,
    plan: impl FnOnce(&super::image::MetadataImage) -> Result<Vec<MetadataRecord>, Refusal>,
) -> Result<u64, Refusal> {
    let _permit = node
        .command_lock
        .acquire_permit(1)
        .await
        .map_err(|_| not_controller("controller shutting down"))?;
    if !node.is_active() {
        return Err(not_controller("no longer the active controller"));
    }
    // A new leader first applies everything committed before its term.
    node.wait_published(node.leader_since.get()).await?;
    let image = node.image();
    let records = plan(&image)?;
    if records.is_empty() {
        return Ok(image.offset);
    }
    let unclean = elections::count_unclean(&image, &records) as u64;
    let elected = elections::count_elections(&image, &records) as u64;
    let offset = propose_and_wait(node, records).await?;
    node.leader_elections
        .set(node.leader_elections.get() + elected);
    if unclean > 0 {
        tracing::warn!(unclean, offset, "unclean leader elections committed");
        node.unclean_elections
            .set(node.unclean_elections.get() + unclean);
    }
    node.wait_published(offset).await?;
    Ok(offset)
}

/// Proposes one batch and waits until it is committed (at whatever index:
/// raft-rs may queue a proposal made while a ready is being persisted).
async fn propose_and_wait(
    node: &ClusterNode,
    records: Vec<MetadataRecord>,
) -> Result<u64, Refusal> {
    let Some(q) = &node.quorum else {
        return Err(not_controller("not a controller"));
    };
    let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
    let (tx, rx) = futures_channel::oneshot::channel();
    node.proposals.borrow_mut().insert(nonce, tx);
    if q.borrow_mut()
        .propose(records::encode_entry(nonce, &records))
        .is_err()
    {
        node.proposals.borrow_mut().remove(&nonce);
        return Err(not_controller("not the active controller"));
    }
    node.wake.notify();
    let committed = within(SUBMIT_TIMEOUT, rx).await;
    node.proposals.borrow_mut().remove(&nonce);
    match committed {
        Some(Ok(index)) => Ok(index),
        _ => Err(Refusal {
            code: ResponseError::RequestTimedOut.code(),
            message: "the controller quorum did not commit the change in time".into(),
        }),
    }
}

async fn fetch_image(node: &ClusterNode, after: u64, wait_ms: u64) -> ControllerResponse {
    if node.published_offset() <= after {
        let wait = Duration::from_millis(wait_ms.min(5_000));
        within(wait, node.published.wait_for(after + 1)).await;
    }
    let image = node.image();
    if image.offset > after {
        ControllerResponse::Image(Box::new((*image).clone()))
    } else {
        ControllerResponse::Unchanged
    }
}

fn quorum_state(node: &ClusterNode) -> QuorumState {
    let Some(q) = &node.quorum else {
        return QuorumState {
            leader_id: -1,
            leader_epoch: 0,
            high_watermark: 0,
            voters: Vec::new(),
        };
    };
    let q = q.borrow();
    QuorumState {
        leader_id: q.leader_id().map_or(-1, raft_to_node),
        leader_epoch: q.term(),
        high_watermark: q.commit_index(),
        voters: q
            .progress()
            .into_iter()
            .map(|p| VoterState {
                node_id: raft_to_node(p.id),
                log_end_offset: p.matched,
                last_contact_ms: if p.recent_active { 0 } else { -1 },
            })
            .collect(),
    }
}

/// Called by the raft loop after each round: notices leadership changes.
pub(super) fn on_leadership(node: &Rc<ClusterNode>) {
    let active = node.quorum.as_ref().is_some_and(|q| q.borrow().is_leader());
    if let Some(q) = &node.quorum {
        let leader = q.borrow().leader_id().map(raft_to_node);
        node.leader_hint.set(leader);
    }
    if active == node.was_leader.get() {
        return;
    }
    node.was_leader.set(active);
    if !active {
        node.broker_sessions.borrow_mut().clear();
        tracing::info!(node = node.node_id, "no longer the active controller");
        return;
    }
    let since = node.quorum.as_ref().map_or(0, |q| q.borrow().last_index());
    node.leader_since.set(since);
    node.registry
        .borrow_mut()
        .reset(&node.image(), now_ms() as u64);
    tracing::info!(node = node.node_id, "became the active controller");
    let node = node.clone();
    glommio::spawn_local(async move { bootstrap(&node).await }).detach();
}

/// A new cluster's first records: its id, and for a single-node fjord
/// upgraded in place, everything it kept outside a log.
async fn bootstrap(node: &Rc<ClusterNode>) {
    let sole_voter = node.voters.len() == 1;
    let result = with_lock(node, |image| {
        if image.cluster_id.is_some() {
            return Ok(Vec::new());
        }
        let legacy = &node.options.legacy;
        let scram = &node.options.bootstrap_scram;
        Ok(seed::first_entry(legacy, scram, sole_voter, node.node_id))
    })
    .await;
    match result {
        Ok(offset) => tracing::info!(offset, "metadata log bootstrapped"),
        Err(refusal) => tracing::warn!("bootstrap deferred: {}", refusal.message),
    }
}

/// Active controller duty: fence brokers whose sessions expired.
pub(super) async fn run_expiry(node: Rc<ClusterNode>) {
    let session = node.options.cluster.session_timeout_ms;
    while !node.stopping.get() {
        glommio::timer::sleep(EXPIRY_CHECK).await;
        if !node.is_active() {
            continue;
        }
        let grace = node.options.cluster.heartbeat_interval_ms.saturating_mul(2);
        let _ = with_lock(&node, |image| {
            let now = now_ms() as u64;
            let mut registry = node.registry.borrow_mut();
            let mut records = registry.expire(image, now, session);
            if records.is_empty() {
                records =
                    registry.expire_refused(image, now, grace, |id| node.refuses_connections(id));
            }
            Ok(records)
        })
        .await;
    }
}

/// Active controller duty: every `leader.imbalance.check.interval.seconds`,
/// leaderships back to their preferred replicas where a broker's share of
/// partitions led elsewhere is too high (`elections::rebalance_plan`).
pub(super) async fn run_rebalance(node: Rc<ClusterNode>) {
    let cluster = &node.options.cluster;
    if !cluster.auto_leader_rebalance {
        return;
    }
    let interval = Duration::from_millis(cluster.leader_imbalance_check_interval_ms.max(1_000));
    let percentage = cluster.leader_imbalance_per_broker_percentage;
    let mut last = std::time::Instant::now();
    // Short sleeps, so a stopping node is not held for a whole interval.
    while !node.stopping.get() {
        glommio::timer::sleep(EXPIRY_CHECK).await;
        if last.elapsed() < interval || !node.is_active() {
            continue;
        }
        last = std::time::Instant::now();
        let result = with_lock(&node, |image| {
            Ok(elections::rebalance_plan(image, percentage))
        })
        .await;
        if let Err(refusal) = result {
            tracing::debug!("leader rebalance skipped: {}", refusal.message);
        }
    }
}
