//! The Elasticsearch output end to end through the real `sluice` binary (and the library
//! pipeline where a test must steer shutdown), against a fault-injecting fake node
//! (`tests/common/fake_bulk.rs`) for what a real node cannot be made to do on demand.
//! `tests/elasticsearch_node.rs` runs the same output against a real OpenSearch node.

mod common;
#[path = "common/fake_bulk.rs"]
mod fake_bulk;

use common::{wait_until, Sluice};
use fake_bulk::{FakeBulk, Fault};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
#[allow(unused_imports)]
use std::time::Duration;

const SAMPLE: &str = "pipelines/sample/mqtt-client.log";

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE)
}

/// The seed's filter chain, exactly as `pipelines/mqtt.toml` has it.
fn seed_filters() -> String {
    let mqtt =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/mqtt.toml"))
            .unwrap();
    let start = mqtt.find("[[filters]]").unwrap();
    let end = mqtt.find("[outputs.").unwrap();
    mqtt[start..end].to_string()
}

/// A pipeline: file input over `logs` (with `fields.service = "mqtt"`), the seed filters when
/// `filters` (else only a `json` filter parsing the line), and one Elasticsearch output `es` with `output_extra` settings (retries every
/// 50 ms to 400 ms unless `output_extra` says otherwise).
fn pipeline(dir: &Path, logs: &Path, url: &str, output_extra: &str, filters: bool) -> PathBuf {
    let output_extra = if output_extra.contains("retry_initial_interval") {
        output_extra.to_string()
    } else {
        format!("retry_initial_interval = \"50ms\"\nretry_max_interval = \"400ms\"\n{output_extra}")
    };
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = 64\nqueue_batches = 2\n\
         [inputs.app]\ntype = \"file\"\npaths = [{logs:?}]\nscan_interval = \"100ms\"\nfields = {{ service = \"mqtt\" }}\n\n\
         {filters}\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [{url:?}]\nflush_interval = \"100ms\"\n{output_extra}\n",
        data = dir.join("data").display().to_string(),
        logs = logs.display().to_string(),
        filters = if filters {
            seed_filters()
        } else {
            "[[filters]]\ntype = \"json\"\nsource = \"message\"\n".to_string()
        },
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `sluice run --once` with a deadline (a run that hangs is killed and fails the test).
fn run_once(config: &Path) -> (i32, String) {
    run_once_with(config, &[])
}

fn run_once_with(config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let env: Vec<(&str, &str)> = [("SLUICE_LOG", "debug")]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    common::run_once_bounded(config, &env, Duration::from_secs(90))
}

fn run_once_ok(config: &Path) -> String {
    let (code, stderr) = run_once(config);
    assert_eq!(code, 0, "sluice failed:\n{stderr}");
    stderr
}

/// `count` JSON lines `{"@timestamp":...,"seq":i,...}` spread over two UTC days.
fn write_lines(path: &Path, range: std::ops::Range<usize>) {
    write_padded_lines(path, range, 0);
}

/// [`write_lines`] with a `pad`-byte `padding` field in every line.
fn write_padded_lines(path: &Path, range: std::ops::Range<usize>, pad: usize) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    let padding = "x".repeat(pad);
    for i in range {
        let day = if i % 2 == 0 { "01" } else { "02" };
        text.push_str(&format!(
            "{{\"@timestamp\":\"2024-05-{day}T12:00:00.000Z\",\"level\":\"info\",\"message\":\"event {i}\",\"seq\":{i},\"category\":\"connection\",\"padding\":\"{padding}\"}}\n"
        ));
    }
    file.write_all(text.as_bytes()).unwrap();
}

/// How often each `seq` is stored on the node.
fn seq_counts(fake: &FakeBulk) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (_, _, doc) in fake.documents() {
        if let Some(seq) = doc["seq"].as_u64() {
            *counts.entry(seq).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_exactly_once(fake: &FakeBulk, count: usize) {
    let counts = seq_counts(fake);
    let missing: Vec<usize> = (0..count)
        .filter(|i| !counts.contains_key(&(*i as u64)))
        .collect();
    let doubled: Vec<(&u64, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(doubled.is_empty(), "duplicated: {doubled:?}");
    assert_eq!(fake.total(), count);
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|kb| kb.parse::<f64>().unwrap() / 1024.0)
        .unwrap()
}

/// A test's directory, with `app.log` holding `lines` (see [`write_lines`]).
fn log_dir(lines: std::ops::Range<usize>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app.log");
    write_lines(&logs, lines);
    (dir, logs)
}

/// The file input checkpointed the whole of `logs`: every event was settled.
fn assert_all_checkpointed(dir: &Path, logs: &Path, why: &str) {
    assert_eq!(
        checkpoint_offset(dir),
        std::fs::metadata(logs).unwrap().len(),
        "{why}"
    );
}

fn checkpoint_offset(dir: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(dir.join("data/checkpoints/app.json")) else {
        return 0;
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    value["files"].as_array().map_or(0, |files| {
        files
            .iter()
            .map(|f| f["offset"].as_u64().unwrap_or(0))
            .sum()
    })
}

#[test]
fn the_sample_lands_in_two_daily_indices_and_a_rerun_adds_no_duplicates() {
    let fake = FakeBulk::start();
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &sample_path(), &fake.url(), "", true);
    let stderr = run_once_ok(&config);
    assert!(
        stderr.contains("Connected to OpenSearch 2.19.6"),
        "flavour not reported:\n{stderr}"
    );

    // The expected split, computed from the sample's own timestamps (UTC days).
    let sample = std::fs::read_to_string(sample_path()).unwrap();
    let mut expected: HashMap<String, usize> = HashMap::new();
    for line in sample.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let day = value["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
        *expected.entry(format!("mqtt-logs-{day}")).or_insert(0) += 1;
    }
    assert_eq!(expected.len(), 2, "the sample crosses midnight UTC");
    assert_eq!(fake.counts(), expected);
    let requests = fake.seen();
    assert!(requests.iter().all(|r| r.gzip), "gzip level 1 by default");
    let documents = fake.documents();
    let first = documents
        .iter()
        .find(|(_, _, doc)| doc["category"] == "performance")
        .unwrap();
    assert_eq!(first.2["severity"], "low", "filters ran before indexing");
    assert_eq!(first.1.len(), 32, "deterministic id: {}", first.1);

    // Replay from scratch: every document is a 409 (already there), counted as success.
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    run_once_ok(&config);
    assert_eq!(fake.counts(), expected, "a resend must not duplicate");
    assert!(
        dir.path().join("data/checkpoints/app.json").exists(),
        "409s are successes: the input checkpoints"
    );
    assert!(
        !dir.path().join("data/dead_letter/es.ndjson").exists(),
        "nothing is dead-lettered"
    );
}

/// Whole-request 429s and 5xx, connections reset mid-request, items rejected with 429 and
/// 500: with cluster-generated ids (`index`, no deterministic ids) any resend of an item that
/// was already indexed would be a second document, so this proves that only what failed is
/// sent again, and that everything arrives.
#[test]
fn storms_resets_and_item_rejections_lose_and_duplicate_nothing() {
    let fake = FakeBulk::start();
    fake.push([
        Fault::Status(429),
        Fault::Status(429),
        Fault::Items {
            every: 3,
            status: 429,
        },
        Fault::Status(503),
        Fault::Reset,
        Fault::Items {
            every: 2,
            status: 500,
        },
        Fault::Status(502),
        Fault::Reset,
        Fault::Items {
            every: 1,
            status: 429,
        },
    ]);
    let (dir, logs) = log_dir(0..3000);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "action = \"index\"\ndeterministic_ids = false\nmax_events = 500\n",
        false,
    );
    run_once_ok(&config);
    assert_eq!(fake.pending_faults(), 0, "every fault was exercised");
    assert_exactly_once(&fake, 3000);
    // Answered requests carried each event once plus exactly the items rejected before.
    let seen = fake.seen();
    let carried: usize = seen
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.items)
        .sum();
    let rejected: usize = seen.iter().map(|r| r.rejected).sum();
    assert!(rejected > 0);
    let unanswered: usize = seen
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| r.items)
        .sum();
    assert!(unanswered > 0);
    assert_eq!(carried, 3000 + rejected, "{seen:#?}");
    assert_all_checkpointed(dir.path(), &logs, "every event settled");
}

/// Five 429s in a row: the gaps between attempts, measured where the requests arrive, grow
/// (each wait is drawn from the upper half of a doubling ceiling, capped).
#[test]
fn retries_back_off_exponentially_up_to_the_cap() {
    let fake = FakeBulk::start();
    fake.push(std::iter::repeat_n(Fault::Status(429), 5));
    let (dir, logs) = log_dir(0..10);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "retry_initial_interval = \"200ms\"\nretry_max_interval = \"1600ms\"\n",
        false,
    );
    run_once_ok(&config);
    assert_exactly_once(&fake, 10);
    let seen = fake.seen();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    let gaps: Vec<f64> = seen
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    // Ceilings 0.2, 0.4, 0.8, 1.6, 1.6 s; each wait is in [ceiling / 2, ceiling].
    let ceilings = [0.2, 0.4, 0.8, 1.6, 1.6];
    for (gap, ceiling) in gaps.iter().zip(ceilings) {
        assert!(
            *gap >= ceiling / 2.0,
            "gap {gap} below {ceiling}/2: {gaps:?}"
        );
        assert!(
            *gap <= ceiling + 0.5,
            "gap {gap} far above {ceiling}: {gaps:?}"
        );
    }
    assert!(
        gaps[2] > 1.5 * gaps[0] && gaps[3] > 1.5 * gaps[1],
        "{gaps:?}"
    );
}

/// A node that answers only after the request timed out has indexed the events anyway: the
/// resend meets 409s (`create` with deterministic ids), which count as success.
#[test]
fn a_timed_out_request_is_resent_and_its_409s_count_as_success() {
    let fake = FakeBulk::start();
    fake.push([Fault::Delay(Duration::from_millis(1500))]);
    let (dir, logs) = log_dir(0..200);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        // One encoder, so that the 200 lines are one request, resent whole.
        "timeout = \"500ms\"\nencoders = 1\n",
        false,
    );
    run_once_ok(&config);
    assert_exactly_once(&fake, 200);
    // The resend met the documents the slow request had indexed: 200 conflicts.
    let seen = fake.seen();
    assert!(seen.iter().any(|r| r.conflicts == 200), "{seen:#?}");
    assert_all_checkpointed(dir.path(), &logs, "every event settled");
    assert!(!dir.path().join("data/dead_letter/es.ndjson").exists());
}

/// Several encoders fill requests at the same time, yet no more than `concurrency` requests
/// are ever in flight, and every event is indexed exactly once.
#[test]
fn parallel_encoders_share_the_concurrency_limit_and_lose_nothing() {
    let fake = FakeBulk::start();
    // Every request answers slowly, so requests pile up if the limit leaks.
    fake.push((0..40).map(|_| Fault::Delay(Duration::from_millis(100))));
    let (dir, logs) = log_dir(0..2000);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "encoders = 3\nconcurrency = 2\nmax_events = 50\n",
        false,
    );
    run_once_ok(&config);
    assert_exactly_once(&fake, 2000);
    assert!(fake.seen().len() >= 40, "{} requests", fake.seen().len());
    assert_eq!(
        fake.max_in_flight(),
        2,
        "in flight at once, over all encoders"
    );
    assert_all_checkpointed(dir.path(), &logs, "every event settled");
}

/// Mapping conflicts (400) and unresolvable index names go to the dead-letter file, are
/// acknowledged (the checkpoint passes them) and do not hold up the rest.
#[test]
fn refused_events_end_in_the_dead_letter_file_and_do_not_block() {
    let fake = FakeBulk::start();
    fake.require_numeric("durationMs");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app.log");
    let mut text = String::new();
    for i in 0..100 {
        let duration = if i == 7 {
            "\"slow\"".to_string()
        } else {
            i.to_string()
        };
        let device = if i == 9 {
            String::new()
        } else {
            ",\"device\":\"gw-1\"".to_string()
        };
        text.push_str(&format!(
            "{{\"@timestamp\":\"2024-05-01T12:00:00.000Z\",\"seq\":{i},\"durationMs\":{duration}{device}}}\n"
        ));
    }
    std::fs::write(&logs, text).unwrap();
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "index = \"logs-%{device}-%{+YYYY.MM.dd}\"\n",
        false,
    );
    run_once_ok(&config);
    assert_eq!(
        fake.counts(),
        HashMap::from([("logs-gw-1-2024.05.01".to_string(), 98)])
    );

    let letters: Vec<Value> =
        std::fs::read_to_string(dir.path().join("data/dead_letter/es.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(letters.len(), 2, "{letters:#?}");
    let conflict = letters.iter().find(|l| l["event"]["seq"] == 7).unwrap();
    assert_eq!(conflict["status"], 400);
    assert_eq!(conflict["error"]["type"], "mapper_parsing_exception");
    assert_eq!(conflict["index"], "logs-gw-1-2024.05.01");
    assert_eq!(conflict["event"]["durationMs"], "slow");
    assert_eq!(conflict["output"], "es");
    let unresolved = letters.iter().find(|l| l["event"]["seq"] == 9).unwrap();
    assert_eq!(unresolved["status"], 400);
    assert_eq!(unresolved["index"], "logs-%{device}-2024.05.01");
    assert!(
        unresolved["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot resolve"),
        "{unresolved}"
    );
    assert_all_checkpointed(dir.path(), &logs, "dead-lettered events are acknowledged");
    let bulk_items: usize = fake.seen().iter().map(|r| r.items).sum();
    assert_eq!(bulk_items, 99, "the unresolvable event is never sent");
}

/// A full dead-letter file does not stop the pipeline: letters beyond
/// `dead_letter_max_bytes` are dropped whole, counted and reported, and the events are still
/// acknowledged (a deliberate, counted disposal).
#[test]
fn a_full_dead_letter_file_drops_counted_letters_and_the_pipeline_goes_on() {
    let fake = FakeBulk::start();
    fake.require_numeric("durationMs");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app.log");
    let text: String = (0..40)
        .map(|i| {
            format!("{{\"@timestamp\":\"2024-05-01T12:00:00.000Z\",\"seq\":{i},\"durationMs\":\"slow\"}}\n")
        })
        .collect();
    std::fs::write(&logs, text).unwrap();
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "dead_letter_max_bytes = 4000\n",
        false,
    );
    let stderr = run_once_ok(&config);
    let letters_path = dir.path().join("data/dead_letter/es.ndjson");
    let letters = std::fs::read_to_string(&letters_path).unwrap();
    let kept: Vec<Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(kept
        .iter()
        .all(|l| l["status"] == 400 && l["event"]["durationMs"] == "slow"));
    let kept = kept.len();
    assert!(kept > 0 && kept < 40, "{kept} letters kept");
    assert!(letters.len() <= 4000, "{} bytes", letters.len());
    assert!(
        stderr.contains("dead_letter_max_bytes"),
        "the drop is reported:\n{stderr}"
    );
    // Each refused event is logged with its fate, after the write.
    let logged = |fate: &str| stderr.lines().filter(|l| l.contains(fate)).count();
    assert_eq!(
        (
            logged("Event refused; written to the dead-letter file."),
            logged("Event refused; dropped, the dead-letter file is full.")
        ),
        (kept, 40 - kept),
        "{stderr}"
    );
    // The end-of-run summary counts both.
    let summary = stderr
        .lines()
        .find(|l| l.contains("Component totals.") && l.contains("component_id=es"))
        .unwrap_or_else(|| panic!("no summary for the output:\n{stderr}"));
    assert!(
        summary.contains(&format!("dead_letters_total={kept}"))
            && summary.contains(&format!("dead_letters_dropped_total={}", 40 - kept)),
        "{summary}"
    );
    assert_all_checkpointed(dir.path(), &logs, "dropped letters are acknowledged");
}

/// The node goes down mid-run: the output waits (no crash, no buffering without bound: the
/// file input's checkpoint stays at what was indexed and sluice's memory stays small), and
/// when it is back everything arrives exactly once.
#[test]
fn while_the_node_is_down_the_pipeline_waits_and_then_delivers_everything() {
    let fake = FakeBulk::start();
    let (dir, logs) = log_dir(0..500);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "max_events = 100\ncompression_level = 0\n",
        false,
    );
    let sluice = Sluice::start(&config);
    assert!(
        wait_until(Duration::from_secs(20), || fake.total() == 500
            && checkpoint_offset(dir.path())
                == std::fs::metadata(&logs).unwrap().len()),
        "first part not delivered:\n{}",
        sluice.stderr()
    );
    let indexed_offset = checkpoint_offset(dir.path());

    let rss_before = rss_mib(sluice.pid());

    fake.set_down(true);
    // 40,000 more lines of ~1.1 kB (45 MB): far more than the pipeline may hold.
    write_padded_lines(&logs, 500..40_500, 1000);
    assert!(
        wait_until(Duration::from_secs(30), || sluice
            .stderr()
            .matches("retrying")
            .count()
            >= 5),
        "no retries logged:\n{}",
        sluice.stderr()
    );
    assert_eq!(
        checkpoint_offset(dir.path()),
        indexed_offset,
        "no checkpoint past undelivered events"
    );
    let growth = rss_mib(sluice.pid()) - rss_before;
    assert!(
        growth < 25.0,
        "sluice grew by {growth} MiB while the node was down"
    );

    fake.set_down(false);
    assert!(
        wait_until(Duration::from_secs(120), || fake.total() == 40_500),
        "not everything arrived after the node came back ({} of 40500):\n{}",
        fake.total(),
        sluice.stderr()
    );
    sluice.stop();
    assert_exactly_once(&fake, 40_500);
    assert_all_checkpointed(dir.path(), &logs, "every event settled");
}

/// Started while the cluster is unreachable: nothing is read past what the queues hold, no
/// failure; the output starts when the node appears.
#[test]
fn an_unreachable_cluster_at_start_is_waited_for() {
    let fake = FakeBulk::start();
    fake.set_down(true);
    let (dir, logs) = log_dir(0..1000);
    let config = pipeline(dir.path(), &logs, &fake.url(), "", false);
    let sluice = Sluice::start(&config);
    assert!(
        wait_until(Duration::from_secs(20), || sluice
            .stderr()
            .matches("not reachable")
            .count()
            >= 2),
        "{}",
        sluice.stderr()
    );
    assert_eq!(fake.root_requests(), 0);
    assert_eq!(checkpoint_offset(dir.path()), 0);
    // `/ready` names the output while its cluster is unreachable ...
    let api = api_address(&sluice.stderr());
    let (status, body) = http_get(&api, "/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not reachable"), "{body}");
    fake.set_down(false);
    assert!(
        wait_until(Duration::from_secs(20), || fake.total() == 1000),
        "{}",
        sluice.stderr()
    );
    // ... and is ready once it has answered.
    assert!(
        wait_until(Duration::from_secs(20), || http_get(&api, "/ready").0
            == 200),
        "{}",
        http_get(&api, "/ready").1
    );
    sluice.stop();
    assert_exactly_once(&fake, 1000);
}

/// The monitoring API's address, from the `API listening on http://ADDR` log line.
fn api_address(stderr: &str) -> String {
    let start = stderr
        .find("API listening on http://")
        .unwrap_or_else(|| panic!("no API address in:\n{stderr}"))
        + "API listening on http://".len();
    stderr[start..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

/// A plain HTTP/1.0 GET over a real socket: (status, body).
fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An abort (a second Ctrl-C in the binary, `abort` in the library) ends the retry loop at
/// once, and the input does not checkpoint what was not indexed; the next run delivers it.
#[test]
fn abort_interrupts_the_retry_loop_and_the_checkpoint_stays_behind() {
    let fake = FakeBulk::start();
    fake.push(std::iter::repeat_n(Fault::Status(503), 10_000));
    let (dir, logs) = log_dir(0..300);
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "retry_initial_interval = \"100ms\"\nretry_max_interval = \"60s\"\n",
        false,
    );
    let compiled = sluice::pipeline::compile(sluice::pipeline::load(&config).unwrap()).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let abort = tokio_util::sync::CancellationToken::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let runner = {
        let (shutdown, abort) = (shutdown.clone(), abort.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let result = runtime.block_on(compiled.run(
                sluice::pipeline::RunOptions { once: false },
                shutdown,
                abort,
            ));
            done_tx.send(result.is_ok()).unwrap();
        })
    };
    assert!(wait_until(Duration::from_secs(20), || fake.seen().len() >= 4));
    // A graceful shutdown keeps retrying (draining)...
    shutdown.cancel();
    assert!(
        done_rx.recv_timeout(Duration::from_millis(800)).is_err(),
        "drain gave up"
    );
    // ...an abort stops it even in the middle of a long backoff.
    abort.cancel();
    let ok = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the run did not stop after abort");
    assert!(ok);
    runner.join().unwrap();
    assert_eq!(checkpoint_offset(dir.path()), 0, "nothing was indexed");
    assert_eq!(fake.total(), 0);

    // The node recovers: the next run delivers everything, once.
    let fresh = FakeBulk::start();
    let config = pipeline(dir.path(), &logs, &fresh.url(), "", false);
    run_once_ok(&config);
    assert_exactly_once(&fresh, 300);
}

#[test]
fn wrong_credentials_url_or_tls_stop_the_run_with_a_clear_message_and_no_secret() {
    let fake = FakeBulk::start();
    fake.require_authorization("Basic ZWxhc3RpYzpyaWdodA=="); // elastic:right
    let (dir, logs) = log_dir(0..10);

    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        "user = \"elastic\"\npassword = \"${ES_TEST_PASSWORD}\"\n",
        false,
    );
    let run = |password: &str| {
        let (code, stderr) = run_once_with(&config, &[("ES_TEST_PASSWORD", password)]);
        (Some(code), stderr)
    };
    let (code, stderr) = run("wrong-Pa55word");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("401") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-Pa55word"),
        "the password was logged:\n{stderr}"
    );
    assert_eq!(fake.total(), 0);
    let (code, stderr) = run("right");
    assert_eq!(code, Some(0), "{stderr}");
    assert_exactly_once(&fake, 10);
    assert!(!stderr.contains("right\""), "{stderr}");

    // A URL that is not a node's root.
    let fake = FakeBulk::start();
    let config = pipeline(
        dir.path(),
        &logs,
        &format!("{}/not-es", fake.url()),
        "",
        false,
    );
    let (code, stderr) = run_once(&config);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is this the URL"), "{stderr}");

    // https:// to a plain HTTP port: a TLS failure, reported as such.
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url().replace("http://", "https://"),
        "",
        false,
    );
    let (code, stderr) = run_once(&config);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("TLS"), "{stderr}");
}

#[test]
fn the_template_is_installed_first_and_compression_can_be_turned_off() {
    let fake = FakeBulk::start();
    fake.as_elasticsearch();
    let (dir, logs) = log_dir(0..50);
    let template = dir.path().join("template.json");
    std::fs::write(
        &template,
        r#"{"index_patterns":["mqtt-logs-*"],"template":{"mappings":{"properties":{"durationMs":{"type":"long"}}}}}"#,
    )
    .unwrap();
    let config = pipeline(
        dir.path(),
        &logs,
        &fake.url(),
        &format!(
            "template = {:?}\ncompression_level = 0\n",
            template.display().to_string()
        ),
        false,
    );
    let stderr = run_once_ok(&config);
    assert!(
        stderr.contains("Connected to Elasticsearch 8.13.4"),
        "{stderr}"
    );
    let templates = fake.templates();
    assert_eq!(
        templates["mqtt-logs"]["index_patterns"],
        serde_json::json!(["mqtt-logs-*"])
    );
    assert!(fake.seen().iter().all(|r| !r.gzip));
    assert_exactly_once(&fake, 50);
}

#[test]
fn configuration_mistakes_are_reported_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app.log");
    let check = |extra: &str| {
        let config = pipeline(dir.path(), &logs, "http://localhost:9200", extra, false);
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["validate", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(check("").0, Some(0));
    let (code, stderr) = check("data_stream = true\naction = \"index\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("data streams accept only"), "{stderr}");
    let (code, stderr) = check("compression_level = 12\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("compression_level"), "{stderr}");
    let (code, stderr) = check("template = \"/nonexistent/template.json\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read `template`"), "{stderr}");
    let (code, stderr) = check("api_key = \"a:b\"\nbearer_token = \"t\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("one authentication method"), "{stderr}");
    let (code, stderr) = check("flush_intervall = \"1s\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("flush_intervall"), "{stderr}");
}

/// `pipelines/mqtt.toml` indexes into the cluster named by one environment variable, and
/// without it runs anyway with the output disabled (its events counted as dropped).
#[test]
fn the_shipped_pipeline_indexes_with_one_env_var() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let sample = sample_path().display().to_string();

    let unset_data = dir.path().join("unset").display().to_string();
    let (code, stderr) = run_once_with(
        &manifest.join("pipelines/mqtt.toml"),
        &[
            ("MQTT_LOG_PATH", sample.as_str()),
            ("SLUICE_DATA_DIR", unset_data.as_str()),
            ("SLUICE_OUT_DIR", unset_data.as_str()),
            ("BEATS_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Elasticsearch output has no hosts"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("component_id=elasticsearch")
                && l.contains("events_in=333")
                && l.contains("dropped=333")),
        "{stderr}"
    );

    let fake = FakeBulk::start();
    let data = dir.path().join("data").display().to_string();
    let (code, stderr) = run_once_with(
        &manifest.join("pipelines/mqtt.toml"),
        &[
            ("ELASTICSEARCH_URL", fake.url().as_str()),
            ("MQTT_LOG_PATH", sample.as_str()),
            ("SLUICE_DATA_DIR", data.as_str()),
            ("SLUICE_OUT_DIR", data.as_str()),
            ("BEATS_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fake.total(), 333);
    assert!(fake
        .counts()
        .keys()
        .all(|index| index.starts_with("mqtt-logs-")));
    assert!(
        fake.templates().contains_key("mqtt-logs"),
        "the shipped template is installed"
    );
}
