//! Wake-ups between tasks of one executor: a [`Notify`] wakes one waiting
//! task (a pending wake is kept, so none is lost between check and wait),
//! and [`OffsetWaiters`] wake everyone waiting for an offset to be reached.

use std::cell::{Cell, RefCell};

use futures_channel::oneshot;

#[derive(Default)]
pub struct Notify {
    pending: Cell<bool>,
    waiter: RefCell<Option<oneshot::Sender<()>>>,
}

impl Notify {
    pub fn notify(&self) {
        match self.waiter.borrow_mut().take() {
            Some(waiter) => {
                let _ = waiter.send(());
            }
            None => self.pending.set(true),
        }
    }

    /// Returns at once if notified since the last wait.
    pub async fn wait(&self) {
        if self.pending.replace(false) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        *self.waiter.borrow_mut() = Some(tx);
        let _ = rx.await;
    }
}

/// Tasks waiting for a monotonic offset to reach theirs.
#[derive(Default)]
pub struct OffsetWaiters {
    reached: Cell<u64>,
    waiting: RefCell<Vec<(u64, oneshot::Sender<()>)>>,
}

impl OffsetWaiters {
    pub fn reached(&self) -> u64 {
        self.reached.get()
    }

    pub fn advance(&self, offset: u64) {
        if offset <= self.reached.get() {
            return;
        }
        self.reached.set(offset);
        let mut waiting = self.waiting.borrow_mut();
        let (due, rest): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(o, _)| *o <= offset);
        *waiting = rest;
        drop(waiting);
        for (_, waiter) in due {
            let _ = waiter.send(());
        }
    }

    pub async fn wait_for(&self, offset: u64) {
        if offset <= self.reached.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().push((offset, tx));
        let _ = rx.await;
    }
}
