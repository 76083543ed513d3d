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
