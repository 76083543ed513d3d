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

/// A fatal librdkafka error (here fabricated with librdkafka's own test hook, the way its
/// idempotent producer reports being fenced or losing its sequence) ends the output with an
/// error instead of retrying forever, and the batch in flight is not acknowledged.
#[tokio::test]
async fn a_fatal_producer_error_fails_the_output_and_acknowledges_nothing() {
    use crate::event::{ack_channel, Batch, BatchStatus};
    use crate::metrics::ComponentMetrics;
    use crate::outputs::OutputContext;
    use serde_json::json;
    const DEADLINE: Duration = Duration::from_secs(20);

    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    // Nothing listens there: the message waits in librdkafka's queue, as in an outage.
    std::fs::write(
        &pipeline,
        format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n\n[outputs.out]\ntype = \"kafka\"\nbootstrap_servers = \"127.0.0.1:1\"\ntopic = \"t\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let config = crate::pipeline::load(&pipeline).unwrap();
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(crate::metrics::Registry::default()),
    };
    let crate::outputs::OutputConfig::Kafka(settings) = &config.outputs[0].config else {
        panic!("not a kafka output")
    };
    let output = KafkaOutput::build(settings, &context).unwrap();
    let producer: ThreadedProducer<ReportContext> = output
        .settings
        .client
        .0
        .create_with_context(ReportContext::default())
        .unwrap();
    let native = producer.client().native_ptr() as usize;
    let (deliveries, receiver) = mpsc::channel(4);
    let output_context = OutputContext {
        id: "out".into(),
        condition: None,
        abort: CancellationToken::new(),
        metrics: Arc::new(ComponentMetrics::default()),
        readiness: crate::readiness::ReadinessHandle::detached(),
    };
    let running = tokio::spawn(output.run_with(producer, receiver, output_context));
    let (ack_sender, mut acks) = ack_channel();
    let batch = Batch::new(
        vec![Event::from_value(json!({"message": "m"}))],
        Some(ack_sender.token(1)),
    );
    deliveries
        .send(Delivery::new(Arc::new(batch)))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), acks.recv())
            .await
            .is_err(),
        "nothing settles while the cluster is unreachable"
    );

    let reason = std::ffi::CString::new("fenced for the test").unwrap();
    // SAFETY: the producer is alive (the output owns it until it returns, which it cannot
    // before this error), and librdkafka copies the reason. librdkafka's test hook is the
    // only way to cause a fatal error on demand; the rdkafka crate does not wrap it.
    #[allow(unsafe_code)]
    let code = unsafe {
        rdkafka::bindings::rd_kafka_test_fatal_error(
            native as *mut rdkafka::bindings::rd_kafka_t,
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        )
    };
    assert_eq!(
        code,
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR
    );

    let result = tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the output stops on a fatal error")
        .unwrap();
    let error = result
        .expect_err("a fatal error fails the output")
        .to_string();
    assert!(error.contains("fatal"), "{error}");
    assert!(error.contains("fenced for the test"), "{error}");
    let receipt = tokio::time::timeout(DEADLINE, acks.recv())
        .await
        .expect("the batch is let go")
        .unwrap();
    assert_eq!(receipt.status, BatchStatus::Failed);
}
