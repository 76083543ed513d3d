//! The buffers records are encoded into, handed back once their record is written (or, with
//! `fsync = "batch"`, synced) and taken again for the next record.
//!
//! # Why
//!
//! A record is one input batch encoded: ~27 KB for a batch of 64 seed lines. Encoded into a
//! new `Vec` it grows by doubling from the first line's size (five allocations and copies on
//! the way to ~38 KB). Before, only the syncer (`fsync = "batch"`) handed buffers back, and
//! only up to `max_unsynced` of capacity, less than one round of records holds: over 1.2
//! million seed lines 3,500 buffers were grown from nothing on the writer's thread and as many
//! freed on the syncer's (mimalloc's per-size-class statistics, BENCHMARKS.md); with `never`
//! and `interval` every record's buffer was. Now every buffer comes back here, whatever the
//! fsync policy, the spare ones bounded by their capacity at twice `max_unsynced` (a round's
//! records are at most `max_unsynced` long plus one, their capacities up to half again
//! that), and a new buffer starts at the last record's length plus an eighth, so it is
//! allocated once. A buffer beyond the bound is dropped by whoever hands it back (rare:
//! records much longer than usual).

/// Spare record buffers (see the module docs).
#[derive(Debug, Default)]
pub(super) struct RecordBuffers {
    spare: Vec<Vec<u8>>,
    /// Capacity of `spare`, in bytes.
    spare_bytes: usize,
    /// Most capacity kept spare.
    max_spare_bytes: usize,
    /// The length of the last record encoded: what a new buffer starts with.
    last_len: usize,
}

impl RecordBuffers {
    /// Keeps up to `max_spare_bytes` of capacity spare.
    pub(super) fn new(max_spare_bytes: usize) -> Self {
        Self {
            max_spare_bytes,
            ..Self::default()
        }
    }

    /// A spare buffer, or a new one sized for a record like the last.
    pub(super) fn take(&mut self) -> Vec<u8> {
        match self.spare.pop() {
            Some(buffer) => {
                self.spare_bytes -= buffer.capacity();
                buffer
            }
            None => Vec::with_capacity(self.last_len + self.last_len / 8),
        }
    }

    /// Remembers how long the record just encoded is.
    pub(super) fn encoded(&mut self, len: usize) {
        self.last_len = len;
    }

    /// Keeps `buffer` for a later record; gives it back when the spare ones are at their
    /// bound, for the caller to drop.
    pub(super) fn give_back(&mut self, mut buffer: Vec<u8>) -> Option<Vec<u8>> {
        if self.spare_bytes + buffer.capacity() > self.max_spare_bytes {
            return Some(buffer);
        }
        buffer.clear();
        self.spare_bytes += buffer.capacity();
        self.spare.push(buffer);
        None
    }
}

#[cfg(test)]
impl RecordBuffers {
    /// How many buffers are spare.
    pub(super) fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_until_the_bound_and_new_ones_are_sized_like_the_last_record() {
        let mut buffers = RecordBuffers::new(100);
        let first = buffers.take();
        assert_eq!(first.capacity(), 0, "nothing encoded yet");
        buffers.encoded(64);
        let sized = buffers.take();
        assert!(sized.capacity() >= 72, "{}", sized.capacity());
        assert!(buffers.give_back(sized).is_none());
        let big = Vec::with_capacity(64);
        let refused = buffers.give_back(big);
        assert_eq!(refused.map(|b| b.capacity()), Some(64), "over the bound");
        let again = buffers.take();
        assert!(again.capacity() >= 72 && again.is_empty());
        assert_eq!(buffers.spare_bytes, 0);
    }
}
