//! The TLS client transport for the broker's own connections to other
//! brokers (a follower fetching from its leader over an SSL or SASL_SSL
//! inter-broker listener): rustls `ClientConnection` with the ring
//! provider, one request and one response at a time.
//!
//! Owns: the client configuration (trusting the inter-broker listener's
//! `ssl.truststore.location`, and presenting its keystore as the client
//! certificate when it has one, as Kafka uses one key/trust store pair for
//! both directions) and moving bytes through rustls. PEM files are read by
//! `tls_files`.
//!
//! Must not: time anything out (the caller wraps calls in its deadline),
//! panic on the peer's bytes (each failure is an `Err`), or be built on a
//! shard's hot path (files are read with blocking I/O at start).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection};

use super::halves::{ReadHalf, WriteHalf};
use super::tls::{self, Records, TlsReader, TlsWriter};
use super::tls_files::{load_keystore, load_truststore};
use crate::config::BrokerConfig;

/// Ciphertext read from the socket at once (one record is at most ~16 KiB).
const READ_SIZE: usize = 32 * 1024;

/// Builds the client configuration. `keystore`: present it as the client
/// certificate (for `ssl.client.auth=required` on the other side).
pub fn client_config(truststore: &Path, keystore: Option<&Path>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = load_truststore(truststore)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_root_certificates(roots);
    match keystore {
        None => Ok(builder.with_no_client_auth()),
        Some(path) => {
            let (chain, key) = load_keystore(path)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "{}: not usable as a client certificate: {e}",
                    path.display()
                )
            })
        }
    }
}

/// A TLS connection to a server, after the handshake.
pub struct TlsClientStream {
    stream: TcpStream,
    conn: ClientConnection,
    /// Ciphertext read from the socket; `ciphertext[taken..filled]` is not
    /// yet given to rustls (it takes little at a time and refuses more
    /// while 16 KiB of plaintext wait to be read).
    ciphertext: Vec<u8>,
    taken: usize,
    filled: usize,
    /// Record boundaries of what was read, handed on by `into_halves`.
    records: Records,
}

/// Runs the handshake on `stream` as a client of `server_name` (a DNS
/// name or an IP address, checked against the server's certificate).
pub async fn connect(
    stream: TcpStream,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> io::Result<TlsClientStream> {
    let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{server_name:?} is not a DNS name or an IP address"),
        )
    })?;
    let conn = ClientConnection::new(config, name).map_err(invalid)?;
    let mut tls = TlsClientStream {
        stream,
        conn,
        ciphertext: vec![0u8; READ_SIZE],
        taken: 0,
        filled: 0,
        records: Records::default(),
    };
    while tls.conn.is_handshaking() {
        if tls.conn.wants_write() {
            tls.flush().await?;
        } else {
            tls.receive().await?;
        }
    }
    tls.flush().await?;
    Ok(tls)
}

impl TlsClientStream {
    /// Encrypts and sends all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // rustls buffers a bounded amount of plaintext: send what it
            // took before offering more.
            let n = self.conn.writer().write(data)?;
            data = &data[n..];
            self.flush().await?;
            if n == 0 && !data.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "TLS took no bytes",
                ));
            }
        }
        Ok(())
    }

    /// Fills `buf` with decrypted bytes.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.conn.reader().read(&mut buf[filled..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.receive().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Splits the connection into a reading and a writing half (each on
    /// its own descriptor) for a caller that reads and writes at once.
    /// Ciphertext and plaintext not read yet go with the reading half.
    pub fn into_halves(self) -> io::Result<(TlsReader, TlsWriter)> {
        let mut conn = Connection::Client(self.conn);
        let mut early = BytesMut::new();
        drain_plaintext(&mut conn, &mut early)?;
        let left = &self.ciphertext[self.taken..self.filled];
        let peer_closed = tls::feed(&mut conn, left, &mut early)?;
        tls::halves(conn, self.stream, self.records, early, peer_closed)
    }

    /// Sends whatever rustls has queued (handshake, records, alerts).
    async fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out)?;
        }
        if !out.is_empty() {
            self.stream.write_all(&out).await?;
        }
        Ok(())
    }

    /// Gives rustls ciphertext until it has plaintext or finished a
    /// handshake step, reading the socket when nothing is left over. A TLS
    /// error is reported after the alert rustls queued for it is sent.
    async fn receive(&mut self) -> io::Result<()> {
        if self.taken == self.filled {
            let n = self.stream.read(&mut self.ciphertext).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            (self.taken, self.filled) = (0, n);
            self.records.feed(&self.ciphertext[..n]);
        }
        while self.taken < self.filled {
            let mut data = &self.ciphertext[self.taken..self.filled];
            let n = self.conn.read_tls(&mut data)?;
            self.taken += n;
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    let _ = self.flush().await;
                    return Err(invalid(e));
                }
            };
            if n == 0 || state.plaintext_bytes_to_read() > 0 || self.conn.wants_write() {
                break;
            }
        }
        // Key updates and the like want an answer.
        if self.conn.wants_write() && !self.conn.is_handshaking() {
            self.flush().await?;
        }
        Ok(())
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Moves the plaintext rustls holds to `plain`.
fn drain_plaintext(conn: &mut Connection, plain: &mut BytesMut) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => plain.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// The client configuration for connecting to `listener` of another node
/// as this node, or None when the listener does not use TLS: trust the
/// listener's `ssl.truststore.location`, and present the listener's key
/// store where the other side asks for a client certificate, as Kafka
/// uses one key and trust store pair in both directions. Errors name the
/// setting.
pub fn for_listener(
    config: &BrokerConfig,
    listener: &str,
    uses_tls: bool,
) -> Result<Option<Arc<ClientConfig>>, String> {
    if !uses_tls {
        return Ok(None);
    }
    let get = |s: &str| config.on_listener(listener, s);
    let truststore = get("ssl.truststore.location");
    if truststore.is_empty() {
        return Err(format!(
            "listener {listener} uses TLS: set ssl.truststore.location (PEM) to the CA of \
             the nodes' certificates, which a node checks its peers against"
        ));
    }
    let client_auth = get("ssl.client.auth").to_ascii_lowercase();
    let keystore = get("ssl.keystore.location");
    let keystore = (matches!(client_auth.as_str(), "requested" | "required")
        && !keystore.is_empty())
    .then_some(Path::new(&keystore));
    let config = client_config(truststore.as_ref(), keystore)
        .map_err(|e| format!("listener {listener}: {e}"))?;
    Ok(Some(Arc::new(config)))
}

/// A connection this node opened to another, encrypted or not, used one
/// request and one answer at a time (a login, say) before `into_halves`.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsClientStream>),
}

impl ClientStream {
    /// TLS on `stream` when `config` is set; `host` is the name the
    /// server's certificate must carry.
    pub async fn open(
        stream: TcpStream,
        host: &str,
        config: Option<&Arc<ClientConfig>>,
    ) -> Result<ClientStream, String> {
        match config {
            None => Ok(ClientStream::Plain(stream)),
            Some(config) => connect(stream, host, config.clone())
                .await
                .map(|s| ClientStream::Tls(Box::new(s)))
                .map_err(|e| format!("TLS handshake with {host}: {e}")),
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.write_all(data).await,
            ClientStream::Tls(s) => s.write_all(data).await,
        }
    }

    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.read_exact(buf).await,
            ClientStream::Tls(s) => s.read_exact(buf).await,
        }
    }

    pub fn into_halves(self) -> io::Result<(ReadHalf, WriteHalf)> {
        match self {
            ClientStream::Plain(stream) => {
                let writer = super::dup_stream(&stream)?;
                Ok((ReadHalf::Plain(stream), WriteHalf::Plain(writer)))
            }
            ClientStream::Tls(tls) => {
                let (reader, writer) = tls.into_halves()?;
                Ok((ReadHalf::Tls(reader), WriteHalf::Tls(writer)))
            }
        }
    }
}
