//! Cross-shard request/response over glommio's channel mesh.
//!
//! Every shard is joined to one full mesh of bounded single-producer
//! single-consumer channels. A shard sends a [`ShardRequest`] to the shard that
//! owns a partition and gets a [`ShardResponse`] back on the same mesh, matched
//! by a per-shard request id. The receive loop never blocks on a send (requests
//! that need async work are spawned as tasks), so two shards flooding each other
//! cannot deadlock.
//!
//! This module owns transport only; what a request *does* lives in
//! `shard::service`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use glommio::channels::channel_mesh::{Receivers, Senders};

use super::messages::{ShardRequest, ShardResponse};

/// What travels on the mesh.
pub enum MeshMessage {
    Request { id: u64, body: ShardRequest },
    Response { id: u64, body: ShardResponse },
}

/// This shard's end of the mesh.
pub struct Mesh {
    senders: Senders<MeshMessage>,
    next_id: Cell<u64>,
    pending: RefCell<HashMap<u64, oneshot::Sender<ShardResponse>>>,
}

impl Mesh {
    pub fn new(senders: Senders<MeshMessage>) -> Mesh {
        Mesh {
            senders,
            next_id: Cell::new(0),
            pending: RefCell::new(HashMap::new()),
        }
    }

    /// Requests this shard has sent to others so far.
    pub fn sent(&self) -> u64 {
        self.next_id.get()
    }

    pub fn shard_id(&self) -> usize {
        self.senders.peer_id()
    }

    pub fn shard_count(&self) -> usize {
        self.senders.nr_consumers()
    }

    /// Queues `body` for `shard` and returns the receiver of its response.
    /// Awaiting this only waits for channel capacity, so callers that issue
    /// sends one after another get them delivered in that order.
    pub async fn send(&self, shard: usize, body: ShardRequest) -> oneshot::Receiver<ShardResponse> {
        debug_assert_ne!(shard, self.shard_id(), "local work must not use the mesh");
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        if self
            .senders
            .send_to(shard, MeshMessage::Request { id, body })
            .await
            .is_err()
        {
            // The peer is gone (shutdown): dropping the sender makes the
            // receiver resolve to Canceled, which callers map to an error.
            self.pending.borrow_mut().remove(&id);
        }
        rx
    }

    /// Sends a response back to the shard that asked.
    pub async fn reply(&self, shard: usize, id: u64, body: ShardResponse) {
        if self
            .senders
            .send_to(shard, MeshMessage::Response { id, body })
            .await
            .is_err()
        {
            tracing::debug!(shard, "peer gone before a reply could be delivered");
        }
    }

    fn complete(&self, id: u64, body: ShardResponse) {
        match self.pending.borrow_mut().remove(&id) {
            // The asker may have given up (e.g. connection closed); fine.
            Some(tx) => drop(tx.send(body)),
            None => tracing::warn!(id, "response for an unknown cross-shard request"),
        }
    }
}

/// Runs the receive side: one task per peer. `handle` is called for every
/// incoming request, synchronously and in arrival order; it must not block.
pub fn spawn_receivers<F>(mesh: Rc<Mesh>, mut receivers: Receivers<MeshMessage>, handle: F)
where
    F: Fn(usize, u64, ShardRequest) + Clone + 'static,
{
    for (peer, stream) in receivers.streams() {
        let mesh = mesh.clone();
        let handle = handle.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = stream.recv().await {
                match msg {
                    MeshMessage::Request { id, body } => handle(peer, id, body),
                    MeshMessage::Response { id, body } => mesh.complete(id, body),
                }
            }
        })
        .detach();
    }
}
