//! Sending response frames to client sockets without copying record bytes:
//! memory with vectored sendmsg(2), segment files with splice(2) through a per-shard
//! io_uring (glommio offers neither). See docs/zero-copy-fetch.md for why
//! and for the measurements.
//!
//! Owns: `Frame` (a response as ordered chunks), the shard's `Sender`, its
//! ring and pipe pool. Must not: know the Kafka protocol (frames are built
//! by `protocol`) or touch the logs (file chunks arrive as descriptors that
//! the sender owns and closes).

mod pipes;
mod ring;
mod send;

pub use self::send::{set_nonblocking, Chunk, Frame, Sender};

#[cfg(test)]
mod tests;
