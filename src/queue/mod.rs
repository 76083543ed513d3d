//! The seam between inputs and the filter workers, and what crosses it as bytes.
//!
//! Inputs hand their batches to a [`QueueWriter`]; the filter workers take them from a
//! [`QueueReader`]. The pipeline creates both halves with [`open`] and knows nothing else about
//! what lies between them, so a queue that keeps batches somewhere other than memory slots in
//! here without the inputs, the workers or the pipeline changing. The queue is where
//! backpressure starts: a full queue makes the inputs wait in `send`.
//!
//! Which queue runs is a closed set ([`QueueSettings`]), dispatched with a `match` per batch,
//! never per event:
//!
//! - [`QueueSettings::Memory`]: a bounded channel of batches as the inputs built them (see
//!   `memory`). Nothing survives a restart; inputs re-read what was not acknowledged.
//!
//! - [`QueueSettings::Disk`]: segment files of CRC-checked records, one per batch (see
//!   [`disk`], whose docs say why this design). A writer acknowledges its input once a batch
//!   is durable rather than once it is delivered, and a full queue or a full disk makes `send`
//!   wait just as a full channel does.
//!
//! - [`codec`] writes one event (fields, `@metadata`, tags, `@timestamp`: everything an
//!   [`Event`](crate::event::Event) holds) into a compact, versioned binary form and reads it
//!   back equal. Framing (where one encoded event ends and the next begins) is left to whoever
//!   stores the bytes: a disk segment or a Kafka record has its own.
//!
//! This module depends on [`crate::event`], [`crate::config`] and [`crate::metrics`] only, so that inputs, the pipeline and outputs can
//! all use it without an import loop.

pub mod codec;
pub mod disk;
mod memory;

use crate::config::DiskQueueConfig;
use crate::event::{Batch, SourcePosition};
use crate::metrics::ComponentMetrics;
use std::path::PathBuf;
use std::sync::Arc;

pub use disk::OpenError;

/// Which queue runs between the inputs and the filter workers, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSettings {
    /// In memory, at most `batches` batches (at least one; `pipeline.queue_batches`).
    Memory { batches: usize },
    /// On disk in `dir`. `drain`: once every writer is gone, readers deliver everything
    /// before ending (`--once`); otherwise what is left waits for the next start.
    Disk {
        dir: PathBuf,
        config: DiskQueueConfig,
        drain: bool,
    },
}

impl QueueSettings {
    /// The `type` Logstash's `/_node/stats` reports (`persisted` for its disk queue).
    pub fn stats_type(&self) -> &'static str {
        match self {
            Self::Memory { .. } => "memory",
            Self::Disk { .. } => "persisted",
        }
    }
}

/// Both halves of an open queue, and what the pipeline awaits once the run is over.
#[derive(Debug)]
pub struct OpenQueue {
    pub writer: QueueWriter,
    pub reader: QueueReader,
    pub finisher: QueueFinisher,
}

/// Opens the queue `settings` describe: the writer half for the inputs, the reader half for
/// the filter workers. Both can be cloned. Once every writer is dropped, readers get what is
/// left (all of it for the memory queue; see [`QueueSettings::Disk`]) and then `None`; once
/// every reader is dropped, writers get [`QueueClosed`]. `metrics`: where the queue counts
/// (events in: written; out: settled) and its gauges. The disk queue must be opened inside a
/// tokio runtime.
pub fn open(
    settings: &QueueSettings,
    metrics: Arc<ComponentMetrics>,
) -> Result<OpenQueue, OpenError> {
    match settings {
        QueueSettings::Memory { batches } => {
            let (writer, reader) = open_memory(*batches);
            Ok(OpenQueue {
                writer,
                reader,
                finisher: QueueFinisher(None),
            })
        }
        QueueSettings::Disk { dir, config, drain } => {
            let (writer, reader, settler) = disk::open(dir, config, *drain, metrics)?;
            Ok(OpenQueue {
                writer: QueueWriter(Writer::Disk(writer)),
                reader: QueueReader(Reader::Disk(reader)),
                finisher: QueueFinisher(Some(settler)),
            })
        }
    }
}

/// The memory queue's two halves, for tests and tools that run an input or the workers
/// alone.
pub fn open_memory(batches: usize) -> (QueueWriter, QueueReader) {
    let (writer, reader) = memory::open(batches);
    (
        QueueWriter(Writer::Memory(writer)),
        QueueReader(Reader::Memory(reader)),
    )
}

/// Awaited after every reader and batch is gone: the disk queue notes the last settled
/// batches before the process ends, so they are not delivered again.
#[derive(Debug)]
pub struct QueueFinisher(Option<disk::Settler>);

impl QueueFinisher {
    pub async fn finish(self) {
        if let Some(settler) = self.0 {
            settler.finish().await;
        }
    }
}

/// Every reader is gone: the pipeline no longer takes batches.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the queue is closed")]
pub struct QueueClosed;

/// Where inputs put their batches.
#[derive(Debug, Clone)]
pub struct QueueWriter(Writer);

#[derive(Debug, Clone)]
enum Writer {
    Memory(memory::Writer),
    Disk(disk::Writer),
}

impl QueueWriter {
    /// Puts a batch in the queue, waiting while it is full.
    pub async fn send(&self, batch: Batch) -> Result<(), QueueClosed> {
        match &self.0 {
            Writer::Memory(writer) => writer.send(batch).await,
            Writer::Disk(writer) => writer.send(batch).await,
        }
    }

    /// [`send`](Self::send) from a blocking thread (the file reader).
    pub fn send_blocking(&self, batch: Batch) -> Result<(), QueueClosed> {
        match &self.0 {
            Writer::Memory(writer) => writer.send_blocking(batch),
            Writer::Disk(writer) => writer.send_blocking(batch),
        }
    }

    /// Where the batches of input `source` ended in each of its streams, newest per stream,
    /// as the queue found them at start ([`SourcePosition`]); `None` when this queue keeps no
    /// positions (the memory queue: it holds nothing across a restart), so that the input
    /// need not attach them to its batches either.
    pub fn recovered_positions(&self, source: &str) -> Option<Vec<SourcePosition>> {
        match &self.0 {
            Writer::Memory(_) => None,
            Writer::Disk(writer) => Some(writer.recovered_positions(source)),
        }
    }
}

/// Where the filter workers take batches from.
#[derive(Debug, Clone)]
pub struct QueueReader(Reader);

#[derive(Debug, Clone)]
enum Reader {
    Memory(memory::Reader),
    Disk(disk::Reader),
}

impl QueueReader {
    /// The next batch, waiting for one; `None` once every writer is gone and the queue is
    /// empty. Cancel-safe: a batch is taken only when the future completes, so it can wait in
    /// a `select!`.
    pub async fn recv(&self) -> Option<Batch> {
        match &self.0 {
            Reader::Memory(reader) => reader.recv().await,
            Reader::Disk(reader) => reader.recv().await,
        }
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Reader::Memory(reader) => reader.is_empty(),
            Reader::Disk(reader) => reader.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use serde_json::json;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn memory(batches: usize) -> (QueueWriter, QueueReader) {
        let queue = open(
            &QueueSettings::Memory { batches },
            Arc::new(ComponentMetrics::default()),
        )
        .unwrap();
        (queue.writer, queue.reader)
    }

    fn batch(message: &str) -> Batch {
        Batch::untracked(vec![Event::from_value(json!({ "message": message }))])
    }

    fn message(batch: &Batch) -> &serde_json::Value {
        &batch.events[0].fields()["message"]
    }

    /// Polls `future` once, without waiting.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test]
    async fn a_full_queue_makes_writers_wait_until_a_reader_takes_a_batch() {
        let (writer, reader) = memory(1);
        writer.send(batch("first")).await.unwrap();
        let mut second = pin!(writer.send(batch("second")));
        assert!(
            poll_once(second.as_mut()).is_pending(),
            "the queue holds one batch"
        );
        assert_eq!(message(&reader.recv().await.unwrap()), "first");
        assert!(matches!(poll_once(second.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(message(&reader.recv().await.unwrap()), "second");
    }

    #[tokio::test]
    async fn readers_get_what_is_left_in_order_then_none_once_every_writer_is_gone() {
        let (writer, reader) = memory(4);
        let second_writer = writer.clone();
        writer.send(batch("a")).await.unwrap();
        second_writer.send(batch("b")).await.unwrap();
        drop(writer);
        drop(second_writer);
        assert_eq!(message(&reader.recv().await.unwrap()), "a");
        assert_eq!(message(&reader.recv().await.unwrap()), "b");
        assert!(reader.is_empty());
        assert!(reader.recv().await.is_none());
    }

    #[tokio::test]
    async fn writers_learn_the_queue_is_closed_once_every_reader_is_gone() {
        let (writer, reader) = memory(4);
        let second_reader = reader.clone();
        drop(reader);
        writer.send(batch("kept")).await.unwrap();
        drop(second_reader);
        assert!(writer.send(batch("refused")).await.is_err());
        let blocking = writer.clone();
        let refused = tokio::task::spawn_blocking(move || blocking.send_blocking(batch("too")));
        assert!(refused.await.unwrap().is_err());
    }

    #[test]
    fn a_queue_of_zero_batches_still_holds_one() {
        let (writer, reader) = memory(0);
        writer.send_blocking(batch("only")).unwrap();
        assert!(!reader.is_empty());
    }
}
