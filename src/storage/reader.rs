//! Read-side helpers of [`super::PartitionLog`]: a windowed reader over a
//! segment file and the `wait_for_data` future.
//!
//! Owns: walking stored batch headers from an index position, cutting whole
//! batches within the limits. Must not: read past the logical size captured
//! when the read started (DmaFile::read_at misreports lengths past EOF), or
//! trust stored headers without checking them (corruption is an error).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use glommio::io::DmaFile;

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::log::Inner;
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

/// Future of [`PartitionLog::wait_for_data`].
pub(super) struct DataWait {
    pub(super) inner: Rc<Inner>,
    pub(super) offset: i64,
    pub(super) id: Option<u64>,
}

impl Future for DataWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.inner.st.borrow_mut();
        if st.hw > this.offset {
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
            .insert(id, (this.offset, cx.waker().clone()));
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
