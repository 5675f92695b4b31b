//! Reaching the active controller from this node: locally when this node
//! is it, else over the controller listener of whichever voter leads,
//! following NOT_CONTROLLER hints and trying the next voter when one does
//! not answer, until a deadline.

use std::rc::Rc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

use super::commands::Refusal;
use super::node::ClusterNode;
use super::transport::Connection;
use super::wire::{ControllerRequest, ControllerResponse, Hello, Purpose};

/// Pause before asking again while no controller is known (an election).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

impl ClusterNode {
    /// Sends `request` to the active controller; `Refusal` with a retriable
    /// code when none answered within `deadline`.
    pub(super) async fn call_controller(
        self: &Rc<Self>,
        request: ControllerRequest,
        deadline: Duration,
    ) -> Result<ControllerResponse, Refusal> {
        self.call_as(Purpose::Client, request, deadline).await
    }

    pub(super) async fn call_as(
        self: &Rc<Self>,
        purpose: Purpose,
        request: ControllerRequest,
        deadline: Duration,
    ) -> Result<ControllerResponse, Refusal> {
        let until = Instant::now() + deadline;
        let mut rotation = 0usize;
        loop {
            if self.is_active() {
                return Ok(super::active::handle(self, None, request).await);
            }
            let target = match self.controller_id() {
                id if id >= 0 && id != self.node_id => id,
                _ => {
                    rotation += 1;
                    self.voters[rotation % self.voters.len()].0
                }
            };
            if target != self.node_id {
                if purpose == Purpose::Client {
                    self.forwarded.set(self.forwarded.get() + 1);
                }
                let left = until.saturating_duration_since(Instant::now());
                match self.call_node(target, purpose, request.clone(), left).await {
                    Ok(ControllerResponse::NotController { leader }) => {
                        self.leader_hint.set(leader.filter(|l| *l != target));
                    }
                    Ok(response) => return Ok(response),
                    Err(e) => {
                        tracing::debug!(target, "controller call: {e}");
                        self.leader_hint.set(None);
                        rotation += 1;
                    }
                }
            }
            if Instant::now() + RETRY_PAUSE >= until {
                return Err(Refusal {
                    code: ResponseError::NotController.code(),
                    message: "no active controller answered; the quorum may have lost its majority"
                        .into(),
                });
            }
            glommio::timer::sleep(RETRY_PAUSE).await;
        }
    }

    async fn call_node(
        &self,
        target: i32,
        purpose: Purpose,
        request: ControllerRequest,
        deadline: Duration,
    ) -> Result<ControllerResponse, String> {
        let key = (target, purpose);
        let open = self.connections.borrow().get(&key).cloned();
        let connection = match open.filter(|c| !c.is_closed()) {
            Some(connection) => connection,
            None => {
                let addr = self
                    .voters
                    .iter()
                    .find(|(id, _)| *id == target)
                    .map(|(_, addr)| addr.clone())
                    .ok_or_else(|| format!("node {target} is not a voter"))?;
                let hello = Hello {
                    node_id: self.node_id,
                    purpose,
                };
                let connection = Rc::new(Connection::open(&addr, hello, &self.options.link).await?);
                self.connections
                    .borrow_mut()
                    .insert(key, connection.clone());
                connection
            }
        };
        connection.call(request, deadline).await
    }
}
