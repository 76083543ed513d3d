//! One delivery shared by the requests that carry its events.
//!
//! An output that batches for its peer (`_bulk` requests, Kafka produce requests) closes a
//! request by size or time, not at a delivery's edge, so a request may hold parts of several
//! deliveries and a delivery may span several requests, some of which succeed while others
//! are retried. The delivery may only be settled (acknowledged to its input, which then
//! checkpoints past it) once every request that took some of its events has indexed or
//! dead-lettered all of them; until then, and whenever anything goes wrong, it must fail.
//!
//! [`DeliveryPart`] is that count. Failure is the default: the delivery is settled when the
//! last holder lets go only if every holder reported [`DeliveryPart::done`] and nobody called
//! [`DeliveryPart::fail`]; a request task that panics or is aborted drops its holder without
//! `done`, and the batch fails for its input, which reads it again.

use crate::event::Delivery;
use crate::sync::lock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One delivery shared by the requests that carry its events.
///
/// Settled when the last holder lets go, if every request that took some of its events
/// reported them done ([`DeliveryPart::done`]); otherwise dropped unsettled, which fails the
/// batch for its input.
#[derive(Debug)]
pub struct DeliveryPart {
    /// Behind a lock only so that [`DeliveryPart::release_events`] can reach it while
    /// requests hold the part; nothing else takes it before the last holder lets go.
    delivery: Mutex<Option<Delivery>>,
    outstanding: AtomicUsize,
    failed: AtomicBool,
}

impl DeliveryPart {
    pub fn new(delivery: Delivery) -> Arc<Self> {
        Arc::new(Self {
            delivery: Mutex::new(Some(delivery)),
            outstanding: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        })
    }

    /// The output has encoded every event it sends (into request bodies that hold their own
    /// bytes): the events may be freed before the requests are answered
    /// ([`Delivery::release_events`]). Read the events through [`Delivery::batch`], taken
    /// before the delivery became a part, and drop that handle first.
    pub fn release_events(&self) {
        if let Some(delivery) = lock(&self.delivery).as_mut() {
            delivery.release_events();
        }
    }

    /// A request now carries some of this delivery's events.
    pub fn hold(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// A request indexed or dead-lettered all of its share.
    pub fn done(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    /// Some event cannot be disposed of: the batch must be read again.
    pub fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }
}

impl Drop for DeliveryPart {
    fn drop(&mut self) {
        let delivery = self
            .delivery
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(delivery) = delivery {
            if *self.outstanding.get_mut() == 0 && !*self.failed.get_mut() {
                delivery.settle();
            }
            // Otherwise `delivery` drops unsettled and fails its batch.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ack_channel, AckReceiver, Batch, BatchStatus, Event};

    fn delivery(id: u64) -> (Delivery, AckReceiver) {
        let (tx, rx) = ack_channel();
        let batch = Arc::new(Batch::new(vec![Event::new()], Some(tx.token(id))));
        (Delivery::new(batch), rx)
    }

    #[test]
    fn a_delivery_nobody_holds_is_settled_at_once() {
        let (d, mut rx) = delivery(1);
        drop(DeliveryPart::new(d));
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Delivered);
    }

    #[test]
    fn a_delivery_spanning_requests_settles_after_the_last_one() {
        let (d, mut rx) = delivery(2);
        let part = DeliveryPart::new(d);
        let (first, second) = (part.clone(), part.clone());
        first.hold();
        second.hold();
        drop(part);
        first.done();
        drop(first);
        assert!(
            rx.try_recv().is_err(),
            "the second request still holds events"
        );
        second.done();
        drop(second);
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Delivered);
    }

    #[test]
    fn a_request_that_never_reports_done_fails_the_delivery() {
        let (d, mut rx) = delivery(3);
        let part = DeliveryPart::new(d);
        let held = part.clone();
        held.hold();
        drop(part);
        drop(held); // aborted or panicked: no `done`
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);

        let (d, mut rx) = delivery(4);
        let part = DeliveryPart::new(d);
        part.fail();
        drop(part);
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Failed);
    }

    #[test]
    fn released_events_go_home_while_requests_still_hold_the_delivery() {
        let (tx, mut rx) = ack_channel();
        let (home, mut bin) = crate::event::Home::new();
        let mut batch = Batch::new(vec![Event::new(), Event::new()], Some(tx.token(6)));
        batch.free_at(home);
        batch.expect_deliveries(1);
        let d = Delivery::new(Arc::new(batch));
        let events = d.batch();
        let part = DeliveryPart::new(d);
        let request = part.clone();
        request.hold();
        part.release_events();
        assert!(bin.try_returned().is_none(), "a reader's handle keeps them");
        assert_eq!(events.events.len(), 2);
        drop(events);
        part.release_events();
        assert_eq!(bin.try_returned().map(|events| events.len()), Some(2));
        drop(part);
        assert!(rx.try_recv().is_err(), "a request still holds the delivery");
        request.done();
        drop(request);
        assert_eq!(rx.try_recv().unwrap().status, BatchStatus::Delivered);
    }

    #[test]
    fn a_failure_reported_by_one_request_fails_the_delivery_even_if_all_report_done() {
        let (d, mut rx) = delivery(5);
        // Three requests hold some of its events; the creator's handle is gone.
        let holders: Vec<Arc<DeliveryPart>> = std::iter::repeat_n(DeliveryPart::new(d), 3)
            .inspect(|holder| holder.hold())
            .collect();
        holders[1].fail();
        let mut receipts = Vec::new();
        for holder in holders {
            holder.done();
            drop(holder);
            receipts.push(rx.try_recv().ok().map(|receipt| receipt.status));
        }
        assert_eq!(receipts, [None, None, Some(BatchStatus::Failed)]);
    }
}
