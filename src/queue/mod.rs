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
//! A persistent disk queue is the next: it must turn each event into bytes and back without
//! losing anything it holds, which
//! [`Event::write_json`](crate::event::Event::write_json) does not promise (it leaves out
//! `@metadata`), and a JSON round trip costs more than it needs to. Kafka inputs and outputs
//! need the same. The halves are shaped for it: a writer can acknowledge its input once a
//! batch is durable rather than once it is delivered, and a full disk makes `send` wait just
//! as a full channel does.
//!
//! - [`codec`] writes one event (fields, `@metadata`, tags, `@timestamp`: everything an
//!   [`Event`](crate::event::Event) holds) into a compact, versioned binary form and reads it
//!   back equal. Framing (where one encoded event ends and the next begins) is left to whoever
//!   stores the bytes: a disk segment or a Kafka record has its own.
//!
//! This module depends on [`crate::event`] only, so that inputs, the pipeline and outputs can
//! all use it without an import loop.

pub mod codec;
mod memory;

use crate::event::Batch;

/// Which queue runs between the inputs and the filter workers, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSettings {
    /// In memory, at most `batches` batches (at least one; `pipeline.queue_batches`).
    Memory { batches: usize },
}

/// Opens the queue `settings` describe: the writer half for the inputs, the reader half for
/// the filter workers. Both can be cloned. Once every writer is dropped, readers get what is
/// left and then `None`; once every reader is dropped, writers get [`QueueClosed`].
pub fn open(settings: &QueueSettings) -> (QueueWriter, QueueReader) {
    match settings {
        QueueSettings::Memory { batches } => {
            let (writer, reader) = memory::open(*batches);
            (
                QueueWriter(Writer::Memory(writer)),
                QueueReader(Reader::Memory(reader)),
            )
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
}

impl QueueWriter {
    /// Puts a batch in the queue, waiting while it is full.
    pub async fn send(&self, batch: Batch) -> Result<(), QueueClosed> {
        match &self.0 {
            Writer::Memory(writer) => writer.send(batch).await,
        }
    }

    /// [`send`](Self::send) from a blocking thread (the file reader).
    pub fn send_blocking(&self, batch: Batch) -> Result<(), QueueClosed> {
        match &self.0 {
            Writer::Memory(writer) => writer.send_blocking(batch),
        }
    }
}

/// Where the filter workers take batches from.
#[derive(Debug, Clone)]
pub struct QueueReader(Reader);

#[derive(Debug, Clone)]
enum Reader {
    Memory(memory::Reader),
}

impl QueueReader {
    /// The next batch, waiting for one; `None` once every writer is gone and the queue is
    /// empty. Cancel-safe: a batch is taken only when the future completes, so it can wait in
    /// a `select!`.
    pub async fn recv(&self) -> Option<Batch> {
        match &self.0 {
            Reader::Memory(reader) => reader.recv().await,
        }
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Reader::Memory(reader) => reader.is_empty(),
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
        open(&QueueSettings::Memory { batches })
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
