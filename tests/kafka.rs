//! The Kafka input and output against a real Apache Kafka 4.1 broker (KRaft), started by
//! `tests/common/kafka_broker.rs` from Maven Central jars.
//!
//! Every event travels through real `sluice` processes: a producer pipeline tails a file and
//! writes to a topic, consumer pipelines in one group read it and write NDJSON files. Lines are
//! `line-<n>`; the assertions are about which `n` arrive, and how often. The tests share one
//! broker (each uses its own topics and groups), except the broker restart, which stops its own.

mod common;
#[path = "common/fake_bulk.rs"]
mod fake_bulk;

use common::kafka_broker::{kafka_broker, KafkaBroker, SASL_PASSWORD, SASL_USER};
use common::{wait_until, Sluice};
use fake_bulk::{FakeBulk, Fault};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long any one phase may take on a busy machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// A consumer gives up its partitions this long after it stops heartbeating (kill -9): the
/// broker's minimum, so that the group recovers quickly.
const CONSUMER_OVERRIDES: &str =
    r#"librdkafka = { "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "1000" }"#;

/// A producer pipeline: tails `source` and writes each line's event to `topic`.
fn producer_pipeline(dir: &Path, name: &str, source: &Path, output_extra: &str) -> PathBuf {
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = 200\n\
         [api]\nenabled = false\n\
         [inputs.app]\ntype = \"file\"\npaths = [{source:?}]\nscan_interval = \"100ms\"\n\
         [outputs.kafka]\ntype = \"kafka\"\n{output_extra}\n",
        data = dir.join(format!("data-{name}")).display().to_string(),
        source = source.display().to_string(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the producer pipeline");
    path
}

/// A consumer pipeline: reads with `input` settings and writes NDJSON to `<dir>/<name>.ndjson`.
fn consumer_pipeline(dir: &Path, name: &str, input: &str) -> PathBuf {
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = 100\n\
         [api]\naddress = \"127.0.0.1:0\"\n\
         [inputs.kafka]\ntype = \"kafka\"\n{input}\n\
         [outputs.out]\ntype = \"file\"\npath = {out:?}\n",
        data = dir.join(format!("data-{name}")).display().to_string(),
        out = output(dir, name).display().to_string(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the consumer pipeline");
    path
}

fn output(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.ndjson"))
}

/// Appends `line-<n>` for every `n` in `range` to `file`.
fn append_lines(file: &Path, range: std::ops::Range<u64>) {
    let mut text = String::new();
    for n in range {
        text.push_str(&format!("line-{n}\n"));
    }
    let mut handle = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("open the source file");
    handle.write_all(text.as_bytes()).expect("append lines");
}

/// Every event of an NDJSON output (a torn last line is ignored).
fn events(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// How often each `n` of `line-<n>` appears in the outputs.
fn line_counts(paths: &[PathBuf]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for path in paths {
        for event in events(path) {
            let n = event["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("line-"))
                .and_then(|n| n.parse().ok());
            if let Some(n) = n {
                *counts.entry(n).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Whether every `n` below `total` appears in the outputs.
fn all_arrived(paths: &[PathBuf], total: u64) -> bool {
    let counts = line_counts(paths);
    (0..total).all(|n| counts.contains_key(&n))
}

fn missing(paths: &[PathBuf], total: u64) -> Vec<u64> {
    let counts = line_counts(paths);
    (0..total)
        .filter(|n| !counts.contains_key(n))
        .take(20)
        .collect()
}

fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sluice-kafka-{name}-"))
        .tempdir()
        .expect("create a temporary directory")
}

/// Appends lines (500 at a time, each time waiting until they all arrived) until `member`,
/// which writes the last of `outputs`, has been given partitions and read some of them.
fn feed_until_member_reads(source: &Path, next: &mut u64, outputs: &[PathBuf], member: &Sluice) {
    let Some(member_out) = outputs.last() else {
        return;
    };
    let fed = wait_until(DEADLINE, || {
        append_lines(source, *next..*next + 500);
        *next += 500;
        wait_until(Duration::from_secs(10), || all_arrived(outputs, *next))
            && !events(member_out).is_empty()
    });
    assert!(
        fed,
        "the new member read nothing (missing {:?}):\n{}",
        missing(outputs, *next),
        member.stderr()
    );
}

/// The whole chain with a consumer group of two, one of them killed -9 mid-stream and
/// started again, then a third member joining: every line arrives, and the only duplicates
/// are lines the killed consumer had written (its unacknowledged, uncommitted tail).
#[test]
fn a_consumer_group_loses_nothing_when_a_member_is_killed_restarted_or_added() {
    let broker = kafka_broker();
    let dir = tempdir("group");
    let topic = "group-logs";
    broker.create_topic(topic, 4);
    let source = dir.path().join("app.log");
    let producer = Sluice::start(&producer_pipeline(
        dir.path(),
        "producer",
        &source,
        // Keyed by the line, so that lines spread over all four partitions by hash rather
        // than in sticky runs that may all land on one member's partitions.
        &format!(
            "bootstrap_servers = {:?}\ntopic = {topic:?}\nkey = \"%{{message}}\"",
            broker.bootstrap()
        ),
    ));
    let input = format!(
        "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"group-test\"\n{CONSUMER_OVERRIDES}",
        broker.bootstrap()
    );
    let first = Sluice::start(&consumer_pipeline(dir.path(), "first", &input));
    let second = Sluice::start(&consumer_pipeline(dir.path(), "second", &input));
    let first_out = output(dir.path(), "first");
    let mut outputs = vec![first_out.clone(), output(dir.path(), "second")];

    // Phase 1: lines are fed (1,000 at a time) until the group has formed and the first
    // consumer reads; then 20,000 more are appended and the first consumer is killed while
    // they flow.
    let mut next = 0;
    let reading = wait_until(DEADLINE, || {
        append_lines(&source, next..next + 1_000);
        next += 1_000;
        wait_until(Duration::from_secs(5), || events(&first_out).len() >= 100)
    });
    assert!(
        reading,
        "the first consumer got nothing of {next} lines (the second got {}):\n{}\n{}\n{}",
        events(&outputs[1]).len(),
        first.stderr(),
        second.stderr(),
        producer.stderr()
    );
    append_lines(&source, next..next + 20_000);
    next += 20_000;
    first.kill();
    let killed_wrote = line_counts(std::slice::from_ref(&first_out));
    assert!(
        wait_until(DEADLINE, || all_arrived(&outputs, next)),
        "after the kill, missing {:?}:\n{}",
        missing(&outputs, next),
        second.stderr()
    );

    // Phase 2: the killed consumer comes back (a new output file) and is given partitions.
    let restarted = Sluice::start(&consumer_pipeline(dir.path(), "restarted", &input));
    outputs.push(output(dir.path(), "restarted"));
    feed_until_member_reads(&source, &mut next, &outputs, &restarted);

    // Phase 3: a third member joins; the group rebalances over three.
    let third = Sluice::start(&consumer_pipeline(dir.path(), "third", &input));
    outputs.push(output(dir.path(), "third"));
    feed_until_member_reads(&source, &mut next, &outputs, &third);
    assert!(
        wait_until(DEADLINE, || all_arrived(&outputs, next)),
        "after the third joined, missing {:?}",
        missing(&outputs, next)
    );

    let counts = line_counts(&outputs);
    let duplicated: Vec<u64> = counts
        .iter()
        .filter(|(_, &count)| count > 1)
        .map(|(&n, _)| n)
        .collect();
    assert!(
        counts.values().all(|&count| count <= 2),
        "a line arrived more than twice"
    );
    // Other duplicates can only come from a rebalance: a batch of a revoked partition that
    // was still being filled when the partition moved (at most one batch of 100 per member
    // giving up partitions; four such revocations at most here). Sent batches are waited
    // for before the revoked partitions are committed.
    let unexplained: Vec<&u64> = duplicated
        .iter()
        .filter(|n| !killed_wrote.contains_key(n))
        .collect();
    assert!(
        unexplained.len() <= 4 * 100,
        "{} duplicates, {} not from the killed consumer's tail: {:?}...",
        duplicated.len(),
        unexplained.len(),
        &unexplained[..unexplained.len().min(20)]
    );
    eprintln!(
        "{} lines, {} duplicates ({} not written by the killed consumer, which wrote {})",
        counts.len(),
        duplicated.len(),
        unexplained.len(),
        killed_wrote.len()
    );
    for consumer in [second, restarted, third] {
        consumer.stop();
    }
    producer.stop();
}

/// The broker stops and starts again while both pipelines are busy: the producer waits
/// (nothing times out), the consumer resumes, and every line arrives.
#[test]
fn a_broker_restart_under_load_loses_nothing() {
    let broker = KafkaBroker::start_private();
    let dir = tempdir("restart");
    let topic = "restart-logs";
    broker.create_topic(topic, 2);
    let source = dir.path().join("app.log");
    let producer = Sluice::start(&producer_pipeline(
        dir.path(),
        "producer",
        &source,
        &format!(
            "bootstrap_servers = {:?}\ntopic = {topic:?}",
            broker.bootstrap()
        ),
    ));
    let consumer = Sluice::start(&consumer_pipeline(
        dir.path(),
        "consumer",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"restart-test\"\n{CONSUMER_OVERRIDES}",
            broker.bootstrap()
        ),
    ));
    let outputs = [output(dir.path(), "consumer")];
    append_lines(&source, 0..10_000);
    assert!(
        wait_until(DEADLINE, || events(&outputs[0]).len() >= 500),
        "nothing arrived before the restart:\n{}\n{}",
        producer.stderr(),
        consumer.stderr()
    );
    broker.stop();
    append_lines(&source, 10_000..15_000);
    broker.restart();
    assert!(
        wait_until(DEADLINE, || all_arrived(&outputs, 15_000)),
        "after the broker restart, missing {:?}:\n{}\n{}",
        missing(&outputs, 15_000),
        producer.stderr(),
        consumer.stderr()
    );
    let counts = line_counts(&outputs);
    eprintln!(
        "{} lines, {} duplicates; topic holds {}",
        counts.len(),
        counts.values().filter(|&&c| c > 1).count(),
        broker
            .read_topic(topic, 100_000, Duration::from_secs(15))
            .len()
    );
    consumer.stop();
    producer.stop();
}

/// `GET /metrics` from a sluice API address logged on its stderr.
fn metrics(sluice: &Sluice) -> String {
    let stderr = sluice.stderr();
    let Some(address) = stderr
        .lines()
        .filter(|line| line.contains("API listening on"))
        .find_map(|line| line.split("http://").nth(1))
        .and_then(|rest| rest.split(|c: char| c == '"' || c.is_whitespace()).next())
    else {
        return String::new();
    };
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// A rebalance waits for the revoked partitions' batches that are still in an output, and the
/// pipeline keeps working meanwhile. librdkafka calls the rebalance callback from its poll, and
/// the callback blocks (it waits up to 3 s for those batches, then commits): on a runtime
/// thread it would hold up the very output tasks that acknowledge them. Here the runtime has
/// one thread (`TOKIO_WORKER_THREADS=1`) and the first member's batches sit in an
/// Elasticsearch output whose node (the fault-injecting fake) answers 2.5 s after the request
/// came, while the second member joins: the answer arrives during the callback's wait, and
/// only if the output's task runs then are the batches acknowledged and committed before the
/// partitions move. Otherwise the new owners read them again, and the node gets them twice.
#[test]
fn a_rebalance_waits_for_batches_in_an_output_without_blocking_the_pipeline() {
    let broker = kafka_broker();
    let dir = tempdir("rebalance");
    let topic = "rebalance-wait";
    let group = "rebalance-wait";
    broker.create_topic(topic, 2);
    let lines = |range: std::ops::Range<u64>| -> Vec<Vec<u8>> {
        range
            .map(|n| format!(r#"{{"message":"line-{n}"}}"#).into_bytes())
            .collect()
    };
    let produce = |payloads: &[Vec<u8>]| {
        let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        broker.produce(topic, &payloads);
    };
    produce(&lines(0..40));
    let node = FakeBulk::start();
    node.push((0..4).map(|_| Fault::Delay(Duration::from_millis(2_500))));
    let pipeline = |name: &str| {
        let text = format!(
            "data_dir = {data:?}\n\
             [api]\naddress = \"127.0.0.1:0\"\n\
             [inputs.kafka]\ntype = \"kafka\"\nbootstrap_servers = {bootstrap:?}\n\
             topics = [{topic:?}]\ngroup_id = {group:?}\n{CONSUMER_OVERRIDES}\n\
             [outputs.es]\ntype = \"elasticsearch\"\nhosts = [{url:?}]\n\
             flush_interval = \"50ms\"\ndeterministic_ids = false\n",
            data = dir
                .path()
                .join(format!("data-{name}"))
                .display()
                .to_string(),
            bootstrap = broker.bootstrap(),
            url = node.url(),
        );
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write the pipeline");
        path
    };
    let one_thread = [("TOKIO_WORKER_THREADS", "1")];
    let first = Sluice::start_in(&pipeline("first"), &one_thread, None);
    // Every line indexed; the node's answers are pending.
    assert!(
        wait_until(DEADLINE, || node.total() >= 40),
        "the first member indexed {} of 40 lines:\n{}",
        node.total(),
        first.stderr()
    );
    let second = Sluice::start_in(&pipeline("second"), &one_thread, None);
    // Once the first member gave up its partitions (and committed them), more lines: each
    // member reads them from where the group committed.
    let rebalanced = wait_until(DEADLINE, || {
        metrics(&first).lines().any(|line| {
            line.starts_with("sluice_kafka_rebalance_commits_total") && !line.ends_with(" 0")
        })
    });
    assert!(rebalanced, "no rebalance commit:\n{}", first.stderr());
    produce(&lines(40..80));
    let committed = |group: &str| -> i64 {
        broker
            .committed(group, topic, 2)
            .iter()
            .map(|(_, offset)| offset.max(&0))
            .sum()
    };
    let counts = || {
        let mut counts = BTreeMap::new();
        node.visit_documents(|doc| {
            if let Some(n) = doc["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("line-"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                *counts.entry(n).or_insert(0usize) += 1;
            }
        });
        counts
    };
    // Everything read, indexed and committed: nothing is in flight any more.
    let settled = wait_until(DEADLINE, || committed(group) == 80 && counts().len() == 80);
    assert!(
        settled,
        "committed {}, indexed {:?}:\n{}\n{}",
        committed(group),
        counts(),
        first.stderr(),
        second.stderr()
    );
    let twice: Vec<u64> = counts()
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(n, _)| n)
        .collect();
    assert!(
        twice.is_empty(),
        "read again after the rebalance: {twice:?}\n{}",
        first.stderr()
    );
    first.stop();
    second.stop();
}

/// Messages that are not JSON objects become events tagged `_jsonparsefailure` with their text
/// in `message`; an empty message is skipped; the partition does not get stuck on them (the
/// group commits past them); lag and offsets show on /metrics.
#[test]
fn bad_messages_become_tagged_events_and_do_not_stick_the_partition() {
    let broker = kafka_broker();
    let dir = tempdir("bad");
    let topic = "bad-json";
    broker.create_topic(topic, 1);
    broker.produce(
        topic,
        &[
            br#"{"message":"good-1","level":"info"}"#,
            b"not json {",
            b"[1,2,3]",
            b"",
            b"\xff\xfe broken utf-8",
            br#"{"message":"good-2"}"#,
        ],
    );
    let consumer = Sluice::start(&consumer_pipeline(
        dir.path(),
        "consumer",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"bad-test\"",
            broker.bootstrap()
        ),
    ));
    let out = output(dir.path(), "consumer");
    assert!(
        wait_until(DEADLINE, || events(&out).len() >= 5),
        "expected 5 events:\n{}",
        consumer.stderr()
    );
    let events = events(&out);
    let summary: Vec<(String, bool)> = events
        .iter()
        .map(|e| {
            (
                e["message"].as_str().unwrap_or_default().to_string(),
                e["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == "_jsonparsefailure")),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("good-1".to_string(), false),
            ("not json {".to_string(), true),
            ("[1,2,3]".to_string(), true),
            ("\u{fffd}\u{fffd} broken utf-8".to_string(), true),
            ("good-2".to_string(), false),
        ]
    );
    assert_eq!(events[0]["level"], "info");
    assert!(events.iter().all(|e| e["@timestamp"].is_string()));
    // Lag and committed offset per partition, from librdkafka's statistics (every 5 s).
    let mut exposition = String::new();
    assert!(
        wait_until(DEADLINE, || {
            exposition = metrics(&consumer);
            exposition.lines().any(|line| {
                line.contains("kafka_committed_offset")
                    && line.contains("topic=\"bad-json\"")
                    && line.ends_with(" 6")
            })
        }),
        "no committed offset 6 on /metrics:\n{exposition}"
    );
    assert!(
        exposition
            .lines()
            .any(|line| line.contains("kafka_consumer_lag") && line.ends_with(" 0")),
        "{exposition}"
    );
    consumer.stop();
    assert_eq!(broker.committed("bad-test", topic, 1), [(0, 6)]);
}

/// Producer over SASL/SCRAM-SHA-256, consumer over SASL/PLAIN, against the broker's SASL
/// listener: everything arrives, and the password appears in no log.
#[test]
fn sasl_plain_and_scram_work_and_the_password_is_never_logged() {
    let broker = kafka_broker();
    let dir = tempdir("sasl");
    let topic = "sasl-logs";
    broker.create_topic(topic, 2);
    let source = dir.path().join("app.log");
    let sasl = |mechanism: &str| {
        format!(
            "sasl = {{ mechanism = {mechanism:?}, username = {SASL_USER:?}, password = {SASL_PASSWORD:?} }}"
        )
    };
    let producer = Sluice::start(&producer_pipeline(
        dir.path(),
        "producer",
        &source,
        &format!(
            "bootstrap_servers = {:?}\ntopic = {topic:?}\ncompression = \"zstd\"\n{}",
            broker.sasl_bootstrap(),
            sasl("SCRAM-SHA-256")
        ),
    ));
    let consumer = Sluice::start(&consumer_pipeline(
        dir.path(),
        "consumer",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"sasl-test\"\n{}",
            broker.sasl_bootstrap(),
            sasl("PLAIN")
        ),
    ));
    let outputs = [output(dir.path(), "consumer")];
    append_lines(&source, 0..2_000);
    assert!(
        wait_until(DEADLINE, || all_arrived(&outputs, 2_000)),
        "over SASL, missing {:?}:\n{}\n{}",
        missing(&outputs, 2_000),
        producer.stderr(),
        consumer.stderr()
    );

    // A wrong password is refused by the broker, and is not logged either.
    let intruder_password = "wrong-password-7d1e";
    let intruder = Sluice::start(&consumer_pipeline(
        dir.path(),
        "intruder",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"sasl-intruder\"\n\
             sasl = {{ mechanism = \"PLAIN\", username = {SASL_USER:?}, password = {intruder_password:?} }}",
            broker.sasl_bootstrap(),
        ),
    ));
    assert!(
        wait_until(DEADLINE, || intruder.stderr().contains("uthentication")),
        "no authentication error logged:\n{}",
        intruder.stderr()
    );
    assert!(events(&output(dir.path(), "intruder")).is_empty());
    let intruder_log = intruder.stop();
    let logs = [consumer.stop(), producer.stop(), intruder_log];
    for log in &logs {
        assert!(!log.contains(SASL_PASSWORD), "password logged:\n{log}");
        assert!(!log.contains(intruder_password), "password logged:\n{log}");
    }
}

/// Producer and consumer over the broker's SSL listener, trusting its self-signed
/// certificate through `tls.ca_file`: everything arrives. A consumer that does not trust it
/// (the system's CAs) is refused at the handshake and reads nothing.
#[test]
fn tls_to_the_broker_works_and_an_untrusted_certificate_is_refused() {
    let broker = kafka_broker();
    let dir = tempdir("tls");
    let topic = "tls-logs";
    broker.create_topic(topic, 2);
    let source = dir.path().join("app.log");
    let tls = format!(
        "tls = {{ ca_file = {:?} }}",
        broker.tls_ca_file().display().to_string()
    );
    let producer = Sluice::start(&producer_pipeline(
        dir.path(),
        "producer",
        &source,
        &format!(
            "bootstrap_servers = {:?}\ntopic = {topic:?}\ncompression = \"lz4\"\n{tls}",
            broker.tls_bootstrap()
        ),
    ));
    let consumer = Sluice::start(&consumer_pipeline(
        dir.path(),
        "consumer",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"tls-test\"\n{tls}",
            broker.tls_bootstrap()
        ),
    ));
    let outputs = [output(dir.path(), "consumer")];
    append_lines(&source, 0..2_000);
    assert!(
        wait_until(DEADLINE, || all_arrived(&outputs, 2_000)),
        "over TLS, missing {:?}:\n{}\n{}",
        missing(&outputs, 2_000),
        producer.stderr(),
        consumer.stderr()
    );
    assert!(
        line_counts(&outputs).values().all(|&n| n == 1),
        "duplicates over TLS"
    );

    let untrusting = Sluice::start(&consumer_pipeline(
        dir.path(),
        "untrusting",
        &format!(
            "bootstrap_servers = {:?}\ntopics = [{topic:?}]\ngroup_id = \"tls-untrusting\"\ntls = {{}}",
            broker.tls_bootstrap()
        ),
    ));
    assert!(
        wait_until(DEADLINE, || untrusting
            .stderr()
            .contains("certificate verify failed")),
        "no certificate error logged:\n{}",
        untrusting.stderr()
    );
    assert!(events(&output(dir.path(), "untrusting")).is_empty());
    untrusting.stop();
    consumer.stop();
    producer.stop();
}

/// Events Kafka refuses for good (too large, a topic that does not exist, a topic template
/// that cannot be resolved) go to the dead-letter file with the reason; the rest is delivered
/// and the run finishes.
#[test]
fn refused_events_go_to_the_dead_letter_file() {
    let broker = kafka_broker();
    let dir = tempdir("dead");
    broker.create_topic("dead-good", 1);
    let source = dir.path().join("app.log");
    let big = "x".repeat(5_000);
    std::fs::write(
        &source,
        format!(
            "{{\"kind\":\"good\",\"n\":1}}\n\
             {{\"kind\":\"missing\",\"n\":2}}\n\
             {{\"kind\":\"good\",\"n\":3,\"pad\":\"{big}\"}}\n\
             {{\"n\":4}}\n\
             {{\"kind\":\"good\",\"n\":5}}\n"
        ),
    )
    .expect("write the source");
    let dead_letters = dir.path().join("dead.ndjson");
    let pipeline = dir.path().join("dead.toml");
    std::fs::write(
        &pipeline,
        format!(
            "data_dir = {data:?}\n\
             [api]\nenabled = false\n\
             [inputs.app]\ntype = \"file\"\npaths = [{source:?}]\n\
             [[filters]]\ntype = \"json\"\nsource = \"message\"\n\
             [outputs.kafka]\ntype = \"kafka\"\nbootstrap_servers = {servers:?}\n\
             topic = \"dead-%{{[kind]}}\"\ndead_letter_path = {dead:?}\n\
             librdkafka = {{ \"message.max.bytes\" = \"2000\", \"topic.metadata.propagation.max.ms\" = \"2000\" }}\n",
            data = dir.path().join("data").display().to_string(),
            source = source.display().to_string(),
            servers = broker.bootstrap(),
            dead = dead_letters.display().to_string(),
        ),
    )
    .expect("write the pipeline");
    let (code, stderr) = common::run_once_bounded(&pipeline, &[], DEADLINE);
    assert_eq!(code, 0, "{stderr}");
    let letters = events(&dead_letters);
    let mut refused: Vec<(u64, String)> = letters
        .iter()
        .map(|letter| {
            (
                letter["event"]["n"].as_u64().unwrap_or_default(),
                letter["error"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            (2, "unknown_topic_or_partition".to_string()),
            (3, "message_size_too_large".to_string()),
            (4, "unresolved_topic".to_string()),
        ],
        "{letters:?}\n{stderr}"
    );
    assert!(letters.iter().all(|l| l["output"] == "kafka"));
    let delivered: Vec<u64> = broker
        .read_topic("dead-good", 2, DEADLINE)
        .iter()
        .filter_map(|payload| serde_json::from_slice::<Value>(payload).ok())
        .filter_map(|event| event["n"].as_u64())
        .collect();
    assert_eq!(delivered, [1, 5]);
}

/// Settings sluice's guarantees rest on cannot be overridden, and the error says where.
#[test]
fn overriding_a_protected_librdkafka_setting_is_a_config_error_with_its_position() {
    let dir = tempdir("config");
    let pipeline = dir.path().join("bad.toml");
    std::fs::write(
        &pipeline,
        "[inputs.in]\ntype = \"stdin\"\n\
         [outputs.kafka]\ntype = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9092\"\ntopic = \"t\"\n\
         librdkafka = { \"message.timeout.ms\" = \"300000\" }\n",
    )
    .expect("write the pipeline");
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["validate", "-c"])
        .arg(&pipeline)
        .output()
        .expect("run sluice validate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml:7:") && stderr.contains("message.timeout.ms"),
        "{stderr}"
    );
}
