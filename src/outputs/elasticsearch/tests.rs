//! Unit tests of the output's bookkeeping (the delivery parts' own are in
//! `outputs/delivery/part.rs`); the network behaviour is tested end to end in
//! `tests/elasticsearch.rs` (fault-injecting fake node) and `tests/elasticsearch_node.rs`
//! (a real OpenSearch node).

use super::*;

#[test]
fn shifting_a_span_keeps_its_shape() {
    let span = ItemSpan {
        range: 100..150,
        source_start: 120,
    };
    let moved = shift(span, 100, 0);
    assert_eq!((moved.range, moved.source_start), (0..50, 20));
}
