//! A connection's two halves, plain or TLS: the reader appends the
//! client's bytes to a buffer, the writer sends response frames.
//!
//! Plain connections keep the zero-copy path (file chunks spliced by the
//! shard's `net::Sender`); TLS connections encrypt everything, so their
//! file chunks are read and copied (`net::tls`). Must not: know frames or
//! the Kafka protocol.

use std::io;
use std::os::fd::AsRawFd;

use bytes::BytesMut;
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use crate::net::tls::{TlsReader, TlsWriter};
use crate::net::{Frame, Sender};

/// What a read that had to wait for data reads at most (the rest follows
/// with direct receives).
const WAIT_READ: usize = 4096;

pub enum Reader {
    Plain(TcpStream),
    Tls(TlsReader),
}

pub enum Writer {
    Plain(TcpStream),
    Tls(TlsWriter),
}

impl Reader {
    /// Appends what the client sent to `buffer`'s spare capacity; 0 at the
    /// end of the stream.
    pub async fn fill(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        match self {
            Reader::Plain(stream) => fill_plain(stream, buffer).await,
            Reader::Tls(reader) => reader.fill(buffer).await,
        }
    }
}

impl Writer {
    pub async fn write(&mut self, sender: &Sender, frame: Frame) -> io::Result<()> {
        match self {
            Writer::Plain(stream) => sender.write(stream, frame).await,
            Writer::Tls(writer) => writer.write(frame).await,
        }
    }

    pub async fn shutdown(&mut self) {
        match self {
            Writer::Plain(stream) => {
                let _ = stream.shutdown(std::net::Shutdown::Both).await;
            }
            Writer::Tls(writer) => writer.shutdown().await,
        }
    }
}

/// A direct, non-blocking recv first, so the (often megabytes of) spare
/// room is never zero-filled; only when nothing is there yet does glommio
/// wait, reading into a small zeroed part.
async fn fill_plain(stream: &mut TcpStream, buffer: &mut BytesMut) -> io::Result<usize> {
    if let Some(n) = crate::net::try_recv(stream.as_raw_fd(), buffer.spare_capacity_mut())? {
        // SAFETY: the kernel initialized the first `n` spare bytes.
        unsafe { buffer.set_len(buffer.len() + n) };
        return Ok(n);
    }
    let start = buffer.len();
    let room = (buffer.capacity() - start).clamp(1, WAIT_READ);
    buffer.resize(start + room, 0);
    let read = stream.read(&mut buffer[start..]).await;
    buffer.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}
