//! The persistent disk queue: batches in append-only segment files, acknowledged to their
//! input once durable, deleted a whole segment at a time once every output settled every
//! record in it.
//!
//! # Why this design
//!
//! Three designs were weighed, each from its project's documentation:
//!
//! - **Logstash's persistent queue** writes events into fixed-size, memory-mapped *pages*
//!   and tracks progress in *checkpoint* files (one per page: first unacked sequence number,
//!   count). Out-of-order acknowledgement is handled by an in-memory bitset per page, and a
//!   page is deleted when every event in it is acknowledged. It acknowledges the input once
//!   the event is in the queue (fsynced every `queue.checkpoint.writes`), not once delivered.
//!   Its known failures are what this issue warns about: a checkpoint that disagrees with a
//!   page after a crash stops the pipeline at startup until someone deletes files, and the
//!   memory-mapped page size is held whether it is used or not.
//! - **Vector's disk buffer v2** writes length-delimited, CRC-checked records into data
//!   files of bounded size and keeps one *ledger* (reader and writer positions) in a small
//!   memory-mapped file; a data file is deleted once the reader has moved past it *and*
//!   every record read from it is acknowledged. A torn record is skipped and counted as
//!   lost. It acknowledges in order, though, so one slow batch holds back the ledger.
//! - **Fluent Bit's filesystem storage** keeps each *chunk* (up to ~2 MB of records of one
//!   tag) in its own file with a CRC32 header, mapped into memory while up, and reloads
//!   every chunk on start ("backlog"); a chunk is deleted when every output that routes it
//!   has flushed it. Many files, and startup reads them all.
//!
//! sluice takes Vector's layout (segment files of CRC-32C records, bounded size, deleted
//! whole) with Logstash's out-of-order acknowledgement and semantics, and replaces both
//! projects' mutable checkpoint/ledger with append-only *acks files*: beside segment
//! `N.seg`, `N.acks` lists the indexes of the records every output settled, in the order they
//! settled. Nothing is ever rewritten in place, so there is no checkpoint that can disagree
//! with its data after a crash: a torn last entry is ignored, a missing entry means one batch
//! is delivered again. The reader's position need not be persisted at all: at start it
//! begins at the oldest segment and skips the records listed as settled. A record is one
//! input batch (not one event, not one fixed-size page), so the write and the CRC are paid
//! per batch and an fsync per group of batches. No file is memory-mapped: records are read
//! with `pread` one at a time into the batch that carries them, so memory is the pipeline's
//! in-flight batches whatever the queue holds.
//!
//! # Durability and acknowledgement
//!
//! An input's batch is acknowledged (its token dropped: the file checkpoint advances, the
//! Beats window is answered) once its record is written and, per `fsync`: `batch`, synced
//! to the device; `interval`, written to the kernel (synced within `fsync_interval`);
//! `never`, written to the kernel. Readers see a record only after that point, so nothing an
//! output delivered can vanish from the queue on a crash. With `batch` the writer does not
//! wait for the sync: a syncer thread syncs every record written since its last round with
//! one `fdatasync` and only then publishes them and acknowledges their inputs (group
//! commit, see `group_commit`; the unsynced bytes are bounded). Each batch a reader hands out
//! carries a token of the queue's own; when every output settled it the record is appended
//! to the acks file, and once every record of a segment the writer has moved past is
//! settled, the segment and its acks file are deleted. A batch an output gave up on (only at
//! shutdown) stays unsettled and is delivered again on the next start.
//!
//! An input keeps its own record of how far it has read (the file input's checkpoint), and
//! moves it once the queue acknowledges. That is a second file, written after the queue's
//! sync: a kill between the two left lines in the queue that the input read again at the next
//! start (a group-commit round of them, several batches). So a batch can carry where it ends
//! in its input's streams ([`SourcePosition`]: opaque bytes per stream, the file input's
//! device, inode, offset and fingerprint), and its record holds them inside the same checksum,
//! write and sync as the events: the queue's record of a position is durable exactly when the
//! lines before it are. At start the queue hands the newest position per stream back
//! (`recovered_positions`), and the input resumes from the later of its own record and the
//! queue's, so that nothing the queue holds is read twice. (Logstash has the same gap between
//! its file input's sincedb and its persistent queue, and leaves it.)
//!
//! # Bounds and backpressure
//!
//! `max_bytes` bounds the segment files. A writer that would pass it waits (the inputs stop
//! reading) until a segment is deleted; if the segment being written is the only one, it is
//! closed first so that it can be. A failed write (a full disk: `ENOSPC`, or any other I/O
//! error) is cut back off the segment, logged once, counted (`queue_write_errors_total`,
//! `queue_disk_full` = 1), and retried with a backoff of up to a second: the same
//! backpressure, and it resumes by itself when space returns.
//!
//! # Crash safety
//!
//! At start only the newest segment is read whole (at most `segment_bytes`) to find where
//! its last whole record ends: a torn or damaged tail (CRC-32C mismatch, cut-short header
//! or payload) is logged, counted (`queue_corrupt_records_total`) and cut off; every record
//! before it is delivered. Older segments get their headers walked (a few bytes per batch)
//! to count their events; their payloads are checked as the reader reaches them. Damage
//! found there quarantines the segment: the records before the damage are delivered, the
//! file is renamed to `N.seg.corrupt` (counted in `queue_quarantined_segments_total`, kept
//! for inspection, no longer counted in the queue's bytes) and reading goes on with the
//! next. Nothing here is fatal and nothing retries at startup, so damage can never hold the
//! pipeline in a start loop. Each start writes into a new segment.
//!
//! The inputs' positions are gathered from that same read of the newest segment, so they
//! cost startup nothing more. Because each start and each roll begins a new segment, the
//! newest one alone would not know a stream last written in an older one: every segment
//! therefore starts with a *positions record* (zero events) holding the newest position of
//! each stream written in the segment before it (at start: every position recovered). Streams
//! not written during a whole segment are left out at the next roll, so the record stays as
//! small as the set of recently active streams; their inputs' own records caught up with them
//! long before. Readers settle positions records at once and never deliver them. If the
//! newest segment's positions record was torn off (a crash while the segment was created),
//! the segments before it are read whole, newest first, until one has its positions record.
//! Segments of format 1 (before positions) are read as before and hold none.

mod buffers;
mod group_commit;
mod segment;

pub mod inspect;

use crate::config::{DiskQueueConfig, Fsync};
use crate::event::{
    ack_channel, AckReceipt, AckReceiver, AckSender, Batch, BatchStatus, SourcePosition,
};
use crate::metrics::{ComponentMetrics, Counter, Gauge};
use crate::sync::lock;
use group_commit::Unsynced;
use segment::Read;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use super::QueueClosed;

/// The disk queue could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the disk queue in {path}: {source}")]
pub struct OpenError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The queue's metrics, registered once when it opens.
#[derive(Debug)]
struct Metrics {
    component: Arc<ComponentMetrics>,
    events: Gauge,
    bytes: Gauge,
    segments: Gauge,
    disk_full: Gauge,
    full: Gauge,
    corrupt_records: Counter,
    quarantined_segments: Counter,
    write_errors: Counter,
    refused_events: Counter,
}

impl Metrics {
    fn register(component: Arc<ComponentMetrics>, max_bytes: u64) -> Self {
        let max = component.gauge(
            "queue_max_bytes",
            "Most bytes the queue's segment files may take (max_bytes).",
        );
        max.set(max_bytes as i64);
        Self {
            events: component.gauge(
                "queue_events",
                "Events in the queue not yet settled by every output.",
            ),
            bytes: component.gauge("queue_bytes", "Bytes of the queue's segment files."),
            segments: component.gauge("queue_segments", "Segment files of the queue."),
            disk_full: component.gauge(
                "queue_disk_full",
                "1 while writes to the queue fail (a full disk): the inputs wait.",
            ),
            full: component.gauge(
                "queue_full",
                "1 while the queue holds max_bytes: the inputs wait.",
            ),
            corrupt_records: component.counter(
                "queue_corrupt_records_total",
                "Torn or damaged records found at a segment's tail and cut off.",
            ),
            quarantined_segments: component.counter(
                "queue_quarantined_segments_total",
                "Damaged segments renamed aside (*.seg.corrupt).",
            ),
            write_errors: component.counter(
                "queue_write_errors_total",
                "Writes to the queue that failed (full disk, I/O error) and were retried.",
            ),
            refused_events: component.counter(
                "queue_refused_events_total",
                "Events the queue could not encode (nested too deep) and dropped.",
            ),
            component,
        }
    }
}

/// What the queue knows about one live segment.
#[derive(Debug, Default)]
struct Segment {
    /// Bytes of the file (for the head: published bytes).
    bytes: u64,
    /// How many records it holds: known once the reader has read it to its end and the
    /// writer has moved on.
    records: Option<u32>,
    /// Indexes of the records every output settled (this run and earlier ones).
    settled: HashSet<u32>,
    /// Records handed to the workers and not yet settled: index → events.
    in_flight: HashMap<u32, u32>,
    /// Events in it not yet settled.
    pending_events: u64,
    /// Renamed aside: its file no longer counts.
    quarantined: bool,
    /// Where settled indexes are appended (opened on the first).
    acks: Option<File>,
    /// Its layout (older segments may be of an earlier format).
    format: segment::Format,
    /// Created in this run: where its positions record ends, so that readers start there
    /// (and the segment reads as empty until a batch follows).
    batches_from: Option<u64>,
}

impl Segment {
    /// A segment this run created, holding its header and positions record (`bytes`).
    fn created(bytes: u64) -> Self {
        Self {
            bytes,
            // The positions record (index 0) needs no settling.
            settled: HashSet::from([0]),
            batches_from: Some(bytes),
            ..Self::default()
        }
    }
}

/// The reader's position.
#[derive(Debug)]
struct Cursor {
    id: u64,
    offset: u64,
    index: u32,
    file: Option<File>,
}

impl Cursor {
    /// At the first record of `segment` (`id`) a reader must look at.
    fn at(id: u64, segment: &Segment) -> Self {
        let (offset, index) = match segment.batches_from {
            Some(offset) => (offset, 1),
            None => (segment::MAGIC.len() as u64, 0),
        };
        Self {
            id,
            offset,
            index,
            file: None,
        }
    }
}

/// What readers and the settling share (one lock).
#[derive(Debug)]
struct State {
    segments: BTreeMap<u64, Segment>,
    /// The segment being written, and how far readers may read it.
    head_id: u64,
    cursor: Cursor,
    /// Bytes of every live segment, plus what writers reserved.
    bytes: u64,
    events: u64,
    writers_gone: bool,
    readers_gone: bool,
    /// A reader found damage in the head segment: the writer closes it before its next write.
    roll_requested: bool,
    /// Test seam: the next this many writes fail as a full disk would.
    #[cfg(test)]
    failing_writes: usize,
}

/// The segment being written (its own lock, so reads never wait for a write or an fsync).
#[derive(Debug)]
struct Head {
    id: u64,
    /// Shared with the syncer, which syncs it without the head's lock.
    file: Arc<File>,
    offset: u64,
    records: u32,
    /// Written but not yet synced (`fsync = "interval"`).
    unsynced: bool,
    last_sync: Instant,
    /// Writes are failing (logged once until they succeed again).
    failing: bool,
    /// The newest position of each stream written into this segment: the positions record
    /// the next segment starts with.
    written: segment::Positions,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    config: DiskQueueConfig,
    /// Readers deliver everything before ending once the writers are gone (`--once`);
    /// otherwise what is left stays for the next start.
    drain: bool,
    state: Mutex<State>,
    head: Mutex<Head>,
    /// Writers waiting for a segment to be deleted.
    space: Condvar,
    /// Readers waiting for a record.
    data: Notify,
    metrics: Metrics,
    /// `fsync = "batch"`: records written and waiting for the syncer (see `group_commit`).
    unsynced: Mutex<Unsynced>,
    /// The syncer has records to sync, or the writers are gone.
    sync_work: Condvar,
    /// The syncer finished a round.
    synced: Condvar,
    /// Most written-but-unsynced bytes before writers wait for the syncer.
    max_unsynced: u64,
    /// The last writer was dropped (its threads are ending).
    writers_dropped: AtomicBool,
    /// The newest position of each stream found at start, for the inputs to resume from.
    recovered: segment::Positions,
    #[cfg(test)]
    sync_hook: group_commit::SyncHook,
}

/// A record made visible to readers: its segment, where it ends, its events and bytes.
struct Published {
    segment: u64,
    end: u64,
    events: u32,
    bytes: u64,
}

/// A record written to the head and waiting for its sync (`fsync = "batch"`).
#[derive(Debug)]
struct Written {
    segment: u64,
    file: Arc<File>,
    offset: u64,
    /// Its bytes, to write again if the sync fails.
    record: Vec<u8>,
    events: u32,
    /// The input's batch with its events freed: dropping it acknowledges the input.
    batch: Batch,
}

/// Opens (or creates) the queue in `dir`; see the module docs for what startup reads.
/// `drain`: whether readers deliver everything before ending once the writers are gone.
pub(super) fn open(
    dir: &Path,
    config: &DiskQueueConfig,
    drain: bool,
    metrics: Arc<ComponentMetrics>,
) -> Result<(Writer, Reader, Settler), OpenError> {
    let error = |source| OpenError {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(error)?;
    let metrics = Metrics::register(metrics, config.max_bytes);
    let mut config = config.clone();
    // A segment is at most a quarter of the queue, so closing one always frees space.
    config.segment_bytes = config.segment_bytes.min(config.max_bytes / 4).max(4096);
    let Recovered {
        mut segments,
        bytes,
        events,
        positions,
    } = recover(dir, &metrics).map_err(error)?;
    let head_id = segments.keys().next_back().map_or(1, |id| id + 1);
    let (file, first) = create_segment(dir, head_id, config.fsync, &positions).map_err(error)?;
    let head = Segment::created(first);
    let cursor = match segments.iter().next() {
        Some((&id, segment)) => Cursor::at(id, segment),
        None => Cursor::at(head_id, &head),
    };
    segments.insert(head_id, head);
    let state = State {
        segments,
        head_id,
        cursor,
        bytes: bytes + first,
        events,
        writers_gone: false,
        readers_gone: false,
        roll_requested: false,
        #[cfg(test)]
        failing_writes: 0,
    };
    let head = Head {
        id: head_id,
        file: Arc::new(file),
        offset: first,
        records: 0,
        unsynced: false,
        last_sync: Instant::now(),
        failing: false,
        written: segment::Positions::new(),
    };
    let max_unsynced = (config.segment_bytes / 2).min(group_commit::MAX_UNSYNCED_BYTES);
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        config,
        drain,
        state: Mutex::new(state),
        head: Mutex::new(head),
        space: Condvar::new(),
        data: Notify::new(),
        metrics,
        unsynced: Mutex::new(Unsynced::new(2 * max_unsynced as usize)),
        sync_work: Condvar::new(),
        synced: Condvar::new(),
        max_unsynced,
        writers_dropped: AtomicBool::new(false),
        recovered: positions,
        #[cfg(test)]
        sync_hook: group_commit::SyncHook::default(),
    });
    shared.publish_gauges(&lock(&shared.state));
    let syncer = if shared.config.fsync == Fsync::Batch {
        Some(group_commit::start(shared.clone()).map_err(error)?)
    } else {
        None
    };
    let (jobs, queued) = async_channel::bounded(1);
    let writer = start_writer(queued).map_err(error)?;
    let (acks, receipts) = ack_channel();
    let settler = tokio::spawn(settle(shared.clone(), receipts));
    let shared_for_settler = shared.clone();
    Ok((
        Writer {
            guard: Arc::new(WriterGuard(shared.clone())),
            jobs,
        },
        Reader(Arc::new(ReaderGuard { shared, acks })),
        Settler {
            settle: settler,
            syncer,
            writer: Some(writer),
            shared: shared_for_settler,
        },
    ))
}

/// What startup found.
struct Recovered {
    segments: BTreeMap<u64, Segment>,
    /// Bytes of the segments.
    bytes: u64,
    /// Events not yet settled.
    events: u64,
    /// The newest position of each stream.
    positions: segment::Positions,
}

/// Reads what startup must: every segment's headers, the newest one whole (cutting off a
/// torn tail, and gathering the positions its records carry), and the acks files.
fn recover(dir: &Path, metrics: &Metrics) -> io::Result<Recovered> {
    let (ids, _) = segment::list(dir)?;
    let newest = ids.last().copied();
    let mut segments = BTreeMap::new();
    let (mut bytes, mut events) = (0u64, 0u64);
    let mut positions = None;
    for id in ids {
        let path = segment::segment_path(dir, id);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = file.metadata()?.len();
        let newest = Some(id) == newest;
        let Some(format) = segment::format_of(&file, len)? else {
            if newest && len < segment::MAGIC.len() as u64 {
                // Created, then the process died before the first bytes were written.
                tracing::warn!(segment = %path.display(), "Removing a queue segment cut short before its header.");
                std::fs::remove_file(&path)?;
                remove_if_exists(&segment::acks_path(dir, id))?;
            } else {
                quarantine_file(
                    dir,
                    id,
                    "it does not start with a segment header this build reads",
                    metrics,
                );
            }
            continue;
        };
        let walk = segment::walk(&file, len, newest, format)?;
        let mut end = len;
        if newest {
            if let Some(why) = walk.damage {
                tracing::warn!(
                    segment = %path.display(),
                    offset = walk.valid_end,
                    skipped_bytes = len - walk.valid_end,
                    records_kept = walk.records.len(),
                    "Queue segment has a torn or corrupt tail record ({why}); cutting it off. Every record before it is kept."
                );
                metrics.corrupt_records.inc();
                file.set_len(walk.valid_end)?;
                file.sync_all()?;
                end = walk.valid_end;
            }
        }
        let acks_path = segment::acks_path(dir, id);
        let mut settled: HashSet<u32> = segment::read_acks(&acks_path)?.into_iter().collect();
        // Positions records hold no events: settled as they are.
        settled.extend(
            walk.records
                .iter()
                .filter(|r| r.events == 0)
                .map(|r| r.index),
        );
        let pending: u64 = walk
            .records
            .iter()
            .filter(|r| !settled.contains(&r.index))
            .map(|r| u64::from(r.events))
            .sum();
        let acks = open_acks(&acks_path)?;
        bytes += end;
        events += pending;
        segments.insert(
            id,
            Segment {
                bytes: end,
                settled,
                pending_events: pending,
                acks: Some(acks),
                format,
                ..Segment::default()
            },
        );
        if newest {
            positions = Some((walk.positions, walk.carries_positions));
        }
    }
    let positions = match positions {
        Some((positions, true)) => positions,
        Some((positions, false)) => older_positions(dir, &segments, positions, 1)?,
        // The newest file was no segment (removed or quarantined above).
        None => older_positions(dir, &segments, segment::Positions::new(), 0)?,
    };
    Ok(Recovered {
        segments,
        bytes,
        events,
        positions,
    })
}

/// `newest` (the positions of the newest file, which does not start with a positions record:
/// it was torn off, the segment is of format 1, or the file was no segment at all) over those
/// of the segments before it (`segments` but the `skip` newest), read whole newest first
/// until one starts with a positions record. Rare (a crash while a segment was being
/// created), so reading a segment or two more is fine.
fn older_positions(
    dir: &Path,
    segments: &BTreeMap<u64, Segment>,
    newest: segment::Positions,
    skip: usize,
) -> io::Result<segment::Positions> {
    let mut layers = vec![newest];
    for (&id, segment) in segments.iter().rev().skip(skip) {
        if segment.format == segment::Format::V1 {
            break;
        }
        let file = File::open(segment::segment_path(dir, id))?;
        let walk = segment::walk(&file, segment.bytes, true, segment.format)?;
        layers.push(walk.positions);
        if walk.carries_positions {
            break;
        }
    }
    let mut positions = segment::Positions::new();
    for layer in layers.into_iter().rev() {
        positions.extend(layer);
    }
    Ok(positions)
}

/// Opens an acks file for appending, cutting off a torn last entry first.
fn open_acks(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    if len % 4 != 0 {
        file.set_len(len - len % 4)?;
    }
    Ok(file)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Renames segment `id` aside, logging and counting it. A failure to rename is logged too:
/// the segment is not read again in this run either way.
fn quarantine_file(dir: &Path, id: u64, why: &str, metrics: &Metrics) {
    let from = segment::segment_path(dir, id);
    let to = segment::quarantine_path(dir, id);
    metrics.quarantined_segments.inc();
    match std::fs::rename(&from, &to) {
        Ok(()) => tracing::error!(
            segment = %from.display(),
            quarantined_as = %to.display(),
            "Queue segment is damaged ({why}); records before the damage were delivered, the file is renamed aside and reading goes on with the next segment."
        ),
        Err(e) => tracing::error!(
            segment = %from.display(),
            error = %e,
            "Queue segment is damaged ({why}) and could not be renamed aside; it is skipped."
        ),
    }
}

/// Creates segment `id` holding its header and a positions record of `positions`; returns
/// it and its length.
fn create_segment(
    dir: &Path,
    id: u64,
    fsync: Fsync,
    positions: &segment::Positions,
) -> io::Result<(File, u64)> {
    let path = segment::segment_path(dir, id);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut bytes = segment::MAGIC.to_vec();
    let mut record = Vec::new();
    segment::encode_record(&[], &segment::listed(positions), &mut record);
    bytes.extend_from_slice(&record);
    let written = file.write_all(&bytes).and_then(|()| {
        if fsync == Fsync::Never {
            Ok(())
        } else {
            // The file's name must survive a power loss as well as its bytes.
            file.sync_data()?;
            File::open(dir)?.sync_all()
        }
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok((file, bytes.len() as u64))
}

impl Shared {
    fn publish_gauges(&self, state: &State) {
        self.metrics.events.set(state.events as i64);
        self.metrics.bytes.set(state.bytes as i64);
        self.metrics.segments.set(state.segments.len() as i64);
    }

    /// Appends `batch` as one record, waiting while the queue is full or writes fail; the
    /// batch (and with it its input's token) is dropped once the record is durable.
    fn append(&self, mut batch: Batch) -> Result<(), QueueClosed> {
        batch.materialize();
        let mut record = lock(&self.unsynced).buffers.take();
        let (stored, refused) =
            segment::encode_record(&batch.events, batch.positions(), &mut record);
        if refused > 0 {
            self.metrics.refused_events.add(refused);
            ComponentMetrics::add(&self.metrics.component.events_dropped, refused);
            tracing::error!(
                events = refused,
                "Events nested deeper than the queue's codec reads back were dropped."
            );
        }
        if stored == 0 {
            self.give_back(record, false);
            return Ok(());
        }
        let len = record.len() as u64;
        let mut backoff = Duration::from_millis(50);
        loop {
            let mut head = lock(&self.head);
            match self.reserve(&mut head, len) {
                Reserved::Closed => return Err(QueueClosed),
                Reserved::Roll => {
                    if let Err(e) = self.roll(&mut head) {
                        self.write_failed(&mut head, &e);
                        drop(head);
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    continue;
                }
                Reserved::Yes => {}
            }
            let offset = head.offset;
            match self.write(&mut head, &record) {
                Ok(()) => {
                    segment::overlay(&mut head.written, batch.positions());
                    if head.failing {
                        head.failing = false;
                        self.metrics.disk_full.set(0);
                        tracing::info!(
                            queue = %self.dir.display(),
                            "Writes to the disk queue succeed again; the inputs resume."
                        );
                    }
                    if self.config.fsync != Fsync::Batch {
                        self.publish(head.id, head.offset, stored, len);
                        drop(head);
                        self.give_back(record, true);
                        return Ok(());
                    }
                    // The events are freed here, on the thread that built them; the
                    // batch's token waits for the syncer.
                    drop(std::mem::take(&mut batch.events));
                    let written = Written {
                        segment: head.id,
                        file: head.file.clone(),
                        offset,
                        record,
                        events: stored,
                        batch,
                    };
                    let mut unsynced = lock(&self.unsynced);
                    drop(head);
                    unsynced.buffers.encoded(len as usize);
                    unsynced.records.push(written);
                    unsynced.bytes += len;
                    self.sync_work.notify_one();
                    while unsynced.bytes > self.max_unsynced {
                        unsynced = group_commit::wait(&self.synced, unsynced);
                    }
                    return Ok(());
                }
                Err(e) => {
                    lock(&self.state).bytes -= len;
                    self.write_failed(&mut head, &e);
                    drop(head);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Keeps the buffer of a record for the next one, on the writer's thread (see
    /// `buffers`); `written`: it held a record, whose length sizes new buffers.
    fn give_back(&self, record: Vec<u8>, written: bool) {
        let mut unsynced = lock(&self.unsynced);
        if written {
            unsynced.buffers.encoded(record.len());
        }
        let refused = unsynced.buffers.give_back(record);
        drop(unsynced);
        drop(refused);
    }

    /// Makes the records of segment `id` up to `end` visible to readers: `events` more
    /// events, `bytes` more bytes written.
    fn publish(&self, id: u64, end: u64, events: u32, bytes: u64) {
        self.publish_all([Published {
            segment: id,
            end,
            events,
            bytes,
        }]);
    }

    /// Makes records visible to readers, all under one lock and with one wake-up: a sync
    /// round publishes several, and waking the workers once per record had them wake, take
    /// the lock and sleep again for each (BENCHMARKS.md, context switches).
    fn publish_all(&self, records: impl IntoIterator<Item = Published>) {
        let (mut events, mut bytes) = (0u64, 0u64);
        let mut state = lock(&self.state);
        for record in records {
            state.events += u64::from(record.events);
            if let Some(segment) = state.segments.get_mut(&record.segment) {
                segment.bytes = segment.bytes.max(record.end);
                segment.pending_events += u64::from(record.events);
            }
            events += u64::from(record.events);
            bytes += record.bytes;
        }
        self.publish_gauges(&state);
        drop(state);
        ComponentMetrics::add(&self.metrics.component.events_in, events);
        ComponentMetrics::add(&self.metrics.component.bytes, bytes);
        self.data.notify_waiters();
    }

    /// The last writer is gone and what it wrote is published: readers may end.
    fn writers_gone(&self) {
        lock(&self.state).writers_gone = true;
        self.data.notify_waiters();
    }

    /// Waits for room for `len` more bytes and reserves it, or says the head must be closed
    /// first (too big to grow, damaged, or the only thing standing between a full queue and
    /// a deletable segment).
    fn reserve(&self, head: &mut Head, len: u64) -> Reserved {
        let mut state = lock(&self.state);
        loop {
            if state.readers_gone {
                return Reserved::Closed;
            }
            let room = state.bytes == 0 || state.bytes + len <= self.config.max_bytes;
            let head_has_records = head.records > 0;
            if state.roll_requested && head_has_records {
                return Reserved::Roll;
            }
            if room {
                if head_has_records && head.offset + len > self.config.segment_bytes {
                    return Reserved::Roll;
                }
                state.bytes += len;
                self.metrics.full.set(0);
                return Reserved::Yes;
            }
            if head_has_records {
                return Reserved::Roll;
            }
            self.metrics.full.set(1);
            state = self
                .space
                .wait_timeout(state, Duration::from_secs(1))
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
    }

    /// Writes `record` at the head's end and syncs it if the interval policy owes a sync; on an error the
    /// segment is cut back to where it was.
    fn write(&self, head: &mut Head, record: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        {
            let mut state = lock(&self.state);
            if state.failing_writes > 0 {
                state.failing_writes -= 1;
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        // `fsync = "batch"`: the syncer syncs it (see `group_commit`).
        let written =
            head.file
                .write_all_at(record, head.offset)
                .and_then(|()| match self.config.fsync {
                    Fsync::Interval if head.last_sync.elapsed() >= self.config.fsync_interval => {
                        head.file.sync_data()?;
                        head.last_sync = Instant::now();
                        Ok(())
                    }
                    Fsync::Batch | Fsync::Interval | Fsync::Never => Ok(()),
                });
        match written {
            Ok(()) => {
                head.offset += record.len() as u64;
                head.records += 1;
                head.unsynced = self.config.fsync == Fsync::Interval;
                Ok(())
            }
            Err(e) => {
                // Whatever part reached the file must not be read as a record.
                let _ = head.file.set_len(head.offset);
                Err(e)
            }
        }
    }

    fn write_failed(&self, head: &mut Head, error: &io::Error) {
        self.metrics.write_errors.inc();
        ComponentMetrics::add(&self.metrics.component.errors, 1);
        if !head.failing {
            head.failing = true;
            self.metrics.disk_full.set(1);
            let full = error.raw_os_error() == Some(libc::ENOSPC);
            tracing::error!(
                queue = %self.dir.display(),
                error = %error,
                disk_full = full,
                "Cannot write to the disk queue{}; the inputs wait and the write is retried until it succeeds.",
                if full { " (the disk is full)" } else { "" }
            );
        }
    }

    /// Closes the head segment and starts the next. Readers take a segment that is no
    /// longer the head as whole, so every record written to it is synced and published
    /// first.
    fn roll(&self, head: &mut Head) -> io::Result<()> {
        let mut unsynced = lock(&self.unsynced);
        while !unsynced.drained() {
            unsynced = group_commit::wait(&self.synced, unsynced);
        }
        drop(unsynced);
        if head.unsynced {
            head.file.sync_data()?;
            head.unsynced = false;
        }
        let id = head.id + 1;
        // Streams not written into the closing segment are left out, so the set stays
        // bounded: their inputs' own checkpoints have long caught up with them.
        let (file, first) = create_segment(&self.dir, id, self.config.fsync, &head.written)?;
        *head = Head {
            id,
            file: Arc::new(file),
            offset: first,
            records: 0,
            unsynced: false,
            last_sync: Instant::now(),
            failing: head.failing,
            written: segment::Positions::new(),
        };
        let mut state = lock(&self.state);
        state.segments.insert(id, Segment::created(first));
        state.head_id = id;
        state.bytes += first;
        state.roll_requested = false;
        self.publish_gauges(&state);
        drop(state);
        self.data.notify_waiters();
        Ok(())
    }

    /// Syncs the head if the interval policy owes it a sync.
    fn sync_due(&self) {
        let mut head = lock(&self.head);
        if head.unsynced && head.last_sync.elapsed() >= self.config.fsync_interval {
            if let Err(e) = head.file.sync_data() {
                tracing::warn!(error = %e, "Cannot fsync the disk queue; retrying at the next interval.");
                return;
            }
            head.unsynced = false;
            head.last_sync = Instant::now();
        }
    }

    /// The next record for a worker, under the state lock.
    fn next(&self, state: &mut State) -> Next {
        loop {
            let id = state.cursor.id;
            let writing = id == state.head_id;
            let Some(segment) = state.segments.get(&id) else {
                // Retired or quarantined under the cursor: go on with the next.
                match state.segments.range(id + 1..).next() {
                    Some((&next, segment)) => state.cursor = Cursor::at(next, segment),
                    None => return Next::Wait,
                }
                continue;
            };
            let end = segment.bytes;
            if state.cursor.offset >= end {
                if writing {
                    return if state.writers_gone {
                        Next::Done
                    } else {
                        Next::Wait
                    };
                }
                let records = state.cursor.index;
                if let Some(segment) = state.segments.get_mut(&id) {
                    segment.records = Some(records);
                }
                self.retire_if_done(state, id);
                match state.segments.range(id + 1..).next() {
                    Some((&next, segment)) => state.cursor = Cursor::at(next, segment),
                    None => return Next::Wait,
                }
                continue;
            }
            if state.writers_gone && !self.drain {
                return Next::Done;
            }
            let read = match &state.cursor.file {
                Some(file) => segment::read_record(file, state.cursor.offset, end),
                None => File::open(segment::segment_path(&self.dir, id)).and_then(|file| {
                    let read = segment::read_record(&file, state.cursor.offset, end);
                    state.cursor.file = Some(file);
                    read
                }),
            };
            match read {
                Ok(Read::Record { payload, next }) => {
                    let index = state.cursor.index;
                    state.cursor.index += 1;
                    state.cursor.offset = next;
                    let Some(segment) = state.segments.get_mut(&id) else {
                        continue;
                    };
                    if segment.settled.contains(&index) {
                        continue;
                    }
                    let events = segment::payload_events(&payload);
                    if events == 0 {
                        // A positions record: nothing to deliver.
                        segment.settled.insert(index);
                        continue;
                    }
                    segment.in_flight.insert(index, events);
                    return Next::Record {
                        id,
                        index,
                        payload,
                        format: segment.format,
                    };
                }
                Ok(Read::End) => state.cursor.offset = end,
                Ok(Read::Damaged { why }) => {
                    if writing {
                        // Damage in the segment being written (the disk changed it under
                        // us): close it first so that nothing more is written after it.
                        state.roll_requested = true;
                        if !self.drain || !state.writers_gone {
                            return Next::Wait;
                        }
                    }
                    self.quarantine(state, id, why);
                }
                Err(e) => {
                    let why = format!("reading it failed: {e}");
                    self.quarantine(state, id, &why);
                }
            }
        }
    }

    /// Renames segment `id` aside at the cursor: what was read of it stays in flight, the
    /// rest no longer counts.
    fn quarantine(&self, state: &mut State, id: u64, why: &str) {
        quarantine_file(&self.dir, id, why, &self.metrics);
        let records = state.cursor.index;
        state.cursor.offset = u64::MAX;
        if let Some(segment) = state.segments.get_mut(&id) {
            let in_flight: u64 = segment.in_flight.values().map(|&n| u64::from(n)).sum();
            let lost = segment.pending_events.saturating_sub(in_flight);
            segment.pending_events = in_flight;
            segment.records = Some(records);
            segment.quarantined = true;
            state.events = state.events.saturating_sub(lost);
            state.bytes = state.bytes.saturating_sub(segment.bytes);
            segment.bytes = 0;
        }
        self.retire_if_done(state, id);
        self.publish_gauges(state);
        self.space.notify_all();
    }

    /// Deletes segment `id` if the writer is past it and every record in it is settled.
    fn retire_if_done(&self, state: &mut State, id: u64) {
        if id == state.head_id {
            return;
        }
        let Some(segment) = state.segments.get(&id) else {
            return;
        };
        let Some(records) = segment.records else {
            return;
        };
        let settled = segment.settled.iter().filter(|&&i| i < records).count();
        if settled < records as usize || !segment.in_flight.is_empty() {
            return;
        }
        if !segment.quarantined {
            if let Err(e) = remove_if_exists(&segment::segment_path(&self.dir, id)) {
                tracing::warn!(error = %e, segment = id, "Cannot delete a settled queue segment; it is tried again at the next start.");
                return;
            }
        }
        let _ = remove_if_exists(&segment::acks_path(&self.dir, id));
        if let Some(segment) = state.segments.remove(&id) {
            state.bytes = state.bytes.saturating_sub(segment.bytes);
        }
        self.publish_gauges(state);
        self.space.notify_all();
    }

    /// Records that every output is done with (or, `Failed`, gave up on) a record.
    fn settled(&self, state: &mut State, receipt: AckReceipt) {
        let id = receipt.batch_id >> 32;
        let index = receipt.batch_id as u32;
        let Some(segment) = state.segments.get_mut(&id) else {
            return;
        };
        let events = segment.in_flight.remove(&index).unwrap_or(0);
        if receipt.status == BatchStatus::Failed {
            // Stays unsettled: delivered again on the next start.
            return;
        }
        segment.settled.insert(index);
        segment.pending_events = segment.pending_events.saturating_sub(u64::from(events));
        state.events = state.events.saturating_sub(u64::from(events));
        ComponentMetrics::add(&self.metrics.component.events_out, u64::from(events));
        let acks = match &mut segment.acks {
            Some(file) => Ok(file),
            None => open_acks(&segment::acks_path(&self.dir, id)).map(|f| segment.acks.insert(f)),
        };
        let noted = acks.and_then(|file| file.write_all(&index.to_le_bytes()));
        if let Err(e) = noted {
            tracing::warn!(error = %e, segment = id, "Cannot note a settled batch in the queue's acks file; it is delivered again after a restart.");
        }
        self.retire_if_done(state, id);
        self.publish_gauges(state);
    }
}

enum Reserved {
    Yes,
    Roll,
    Closed,
}

enum Next {
    Record {
        id: u64,
        index: u32,
        payload: Vec<u8>,
        format: segment::Format,
    },
    Wait,
    Done,
}

/// Applies receipts as workers' batches settle, and keeps the interval fsync's promise.
/// Ends once every reader and every batch they handed out is gone.
async fn settle(shared: Arc<Shared>, mut receipts: AckReceiver) {
    let mut tick = tokio::time::interval(shared.config.fsync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            received = receipts.recv_many(&mut batch, 256) => {
                if received == 0 {
                    break;
                }
                let mut state = lock(&shared.state);
                for receipt in batch.drain(..) {
                    shared.settled(&mut state, receipt);
                }
            }
            _ = tick.tick(), if shared.config.fsync == Fsync::Interval => shared.sync_due(),
        }
    }
    let mut head = lock(&shared.head);
    if head.unsynced && head.file.sync_data().is_ok() {
        head.unsynced = false;
    }
}

/// Awaited by the pipeline after the run: every settled batch is noted in its acks file
/// before the process ends.
#[derive(Debug)]
pub(super) struct Settler {
    settle: tokio::task::JoinHandle<()>,
    /// `fsync = "batch"`: the syncer thread.
    syncer: Option<std::thread::JoinHandle<()>>,
    /// The async inputs' writer thread.
    writer: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Settler {
    /// Also waits for the syncer and the writer thread once every writer is gone (then
    /// they are ending: the syncer syncs what is left and stops), so that no thread of this
    /// queue outlives it.
    pub(super) async fn finish(self) {
        let _ = self.settle.await;
        if !self.shared.writers_dropped.load(Ordering::Acquire) {
            return;
        }
        let threads = [self.syncer, self.writer];
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads.into_iter().flatten() {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Marks the writers gone when the last clone drops.
#[derive(Debug)]
struct WriterGuard(Arc<Shared>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let shared = &self.0;
        shared.writers_dropped.store(true, Ordering::Release);
        if shared.config.fsync == Fsync::Batch {
            // What was written is published first: now if it is, else by the syncer once
            // it is.
            let mut unsynced = lock(&shared.unsynced);
            unsynced.closing = true;
            let drained = unsynced.drained();
            drop(unsynced);
            shared.sync_work.notify_one();
            if drained {
                shared.writers_gone();
            }
        } else {
            shared.writers_gone();
        }
    }
}

/// Marks the readers gone when the last clone drops.
#[derive(Debug)]
struct ReaderGuard {
    shared: Arc<Shared>,
    acks: AckSender,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        lock(&self.shared.state).readers_gone = true;
        self.shared.space.notify_all();
    }
}

/// A batch for the writer thread, the writer it came from (so that the writers are not gone
/// while it is written), and where to answer.
type WriteJob = (
    Batch,
    Arc<WriterGuard>,
    tokio::sync::oneshot::Sender<Result<(), QueueClosed>>,
);

/// Starts the thread that appends the batches of async inputs (Beats, Kafka, sockets); it
/// ends once every writer is gone.
///
/// One long-lived thread rather than a `spawn_blocking` per batch: appending blocks (a
/// write, a full queue, the syncer's bound), and a blocking-pool task may land on any pool
/// thread, or start a new one, each of which then keeps an allocator heap of its own with
/// the pages of the batches it built and encoded. One thread keeps one.
fn start_writer(
    jobs: async_channel::Receiver<WriteJob>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sluice-queue-write".into())
        .spawn(move || {
            while let Ok((batch, writer, answer)) = jobs.recv_blocking() {
                let _ = answer.send(writer.0.append(batch));
            }
        })
}

/// The inputs' half.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    guard: Arc<WriterGuard>,
    /// To the writer thread, one batch at a time: the disk is the buffer, not memory.
    jobs: async_channel::Sender<WriteJob>,
}

impl Writer {
    pub(super) async fn send(&self, batch: Batch) -> Result<(), QueueClosed> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        if self
            .jobs
            .send((batch, self.guard.clone(), answer))
            .await
            .is_err()
        {
            return Err(QueueClosed);
        }
        answered.await.unwrap_or(Err(QueueClosed))
    }

    /// From a blocking thread of the input's own (the file reader): appended right there.
    pub(super) fn send_blocking(&self, batch: Batch) -> Result<(), QueueClosed> {
        self.guard.0.append(batch)
    }

    /// The newest position of each stream of `source` the queue held at start.
    pub(super) fn recovered_positions(&self, source: &str) -> Vec<SourcePosition> {
        // Once per input at start: listing them all first costs nothing worth saving.
        let mut positions = segment::listed(&self.guard.0.recovered);
        positions.retain(|p| &*p.source == source);
        positions
    }
}

/// The filter workers' half.
#[derive(Debug, Clone)]
pub(super) struct Reader(Arc<ReaderGuard>);

impl Reader {
    pub(super) async fn recv(&self) -> Option<Batch> {
        let shared = &self.0.shared;
        loop {
            let notified = shared.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = shared.next(&mut lock(&shared.state));
            match next {
                Next::Record {
                    id,
                    index,
                    payload,
                    format,
                } => {
                    return Some(self.batch(id, index, payload, format));
                }
                Next::Done => return None,
                Next::Wait => notified.await,
            }
        }
    }

    /// A deferred batch: the worker decodes the record's events, in parallel with the others.
    fn batch(&self, id: u64, index: u32, payload: Vec<u8>, format: segment::Format) -> Batch {
        let events = segment::payload_events(&payload) as usize;
        let token = self.0.acks.token((id << 32) | u64::from(index));
        let shared = self.0.shared.clone();
        Batch::deferred(events, Some(token), move |out| {
            let before = out.len();
            if let Err(e) = segment::decode_payload(payload, format, out) {
                // The checksum matched, so this is a record from an incompatible build.
                ComponentMetrics::add(&shared.metrics.component.errors, 1);
                tracing::error!(
                    segment = id,
                    record = index,
                    error = %e,
                    decoded = out.len() - before,
                    "A queue record passed its checksum but its events cannot be read; the rest of the record is skipped."
                );
            }
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        let state = lock(&self.0.shared.state);
        let segment_end = state.segments.get(&state.cursor.id).map_or(0, |s| s.bytes);
        state.cursor.id == state.head_id && state.cursor.offset >= segment_end
    }
}

#[cfg(test)]
mod tests;
