//! One client connection: read frames, start each request in order, write the
//! responses in the same order (Kafka clients rely on it), with at most
//! `fjord.max.inflight.requests.per.connection` requests in progress.
//!
//! Reading and writing are separate tasks on two descriptors of the same
//! socket, so a slow response (a long-polling Fetch) never stops the next
//! request from being read and started. A client over its quota is muted
//! (`throttle`): the reader takes no request until the throttle time it
//! was given has passed.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::task::JoinHandle;

use super::authentication::{Admit, Authenticator};
use super::dispatch::{self, Pending};
use super::listener::Listener;
use super::throttle::ConnectionThrottle;
use super::transport::{Reader, Writer};
use crate::net::Frame;
use crate::security::session::Session;
use crate::shard::Shard;

const READ_CHUNK: usize = 64 * 1024;
/// A TLS handshake not done by then closes the connection (a client that
/// stalls mid-handshake must not hold a connection forever).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Responses = local_channel::LocalSender<JoinHandle<Result<Option<Frame>, String>>>;

pub async fn serve(shard: Rc<Shard>, stream: TcpStream, listener: Arc<Listener>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    if let Err(e) = crate::net::set_nonblocking(stream.as_raw_fd()) {
        tracing::warn!(%peer, "socket: {e}");
        return;
    }
    let Some((reader, writer, certificate_user)) = open(stream, &listener, &peer).await else {
        return;
    };
    let inflight = shard.config.max_inflight_requests_per_connection.max(1);
    let (queue, responses) =
        local_channel::new_bounded::<JoinHandle<Result<Option<Frame>, String>>>(inflight);
    let writer = glommio::spawn_local(write_responses(
        shard.clone(),
        writer,
        responses,
        peer.clone(),
    ));
    shard.metrics.connection_opened();
    let peer_host = peer
        .rsplit_once(':')
        .map_or(peer.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string();
    let session = Session::new(certificate_user.as_deref(), &peer_host, &listener.name);
    let gate = Authenticator::new(listener, session);
    if let Err(reason) = read_requests(&shard, reader, &queue, gate).await {
        tracing::info!(%peer, "closing connection: {reason}");
    }
    drop(queue);
    let _ = writer.await;
    shard.metrics.connection_closed();
}

/// The connection's two halves (after the TLS handshake on a TLS
/// listener) and the principal name its client certificate maps to.
async fn open(
    stream: TcpStream,
    listener: &Listener,
    peer: &str,
) -> Option<(Reader, Writer, Option<String>)> {
    let Some(tls) = &listener.tls else {
        let writer = match crate::net::dup_stream(&stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, "dup socket: {e}");
                return None;
            }
        };
        return Some((Reader::Plain(stream), Writer::Plain(writer), None));
    };
    let handshake = glommio::timer::timeout(TLS_HANDSHAKE_TIMEOUT, async {
        tls.accept(stream)
            .await
            .map_err(glommio::GlommioError::from)
    });
    match handshake.await {
        Ok((reader, writer, user)) => Some((Reader::Tls(reader), Writer::Tls(writer), user)),
        Err(e) => {
            tracing::info!(%peer, listener = %listener.name, "TLS handshake failed: {e}");
            None
        }
    }
}

async fn read_requests(
    shard: &Rc<Shard>,
    mut reader: Reader,
    queue: &Responses,
    mut gate: Authenticator,
) -> Result<(), String> {
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    let throttle = Rc::new(ConnectionThrottle::default());
    loop {
        unmuted(&throttle).await;
        let max_frame = gate.max_frame(shard.config.socket_request_max_bytes);
        let Some(frame) = next_frame(&mut reader, &mut buffer, max_frame).await? else {
            return Ok(());
        };
        // Muted while the read waited (a pipelined request's response).
        unmuted(&throttle).await;
        if shard.stopping.get() {
            return Err("broker shutting down".into());
        }
        // The image is only borrowed while the gate decides (no await).
        let admitted = gate.admit(&frame, &shard.image.borrow().security);
        let pending: Pending = match admitted {
            Admit::Dispatch(session) => dispatch::start(shard, frame, &session, &throttle).await?,
            Admit::Answer(frame) => answered(frame),
            Admit::AnswerAndClose(frame, reason) => {
                let _ = queue
                    .send(glommio::spawn_local(answered(frame)).detach())
                    .await;
                return Err(reason);
            }
            Admit::Close(reason) => return Err(reason),
        };
        let task = glommio::spawn_local(pending).detach();
        if queue.send(task).await.is_err() {
            return Err("response writer stopped".into());
        }
    }
}

/// Waits out the connection's throttle time, if any.
async fn unmuted(throttle: &ConnectionThrottle) {
    while let Some(left) = throttle.muted_for() {
        glommio::timer::sleep(left).await;
    }
}

fn answered(frame: Bytes) -> Pending {
    Box::pin(std::future::ready(Ok(Some(Frame::Whole(frame)))))
}

/// Reads the next length-prefixed frame. `Ok(None)` on a clean EOF between
/// frames.
async fn next_frame(
    reader: &mut Reader,
    buffer: &mut BytesMut,
    max_frame: usize,
) -> Result<Option<Bytes>, String> {
    loop {
        if buffer.len() >= 4 {
            let length = (&buffer[..4]).get_i32();
            if length < 0 || length as usize > max_frame {
                return Err(format!(
                    "request of {length} bytes exceeds the frame limit ({max_frame})"
                ));
            }
            let needed = 4 + length as usize;
            if buffer.len() >= needed {
                buffer.advance(4);
                return Ok(Some(buffer.split_to(length as usize).freeze()));
            }
            buffer.reserve(needed - buffer.len());
        } else {
            buffer.reserve(READ_CHUNK);
        }
        let start = buffer.len();
        match reader.fill(buffer).await {
            Ok(0) => {
                return if start == 0 {
                    Ok(None)
                } else {
                    Err("connection closed mid-frame".into())
                };
            }
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

async fn write_responses(
    shard: Rc<Shard>,
    mut writer: Writer,
    responses: local_channel::LocalReceiver<JoinHandle<Result<Option<Frame>, String>>>,
    peer: String,
) {
    while let Some(task) = responses.recv().await {
        let frame = match task.await {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) => continue,
            Some(Err(e)) => {
                tracing::error!(%peer, "{e}");
                break;
            }
            None => break,
        };
        if let Err(e) = writer.write(&shard.sender, frame).await {
            tracing::debug!(%peer, "write: {e}");
            break;
        }
    }
    writer.shutdown().await;
}
