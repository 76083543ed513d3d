//! Batches: the unit that moves between stages.
//!
//! Moving batches instead of single events amortises channel operations, wake-ups and
//! acknowledgement bookkeeping over hundreds of events. After the filter chain a batch is
//! frozen behind an `Arc` and every output receives a [`Delivery`] of the same allocation:
//! fan-out never copies events.

use super::ack::AckToken;
use super::Event;
use std::sync::Arc;

/// Events from one input, with the token that acknowledges them.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    token: Option<AckToken>,
}

impl Batch {
    /// A batch whose completion is reported through `token`.
    pub fn new(events: Vec<Event>, token: Option<AckToken>) -> Self {
        Self { events, token }
    }

    /// A batch nobody waits for (tests, `sluice test`).
    pub fn untracked(events: Vec<Event>) -> Self {
        Self {
            events,
            token: None,
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
    fn an_unsettled_delivery_fails_the_batch() {
        let (tx, mut rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![], Some(tx.token(1))));
        Delivery::new(batch.clone()).settle();
        drop(Delivery::new(batch));
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);
    }
}
