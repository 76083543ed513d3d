//! The in-order watermark over out-of-order acknowledgements: how far each stream an input
//! reads may be checkpointed.
//!
//! Batches are acknowledged out of order (several filter workers, several outputs), and a
//! checkpoint must never claim a position whose batch is still in flight or failed. So every
//! batch remembers, per *stream*, the position just past its last record, and positions are
//! committed only in batch order: a batch's positions are applied once it and every batch
//! before it have been settled. Because one stream's records enter batches in order, that
//! yields the highest contiguous acknowledged position of each stream.
//!
//! A `Failed` batch freezes the streams it carried for the rest of the run: their committed
//! position stays before the failed records, so a restart re-reads them (at-least-once)
//! instead of losing them. Other streams keep advancing.
//!
//! It is generic because every input that resumes from a position needs exactly this: the
//! file input's streams are readings of a file and its positions byte offsets; a Kafka
//! consumer's streams would be partitions and its positions the next offset to read, the
//! value Kafka stores as the committed offset. Both types are fixed per input, so the
//! tracker is monomorphised for each and costs what a hand-written one would.
//!
//! A stream is whatever may be positioned independently. An input that starts a stream
//! again from another point (the file input after a truncation or replacement) gives it a
//! new id, so late acknowledgements of the old reading cannot move the new one.

use crate::event::{AckReceipt, BatchStatus};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
struct InFlight<S, P> {
    id: u64,
    ends: Vec<(S, P)>,
    status: Option<BatchStatus>,
}

#[derive(Debug, Clone, Copy)]
struct Progress<P> {
    committed: P,
    frozen: bool,
}

/// In-flight batches and the committed position of each stream.
///
/// `S` names a stream (the file input: one reading of one file), `P` is a position in it
/// (the file input: a byte offset), ordered so that later records have greater positions.
#[derive(Debug)]
pub struct Watermarks<S, P> {
    next_id: u64,
    in_flight: VecDeque<InFlight<S, P>>,
    streams: HashMap<S, Progress<P>>,
    failed_batches: u64,
}

impl<S, P> Default for Watermarks<S, P> {
    fn default() -> Self {
        Self {
            next_id: 0,
            in_flight: VecDeque::new(),
            streams: HashMap::new(),
            failed_batches: 0,
        }
    }
}

impl<S: Eq + Hash, P: Ord + Copy> Watermarks<S, P> {
    /// Starts tracking `stream`, whose records before `committed` need no delivery.
    pub fn open_stream(&mut self, stream: S, committed: P) {
        self.streams.insert(
            stream,
            Progress {
                committed,
                frozen: false,
            },
        );
    }

    /// Stops tracking `stream` (its source was forgotten); late receipts for it are ignored.
    pub fn close_stream(&mut self, stream: &S) {
        self.streams.remove(stream);
    }

    /// The position of `stream` that is safe to checkpoint.
    pub fn committed(&self, stream: &S) -> Option<P> {
        self.streams.get(stream).map(|p| p.committed)
    }

    /// Registers a batch ending each stream at the given position; returns its id, the
    /// batch id its acknowledgement token must carry.
    pub fn register(&mut self, ends: Vec<(S, P)>) -> u64 {
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
    /// when a committed position moved.
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

    /// A tracker of file-like streams, each starting at offset 0.
    fn tracking(streams: &[u64]) -> Watermarks<u64, u64> {
        let mut tracker = Watermarks::default();
        for &stream in streams {
            tracker.open_stream(stream, 0);
        }
        tracker
    }

    #[test]
    fn offsets_advance_only_when_every_earlier_batch_is_delivered() {
        let mut tracker = tracking(&[1]);
        let first = tracker.register(vec![(1, 100)]);
        let second = tracker.register(vec![(1, 200)]);
        assert!(!tracker.receive(receipt(second, BatchStatus::Delivered)));
        assert_eq!(
            tracker.committed(&1),
            Some(0),
            "the first batch is still in flight"
        );
        assert!(tracker.receive(receipt(first, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(&1), Some(200));
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_failed_batch_is_never_checkpointed_past() {
        let mut tracker = tracking(&[1, 2]);
        let delivered = tracker.register(vec![(1, 100)]);
        let failed = tracker.register(vec![(1, 200), (2, 50)]);
        let later = tracker.register(vec![(1, 300), (2, 80)]);
        tracker.receive(receipt(delivered, BatchStatus::Delivered));
        tracker.receive(receipt(later, BatchStatus::Delivered));
        tracker.receive(receipt(failed, BatchStatus::Failed));
        assert_eq!(tracker.committed(&1), Some(100));
        assert_eq!(tracker.committed(&2), Some(0));
        assert_eq!(tracker.failed_batches(), 1);
        let even_later = tracker.register(vec![(1, 400)]);
        tracker.receive(receipt(even_later, BatchStatus::Delivered));
        assert_eq!(tracker.committed(&1), Some(100), "the stream stays frozen");
    }

    #[test]
    fn a_failure_in_one_stream_does_not_hold_back_another() {
        let mut tracker = tracking(&[1, 2]);
        let failed = tracker.register(vec![(1, 100)]);
        let other = tracker.register(vec![(2, 70)]);
        tracker.receive(receipt(failed, BatchStatus::Failed));
        tracker.receive(receipt(other, BatchStatus::Delivered));
        assert_eq!(tracker.committed(&1), Some(0));
        assert_eq!(tracker.committed(&2), Some(70));
    }

    #[test]
    fn receipts_for_forgotten_streams_and_unknown_batches_are_ignored() {
        let mut tracker = Watermarks::<u64, u64>::default();
        tracker.open_stream(1, 10);
        let batch = tracker.register(vec![(1, 100), (9, 5)]);
        tracker.close_stream(&1);
        assert!(!tracker.receive(receipt(batch + 40, BatchStatus::Delivered)));
        assert!(!tracker.receive(receipt(batch, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(&1), None);
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_new_stream_starts_at_its_own_offset() {
        let mut tracker = Watermarks::<u64, u64>::default();
        tracker.open_stream(1, 500);
        let old = tracker.register(vec![(1, 900)]);
        // The file was truncated: stream 2 replaces stream 1.
        tracker.close_stream(&1);
        tracker.open_stream(2, 0);
        let new = tracker.register(vec![(2, 40)]);
        tracker.receive(receipt(new, BatchStatus::Delivered));
        tracker.receive(receipt(old, BatchStatus::Delivered));
        assert_eq!(tracker.committed(&2), Some(40));
    }

    #[test]
    fn kafka_like_partitions_and_offsets_work_the_same() {
        // Streams named by (topic, partition), positions the next offset to read.
        let mut tracker: Watermarks<(String, i32), i64> = Watermarks::default();
        let partition = |n: i32| ("logs".to_string(), n);
        tracker.open_stream(partition(0), 1_000);
        tracker.open_stream(partition(1), 7);
        let first = tracker.register(vec![(partition(0), 1_010), (partition(1), 9)]);
        let second = tracker.register(vec![(partition(0), 1_020)]);
        assert!(!tracker.receive(receipt(second, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(&partition(0)), Some(1_000));
        assert!(tracker.receive(receipt(first, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(&partition(0)), Some(1_020));
        assert_eq!(tracker.committed(&partition(1)), Some(9));
        assert_eq!(tracker.committed(&partition(2)), None);
    }

    #[test]
    fn a_position_never_moves_backwards() {
        let mut tracker = Watermarks::<u64, u64>::default();
        tracker.open_stream(1, 500);
        // A batch registered with an end before the committed position (resumed past it).
        let stale = tracker.register(vec![(1, 300)]);
        assert!(!tracker.receive(receipt(stale, BatchStatus::Delivered)));
        assert_eq!(tracker.committed(&1), Some(500));
    }
}
