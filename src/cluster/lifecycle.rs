//! This node's broker in the cluster: register with the active controller,
//! heartbeat (quickly while fenced, so it is unfenced as soon as its image
//! has caught up; every broker.heartbeat.interval.ms after), re-register
//! when the controller no longer knows the epoch, and the controlled
//! shutdown on SIGTERM. Nodes that are not voters also follow the image
//! from the controllers here.

use std::rc::Rc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

use super::commands::{Command, Reply};
use super::node::ClusterNode;
use super::wire::{ControllerRequest, ControllerResponse, Purpose};

/// Heartbeat pace while fenced (waiting to be let in).
const FENCED_HEARTBEAT: Duration = Duration::from_millis(100);
/// How long a controlled shutdown waits for the controller's go-ahead.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

pub(super) async fn run_broker(node: Rc<ClusterNode>, incarnation: uuid::Uuid) {
    while !node.stopping.get() {
        let pause = if node.broker_epoch.get() < 0 {
            register(&node, incarnation).await
        } else {
            match heartbeat(&node, false).await {
                Some(reply) if reply.is_fenced => FENCED_HEARTBEAT,
                Some(_) => Duration::from_millis(node.options.cluster.heartbeat_interval_ms),
                None => FENCED_HEARTBEAT,
            }
        };
        glommio::timer::sleep(pause).await;
    }
}

async fn register(node: &Rc<ClusterNode>, incarnation: uuid::Uuid) -> Duration {
    let Some(endpoint) = node.options.broker.clone() else {
        return Duration::from_secs(3600);
    };
    let command = Command::RegisterBroker {
        node_id: node.node_id,
        incarnation,
        host: endpoint.host,
        port: endpoint.port,
        rack: node.options.cluster.rack.clone(),
        listeners: endpoint.listeners,
    };
    let request = ControllerRequest::Command(command);
    let timeout = Duration::from_millis(node.options.cluster.heartbeat_interval_ms.max(1000));
    match node.call_as(Purpose::Broker, request, timeout).await {
        Ok(ControllerResponse::Committed {
            offset,
            reply: Reply::Registered,
        }) => {
            node.broker_epoch.set(offset as i64);
            tracing::info!(node = node.node_id, epoch = offset, "broker registered");
            Duration::ZERO
        }
        Ok(other) => {
            tracing::warn!("broker registration: {other:?}");
            FENCED_HEARTBEAT * 5
        }
        Err(refusal) => {
            tracing::debug!("broker registration: {}", refusal.message);
            FENCED_HEARTBEAT
        }
    }
}

async fn heartbeat(
    node: &Rc<ClusterNode>,
    want_shutdown: bool,
) -> Option<super::registry::HeartbeatReply> {
    let request = ControllerRequest::Heartbeat {
        node_id: node.node_id,
        epoch: node.broker_epoch.get(),
        metadata_offset: node.published_offset(),
        want_shutdown,
    };
    let timeout = Duration::from_millis(node.options.cluster.heartbeat_interval_ms.max(1000));
    match node.call_as(Purpose::Broker, request, timeout).await {
        Ok(ControllerResponse::Heartbeat(reply)) => Some(reply),
        Ok(ControllerResponse::Refused(refusal))
            if refusal.code == ResponseError::StaleBrokerEpoch.code() =>
        {
            tracing::info!(
                "controller does not know broker epoch {}: re-registering",
                node.broker_epoch.get()
            );
            node.broker_epoch.set(-1);
            None
        }
        Ok(other) => {
            tracing::debug!("heartbeat: {other:?}");
            None
        }
        Err(refusal) => {
            tracing::debug!("heartbeat: {}", refusal.message);
            None
        }
    }
}

impl ClusterNode {
    /// SIGTERM: tell the controller this broker is going, wait (bounded)
    /// until it leads nothing, then stop the cluster tasks.
    pub async fn shutdown(self: &Rc<Self>) {
        let until = Instant::now() + SHUTDOWN_WAIT;
        if self.options.broker.is_some() && self.broker_epoch.get() >= 0 {
            while Instant::now() < until {
                match heartbeat(self, true).await {
                    Some(reply) if reply.should_shut_down => break,
                    _ => glommio::timer::sleep(FENCED_HEARTBEAT).await,
                }
            }
            tracing::info!(node = self.node_id, "controlled shutdown done");
        }
        self.stopping.set(true);
        self.wake.notify();
    }
}

/// Nodes that are not voters learn the image from a controller.
pub(super) async fn follow_image(node: Rc<ClusterNode>) {
    while !node.stopping.get() {
        let after = node.image().offset;
        let request = ControllerRequest::FetchImage {
            after,
            wait_ms: 1000,
        };
        match node.call_controller(request, Duration::from_secs(3)).await {
            Ok(ControllerResponse::Image(image)) => node.set_image(*image),
            Ok(_) => {}
            Err(_) => glommio::timer::sleep(FENCED_HEARTBEAT).await,
        }
    }
}
