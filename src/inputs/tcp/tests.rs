//! The tcp input against real TCP clients, with the test playing the pipeline.

use super::*;
use crate::config::PipelineSettings;
use crate::event::Batch;
use crate::inputs::codec::multiline::{MultilineConfig, What};
use crate::inputs::codec::CodecConfig;
use crate::inputs::BatchSender;
use crate::metrics::ComponentMetrics;
use crate::metrics::ExtraValue;
use crate::queue::{QueueReader, QueueSettings};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

fn settings(codec: CodecConfig, max_line_bytes: usize) -> TcpInputConfig {
    TcpInputConfig {
        host: "127.0.0.1".into(),
        port: 0,
        codec,
        max_line_bytes,
        max_connections: 8,
    }
}

struct Harness {
    address: SocketAddr,
    batches: QueueReader,
    shutdown: CancellationToken,
    metrics: Arc<ComponentMetrics>,
    server: JoinHandle<()>,
}

async fn start(settings: TcpInputConfig, batch_size: usize, queued_batches: usize) -> Harness {
    let (tx, batches) = crate::queue::open(&QueueSettings::Memory {
        batches: queued_batches,
    });
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(ComponentMetrics::default());
    let context = InputContext {
        id: "tcp".into(),
        output: BatchSender::new(tx),
        shutdown: shutdown.clone(),
        once: false,
        data_dir: std::env::temp_dir(),
        settings: PipelineSettings {
            batch_size,
            ..PipelineSettings::default()
        },
        filters: false,
        metrics: metrics.clone(),
        readiness: crate::readiness::ReadinessHandle::detached(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, settings, context));
    Harness {
        address,
        batches,
        shutdown,
        metrics,
        server,
    }
}

impl Harness {
    async fn next_batch(&self) -> Batch {
        timeout(DEADLINE, self.batches.recv())
            .await
            .expect("a batch within the deadline")
            .expect("the input is running")
    }

    /// The events of batches until `count` events arrived, as JSON without `@timestamp`.
    async fn events(&self, count: usize) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        while events.len() < count {
            let batch = self.next_batch().await;
            for event in &batch.events {
                let mut value = event.to_value();
                let object = value.as_object_mut().unwrap();
                assert!(object.remove("@timestamp").is_some());
                if !event.metadata().is_empty() {
                    object.insert(
                        "@metadata".into(),
                        serde_json::Value::Object(event.metadata().clone()),
                    );
                }
                events.push(value);
            }
        }
        events
    }
}

async fn wait_for(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test]
async fn lines_from_clients_become_events_with_the_client_address() {
    let harness = start(settings(CodecConfig::Line, 1024), 100, 4).await;
    let mut client = TcpStream::connect(harness.address).await.unwrap();
    let port = client.local_addr().unwrap().port();
    client.write_all(b"hello\nwor").await.unwrap();
    client.write_all(b"ld\n").await.unwrap();
    let events = harness.events(2).await;
    let source = json!({"input": {"tcp": {"source": {"ip": "127.0.0.1", "port": port}}}});
    assert_eq!(
        events,
        [
            json!({"message": "hello", "@metadata": source}),
            json!({"message": "world", "@metadata": source}),
        ]
    );
    assert!(
        wait_for(|| harness
            .metrics
            .extras()
            .iter()
            .any(|e| e.name == "tcp_connections_total"))
        .await
    );
    drop(client);
    harness.shutdown.cancel();
    timeout(DEADLINE, harness.server).await.unwrap().unwrap();
}

#[tokio::test]
async fn json_lines_decode_and_a_last_line_without_newline_is_kept_at_close() {
    let harness = start(settings(CodecConfig::JsonLines, 1024), 100, 4).await;
    let mut client = TcpStream::connect(harness.address).await.unwrap();
    client
        .write_all(b"{\"level\":\"info\",\"n\":1}\nnot json\n{\"n\":2}")
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let events: Vec<_> = harness
        .events(3)
        .await
        .into_iter()
        .map(|mut e| {
            e.as_object_mut().unwrap().remove("@metadata");
            e
        })
        .collect();
    assert_eq!(
        events,
        [
            json!({"level": "info", "n": 1}),
            json!({"message": "not json", "tags": ["_jsonparsefailure"]}),
            json!({"n": 2}),
        ]
    );
}

#[tokio::test]
async fn a_huge_line_is_cut_tagged_and_counted_and_the_next_line_is_whole() {
    let harness = start(settings(CodecConfig::Line, 1000), 100, 4).await;
    let mut client = TcpStream::connect(harness.address).await.unwrap();
    let mut data = vec![b'x'; 5 * 1024 * 1024];
    data.extend_from_slice(b"\nnext\n");
    client.write_all(&data).await.unwrap();
    let events = harness.events(2).await;
    assert_eq!(events[0]["message"].as_str().unwrap().len(), 1000);
    assert_eq!(events[0]["tags"], json!(["_line_truncated"]));
    assert_eq!(events[1]["message"], json!("next"));
    let truncated = harness
        .metrics
        .extras()
        .into_iter()
        .find(|e| e.name == "tcp_truncated_lines_total")
        .unwrap();
    assert!(matches!(truncated.value, ExtraValue::Counter(ref c) if c.get() == 1));
    assert_eq!(ComponentMetrics::get(&harness.metrics.errors), 1);
}

#[tokio::test]
async fn a_full_pipeline_stops_reading_and_nothing_is_lost() {
    // Two batches of ten lines fit in the queue; the client offers 400,000 lines (~16 MB),
    // far more than the socket buffers hold.
    let harness = start(settings(CodecConfig::Line, 1024), 10, 2).await;
    let mut client = TcpStream::connect(harness.address).await.unwrap();
    let total = 400_000usize;
    let writer = tokio::spawn(async move {
        for chunk in 0..total / 1000 {
            let mut data = String::new();
            for line in 0..1000 {
                data.push_str(&format!(
                    "line {:>08} {}\n",
                    chunk * 1000 + line,
                    "p".repeat(20)
                ));
            }
            client.write_all(data.as_bytes()).await.unwrap();
        }
        client.shutdown().await.unwrap();
    });
    // The queue fills, and then the input reads no more than what one read returned.
    assert!(wait_for(|| ComponentMetrics::get(&harness.metrics.events_out) == 20).await);
    let read_when_full = ComponentMetrics::get(&harness.metrics.bytes);
    assert!(read_when_full < 1024 * 1024, "read {read_when_full} bytes");
    assert!(!writer.is_finished(), "the client was not slowed down");
    // Draining the pipeline lets everything through, in order.
    let mut next = 0usize;
    while next < total {
        let batch = harness.next_batch().await;
        for event in &batch.events {
            let message = event.get_field("message").unwrap().as_str().unwrap();
            assert_eq!(&message[5..13], format!("{next:>08}"));
            next += 1;
        }
    }
    timeout(DEADLINE, writer).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_flushes_a_pending_multiline_event_and_waits_for_its_delivery() {
    let codec = CodecConfig::Multiline(Box::new(MultilineConfig {
        pattern: "^\\s".into(),
        what: What::Previous,
        negate: false,
        max_lines: 500,
        max_bytes: 1 << 20,
        auto_flush_interval: None,
        multiline_tag: "multiline".into(),
    }));
    let harness = start(settings(codec, 1024), 100, 4).await;
    let mut client = TcpStream::connect(harness.address).await.unwrap();
    let data = b"Error\n  at one\n  at two\n";
    client.write_all(data).await.unwrap();
    assert!(wait_for(|| ComponentMetrics::get(&harness.metrics.bytes) == data.len() as u64).await);
    harness.shutdown.cancel();
    let batch = harness.next_batch().await;
    assert_eq!(batch.events.len(), 1);
    assert_eq!(
        batch.events[0].get_field("message"),
        Some(&json!("Error\n  at one\n  at two"))
    );
    assert_eq!(
        batch.events[0].get_field("tags"),
        Some(&json!(["multiline"]))
    );
    // The input waits for the batch's receipt before it reports done.
    assert!(!harness.server.is_finished());
    drop(batch);
    timeout(DEADLINE, harness.server).await.unwrap().unwrap();
}
