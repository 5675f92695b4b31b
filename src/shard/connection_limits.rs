//! Connection limits at accept (`max.connections`, `max.connections.per.ip`
//! and its overrides; the arithmetic is `quota::connections`).
//!
//! The broker's open connections are counted exactly on the controller
//! shard: every shard tells it of each connection it opens and closes (a
//! mesh message each; accepts on shard 0 count in place). Without a limit
//! in this shard's image, the accept does not wait for the answer, so an
//! unlimited broker pays one queued message per connection and no round
//! trip; with one, the connection waits for shard 0's verdict and one over
//! a limit is closed at once, with a log line (at most one a second per
//! shard, counting the ones left out). Counting every connection, limited
//! or not, means a limit set later counts the connections already open,
//! as Kafka's does. Connections on the inter-broker listener are let in
//! past `max.connections` (Kafka protects that listener too, and closes
//! another listener's least recently used connection to make room; fjord
//! closes none), though not past the per-address limit.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::messages::{ShardRequest, ShardResponse};
use super::{Shard, CONTROLLER_SHARD};
use crate::cluster::image::MetadataImage;
use crate::config::dynamic::Target;
use crate::protocol::listener::Listener;
use crate::quota::connections::{ConnectionCounts, ConnectionLimits, Refused};

/// Least time between two refusal log lines of one shard.
const LOG_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct ConnectionGate {
    /// The limits in this shard's image; `None`: no limit is set.
    limits: RefCell<Option<Rc<ConnectionLimits>>>,
    /// The broker's open connections (on the controller shard only).
    counts: RefCell<ConnectionCounts>,
    last_log: Cell<Option<Instant>>,
    unlogged: Cell<u64>,
}

impl ConnectionGate {
    /// Takes the limits of a newly applied image: this broker's dynamic
    /// configs, then the cluster default's.
    pub fn update(&self, image: &MetadataImage, node_id: i32) {
        let configs = &image.dynamic_configs;
        let limits = ConnectionLimits::from_configs(
            &configs.get(&Target::Broker(node_id)),
            &configs.cluster_default,
        );
        let limits = (!limits.is_unlimited()).then(|| Rc::new(limits));
        *self.limits.borrow_mut() = limits;
    }

    /// Counts (on the controller shard) a connection from `ip`, refusing it
    /// past the limits when `enforce` (`protected`: not past
    /// `max.connections`, only its address's limit).
    fn open(&self, ip: IpAddr, enforce: bool, protected: bool) -> Result<(), Refused> {
        let limits = self.limits.borrow().clone();
        let limits = if enforce { limits } else { None };
        self.counts
            .borrow_mut()
            .open(ip, limits.as_deref(), protected)
    }

    fn close(&self, ip: IpAddr) {
        self.counts.borrow_mut().close(ip);
    }

    fn refused(&self, shard: &Shard, ip: IpAddr, listener: &str, why: Refused) {
        shard
            .metrics
            .quota
            .refused(matches!(why, Refused::Broker(_)));
        let now = Instant::now();
        if self
            .last_log
            .get()
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            self.unlogged.set(self.unlogged.get() + 1);
            return;
        }
        self.last_log.set(Some(now));
        let unlogged = self.unlogged.replace(0);
        tracing::warn!(%ip, listener, unlogged, "connection closed at accept: {why}");
    }
}

/// Counts a new connection from `ip` on `listener` with the controller
/// shard; false (after logging) when it is over a limit and must be closed.
pub async fn admit(shard: &Rc<Shard>, ip: IpAddr, listener: &Listener) -> bool {
    let enforce = shard.connections.limits.borrow().is_some();
    let protected = listener.inter_broker;
    let verdict = if shard.id == CONTROLLER_SHARD {
        shard.connections.open(ip, enforce, protected)
    } else {
        let request = ShardRequest::OpenConnection {
            ip,
            enforce,
            protected,
        };
        let reply = shard.mesh.send(CONTROLLER_SHARD, request).await;
        match enforce {
            // Counted once shard 0 takes the message; nothing to wait for.
            false => Ok(()),
            true => match reply.await {
                Ok(ShardResponse::ConnectionOpened(verdict)) => verdict,
                // Shard 0 is gone: the broker is stopping anyway.
                _ => Ok(()),
            },
        }
    };
    match verdict {
        Ok(()) => true,
        Err(why) => {
            shard.connections.refused(shard, ip, &listener.name, why);
            false
        }
    }
}

/// A connection `admit` let in has closed.
pub async fn closed(shard: &Rc<Shard>, ip: IpAddr) {
    if shard.id == CONTROLLER_SHARD {
        shard.connections.close(ip);
    } else {
        let request = ShardRequest::CloseConnection { ip };
        drop(shard.mesh.send(CONTROLLER_SHARD, request).await);
    }
}

/// The controller shard's side of the messages (answered in arrival order,
/// so a connection's close never overtakes its open).
pub fn on_controller_shard(shard: &Shard, request: &ShardRequest) -> Option<ShardResponse> {
    match *request {
        ShardRequest::OpenConnection {
            ip,
            enforce,
            protected,
        } => Some(ShardResponse::ConnectionOpened(
            shard.connections.open(ip, enforce, protected),
        )),
        ShardRequest::CloseConnection { ip } => {
            shard.connections.close(ip);
            Some(ShardResponse::ConnectionClosed)
        }
        _ => None,
    }
}
