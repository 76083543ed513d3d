//! Group commit for `fsync = "batch"`: one `fdatasync` for every record written since the
//! last one, on a thread of its own.
//!
//! # Why
//!
//! Syncing each record on the input's thread before it reads on paid one `fdatasync` per
//! input batch (then 64 events, the default `batch_size`): about 4,700 per 300,000 lines, and the
//! input stood still for each. Here a writer returns as soon as its record is written to the
//! kernel; the *syncer* takes every record written since its last round, syncs their segment
//! once, and only then publishes them to the readers and drops their batches, which
//! acknowledges the inputs (file checkpoint, Beats window). While it syncs, the inputs go on
//! reading and writing the next records, so the slower the disk, the more records one sync
//! covers. This is the group commit of databases and of Logstash's `queue.checkpoint.writes`
//! or Kafka's log flush, without their window of acknowledged-but-unsynced data: an input is
//! never acknowledged before the sync that covers its record.
//!
//! # Bounds
//!
//! Written-but-unsynced bytes are bounded by [`Shared::max_unsynced`] (half a segment, at most
//! [`MAX_UNSYNCED_BYTES`]): a writer past it waits for the round in flight, which is
//! backpressure, never an unbounded list. What a written record keeps until its sync is its
//! encoded bytes (to write them again if the sync fails) and its batch's token; its events are
//! freed on the writer's thread right after the write. The syncer hands the buffers of synced
//! records back (see `buffers`) and writers encode the next records into them: no allocation
//! per record, and no buffer allocated on one thread and freed on another. The bound
//! is small on purpose: these buffers are what the disk queue holds in memory beyond what the
//! memory queue does, and the disk, not memory, is the buffer (BENCHMARKS.md, the disk queue's
//! peak RSS against the memory queue's).
//!
//! # A failed sync
//!
//! After a failed `fdatasync` Linux may have dropped the dirty pages it could not write back
//! and reports success for the next sync, so retrying the sync alone proves nothing. The
//! syncer writes the records of the failed round again at their offsets (the same bytes, so
//! any writer that appended after them is unaffected) and syncs again, with a backoff of up to
//! a second, logged once and counted as a write error; the inputs stay unacknowledged and,
//! past the bound, wait.

use super::buffers::RecordBuffers;
use super::{Published, Shared, Written};
use crate::metrics::ComponentMetrics;
use crate::sync::lock;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, MutexGuard, PoisonError};
use std::time::Duration;

/// Most bytes written and not yet synced, whatever the segment size.
pub(super) const MAX_UNSYNCED_BYTES: u64 = 128 << 10;

/// Waits on `condvar`, taking the guard back if a panic poisoned the lock (see
/// [`crate::sync`]).
pub(super) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Records written and not yet synced, and the syncer's state (one lock).
#[derive(Debug)]
pub(super) struct Unsynced {
    /// In the order they were written.
    pub(super) records: Vec<Written>,
    /// Bytes of `records` and of the round being synced.
    pub(super) bytes: u64,
    /// The syncer is syncing records it took.
    pub(super) syncing: bool,
    /// Every writer is gone: the syncer syncs what is left and ends.
    pub(super) closing: bool,
    /// Buffers of written (and, here, synced) records, for writers to encode the next ones
    /// into; also used by the other fsync policies, which have no syncer.
    pub(super) buffers: RecordBuffers,
}

impl Unsynced {
    /// Nothing written yet; keeps up to `max_spare_bytes` of record buffers spare.
    pub(super) fn new(max_spare_bytes: usize) -> Self {
        Self {
            records: Vec::new(),
            bytes: 0,
            syncing: false,
            closing: false,
            buffers: RecordBuffers::new(max_spare_bytes),
        }
    }

    /// Whether every written record is synced and published.
    pub(super) fn drained(&self) -> bool {
        !self.syncing && self.records.is_empty()
    }
}

/// What a test runs before a sync.
#[cfg(test)]
pub(super) type BeforeSync = Box<dyn FnMut() -> io::Result<()> + Send>;

/// Test seam: runs before every sync, and its error stands for a failed `fdatasync`.
#[cfg(test)]
#[derive(Default)]
pub(super) struct SyncHook(pub(super) std::sync::Mutex<Option<BeforeSync>>);

#[cfg(test)]
impl std::fmt::Debug for SyncHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncHook")
    }
}

/// Starts the syncer thread of `shared`; it ends once every writer is gone and everything
/// they wrote is synced and published.
pub(super) fn start(shared: Arc<Shared>) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sluice-queue-sync".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    // Kept across rounds: the list the writers fill and this one are swapped, and the
    // batches are dropped from a list of their own, so a round allocates nothing.
    let mut records = Vec::new();
    let mut batches = Vec::new();
    loop {
        {
            let mut unsynced = lock(&shared.unsynced);
            while unsynced.records.is_empty() && !unsynced.closing {
                unsynced = wait(&shared.sync_work, unsynced);
            }
            unsynced.syncing = !unsynced.records.is_empty();
            std::mem::swap(&mut unsynced.records, &mut records);
        }
        if records.is_empty() {
            break;
        }
        make_durable(shared, &records);
        let bytes: u64 = records.iter().map(|r| r.record.len() as u64).sum();
        shared.publish_all(records.iter().map(|record| Published {
            segment: record.segment,
            end: record.offset + record.record.len() as u64,
            events: record.events,
            bytes: record.record.len() as u64,
        }));
        let mut unsynced = lock(&shared.unsynced);
        unsynced.bytes -= bytes;
        unsynced.syncing = false;
        let mut refused = Vec::new();
        for record in records.drain(..) {
            refused.extend(unsynced.buffers.give_back(record.record));
            batches.push(record.batch);
        }
        drop(unsynced);
        drop(refused);
        shared.synced.notify_all();
        // Dropping the batches acknowledges their inputs: only now.
        batches.clear();
    }
    shared.writers_gone();
}

/// Syncs the files of `records` until a sync succeeds, writing the records again after a
/// failure (see the module docs).
fn make_durable(shared: &Shared, records: &[Written]) {
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    loop {
        let synced = if failing {
            rewrite(records).and_then(|()| sync(shared, records))
        } else {
            sync(shared, records)
        };
        match synced {
            Ok(()) => {
                if failing {
                    shared.metrics.disk_full.set(0);
                    tracing::info!(
                        queue = %shared.dir.display(),
                        "Syncing the disk queue succeeds again; the inputs are acknowledged."
                    );
                }
                return;
            }
            Err(error) => {
                shared.metrics.write_errors.inc();
                ComponentMetrics::add(&shared.metrics.component.errors, 1);
                if !failing {
                    failing = true;
                    shared.metrics.disk_full.set(1);
                    tracing::error!(
                        queue = %shared.dir.display(),
                        error = %error,
                        "Cannot fsync the disk queue; its records are written again and synced until it succeeds, and the inputs are not acknowledged until then."
                    );
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One `fdatasync` per segment file among `records` (one, unless a segment was closed).
fn sync(shared: &Shared, records: &[Written]) -> io::Result<()> {
    #[cfg(test)]
    if let Some(hook) = lock(&shared.sync_hook.0).as_mut() {
        hook()?;
    }
    #[cfg(not(test))]
    let _ = shared;
    let mut last: Option<&Arc<File>> = None;
    for record in records {
        if last.is_some_and(|file| Arc::ptr_eq(file, &record.file)) {
            continue;
        }
        record.file.sync_data()?;
        last = Some(&record.file);
    }
    Ok(())
}

fn rewrite(records: &[Written]) -> io::Result<()> {
    records
        .iter()
        .try_for_each(|r| r.file.write_all_at(&r.record, r.offset))
}
