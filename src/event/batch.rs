//! Batches: the unit that moves between stages.
//!
//! Moving batches instead of single events amortises channel operations, wake-ups and
//! acknowledgement bookkeeping over hundreds of events. After the filter chain a batch is
//! frozen behind an `Arc` and every output receives a [`Delivery`] of the same allocation:
//! fan-out never copies events.
//!
//! An input may also hand over a batch *deferred*: raw data plus a decoder that turns it into
//! events. The filter workers run the decoder, so building events (the allocation-heavy part
//! of reading logs) happens on every core in parallel instead of on the one thread that reads
//! files or sockets; inputs then only read, split and keep their acknowledgement books.

use super::ack::AckToken;
use super::Event;
use std::sync::Arc;

/// Turns a deferred batch's raw data into events, appending to the vector it is given.
pub type Decoder = Box<dyn FnOnce(&mut Vec<Event>) + Send + Sync>;

/// Events from one input, with the token that acknowledges them.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<Event>,
    token: Option<AckToken>,
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .field("token", &self.token)
            .field("deferred", &self.decoder.is_some())
            .finish()
    }
}

impl Batch {
    /// A batch whose completion is reported through `token`.
    pub fn new(events: Vec<Event>, token: Option<AckToken>) -> Self {
        Self {
            events,
            token,
            decoder: None,
        }
    }

    /// A batch whose events are built later, on a filter worker, by `decoder`; `capacity` is
    /// how many events it will produce.
    pub fn deferred(
        capacity: usize,
        token: Option<AckToken>,
        decoder: impl FnOnce(&mut Vec<Event>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            events: Vec::with_capacity(capacity),
            token,
            decoder: Some(Box::new(decoder)),
        }
    }

    /// A batch nobody waits for (tests, `sluice test`).
    pub fn untracked(events: Vec<Event>) -> Self {
        Self::new(events, None)
    }

    /// Builds the events of a deferred batch (no-op otherwise).
    pub fn materialize(&mut self) {
        if let Some(decoder) = self.decoder.take() {
            decoder(&mut self.events);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn token(&self) -> Option<&AckToken> {
        self.token.as_ref()
    }
}

/// One output's share of a frozen batch.
///
/// The output calls [`Delivery::settle`] once every event is delivered, dead-lettered or
/// deliberately dropped. Dropping an unsettled delivery fails the batch, so the input will
/// not checkpoint past it.
#[derive(Debug)]
pub struct Delivery {
    batch: Arc<Batch>,
    settled: bool,
}

impl Delivery {
    pub fn new(batch: Arc<Batch>) -> Self {
        Self {
            batch,
            settled: false,
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.batch.events
    }

    /// This output is done with the batch.
    pub fn settle(mut self) {
        self.settled = true;
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(token) = self.batch.token() {
                token.mark_failed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ack_channel, BatchStatus};

    #[test]
    fn fan_out_acknowledges_once_after_every_output_settles() {
        let (tx, mut rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![Event::new()], Some(tx.token(3))));
        let first = Delivery::new(batch.clone());
        let second = Delivery::new(batch);
        first.settle();
        assert!(rx.try_recv().is_err(), "second output still holds it");
        second.settle();
        let receipt = rx.try_recv().unwrap();
        assert_eq!(
            (receipt.batch_id, receipt.status),
            (3, BatchStatus::Delivered)
        );
    }

    #[test]
    fn deferred_batches_build_their_events_when_materialized() {
        let mut batch = Batch::deferred(2, None, |events| {
            events.push(Event::new());
            events.push(Event::new());
        });
        assert!(batch.is_empty());
        batch.materialize();
        assert_eq!(batch.len(), 2);
        batch.materialize();
        assert_eq!(batch.len(), 2, "the decoder runs once");
    }

    #[test]
    fn an_unsettled_delivery_fails_the_batch() {
        let (tx, mut rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![], Some(tx.token(1))));
        Delivery::new(batch.clone()).settle();
        drop(Delivery::new(batch));
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);
    }
}
