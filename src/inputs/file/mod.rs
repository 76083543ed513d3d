//! Tails log files the way Filebeat does: at-least-once, through rotation, across restarts.
//!
//! The guarantees, and where each one lives:
//!
//! - **Nothing lost, duplicates bounded.** A file's offset is checkpointed only once every
//!   batch carrying its lines up to there has been acknowledged by every output, in batch
//!   order ([`crate::inputs::watermark`]); the checkpoint is replaced atomically as soon as
//!   that moves, at most every 20 ms (longer when a write is slow: at most ~5% of the
//!   reader's time, at least once a second), and at shutdown (`checkpoint.rs`, `tailer.rs`).
//!   After `kill -9`, reading resumes at the last checkpoint, so what is re-sent is what was
//!   in flight plus at most one checkpoint gap of acknowledged lines. With the disk queue,
//!   each batch's record also says where its lines end in their file, and reading resumes
//!   from the later of that and the checkpoint, so no line the queue holds is read twice
//!   (`queued.rs`; the chaos suite's case 2 asserts it).
//! - **Rotation without double reads or gaps.** Files are identified by device + inode, checked
//!   against a fingerprint of their first bytes because inodes are reused (`identity.rs`); the
//!   reader follows renames, truncation and deletion (`tailer.rs`).
//! - **Bounded memory.** Lines longer than `max_line_bytes` are cut and tagged
//!   [`TRUNCATED_TAG`] (`lines.rs`); batches are bounded by the pipeline's `batch_size` and
//!   `batch_bytes`, and a full pipeline blocks the reader (backpressure).
//! - **Low latency without busy polling.** Filesystem notifications wake the reader; polling
//!   with back-off remains the fallback (`wake.rs`).
//!
//! Each line becomes an event with `message`, `log.file.path`, `log.offset`, `host.name`,
//! `input.type = "file"` and `@timestamp` (ingest time), plus the configured `fields` and
//! `tags` (`events.rs`). Invalid UTF-8 is replaced with U+FFFD rather than dropped.
//!
//! With `--once`, every matched file is read to its current end (a last line without a newline
//! is emitted too), delivered, checkpointed, and the input finishes.
//!
//! **On a stop signal** (SIGTERM, Ctrl-C) the input does not stop at its last read: it scans
//! once more and reads every file to its current end, then the pipeline drains as usual. A
//! sidecar's application writes its last lines just before the pod ends, and an `emptyDir`
//! goes with the pod. The last read and the drain share one bound, `pipeline.shutdown_timeout`
//! counted from the signal, rather than a file-input option of its own: Kubernetes grants one
//! grace period for the whole stop, and one number is what fits into it. Lines not read by
//! then are read on the next start, from the checkpoint; a line without its newline yet is
//! left for the next start too.

mod checkpoint;
mod config;
mod events;
mod identity;
pub(crate) mod lines;
mod queued;
mod tailer;
mod wake;

pub use checkpoint::CheckpointError;
pub use config::{FileInputConfig, FileInputSettings, ReadFrom};
pub use events::TRUNCATED_TAG;

use super::{InputContext, InputError, InputType, PipelineClosed};
use crate::config::{BuildContext, ConfigError};
use config::Settings;

/// Identifies one reading of one file's content: a truncated or replaced file gets a new
/// stream, so late acknowledgements of the old content cannot move the new content's offset
/// in the [`crate::inputs::watermark::Watermarks`].
pub(crate) type StreamId = u64;

/// Why the file input stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileInputError {
    #[error("file input thread panicked: {0}")]
    Panicked(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Closed(#[from] PipelineClosed),
}

/// The file input.
#[derive(Debug)]
pub struct FileInput {
    settings: Settings,
}

impl InputType for FileInput {
    type Config = FileInputConfig;
    const FINITE: bool = true;

    fn build(settings: &FileInputConfig, context: &BuildContext) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::validate(settings.clone(), context)?,
        })
    }

    /// Runs on a blocking thread (file reads block) until shutdown (or until every file is
    /// read, with `--once`), then waits for in-flight batches and writes the final checkpoint.
    async fn run(self, context: InputContext) -> Result<(), InputError> {
        // The reader thread logs inside the input's span, as the async inputs do.
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            tailer::Tailer::new(self.settings, context, crate::event::host_name()).run()
        });
        match handle.await {
            Ok(result) => Ok(result?),
            Err(join) => Err(FileInputError::Panicked(join.to_string()).into()),
        }
    }
}
