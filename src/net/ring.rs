//! A shard's own io_uring for the operations glommio does not offer
//! (IORING_OP_SPLICE, and a POLL_ADD to wait for a socket to drain).
//!
//! Owns: the ring, one slot per operation in flight, and a driver task
//! that sleeps on the ring's eventfd — read through glommio, so waiting for
//! completions never blocks the executor — and wakes the operations that
//! completed. Must not: be shared between threads (one per shard), or let a
//! descriptor an operation names close before the kernel is done with it
//! (the operation's `keep` holds them until its completion arrives, even if
//! the awaiting future is gone).

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use glommio::io::BufferedFile;
use io_uring::{opcode, squeue, types, IoUring};

const ENTRIES: u32 = 256;

enum Slot {
    Free,
    Waiting {
        waker: Option<Waker>,
        keep: Box<dyn Any>,
    },
    Done(i32),
    /// The future was dropped; the kernel may still use what `keep` holds.
    Abandoned {
        _keep: Box<dyn Any>,
    },
}

struct State {
    uring: IoUring,
    slots: Vec<Slot>,
    free: Vec<usize>,
}

pub struct Ring {
    state: RefCell<State>,
}

impl Ring {
    /// A ring and its completion driver, spawned on the current executor.
    pub fn start() -> io::Result<Rc<Ring>> {
        let uring = IoUring::new(ENTRIES)?;
        // SAFETY: eventfd returns a new descriptor or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `efd` is a fresh descriptor owned by nobody else.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        uring.submitter().register_eventfd(efd.as_raw_fd())?;
        let ring = Rc::new(Ring {
            state: RefCell::new(State {
                uring,
                slots: Vec::new(),
                free: Vec::new(),
            }),
        });
        glommio::spawn_local(drive(Rc::downgrade(&ring), efd)).detach();
        Ok(ring)
    }

    /// splice(2) of up to `len` bytes from `fd_in` (at `off_in`, or its
    /// position when -1) to `fd_out`; resolves to the bytes moved.
    pub fn splice(
        self: &Rc<Self>,
        fd_in: RawFd,
        off_in: i64,
        fd_out: RawFd,
        len: u32,
        keep: Box<dyn Any>,
    ) -> Op {
        let sqe = opcode::Splice::new(types::Fd(fd_in), off_in, types::Fd(fd_out), -1, len).build();
        self.submit(sqe, keep)
    }

    /// Resolves once `fd` is writable (or in error: the write that follows
    /// reports it).
    pub fn writable(self: &Rc<Self>, fd: RawFd, keep: Box<dyn Any>) -> Op {
        let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32).build();
        self.submit(sqe, keep)
    }

    fn submit(self: &Rc<Self>, sqe: squeue::Entry, keep: Box<dyn Any>) -> Op {
        let mut st = self.state.borrow_mut();
        let id = match st.free.pop() {
            Some(id) => id,
            None => {
                st.slots.push(Slot::Free);
                st.slots.len() - 1
            }
        };
        st.slots[id] = Slot::Waiting { waker: None, keep };
        let sqe = sqe.user_data(id as u64);
        let result = push(&mut st.uring, &sqe);
        if let Err(e) = result {
            st.slots[id] = Slot::Free;
            st.free.push(id);
            return Op {
                ring: self.clone(),
                id: None,
                early: Some(e),
            };
        }
        Op {
            ring: self.clone(),
            id: Some(id),
            early: None,
        }
    }

    fn complete(&self) {
        let mut st = self.state.borrow_mut();
        let done: Vec<(usize, i32)> = st
            .uring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        for (id, result) in done {
            let Some(slot) = st.slots.get_mut(id) else {
                continue;
            };
            match std::mem::replace(slot, Slot::Done(result)) {
                Slot::Waiting { waker, .. } => {
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
                Slot::Abandoned { .. } => {
                    *slot = Slot::Free;
                    st.free.push(id);
                }
                Slot::Free | Slot::Done(_) => debug_assert!(false, "completion of a free slot"),
            }
        }
    }
}

/// Queues `sqe` and hands it to the kernel at once (the kernel resolves
/// the descriptors at submission or, for splice, in its worker).
fn push(uring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<()> {
    for _ in 0..2 {
        // SAFETY: every buffer and descriptor the entry names is kept alive
        // by its slot until the completion arrives.
        if unsafe { uring.submission().push(sqe) }.is_ok() {
            uring.submit()?;
            return Ok(());
        }
        uring.submit()?; // full: hand the queue over and retry once
    }
    Err(io::Error::other("io_uring submission queue full"))
}

/// Sleeps on the eventfd (a glommio read, so the executor runs other work)
/// and completes operations each time it fires. Ends with the ring.
async fn drive(ring: std::rc::Weak<Ring>, efd: OwnedFd) {
    // SAFETY: the eventfd is owned by this file from here on.
    let file = unsafe { BufferedFile::from_raw_fd(efd.as_raw_fd()) };
    std::mem::forget(efd);
    loop {
        if let Err(e) = file.read_at(0, 8).await {
            tracing::error!("splice ring eventfd: {e}");
            return;
        }
        match ring.upgrade() {
            Some(ring) => ring.complete(),
            None => return,
        }
    }
}

/// One operation in flight: resolves to its result (bytes, or a negative
/// errno as an error).
pub struct Op {
    ring: Rc<Ring>,
    id: Option<usize>,
    early: Option<io::Error>,
}

impl Future for Op {
    type Output = io::Result<usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Some(e) = self.early.take() {
            return Poll::Ready(Err(e));
        }
        let Some(id) = self.id else {
            return Poll::Ready(Err(io::Error::other("operation polled after completion")));
        };
        let mut st = self.ring.state.borrow_mut();
        match &mut st.slots[id] {
            Slot::Done(result) => {
                let result = *result;
                st.slots[id] = Slot::Free;
                st.free.push(id);
                drop(st);
                self.id = None;
                Poll::Ready(if result < 0 {
                    Err(io::Error::from_raw_os_error(-result))
                } else {
                    Ok(result as usize)
                })
            }
            Slot::Waiting { waker, .. } => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Slot::Free | Slot::Abandoned { .. } => {
                Poll::Ready(Err(io::Error::other("io_uring slot lost")))
            }
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let Ok(mut st) = self.ring.state.try_borrow_mut() else {
            return;
        };
        match std::mem::replace(&mut st.slots[id], Slot::Free) {
            Slot::Waiting { keep, .. } => st.slots[id] = Slot::Abandoned { _keep: keep },
            _ => st.free.push(id),
        }
    }
}
