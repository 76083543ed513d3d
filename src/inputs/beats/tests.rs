//! The server against raw TCP clients, with the test playing the pipeline: it receives the
//! batches, inspects them, and decides when (and whether) each one is delivered.

use super::config::{EventShape, Settings};
use super::connection::Shared;
use super::frame::encode::{compressed, data, json, window, zlib};
use super::frame::Limits;
use super::tls::Tls;
use super::{server, BeatsInputError, JSON_PARSE_FAILURE_TAG};
use crate::event::{Batch, Event};
use crate::inputs::{BatchSender, InputContext};
use crate::metrics::ComponentMetrics;
use crate::queue::QueueReader;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);
const KEEPALIVE: Duration = Duration::from_millis(100);

fn test_settings() -> Settings {
    Settings {
        address: "127.0.0.1:0".parse().unwrap(),
        keepalive_interval: KEEPALIVE,
        idle_timeout: Duration::from_secs(30),
        max_window_size: 100,
        max_frame_bytes: 64 * 1024,
        max_decompressed_bytes: 64 * 1024,
        max_connections: 8,
        shape: EventShape::default(),
    }
}

struct Harness {
    address: SocketAddr,
    batches: QueueReader,
    shutdown: CancellationToken,
    metrics: Arc<ComponentMetrics>,
    server: JoinHandle<Result<(), BeatsInputError>>,
}

/// Starts the server on a free port; the pipeline cuts batches of `batch_size` events.
async fn start(settings: Settings, batch_size: usize) -> Harness {
    start_with_tls(settings, batch_size, None).await
}

/// [`start`], with clients speaking TLS when `tls` is given.
async fn start_with_tls(settings: Settings, batch_size: usize, tls: Option<Tls>) -> Harness {
    let (tx, batches) = crate::queue::open_memory(16);
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(ComponentMetrics::default());
    let context = InputContext::for_tests(
        "beats",
        BatchSender::new(tx),
        shutdown.clone(),
        batch_size,
        metrics.clone(),
    );
    let listener = server::bind(settings.address).await.unwrap();
    let address = listener.local_addr().unwrap();
    let shared = Shared {
        limits: Limits {
            max_window_size: settings.max_window_size,
            max_frame_bytes: settings.max_frame_bytes,
        },
        settings,
        tls,
        metrics: super::metrics::BeatsMetrics::register(&context.metrics),
        context,
    };
    let server = tokio::spawn(server::serve(listener, Arc::new(shared)));
    Harness {
        address,
        batches,
        shutdown,
        metrics,
        server,
    }
}

impl Harness {
    /// The next batch the server hands to the pipeline, with its events built.
    async fn next_batch(&self) -> Batch {
        crate::inputs::next_batch(&self.batches, DEADLINE).await
    }
}

fn messages(batch: &Batch) -> Vec<String> {
    batch
        .events
        .iter()
        .map(|e: &Event| {
            e.get_field("message")
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn event_json(message: &str) -> Vec<u8> {
    json!({"@timestamp": "2024-05-01T12:00:00.000Z", "message": message})
        .to_string()
        .into_bytes()
}

/// A window of `messages` numbered from `first_seq`, as plain `J` frames.
fn plain_window(first_seq: u32, messages: &[&str]) -> Vec<u8> {
    let mut out = window(messages.len() as u32);
    for (i, message) in messages.iter().enumerate() {
        out.extend(json(first_seq + i as u32, &event_json(message)));
    }
    out
}

/// The same window inside one zlib `C` frame, the way Filebeat sends it.
fn compressed_window(first_seq: u32, messages: &[&str]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        inner.extend(json(first_seq + i as u32, &event_json(message)));
    }
    let mut out = window(messages.len() as u32);
    out.extend(compressed(&inner));
    out
}

/// What the client saw: ACK sequence numbers (0 = keep-alive), and whether the server closed.
#[derive(Debug, Default)]
struct Received {
    acks: Vec<u32>,
    closed: bool,
}

impl Received {
    fn final_acks(&self) -> Vec<u32> {
        self.acks.iter().copied().filter(|&a| a != 0).collect()
    }
}

/// Reads ACKs until `until` holds, the server closes, or `limit` passes.
async fn read_acks<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
    until: impl Fn(&Received) -> bool,
) -> Received {
    let deadline = Instant::now() + limit;
    let mut received = Received::default();
    let mut pending = Vec::new();
    while !until(&received) {
        let mut buf = [0u8; 64];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                received.closed = true;
                break;
            }
            Ok(Ok(n)) => {
                pending.extend_from_slice(&buf[..n]);
                while pending.len() >= 6 {
                    let ack: Vec<u8> = pending.drain(..6).collect();
                    assert_eq!(&ack[..2], b"2A", "not an ACK: {ack:?}");
                    received
                        .acks
                        .push(u32::from_be_bytes([ack[2], ack[3], ack[4], ack[5]]));
                }
            }
        }
    }
    received
}

/// Polls `condition` until it holds or the deadline passes.
async fn wait_for(condition: impl Fn() -> bool) -> bool {
    crate::inputs::poll_until(DEADLINE, condition).await
}

async fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address).await.unwrap()
}

#[tokio::test]
async fn a_window_is_acked_with_its_last_seq_only_once_every_batch_is_delivered() {
    let harness = start(test_settings(), 2).await;
    let mut client = connect(harness.address).await;
    client
        .write_all(&plain_window(1, &["a", "b", "c"]))
        .await
        .unwrap();
    let first = harness.next_batch().await;
    let second = harness.next_batch().await;
    assert_eq!(messages(&first), ["a", "b"]);
    assert_eq!(messages(&second), ["c"]);
    drop(second);
    // One batch is still in the pipeline: only keep-alives may arrive meanwhile.
    let waiting = read_acks(&mut client, DEADLINE, |r| r.acks.len() >= 2).await;
    assert_eq!(
        waiting.acks,
        [0, 0],
        "keep-alives while the window is pending"
    );
    drop(first);
    let done = read_acks(&mut client, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(done.final_acks(), [3]);
    assert_eq!(harness.metrics.events_in.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn compressed_windows_and_sequences_counting_across_windows_are_acked_as_received() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    // pylogbeat keeps counting across windows; an empty window is answered with ACK 0.
    let mut stream = compressed_window(1, &["a", "b"]);
    stream.extend(window(0));
    stream.extend(compressed_window(3, &["c"]));
    client.write_all(&stream).await.unwrap();
    assert_eq!(messages(&harness.next_batch().await), ["a", "b"]);
    assert_eq!(messages(&harness.next_batch().await), ["c"]);
    let received = read_acks(&mut client, DEADLINE, |r| r.final_acks().len() >= 2).await;
    assert_eq!(received.final_acks(), [2, 3]);
    assert!(
        received.acks.contains(&0),
        "the empty window is acked with 0"
    );
}

#[tokio::test]
async fn pipelined_windows_are_acked_in_window_order() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    let mut stream = plain_window(1, &["a", "b"]);
    stream.extend(plain_window(1, &["c"]));
    client.write_all(&stream).await.unwrap();
    let first = harness.next_batch().await;
    let second = harness.next_batch().await;
    drop(second);
    let early = read_acks(&mut client, DEADLINE, |r| r.acks.len() >= 2).await;
    assert!(
        early.final_acks().is_empty(),
        "the second window must wait for the first: {early:?}"
    );
    drop(first);
    let received = read_acks(&mut client, DEADLINE, |r| r.final_acks().len() >= 2).await;
    assert_eq!(received.final_acks(), [2, 1]);
}

#[tokio::test]
async fn a_failed_batch_closes_the_connection_without_an_ack() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    client.write_all(&plain_window(1, &["a"])).await.unwrap();
    let batch = harness.next_batch().await;
    if let Some(token) = batch.token() {
        token.mark_failed();
    }
    drop(batch);
    let received = read_acks(&mut client, DEADLINE, |_| false).await;
    assert!(received.closed, "{received:?}");
    assert!(received.final_acks().is_empty(), "{received:?}");
}

#[tokio::test]
async fn events_keep_filebeat_shape_with_metadata_and_peer_ip_moved_aside() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    let event = json!({
        "@timestamp": "2024-05-01T14:00:00.5+02:00",
        "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.1.3"},
        "message": "hello",
        "log": {"offset": 7, "file": {"path": "/var/log/app.log"}},
    });
    let mut stream = window(3);
    stream.extend(json(1, event.to_string().as_bytes()));
    stream.extend(json(2, b"{this is not json"));
    stream.extend(data(3, &[("line", "legacy"), ("host", "gw-1")]));
    client.write_all(&stream).await.unwrap();
    let batch = harness.next_batch().await;
    let events = &batch.events;
    assert_eq!(
        events[0].to_value(),
        json!({"@timestamp": "2024-05-01T12:00:00.500Z", "message": "hello",
               "log": {"offset": 7, "file": {"path": "/var/log/app.log"}},
               "event": {"original": "hello"}, "tags": ["beats_input_codec_plain_applied"]})
    );
    assert_eq!(
        serde_json::Value::Object(events[0].metadata().clone()),
        json!({"beat": "filebeat", "type": "_doc", "version": "8.1.3",
               "input": {"beats": {"host": {"ip": "127.0.0.1"}}}})
    );
    assert!(events[1].has_tag(JSON_PARSE_FAILURE_TAG));
    assert_eq!(
        events[1].get_field("message"),
        Some(&json!("{this is not json"))
    );
    assert_eq!(events[2].get_field("message"), Some(&json!("legacy")));
    drop(batch);
    // The unparsable event does not hold the window back: it is acknowledged.
    let received = read_acks(&mut client, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(received.final_acks(), [3]);
}

/// A zlib stream that inflates to 10 MB of zeros (about 10 KB compressed).
fn zlib_bomb() -> Vec<u8> {
    let bomb = zlib(&vec![0u8; 10 << 20]);
    let mut out = window(1);
    out.extend_from_slice(b"2C");
    out.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    out.extend_from_slice(&bomb);
    out
}

#[tokio::test]
async fn malformed_streams_close_only_their_connection_and_are_counted() {
    let harness = start(test_settings(), 100).await;
    let mut huge_length = window(1);
    huge_length.extend_from_slice(b"2J\0\0\0\x01\xff\xff\xff\xff");
    let nested = {
        let mut out = window(1);
        out.extend(compressed(&compressed(&json(1, b"{}"))));
        out
    };
    let mut interrupted = window(2);
    interrupted.extend(json(1, b"{}"));
    interrupted.extend(window(1));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("bad version", b"3W\0\0\0\x01".to_vec()),
        ("unknown type", b"2Q\0\0\0\x01".to_vec()),
        ("window too large", window(101)),
        ("huge declared length", huge_length),
        ("zlib bomb", zlib_bomb()),
        ("nested compressed frame", nested),
        ("corrupt zlib", {
            let mut out = window(1);
            out.extend_from_slice(b"2C\0\0\0\x05hello");
            out
        }),
        ("data frame outside a window", json(1, b"{}")),
        ("window interrupted", interrupted),
    ];
    // A well-behaved client keeps being served throughout.
    let mut good = connect(harness.address).await;
    for (round, (name, bytes)) in cases.iter().enumerate() {
        let mut bad = connect(harness.address).await;
        bad.write_all(bytes).await.unwrap();
        let received = read_acks(&mut bad, DEADLINE, |_| false).await;
        assert!(received.closed, "{name}: connection left open");
        assert!(received.final_acks().is_empty(), "{name}: {received:?}");
        let counted =
            wait_for(|| harness.metrics.errors.load(Ordering::Relaxed) > round as u64).await;
        assert!(counted, "{name}: error not counted");
        assert_eq!(
            harness.metrics.errors.load(Ordering::Relaxed),
            round as u64 + 1,
            "{name}: exactly one error counted"
        );

        let seq = round as u32 + 1;
        good.write_all(&compressed_window(seq, &[name]))
            .await
            .unwrap();
        assert_eq!(messages(&harness.next_batch().await), [*name]);
        let acked = read_acks(&mut good, DEADLINE, |r| !r.final_acks().is_empty()).await;
        assert_eq!(acked.final_acks(), [seq], "{name}: good client served");
    }
}

#[tokio::test]
async fn an_idle_client_is_disconnected() {
    let settings = Settings {
        idle_timeout: Duration::from_millis(200),
        ..test_settings()
    };
    let harness = start(settings, 100).await;
    let mut client = connect(harness.address).await;
    let received = read_acks(&mut client, DEADLINE, |_| false).await;
    assert!(received.closed);
    assert_eq!(harness.metrics.errors.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn clients_beyond_max_connections_wait_for_a_free_slot() {
    let settings = Settings {
        max_connections: 1,
        ..test_settings()
    };
    let harness = start(settings, 100).await;
    let mut first = connect(harness.address).await;
    first.write_all(&plain_window(1, &["first"])).await.unwrap();
    assert_eq!(messages(&harness.next_batch().await), ["first"]);
    let mut second = connect(harness.address).await;
    second
        .write_all(&plain_window(1, &["second"]))
        .await
        .unwrap();
    let waiting = timeout(Duration::from_millis(300), harness.batches.recv()).await;
    assert!(waiting.is_err(), "the second client must wait for a slot");
    drop(first);
    assert_eq!(messages(&harness.next_batch().await), ["second"]);
    let received = read_acks(&mut second, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(received.final_acks(), [1]);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_pending_windows_finish() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    client.write_all(&plain_window(1, &["a"])).await.unwrap();
    let batch = harness.next_batch().await;
    harness.shutdown.cancel();
    // The listener closes while the connection still waits for its window.
    let refused = async {
        loop {
            if TcpStream::connect(harness.address).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(DEADLINE, refused)
        .await
        .expect("the listener closes on shutdown");
    assert!(!harness.server.is_finished());
    drop(batch);
    let received = read_acks(&mut client, DEADLINE, |r| r.closed).await;
    assert_eq!(received.final_acks(), [1]);
    timeout(DEADLINE, harness.server)
        .await
        .expect("the server returns after its connections drained")
        .unwrap()
        .unwrap();
}

fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/beats/tls")
        .join(name)
}

fn server_tls(client_ca: bool) -> Tls {
    server_tls_with(client_ca.then_some(true))
}

/// `verify_clients`: `None` no client certificates, `Some(required)` checked against the CA.
fn server_tls_with(verify_clients: Option<bool>) -> Tls {
    let ca = tls_fixture("ca.pem");
    super::tls::acceptor(
        &tls_fixture("server.pem"),
        &tls_fixture("server.key"),
        verify_clients.map(|required| (ca.as_path(), required)),
    )
    .unwrap()
}

/// Connects with TLS, trusting the test CA, presenting `client` (`client`, `rogue`) if given.
async fn tls_connect(
    address: SocketAddr,
    client: Option<&str>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let certificates = |name: &str| {
        let pem = std::fs::read(tls_fixture(name)).unwrap();
        CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    };
    let mut roots = RootCertStore::empty();
    for certificate in certificates("ca.pem") {
        roots.add(certificate).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let key = std::fs::read(tls_fixture(&format!("{name}.key"))).unwrap();
            builder
                .with_client_auth_cert(
                    certificates(&format!("{name}.pem")),
                    PrivateKeyDer::from_pem_slice(&key).unwrap(),
                )
                .unwrap()
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

#[tokio::test]
async fn tls_clients_are_served_and_acked() {
    let harness = start_with_tls(test_settings(), 100, Some(server_tls(false))).await;
    let mut client = tls_connect(harness.address, None).await.unwrap();
    client
        .write_all(&compressed_window(1, &["over tls"]))
        .await
        .unwrap();
    assert_eq!(messages(&harness.next_batch().await), ["over tls"]);
    let received = read_acks(&mut client, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(received.final_acks(), [1]);
}

#[tokio::test]
async fn plaintext_clients_are_refused_by_a_tls_server() {
    let harness = start_with_tls(test_settings(), 100, Some(server_tls(false))).await;
    let mut client = connect(harness.address).await;
    client
        .write_all(&plain_window(1, &["plain"]))
        .await
        .unwrap();
    // The answer is a TLS alert record, never an ACK, and then the connection closes.
    let mut answer = Vec::new();
    timeout(DEADLINE, client.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    assert_eq!(answer.first(), Some(&21), "a TLS alert: {answer:?}");
    assert!(!answer.windows(2).any(|w| w == b"2A"), "{answer:?}");
    assert!(wait_for(|| harness.metrics.errors.load(Ordering::Relaxed) == 1).await);
    assert!(harness.batches.is_empty());
}

#[tokio::test]
async fn client_certificates_signed_by_the_client_ca_are_required() {
    let harness = start_with_tls(test_settings(), 100, Some(server_tls(true))).await;
    let mut trusted = tls_connect(harness.address, Some("client")).await.unwrap();
    trusted
        .write_all(&compressed_window(1, &["trusted"]))
        .await
        .unwrap();
    assert_eq!(messages(&harness.next_batch().await), ["trusted"]);
    let received = read_acks(&mut trusted, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(received.final_acks(), [1]);

    for (round, client) in [None, Some("rogue")].into_iter().enumerate() {
        // With TLS 1.3 the client may only learn of the refusal when it reads.
        if let Ok(mut refused) = tls_connect(harness.address, client).await {
            let _ = refused.write_all(&plain_window(1, &["refused"])).await;
            let received = read_acks(&mut refused, DEADLINE, |_| false).await;
            assert!(
                received.closed && received.acks.is_empty(),
                "{client:?}: {received:?}"
            );
        }
        let counted =
            wait_for(|| harness.metrics.errors.load(Ordering::Relaxed) > round as u64).await;
        assert!(counted, "{client:?}: the refused handshake is counted");
    }
    assert!(harness.batches.is_empty(), "nothing from refused clients");
}

#[tokio::test]
async fn optional_client_authentication_serves_clients_without_a_certificate_but_refuses_bad_ones()
{
    let harness = start_with_tls(test_settings(), 100, Some(server_tls_with(Some(false)))).await;
    // Kept open until the end: only the rogue client's refusal may count as an error.
    let mut open = Vec::new();
    for (name, client) in [("anonymous", None), ("trusted", Some("client"))] {
        let mut connection = tls_connect(harness.address, client).await.unwrap();
        connection
            .write_all(&compressed_window(1, &[name]))
            .await
            .unwrap();
        assert_eq!(messages(&harness.next_batch().await), [name]);
        let received = read_acks(&mut connection, DEADLINE, |r| !r.final_acks().is_empty()).await;
        assert_eq!(received.final_acks(), [1], "{name}");
        open.push(connection);
    }
    // A certificate that is presented must still be signed by the client CA.
    if let Ok(mut rogue) = tls_connect(harness.address, Some("rogue")).await {
        let _ = rogue.write_all(&plain_window(1, &["rogue"])).await;
        let received = read_acks(&mut rogue, DEADLINE, |_| false).await;
        assert!(received.closed && received.acks.is_empty(), "{received:?}");
    }
    let counted = wait_for(|| harness.metrics.errors.load(Ordering::Relaxed) == 1).await;
    assert!(
        counted,
        "errors: {}",
        harness.metrics.errors.load(Ordering::Relaxed)
    );
    assert!(harness.batches.is_empty(), "nothing from the rogue client");
    drop(open);
}

#[tokio::test]
async fn a_window_waiting_for_the_pipeline_outlives_the_idle_timeout() {
    let settings = Settings {
        idle_timeout: Duration::from_millis(300),
        ..test_settings()
    };
    let harness = start(settings, 100).await;
    let mut client = connect(harness.address).await;
    client.write_all(&plain_window(1, &["slow"])).await.unwrap();
    let batch = harness.next_batch().await;
    // Far longer than the idle timeout: the client only receives keep-alives meanwhile.
    let waiting = read_acks(&mut client, DEADLINE, |r| r.acks.len() >= 10).await;
    assert!(!waiting.closed, "closed while a window was pending");
    assert_eq!(waiting.acks, [0; 10]);
    drop(batch);
    let received = read_acks(&mut client, DEADLINE, |r| !r.final_acks().is_empty()).await;
    assert_eq!(received.final_acks(), [1]);
    // With nothing pending any more, the idle timeout applies again.
    let idle = read_acks(&mut client, DEADLINE, |_| false).await;
    assert!(idle.closed);
}

#[tokio::test]
async fn protocol_v1_windows_are_acked_with_a_v1_ack() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    let mut stream = b"1W\0\0\0\x02".to_vec();
    stream.extend(data(1, &[("line", "one")]));
    stream.extend(data(2, &[("line", "two")]));
    client.write_all(&stream).await.unwrap();
    assert_eq!(messages(&harness.next_batch().await), ["one", "two"]);
    let mut ack = [0u8; 6];
    loop {
        timeout(DEADLINE, client.read_exact(&mut ack))
            .await
            .expect("an ACK within the deadline")
            .unwrap();
        if ack[2..] != [0, 0, 0, 0] {
            break;
        }
    }
    assert_eq!(ack, *b"1A\0\0\0\x02");
}

#[tokio::test]
async fn a_stream_trickled_byte_by_byte_decodes_like_one_write() {
    let harness = start(test_settings(), 100).await;
    let mut client = connect(harness.address).await;
    client.set_nodelay(true).unwrap();
    let mut stream = compressed_window(1, &["a", "b"]);
    stream.extend(plain_window(3, &["c"]));
    for byte in &stream {
        client.write_all(std::slice::from_ref(byte)).await.unwrap();
    }
    assert_eq!(messages(&harness.next_batch().await), ["a", "b"]);
    assert_eq!(messages(&harness.next_batch().await), ["c"]);
    let received = read_acks(&mut client, DEADLINE, |r| r.final_acks().len() >= 2).await;
    assert_eq!(received.final_acks(), [2, 3]);
}
