//! The shard's pool of pipes for splice(2): file → pipe → socket.
//!
//! Owns: creating pipes (non-blocking, enlarged to `PIPE_BYTES` when the
//! system allows) and keeping a few empty ones for reuse. Must not: take
//! back a pipe that may still hold bytes (a failed send drops its pipe), or
//! be shared between threads.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Capacity asked for each pipe: one splice moves up to this much. 1 MiB
/// is Linux's default `fs.pipe-max-size` for unprivileged processes.
const PIPE_BYTES: usize = 1 << 20;

/// Empty pipes kept per shard; more concurrent sends create and close.
const POOL_MAX: usize = 16;

pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
    /// Bytes the pipe holds at most.
    pub capacity: usize,
}

impl Pipe {
    fn create() -> io::Result<Pipe> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A failed resize (a lowered pipe-max-size) keeps the default size.
        // SAFETY: plain fcntl calls on a descriptor we own.
        let capacity = unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_BYTES as libc::c_int,
            );
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        if capacity <= 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pipe {
            read,
            write,
            capacity: capacity as usize,
        })
    }
}

#[derive(Default)]
pub struct PipePool {
    idle: Vec<Pipe>,
}

impl PipePool {
    /// An empty pipe.
    pub fn take(&mut self) -> io::Result<Pipe> {
        match self.idle.pop() {
            Some(pipe) => Ok(pipe),
            None => Pipe::create(),
        }
    }

    /// Returns a pipe the caller drained completely.
    pub fn give_back(&mut self, pipe: Pipe) {
        if self.idle.len() < POOL_MAX {
            self.idle.push(pipe);
        }
    }
}
