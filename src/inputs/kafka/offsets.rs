//! Which offsets the input may commit: one contiguous watermark per partition over
//! out-of-order acknowledgements ([`Watermarks`]), and what happens to it on a rebalance.
//!
//! A partition's stored offset is the offset of the first message not yet settled by every
//! output, so a crash re-reads at most what was unacknowledged. It never passes a failed
//! batch (Vector committed past a failed message once a later one succeeded). Positions here
//! are what Kafka commits: the *next* offset to read (a message at offset `o` ends at `o + 1`);
//! they go to librdkafka with `store_offsets`, which takes them as they are (unlike
//! `store_offset`, which adds the 1 itself).
//!
//! Each assignment of a partition is its own stream: when a partition is revoked its
//! watermark is committed and its stream closed, so acknowledgements of batches read before
//! the revocation arrive later and change nothing (another consumer owns it now, and reads
//! those messages again: at-least-once). When it comes back, a new stream starts from where
//! the group is.

use crate::event::AckReceipt;
use crate::inputs::watermark::Watermarks;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;

/// One assignment of one partition.
pub type StreamId = u64;

/// The partitions this consumer reads now and the watermarks of its batches.
#[derive(Debug, Default)]
pub struct Partitions {
    watermarks: Watermarks<StreamId, i64>,
    /// The stream of each partition read now, by topic (looked up per message without
    /// allocating) and partition.
    current: HashMap<String, HashMap<i32, StreamId>>,
    names: HashMap<StreamId, (String, i32)>,
    /// The last position handed to librdkafka per stream.
    stored: HashMap<StreamId, i64>,
    /// The end of the last batch registered per stream: what it reaches once all is settled.
    registered: HashMap<StreamId, i64>,
    next_stream: StreamId,
    /// Messages the stored positions moved over since [`Partitions::commit_due`] last said so.
    moved_since_commit: u64,
}

impl Partitions {
    /// The stream of `topic`/`partition`, started at `offset` (the message being read) if the
    /// partition has none yet.
    pub fn stream(&mut self, topic: &str, partition: i32, offset: i64) -> StreamId {
        if let Some(&stream) = self.current.get(topic).and_then(|p| p.get(&partition)) {
            return stream;
        }
        let stream = self.next_stream;
        self.next_stream += 1;
        self.watermarks.open_stream(stream, offset);
        self.current
            .entry(topic.to_string())
            .or_default()
            .insert(partition, stream);
        self.names.insert(stream, (topic.to_string(), partition));
        self.stored.insert(stream, offset);
        stream
    }

    /// Registers a batch whose messages end each stream at the given next offset.
    pub fn register(&mut self, ends: Vec<(StreamId, i64)>) -> u64 {
        for &(stream, end) in &ends {
            let registered = self.registered.entry(stream).or_insert(end);
            *registered = (*registered).max(end);
        }
        self.watermarks.register(ends)
    }

    /// Whether every batch registered for the given partitions is settled (delivered; a
    /// failed one never settles them).
    pub fn settled(&self, partitions: &TopicPartitionList) -> bool {
        partitions.elements().iter().all(|element| {
            let current = self.current.get(element.topic());
            let Some(stream) = current.and_then(|p| p.get(&element.partition())) else {
                return true;
            };
            match (
                self.registered.get(stream),
                self.watermarks.committed(stream),
            ) {
                (Some(registered), Some(committed)) => committed >= *registered,
                _ => true,
            }
        })
    }

    pub fn receive(&mut self, receipt: AckReceipt) -> bool {
        self.watermarks.receive(receipt)
    }

    pub fn in_flight(&self) -> usize {
        self.watermarks.in_flight()
    }

    /// The positions that moved since the last call, to store with librdkafka.
    pub fn take_moved(&mut self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (&stream, stored) in &mut self.stored {
            let Some(committed) = self.watermarks.committed(&stream) else {
                continue;
            };
            if committed > *stored {
                self.moved_since_commit += u64::try_from(committed - *stored).unwrap_or(0);
                if let Some((topic, partition)) = self.names.get(&stream) {
                    // Only fails for a negative offset, which positions never are.
                    let _ = list.add_partition_offset(topic, *partition, Offset::Offset(committed));
                }
                *stored = committed;
            }
        }
        list
    }

    /// Whether the positions stored since the last time this said yes moved over at least
    /// `step` messages: then they are worth committing at once rather than at librdkafka's
    /// next periodic commit, so that a crash or a broker restart re-reads less.
    pub fn commit_due(&mut self, step: u64) -> bool {
        if self.moved_since_commit < step {
            return false;
        }
        self.moved_since_commit = 0;
        true
    }

    /// Forgets the revoked partitions; returns their positions to commit now (those this
    /// consumer moved), before another consumer takes them over.
    pub fn revoke(&mut self, revoked: &TopicPartitionList) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for element in revoked.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let current = self.current.get_mut(topic);
            let Some(stream) = current.and_then(|p| p.remove(&partition)) else {
                continue;
            };
            if let Some(committed) = self.watermarks.committed(&stream) {
                let _ = list.add_partition_offset(topic, partition, Offset::Offset(committed));
            }
            self.watermarks.close_stream(&stream);
            self.names.remove(&stream);
            self.stored.remove(&stream);
            self.registered.remove(&stream);
        }
        list
    }

    /// The position of every partition read now (for the final commit).
    pub fn positions(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (topic, streams) in &self.current {
            for (partition, stream) in streams {
                if let Some(committed) = self.watermarks.committed(stream) {
                    let _ = list.add_partition_offset(topic, *partition, Offset::Offset(committed));
                }
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::BatchStatus;

    fn delivered(batch_id: u64) -> AckReceipt {
        AckReceipt {
            batch_id,
            status: BatchStatus::Delivered,
        }
    }

    fn offsets(list: &TopicPartitionList) -> Vec<(String, i32, i64)> {
        let mut found: Vec<_> = list
            .elements()
            .iter()
            .map(|e| {
                let Offset::Offset(offset) = e.offset() else {
                    panic!("not an offset: {:?}", e.offset())
                };
                (e.topic().to_string(), e.partition(), offset)
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn the_next_offset_is_stored_only_up_to_the_first_unsettled_batch() {
        let mut partitions = Partitions::default();
        let p0 = partitions.stream("logs", 0, 100);
        let first = partitions.register(vec![(p0, 110)]);
        let second = partitions.register(vec![(p0, 120)]);
        partitions.receive(delivered(second));
        assert!(offsets(&partitions.take_moved()).is_empty());
        partitions.receive(delivered(first));
        assert_eq!(offsets(&partitions.take_moved()), [("logs".into(), 0, 120)]);
        assert!(offsets(&partitions.take_moved()).is_empty(), "stored once");
    }

    #[test]
    fn a_large_step_of_the_stored_positions_makes_a_commit_due() {
        let mut partitions = Partitions::default();
        let p0 = partitions.stream("logs", 0, 0);
        let p1 = partitions.stream("logs", 1, 500);
        let small = partitions.register(vec![(p0, 300)]);
        partitions.receive(delivered(small));
        partitions.take_moved();
        assert!(!partitions.commit_due(1000), "300 messages is a small step");
        let large = partitions.register(vec![(p0, 600), (p1, 1000)]);
        let unsettled = partitions.register(vec![(p1, 5000)]);
        partitions.receive(delivered(large));
        partitions.take_moved();
        assert!(partitions.commit_due(1000), "300 + 300 + 500 moved");
        assert!(!partitions.commit_due(1000), "due once per step");
        partitions.receive(AckReceipt {
            batch_id: unsettled,
            status: BatchStatus::Failed,
        });
        partitions.take_moved();
        assert!(!partitions.commit_due(1), "a failed batch moves nothing");
    }

    #[test]
    fn a_failed_batch_holds_its_partition_back_but_not_the_others() {
        let mut partitions = Partitions::default();
        let p0 = partitions.stream("logs", 0, 0);
        let p1 = partitions.stream("logs", 1, 50);
        let failed = partitions.register(vec![(p0, 10), (p1, 60)]);
        let later = partitions.register(vec![(p0, 20), (p1, 70)]);
        let only_p1 = partitions.register(vec![(p1, 80)]);
        partitions.receive(AckReceipt {
            batch_id: failed,
            status: BatchStatus::Failed,
        });
        partitions.receive(delivered(later));
        partitions.receive(delivered(only_p1));
        assert!(
            offsets(&partitions.take_moved()).is_empty(),
            "p0 is frozen before the failed batch; p1 too, it carried the failed batch"
        );
        assert_eq!(partitions.in_flight(), 0);
    }

    #[test]
    fn partitions_are_settled_once_every_registered_batch_is_delivered() {
        let mut partitions = Partitions::default();
        let p0 = partitions.stream("logs", 0, 0);
        let mut list = TopicPartitionList::new();
        list.add_partition("logs", 0);
        list.add_partition("logs", 9);
        assert!(partitions.settled(&list), "nothing registered yet");
        let first = partitions.register(vec![(p0, 10)]);
        let second = partitions.register(vec![(p0, 20)]);
        partitions.receive(delivered(first));
        assert!(!partitions.settled(&list));
        partitions.receive(delivered(second));
        assert!(partitions.settled(&list));
    }

    #[test]
    fn a_revoked_partition_commits_its_watermark_and_ignores_late_acks() {
        let mut partitions = Partitions::default();
        let old = partitions.stream("logs", 0, 0);
        let done = partitions.register(vec![(old, 10)]);
        let late = partitions.register(vec![(old, 20)]);
        partitions.receive(delivered(done));
        let mut revoked = TopicPartitionList::new();
        revoked.add_partition("logs", 0);
        assert_eq!(
            offsets(&partitions.revoke(&revoked)),
            [("logs".into(), 0, 10)]
        );
        // Assigned again: the group's committed offset is where reading resumes.
        let new = partitions.stream("logs", 0, 10);
        assert_ne!(old, new);
        partitions.receive(delivered(late));
        assert!(
            offsets(&partitions.take_moved()).is_empty(),
            "the old assignment's late ack moves nothing"
        );
        let next = partitions.register(vec![(new, 15)]);
        partitions.receive(delivered(next));
        assert_eq!(offsets(&partitions.take_moved()), [("logs".into(), 0, 15)]);
        assert_eq!(offsets(&partitions.positions()), [("logs".into(), 0, 15)]);
    }
}
