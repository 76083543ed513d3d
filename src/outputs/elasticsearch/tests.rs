//! Unit tests of the output's bookkeeping; the network behaviour is tested end to end in
//! `tests/elasticsearch.rs` (fault-injecting fake node) and `tests/elasticsearch_node.rs`
//! (a real OpenSearch node).

use super::*;
use crate::event::{ack_channel, Batch, BatchStatus, Event};

fn delivery(id: u64) -> (Delivery, crate::event::AckReceiver) {
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
fn shifting_a_span_keeps_its_shape() {
    let span = ItemSpan {
        range: 100..150,
        source_start: 120,
    };
    let moved = shift(span, 100, 0);
    assert_eq!((moved.range, moved.source_start), (0..50, 20));
}
