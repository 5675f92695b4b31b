//! A Kafka connection from this broker to another broker's inter-broker
//! listener, one request at a time: TCP, TLS and the SASL login as
//! `interbroker_client` says, reconnecting ahead of the session lifetime
//! the peer granted (KIP-368), and warnings about failed logins limited by
//! `login_warnings`. Follower fetch holds one per fetch session; the
//! transaction marker writer keeps idle ones per shard by node id
//! ([`IdleConnections`]).
//!
//! Owns: framing requests with `protocol::client_codec` and the
//! connection's deadlines. Must not: be shared between shards, or be used
//! by two requests at once (a caller takes it out, uses it, puts it back).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use glommio::net::TcpStream;
use kafka_protocol::messages::ApiKey;

use super::interbroker_client::Call;
use super::Shard;
use crate::cluster::transport::within;
use crate::net::tls_client::ClientStream;
use crate::protocol::client_codec::{self, MAX_FRAME};
use crate::util::now_ms;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// See the module doc.
pub struct BrokerConnection {
    stream: ClientStream,
    /// The peer's inter-broker endpoint, to notice when it re-registers
    /// elsewhere.
    host: String,
    port: i32,
    client_id: &'static str,
    next_correlation_id: i32,
    /// When the peer's SASL session ends (ms since the epoch), if it does.
    expires_at_ms: Option<i64>,
    /// Deadline of the login's requests.
    login_deadline: Duration,
}

impl BrokerConnection {
    /// Connects to `host:port`, secures the connection and logs in; a
    /// failed login is warned about (rate limited per address).
    pub async fn open(
        shard: &Shard,
        host: &str,
        port: i32,
        client_id: &'static str,
    ) -> Result<BrokerConnection, String> {
        let addr = format!("{host}:{port}");
        let resolved: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let client = &shard.interbroker_client;
        let login_deadline = Duration::from_millis(shard.config.replication.socket_timeout_ms);
        let setup = async {
            let stream = TcpStream::connect(resolved)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let _ = stream.set_nodelay(true);
            client.secure(stream, host).await
        };
        let stream = within(CONNECT_TIMEOUT.max(login_deadline), setup)
            .await
            .ok_or_else(|| format!("connect {addr}: timed out"))??;
        let mut conn = BrokerConnection {
            stream,
            host: host.to_string(),
            port,
            client_id,
            next_correlation_id: 1,
            expires_at_ms: None,
            login_deadline,
        };
        let lifetime = match client.authenticate(&mut conn).await {
            Ok(lifetime) => {
                let mut rep = shard.replication.borrow_mut();
                rep.login_warnings.succeeded(&addr);
                lifetime
            }
            Err(e) => {
                warn_limited(shard, &addr, "inter-broker login", &e);
                return Err(e);
            }
        };
        // Reconnect at 90% of the lifetime, ahead of the peer's cut-off.
        conn.expires_at_ms = (lifetime > 0).then(|| now_ms() + lifetime * 9 / 10);
        Ok(conn)
    }

    /// The login's session lifetime is (nearly) over: log in again first.
    pub fn expired(&self) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms() >= at)
    }

    /// Sends `request` and reads its response, all within `deadline`. After
    /// an error the connection's state is unknown: drop it.
    pub async fn call_within<Q, R>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Q,
        deadline: Duration,
    ) -> Result<R, String>
    where
        Q: kafka_protocol::protocol::Encodable,
        R: kafka_protocol::protocol::Decodable,
    {
        let cid = self.next_correlation_id;
        self.next_correlation_id = cid.wrapping_add(1);
        let frame = client_codec::encode_request(api, version, cid, self.client_id, request)
            .map_err(|e| format!("{e:?}"))?;
        let body = within(deadline, async {
            self.stream
                .write_all(&frame)
                .await
                .map_err(|e| format!("send: {e}"))?;
            let mut prefix = [0u8; 4];
            self.stream
                .read_exact(&mut prefix)
                .await
                .map_err(|e| format!("receive: {e}"))?;
            let len = i32::from_be_bytes(prefix);
            if len < 0 || len as usize > MAX_FRAME {
                return Err(format!("response length {len}"));
            }
            let mut body = vec![0u8; len as usize];
            self.stream
                .read_exact(&mut body)
                .await
                .map_err(|e| format!("receive: {e}"))?;
            Ok(Bytes::from(body))
        })
        .await
        .ok_or_else(|| format!("{api:?} timed out"))??;
        client_codec::decode_response(api, version, cid, body).map_err(|e| format!("{e:?}"))
    }
}

impl Call for BrokerConnection {
    async fn call<Q, R>(&mut self, api: ApiKey, version: i16, request: &Q) -> Result<R, String>
    where
        Q: kafka_protocol::protocol::Encodable,
        R: kafka_protocol::protocol::Decodable,
    {
        let deadline = self.login_deadline;
        self.call_within(api, version, request, deadline).await
    }
}

/// Warns that this broker cannot log in to or act on another (`key` names
/// which): it will not fix itself (a wrong password, a missing credential
/// or ACL), but callers retry every backoff, so not each time
/// (`login_warnings`).
pub fn warn_limited(shard: &Shard, key: &str, what: &str, e: &str) {
    let warn = shard
        .replication
        .borrow_mut()
        .login_warnings
        .failed(key, now_ms());
    match warn {
        Some(0) => tracing::warn!(leader = %key, "{what}: {e}"),
        Some(n) => tracing::warn!(
            leader = %key,
            "{what}: {e} ({n} more failures since the last warning)"
        ),
        // Callers log every failure at debug.
        None => {}
    }
}

/// One shard's idle connections by node id, at most one each: a caller
/// takes one out for a request and puts it back when the request worked,
/// so no borrow is held across the request and a failed connection is
/// simply not put back (the next caller reconnects).
#[derive(Default)]
pub struct IdleConnections {
    by_node: HashMap<i32, BrokerConnection>,
}

impl IdleConnections {
    /// The idle connection to `node` if it still goes to `host:port` and
    /// its login has not expired (else it is dropped).
    pub fn take(&mut self, node: i32, host: &str, port: i32) -> Option<BrokerConnection> {
        let conn = self.by_node.remove(&node)?;
        (conn.host == host && conn.port == port && !conn.expired()).then_some(conn)
    }

    /// Keeps `conn` for the next request to `node` (replacing one another
    /// caller put back meanwhile).
    pub fn put(&mut self, node: i32, conn: BrokerConnection) {
        self.by_node.insert(node, conn);
    }
}

/// Sends `request` (API and version `api`) to broker `node` over this
/// shard's idle connection to it, or a new one, within `deadline`; keeps
/// the connection for next time if it worked. A reused connection that
/// fails gets one more try on a new one: the broker may have closed it
/// while it was idle.
pub async fn call_broker<Q, R>(
    shard: &std::rc::Rc<Shard>,
    node: i32,
    api: (ApiKey, i16),
    request: &Q,
    deadline: Duration,
    client_id: &'static str,
) -> Result<R, String>
where
    Q: kafka_protocol::protocol::Encodable,
    R: kafka_protocol::protocol::Decodable,
{
    let broker = shard
        .broker(node)
        .ok_or_else(|| format!("broker {node} not registered"))?;
    let (host, port) = (broker.host.as_str(), broker.port);
    let idle = shard.broker_connections.borrow_mut().take(node, host, port);
    let reused = idle.is_some();
    let mut conn = match idle {
        Some(conn) => conn,
        None => BrokerConnection::open(shard, host, port, client_id).await?,
    };
    let mut result = conn.call_within(api.0, api.1, request, deadline).await;
    if result.is_err() && reused {
        conn = BrokerConnection::open(shard, host, port, client_id).await?;
        result = conn.call_within(api.0, api.1, request, deadline).await;
    }
    let response = result?;
    shard.broker_connections.borrow_mut().put(node, conn);
    Ok(response)
}
