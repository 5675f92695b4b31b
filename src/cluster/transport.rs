//! Connections between nodes, on the controller shard's executor: the
//! controller listener (inbound frames to an [`Inbound`] handler), one
//! outbound connection per peer voter for raft messages ([`Outbox`]), and
//! request/response calls to another node's controller ([`Connection`]).
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
use std::time::Duration;

use futures_channel::oneshot;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::{TcpListener, TcpStream};

use super::wire::{self, ControllerRequest, ControllerResponse, Frame, Hello};

/// Raft messages queued for one peer before new ones are dropped.
const OUTBOX_LIMIT: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
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
}

/// Reads whole frames from a stream.
pub struct FrameReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new(stream: TcpStream) -> FrameReader {
        FrameReader {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// The next frame, `Ok(None)` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Frame>, String> {
        loop {
            if let Some(len) = wire::frame_len(&self.buf)? {
                if self.buf.len() >= len {
                    let frame = wire::decode(&self.buf[..len]);
                    self.buf.drain(..len);
                    return frame.map(Some);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err("connection closed inside a frame".into())
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Accepts controller connections until the listener fails.
pub async fn serve(listener: TcpListener, inbound: Rc<dyn Inbound>) {
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
        glommio::spawn_local(async move {
            let addr = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            if let Err(reason) = serve_connection(stream, connection, inbound).await {
                tracing::info!(peer = addr, "controller connection closed: {reason}");
            }
        })
        .detach();
    }
}

async fn serve_connection(
    stream: TcpStream,
    connection: u64,
    inbound: Rc<dyn Inbound>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let writer = crate::net::dup_stream(&stream).map_err(|e| format!("dup: {e}"))?;
    let mut reader = FrameReader::new(stream);
    let hello = match within(HELLO_TIMEOUT, reader.next()).await {
        Some(Ok(Some(Frame::Hello(hello)))) => hello,
        _ => return Err("no hello".into()),
    };
    let peer = Peer { hello, connection };
    let (responses, queue) = local_channel::new_unbounded::<Vec<u8>>();
    let responses = Rc::new(responses);
    let writing = glommio::spawn_local(write_all_queued(writer, queue));
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

async fn write_all_queued(mut stream: TcpStream, queue: local_channel::LocalReceiver<Vec<u8>>) {
    while let Some(bytes) = queue.recv().await {
        if stream.write_all(&bytes).await.is_err() {
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

async fn connect(addr: &str) -> Result<TcpStream, String> {
    let addr: SocketAddr = resolve(addr)?;
    let stream = within(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok_or_else(|| format!("connect {addr}: timed out"))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
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
    pub fn start(me: i32, addr: String) -> Rc<Outbox> {
        let outbox = Rc::new(Outbox {
            queue: RefCell::new(VecDeque::new()),
            wake: RefCell::new(None),
            unreachable: Cell::new(false),
        });
        glommio::spawn_local(run_outbox(me, addr, Rc::downgrade(&outbox))).detach();
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

async fn run_outbox(me: i32, addr: String, outbox: std::rc::Weak<Outbox>) {
    let hello = wire::encode(&Frame::Hello(Hello {
        node_id: me,
        purpose: wire::Purpose::Raft,
    }));
    loop {
        let stream = connect(&addr).await;
        let Some(strong) = outbox.upgrade() else {
            return;
        };
        let mut stream = match stream {
            Ok(stream) => stream,
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
        if stream.write_all(&hello).await.is_err() {
            continue;
        }
        loop {
            let Some(strong) = outbox.upgrade() else {
                return;
            };
            strong.wait().await;
            let batch: Vec<u8> = strong.queue.borrow_mut().drain(..).flatten().collect();
            drop(strong);
            if let Err(e) = stream.write_all(&batch).await {
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
    pub async fn open(addr: &str, hello: Hello) -> Result<Connection, String> {
        let mut stream = connect(addr).await?;
        stream
            .write_all(&wire::encode(&Frame::Hello(hello)))
            .await
            .map_err(|e| format!("hello to {addr}: {e}"))?;
        let reader = crate::net::dup_stream(&stream).map_err(|e| format!("dup: {e}"))?;
        let pending: Rc<RefCell<HashMap<u64, oneshot::Sender<ControllerResponse>>>> =
            Default::default();
        let closed = Rc::new(Cell::new(false));
        glommio::spawn_local(read_responses(
            FrameReader::new(reader),
            pending.clone(),
            closed.clone(),
        ))
        .detach();
        let (writer, queue) = local_channel::new_unbounded::<Vec<u8>>();
        glommio::spawn_local(write_all_queued(stream, queue)).detach();
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
