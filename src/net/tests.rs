//! The sender against a real loopback socket: memory and file chunks, in
//! order, byte for byte, through splice and through the copying fallback,
//! with a reader slow enough that the socket fills and the sender waits.

use std::io::Read;
use std::os::fd::OwnedFd;

use bytes::Bytes;
use glommio::net::TcpListener;

use super::{Chunk, Frame, Sender};
use crate::storage::FileSlice;

fn slice(path: &std::path::Path, pos: u64, len: u64) -> Chunk {
    let file = std::fs::File::open(path).expect("open");
    Chunk::File(FileSlice {
        file: OwnedFd::from(file),
        pos,
        len,
    })
}

/// Sends one frame of memory and file chunks; returns what the peer read.
fn send_and_receive(copying: bool) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segment");
    let content: Vec<u8> = (0..3_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let mut want = b"head".to_vec();
    want.extend_from_slice(&content[100..1_600_100]);
    want.extend_from_slice(b"middle");
    want.extend_from_slice(&content[2_000_000..3_500_000]);
    want.extend_from_slice(b"tail");

    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let addr: std::net::SocketAddr = addr_rx.recv().unwrap();
        // Small buffers on both ends: the sender meets a full socket often.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(16 << 10).unwrap();
        socket.connect(&addr.into()).unwrap();
        let mut s: std::net::TcpStream = socket.into();
        // Let the socket fill first, so the sender has to wait for room.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let mut stream = listener.accept().await.unwrap();
            super::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&stream)).unwrap();
            let small: libc::c_int = 16 << 10;
            // SAFETY: setsockopt on the accepted socket with a c_int value.
            unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&stream),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&small as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let frame = Frame::Chunks(vec![
                Chunk::Memory(Bytes::from_static(b"he")),
                Chunk::Memory(Bytes::from_static(b"ad")),
                slice(&path, 100, 1_600_000),
                Chunk::Memory(Bytes::from_static(b"middle")),
                slice(&path, 2_000_000, 1_500_000),
                Chunk::Memory(Bytes::from_static(b"tail")),
            ]);
            assert_eq!(frame.len(), want.len());
            let sender = if copying {
                Sender::copying()
            } else {
                Sender::default()
            };
            sender.write(&mut stream, frame).await.expect("write frame");
            drop(stream);
            drop(dir);
            want
        })
        .unwrap()
        .join()
        .map(|want| (want, reader.join().unwrap()))
        .unwrap()
}

#[test]
fn spliced_frame_arrives_byte_for_byte() {
    let (want, got) = send_and_receive(false);
    assert!(
        got == want,
        "received {} bytes, wanted {}",
        got.len(),
        want.len()
    );
}

#[test]
fn copied_frame_arrives_byte_for_byte() {
    let (want, got) = send_and_receive(true);
    assert!(
        got == want,
        "received {} bytes, wanted {}",
        got.len(),
        want.len()
    );
}
