//! `tls_client` against the broker's own TLS acceptor (`tls`), both on one
//! glommio executor over loopback, with certificates from `tls_tests::Pki`:
//! a handshake and request/response bytes both ways across many records;
//! a server certificate from an untrusted CA, or one that does not name
//! the host connected to, fails the handshake with an `Err` on both sides.

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use glommio::net::{TcpListener, TcpStream};

use super::tls::{ClientAuth, TlsAcceptor, TlsReader};
use super::tls_client::{client_config, connect, TlsClientStream};
use super::tls_tests::Pki;
use super::Frame;

/// Sizes of the requests (and their echoes), in order: the first spans
/// about twenty 16 KiB records and ends inside one.
const ROUNDS: [usize; 2] = [300_001, 7];

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(seed) % 251) as u8)
        .collect()
}

/// Reads until `buffer` holds `len` bytes; an early end is an error.
async fn fill_to(reader: &mut TlsReader, buffer: &mut BytesMut, len: usize) -> io::Result<()> {
    while buffer.len() < len {
        if reader.fill(buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// The server's side: each request of `ROUNDS` echoed back whole.
async fn echo(acceptor: TlsAcceptor, stream: TcpStream) -> io::Result<()> {
    let (mut reader, mut writer, _) = acceptor.accept(stream).await?;
    let mut buffer = BytesMut::new();
    for len in ROUNDS {
        fill_to(&mut reader, &mut buffer, len).await?;
        let request = buffer.split_to(len).freeze();
        writer.write(Frame::Whole(request)).await?;
    }
    writer.shutdown().await;
    Ok(())
}

/// Runs `client` (given the listener's address) and the echo server for
/// its one connection on one executor; returns both results.
fn run<C, F, R>(acceptor: TlsAcceptor, client: C) -> (io::Result<()>, R)
where
    C: FnOnce(std::net::SocketAddr) -> F + Send + 'static,
    F: std::future::Future<Output = R> + 'static,
    R: Send + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = glommio::spawn_local(async move {
                let stream = listener.accept().await?;
                echo(acceptor, stream).await
            });
            let result = client(addr).await;
            (server.await, result)
        })
        .unwrap()
        .join()
        .unwrap()
}

/// Connects as a client of `host` trusting `truststore`.
async fn handshake(
    addr: std::net::SocketAddr,
    host: &str,
    truststore: &Path,
) -> io::Result<TlsClientStream> {
    let config = client_config(truststore, None).unwrap();
    let stream = TcpStream::connect(addr).await?;
    connect(stream, host, Arc::new(config)).await
}

#[test]
fn requests_and_responses_round_trip() {
    let pki = Pki::new();
    let acceptor = TlsAcceptor::new(&pki.settings(ClientAuth::None, "DEFAULT")).unwrap();
    let truststore = pki.path("truststore.pem");
    let (served, echoed) = run(acceptor, move |addr| async move {
        let mut tls = handshake(addr, "localhost", &truststore).await.unwrap();
        let mut echoed = Vec::new();
        for (round, len) in ROUNDS.into_iter().enumerate() {
            let request = pattern(len, 7 + round as u32);
            tls.write_all(&request).await.unwrap();
            let mut response = vec![0u8; len];
            tls.read_exact(&mut response).await.unwrap();
            echoed.push(response == request);
        }
        // The server's close_notify after the last response.
        let end = tls.read_exact(&mut [0u8; 1]).await.unwrap_err();
        (echoed, end.kind())
    });
    served.unwrap();
    assert_eq!(echoed, (vec![true, true], io::ErrorKind::UnexpectedEof));
}

/// The client's and the server's handshake errors when the client trusts
/// `truststore` and names `host`.
fn failed_handshake(pki: &Pki, truststore: &Path, host: &'static str) -> (io::Error, io::Error) {
    let acceptor = TlsAcceptor::new(&pki.settings(ClientAuth::None, "DEFAULT")).unwrap();
    let truststore = truststore.to_path_buf();
    let (served, client) = run(acceptor, move |addr| async move {
        handshake(addr, host, &truststore).await.err()
    });
    (
        client.expect("client handshake succeeded"),
        served.unwrap_err(),
    )
}

#[test]
fn a_server_from_another_ca_is_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let (client, server) = failed_handshake(&pki, &other.path("truststore.pem"), "localhost");
    assert_eq!(client.kind(), io::ErrorKind::InvalidData, "{client}");
    // Both CAs are named alike, so rustls finds the issuer by name and
    // then reports its signature (BadSignature) rather than UnknownIssuer.
    assert!(
        client.to_string().contains("invalid peer certificate"),
        "{client}"
    );
    // The client's alert reaches the server.
    assert_eq!(server.kind(), io::ErrorKind::InvalidData, "{server}");
}

#[test]
fn a_server_certificate_for_another_name_is_refused() {
    let pki = Pki::new();
    let truststore = pki.path("truststore.pem");
    let (client, server) = failed_handshake(&pki, &truststore, "broker2.example");
    assert_eq!(client.kind(), io::ErrorKind::InvalidData, "{client}");
    assert!(
        client.to_string().contains("not valid for name"),
        "{client}"
    );
    assert_eq!(server.kind(), io::ErrorKind::InvalidData, "{server}");
    // The certificate names 127.0.0.1 as well, but not another address.
    let (client, _) = failed_handshake(&pki, &truststore, "127.0.0.2");
    assert!(
        client.to_string().contains("not valid for name"),
        "{client}"
    );
}

#[test]
fn a_host_that_is_no_name_is_an_error() {
    let pki = Pki::new();
    let config = Arc::new(client_config(&pki.path("truststore.pem"), None).unwrap());
    let acceptor = TlsAcceptor::new(&pki.settings(ClientAuth::None, "DEFAULT")).unwrap();
    let (served, kind) = run(acceptor, move |addr| async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        // The socket is dropped unused: the server sees no ClientHello.
        connect(stream, "not a host!", config)
            .await
            .err()
            .map(|e| e.kind())
    });
    assert_eq!(kind, Some(io::ErrorKind::InvalidInput));
    assert_eq!(served.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}
