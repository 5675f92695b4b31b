//! The TLS server transport (Kafka's SSL listener) on rustls with the ring
//! provider: the acceptor built once from `ssl.*` settings, the handshake,
//! and the two halves a connection reads and writes through.
//!
//! Owns: the rustls configuration (its PEM files are read by `tls_files`);
//! client certificates (`ssl.client.auth`) and their principal
//! (`principal_rules` on the subject DN, written by `x500_name`); moving
//! ciphertext between the socket and rustls's sans-IO `ServerConnection`,
//! which both halves share as `Rc<RefCell<_>>` (one executor thread; the
//! borrow is never held across an await), each half on its own descriptor.
//!
//! Must not:
//! - block the shard: socket I/O goes through glommio, file chunks are read
//!   through glommio's `BufferedFile`, encryption runs 64 KiB at a time and
//!   decryption one socket read (32 KiB) at a time, with a yield between.
//! - write ciphertext from the reader half after the handshake: records of
//!   two writers could interleave. The writer half alone calls `write_tls`,
//!   so what the reader's `process_new_packets` queues (a fatal alert, a
//!   refusal of TLS 1.2 renegotiation) goes out with the writer's next
//!   frame or shutdown; a KeyUpdate reply rustls itself holds until the
//!   next record the server sends.
//! - panic on hostile bytes: garbage, plaintext Kafka on a TLS port, bad or
//!   truncated records are each an `Err` (the caller closes the connection
//!   and logs one line). Memory is bounded: rustls caps a handshake message
//!   at 64 KiB and buffered plaintext at 16 KiB, our buffers are fixed.
//! - time the handshake out: the caller wraps `accept` in a timeout (a
//!   client that connects and says nothing, or trickles a ClientHello, would
//!   otherwise hold the connection), as it does for idle connections.

use std::cell::RefCell;
use std::io::{self, BufRead};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::io::BufferedFile;
use glommio::net::TcpStream;
use rustls::server::WebPkiClientVerifier;
use rustls::{Connection, ServerConfig, ServerConnection};

use super::principal_rules::PrincipalMapper;
use super::tls_files::{load_keystore, load_truststore};
use super::{Chunk, Frame};
use crate::storage::FileSlice;

/// Plaintext encrypted (and file bytes read) in one step before a yield.
const PIECE: usize = 64 * 1024;
/// Ciphertext read from the socket at once (one record is at most ~16 KiB).
const READ_SIZE: usize = 32 * 1024;

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// The `ssl.*` settings of a listener.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `ssl.keystore.location` with `ssl.keystore.type=PEM`: one file with
    /// the private key (PKCS#8, PKCS#1 or SEC1, unencrypted) and the
    /// certificate chain, leaf first.
    pub keystore_pem: std::path::PathBuf,
    /// `ssl.truststore.location` (PEM CA certificates), for client
    /// certificates.
    pub truststore_pem: Option<std::path::PathBuf>,
    pub client_auth: ClientAuth,
    /// `ssl.principal.mapping.rules` (Kafka's default is "DEFAULT").
    pub principal_mapping_rules: String,
}

/// A listener's TLS configuration, built once at start and cloned into
/// every shard.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    mapper: Arc<PrincipalMapper>,
}

impl TlsAcceptor {
    /// Loads the keystore and truststore and parses the mapping rules;
    /// errors name the file or setting and what is wrong with it. Reads
    /// the files with blocking I/O: call it at start, not on a shard.
    pub fn new(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
        let mapper = PrincipalMapper::parse(&settings.principal_mapping_rules)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, key) = load_keystore(&settings.keystore_pem)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS protocol versions: {e}"))?;
        let builder = match settings.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let Some(path) = &settings.truststore_pem else {
                    return Err(
                        "ssl.client.auth=requested or required needs ssl.truststore.location"
                            .into(),
                    );
                };
                let roots = Arc::new(load_truststore(path)?);
                let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                if auth == ClientAuth::Requested {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier
                    .build()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "{}: the key and certificate chain are not usable: {e}",
                settings.keystore_pem.display()
            )
        })?;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            mapper: Arc::new(mapper),
        })
    }

    /// Runs the handshake on `stream` (a connected glommio socket; made
    /// non-blocking here) and splits the connection. Returns the client's
    /// principal name (its certificate's subject DN after the mapping
    /// rules), or None when it sent no certificate. No timeout: see the
    /// module doc.
    pub async fn accept(
        &self,
        mut stream: TcpStream,
    ) -> io::Result<(TlsReader, TlsWriter, Option<String>)> {
        super::set_nonblocking(stream.as_raw_fd())?;
        let mut conn =
            Connection::Server(ServerConnection::new(self.config.clone()).map_err(invalid)?);
        let mut records = Records::default();
        let mut ciphertext = vec![0u8; READ_SIZE];
        let mut out = Vec::new();
        // Application data the client sent right behind its Finished.
        let mut early = BytesMut::new();
        let mut peer_closed = false;
        loop {
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
                out.clear();
            }
            if !conn.is_handshaking() {
                break;
            }
            let n = recv(&mut stream, &mut ciphertext).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed the connection during the TLS handshake",
                ));
            }
            records.feed(&ciphertext[..n]);
            match feed(&mut conn, &ciphertext[..n], &mut early) {
                Ok(closed) => peer_closed = closed,
                Err(e) => {
                    // Tell the client why (the alert rustls queued), best effort.
                    while conn.wants_write() && conn.write_tls(&mut out).is_ok() {}
                    let _ = stream.write_all(&out).await;
                    return Err(e);
                }
            }
            glommio::yield_if_needed().await;
        }
        let principal = match conn.peer_certificates().and_then(|chain| chain.first()) {
            None => None,
            Some(leaf) => {
                let dn = super::x500_name::subject_dn(leaf).map_err(invalid)?;
                let name = self
                    .mapper
                    .map(&dn)
                    .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
                Some(name)
            }
        };
        let (reader, writer) = halves(conn, stream, records, early, peer_closed)?;
        Ok((reader, writer, principal))
    }
}

/// Splits a connection whose handshake is done into its two halves, each
/// on its own descriptor. `records`: where the stream read so far stands
/// relative to record boundaries; `early`: plaintext already decrypted.
pub(super) fn halves(
    conn: Connection,
    stream: TcpStream,
    records: Records,
    early: BytesMut,
    peer_closed: bool,
) -> io::Result<(TlsReader, TlsWriter)> {
    let writer_stream = super::dup_stream(&stream)?;
    let conn = Rc::new(RefCell::new(conn));
    let reader = TlsReader {
        conn: conn.clone(),
        stream,
        records,
        ciphertext: vec![0u8; READ_SIZE],
        early,
        peer_closed,
    };
    let writer = TlsWriter {
        conn,
        stream: writer_stream,
        staged: Vec::new(),
        out: Vec::new(),
    };
    Ok((reader, writer))
}

/// The reading half: decrypts what the client sends.
pub struct TlsReader {
    conn: Rc<RefCell<Connection>>,
    stream: TcpStream,
    records: Records,
    ciphertext: Vec<u8>,
    early: BytesMut,
    peer_closed: bool,
}

impl TlsReader {
    /// Appends decrypted bytes to `buffer` (all that one socket read
    /// yields, beyond its capacity if need be). `Ok(0)` at the end of the
    /// stream: the client's close_notify, or a TCP EOF between records
    /// (many clients close without close_notify); an EOF inside a record
    /// is an `UnexpectedEof` error, a record that fails to decrypt or
    /// parse `InvalidData`.
    pub async fn fill(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        if !self.early.is_empty() {
            let n = self.early.len();
            buffer.extend_from_slice(&self.early);
            self.early = BytesMut::new();
            return Ok(n);
        }
        loop {
            if self.peer_closed {
                return Ok(0);
            }
            let n = recv(&mut self.stream, &mut self.ciphertext).await?;
            if n == 0 {
                if self.records.between_records() {
                    return Ok(0);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a TLS record",
                ));
            }
            self.records.feed(&self.ciphertext[..n]);
            let start = buffer.len();
            {
                let mut conn = self.conn.borrow_mut();
                self.peer_closed = feed(&mut conn, &self.ciphertext[..n], buffer)?;
            }
            if buffer.len() > start {
                return Ok(buffer.len() - start);
            }
            // A read of only handshake/alert records, or a partial record.
            glommio::yield_if_needed().await;
        }
    }
}

/// The writing half: encrypts response frames. The only half that writes
/// ciphertext after the handshake.
pub struct TlsWriter {
    conn: Rc<RefCell<Connection>>,
    stream: TcpStream,
    /// Plaintext gathered from small chunks, so they share records.
    staged: Vec<u8>,
    /// Ciphertext on its way to the socket.
    out: Vec<u8>,
}

impl TlsWriter {
    /// Encrypts and writes one response frame. File chunks are read
    /// through glommio and encrypted (TLS cannot splice). On an error the
    /// stream is no longer framed: the caller closes the connection.
    pub async fn write(&mut self, frame: Frame) -> io::Result<()> {
        // First whatever the reader half left queued (an alert, say).
        self.flush().await?;
        match frame {
            Frame::Whole(bytes) => self.put(&bytes).await?,
            Frame::Chunks(chunks) => {
                for chunk in chunks {
                    match chunk {
                        Chunk::Memory(bytes) => self.put(&bytes).await?,
                        Chunk::File(slice) => self.put_file(slice).await?,
                    }
                }
            }
        }
        self.seal_staged().await
    }

    /// Sends close_notify and shuts the socket down (both directions, so
    /// a reader still waiting on it wakes up). Best effort.
    pub async fn shutdown(&mut self) {
        self.conn.borrow_mut().send_close_notify();
        let _ = self.flush().await;
        let _ = self.stream.shutdown(std::net::Shutdown::Both).await;
    }

    /// Stages `data`, encrypting a piece whenever one fills; pieces of a
    /// large buffer are encrypted straight from it.
    async fn put(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.staged.is_empty() && data.len() >= PIECE {
                self.seal(&data[..PIECE]).await?;
                data = &data[PIECE..];
                continue;
            }
            let take = (PIECE - self.staged.len()).min(data.len());
            self.staged.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.staged.len() == PIECE {
                self.seal_staged().await?;
            }
        }
        Ok(())
    }

    /// Reads a file slice through glommio (a page-cache miss never blocks
    /// the shard), a piece at a time.
    async fn put_file(&mut self, slice: FileSlice) -> io::Result<()> {
        // SAFETY: the slice owns its descriptor; the BufferedFile now does.
        let file = unsafe { BufferedFile::from_raw_fd(slice.file.into_raw_fd()) };
        let (mut pos, end) = (slice.pos, slice.pos + slice.len);
        while pos < end {
            let want = (end - pos).min(PIECE as u64) as usize;
            let data = match file.read_at(pos, want).await {
                Ok(data) if !data.is_empty() => data,
                Ok(_) => {
                    let _ = file.close().await;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "segment ended at {pos} inside a read of {} bytes",
                            slice.len
                        ),
                    ));
                }
                Err(e) => {
                    let _ = file.close().await;
                    return Err(e.into());
                }
            };
            pos += data.len() as u64;
            if let Err(e) = self.put(&data).await {
                let _ = file.close().await;
                return Err(e);
            }
        }
        file.close().await?;
        Ok(())
    }

    async fn seal_staged(&mut self) -> io::Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let sealed = self.seal(&staged).await;
        self.staged = staged;
        self.staged.clear();
        sealed
    }

    /// Encrypts `data` (at most a piece), writes the records, and lets the
    /// executor run other tasks if this one has had its share.
    async fn seal(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let taken = io::Write::write(&mut self.conn.borrow_mut().writer(), data)?;
            data = &data[taken..];
            let sent = self.flush().await?;
            if taken == 0 && sent == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        glommio::yield_if_needed().await;
        Ok(())
    }

    /// Writes every queued TLS record; returns how many bytes.
    async fn flush(&mut self) -> io::Result<usize> {
        let mut sent = 0;
        loop {
            self.out.clear();
            {
                let mut conn = self.conn.borrow_mut();
                while conn.wants_write() {
                    conn.write_tls(&mut self.out)?;
                }
            }
            if self.out.is_empty() {
                return Ok(sent);
            }
            self.stream.write_all(&self.out).await?;
            sent += self.out.len();
        }
    }
}

/// Hands ciphertext to rustls and moves the plaintext it yields to
/// `plain` as it goes (rustls refuses more input while 16 KiB of
/// plaintext wait). Stops early at the client's close_notify; returns
/// whether it has come.
pub(super) fn feed(
    conn: &mut Connection,
    mut data: &[u8],
    plain: &mut BytesMut,
) -> io::Result<bool> {
    let mut closed = false;
    while !data.is_empty() {
        if conn.read_tls(&mut data)? == 0 {
            break;
        }
        closed = conn
            .process_new_packets()
            .map_err(invalid)?
            .peer_has_closed();
        let mut reader = conn.reader();
        loop {
            match reader.fill_buf() {
                Ok([]) => break,
                Ok(chunk) => {
                    let n = chunk.len();
                    plain.extend_from_slice(chunk);
                    reader.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(closed)
}

/// Reads what the socket has: a direct non-blocking recv first, glommio's
/// wait only when nothing is there yet. 0 at end of stream.
async fn recv(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: initialised bytes viewed as possibly-uninitialised ones;
    // try_recv only writes into them.
    let room = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    if let Some(n) = super::try_recv(stream.as_raw_fd(), room)? {
        return Ok(n);
    }
    stream.read(buf).await
}

/// Where the client's byte stream is relative to TLS record boundaries,
/// so that an EOF inside a record (a truncation) is told from one between
/// records; rustls reports both alike.
#[derive(Default)]
pub(super) struct Records {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl Records {
    pub(super) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == 5 {
                self.body_left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                self.header_len = 0;
            }
        }
    }

    fn between_records(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
