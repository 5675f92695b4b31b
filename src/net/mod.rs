//! Sending response frames to client sockets without copying record bytes:
//! memory with vectored sendmsg(2), segment files with splice(2) through a per-shard
//! io_uring (glommio offers neither). See docs/zero-copy-fetch.md for why
//! and for the measurements.
//!
//! Owns: `Frame` (a response as ordered chunks), the shard's `Sender`, its
//! ring and pipe pool. Must not: know the Kafka protocol (frames are built
//! by `protocol`) or touch the logs (file chunks arrive as descriptors that
//! the sender owns and closes).
//!
//! `tls` is the TLS transport (rustls) for SSL listeners: a handshake, then
//! a reader and a writer half; it encrypts, so it copies instead of
//! splicing. `tls_client` is the broker's own TLS client (to other
//! brokers). `principal_rules` maps a client certificate's DN to a name.

pub mod halves;
mod pipes;
pub mod principal_rules;
mod ring;
mod send;
pub mod tls;
pub mod tls_client;
mod tls_files;
mod x500_name;

pub use self::send::{set_nonblocking, Chunk, Frame, Sender};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_client_tests;
#[cfg(test)]
mod tls_files_tests;
#[cfg(test)]
mod tls_tests;

/// A second descriptor of `stream`, so one task can read while another
/// writes (the connection's reader and writer, or a request/response pair).
pub fn dup_stream(stream: &glommio::net::TcpStream) -> std::io::Result<glommio::net::TcpStream> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: dup of a valid open fd; the new fd is owned by the new stream.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor for a connected TCP socket.
    Ok(unsafe { glommio::net::TcpStream::from_raw_fd(fd) })
}

/// One non-blocking recv(2) into `buf` (which may be uninitialised spare
/// room): `Some(n)` bytes now (0: end of stream), `None` when nothing is
/// there yet (the caller then waits through glommio).
pub fn try_recv(
    fd: std::os::fd::RawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> std::io::Result<Option<usize>> {
    // SAFETY: recv writes at most `buf.len()` bytes into memory we own.
    let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if r >= 0 {
        return Ok(Some(r as usize));
    }
    let err = std::io::Error::last_os_error();
    match err.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(None),
        _ => Err(err),
    }
}
