//! Read-side helpers of [`super::PartitionLog`]: a windowed reader over a
//! segment file, the `wait_for_data` / `wait_for_durable` future and the
//! waking of every kind of waiter when the durable end or the high
//! watermark rises.
//!
//! Owns: walking stored batch headers from an index position, cutting whole
//! batches within the limits. Must not: read past the logical size captured
//! when the read started (DmaFile::read_at misreports lengths past EOF), or
//! trust stored headers without checking them (corruption is an error).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use glommio::io::DmaFile;

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::log::{DurableTx, Inner, State};
use super::recovery;
use super::StorageError;

/// Read-ahead unit for disk reads.
const READ_WINDOW: usize = 64 << 10;

/// Reads a segment file through a window of recent bytes, never past the
/// segment's logical size known when the read started.
pub(super) struct Window {
    file: Rc<DmaFile>,
    limit: u64,
    start: u64,
    data: Vec<u8>,
    read_size: usize,
}

impl Window {
    pub(super) fn new(file: Rc<DmaFile>, limit: u64) -> Window {
        Window::with_read_size(file, limit, READ_WINDOW)
    }

    /// A window whose disk reads are at least `read_size` bytes.
    pub(super) fn with_read_size(file: Rc<DmaFile>, limit: u64, read_size: usize) -> Window {
        Window {
            file,
            limit,
            start: 0,
            data: Vec::new(),
            read_size,
        }
    }

    /// Bytes `[pos, pos + len)`, reading at least READ_WINDOW ahead.
    pub(super) async fn bytes(&mut self, pos: u64, len: usize) -> Result<&[u8], StorageError> {
        let end = pos + len as u64;
        if end > self.limit {
            return Err(StorageError::Corrupt(format!(
                "read past segment end {end} > {}",
                self.limit
            )));
        }
        let have = self.start..self.start + self.data.len() as u64;
        if pos < have.start || end > have.end {
            let n = (len.max(self.read_size) as u64).min(self.limit - pos) as usize;
            self.data = recovery::read_exact(&self.file, pos, n).await?;
            self.start = pos;
        }
        let at = (pos - self.start) as usize;
        Ok(&self.data[at..at + len])
    }

    async fn header(&mut self, pos: u64) -> Result<BatchHeader, StorageError> {
        let b = self.bytes(pos, HEADER_LEN).await?;
        let h = BatchHeader::decode(b).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if h.magic != 2 || h.batch_length < batch::MIN_BATCH_LENGTH || h.last_offset_delta < 0 {
            return Err(StorageError::Corrupt(format!(
                "bad stored batch header at {pos}"
            )));
        }
        Ok(h)
    }

    /// Walks headers from `pos` to the first batch matching `pred`.
    pub(super) async fn find(
        &mut self,
        mut pos: u64,
        pred: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        while pos + HEADER_LEN as u64 <= self.limit {
            let h = self.header(pos).await?;
            if pred(&h) {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }
}

/// What a [`DataWait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitKind {
    /// The high watermark (consumers).
    HighWatermark,
    /// The durable end (a leader's followers).
    Durable,
}

impl State {
    fn end_for(&self, kind: WaitKind) -> i64 {
        match kind {
            WaitKind::HighWatermark => self.high_watermark(),
            WaitKind::Durable => self.durable_end,
        }
    }

    /// Takes every waiter whose condition now holds (after the durable end
    /// or the high watermark rose); the caller wakes them once the state
    /// borrow is released.
    pub(super) fn take_ready(&mut self) -> Ready {
        let durable = self.durable_end;
        let later = self.durable.split_off(&durable);
        let durable_txs = std::mem::replace(&mut self.durable, later);
        let hw = self.high_watermark();
        let later = self.hw_waiters.split_off(&hw);
        let hw_txs = std::mem::replace(&mut self.hw_waiters, later);
        let ready: Vec<u64> = self
            .data_waiters
            .iter()
            .filter(|(_, (kind, offset, _))| *offset < self.end_for(*kind))
            .map(|(id, _)| *id)
            .collect();
        let wakers = ready
            .iter()
            .filter_map(|id| self.data_waiters.remove(id))
            .map(|(_, _, w)| w)
            .collect();
        Ready {
            txs: durable_txs
                .into_values()
                .chain(hw_txs.into_values())
                .flatten()
                .collect(),
            wakers,
        }
    }
}

/// Waiters to resolve, taken out of the state.
pub(super) struct Ready {
    txs: Vec<DurableTx>,
    wakers: Vec<Waker>,
}

impl Ready {
    pub(super) fn fire(self) {
        for tx in self.txs {
            let _ = tx.send(Ok(()));
        }
        for w in self.wakers {
            w.wake();
        }
    }
}

/// Future of [`PartitionLog::wait_for_data`] and
/// [`PartitionLog::wait_for_durable`].
pub(super) struct DataWait {
    inner: Rc<Inner>,
    kind: WaitKind,
    offset: i64,
    id: Option<u64>,
}

impl DataWait {
    pub(super) fn new(inner: Rc<Inner>, kind: WaitKind, offset: i64) -> DataWait {
        DataWait {
            inner,
            kind,
            offset,
            id: None,
        }
    }
}

impl Future for DataWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.inner.st.borrow_mut();
        if st.end_for(this.kind) > this.offset {
            if let Some(id) = this.id.take() {
                st.data_waiters.remove(&id);
            }
            return Poll::Ready(());
        }
        let id = *this.id.get_or_insert_with(|| {
            st.next_waiter_id += 1;
            st.next_waiter_id
        });
        st.data_waiters
            .insert(id, (this.kind, this.offset, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for DataWait {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            if let Ok(mut st) = self.inner.st.try_borrow_mut() {
                st.data_waiters.remove(&id);
            }
        }
    }
}
