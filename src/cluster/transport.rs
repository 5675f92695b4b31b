//! Connections between nodes, on the controller shard's executor: the
//! controller listener (inbound frames to an [`Inbound`] handler), one
//! outbound connection per peer voter for raft messages ([`Outbox`]), and
//! request/response calls to another node's controller ([`Connection`]).
//!
//! Every connection is first secured as the listener's protocol says
//! (`link`: TLS, a SASL login), and an inbound one's principal must be
//! allowed to act as a node ([`Inbound::may_join`]) before its `Hello` is
//! read.
//!
//! Nothing here blocks the shard: sockets are glommio's, queues are bounded
//! and drop raft messages when full (raft-rs retransmits), and every connect
//! and call has a deadline.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use futures_channel::oneshot;
use glommio::channels::local_channel;
use glommio::net::{TcpListener, TcpStream};

use super::link::{host_of, LinkSecurity, Secured};
use super::wire::{self, ControllerRequest, ControllerResponse, Frame, Hello};
use crate::net::halves::{ReadHalf, WriteHalf};

/// Raft messages queued for one peer before new ones are dropped.
const OUTBOX_LIMIT: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// For the security steps and the `Hello` together.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

pub type Reply = Pin<Box<dyn Future<Output = ControllerResponse>>>;

/// Who is on the other end of an inbound connection.
#[derive(Clone, Debug)]
pub struct Peer {
    pub hello: Hello,
    /// Unique per connection on this node, so a stale close is recognised.
    pub connection: u64,
}

/// What the node does with inbound frames.
pub trait Inbound {
    /// A raft message from voter `from` (already protobuf bytes).
    fn raft(&self, from: i32, message: Vec<u8>);
    fn request(&self, peer: &Peer, request: ControllerRequest) -> Reply;
    /// The connection is gone (EOF, error, or a bad frame).
    fn closed(&self, peer: &Peer);
    /// Whether `principal`, connecting from `host`, may act as a node of
    /// the cluster (checked before its `Hello` is read).
    fn may_join(&self, principal: &str, host: &str) -> bool;
}

/// Reads whole frames from a connection.
pub struct FrameReader {
    reader: ReadHalf,
    buf: BytesMut,
}

impl FrameReader {
    /// `pending`: bytes already read past the security steps.
    pub fn new(reader: ReadHalf, pending: BytesMut) -> FrameReader {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice(&pending);
        FrameReader { reader, buf }
    }

    /// The next frame, `Ok(None)` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Frame>, String> {
        loop {
            if let Some(len) = wire::frame_len(&self.buf)? {
                if self.buf.len() >= len {
                    let frame = wire::decode(&self.buf[..len]);
                    let _ = self.buf.split_to(len);
                    return frame.map(Some);
                }
                self.buf.reserve(len - self.buf.len());
            }
            let n = self
                .reader
                .fill(&mut self.buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err("connection closed inside a frame".into())
                };
            }
        }
    }
}

/// Accepts controller connections until the listener fails.
pub async fn serve(listener: TcpListener, inbound: Rc<dyn Inbound>, security: Arc<LinkSecurity>) {
    let next_connection = Cell::new(0u64);
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("controller listener accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        next_connection.set(next_connection.get() + 1);
        let connection = next_connection.get();
        let inbound = inbound.clone();
        let security = security.clone();
        glommio::spawn_local(async move {
            let addr = stream.peer_addr().ok();
            let ip = addr.map(|a| a.ip().to_string()).unwrap_or_default();
            let peer = addr.map(|a| a.to_string()).unwrap_or_default();
            let secured = within(HELLO_TIMEOUT, admit(stream, &security, &*inbound, &ip)).await;
            let result = match secured {
                None => Err(format!("no login within {HELLO_TIMEOUT:?}")),
                Some(Err(e)) => {
                    // Will not fix itself: a wrong password or certificate.
                    tracing::warn!(peer, "controller connection refused: {e}");
                    return;
                }
                Some(Ok(secured)) => serve_connection(secured, connection, inbound).await,
            };
            if let Err(reason) = result {
                tracing::info!(peer, "controller connection closed: {reason}");
            }
        })
        .detach();
    }
}

/// Secures an inbound connection and checks its principal.
async fn admit(
    stream: TcpStream,
    security: &LinkSecurity,
    inbound: &dyn Inbound,
    host: &str,
) -> Result<Secured, String> {
    let _ = stream.set_nodelay(true);
    let secured = security.accept(stream).await?;
    if !inbound.may_join(&secured.principal, host) {
        return Err(format!(
            "{} may not act as a node of this cluster (it needs CLUSTER_ACTION on the \
             cluster, or to be in super.users)",
            secured.principal
        ));
    }
    Ok(secured)
}

async fn serve_connection(
    secured: Secured,
    connection: u64,
    inbound: Rc<dyn Inbound>,
) -> Result<(), String> {
    let mut reader = FrameReader::new(secured.reader, secured.pending);
    let hello = match within(HELLO_TIMEOUT, reader.next()).await {
        Some(Ok(Some(Frame::Hello(hello)))) => hello,
        _ => return Err("no hello".into()),
    };
    let peer = Peer { hello, connection };
    let (responses, queue) = local_channel::new_unbounded::<Vec<u8>>();
    let responses = Rc::new(responses);
    let writing = glommio::spawn_local(write_all_queued(secured.writer, queue));
    let result = read_frames(&mut reader, &peer, &inbound, &responses).await;
    inbound.closed(&peer);
    drop(responses);
    let _ = writing.await;
    result
}

async fn read_frames(
    reader: &mut FrameReader,
    peer: &Peer,
    inbound: &Rc<dyn Inbound>,
    responses: &Rc<local_channel::LocalSender<Vec<u8>>>,
) -> Result<(), String> {
    while let Some(frame) = reader.next().await? {
        match frame {
            Frame::Raft(message) => inbound.raft(peer.hello.node_id, message),
            Frame::Request { id, body } => {
                let reply = inbound.request(peer, body);
                let responses = responses.clone();
                glommio::spawn_local(async move {
                    let body = reply.await;
                    let _ = responses.try_send(wire::encode(&Frame::Response { id, body }));
                })
                .detach();
            }
            other => return Err(format!("unexpected frame {other:?}")),
        }
    }
    Ok(())
}

async fn write_all_queued(mut writer: WriteHalf, queue: local_channel::LocalReceiver<Vec<u8>>) {
    while let Some(bytes) = queue.recv().await {
        if writer.write_all(bytes).await.is_err() {
            return;
        }
    }
}

/// `f`'s output, or `None` once `limit` has passed.
pub async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}

/// Connects to `addr` and runs the security steps, within the deadline.
/// A refused login or TLS handshake is logged here as a warning (it will
/// not fix itself), a peer that is down is not.
async fn connect(addr: &str, security: &LinkSecurity) -> Result<Secured, String> {
    let socket: SocketAddr = resolve(addr)?;
    let stream = within(CONNECT_TIMEOUT, TcpStream::connect(socket))
        .await
        .ok_or_else(|| format!("connect {addr}: timed out"))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let secured = within(HELLO_TIMEOUT, security.connect(stream, host_of(addr)))
        .await
        .ok_or_else(|| format!("{addr}: no login within {HELLO_TIMEOUT:?}"))
        .and_then(|r| r.map_err(|e| format!("{addr}: {e}")));
    if let Err(e) = &secured {
        warn_refused(e);
    }
    secured
}

thread_local! {
    /// The last refusal warned about, and when: the same one is repeated
    /// at most once a minute.
    static LAST_REFUSAL: RefCell<Option<(String, std::time::Instant)>> =
        const { RefCell::new(None) };
}

fn warn_refused(error: &str) {
    let now = std::time::Instant::now();
    let repeat = LAST_REFUSAL.with(|last| {
        let mut last = last.borrow_mut();
        let repeat = last.as_ref().is_some_and(|(text, at)| {
            text == error && now.duration_since(*at) < Duration::from_secs(60)
        });
        if !repeat {
            *last = Some((error.to_string(), now));
        }
        repeat
    });
    if !repeat {
        tracing::warn!("controller listener: {error}");
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

/// Raft messages to one peer voter: a bounded queue and a task that keeps
/// a connection open and drains it.
pub struct Outbox {
    queue: RefCell<VecDeque<Vec<u8>>>,
    wake: RefCell<Option<oneshot::Sender<()>>>,
    /// The last attempt to connect failed (the peer's process is gone or
    /// cut off); cleared by the next successful connect.
    pub unreachable: Cell<bool>,
}

impl Outbox {
    /// Starts the sending task for the voter at `addr`.
    pub fn start(me: i32, addr: String, security: Arc<LinkSecurity>) -> Rc<Outbox> {
        let outbox = Rc::new(Outbox {
            queue: RefCell::new(VecDeque::new()),
            wake: RefCell::new(None),
            unreachable: Cell::new(false),
        });
        glommio::spawn_local(run_outbox(me, addr, security, Rc::downgrade(&outbox))).detach();
        outbox
    }

    /// Queues one protobuf-encoded raft message; drops it when full.
    pub fn send(&self, message: Vec<u8>) {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= OUTBOX_LIMIT {
            return;
        }
        queue.push_back(wire::encode(&Frame::Raft(message)));
        drop(queue);
        if let Some(wake) = self.wake.borrow_mut().take() {
            let _ = wake.send(());
        }
    }

    async fn wait(&self) {
        if !self.queue.borrow().is_empty() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        *self.wake.borrow_mut() = Some(tx);
        let _ = rx.await;
    }
}

async fn run_outbox(
    me: i32,
    addr: String,
    security: Arc<LinkSecurity>,
    outbox: std::rc::Weak<Outbox>,
) {
    let hello = wire::encode(&Frame::Hello(Hello {
        node_id: me,
        purpose: wire::Purpose::Raft,
    }));
    loop {
        let secured = connect(&addr, &security).await;
        let Some(strong) = outbox.upgrade() else {
            return;
        };
        let mut writer = match secured {
            // Raft messages only go out: the reading half is dropped.
            Ok(secured) => secured.writer,
            Err(e) => {
                tracing::debug!("raft peer {addr}: {e}");
                strong.unreachable.set(true);
                // What piled up while the peer was away is stale.
                strong.queue.borrow_mut().clear();
                drop(strong);
                glommio::timer::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        strong.unreachable.set(false);
        drop(strong);
        if writer.write_all(hello.clone()).await.is_err() {
            continue;
        }
        loop {
            let Some(strong) = outbox.upgrade() else {
                return;
            };
            strong.wait().await;
            let batch: Vec<u8> = strong.queue.borrow_mut().drain(..).flatten().collect();
            drop(strong);
            if let Err(e) = writer.write_all(batch).await {
                tracing::debug!("raft peer {addr}: {e}");
                break;
            }
        }
    }
}

/// A request/response connection to one node's controller listener.
pub struct Connection {
    writer: local_channel::LocalSender<Vec<u8>>,
    pending: Rc<RefCell<HashMap<u64, oneshot::Sender<ControllerResponse>>>>,
    next_id: Cell<u64>,
    closed: Rc<Cell<bool>>,
}

impl Connection {
    pub async fn open(
        addr: &str,
        hello: Hello,
        security: &LinkSecurity,
    ) -> Result<Connection, String> {
        let mut secured = connect(addr, security).await?;
        secured
            .writer
            .write_all(wire::encode(&Frame::Hello(hello)))
            .await
            .map_err(|e| format!("hello to {addr}: {e}"))?;
        let pending: Rc<RefCell<HashMap<u64, oneshot::Sender<ControllerResponse>>>> =
            Default::default();
        let closed = Rc::new(Cell::new(false));
        glommio::spawn_local(read_responses(
            FrameReader::new(secured.reader, secured.pending),
            pending.clone(),
            closed.clone(),
        ))
        .detach();
        let (writer, queue) = local_channel::new_unbounded::<Vec<u8>>();
        glommio::spawn_local(write_all_queued(secured.writer, queue)).detach();
        Ok(Connection {
            writer,
            pending,
            next_id: Cell::new(1),
            closed,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// One request, answered within `deadline` or an error.
    pub async fn call(
        &self,
        body: ControllerRequest,
        deadline: Duration,
    ) -> Result<ControllerResponse, String> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        let bytes = wire::encode(&Frame::Request { id, body });
        if self.writer.try_send(bytes).is_err() {
            self.closed.set(true);
            return Err("controller connection closed".into());
        }
        let result = within(deadline, rx).await;
        self.pending.borrow_mut().remove(&id);
        match result {
            Some(Ok(response)) => Ok(response),
            Some(Err(_)) => {
                self.closed.set(true);
                Err("controller connection closed".into())
            }
            None => {
                // A lost answer may leave the stream out of step: start over.
                self.closed.set(true);
                Err("controller call timed out".into())
            }
        }
    }
}

async fn read_responses(
    mut reader: FrameReader,
    pending: Rc<RefCell<HashMap<u64, oneshot::Sender<ControllerResponse>>>>,
    closed: Rc<Cell<bool>>,
) {
    while let Ok(Some(Frame::Response { id, body })) = reader.next().await {
        if let Some(tx) = pending.borrow_mut().remove(&id) {
            let _ = tx.send(body);
        }
    }
    closed.set(true);
    // Dropping the senders fails every call still waiting.
    pending.borrow_mut().clear();
}
