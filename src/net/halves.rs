//! A connection's two halves, plain or TLS, for fjord's own node-to-node
//! connections (the controller listener), where one task reads frames
//! while others write. Owns: moving bytes; must not know frames.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::tls::{TlsReader, TlsWriter};

/// The reading half of a connection, plain or TLS.
pub enum ReadHalf {
    Plain(TcpStream),
    Tls(TlsReader),
}

impl ReadHalf {
    /// Appends what arrived to `buffer`; 0 at the end of the stream.
    pub async fn fill(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        match self {
            ReadHalf::Plain(stream) => {
                let mut chunk = [0u8; 16 * 1024];
                let n = stream.read(&mut chunk).await?;
                buffer.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            ReadHalf::Tls(reader) => reader.fill(buffer).await,
        }
    }
}

/// The writing half of a connection, plain or TLS.
pub enum WriteHalf {
    Plain(TcpStream),
    Tls(TlsWriter),
}

impl WriteHalf {
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        match self {
            WriteHalf::Plain(stream) => stream.write_all(&bytes).await,
            WriteHalf::Tls(writer) => writer.write(super::Frame::Whole(Bytes::from(bytes))).await,
        }
    }
}
