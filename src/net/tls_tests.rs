//! The TLS transport against a real rustls client on loopback: certificates
//! made here with rcgen (a CA, a server certificate for localhost and
//! 127.0.0.1, a client certificate for CN=alice,OU=eng), a client thread on
//! std sockets, the server on a glommio executor. Covers frames of memory
//! and file chunks byte for byte, mutual TLS and principals, hostile bytes
//! before and after the handshake. Keystore errors and DNs: `tls_files_tests`.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use glommio::net::{TcpListener, TcpStream};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::tls::{ClientAuth, TlsAcceptor, TlsReader, TlsSettings};
use super::{Chunk, Frame};
use crate::storage::FileSlice;

/// The test's certificates, in files laid out as a broker reads them.
pub(super) struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    /// CN=alice,OU=eng,O=fjord,C=NO, signed by the CA.
    client: (CertificateDer<'static>, Vec<u8>),
    pub(super) client_pem: String,
}

pub(super) fn name(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

impl Pki {
    pub(super) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = name(&[(DnType::CommonName, "fjord test CA")]);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &issuer).unwrap();
        // KIP-651's one-file keystore: the key, then the chain, leaf first.
        let keystore = format!("{}{}{}", server_key.serialize_pem(), server.pem(), ca.pem());
        std::fs::write(dir.path().join("keystore.pem"), keystore).unwrap();
        std::fs::write(dir.path().join("truststore.pem"), ca.pem()).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = name(&[
            (DnType::CountryName, "NO"),
            (DnType::OrganizationName, "fjord"),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = params.signed_by(&client_key, &issuer).unwrap();
        Pki {
            ca: ca.der().clone(),
            client: (client.der().clone(), client_key.serialize_der()),
            client_pem: client.pem(),
            dir,
        }
    }

    pub(super) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub(super) fn settings(&self, client_auth: ClientAuth, rules: &str) -> TlsSettings {
        TlsSettings {
            keystore_pem: self.path("keystore.pem"),
            truststore_pem: Some(self.path("truststore.pem")),
            client_auth,
            principal_mapping_rules: rules.into(),
        }
    }

    fn acceptor(&self, client_auth: ClientAuth, rules: &str) -> TlsAcceptor {
        TlsAcceptor::new(&self.settings(client_auth, rules)).unwrap()
    }

    fn client_config(&self, with_cert: bool, tls12: bool) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(if with_cert {
            let key = PrivateKeyDer::Pkcs8(self.client.1.clone().into());
            builder
                .with_client_auth_cert(vec![self.client.0.clone()], key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        })
    }
}

type Client = StreamOwned<ClientConnection, std::net::TcpStream>;

fn tcp(addr: SocketAddr) -> std::net::TcpStream {
    let sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock
}

/// A TLS client whose handshake is done (from its side).
fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Client {
    let mut sock = tcp(addr);
    let name = "localhost".try_into().unwrap();
    let mut conn = ClientConnection::new(config, name).unwrap();
    let _ = conn.complete_io(&mut sock);
    StreamOwned::new(conn, sock)
}

/// Runs `server` on the first connection to a glommio listener and
/// `client` on a thread with the listener's address; returns both results.
fn run<S, F, T, C, R>(server: S, client: C) -> (T, R)
where
    S: FnOnce(TcpStream) -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
    C: FnOnce(SocketAddr) -> R + Send + 'static,
    R: Send + 'static,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || client(addr_rx.recv().unwrap()));
    let served = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            server(listener.accept().await.unwrap()).await
        })
        .unwrap()
        .join()
        .unwrap();
    (served, client.join().unwrap())
}

/// Everything the reader yields until the end of the stream (or an error).
async fn read_all(reader: &mut TlsReader) -> std::io::Result<Vec<u8>> {
    let mut buffer = BytesMut::with_capacity(4096);
    while reader.fill(&mut buffer).await? > 0 {}
    Ok(buffer.to_vec())
}

fn file_chunk(path: &Path, pos: u64, len: u64) -> Chunk {
    let file = std::fs::File::open(path).unwrap();
    Chunk::File(FileSlice {
        file: OwnedFd::from(file),
        pos,
        len,
    })
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(seed) % 251) as u8)
        .collect()
}

/// Request in, a whole frame and a frame of memory and file chunks out.
fn round_trip(tls12: bool) {
    let pki = Pki::new();
    let acceptor = pki.acceptor(ClientAuth::None, "DEFAULT");
    let segment = pki.path("segment");
    let content = pattern(2_500_000, 7);
    std::fs::write(&segment, &content).unwrap();
    let request = pattern(300_000, 13);
    let mut response = b"whole".to_vec();
    response.extend_from_slice(b"head");
    response.extend_from_slice(&content[100..1_600_100]);
    response.extend_from_slice(&pattern(200_000, 3));
    response.extend_from_slice(&content[2_000_000..2_100_000]);
    response.extend_from_slice(b"tail");

    let config = pki.client_config(false, tls12);
    let sent = request.clone();
    let ((received, principal), echoed) = run(
        move |stream| async move {
            let (mut reader, mut writer, principal) = acceptor.accept(stream).await.unwrap();
            // Ends with the client's close_notify; writing still works.
            let received = read_all(&mut reader).await.unwrap();
            writer
                .write(Frame::Whole(Bytes::from_static(b"whole")))
                .await
                .unwrap();
            let frame = Frame::Chunks(vec![
                Chunk::Memory(Bytes::from_static(b"he")),
                Chunk::Memory(Bytes::from_static(b"ad")),
                file_chunk(&segment, 100, 1_600_000),
                Chunk::Memory(Bytes::from(pattern(200_000, 3))),
                file_chunk(&segment, 2_000_000, 100_000),
                Chunk::Memory(Bytes::from_static(b"tail")),
            ]);
            writer.write(frame).await.unwrap();
            writer.shutdown().await;
            (received, principal)
        },
        move |addr| {
            let mut client = connect(addr, config);
            client.write_all(&sent).unwrap();
            client.conn.send_close_notify();
            client.flush().unwrap();
            let mut echoed = Vec::new();
            client.read_to_end(&mut echoed).unwrap();
            echoed
        },
    );
    assert!(principal.is_none());
    assert!(received == request, "server read {} bytes", received.len());
    assert!(
        echoed == response,
        "client read {} bytes of {}",
        echoed.len(),
        response.len()
    );
}

#[test]
fn frames_round_trip_over_tls13() {
    round_trip(false);
}

#[test]
fn frames_round_trip_over_tls12() {
    round_trip(true);
}

/// A client's KeyUpdate asks for one back: rustls holds the reply until the
/// next record the server sends (the writer half's), so the client reads
/// the reply frame under the server's new keys.
#[test]
fn key_update_reply_goes_out_with_the_next_frame() {
    let pki = Pki::new();
    let acceptor = pki.acceptor(ClientAuth::None, "DEFAULT");
    let config = pki.client_config(false, false);
    let (received, reply) = run(
        move |stream| async move {
            let (mut reader, mut writer, _) = acceptor.accept(stream).await.unwrap();
            let mut buffer = BytesMut::new();
            while buffer.len() < 6 {
                assert!(reader.fill(&mut buffer).await.unwrap() > 0);
            }
            writer
                .write(Frame::Whole(Bytes::from_static(b"reply")))
                .await
                .unwrap();
            writer.shutdown().await;
            buffer.to_vec()
        },
        move |addr| {
            let mut client = connect(addr, config);
            // After the server's accept, so that its reader half sees it.
            std::thread::sleep(Duration::from_millis(100));
            client.write_all(b"one").unwrap();
            client.conn.refresh_traffic_keys().unwrap();
            client.write_all(b"two").unwrap();
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).unwrap();
            reply
        },
    );
    assert_eq!(received, b"onetwo");
    assert_eq!(reply, b"reply");
}

/// The principal the server sees for a client with or without its
/// certificate, or the handshake's error.
fn principal(auth: ClientAuth, rules: &str, with_cert: bool) -> std::io::Result<Option<String>> {
    let pki = Pki::new();
    let acceptor = pki.acceptor(auth, rules);
    let config = pki.client_config(with_cert, false);
    run(
        move |stream| async move {
            let (mut reader, mut writer, principal) = acceptor.accept(stream).await?;
            assert_eq!(read_all(&mut reader).await?, b"ping");
            writer
                .write(Frame::Whole(Bytes::from_static(b"pong")))
                .await?;
            writer.shutdown().await;
            Ok(principal)
        },
        move |addr| {
            let mut client = connect(addr, config);
            let _ = client.write_all(b"ping");
            client.conn.send_close_notify();
            let _ = client.flush();
            let mut pong = Vec::new();
            let _ = client.read_to_end(&mut pong);
        },
    )
    .0
}

#[test]
fn required_client_auth() {
    let err = principal(ClientAuth::Required, "DEFAULT", false).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert_eq!(
        principal(ClientAuth::Required, "DEFAULT", true).unwrap(),
        Some("CN=alice,OU=eng,O=fjord,C=NO".into())
    );
    let rules =
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/U,DEFAULT";
    assert_eq!(
        principal(ClientAuth::Required, rules, true).unwrap(),
        Some("ALICE@ENG".into())
    );
}

#[test]
fn requested_client_auth() {
    assert_eq!(
        principal(ClientAuth::Requested, "DEFAULT", false).unwrap(),
        None
    );
    assert_eq!(
        principal(ClientAuth::Requested, "RULE:^CN=([a-z]+),.*$/$1/", true).unwrap(),
        Some("alice".into())
    );
    // A certificate with no client auth asked for is not looked at.
    assert_eq!(principal(ClientAuth::None, "DEFAULT", true).unwrap(), None);
}

#[test]
fn no_matching_rule_fails_the_connection() {
    let err = principal(ClientAuth::Required, "RULE:^CN=bob,.*$/bob/", true).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(
        err.to_string().contains("CN=alice,OU=eng,O=fjord,C=NO"),
        "{err}"
    );
}

/// What `accept` says to a client that sends `bytes` and closes.
fn accept_error(bytes: Vec<u8>) -> std::io::Error {
    let pki = Pki::new();
    let acceptor = pki.acceptor(ClientAuth::None, "DEFAULT");
    run(
        move |stream| async move {
            acceptor
                .accept(stream)
                .await
                .err()
                .expect("handshake failed")
        },
        move |addr| {
            let mut sock = tcp(addr);
            let _ = sock.write_all(&bytes);
            let _ = sock.shutdown(Shutdown::Write);
            let _ = sock.read_to_end(&mut Vec::new());
        },
    )
    .0
}

#[test]
fn hostile_bytes_before_the_handshake_are_errors() {
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 131 % 256) as u8).collect();
    assert_eq!(
        accept_error(garbage).kind(),
        std::io::ErrorKind::InvalidData
    );
    // A plaintext ApiVersions request, as a client without TLS sends it.
    let mut kafka = vec![0, 0, 0, 0x15, 0, 18, 0, 3, 0, 0, 0, 1, 0, 7];
    kafka.extend_from_slice(b"rdkafka\0\0\0");
    assert_eq!(accept_error(kafka).kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(
        accept_error(b"GET / HTTP/1.1\r\n\r\n".to_vec()).kind(),
        std::io::ErrorKind::InvalidData
    );
    // A record header claiming an oversized record.
    let oversized = vec![0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3];
    assert_eq!(
        accept_error(oversized).kind(),
        std::io::ErrorKind::InvalidData
    );
    // Nothing, and half a ClientHello.
    assert_eq!(
        accept_error(Vec::new()).kind(),
        std::io::ErrorKind::UnexpectedEof
    );
    let pki = Pki::new();
    let mut hello = Vec::new();
    let mut conn = ClientConnection::new(
        pki.client_config(false, false),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    conn.write_tls(&mut hello).unwrap();
    hello.truncate(hello.len() / 2);
    assert_eq!(
        accept_error(hello).kind(),
        std::io::ErrorKind::UnexpectedEof
    );
}

/// What the server reads after a good handshake when the client then
/// writes `tail(record)`, where `record` is "hello" encrypted, and closes
/// without close_notify.
fn after_handshake(tail: fn(Vec<u8>) -> Vec<u8>) -> (Vec<u8>, std::io::Result<usize>) {
    let pki = Pki::new();
    let acceptor = pki.acceptor(ClientAuth::None, "DEFAULT");
    let config = pki.client_config(false, false);
    run(
        move |stream| async move {
            // The bad record may arrive with the client's Finished.
            let (mut reader, _writer, _) = match acceptor.accept(stream).await {
                Ok(halves) => halves,
                Err(e) => return (Vec::new(), Err(e)),
            };
            let mut buffer = BytesMut::new();
            loop {
                match reader.fill(&mut buffer).await {
                    Ok(0) => return (buffer.to_vec(), Ok(0)),
                    Ok(_) => {}
                    Err(e) => return (buffer.to_vec(), Err(e)),
                }
            }
        },
        move |addr| {
            let Client { mut conn, mut sock } = connect(addr, config);
            conn.writer().write_all(b"hello").unwrap();
            let mut record = Vec::new();
            conn.write_tls(&mut record).unwrap();
            let _ = sock.write_all(&tail(record));
            let _ = sock.shutdown(Shutdown::Write);
            let _ = sock.read_to_end(&mut Vec::new());
        },
    )
    .0
}

#[test]
fn hostile_bytes_after_the_handshake_are_errors() {
    // An EOF between records ends the stream (many clients skip close_notify).
    let (read, end) = after_handshake(|record| record);
    assert_eq!((read.as_slice(), end.unwrap()), (&b"hello"[..], 0));
    // An EOF inside a record is a truncation.
    let (read, end) = after_handshake(|mut record| {
        record.pop();
        record
    });
    assert!(read.is_empty());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    // A record that does not decrypt.
    let (_, end) = after_handshake(|mut record| {
        let last = record.len() - 1;
        record[last] ^= 1;
        record
    });
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    // Plaintext garbage.
    let (_, end) = after_handshake(|_| b"\x00\x00\x00\x10 plaintext Kafka".to_vec());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
}
