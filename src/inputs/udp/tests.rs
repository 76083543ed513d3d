//! The udp input against real UDP datagrams, with the test playing the pipeline.

use super::*;
use crate::config::PipelineSettings;
use crate::inputs::BatchSender;
use crate::metrics::ComponentMetrics;
use crate::queue::QueueSettings;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(
    codec: CodecConfig,
) -> (
    SocketAddr,
    crate::queue::QueueReader,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let (tx, batches) = crate::queue::open(&QueueSettings::Memory { batches: 16 });
    let shutdown = CancellationToken::new();
    let context = InputContext {
        id: "udp".into(),
        output: BatchSender::new(tx),
        shutdown: shutdown.clone(),
        once: false,
        data_dir: std::env::temp_dir(),
        settings: PipelineSettings::default(),
        filters: false,
        metrics: Arc::new(ComponentMetrics::default()),
        readiness: crate::readiness::ReadinessHandle::detached(),
    };
    let settings = UdpInputConfig {
        host: "127.0.0.1".into(),
        port: 0,
        codec,
        buffer_size: 65_536,
        max_line_bytes: 1024,
    };
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let server = tokio::spawn(serve(socket, settings, context));
    (address, batches, shutdown, server)
}

async fn events(batches: &crate::queue::QueueReader, count: usize) -> Vec<Value> {
    let mut events = Vec::new();
    while events.len() < count {
        let batch = timeout(DEADLINE, batches.recv()).await.unwrap().unwrap();
        for event in &batch.events {
            let mut value = event.to_value();
            assert!(value
                .as_object_mut()
                .unwrap()
                .remove("@timestamp")
                .is_some());
            events.push(value);
        }
    }
    events
}

#[tokio::test]
async fn each_datagram_is_one_plain_event_with_the_sender_address() {
    let (address, batches, shutdown, server) = start(CodecConfig::Plain).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(b"<13>first\nsame event", address)
        .await
        .unwrap();
    client.send_to(b"second", address).await.unwrap();
    let host = json!({"ip": "127.0.0.1"});
    assert_eq!(
        events(&batches, 2).await,
        [
            json!({"message": "<13>first\nsame event", "host": host}),
            json!({"message": "second", "host": host}),
        ]
    );
    shutdown.cancel();
    timeout(DEADLINE, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn json_datagrams_decode_and_failures_are_tagged() {
    let (address, batches, shutdown, server) = start(CodecConfig::Json).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(br#"{"level":"warn"}"#, address)
        .await
        .unwrap();
    client.send_to(b"{broken", address).await.unwrap();
    let host = json!({"ip": "127.0.0.1"});
    assert_eq!(
        events(&batches, 2).await,
        [
            json!({"level": "warn", "host": host}),
            json!({"message": "{broken", "tags": ["_jsonparsefailure"], "host": host}),
        ]
    );
    shutdown.cancel();
    timeout(DEADLINE, server).await.unwrap().unwrap();
}
