//! The in-memory queue: a bounded multi-producer, multi-consumer channel of batches.
//!
//! Batches cross it as they are (lazy line and Beats blocks, their acknowledgement tokens), so
//! it costs one channel hand-over per batch and nothing per event. It keeps nothing across a
//! restart: a batch in it is acknowledged to its input only once every output settled it, so
//! whatever it held when the process stopped is read again from the input on the next start.

use super::QueueClosed;
use crate::event::Batch;

/// Opens a queue of at most `batches` batches (at least one).
pub(super) fn open(batches: usize) -> (Writer, Reader) {
    let (sender, receiver) = async_channel::bounded(batches.max(1));
    (Writer { sender }, Reader { receiver })
}

/// The inputs' half.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    sender: async_channel::Sender<Batch>,
}

impl Writer {
    pub(super) async fn send(&self, batch: Batch) -> Result<(), QueueClosed> {
        self.sender.send(batch).await.map_err(|_| QueueClosed)
    }

    pub(super) fn send_blocking(&self, batch: Batch) -> Result<(), QueueClosed> {
        self.sender.send_blocking(batch).map_err(|_| QueueClosed)
    }
}

/// The filter workers' half.
#[derive(Debug, Clone)]
pub(super) struct Reader {
    receiver: async_channel::Receiver<Batch>,
}

impl Reader {
    pub(super) async fn recv(&self) -> Option<Batch> {
        self.receiver.recv().await.ok()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }
}
