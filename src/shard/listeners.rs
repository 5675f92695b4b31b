//! Binding the client listeners: the port of each is reserved once at
//! start (so port 0 resolves to one port every shard then shares with
//! SO_REUSEPORT), its advertised endpoint is settled, and each shard runs
//! an accept loop per listener.
//!
//! Connections pass the connection limits (`connection_limits`) before
//! they are served.
//!
//! Must not: look inside connections (`protocol::connection` does).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;

use super::interbroker_client::InterBrokerClient;
use super::Shard;
use crate::cluster::image::ListenerEndpoint;
use crate::config::listeners::{self, ListenerSpec};
use crate::config::BrokerConfig;
use crate::protocol::listener::Listener;

/// The listeners of this process, bound.
pub struct BoundListeners {
    /// Held until the process stops: keeps each chosen port ours while
    /// shards bind beside it.
    _reservations: Vec<socket2::Socket>,
    pub listeners: Vec<Arc<Listener>>,
    /// As clients are told, in the same order.
    pub advertised: Vec<ListenerEndpoint>,
    /// Index of the inter-broker listener (followers fetch from it).
    pub inter_broker: usize,
    /// How followers connect to that listener on other brokers.
    pub interbroker_client: InterBrokerClient,
}

impl BoundListeners {
    pub fn bind(config: &BrokerConfig, specs: &[ListenerSpec]) -> Result<BoundListeners, String> {
        let mut reservations = Vec::new();
        let mut listeners = Vec::new();
        let mut advertised = Vec::new();
        for spec in specs {
            super::runtime::wait_until_free(spec.bind);
            let socket = super::runtime::reserve_port(spec.bind)
                .map_err(|e| format!("bind listener {} on {}: {e}", spec.name, spec.bind))?;
            let bound = socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .unwrap_or(spec.bind);
            reservations.push(socket);
            let (host, port) = match &spec.advertised {
                Some((host, 0)) => (host.clone(), bound.port()),
                Some((host, port)) => (host.clone(), *port),
                None => (bound.ip().to_string(), bound.port()),
            };
            advertised.push(ListenerEndpoint {
                name: spec.name.clone(),
                host,
                port: i32::from(port),
            });
            listeners.push(Listener::build(config, &spec.name, spec.protocol, bound)?);
        }
        let mut interbroker_client = InterBrokerClient::default();
        let inter_broker = match specs.is_empty() {
            true => 0,
            false => {
                let security = &config.security;
                let chosen = listeners::inter_broker(
                    specs,
                    &security.inter_broker_listener_name,
                    &security.inter_broker_protocol,
                )?;
                interbroker_client = InterBrokerClient::build(config, chosen)?;
                specs
                    .iter()
                    .position(|s| s.name == chosen.name)
                    .unwrap_or(0)
            }
        };
        if let Some(l) = listeners.get_mut(inter_broker) {
            l.inter_broker = true;
        }
        Ok(BoundListeners {
            _reservations: reservations,
            listeners: listeners.into_iter().map(Arc::new).collect(),
            advertised,
            inter_broker,
            interbroker_client,
        })
    }

    /// Kafka's `NAME://host:port,...` of the listeners as bound and as
    /// advertised (DescribeConfigs shows them).
    pub fn describe(&self) -> (String, String) {
        let join = |items: Vec<String>| items.join(",");
        let bound = self
            .listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.bound))
            .collect();
        let advertised = self
            .advertised
            .iter()
            .map(|e| match e.host.contains(':') {
                true => format!("{}://[{}]:{}", e.name, e.host, e.port),
                false => format!("{}://{}:{}", e.name, e.host, e.port),
            })
            .collect();
        (join(bound), join(advertised))
    }
}

/// Binds every listener on this shard (beside the reservation).
pub fn bind_on_shard(listeners: &[Arc<Listener>]) -> Result<Vec<TcpListener>, String> {
    listeners
        .iter()
        .map(|l| {
            TcpListener::bind(l.bound).map_err(|e| format!("bind {} on {}: {e}", l.name, l.bound))
        })
        .collect()
}

/// Accepts on every listener until the future is dropped.
pub async fn accept_all(shard: Rc<Shard>, sockets: Vec<(TcpListener, Arc<Listener>)>) {
    let loops = sockets
        .into_iter()
        .map(|(socket, listener)| glommio::spawn_local(accept(shard.clone(), socket, listener)));
    let handles: Vec<_> = loops.collect();
    for handle in handles {
        handle.await;
    }
}

async fn accept(shard: Rc<Shard>, socket: TcpListener, listener: Arc<Listener>) {
    loop {
        if shard.stopping.get() {
            return;
        }
        match socket.accept().await {
            Ok(stream) => {
                glommio::spawn_local(open(shard.clone(), stream, listener.clone())).detach();
            }
            Err(e) => {
                tracing::warn!(listener = %listener.name, "accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves a connection the connection limits let in (counted until it
/// closes); one over them is dropped, which closes it.
async fn open(shard: Rc<Shard>, stream: glommio::net::TcpStream, listener: Arc<Listener>) {
    let Ok(ip) = stream.peer_addr().map(|a| a.ip()) else {
        return; // the client is already gone
    };
    if !super::connection_limits::admit(&shard, ip, &listener).await {
        return;
    }
    crate::protocol::connection::serve(shard.clone(), stream, listener).await;
    super::connection_limits::closed(&shard, ip).await;
}

/// One line per listener for scripts, after `fjord listening on` (which
/// names the first).
pub fn announce(listeners: &[Arc<Listener>]) {
    for l in listeners {
        let line = format!(
            "fjord listener {} on {} ({})",
            l.name,
            l.bound,
            l.protocol.name()
        );
        super::runtime::say(&line);
    }
}
