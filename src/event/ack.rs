//! End-to-end acknowledgement: how an input learns that every output is done with a batch.
//!
//! An input creates one [`AckToken`] per batch it emits. The token travels with the batch
//! through the filter chain and is shared (behind an `Arc`) by every output the batch fans out
//! to. When the last holder lets go, the token's drop sends exactly one [`AckReceipt`] back to
//! the input, so fan-out to N outputs still yields one acknowledgement. An output that lets go
//! without settling (shutdown mid-retry, a panic) marks the token failed, and the input then
//! does not checkpoint past that batch: the data is read again after a restart rather than
//! lost.
//!
//! The receipt channel is unbounded on purpose: each in-flight batch produces exactly one
//! receipt and in-flight batches are bounded by the pipeline's channels, so it can never hold
//! more than that bound, and an input must never block while receiving acknowledgements.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Every output delivered, dead-lettered or deliberately dropped every event.
    Delivered,
    /// At least one output gave up on the batch without settling it.
    Failed,
}

/// One batch's outcome, sent to the input that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckReceipt {
    pub batch_id: u64,
    pub status: BatchStatus,
}

/// The sending half handed to tokens; cheap to clone.
#[derive(Debug, Clone)]
pub struct AckSender(mpsc::UnboundedSender<AckReceipt>);

/// The input's end of the acknowledgement channel.
pub type AckReceiver = mpsc::UnboundedReceiver<AckReceipt>;

/// Creates the channel an input receives its acknowledgements on.
pub fn ack_channel() -> (AckSender, AckReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (AckSender(tx), rx)
}

impl AckSender {
    /// A token for the batch `batch_id`.
    pub fn token(&self, batch_id: u64) -> AckToken {
        AckToken {
            inner: Arc::new(Inner {
                batch_id,
                failed: AtomicBool::new(false),
                sender: self.0.clone(),
            }),
        }
    }
}

/// Shared by every holder of one batch; acknowledges when the last one drops.
#[derive(Debug, Clone)]
pub struct AckToken {
    inner: Arc<Inner>,
}

impl AckToken {
    /// Records that some holder could not finish the batch.
    pub fn mark_failed(&self) {
        self.inner.failed.store(true, Ordering::Release);
    }

    pub fn batch_id(&self) -> u64 {
        self.inner.batch_id
    }
}

#[derive(Debug)]
struct Inner {
    batch_id: u64,
    failed: AtomicBool,
    sender: mpsc::UnboundedSender<AckReceipt>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let status = if self.failed.load(Ordering::Acquire) {
            BatchStatus::Failed
        } else {
            BatchStatus::Delivered
        };
        // The input may already be gone (shutdown); then nobody needs the receipt.
        let _ = self.sender.send(AckReceipt {
            batch_id: self.batch_id,
            status,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_receipt_after_the_last_clone_drops() {
        let (tx, mut rx) = ack_channel();
        let token = tx.token(7);
        let copy = token.clone();
        drop(token);
        assert!(rx.try_recv().is_err());
        drop(copy);
        assert_eq!(
            rx.try_recv().unwrap(),
            AckReceipt {
                batch_id: 7,
                status: BatchStatus::Delivered
            }
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_failure_by_any_holder_fails_the_batch() {
        let (tx, mut rx) = ack_channel();
        let token = tx.token(1);
        let copy = token.clone();
        copy.mark_failed();
        drop(copy);
        drop(token);
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);
    }
}
