//! The monitoring API through the real binary on a real loopback port: `/metrics` parsed as
//! Prometheus text and checked against the events processed, `/ready` flipping both ways,
//! `/_node/stats`, Beats connection metrics, sluice's JSON logs fed back through sluice, and
//! `--once` progress staying off when stderr is not a terminal.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

/// A `sluice run` in the background with its API on a system-chosen port.
struct Running {
    child: Child,
    api: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(config: &Path, dir: &Path) -> Self {
        Self::start_with(config, dir, &[])
    }

    /// [`Running::start`] with more command-line arguments (e.g. `--log-format json`).
    fn start_with(config: &Path, dir: &Path, args: &[&str]) -> Self {
        let mut child = sluice()
            .args(args)
            .args(["run", "--api-address", "127.0.0.1:0", "-c"])
            .arg(config)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        let mut running = Self {
            child,
            api: String::new(),
            stderr,
        };
        let api = running
            .wait_for_log(|line| {
                line.split_whitespace()
                    .find(|word| word.starts_with("http://"))
                    .filter(|_| line.contains("API listening on"))
                    // In a JSON log line the address is followed by the string's closing quote.
                    .and_then(|word| word.split('"').next())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no API address logged: {:?}", running.stderr()));
        running.api = api;
        running
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for_log<T>(&mut self, mut find: impl FnMut(&str) -> Option<T>) -> Option<T> {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(found) = self.stderr().iter().find_map(|line| find(line)) {
                return Some(found);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sluice exited with {status}: {:?}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "sluice did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a scrape, checked for the format's rules on the way: every sample under
/// the `# TYPE` of its family, one `# HELP` and one `# TYPE` per family.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut family = String::new();
    let mut family_type = String::new();
    let mut seen_types = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                seen_types.insert(name.to_string()),
                "two TYPE lines for {name}"
            );
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            family = name.to_string();
            family_type = kind.to_string();
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("bad line {line}"),
        };
        let mut labels = BTreeMap::new();
        let value_text = if let Some(mut rest) = rest.strip_prefix('{') {
            loop {
                let eq = rest.find('=').unwrap();
                let key = rest[..eq].to_string();
                rest = &rest[eq + 1..];
                assert!(rest.starts_with('"'), "{line}");
                let mut value = String::new();
                let mut chars = rest[1..].char_indices();
                let end = loop {
                    let (i, c) = chars.next().unwrap();
                    match c {
                        '\\' => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break i + 2,
                        c => value.push(c),
                    }
                };
                labels.insert(key, value);
                rest = &rest[end..];
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                } else {
                    break rest.strip_prefix('}').unwrap();
                }
            }
        } else {
            rest
        };
        let value = match value_text.trim() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let base = if family_type == "histogram" {
            name.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
        } else {
            name
        };
        assert_eq!(base, family, "{line} outside its family");
        if family_type == "counter" {
            assert!(name.ends_with("_total"), "counter {name}");
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches {matching:?}"
    );
    matching.first().map(|s| s.value)
}

/// Checks one histogram series: cumulative buckets, `+Inf` equal to `_count`. Returns
/// `(count, sum)`.
fn histogram(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| {
            s.name == format!("{name}_bucket")
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| {
            let le = match s.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                other => other.parse().unwrap(),
            };
            (le, s.value)
        })
        .collect();
    assert!(!buckets.is_empty(), "no buckets for {name} {labels:?}");
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for pair in buckets.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "{name} buckets not cumulative: {buckets:?}"
        );
    }
    let last = buckets.last().unwrap();
    assert_eq!(last.0, f64::INFINITY);
    let count = value(samples, &format!("{name}_count"), labels).unwrap();
    let sum = value(samples, &format!("{name}_sum"), labels).unwrap();
    assert_eq!(last.1, count, "{name}: +Inf bucket != _count");
    (count, sum)
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn scrape(running: &Running) -> Vec<Sample> {
    let response = reqwest::get(running.url("/metrics")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_prometheus(&response.text().await.unwrap())
}

/// Polls `check` until it returns `Some` or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn log_lines(count: usize) -> String {
    (0..count)
        .map(|i| {
            let message = if i == 7 { "boom" } else { "ok" };
            format!(
                "{{\"@timestamp\":\"2020-01-01T00:00:00.000Z\",\"level\":\"info\",\"message\":\"{message}\",\"n\":{i}}}\n"
            )
        })
        .collect()
}

const EVENTS: usize = 50;

fn tailing_pipeline(dir: &Path) -> PathBuf {
    write(dir, "app.log", &log_lines(EVENTS));
    write(
        dir,
        "p.toml",
        r#"
data_dir = "data"

[inputs.logs]
type = "file"
paths = ["app.log"]

[[filters]]
type = "json"
source = "message"

[[filters]]
id = "boom"
type = "script"
source = 'if event.message == "boom" { throw "boom!"; }'

[outputs.archive]
type = "file"
path = "out/archive.ndjson"

[outputs.discard]
type = "null"
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_events_processed() {
    let dir = tempfile::tempdir().unwrap();
    let config = tailing_pipeline(dir.path());
    let running = Running::start(&config, dir.path());
    let fanout = [("component_kind", "pipeline"), ("component_id", "outputs")];
    let samples = eventually("every event delivered", || async {
        let samples = scrape(&running).await;
        (value(&samples, "sluice_events_out_total", &fanout) == Some(EVENTS as f64))
            .then_some(samples)
    })
    .await;

    let input = [
        ("component_kind", "input"),
        ("component_id", "logs"),
        ("component_type", "file"),
    ];
    let file_len = std::fs::metadata(dir.path().join("app.log")).unwrap().len() as f64;
    assert_eq!(
        value(&samples, "sluice_events_in_total", &input),
        Some(EVENTS as f64)
    );
    // The file input counts the bytes it read, newlines included: the file's length.
    assert_eq!(
        value(&samples, "sluice_bytes_total", &input),
        Some(file_len)
    );
    let path = dir.path().join("app.log");
    let path = path.to_str().unwrap();
    let lag_labels: Vec<(&str, &str)> =
        input.iter().copied().chain([("path", "app.log")]).collect();
    let lag = value(&samples, "sluice_file_lag_bytes", &lag_labels)
        .or_else(|| {
            let with_full: Vec<(&str, &str)> =
                input.iter().copied().chain([("path", path)]).collect();
            value(&samples, "sluice_file_lag_bytes", &with_full)
        })
        .expect("file_lag_bytes for app.log");
    assert_eq!(lag, 0.0, "everything was read");
    assert!(value(&samples, "sluice_files_open", &input).is_some());
    assert!(value(&samples, "sluice_checkpoint_age_seconds", &input).is_some());

    let script = [
        ("component_kind", "filter"),
        ("component_id", "boom"),
        ("component_type", "script"),
    ];
    assert_eq!(
        value(&samples, "sluice_errors_total", &script),
        Some(1.0),
        "the script error surfaces"
    );
    assert_eq!(
        value(&samples, "sluice_events_in_total", &script),
        Some(EVENTS as f64)
    );

    for output in ["archive", "discard"] {
        let labels = [("component_kind", "output"), ("component_id", output)];
        assert_eq!(
            value(&samples, "sluice_events_out_total", &labels),
            Some(EVENTS as f64)
        );
        // Weighted by events; the events are from 2020, so every one is beyond 60 s.
        let (count, sum) = histogram(&samples, "sluice_end_to_end_latency_seconds", &labels);
        assert_eq!(count, EVENTS as f64);
        assert!(sum > EVENTS as f64 * 60.0, "{sum}");
        let below_inf = samples
            .iter()
            .filter(|s| s.name == "sluice_end_to_end_latency_seconds_bucket")
            .filter(|s| s.labels["component_id"] == output && s.labels["le"] == "60")
            .map(|s| s.value)
            .next()
            .unwrap();
        assert_eq!(below_inf, 0.0);
        let (batches, events) = histogram(&samples, "sluice_batch_events", &labels);
        assert!(batches >= 1.0);
        assert_eq!(events, EVENTS as f64);
    }
    assert!(value(&samples, "sluice_process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(value(&samples, "sluice_process_open_fds", &[]).unwrap() > 0.0);
    assert!(value(&samples, "sluice_process_cpu_seconds_total", &[]).is_some());
    assert!(value(&samples, "sluice_process_start_time_seconds", &[]).unwrap() > 1.6e9);
    assert_eq!(
        value(
            &samples,
            "sluice_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Ready: the input scanned, both outputs can write.
    let (status, body) = get(&running.url("/ready")).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["components"].as_array().unwrap().len(), 3);

    let (status, stats) = get(&running.url("/_node/stats")).await;
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["events"]["in"], EVENTS);
    assert_eq!(stats["events"]["filtered"], EVENTS);
    assert_eq!(stats["events"]["out"], EVENTS);
    assert_eq!(stats["status"], "green");
    let plugins = &stats["pipelines"]["main"]["plugins"];
    assert_eq!(plugins["inputs"][0]["id"], "logs");
    assert_eq!(plugins["inputs"][0]["name"], "file");
    assert_eq!(plugins["inputs"][0]["events"]["out"], EVENTS);
    let filters = plugins["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 2);
    assert_eq!(filters[1]["errors"], 1);
    let outputs = plugins["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    for output in outputs {
        assert_eq!(output["events"]["in"], EVENTS);
        assert_eq!(output["events"]["out"], EVENTS);
    }
    assert!(stats["process"]["open_file_descriptors"].as_u64().unwrap() > 0);
    assert!(stats["pipeline"]["batch_size"].is_u64());

    assert_eq!(get(&running.url("/health")).await.0, 200);
    let (status, body) = get(&running.url("/no/such/thing")).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "not found"
    );

    // More lines: the counters follow, and the file is read to its end again.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("app.log"))
        .unwrap();
    log.write_all(log_lines(10).as_bytes()).unwrap();
    eventually("the appended events", || async {
        let samples = scrape(&running).await;
        (value(&samples, "sluice_events_out_total", &fanout) == Some(EVENTS as f64 + 10.0))
            .then_some(())
    })
    .await;
    assert!(running.stop().success());
}

/// The standard counters of one component, in the order `/metrics` names them.
const COUNTERS: [&str; 5] = [
    "events_in",
    "events_out",
    "events_dropped",
    "events_failed",
    "errors",
];

/// Every component's standard counters from a scrape, by (kind, id).
fn counters_by_component(samples: &[Sample]) -> BTreeMap<(String, String), [f64; 5]> {
    let mut components = BTreeMap::new();
    for sample in samples {
        let Some(index) = COUNTERS
            .iter()
            .position(|c| sample.name == format!("sluice_{c}_total"))
        else {
            continue;
        };
        let key = (
            sample.labels["component_kind"].clone(),
            sample.labels["component_id"].clone(),
        );
        let entry = components.entry(key).or_insert([f64::NAN; 5]);
        entry[index] = sample.value;
    }
    components
}

/// `/metrics`, `/_node/stats` and the end-of-run totals read the same counters, so they
/// agree for every component (an input's `events_out_total` was 0 on `/metrics` and in the
/// totals while `/_node/stats` showed the events it produced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_node_stats_and_end_of_run_totals_agree() {
    let dir = tempfile::tempdir().unwrap();
    let config = tailing_pipeline(dir.path());
    let running = Running::start_with(&config, dir.path(), &["--log-format", "json"]);
    let fanout = [("component_kind", "pipeline"), ("component_id", "outputs")];
    let samples = eventually("every event delivered", || async {
        let samples = scrape(&running).await;
        (value(&samples, "sluice_events_out_total", &fanout) == Some(EVENTS as f64))
            .then_some(samples)
    })
    .await;
    let scraped = counters_by_component(&samples);
    let input = scraped[&("input".to_string(), "logs".to_string())];
    assert_eq!(
        input[..3],
        [EVENTS as f64, EVENTS as f64, 0.0],
        "the input read and handed on every line"
    );

    let (status, stats) = get(&running.url("/_node/stats")).await;
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let plugins = &stats["pipelines"]["main"]["plugins"];
    let mut compared = 0;
    for (section, kind) in [
        ("inputs", "input"),
        ("filters", "filter"),
        ("outputs", "output"),
    ] {
        for plugin in plugins[section].as_array().unwrap() {
            let id = plugin["id"].as_str().unwrap().to_string();
            let from_stats = [
                &plugin["events"]["in"],
                &plugin["events"]["out"],
                &plugin["dropped"],
                &plugin["failed"],
                &plugin["errors"],
            ]
            .map(|v| v.as_f64().unwrap_or(f64::NAN));
            assert_eq!(
                Some(&from_stats),
                scraped.get(&(kind.to_string(), id.clone())),
                "{kind} `{id}`: /_node/stats (in, out, dropped, failed, errors) against /metrics"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 5, "one input, two filters, two outputs");
    let chain = scraped[&("pipeline".to_string(), "filters".to_string())];
    let delivered = scraped[&("pipeline".to_string(), "outputs".to_string())];
    assert_eq!(
        [
            &stats["events"]["in"],
            &stats["events"]["filtered"],
            &stats["events"]["out"]
        ]
        .map(|v| v.as_f64().unwrap()),
        [chain[0], chain[1], delivered[1]]
    );

    let log = running.stderr.clone();
    assert!(running.stop().success());
    // The reader thread may still be taking the last lines out of the pipe.
    let start = Instant::now();
    let stderr = loop {
        let lines = log.lock().unwrap().clone();
        if lines.iter().any(|l| l.contains("Pipeline finished.")) {
            break lines;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no end-of-run totals: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut totals = BTreeMap::new();
    for line in &stderr {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if line["message"] != "Component totals." {
            continue;
        }
        let key = (
            line["component_kind"].as_str().unwrap().to_string(),
            line["component_id"].as_str().unwrap().to_string(),
        );
        let counts = ["events_in", "events_out", "dropped", "failed", "errors"]
            .map(|name| line[name].as_f64().unwrap_or(f64::NAN));
        totals.insert(key, counts);
    }
    assert_eq!(totals, scraped, "end-of-run totals against /metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_naming_an_output_that_cannot_write_until_it_can() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", "");
    // A regular file where the output's directory should be: no directory can be created,
    // whoever runs the test (root included).
    write(dir.path(), "blocker", "not a directory");
    let config = write(
        dir.path(),
        "p.toml",
        r#"
data_dir = "data"
[inputs.logs]
type = "file"
paths = ["app.log"]
[outputs.archive]
type = "file"
path = "blocker/out-%{+YYYY.MM.dd}.ndjson"
"#,
    );
    let running = Running::start(&config, dir.path());
    let body = eventually("the input to be ready and the output not", || async {
        let (status, body) = get(&running.url("/ready")).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let not_ready = body["not_ready"].as_array().unwrap().clone();
        (status == 503 && not_ready.len() == 1 && not_ready[0]["reason"] != "starting")
            .then_some(body)
    })
    .await;
    assert_eq!(body["status"], "not_ready");
    let missing = &body["not_ready"][0];
    assert_eq!(missing["kind"], "output");
    assert_eq!(missing["id"], "archive");
    assert_eq!(missing["type"], "file");
    assert!(
        missing["reason"].as_str().unwrap().contains("blocker"),
        "{missing}"
    );
    let samples = scrape(&running).await;
    assert_eq!(value(&samples, "sluice_ready", &[]), Some(0.0));
    assert_eq!(
        value(
            &samples,
            "sluice_component_ready",
            &[("component_id", "archive")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "sluice_component_ready",
            &[("component_id", "logs")]
        ),
        Some(1.0)
    );

    // The obstacle goes away; the next successful write makes the output ready again.
    std::fs::remove_file(dir.path().join("blocker")).unwrap();
    std::fs::write(dir.path().join("app.log"), "{\"a\":1}\n").unwrap();
    eventually("/ready to answer 200", || async {
        (get(&running.url("/ready")).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(
        value(&scrape(&running).await, "sluice_ready", &[]),
        Some(1.0)
    );
    assert!(running.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_connections_windows_and_protocol_errors_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        r#"
data_dir = "data"
[inputs.beats]
type = "beats"
address = "127.0.0.1:0"
[outputs.discard]
type = "null"
"#,
    );
    let mut running = Running::start(&config, dir.path());
    let beats = running
        .wait_for_log(|line| {
            line.contains("Listening for Beats clients")
                .then(|| line.split("address=").nth(1))
                .flatten()
                .map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
        })
        .expect("the Beats address");
    let labels = [("component_kind", "input"), ("component_id", "beats")];
    eventually("/ready", || async {
        (get(&running.url("/ready")).await.0 == 200).then_some(())
    })
    .await;

    let mut client = tokio::net::TcpStream::connect(&beats).await.unwrap();
    eventually("one connection", || async {
        let samples = scrape(&running).await;
        (value(&samples, "sluice_beats_connections", &labels) == Some(1.0)).then_some(())
    })
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An empty window (acknowledged at once with sequence 0), then garbage.
    client.write_all(b"2W\0\0\0\0").await.unwrap();
    let mut ack = [0u8; 6];
    client.read_exact(&mut ack).await.unwrap();
    assert_eq!(&ack, b"2A\0\0\0\0");
    client.write_all(b"2Zgarbage").await.unwrap();
    let samples = eventually("the protocol error", || async {
        let samples = scrape(&running).await;
        (value(&samples, "sluice_beats_protocol_errors_total", &labels) == Some(1.0)
            && value(&samples, "sluice_beats_connections", &labels) == Some(0.0))
        .then_some(samples)
    })
    .await;
    assert_eq!(
        value(&samples, "sluice_beats_connections_total", &labels),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "sluice_beats_windows_total", &labels),
        Some(1.0)
    );
    let (_, stats) = get(&running.url("/_node/stats/pipelines")).await;
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        stats["pipelines"]["main"]["plugins"]["inputs"][0]["current_connections"],
        0
    );
    assert!(stats.get("process").is_none(), "only the section asked for");
    assert!(running.stop().success());
}

#[test]
fn json_logs_feed_back_through_sluice() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", &log_lines(5));
    let config = write(
        dir.path(),
        "p.toml",
        r#"
data_dir = "data"
[inputs.logs]
type = "file"
paths = ["app.log"]
[outputs.archive]
type = "file"
path = "out/app.ndjson"
"#,
    );
    let out = sluice()
        .args([
            "--log-format",
            "json",
            "run",
            "--once",
            "--api-address",
            "127.0.0.1:0",
            "-c",
        ])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8(out.stderr).unwrap();
    let mut with_component = 0;
    for line in logs.lines() {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["@timestamp", "level", "message"] {
            assert!(object[key].is_string(), "{key} missing in {line}");
        }
        if object["component_id"].is_string() && object["component_type"].is_string() {
            with_component += 1;
        }
    }
    assert!(with_component >= 2, "{logs}");
    std::fs::write(dir.path().join("sluice.log"), &logs).unwrap();

    // The log file through sluice itself: the json filter must parse every line.
    let feedback = write(
        dir.path(),
        "feedback.toml",
        r#"
data_dir = "data-feedback"
[inputs.own_logs]
type = "file"
paths = ["sluice.log"]
[[filters]]
type = "json"
source = "message"
[outputs.parsed]
type = "file"
path = "out/parsed.ndjson"
"#,
    );
    let out = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&feedback)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = std::fs::read_to_string(dir.path().join("out/parsed.ndjson")).unwrap();
    let events: Vec<Value> = parsed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), logs.lines().count());
    for event in &events {
        assert!(event.get("tags").is_none(), "parse failure: {event}");
        assert!(
            event["level"].is_string() && event["message"].is_string(),
            "{event}"
        );
    }
    assert!(events
        .iter()
        .any(|e| e["component_id"] == "archive" && e["component_type"] == "file"));
    // The console gets no progress bar when stderr is not a terminal.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains("events/s") && !stderr.contains('\r'),
        "{stderr}"
    );
    assert!(!stderr.contains("API listening"), "--no-api serves nothing");
}

#[test]
fn progress_is_drawn_on_a_terminal() {
    // `script` gives the run a pseudo-terminal; without it there is nothing to test here.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is not installed; skipping the terminal test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", &log_lines(20));
    let config = write(
        dir.path(),
        "p.toml",
        r#"
data_dir = "data"
[inputs.logs]
type = "file"
paths = ["app.log"]
[outputs.archive]
type = "file"
path = "out/app.ndjson"
"#,
    );
    let command = format!(
        "{} run --once --no-api -c {}",
        env!("CARGO_BIN_EXE_sluice"),
        config.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains("1 file"), "{terminal}");
    assert!(terminal.contains("20 events"), "{terminal}");
}

#[test]
fn a_taken_api_port_fails_the_run_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", "");
    let config = write(
        dir.path(),
        "p.toml",
        "data_dir = \"data\"\n[inputs.logs]\ntype = \"file\"\npaths = [\"app.log\"]\n[outputs.n]\ntype = \"null\"\n",
    );
    let out = sluice()
        .args(["run", "--once", "--api-address", &address, "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&address) && stderr.contains("monitoring API"),
        "{stderr}"
    );
}
