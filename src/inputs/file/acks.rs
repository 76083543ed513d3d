//! Turning batch acknowledgements into per-file offsets that are safe to checkpoint.
//!
//! Batches are acknowledged out of order (several filter workers, several outputs), and a
//! checkpoint must never claim a line whose batch is still in flight or failed. So every batch
//! remembers, per *stream*, the offset just past its last line, and offsets are committed only
//! in batch order: a batch's offsets are applied once it and every batch before it have been
//! settled. Because one stream's lines enter batches in file order, that yields the highest
//! contiguous acknowledged offset of each stream.
//!
//! A `Failed` batch freezes the streams it carried for the rest of the run: their committed
//! offset stays before the failed lines, so a restart re-reads them (at-least-once) instead of
//! losing them. Other streams keep advancing.
//!
//! A stream is one reading of one file from one starting point; a truncated or replaced file
//! gets a new stream, so late acknowledgements of the old content cannot move the new
//! content's offset.

use crate::event::{AckReceipt, BatchStatus};
use std::collections::{HashMap, VecDeque};

/// Identifies one reading of one file's content.
pub type StreamId = u64;

#[derive(Debug)]
struct InFlight {
    id: u64,
    ends: Vec<(StreamId, u64)>,
    status: Option<BatchStatus>,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    committed: u64,
    frozen: bool,
}

/// In-flight batches and committed offsets.
#[derive(Debug, Default)]
pub struct AckTracker {
    next_id: u64,
    in_flight: VecDeque<InFlight>,
    streams: HashMap<StreamId, Progress>,
    failed_batches: u64,
}

impl AckTracker {
    /// Starts tracking `stream`, whose content before `committed` needs no delivery.
    pub fn open_stream(&mut self, stream: StreamId, committed: u64) {
        self.streams.insert(
            stream,
            Progress {
                committed,
                frozen: false,
            },
        );
    }

    /// Stops tracking `stream` (its file was forgotten); late receipts for it are ignored.
    pub fn close_stream(&mut self, stream: StreamId) {
        self.streams.remove(&stream);
    }

    /// The offset of `stream` that is safe to checkpoint.
    pub fn committed(&self, stream: StreamId) -> Option<u64> {
        self.streams.get(&stream).map(|p| p.committed)
    }

    /// Registers a batch ending each stream at the given offset; returns its id.
    pub fn register(&mut self, ends: Vec<(StreamId, u64)>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push_back(InFlight {
            id,
            ends,
            status: None,
        });
        id
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How many batches failed so far.
    pub fn failed_batches(&self) -> u64 {
        self.failed_batches
    }

    /// Records a receipt and commits every batch that is now settled in order. Returns true
    /// when a committed offset moved.
    pub fn receive(&mut self, receipt: AckReceipt) -> bool {
        let Some(front) = self.in_flight.front() else {
            return false;
        };
        let Some(index) = receipt
            .batch_id
            .checked_sub(front.id)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return false;
        };
        if let Some(batch) = self.in_flight.get_mut(index) {
            batch.status = Some(receipt.status);
        }
        let mut moved = false;
        while let Some(status) = self.in_flight.front().and_then(|b| b.status) {
            let Some(batch) = self.in_flight.pop_front() else {
                break;
            };
            if status == BatchStatus::Failed {
                self.failed_batches += 1;
            }
            for (stream, end) in batch.ends {
                let Some(progress) = self.streams.get_mut(&stream) else {
                    continue;
                };
                match status {
                    BatchStatus::Failed => progress.frozen = true,
                    BatchStatus::Delivered if !progress.frozen && end > progress.committed => {
                        progress.committed = end;
                        moved = true;
                    }
                    BatchStatus::Delivered => {}
                }
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(batch_id: u64, status: BatchStatus) -> AckReceipt {
        AckReceipt { batch_id, status }
    }

    #[test]
    fn offsets_advance_only_when_every_earlier_batch_is_delivered() {
        let mut tracker = AckTracker::default();
        tracker.open_stream(1, 0);
        let first = tracker.register(vec![(1, 100)]);
        let second = tracker.register(vec![(1, 200)]);
        assert!(!tracker.receive(receipt(second, BatchStatus::Delivered)));
        assert_eq!(
            tracker.committed(1),
            Some(0),
            "the first batch is still in flight"
        );
        assert!(tracker.receive(receipt(first, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(1), Some(200));
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_failed_batch_is_never_checkpointed_past() {
        let mut tracker = AckTracker::default();
        tracker.open_stream(1, 0);
        tracker.open_stream(2, 0);
        let delivered = tracker.register(vec![(1, 100)]);
        let failed = tracker.register(vec![(1, 200), (2, 50)]);
        let later = tracker.register(vec![(1, 300), (2, 80)]);
        tracker.receive(receipt(delivered, BatchStatus::Delivered));
        tracker.receive(receipt(later, BatchStatus::Delivered));
        tracker.receive(receipt(failed, BatchStatus::Failed));
        assert_eq!(tracker.committed(1), Some(100));
        assert_eq!(tracker.committed(2), Some(0));
        assert_eq!(tracker.failed_batches(), 1);
        let even_later = tracker.register(vec![(1, 400)]);
        tracker.receive(receipt(even_later, BatchStatus::Delivered));
        assert_eq!(tracker.committed(1), Some(100), "the stream stays frozen");
    }

    #[test]
    fn a_failure_in_one_stream_does_not_hold_back_another() {
        let mut tracker = AckTracker::default();
        tracker.open_stream(1, 0);
        tracker.open_stream(2, 0);
        let failed = tracker.register(vec![(1, 100)]);
        let other = tracker.register(vec![(2, 70)]);
        tracker.receive(receipt(failed, BatchStatus::Failed));
        tracker.receive(receipt(other, BatchStatus::Delivered));
        assert_eq!(tracker.committed(1), Some(0));
        assert_eq!(tracker.committed(2), Some(70));
    }

    #[test]
    fn receipts_for_forgotten_streams_and_unknown_batches_are_ignored() {
        let mut tracker = AckTracker::default();
        tracker.open_stream(1, 10);
        let batch = tracker.register(vec![(1, 100), (9, 5)]);
        tracker.close_stream(1);
        assert!(!tracker.receive(receipt(batch + 40, BatchStatus::Delivered)));
        assert!(!tracker.receive(receipt(batch, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(1), None);
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_new_stream_starts_at_its_own_offset() {
        let mut tracker = AckTracker::default();
        tracker.open_stream(1, 500);
        let old = tracker.register(vec![(1, 900)]);
        // The file was truncated: stream 2 replaces stream 1.
        tracker.close_stream(1);
        tracker.open_stream(2, 0);
        let new = tracker.register(vec![(2, 40)]);
        tracker.receive(receipt(new, BatchStatus::Delivered));
        tracker.receive(receipt(old, BatchStatus::Delivered));
        assert_eq!(tracker.committed(2), Some(40));
    }
}
