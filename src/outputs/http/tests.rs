//! The http output against a real HTTP server double (hyper on a loopback port) that records
//! every request and answers from a script: statuses, or a connection closed without an
//! answer.

use super::*;
use crate::event::{ack_channel, AckReceiver, AckSender, Batch, BatchStatus};
use crate::metrics::{ComponentMetrics, ExtraValue};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Close the connection without answering.
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: hyper::HeaderMap,
    body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Answer>,
    /// Answer with this once the script is used up (200 by default).
    then: Option<u16>,
    seen: Vec<Seen>,
}

struct Double {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Double {
    async fn start(script: Vec<Answer>, then: Option<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            then,
            seen: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let state = state.clone();
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.unwrap().to_bytes();
                                let mut state = state.lock().unwrap();
                                state.seen.push(Seen {
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_string(),
                                    headers: parts.headers,
                                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                });
                                let answer = state
                                    .script
                                    .pop_front()
                                    .unwrap_or(Answer::Status(state.then.unwrap_or(200)));
                                match answer {
                                    Answer::Status(status) => Ok(hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from(format!("answer {status}"))))
                                        .unwrap()),
                                    Answer::Hang => Err("closing the connection without an answer"),
                                }
                            }
                        });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

struct Running {
    deliveries: mpsc::Sender<Delivery>,
    acks: AckReceiver,
    ack_sender: AckSender,
    metrics: Arc<ComponentMetrics>,
    abort: CancellationToken,
    _dir: tempfile::TempDir,
    dead_letters: PathBuf,
    batches: u64,
}

/// The pipeline file's first output's settings, and the context to build it with.
fn load(pipeline: &std::path::Path) -> (crate::pipeline::Config, BuildContext, HttpOutputConfig) {
    let config = crate::pipeline::load(pipeline).unwrap();
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(crate::metrics::Registry::default()),
    };
    let crate::outputs::OutputConfig::Http(settings) = &config.outputs[0].config else {
        panic!("not an http output")
    };
    let settings = (**settings).clone();
    (config, context, settings)
}

/// Loads `[outputs.out]` settings through the real loader, builds and runs the output.
async fn start(settings: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n\n[outputs.out]\ntype = \"http\"\nretry_initial_backoff = \"10ms\"\nretry_max_backoff = \"20ms\"\n{settings}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let (config, context, settings) = load(&pipeline);
    let output = HttpOutput::build(&settings, &context).unwrap();
    let (deliveries, receiver) = mpsc::channel(4);
    let metrics = Arc::new(ComponentMetrics::default());
    let abort = CancellationToken::new();
    let output_context = OutputContext {
        id: "out".into(),
        condition: None,
        abort: abort.clone(),
        metrics: metrics.clone(),
        readiness: crate::readiness::ReadinessHandle::detached(),
    };
    tokio::spawn(async move { output.run(receiver, output_context).await.unwrap() });
    let (ack_sender, acks) = ack_channel();
    Running {
        deliveries,
        acks,
        ack_sender,
        metrics,
        abort,
        dead_letters: config.data_dir.join("dead_letter").join("out.ndjson"),
        _dir: dir,
        batches: 0,
    }
}

impl Running {
    /// Sends one batch and returns how the output settled it.
    async fn deliver(&mut self, events: Vec<Value>) -> BatchStatus {
        self.batches += 1;
        let events = events.into_iter().map(Event::from_value).collect();
        let batch = Batch::new(events, Some(self.ack_sender.token(self.batches)));
        self.deliveries
            .send(Delivery::new(Arc::new(batch)))
            .await
            .unwrap();
        timeout(DEADLINE, self.acks.recv())
            .await
            .expect("settled within the deadline")
            .unwrap()
            .status
    }

    fn counter(&self, name: &str) -> u64 {
        self.metrics
            .extras()
            .into_iter()
            .find_map(|extra| match extra.value {
                ExtraValue::Counter(counter) if extra.name == name => Some(counter.get()),
                _ => None,
            })
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn each_event_is_posted_with_its_mapping_url_and_headers() {
    let double = Double::start(vec![], None).await;
    let mut output = start(&format!(
        "url = \"{}/alerts/%{{level}}\"\nheaders = {{ X-Service = \"%{{[fields][service]}}\" }}\n[outputs.out.mapping]\ntext = \"MQTT Alert: %{{message}}\"\nchannel = \"#mqtt-alerts\"\nusername = \"LogstashBot\"\n",
        double.url()
    ))
    .await;
    let status = output
        .deliver(vec![
            json!({"message": "broker down", "level": "error", "fields": {"service": "mqtt"}}),
            json!({"message": "login failed", "level": "warn", "fields": {"service": "auth"}}),
        ])
        .await;
    assert_eq!(status, BatchStatus::Delivered);
    let seen = double.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/alerts/error")
    );
    assert_eq!(seen[1].path, "/alerts/warn");
    assert_eq!(
        seen[0].body,
        json!({"text": "MQTT Alert: broker down", "channel": "#mqtt-alerts", "username": "LogstashBot"})
    );
    assert_eq!(seen[1].headers["x-service"], "auth");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(ComponentMetrics::get(&output.metrics.events_out), 2);
}

#[tokio::test]
async fn json_batch_sends_one_array_per_batch_with_put() {
    let double = Double::start(vec![], None).await;
    let mut output = start(&format!(
        "url = \"{}/bulk\"\nformat = \"json_batch\"\nhttp_method = \"put\"\n",
        double.url()
    ))
    .await;
    let events = vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})];
    assert_eq!(output.deliver(events.clone()).await, BatchStatus::Delivered);
    let seen = double.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].body, json!(events));
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_until_delivered() {
    let double = Double::start(
        vec![Answer::Status(503), Answer::Hang, Answer::Status(429)],
        None,
    )
    .await;
    let mut output = start(&format!("url = \"{}/x\"\n", double.url())).await;
    assert_eq!(
        output.deliver(vec![json!({"n": 1})]).await,
        BatchStatus::Delivered
    );
    assert_eq!(double.seen().len(), 4);
    assert!(double.seen().iter().all(|s| s.body == json!({"n": 1})));
    assert_eq!(output.counter("http_retries_total"), 3);
    assert_eq!(ComponentMetrics::get(&output.metrics.events_out), 1);
    assert_eq!(ComponentMetrics::get(&output.metrics.events_failed), 0);
}

#[tokio::test]
async fn a_final_refusal_goes_to_the_dead_letter_file_and_the_batch_is_settled() {
    let double = Double::start(vec![Answer::Status(400)], None).await;
    let mut output = start(&format!("url = \"{}/x\"\n", double.url())).await;
    let status = output
        .deliver(vec![json!({"bad": true}), json!({"good": true})])
        .await;
    assert_eq!(status, BatchStatus::Delivered);
    assert_eq!(double.seen().len(), 2, "400 is not retried");
    let letters: Vec<Value> = std::fs::read_to_string(&output.dead_letters)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["status"], json!(400));
    assert_eq!(letters[0]["event"], json!({"bad": true}));
    assert_eq!(letters[0]["error"]["reason"], json!("HTTP 400: answer 400"));
    assert_eq!(ComponentMetrics::get(&output.metrics.events_failed), 1);
    assert_eq!(ComponentMetrics::get(&output.metrics.events_out), 1);
}

#[tokio::test]
async fn max_retries_ends_in_the_dead_letter_file() {
    let double = Double::start(vec![], Some(500)).await;
    let mut output = start(&format!("url = \"{}/x\"\nmax_retries = 2\n", double.url())).await;
    assert_eq!(
        output.deliver(vec![json!({"n": 1})]).await,
        BatchStatus::Delivered
    );
    assert_eq!(double.seen().len(), 3);
    let letter: Value = serde_json::from_str(
        std::fs::read_to_string(&output.dead_letters)
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert_eq!(letter["error"]["type"], json!("retries_exhausted"));
    assert_eq!(letter["event"], json!({"n": 1}));
}

#[tokio::test]
async fn a_forced_shutdown_while_retrying_fails_the_batch() {
    let double = Double::start(vec![], Some(503)).await;
    let mut output = start(&format!("url = \"{}/x\"\n", double.url())).await;
    output.batches += 1;
    let batch = Batch::new(
        vec![Event::from_value(json!({"n": 1}))],
        Some(output.ack_sender.token(output.batches)),
    );
    output
        .deliveries
        .send(Delivery::new(Arc::new(batch)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while double.seen().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the output did not retry"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    output.abort.cancel();
    let receipt = timeout(DEADLINE, output.acks.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.status, BatchStatus::Failed);
    assert!(!output.dead_letters.exists());
}

#[tokio::test]
async fn bad_settings_are_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        "[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"http\"\nurl = \"not a url\"\nheaders = { \"bad header\" = \"x\" }\n",
    )
    .unwrap();
    let (_config, context, settings) = load(&pipeline);
    let errors = HttpOutput::build(&settings, &context).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].message.contains("not a URL"));
    assert!(errors[1].message.contains("bad header"));
}
