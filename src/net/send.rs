//! Writing one response frame to a client socket without copying its
//! record bytes.
//!
//! Owns: memory chunks go out with one vectored sendmsg(2) straight from their `Bytes`
//! (glommio's write only to wait when the socket is full); file chunks go
//! file → pipe through the shard's ring (IORING_OP_SPLICE: the page-cache
//! read may sleep on the disk, so it runs in the kernel's worker, never on
//! the executor) and pipe → socket with a non-blocking splice(2), waiting
//! on the ring for the socket to drain. Must not: return a pipe that may
//! hold bytes to the pool, or leave a frame half-written without an error
//! (the caller closes the connection on any error: the stream is no
//! longer framed).

use std::cell::{OnceCell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;

use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use glommio::io::BufferedFile;
use glommio::net::TcpStream;

use super::pipes::{Pipe, PipePool};
use super::ring::Ring;
use crate::storage::FileSlice;

/// Most buffers one sendmsg names (Linux's IOV_MAX is 1024).
const MAX_IOVECS: usize = 256;

/// A piece of a response frame, in order.
#[derive(Debug)]
pub enum Chunk {
    Memory(Bytes),
    File(FileSlice),
}

/// A complete response frame (length prefix included).
#[derive(Debug)]
pub enum Frame {
    Whole(Bytes),
    Chunks(Vec<Chunk>),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Memory(b) => b.len(),
            Chunk::File(f) => f.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Frame {
    pub fn len(&self) -> usize {
        match self {
            Frame::Whole(b) => b.len(),
            Frame::Chunks(chunks) => chunks.iter().map(Chunk::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shard's zero-copy sender: its splice ring (started on first use)
/// and pipe pool. If the ring cannot be created (io_uring limits), file
/// chunks are read into memory through glommio instead, with one warning.
#[derive(Default)]
pub struct Sender {
    ring: OnceCell<Option<Rc<Ring>>>,
    pipes: RefCell<PipePool>,
}

impl Sender {
    /// Writes `frame`. The socket must be non-blocking ([`set_nonblocking`]):
    /// glommio leaves accepted sockets blocking, and a splice into a full
    /// blocking socket would stall the shard.
    pub async fn write(&self, stream: &mut TcpStream, frame: Frame) -> io::Result<()> {
        let chunks = match frame {
            Frame::Whole(bytes) => return stream.write_all(&bytes).await,
            Frame::Chunks(chunks) => chunks,
        };
        let mut memory: Vec<Bytes> = Vec::new();
        for chunk in chunks {
            match chunk {
                Chunk::Memory(b) => memory.push(b),
                Chunk::File(slice) => {
                    write_vectored(stream, std::mem::take(&mut memory)).await?;
                    match self.ring() {
                        Some(ring) => self.splice(&ring, stream, slice).await?,
                        None => copy_file(stream, slice).await?,
                    }
                }
            }
        }
        write_vectored(stream, memory).await
    }

    /// A sender that never splices (the fallback path, for tests).
    pub fn copying() -> Sender {
        let sender = Sender::default();
        let _ = sender.ring.set(None);
        sender
    }

    fn ring(&self) -> Option<Rc<Ring>> {
        self.ring
            .get_or_init(|| match Ring::start() {
                Ok(ring) => Some(ring),
                Err(e) => {
                    tracing::warn!("no io_uring for splice ({e}); cold fetches are copied");
                    None
                }
            })
            .clone()
    }

    async fn splice(
        &self,
        ring: &Rc<Ring>,
        stream: &TcpStream,
        slice: FileSlice,
    ) -> io::Result<()> {
        let socket = stream.as_raw_fd();
        let file = Rc::new(slice.file);
        let pipe = Rc::new(self.pipes.borrow_mut().take()?);
        let (mut pos, mut left) = (slice.pos, slice.len);
        while left > 0 {
            let want = left.min(pipe.capacity as u64) as u32;
            let keep = Box::new((file.clone(), pipe.clone()));
            let moved = ring
                .splice(
                    file.as_raw_fd(),
                    pos as i64,
                    pipe.write.as_raw_fd(),
                    want,
                    keep,
                )
                .await?;
            if moved == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "segment ended at {pos} inside a read of {} bytes",
                        slice.len
                    ),
                ));
            }
            pos += moved as u64;
            left -= moved as u64;
            drain(ring, &pipe, socket, moved).await?;
        }
        if let Ok(pipe) = Rc::try_unwrap(pipe) {
            self.pipes.borrow_mut().give_back(pipe);
        }
        Ok(())
    }
}

/// Reads a file slice into memory (glommio's buffered read, so a page-cache
/// miss never blocks the shard) and writes it.
async fn copy_file(stream: &mut TcpStream, slice: FileSlice) -> io::Result<()> {
    // SAFETY: the slice owns its descriptor; the BufferedFile now does.
    let file = unsafe { BufferedFile::from_raw_fd(slice.file.into_raw_fd()) };
    let (mut pos, end) = (slice.pos, slice.pos + slice.len);
    while pos < end {
        let want = (end - pos).min(1 << 20) as usize;
        let data = file.read_at(pos, want).await?;
        if data.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        stream.write_all(&data).await?;
        pos += data.len() as u64;
    }
    file.close().await?;
    Ok(())
}

/// Moves `n` bytes from the pipe to the socket.
async fn drain(ring: &Rc<Ring>, pipe: &Rc<Pipe>, socket: RawFd, mut n: usize) -> io::Result<()> {
    while n > 0 {
        // SAFETY: both descriptors are open for the whole call.
        let r = unsafe {
            libc::splice(
                pipe.read.as_raw_fd(),
                std::ptr::null_mut(),
                socket,
                std::ptr::null_mut(),
                n,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
            )
        };
        if r > 0 {
            n -= r as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        match (r, err.kind()) {
            (0, _) => return Err(io::ErrorKind::WriteZero.into()),
            (_, io::ErrorKind::WouldBlock) => {
                ring.writable(socket, Box::new(pipe.clone())).await?;
            }
            (_, io::ErrorKind::Interrupted) => {}
            _ => return Err(err),
        }
    }
    Ok(())
}

/// Writes every buffer, in order, with as few vectored sends as the socket
/// allows; waits through glommio when the socket is full.
async fn write_vectored(stream: &mut TcpStream, bufs: Vec<Bytes>) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    let (mut i, mut off) = (0usize, 0usize); // first unsent byte: bufs[i][off..]
    while i < bufs.len() {
        let iov: Vec<libc::iovec> = bufs[i..]
            .iter()
            .take(MAX_IOVECS)
            .enumerate()
            .map(|(k, b)| {
                let b = if k == 0 { &b[off..] } else { &b[..] };
                libc::iovec {
                    iov_base: b.as_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                }
            })
            .collect();
        let total: usize = iov.iter().map(|v| v.iov_len).sum();
        // SAFETY: an all-zero msghdr is valid; then it names our iovecs.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len();
        // SAFETY: every iovec points into a live `Bytes` of `bufs`.
        let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        let sent = if r > 0 || total == 0 {
            r.max(0) as usize
        } else if r == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        } else {
            let err = io::Error::last_os_error();
            match err.kind() {
                // glommio waits for room, then writes part of the first.
                io::ErrorKind::WouldBlock => stream.write(&bufs[i][off..]).await?,
                io::ErrorKind::Interrupted => 0,
                _ => return Err(err),
            }
        };
        advance(&bufs, &mut i, &mut off, sent);
    }
    Ok(())
}

/// Makes a socket non-blocking (the file status flag is shared by every
/// descriptor of the socket; glommio copes, it treats EAGAIN as "poll").
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain fcntl calls on a descriptor the caller owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the cursor `bufs[i][off..]` past `sent` bytes (and past empty
/// buffers).
fn advance(bufs: &[Bytes], i: &mut usize, off: &mut usize, mut sent: usize) {
    while *i < bufs.len() {
        let here = bufs[*i].len() - *off;
        if sent < here {
            *off += sent;
            return;
        }
        sent -= here;
        *i += 1;
        *off = 0;
    }
}
