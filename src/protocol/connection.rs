//! One client connection: read frames, start each request in order, write the
//! responses in the same order (Kafka clients rely on it), with at most
//! `fjord.max.inflight.requests.per.connection` requests in progress.
//!
//! Reading and writing are separate tasks on two descriptors of the same
//! socket, so a slow response (a long-polling Fetch) never stops the next
//! request from being read and started.

use std::os::fd::AsRawFd;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::AsyncReadExt;
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::task::JoinHandle;

use super::dispatch::{self, Pending};
use crate::net::Frame;
use crate::shard::Shard;

const READ_CHUNK: usize = 64 * 1024;
/// What a read that had to wait for data reads at most (the rest follows
/// with direct receives).
const WAIT_READ: usize = 4096;

pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    if let Err(e) = crate::net::set_nonblocking(stream.as_raw_fd()) {
        tracing::warn!(%peer, "socket: {e}");
        return;
    }
    let writer_stream = match crate::net::dup_stream(&stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%peer, "dup socket: {e}");
            return;
        }
    };
    let inflight = shard.config.max_inflight_requests_per_connection.max(1);
    let (queue, responses) =
        local_channel::new_bounded::<JoinHandle<Result<Option<Frame>, String>>>(inflight);
    let writer = glommio::spawn_local(write_responses(
        shard.clone(),
        writer_stream,
        responses,
        peer.clone(),
    ));
    shard.metrics.connection_opened();
    let peer_host = peer
        .rsplit_once(':')
        .map_or(peer.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string();
    if let Err(reason) = read_requests(&shard, stream, &queue, &peer_host).await {
        tracing::info!(%peer, "closing connection: {reason}");
    }
    drop(queue);
    let _ = writer.await;
    shard.metrics.connection_closed();
}

async fn read_requests(
    shard: &Rc<Shard>,
    mut stream: TcpStream,
    queue: &local_channel::LocalSender<JoinHandle<Result<Option<Frame>, String>>>,
    peer_host: &str,
) -> Result<(), String> {
    let max_frame = shard.config.socket_request_max_bytes;
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let Some(frame) = next_frame(&mut stream, &mut buffer, max_frame).await? else {
            return Ok(());
        };
        if shard.stopping.get() {
            return Err("broker shutting down".into());
        }
        let pending: Pending = dispatch::start(shard, frame, peer_host).await?;
        let task = glommio::spawn_local(pending).detach();
        if queue.send(task).await.is_err() {
            return Err("response writer stopped".into());
        }
    }
}

/// Reads the next length-prefixed frame. `Ok(None)` on a clean EOF between
/// frames.
async fn next_frame(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    max_frame: usize,
) -> Result<Option<Bytes>, String> {
    loop {
        if buffer.len() >= 4 {
            let length = (&buffer[..4]).get_i32();
            if length < 0 || length as usize > max_frame {
                return Err(format!(
                    "request of {length} bytes exceeds socket.request.max.bytes ({max_frame})"
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
        match fill(stream, buffer).await {
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

/// Appends what the socket has to `buffer`'s spare capacity. A direct,
/// non-blocking recv first, so the (often megabytes of) spare room is
/// never zero-filled; only when nothing is there yet does glommio wait,
/// reading into a small zeroed part. Returns 0 at end of stream.
async fn fill(stream: &mut TcpStream, buffer: &mut BytesMut) -> std::io::Result<usize> {
    let spare = buffer.spare_capacity_mut();
    // SAFETY: recv writes at most `spare.len()` bytes into memory we own.
    let r = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            spare.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if r >= 0 {
        // SAFETY: the kernel initialized the first `r` spare bytes.
        unsafe { buffer.set_len(buffer.len() + r as usize) };
        return Ok(r as usize);
    }
    let err = std::io::Error::last_os_error();
    if !matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
    ) {
        return Err(err);
    }
    let start = buffer.len();
    let room = (buffer.capacity() - start).clamp(1, WAIT_READ);
    buffer.resize(start + room, 0);
    let read = stream.read(&mut buffer[start..]).await;
    buffer.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

async fn write_responses(
    shard: Rc<Shard>,
    mut stream: TcpStream,
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
        if let Err(e) = shard.sender.write(&mut stream, frame).await {
            tracing::debug!(%peer, "write: {e}");
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both).await;
}
