//! The reader loop: one blocking thread that discovers files, reads them, batches their lines
//! and turns acknowledgements into checkpoints.
//!
//! Every known file has a [`Harvester`] keyed by its (device, inode), whether or not a handle is
//! open; a path is only where the file was last seen. That is what makes rotation safe:
//!
//! - *Rename* (winston `tailable`, logrotate `create`): the open handle keeps reading the
//!   renamed file to its end, the rescan finds it under its new name with the same key (so it is
//!   not read again even if the new name matches the glob), and the new file at the old path
//!   has a new key and is read from offset 0.
//! - *Truncation* (copytruncate): at end of file the size is below the read position, so the
//!   file is read again from 0 as a new stream.
//! - *Deletion*: the handle is read to its end and released (the link count is 0).
//! - *Inode reuse*: a file whose key is known but whose head does not match the fingerprint is
//!   a new file and is read from 0 (see `identity.rs`).
//!
//! Metrics: `file_lag_bytes{path}` (size minus read position, refreshed whenever a file is
//! read or scanned; the series is removed when the file is forgotten), `files_open`, and
//! `checkpoint_age_seconds` (seconds the on-disk checkpoint has lagged behind acknowledged
//! progress; 0 when it is current). The input reports ready after its first scan, and logs
//! then how many files it found (naming the first few) and warns about every glob that
//! matched no file: a typo in `paths` would otherwise look like a quiet log.
//!
//! One thread serves every file, round-robin with a per-file share per round so a busy file
//! cannot starve the others; the pipeline's backpressure reaches it through `send_blocking`.
//! A thread per file would buy nothing: reading is cheap next to building events, and the
//! pipeline's workers already use the other cores.

use super::checkpoint::{BackgroundWriter, CheckpointStore, FileCheckpoint};
use super::config::{ReadFrom, Settings};
use super::events::{Batcher, EventShape, SealedBatch};
use super::identity::{FileKey, Fingerprint};
use super::lines::LineSplitter;
use super::queued::{self, PositionBook, QueuedPosition};
use super::wake::Wakeups;
use super::FileInputError;
use super::StreamId;
use crate::event::{
    ack_channel, format_timestamp, AckReceipt, AckReceiver, AckSender, Batch, BatchStatus,
    LineOrigin,
};
use crate::inputs::watermark::Watermarks;
use crate::inputs::{BatchSender, InputContext, PipelineClosed};
use crate::metrics::{ComponentMetrics, Gauge};
use crate::readiness::ReadinessHandle;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Size of each `read`: large enough to amortise system calls, small enough to stay in cache.
const READ_CHUNK_BYTES: usize = 256 * 1024;
/// Most bytes read from one file before the next file gets its turn.
const FAIR_SHARE_BYTES: u64 = 4 * 1024 * 1024;
/// How often acknowledgements are looked at while the reader idles with batches awaiting
/// them (they do not wake it; the checkpoint should follow them closely, see `checkpoint.rs`).
const ACK_POLL: Duration = Duration::from_millis(10);
/// Polling back-off when nothing is readable (notifications usually end the wait earlier).
const MIN_IDLE_WAIT: Duration = Duration::from_millis(10);
const MAX_IDLE_WAIT: Duration = Duration::from_secs(1);
/// A closed file missing from this many consecutive scans is forgotten (Filebeat's
/// `clean_removed`). Two rather than one, because rotation briefly leaves no file at the path.
const SCANS_BEFORE_FORGETTING: u64 = 2;
/// How many of the files found at start are named in the log line that counts them.
const FILES_NAMED_AT_START: usize = 5;

/// Everything known about one file.
#[derive(Debug)]
struct Harvester {
    key: FileKey,
    path: PathBuf,
    /// What this file's events have in common (`log.file`, host, ...), built once per path.
    origin: Arc<LineOrigin>,
    handle: Option<File>,
    stream: StreamId,
    splitter: LineSplitter,
    fingerprint: Fingerprint,
    /// Not open since its identity was last confirmed (restored from a checkpoint, or closed):
    /// the fingerprint is checked when it is opened again, in case the inode was reused.
    unverified: bool,
    /// Restored from a checkpoint and not opened in this run yet.
    restored: bool,
    /// Should be opened at the next chance (new, grown, or restored).
    wants_open: bool,
    last_seen_scan: u64,
    last_read: Instant,
    /// The last read reached the end of the file.
    at_eof: bool,
    /// An open failure was already reported; stay quiet until it succeeds.
    open_error_reported: bool,
    /// `--once`: read to its end, nothing more to do.
    finished: bool,
    /// Where the disk queue says this file's lines end (restored, not opened yet): resumed
    /// from instead of the checkpoint if later and the file still matches its fingerprint.
    queued: Option<QueuedPosition>,
    /// `file_lag_bytes{path}`: bytes between the read position and the end of the file.
    lag: Gauge,
}

impl Harvester {
    fn new(
        key: FileKey,
        path: PathBuf,
        stream: StreamId,
        position: u64,
        max_line: usize,
        shape: &EventShape,
    ) -> Self {
        Self {
            lag: Gauge::default(),
            key,
            origin: shape.origin(&path),
            path,
            handle: None,
            stream,
            splitter: LineSplitter::new(max_line, position),
            fingerprint: Fingerprint::of_bytes(&[]),
            unverified: false,
            restored: false,
            wants_open: true,
            last_seen_scan: 0,
            last_read: Instant::now(),
            at_eof: false,
            open_error_reported: false,
            finished: false,
            queued: None,
        }
    }

    fn set_path(&mut self, path: PathBuf, metrics: &ComponentMetrics, shape: &EventShape) {
        if path != self.path {
            self.origin = shape.origin(&path);
            metrics.remove(LAG, &[("path", &self.path.display().to_string())]);
            let lag = self.lag.get();
            self.path = path;
            self.lag = lag_gauge(metrics, &self.path);
            self.lag.set(lag);
        }
    }

    /// Records how far behind the end of a file of `len` bytes the reader is.
    fn update_lag(&self, len: u64) {
        let behind = len.saturating_sub(self.splitter.position());
        self.lag.set(i64::try_from(behind).unwrap_or(i64::MAX));
    }
}

const LAG: &str = "file_lag_bytes";

/// Registers (once per file, when it is discovered or renamed) the lag gauge of `path`.
fn lag_gauge(metrics: &ComponentMetrics, path: &Path) -> Gauge {
    metrics.gauge_with(
        LAG,
        "Bytes between the read position and the end of the file.",
        &[("path", &path.display().to_string())],
    )
}

/// What one pass over the files achieved.
#[derive(Debug, Default)]
struct Round {
    bytes_read: u64,
    /// A file still had data when its share ran out.
    more_available: bool,
    /// Files that want a handle but the limit is reached.
    waiting_for_handle: usize,
    /// Files that are open or want to be (for `--once`: not done yet).
    active: usize,
}

/// Sends batches and keeps their acknowledgements.
struct Publisher {
    output: Option<BatchSender>,
    acks: Watermarks<StreamId, u64>,
    ack_sender: AckSender,
    receipts: AckReceiver,
    batcher: Batcher,
    shape: Arc<EventShape>,
    metrics: Arc<ComponentMetrics>,
    /// A committed offset moved since the tailer last asked ([`Publisher::collect_receipts`]).
    committed_moved: bool,
    next_stream: StreamId,
    /// With the disk queue: which file each stream reads, so that each batch says where it
    /// ends in its files (see `queued.rs`).
    positions: Option<PositionBook>,
}

impl Publisher {
    /// A new stream of file `key` whose offsets up to `committed` count as delivered.
    fn open_stream(&mut self, key: FileKey, committed: u64) -> StreamId {
        let stream = self.next_stream;
        self.next_stream += 1;
        self.acks.open_stream(stream, committed);
        if let Some(book) = &mut self.positions {
            book.open(stream, key);
        }
        stream
    }

    fn close_stream(&mut self, stream: StreamId) {
        self.acks.close_stream(&stream);
        if let Some(book) = &mut self.positions {
            book.close(stream);
        }
    }

    fn send_sealed(&mut self, files: &HashMap<FileKey, Harvester>) -> Result<(), PipelineClosed> {
        while let Some(batch) = self.batcher.take_sealed() {
            self.send(batch, files)?;
        }
        Ok(())
    }

    fn flush(&mut self, files: &HashMap<FileKey, Harvester>) -> Result<(), PipelineClosed> {
        self.batcher.seal();
        self.send_sealed(files)
    }

    fn send(
        &mut self,
        batch: SealedBatch,
        files: &HashMap<FileKey, Harvester>,
    ) -> Result<(), PipelineClosed> {
        if self.output.is_none() {
            return Err(PipelineClosed);
        }
        let SealedBatch {
            lines,
            file_bytes,
            ends,
            skipped,
            ..
        } = batch;
        let count = lines.len() as u64;
        // Receipts are applied at every batch, not only between reading rounds: a batch stays
        // remembered until its receipt is applied, so this bounds that bookkeeping by what the
        // pipeline holds, however long a round reads.
        self.apply_arrived_receipts();
        let positions = match &self.positions {
            Some(book) if !lines.is_empty() => book.positions(&ends, |key, stream| {
                files
                    .get(&key)
                    .filter(|h| h.stream == stream)
                    .map(|h| &h.fingerprint)
            }),
            _ => Vec::new(),
        };
        let id = self.acks.register(ends);
        if lines.is_empty() {
            // Only blank lines: nothing to deliver, so the batch is settled here, in its turn,
            // and the checkpoint moves past them once every batch before it is delivered.
            self.committed_moved |= self.acks.receive(AckReceipt {
                batch_id: id,
                status: BatchStatus::Delivered,
            });
            crate::inputs::count_handed_over(&self.metrics, 0, skipped);
            self.metrics.bytes.fetch_add(file_bytes, Ordering::Relaxed);
            return Ok(());
        }
        let token = self.ack_sender.token(id);
        // Kept so that a batch the pipeline refuses is acknowledged as failed, not delivered.
        let guard = token.clone();
        let deferred = Batch::deferred(lines.len(), Some(token), move |events| {
            lines.into_events(events)
        })
        .with_positions(positions);
        let Some(output) = &self.output else {
            guard.mark_failed();
            return Err(PipelineClosed);
        };
        match output.send_blocking(deferred) {
            Ok(()) => {
                crate::inputs::count_handed_over(&self.metrics, count, skipped);
                self.metrics.bytes.fetch_add(file_bytes, Ordering::Relaxed);
                Ok(())
            }
            Err(closed) => {
                guard.mark_failed();
                Err(closed)
            }
        }
    }

    /// Applies every receipt that has arrived; true when a committed offset moved.
    fn collect_receipts(&mut self) -> bool {
        self.apply_arrived_receipts();
        std::mem::take(&mut self.committed_moved)
    }

    fn apply_arrived_receipts(&mut self) {
        while let Ok(receipt) = self.receipts.try_recv() {
            self.committed_moved |= self.acks.receive(receipt);
        }
    }

    /// Waits until every sent batch is settled.
    fn wait_for_all_receipts(&mut self) {
        while self.acks.in_flight() > 0 {
            match self.receipts.blocking_recv() {
                Some(receipt) => {
                    self.acks.receive(receipt);
                }
                None => break,
            }
        }
    }
}

/// The running file input.
pub(super) struct Tailer {
    settings: Settings,
    id: String,
    shutdown: CancellationToken,
    once: bool,
    metrics: Arc<ComponentMetrics>,
    files_open: Gauge,
    checkpoint_age: Gauge,
    readiness: ReadinessHandle,
    files: HashMap<FileKey, Harvester>,
    open_handles: usize,
    publisher: Publisher,
    /// Positions the disk queue recovered for files the checkpoint does not know (yet):
    /// taken up when a scan finds the file.
    queued: HashMap<FileKey, QueuedPosition>,
    store: CheckpointStore,
    checkpoint_dirty: bool,
    last_checkpoint: Instant,
    /// Writes the checkpoints handed to it while tailing; `None` when its thread could not
    /// be started (then they are written on this thread).
    writer: Option<BackgroundWriter>,
    checkpoint_error_reported: bool,
    scans: u64,
    next_scan: Instant,
    wake: Wakeups,
    buffer: Vec<u8>,
    now: String,
    round_order: Vec<FileKey>,
    scan_errors_reported: HashSet<PathBuf>,
    /// `pipeline.shutdown_timeout`: how long the last read after a stop signal may take.
    shutdown_timeout: Duration,
    /// Set once a stop signal came: the last read goes on until then (see
    /// [`Tailer::read_to_current_end`]).
    final_read_deadline: Option<Instant>,
}

impl Tailer {
    pub fn new(settings: Settings, context: InputContext, host_name: String) -> Self {
        let (ack_sender, receipts) = ack_channel();
        let shape = Arc::new(EventShape::new(
            host_name,
            settings.fields.clone(),
            &settings.tags,
        ));
        let wake = Wakeups::new(&context.shutdown, !context.once);
        let store = CheckpointStore::new(&context.data_dir, &context.id);
        // `--once` writes one checkpoint, at the end: no thread for that.
        let writer = if context.once {
            None
        } else {
            BackgroundWriter::start(store.clone())
                .inspect_err(|error| {
                    tracing::warn!(input = %context.id, %error, "Cannot start the checkpoint writer thread; checkpoints are written by the reader, once a second.");
                })
                .ok()
        };
        Self {
            store,
            writer,
            publisher: Publisher {
                output: Some(context.output),
                acks: Watermarks::default(),
                ack_sender,
                receipts,
                batcher: Batcher::new(context.settings.batch_size, context.settings.batch_bytes),
                shape,
                metrics: context.metrics.clone(),
                committed_moved: false,
                next_stream: 0,
                positions: None,
            },
            queued: HashMap::new(),
            id: context.id,
            shutdown: context.shutdown,
            once: context.once,
            files_open: context
                .metrics
                .gauge("files_open", "Files the input holds open."),
            checkpoint_age: context.metrics.gauge(
                "checkpoint_age_seconds",
                "Seconds the checkpoint on disk has lagged behind acknowledged progress (0 when current).",
            ),
            readiness: context.readiness,
            metrics: context.metrics,
            files: HashMap::new(),
            open_handles: 0,
            checkpoint_dirty: false,
            last_checkpoint: Instant::now(),
            checkpoint_error_reported: false,
            scans: 0,
            next_scan: Instant::now(),
            wake,
            buffer: vec![0; READ_CHUNK_BYTES],
            now: format_timestamp(chrono::Utc::now()),
            round_order: Vec::new(),
            scan_errors_reported: HashSet::new(),
            shutdown_timeout: context.settings.shutdown_timeout.0,
            final_read_deadline: None,
            settings,
        }
    }

    /// Reads until shutdown (or, with `--once`, until every file is read), then delivers what
    /// is in flight and writes the final checkpoint.
    pub fn run(mut self) -> Result<(), FileInputError> {
        self.restore()?;
        let result = if self.once {
            self.read_everything_once()
        } else {
            self.tail_until_shutdown()
        };
        // Whatever happened, record what was delivered.
        let drained = self.drain();
        result.and(drained)
    }

    /// Loads the checkpoint: every entry becomes a closed, unconfirmed harvester. With the
    /// disk queue, also takes the positions it recovered (see `queued.rs`).
    fn restore(&mut self) -> Result<(), FileInputError> {
        let recovered = self
            .publisher
            .output
            .as_ref()
            .and_then(|output| output.recovered_positions(&self.id));
        if let Some(recovered) = recovered {
            self.publisher.positions = Some(PositionBook::new(&self.id));
            self.queued = queued::recovered(recovered);
        }
        for entry in self.store.load()? {
            let stream = self.publisher.open_stream(entry.key(), entry.offset);
            let mut harvester = Harvester::new(
                entry.key(),
                entry.path.clone(),
                stream,
                entry.offset,
                self.settings.max_line_bytes,
                &self.publisher.shape,
            );
            harvester.fingerprint = entry.fingerprint;
            harvester.lag = lag_gauge(&self.metrics, &harvester.path);
            harvester.unverified = true;
            harvester.restored = true;
            harvester.wants_open = false;
            harvester.queued = self.queued.remove(&harvester.key);
            self.files.insert(harvester.key, harvester);
        }
        tracing::debug!(input = %self.id, checkpoint = %self.store.path().display(), files = self.files.len(), queued = self.queued.len(), "Checkpoint loaded.");
        Ok(())
    }

    fn read_everything_once(&mut self) -> Result<(), FileInputError> {
        self.scan();
        while !self.shutdown.is_cancelled() {
            // The checkpoint follows the outputs during the read, not only at its end: a run
            // stopped half-way resumes where its outputs were. (Receipts used to wait for the
            // end, and every batch's bookkeeping with them: ~2 MiB of peak RSS per million
            // lines.)
            self.apply_receipts();
            let round = self.read_round()?;
            if round.active == 0 {
                break;
            }
            if round.bytes_read == 0 && !round.more_available && round.waiting_for_handle == 0 {
                // Everything open is at its end; files that failed to open were reported.
                break;
            }
        }
        self.publisher.flush(&self.files)?;
        Ok(())
    }

    fn tail_until_shutdown(&mut self) -> Result<(), FileInputError> {
        let mut idle_wait = MIN_IDLE_WAIT;
        while !self.shutdown.is_cancelled() {
            self.apply_receipts();
            if self.wake.take_rescan() || Instant::now() >= self.next_scan {
                self.scan();
            }
            let round = self.read_round()?;
            if !round.more_available {
                // Nothing more to read right now: do not hold events back for a full batch.
                self.publisher.flush(&self.files)?;
            }
            if round.waiting_for_handle > 0 {
                self.release_handles_at_eof(round.waiting_for_handle);
            }
            self.close_inactive();
            self.checkpoint_if_due();
            if round.bytes_read > 0 || round.more_available {
                idle_wait = MIN_IDLE_WAIT;
                continue;
            }
            let until_scan = self.next_scan.saturating_duration_since(Instant::now());
            self.idle(idle_wait.min(until_scan).max(Duration::from_millis(1)));
            idle_wait = (idle_wait * 2).min(MAX_IDLE_WAIT);
        }
        self.read_to_current_end()?;
        self.publisher.flush(&self.files)?;
        Ok(())
    }

    /// Waits `wait` for a notification (or the stop signal). Acknowledgements do not wake
    /// the reader, so while some are awaited it looks at them every [`ACK_POLL`] and hands
    /// the progress to the checkpoint writer: the checkpoint follows them closely without the
    /// files being read again each time.
    fn idle(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let slice = if self.publisher.acks.in_flight() > 0 {
                left.min(ACK_POLL)
            } else {
                left
            };
            if self.wake.wait(slice) {
                return;
            }
            if self.publisher.collect_receipts() {
                self.checkpoint_dirty = true;
                self.checkpoint_if_due();
            }
        }
    }

    /// After a stop signal: finds files once more and reads every one to its current end, so
    /// the lines a sidecar's application wrote just before the pod ended are not left behind
    /// with its volume. A line still being written (no newline yet) stays for the next start.
    ///
    /// Bounded by `pipeline.shutdown_timeout`, counted from the signal like the drain after
    /// it: one budget for the whole stop, so it fits one grace period (Kubernetes'
    /// `terminationGracePeriodSeconds`). What is not read by then is read on the next start,
    /// from the checkpoint. A writer that keeps writing does not hold the stop: reading ends
    /// at the first round that finds nothing new.
    fn read_to_current_end(&mut self) -> Result<(), FileInputError> {
        let signal = self.wake.stopped_at().unwrap_or_else(Instant::now);
        let deadline = signal + self.shutdown_timeout;
        self.final_read_deadline = Some(deadline);
        self.scan();
        loop {
            if Instant::now() >= deadline {
                tracing::warn!(
                    input = %self.id,
                    timeout_ms = self.shutdown_timeout.as_millis() as u64,
                    "Stopped reading at shutdown_timeout; lines not read yet are read on the next start."
                );
                return Ok(());
            }
            self.apply_receipts();
            let round = self.read_round()?;
            if round.bytes_read == 0 && !round.more_available && round.waiting_for_handle == 0 {
                return Ok(());
            }
            if round.waiting_for_handle > 0 {
                self.release_handles_at_eof(round.waiting_for_handle);
            }
        }
    }

    /// Whether reading must stop now: at a stop signal, or during the last read after one
    /// (see [`Tailer::read_to_current_end`]), at its deadline.
    fn must_stop_reading(&self) -> bool {
        match self.final_read_deadline {
            Some(deadline) => Instant::now() >= deadline,
            None => self.shutdown.is_cancelled(),
        }
    }

    /// Sends what is left, waits for every acknowledgement, writes the final checkpoint.
    fn drain(&mut self) -> Result<(), FileInputError> {
        // Closing our end lets the pipeline finish once the other inputs are done too.
        self.publisher.output = None;
        self.publisher.wait_for_all_receipts();
        let failed = self.publisher.acks.failed_batches();
        if failed > 0 {
            tracing::warn!(
                input = %self.id,
                batches = failed,
                "Some batches were not delivered; they will be read again after a restart."
            );
        }
        self.save_checkpoint()?;
        Ok(())
    }

    /// Hands acknowledged progress to the checkpoint writer once it moved (written on this
    /// thread, at most once a second, when there is no writer thread).
    /// Applies the acknowledgements that have arrived and checkpoints what they settled when
    /// a checkpoint is due.
    fn apply_receipts(&mut self) {
        if self.publisher.collect_receipts() {
            self.checkpoint_dirty = true;
        }
        self.checkpoint_if_due();
    }

    fn checkpoint_if_due(&mut self) {
        if let Some(failure) = self
            .writer
            .as_ref()
            .and_then(BackgroundWriter::take_failure)
        {
            self.checkpoint_dirty = true;
            self.checkpoint_failed(&failure.into());
        }
        self.checkpoint_age.set(if self.checkpoint_dirty {
            self.last_checkpoint.elapsed().as_secs() as i64
        } else {
            0
        });
        if !self.checkpoint_dirty {
            return;
        }
        let entries = self.checkpoint_entries();
        match &self.writer {
            Some(writer) => writer.offer(entries),
            None if self.last_checkpoint.elapsed() < MAX_IDLE_WAIT => return,
            None => {
                if let Err(error) = self.store.save(entries) {
                    self.last_checkpoint = Instant::now();
                    self.checkpoint_failed(&error.into());
                    return;
                }
                self.checkpoint_error_reported = false;
            }
        }
        self.checkpoint_dirty = false;
        self.last_checkpoint = Instant::now();
        self.checkpoint_age.set(0);
    }

    fn checkpoint_failed(&mut self, error: &FileInputError) {
        if !self.checkpoint_error_reported {
            self.checkpoint_error_reported = true;
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(input = %self.id, %error, "Cannot write checkpoint; will retry.");
        }
    }

    /// Writes the final checkpoint on this thread, after what the writer thread still holds.
    fn save_checkpoint(&mut self) -> Result<(), FileInputError> {
        if let Some(writer) = self.writer.take() {
            // Its failures are superseded by the write below.
            let _ = writer.finish();
        }
        let entries = self.checkpoint_entries();
        self.store.save(entries)?;
        self.checkpoint_dirty = false;
        self.last_checkpoint = Instant::now();
        self.checkpoint_age.set(0);
        Ok(())
    }

    /// Every known file's acknowledged offset, sorted by path.
    fn checkpoint_entries(&self) -> Vec<FileCheckpoint> {
        let updated = format_timestamp(chrono::Utc::now());
        let mut entries: Vec<FileCheckpoint> = self
            .files
            .values()
            .filter_map(|h| {
                let offset = self.publisher.acks.committed(&h.stream)?;
                Some(FileCheckpoint {
                    path: h.path.clone(),
                    device: h.key.device,
                    inode: h.key.inode,
                    offset,
                    fingerprint: h.fingerprint.clone(),
                    updated: updated.clone(),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries
    }

    /// Expands the globs: finds new files, follows renames, forgets files gone for good.
    fn scan(&mut self) {
        let first_scan = self.scans == 0;
        self.scans += 1;
        self.next_scan = Instant::now() + self.settings.scan_interval;
        let mut found: HashMap<FileKey, (PathBuf, u64)> = HashMap::new();
        let mut directories: HashSet<PathBuf> = HashSet::new();
        let mut unmatched: Vec<&str> = Vec::new();
        for pattern in &self.settings.patterns {
            let mut matched = false;
            directories.insert(literal_prefix(pattern));
            let Ok(paths) = glob::glob(pattern) else {
                continue; // validated when the pipeline was built
            };
            for entry in paths {
                let path = match entry {
                    Ok(path) => path,
                    Err(error) => {
                        if self.scan_errors_reported.insert(error.path().to_path_buf()) {
                            tracing::warn!(input = %self.id, path = %error.path().display(), error = %error.error(), "Cannot scan directory.");
                        }
                        continue;
                    }
                };
                let Ok(metadata) = std::fs::metadata(&path) else {
                    continue; // gone since the directory was listed
                };
                if !metadata.is_file() {
                    continue;
                }
                matched = true;
                if let Some(parent) = path.parent() {
                    directories.insert(parent.to_path_buf());
                }
                found
                    .entry(FileKey::of(&metadata))
                    .or_insert((path, metadata.len()));
            }
            if !matched {
                unmatched.push(pattern);
            }
        }
        if first_scan {
            self.report_first_scan(&unmatched, &found);
        }
        for (key, (path, len)) in found {
            if let Some(harvester) = self.files.get_mut(&key) {
                harvester.last_seen_scan = self.scans;
                harvester.set_path(path, &self.metrics, &self.publisher.shape);
                if harvester.handle.is_none() {
                    harvester.update_lag(len);
                }
                if harvester.handle.is_none()
                    && !harvester.finished
                    && (harvester.restored || len != harvester.splitter.position())
                {
                    harvester.wants_open = true;
                }
                continue;
            }
            let queued = self.queued.remove(&key);
            // A file the queue knows is resumed (from 0 if it is not the same file after all).
            let start =
                if first_scan && self.settings.read_from == ReadFrom::End && queued.is_none() {
                    len
                } else {
                    0
                };
            let stream = self.publisher.open_stream(key, start);
            let mut harvester = Harvester::new(
                key,
                path,
                stream,
                start,
                self.settings.max_line_bytes,
                &self.publisher.shape,
            );
            if queued.is_some() {
                // Confirmed against the queue's fingerprint when opened (`open`); the empty
                // fingerprint stands for offset 0, which every file matches.
                harvester.queued = queued;
                harvester.unverified = true;
                harvester.restored = true;
            }
            harvester.lag = lag_gauge(&self.metrics, &harvester.path);
            harvester.update_lag(len);
            harvester.last_seen_scan = self.scans;
            self.files.insert(key, harvester);
            self.checkpoint_dirty = true;
        }
        if !self.once {
            self.forget_vanished_files();
        }
        for directory in &directories {
            self.wake.watch(directory);
        }
        self.wake.retain(&directories);
        if first_scan {
            self.readiness.set_ready();
        }
    }

    /// Says at start which files are read, and which globs match none.
    fn report_first_scan(&self, unmatched: &[&str], found: &HashMap<FileKey, (PathBuf, u64)>) {
        for glob in unmatched {
            let relative = if Path::new(glob).is_relative() {
                std::env::current_dir()
                    .map(|dir| format!(" (relative to {})", dir.display()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            if self.once {
                tracing::warn!(input = %self.id, %glob, "No file matches `{glob}`{relative}; nothing is read from it.");
            } else {
                tracing::warn!(input = %self.id, %glob, "No file matches `{glob}`{relative} yet; it is looked for again every scan_interval.");
            }
        }
        if found.is_empty() {
            return;
        }
        let mut paths: Vec<String> = found
            .values()
            .map(|(path, _)| path.display().to_string())
            .collect();
        paths.sort_unstable();
        let shown = paths.len().min(FILES_NAMED_AT_START);
        let more = match paths.len() - shown {
            0 => String::new(),
            rest => format!(" and {rest} more"),
        };
        let verb = if self.once { "Reading" } else { "Tailing" };
        let noun = if paths.len() == 1 { "file" } else { "files" };
        tracing::info!(
            input = %self.id,
            files = paths.len(),
            "{verb} {} {noun}: {}{more}.",
            paths.len(),
            paths[..shown].join(", ")
        );
    }

    /// Drops the state of closed files that no scan has found for a while.
    fn forget_vanished_files(&mut self) {
        let scans = self.scans;
        let vanished: Vec<FileKey> = self
            .files
            .values()
            .filter(|h| {
                h.handle.is_none()
                    && scans.saturating_sub(h.last_seen_scan) >= SCANS_BEFORE_FORGETTING
            })
            .map(|h| h.key)
            .collect();
        for key in vanished {
            if let Some(harvester) = self.files.remove(&key) {
                self.metrics
                    .remove(LAG, &[("path", &harvester.path.display().to_string())]);
                tracing::debug!(input = %self.id, path = %harvester.path.display(), "Forgetting vanished file.");
                self.publisher.close_stream(harvester.stream);
                self.checkpoint_dirty = true;
            }
        }
    }

    /// One pass over every file: open what needs opening, read each up to its share.
    fn read_round(&mut self) -> Result<Round, FileInputError> {
        let mut round = Round::default();
        let mut order = std::mem::take(&mut self.round_order);
        order.clear();
        order.extend(self.files.keys().copied());
        for key in &order {
            if self.must_stop_reading() {
                break;
            }
            let Some(harvester) = self.files.get(key) else {
                continue;
            };
            if harvester.finished || (harvester.handle.is_none() && !harvester.wants_open) {
                continue;
            }
            round.active += 1;
            if harvester.handle.is_none() {
                if self.open_handles >= self.settings.max_open_files {
                    round.waiting_for_handle += 1;
                    continue;
                }
                if !self.open(*key) {
                    continue;
                }
            }
            self.read_file(*key, &mut round)?;
        }
        self.round_order = order;
        self.publisher.send_sealed(&self.files)?;
        Ok(round)
    }

    /// Opens a harvester's file; false when it cannot be read now.
    fn open(&mut self, key: FileKey) -> bool {
        let Some(harvester) = self.files.get_mut(&key) else {
            return false;
        };
        harvester.wants_open = false;
        let opened = File::open(&harvester.path).and_then(|file| {
            let metadata = file.metadata()?;
            Ok((file, metadata))
        });
        let (mut file, metadata) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                if !harvester.open_error_reported {
                    harvester.open_error_reported = true;
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(input = %self.id, path = %harvester.path.display(), %error, "Cannot open file; will retry at the next scan.");
                }
                if self.once {
                    harvester.finished = true;
                }
                return false;
            }
        };
        harvester.open_error_reported = false;
        if FileKey::of(&metadata) != key {
            // The path now holds another file; the next scan sorts it out.
            return false;
        }
        let mut replaced = false;
        if harvester.unverified {
            let len = metadata.len();
            let is_this_file = |offset: u64, fingerprint: &Fingerprint| {
                len >= offset && fingerprint.matches(&file).unwrap_or(false)
            };
            let checkpointed = is_this_file(harvester.splitter.position(), &harvester.fingerprint);
            // The later of the checkpoint and the queue's position, of those this file is.
            let queued = harvester.queued.take().filter(|queued| {
                (!checkpointed || queued.offset > harvester.splitter.position())
                    && is_this_file(queued.offset, &queued.fingerprint)
            });
            replaced = !checkpointed && queued.is_none();
            harvester.unverified = false;
            harvester.restored = false;
            if let Some(queued) = queued {
                tracing::debug!(input = %self.id, path = %harvester.path.display(), checkpoint = harvester.splitter.position(), queue = queued.offset, "Resuming a file where the disk queue holds its lines up to, past its checkpoint.");
                self.publisher.close_stream(harvester.stream);
                harvester.stream = self.publisher.open_stream(key, queued.offset);
                harvester.splitter.reset(queued.offset);
                harvester.fingerprint = queued.fingerprint;
                self.checkpoint_dirty = true;
            }
        }
        if replaced {
            tracing::info!(input = %self.id, path = %harvester.path.display(), "File differs from its checkpoint (truncated or a reused inode); reading it from the start.");
            self.publisher.close_stream(harvester.stream);
            harvester.stream = self.publisher.open_stream(key, 0);
            harvester.splitter.reset(0);
            self.checkpoint_dirty = true;
        }
        if !harvester.fingerprint.is_complete() || replaced {
            if let Ok(fingerprint) = Fingerprint::of_file(&file) {
                harvester.fingerprint = fingerprint;
            }
        }
        if let Err(error) = file.seek(SeekFrom::Start(harvester.splitter.position())) {
            tracing::warn!(input = %self.id, path = %harvester.path.display(), %error, "Cannot seek in file.");
            return false;
        }
        harvester.handle = Some(file);
        harvester.last_read = Instant::now();
        harvester.at_eof = false;
        self.open_handles += 1;
        self.files_open.set(self.open_handles as i64);
        true
    }

    fn close(&mut self, key: FileKey) {
        if let Some(harvester) = self.files.get_mut(&key) {
            if harvester.handle.take().is_some() {
                self.open_handles -= 1;
                self.files_open.set(self.open_handles as i64);
            }
            harvester.unverified = true;
        }
    }

    /// Reads one open file until its end or its share for this round.
    fn read_file(&mut self, key: FileKey, round: &mut Round) -> Result<(), FileInputError> {
        let mut share = FAIR_SHARE_BYTES;
        loop {
            if self.must_stop_reading() {
                round.more_available = true;
                return Ok(());
            }
            let Some(harvester) = self.files.get_mut(&key) else {
                return Ok(());
            };
            let Some(file) = harvester.handle.as_mut() else {
                return Ok(());
            };
            let read = match file.read(&mut self.buffer) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(input = %self.id, path = %harvester.path.display(), %error, "Read failed; reopening at the next scan.");
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    self.close(key);
                    return Ok(());
                }
            };
            if read == 0 {
                harvester.at_eof = true;
                self.reached_end(key, round);
                return Ok(());
            }
            harvester.at_eof = false;
            harvester.last_read = Instant::now();
            self.now = format_timestamp(chrono::Utc::now());
            let stream = harvester.stream;
            let batcher = &mut self.publisher.batcher;
            let now = &self.now;
            let origin = &harvester.origin;
            harvester.splitter.feed(&self.buffer[..read], |line| {
                batcher.push(&line, origin, now, stream, line.end);
            });
            if !harvester.fingerprint.is_complete()
                && harvester.splitter.position() > harvester.fingerprint.len
            {
                if let Some(Ok(fingerprint)) = harvester.handle.as_ref().map(Fingerprint::of_file) {
                    harvester.fingerprint = fingerprint;
                }
            }
            round.bytes_read += read as u64;
            if self.publisher.batcher.has_sealed() {
                self.publisher.send_sealed(&self.files)?;
            }
            share = share.saturating_sub(read as u64);
            if share == 0 {
                round.more_available = true;
                if let Some(harvester) = self.files.get(&key) {
                    if let Some(Ok(metadata)) = harvester.handle.as_ref().map(File::metadata) {
                        harvester.update_lag(metadata.len());
                    }
                }
                return Ok(());
            }
        }
    }

    /// At the end of a file: detect truncation and deletion, finish `--once` files.
    fn reached_end(&mut self, key: FileKey, round: &mut Round) {
        let Some(harvester) = self.files.get_mut(&key) else {
            return;
        };
        let Some(file) = harvester.handle.as_mut() else {
            return;
        };
        let Ok(metadata) = file.metadata() else {
            return;
        };
        let behind = metadata.len().saturating_sub(harvester.splitter.position());
        harvester.lag.set(i64::try_from(behind).unwrap_or(i64::MAX));
        if metadata.len() < harvester.splitter.position() {
            tracing::info!(input = %self.id, path = %harvester.path.display(), "File was truncated; reading it from the start.");
            if file.seek(SeekFrom::Start(0)).is_ok() {
                self.publisher.close_stream(harvester.stream);
                harvester.stream = self.publisher.open_stream(key, 0);
                harvester.splitter.reset(0);
                harvester.at_eof = false;
                if let Ok(fingerprint) = Fingerprint::of_file(file) {
                    harvester.fingerprint = fingerprint;
                }
                self.checkpoint_dirty = true;
                round.more_available = true;
            }
            return;
        }
        let deleted = metadata.nlink() == 0;
        if self.once || deleted {
            // The partial last line will never be completed (deleted) or the run ends (`--once`).
            let stream = harvester.stream;
            let batcher = &mut self.publisher.batcher;
            let now = &self.now;
            let origin = &harvester.origin;
            harvester.splitter.finish(|line| {
                batcher.push(&line, origin, now, stream, line.end);
            });
            if self.once {
                harvester.finished = true;
            } else {
                tracing::debug!(input = %self.id, path = %harvester.path.display(), "File deleted and read to its end; releasing it.");
            }
            self.close(key);
        }
    }

    /// Closes handles idle for `close_inactive`; a later scan reopens them if they grow.
    fn close_inactive(&mut self) {
        let limit = self.settings.close_inactive;
        let idle: Vec<FileKey> = self
            .files
            .values()
            .filter(|h| h.handle.is_some() && h.at_eof && h.last_read.elapsed() >= limit)
            .map(|h| h.key)
            .collect();
        for key in idle {
            self.close(key);
        }
    }

    /// Makes room for files waiting for a handle by closing files that are at their end.
    fn release_handles_at_eof(&mut self, wanted: usize) {
        let idle: Vec<FileKey> = self
            .files
            .values()
            .filter(|h| h.handle.is_some() && h.at_eof)
            .map(|h| h.key)
            .take(wanted)
            .collect();
        for key in idle {
            self.close(key);
        }
    }
}

/// The directory part of a glob before its first wildcard (`logs/*/app.log` → `logs`).
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    for component in Path::new(pattern).components() {
        let text = component.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(component);
    }
    if prefix.as_os_str().is_empty() || prefix == Path::new(pattern) {
        // A plain file path: watch its directory.
        return Path::new(pattern)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literal_prefix_is_the_directory_before_the_first_wildcard() {
        assert_eq!(literal_prefix("logs/*.log"), PathBuf::from("logs"));
        assert_eq!(
            literal_prefix("/var/log/*/app.log"),
            PathBuf::from("/var/log")
        );
        assert_eq!(
            literal_prefix("/var/log/app.log"),
            PathBuf::from("/var/log")
        );
        assert_eq!(literal_prefix("app.log"), PathBuf::from("."));
        assert_eq!(literal_prefix("*.log"), PathBuf::from("."));
    }
}
