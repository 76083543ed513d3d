//! Unit tests of the output's error sorting; its behaviour against a real broker (delivery
//! reports, outages, dead letters) is tested end to end in `tests/kafka.rs`.

use super::*;

#[test]
fn refusals_that_a_resend_cannot_cure_are_permanent() {
    for code in [
        RDKafkaErrorCode::MessageSizeTooLarge,
        RDKafkaErrorCode::UnknownTopicOrPartition,
        RDKafkaErrorCode::UnknownTopic,
        RDKafkaErrorCode::TopicAuthorizationFailed,
        RDKafkaErrorCode::InvalidRecord,
    ] {
        assert!(is_permanent(code), "{code:?}");
    }
    for code in [
        RDKafkaErrorCode::QueueFull,
        RDKafkaErrorCode::BrokerTransportFailure,
        RDKafkaErrorCode::AllBrokersDown,
        RDKafkaErrorCode::NotLeaderForPartition,
        RDKafkaErrorCode::RequestTimedOut,
        RDKafkaErrorCode::MessageTimedOut,
    ] {
        assert!(!is_permanent(code), "{code:?}");
    }
}

#[test]
fn dead_letter_error_types_are_snake_case_code_names() {
    assert_eq!(
        error_type(RDKafkaErrorCode::MessageSizeTooLarge),
        "message_size_too_large"
    );
    assert_eq!(
        error_type(RDKafkaErrorCode::TopicAuthorizationFailed),
        "topic_authorization_failed"
    );
}

/// Polls `future` once, without a runtime: whether it is ready now.
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[test]
fn the_window_holds_a_delivery_back_until_earlier_ones_give_their_room_back() {
    let window = Window::new(InFlightLimit {
        events: 100,
        bytes: 10 * 1024,
    });
    let first = ready_now(window.take_events(60)).expect("room for 60");
    let second = ready_now(window.take_events(40)).expect("room for 40 more");
    assert!(
        ready_now(window.take_events(1)).is_none(),
        "a full window makes the next delivery wait"
    );
    drop(first);
    let third = ready_now(window.take_events(50)).expect("room again once one is settled");
    drop((second, third));
    // A delivery larger than the whole window waits for an empty one, not forever.
    let large = ready_now(window.take_events(500)).expect("an empty window takes any delivery");
    assert!(ready_now(window.take_events(1)).is_none());
    drop(large);

    let bytes = ready_now(window.take_bytes(8 * 1024)).expect("8 KiB of 10");
    assert!(
        ready_now(window.take_bytes(4 * 1024)).is_none(),
        "the byte budget is a limit too"
    );
    drop(bytes);
    assert!(ready_now(window.take_bytes(64 * 1024)).is_some());
}
