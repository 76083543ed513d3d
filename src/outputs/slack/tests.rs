//! Unit tests of the Slack output's parts, and of the whole output over a scripted transport
//! with tokio's paused clock (so rate limits, Retry-After and backoff are checked to the
//! millisecond without waiting for them).

use super::client::{classify, Answer, TransientReason, Transport};
use super::coalesce::{Outgoing, Pending, Queued, MAX_GROUPS};
use super::config::{SlackConfig, WebhookUrl};
use super::dedupe::Deduper;
use super::limiter::TokenBucket;
use super::message::{Alert, Message, Renderer};
use super::run_with;
use crate::event::{ack_channel, AckReceiver, Batch, BatchStatus, Delivery, Event};
use crate::metrics::ComponentMetrics;
use crate::outputs::OutputContext;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "XXsecretTOKEN42";

fn config(extra: &str) -> SlackConfig {
    let text =
        format!("webhook_url = \"https://hooks.slack.com/services/T000/B000/{SECRET}\"\n{extra}");
    let table: toml_edit::DocumentMut = text.parse().unwrap();
    let value = toml_edit::Value::InlineTable(table.as_table().clone().into_inline_table());
    crate::config::settings(value).unwrap()
}

fn alert(group: &str, text: &str) -> Alert {
    Alert {
        group: group.to_string(),
        message: Message {
            text: text.to_string(),
            blocks: None,
        },
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- limiter -------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_bucket_allows_the_burst_then_one_per_interval() {
    let start = Instant::now();
    let mut bucket = TokenBucket::new(3, ms(1000), start);
    assert_eq!(bucket.try_take(start), Some(2));
    assert_eq!(bucket.try_take(start), Some(1));
    assert_eq!(bucket.try_take(start), Some(0));
    assert_eq!(bucket.try_take(start), None);
    assert_eq!(bucket.ready_at(), start + ms(1000));
    assert_eq!(bucket.try_take(start + ms(999)), None);
    assert_eq!(bucket.try_take(start + ms(1000)), Some(0));
    assert_eq!(bucket.ready_at(), start + ms(2000));
    // Idle for a long time: full again, but never more than the burst.
    let later = start + ms(60_000);
    assert_eq!(bucket.try_take(later), Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_pause_blocks_until_retry_after_then_grants_one_at_a_time() {
    let start = Instant::now();
    let mut bucket = TokenBucket::new(3, ms(1000), start);
    bucket.pause_until(start + ms(5000));
    assert_eq!(bucket.try_take(start + ms(4999)), None);
    assert_eq!(bucket.try_take(start + ms(5000)), Some(0));
    assert_eq!(bucket.ready_at(), start + ms(6000));
}

// ---- dedupe --------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn duplicates_within_the_window_are_seen_once() {
    let start = Instant::now();
    let mut dedupe = Deduper::new(ms(10_000), 100);
    assert!(dedupe.first_sighting("a", start));
    assert!(!dedupe.first_sighting("a", start + ms(9_999)));
    assert!(dedupe.first_sighting("b", start + ms(1)));
    assert!(
        dedupe.first_sighting("a", start + ms(10_000)),
        "window over"
    );
    assert!(!dedupe.first_sighting("b", start + ms(10_000)));
    assert!(!dedupe.first_sighting("a", start + ms(10_001)));
    assert!(dedupe.first_sighting("b", start + ms(10_001)));
}

#[tokio::test(start_paused = true)]
async fn dedupe_memory_is_capped_by_forgetting_the_oldest() {
    let start = Instant::now();
    let mut dedupe = Deduper::new(ms(60_000), 3);
    for key in ["a", "b", "c", "d"] {
        assert!(dedupe.first_sighting(key, start));
    }
    assert_eq!(dedupe.remembered(), 3);
    assert_eq!(dedupe.evicted_early(), 1);
    assert!(
        dedupe.first_sighting("a", start),
        "the oldest was forgotten"
    );
    assert!(!dedupe.first_sighting("d", start));
    let mut off = Deduper::new(Duration::ZERO, 3);
    assert!(off.first_sighting("a", start) && off.first_sighting("a", start));
}

// ---- coalescing ----------------------------------------------------------------------------

#[test]
fn alerts_go_one_by_one_while_tokens_remain_and_the_last_token_carries_a_summary() {
    let mut pending = Pending::new(100, 2);
    for i in 0..5 {
        let group = if i % 2 == 0 {
            "security/high"
        } else {
            "-/high"
        };
        assert_eq!(pending.push(alert(group, &format!("a{i}"))), Queued::Whole);
    }
    assert_eq!(
        pending.take(2),
        Some(Outgoing::One(alert("security/high", "a0")))
    );
    assert_eq!(pending.take(1), Some(Outgoing::One(alert("-/high", "a1"))));
    let Some(Outgoing::Summary(summary)) = pending.take(0) else {
        panic!("expected a summary");
    };
    assert_eq!(summary.total, 3);
    assert_eq!(
        summary.groups,
        vec![("security/high".to_string(), 2), ("-/high".to_string(), 1)]
    );
    assert_eq!(summary.samples, vec!["a2", "a3"]);
    assert!(pending.is_empty());
    assert_eq!(pending.take(0), None);
    pending.push(alert("g", "lonely"));
    assert_eq!(pending.take(0), Some(Outgoing::One(alert("g", "lonely"))));
}

#[test]
fn a_full_queue_keeps_counts_only_and_bounds_the_kinds() {
    let mut pending = Pending::new(2, 3);
    assert_eq!(pending.push(alert("k0", "t")), Queued::Whole);
    assert_eq!(pending.push(alert("k0", "t")), Queued::Whole);
    for i in 0..(MAX_GROUPS + 10) {
        assert_eq!(
            pending.push(alert(&format!("k{i}"), "t")),
            Queued::CountedOnly
        );
    }
    assert_eq!(pending.len(), (MAX_GROUPS + 12) as u64);
    let Some(Outgoing::Summary(summary)) = pending.take(0) else {
        panic!("expected a summary");
    };
    let counted: u64 = summary.groups.iter().map(|(_, n)| n).sum::<u64>() + summary.other;
    assert_eq!(counted, summary.total);
    assert_eq!(summary.total, (MAX_GROUPS + 12) as u64);
    assert_eq!(summary.groups[0], ("k0".to_string(), 3));
    assert!(summary.groups.len() <= MAX_GROUPS && summary.other > 0);
}

// ---- messages ------------------------------------------------------------------------------

fn seed_event() -> Event {
    Event::from_value(json!({
        "@timestamp": "2024-05-01T10:00:00.000Z",
        "message": "Unauthorized <!channel> & co",
        "severity": "high",
        "alert_type": "security",
        "topic_device": "dev 7",
        "details": {"topic": "sensors/dev 7/temp"},
        "event": "auth_failed",
    }))
}

#[test]
fn defaults_compile_and_render_the_seed_text_escaped() {
    let config = config("");
    assert_eq!(config.text.source(), "MQTT Alert: %{message}");
    assert!(!config.group_by.is_static() && !config.dedupe_key.is_static());
    assert!(config.fields.iter().all(|f| !f.value.is_static()));
    let renderer = Renderer::new(&config);
    let alert = renderer.alert(&seed_event());
    assert_eq!(
        alert.message.text,
        "MQTT Alert: Unauthorized &lt;!channel&gt; &amp; co"
    );
    assert_eq!(alert.message.blocks, None);
    assert_eq!(alert.group, "security/high");
    let missing = renderer.alert(&Event::from_value(json!({"severity": "high"})));
    assert_eq!(missing.group, "-/high");
    assert_eq!(
        missing.message.text, "MQTT Alert: %{message}",
        "as Logstash"
    );
}

#[test]
fn the_blocks_layout_has_fields_time_and_an_encoded_kibana_link() {
    let config = config(
        "layout = \"blocks\"\nkibana_url = \"https://kibana.example/app/discover#/?q=%{topic_device}&x=%{missing}\"",
    );
    let renderer = Renderer::new(&config);
    let message = renderer.alert(&seed_event()).message;
    let payload: Value = serde_json::from_slice(&message.payload()).unwrap();
    assert_eq!(payload["text"], message.text.as_str());
    let blocks = payload["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], message.text.as_str());
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "*Severity*\nhigh",
            "*Alert type*\nsecurity",
            "*Device*\ndev 7",
            "*Topic*\nsensors/dev 7/temp",
            "*Event*\nauth_failed",
        ],
        "the missing host is left out"
    );
    assert_eq!(blocks[2]["elements"][0]["text"], "2024-05-01T10:00:00.000Z");
    assert_eq!(
        blocks[3]["elements"][0]["url"],
        "https://kibana.example/app/discover#/?q=dev%207&x="
    );
    assert_eq!(message.text_only().blocks, None);
}

#[test]
fn long_texts_are_cut_to_slack_limits() {
    let renderer = Renderer::new(&config("layout = \"blocks\""));
    let long = "é".repeat(5000);
    let message = renderer
        .alert(&Event::from_value(json!({"message": long})))
        .message;
    assert_eq!(message.text.chars().count(), 3000);
    assert!(message.text.ends_with('…'));
}

#[test]
fn summaries_count_by_kind_with_samples() {
    let renderer = Renderer::new(&config(""));
    let text = renderer
        .summary(&super::message::Summary {
            total: 47,
            groups: vec![("security/high".into(), 30), ("-/high".into(), 17)],
            other: 0,
            samples: vec!["MQTT Alert: one".into(), "MQTT Alert: two\nlines".into()],
        })
        .text;
    assert_eq!(
        text,
        "*47 alerts* arrived faster than the Slack rate limit allows; by alert_type/severity:\n\
         • 30 × security/high\n• 17 × -/high\nSamples:\n> MQTT Alert: one\n> MQTT Alert: two lines"
    );
}

// ---- the secret ----------------------------------------------------------------------------

#[test]
fn the_webhook_url_is_redacted_everywhere_it_could_be_printed() {
    let config = config("");
    for shown in [
        format!("{config:?}"),
        format!("{}", config.webhook_url),
        format!("{:?}", config.webhook_url),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("T000"), "{shown}");
    }
    assert_eq!(
        config.webhook_url.to_string(),
        "https://hooks.slack.com/[redacted]"
    );
    let url = format!("https://hooks.slack.com/services/T000/B000/{SECRET}");
    let scrubbed = config.webhook_url.scrub(&format!(
        "error for url ({url}) at /services/T000/B000/{SECRET}"
    ));
    assert!(!scrubbed.contains(SECRET), "{scrubbed}");
    for bad in [
        format!("hooks.slack.com/services/{SECRET}"),
        format!("ftp://hooks.slack.com/{SECRET}"),
        format!("https://[{SECRET}"),
    ] {
        let error = WebhookUrl::parse(&bad).unwrap_err();
        assert!(!error.contains(SECRET), "{error}");
    }
    assert_eq!(WebhookUrl::parse("  ").unwrap().expose(), None);
}

// ---- answers -------------------------------------------------------------------------------

#[test]
fn slack_answers_are_classified_as_documented() {
    assert_eq!(classify(200, None, "ok"), Answer::Posted);
    assert_eq!(
        classify(
            429,
            Some(Duration::from_secs(7)),
            r#"{"retry_after":1,"ok":false,"error":"rate_limited"}"#
        ),
        Answer::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    assert_eq!(
        classify(429, None, r#"{"retry_after":3,"ok":false}"#),
        Answer::RateLimited {
            retry_after: Duration::from_secs(3)
        }
    );
    assert_eq!(
        classify(400, None, "no_text"),
        Answer::BadPayload {
            error: "no_text".into()
        }
    );
    for status in [403, 404, 410] {
        assert!(matches!(classify(status, None, "x"), Answer::Dead { .. }));
    }
    for status in [500, 502, 503, 504, 408] {
        assert!(matches!(
            classify(status, None, "rollup_error"),
            Answer::Transient {
                reason: TransientReason::ServerError,
                ..
            }
        ));
    }
    assert!(matches!(
        classify(301, None, ""),
        Answer::Rejected { status: 301, .. }
    ));
}

// ---- the whole output over a scripted transport ---------------------------------------------

/// Answers from a script (then `Posted`), records what it was sent and when.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Option<Answer>>>>,
    posts: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Script {
    fn then(&self, answer: Answer, times: usize) -> &Self {
        let mut answers = self.answers.lock().unwrap();
        for _ in 0..times {
            answers.push_back(Some(answer.clone()));
        }
        drop(answers);
        self
    }

    /// The next post never gets an answer.
    fn stall(&self) {
        self.answers.lock().unwrap().push_back(None);
    }

    fn posts(&self) -> Vec<(Instant, Value)> {
        self.posts.lock().unwrap().clone()
    }
}

impl Transport for Script {
    async fn post(&self, body: Vec<u8>) -> Answer {
        let value = serde_json::from_slice(&body).unwrap();
        self.posts.lock().unwrap().push((Instant::now(), value));
        let next = self.answers.lock().unwrap().pop_front();
        match next {
            None => Answer::Posted,
            Some(Some(answer)) => answer,
            Some(None) => std::future::pending().await,
        }
    }
}

struct Running {
    deliveries: mpsc::Sender<Delivery>,
    acks: AckReceiver,
    ack_sender: crate::event::AckSender,
    metrics: Arc<ComponentMetrics>,
    task: tokio::task::JoinHandle<()>,
    batches: u64,
}

fn start(config: SlackConfig, script: &Script) -> Running {
    let (tx, rx) = mpsc::channel(4);
    let metrics = Arc::new(ComponentMetrics::default());
    let context = OutputContext {
        id: "slack".into(),
        condition: None,
        abort: CancellationToken::new(),
        metrics: metrics.clone(),
        readiness: crate::readiness::ReadinessHandle::detached(),
    };
    let (ack_sender, acks) = ack_channel();
    let script = script.clone();
    let task = tokio::spawn(async move {
        run_with(config, script, rx, context).await.unwrap();
    });
    Running {
        deliveries: tx,
        acks,
        ack_sender,
        metrics,
        task,
        batches: 0,
    }
}

impl Running {
    /// Sends one batch and waits until the output has settled it.
    async fn send(&mut self, events: Vec<Event>) {
        self.batches += 1;
        let batch = Arc::new(Batch::new(
            events,
            Some(self.ack_sender.token(self.batches)),
        ));
        self.deliveries.send(Delivery::new(batch)).await.unwrap();
        let receipt = self.acks.recv().await.unwrap();
        assert_eq!(receipt.batch_id, self.batches);
        assert_eq!(receipt.status, BatchStatus::Delivered);
    }

    async fn finish(self) -> Arc<ComponentMetrics> {
        drop(self.deliveries);
        self.task.await.unwrap();
        self.metrics
    }
}

/// `n` distinct alerts of `kind` (never duplicates of earlier ones).
fn alerts(n: usize, kind: &str) -> Vec<Event> {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    (0..n)
        .map(|_| {
            let i = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Event::from_value(json!({
                "message": format!("{kind} alert {i}"),
                "severity": "high",
                "alert_type": kind,
            }))
        })
        .collect()
}

fn counter(metrics: &ComponentMetrics, name: &str, label: Option<&str>) -> u64 {
    metrics
        .extras()
        .iter()
        .find(|e| e.name == name && label.is_none_or(|l| e.labels.iter().any(|(_, v)| v == l)))
        .map_or(0, |e| match &e.value {
            crate::metrics::ExtraValue::Counter(c) => c.get(),
            crate::metrics::ExtraValue::Gauge(g) => u64::try_from(g.get()).unwrap_or(0),
            crate::metrics::ExtraValue::Histogram(_) => 0,
        })
}

/// Alerts a message stands for: 1, or the sum of a summary's `• N × kind` lines.
fn alerts_in(text: &str) -> u64 {
    if !text.contains("arrived faster than the Slack rate limit") {
        return 1;
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("• "))
        .filter_map(|line| line.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(start_paused = true)]
async fn a_burst_becomes_burst_messages_and_a_summary_adding_up() {
    let script = Script::default();
    let mut output = start(config(""), &script);
    let start = Instant::now();
    let mut events = alerts(30, "security");
    events.extend(alerts(20, "performance"));
    output.send(events).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(posts.len(), 3, "burst 3: two alerts, then a summary");
    assert!(posts.iter().all(|(at, _)| *at == start));
    let total: u64 = posts
        .iter()
        .map(|(_, body)| alerts_in(body["text"].as_str().unwrap()))
        .sum();
    assert_eq!(total, 50);
    assert!(posts[2].1["text"]
        .as_str()
        .unwrap()
        .contains("• 28 × security/high\n• 20 × performance/high"));
    assert_eq!(ComponentMetrics::get(&metrics.events_in), 50);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 50);
    assert_eq!(counter(&metrics, "slack_sent_total", None), 3);
    assert_eq!(counter(&metrics, "slack_coalesced_total", None), 48);
    assert_eq!(counter(&metrics, "slack_queue_length", None), 0);
}

#[tokio::test(start_paused = true)]
async fn a_steady_flood_is_paced_by_the_bucket() {
    let script = Script::default();
    let mut output = start(config("burst = 2"), &script);
    let start = Instant::now();
    for i in 0..50 {
        output.send(alerts(1, &format!("k{}", i % 3))).await;
        tokio::time::sleep(ms(20)).await;
    }
    let metrics = output.finish().await;
    let posts = script.posts();
    let times: Vec<Duration> = posts.iter().map(|(at, _)| *at - start).collect();
    // Token-bucket conformance: any k consecutive posts span at least (k - burst) seconds.
    for i in 0..times.len() {
        for j in i..times.len() {
            let k = (j - i + 1) as u32;
            assert!(
                times[j] - times[i] >= Duration::from_secs(u64::from(k.saturating_sub(2))),
                "{times:?}"
            );
        }
    }
    assert!(posts.len() <= 2 + 2, "{times:?}");
    let total: u64 = posts
        .iter()
        .map(|(_, body)| alerts_in(body["text"].as_str().unwrap()))
        .sum();
    assert_eq!(total, 50);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 50);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_the_webhook_for_retry_after() {
    let script = Script::default();
    script.then(
        Answer::RateLimited {
            retry_after: Duration::from_secs(7),
        },
        1,
    );
    let mut output = start(config(""), &script);
    output.send(alerts(1, "security")).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].0 - posts[0].0, Duration::from_secs(7));
    assert_eq!(posts[0].1, posts[1].1, "the same message is resent");
    assert_eq!(counter(&metrics, "slack_rate_limited_total", None), 1);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 1);
}

#[tokio::test(start_paused = true)]
async fn server_errors_retry_with_growing_backoff_then_count_as_failed() {
    let script = Script::default();
    let error = Answer::Transient {
        reason: TransientReason::ServerError,
        detail: "HTTP 503: rollup_error".into(),
    };
    script.then(error, 3);
    let mut output = start(
        config("max_attempts = 3\nretry_initial_backoff = \"2s\"\nretry_max_backoff = \"3s\""),
        &script,
    );
    output.send(alerts(1, "security")).await;
    output.send(alerts(1, "other")).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(
        posts.len(),
        4,
        "three attempts for the first, one for the second"
    );
    let first_wait = posts[1].0 - posts[0].0;
    let second_wait = posts[2].0 - posts[1].0;
    assert!(
        first_wait >= ms(1000) && first_wait <= ms(2000),
        "{first_wait:?}"
    );
    assert!(
        second_wait >= ms(1500) && second_wait <= ms(3000),
        "{second_wait:?}"
    );
    assert_eq!(
        counter(&metrics, "slack_failures_total", Some("server_error")),
        1
    );
    assert_eq!(ComponentMetrics::get(&metrics.events_failed), 1);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 1);
    assert_eq!(ComponentMetrics::get(&metrics.errors), 3);
}

/// `retry_max_backoff` below `retry_initial_backoff` is accepted: the first wait is the
/// initial one, every later one the cap.
#[tokio::test(start_paused = true)]
async fn a_first_backoff_above_the_cap_is_waited_once_then_the_cap() {
    let script = Script::default();
    let error = Answer::Transient {
        reason: TransientReason::Network,
        detail: "connection refused".into(),
    };
    script.then(error, 3);
    let mut output = start(
        config("max_attempts = 4\nretry_initial_backoff = \"4s\"\nretry_max_backoff = \"1s\""),
        &script,
    );
    output.send(alerts(1, "security")).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(posts.len(), 4);
    let waits: Vec<Duration> = posts.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(waits[0] >= ms(2000) && waits[0] <= ms(4000), "{waits:?}");
    for wait in &waits[1..] {
        assert!(*wait >= ms(500) && *wait <= ms(1000), "{waits:?}");
    }
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dead_webhook_is_disabled_after_one_post_and_alerts_still_settle() {
    let script = Script::default();
    script.then(
        Answer::Dead {
            status: 404,
            error: "no_service".into(),
        },
        1,
    );
    let mut output = start(config(""), &script);
    output.send(alerts(5, "security")).await;
    for _ in 0..3 {
        output.send(alerts(2, "security")).await;
    }
    let metrics = output.finish().await;
    assert_eq!(script.posts().len(), 1);
    assert_eq!(
        counter(&metrics, "slack_failures_total", Some("not_found")),
        1
    );
    assert_eq!(ComponentMetrics::get(&metrics.events_in), 11);
    assert_eq!(ComponentMetrics::get(&metrics.events_failed), 11);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 0);
}

#[tokio::test(start_paused = true)]
async fn a_bad_blocks_payload_is_resent_once_as_plain_text() {
    let script = Script::default();
    script.then(
        Answer::BadPayload {
            error: "invalid_blocks".into(),
        },
        1,
    );
    let mut output = start(config("layout = \"blocks\""), &script);
    output.send(alerts(1, "security")).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].1.get("blocks").is_some());
    assert!(posts[1].1.get("blocks").is_none());
    assert_eq!(posts[0].1["text"], posts[1].1["text"]);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 1);
}

#[tokio::test(start_paused = true)]
async fn draining_stops_at_drain_timeout_and_counts_what_is_left() {
    let script = Script::default();
    script.stall();
    let mut output = start(config("drain_timeout = \"4s\""), &script);
    output.send(alerts(1, "a")).await;
    output.send(alerts(3, "b")).await;
    let closed = Instant::now();
    let metrics = output.finish().await;
    assert_eq!(Instant::now() - closed, Duration::from_secs(4));
    assert_eq!(script.posts().len(), 1, "stuck on the first post");
    assert_eq!(ComponentMetrics::get(&metrics.events_failed), 4);
    assert_eq!(
        counter(&metrics, "slack_failures_total", Some("drain_timeout")),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn queued_alerts_are_sent_within_the_rate_after_close() {
    let script = Script::default();
    let mut output = start(config("burst = 1\nmax_samples = 1"), &script);
    let start = Instant::now();
    output.send(alerts(1, "a")).await;
    output.send(alerts(1, "b")).await;
    output.send(alerts(1, "c")).await;
    let metrics = output.finish().await;
    let posts = script.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].0 - start, Duration::from_secs(1));
    assert_eq!(alerts_in(posts[1].1["text"].as_str().unwrap()), 2);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 3);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_counts_drops_and_still_reports_every_alert() {
    let script = Script::default();
    script.stall();
    let mut output = start(
        config("burst = 1\nqueue_size = 2\ndrain_timeout = \"0s\""),
        &script,
    );
    output.send(alerts(1, "first")).await;
    // The first post hangs; these wait in a queue of two, the rest are counted only.
    output.send(alerts(10, "flood")).await;
    let metrics = output.finish().await;
    assert_eq!(counter(&metrics, "slack_dropped_total", None), 8);
    assert_eq!(ComponentMetrics::get(&metrics.events_failed), 11);
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_sent_once_and_counted() {
    let script = Script::default();
    let mut output = start(config("burst = 10"), &script);
    let originals = alerts(3, "security");
    let mut events = originals.clone();
    events.extend(originals.clone());
    output.send(events).await;
    output.send(originals[..1].to_vec()).await;
    let metrics = output.finish().await;
    assert_eq!(script.posts().len(), 3);
    assert_eq!(counter(&metrics, "slack_deduped_total", None), 4);
    assert_eq!(ComponentMetrics::get(&metrics.events_dropped), 4);
    assert_eq!(ComponentMetrics::get(&metrics.events_out), 3);
}
