//! The Slack output through the real `sluice` binary against a faithful webhook double
//! (`tests/common/slack_double.rs`): content, pacing, coalescing, dedupe, Slack's error
//! answers, draining at exit, and the webhook secret staying out of the logs.
//!
//! Timing is asserted on the instants the double recorded when requests arrived. Arrival
//! instants can be closer together than send instants by the loopback jitter, so pacing
//! checks allow [`JITTER`].

mod common;

use common::slack_double::{Received, SlackDouble};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const JITTER: Duration = Duration::from_millis(50);

const FILTERS: &str = r#"
[[filters]]
type = "json"
source = "message"

[[filters]]
type = "severity"

[[filters]]
type = "topic_split"
if = '[details][topic]'

[[filters]]
type = "security_flag"
if = '[category] == "security"'
"#;

/// A stdin pipeline with the seed's alert routing: everything to a file, high severity and
/// security events to Slack (`slack` is the rest of the Slack output's table).
fn pipeline(dir: &Path, slack: &str) -> PathBuf {
    let text = format!(
        "data_dir = {data:?}\n[pipeline]\nworkers = 1\n\n[inputs.in]\ntype = \"stdin\"\n{FILTERS}\n\
         [outputs.archive]\ntype = \"file\"\npath = {out:?}\n\n\
         [outputs.slack]\ntype = \"slack\"\nif = 'severity == \"high\" or alert_type == \"security\"'\n{slack}\n",
        data = dir.join("data").display().to_string(),
        out = dir.join("out.ndjson").display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn webhook(url: &str) -> String {
    format!("webhook_url = {url:?}\n")
}

fn error_line(i: usize) -> String {
    format!(
        r#"{{"@timestamp":"2024-05-01T10:00:00.{i:03}Z","level":"error","message":"Broker connection lost {i}","event":"error","category":"error","error":{{"code":"ECONNREFUSED"}}}}"#
    )
}

fn security_line(i: usize) -> String {
    format!(
        r#"{{"@timestamp":"2024-05-01T10:00:01.{i:03}Z","level":"warn","message":"Unauthorized publish attempt {i}","event":"unauthorized_publish","category":"security","details":{{"topic":"sensors/dev-{i}/cmd"}}}}"#
    )
}

fn info_line(i: usize) -> String {
    format!(
        r#"{{"@timestamp":"2024-05-01T10:00:02.{i:03}Z","level":"info","message":"MQTT connection event {i}","event":"connected","category":"connection"}}"#
    )
}

struct Run {
    status: ExitStatus,
    stderr: String,
    elapsed: Duration,
}

/// `sluice [args] run --once -c config`, feeding `lines` on stdin (one every `pace`).
fn run_once(config: &Path, lines: &[String], pace: Option<Duration>, args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["run", "--once", "-c"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = lines.to_vec();
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
            stdin.flush().unwrap();
            if let Some(pace) = pace {
                // Pacing the producer (alerts arriving over time), not synchronisation.
                std::thread::sleep(pace);
            }
        }
    });
    writer.join().unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn archived(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("out.ndjson"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

fn is_summary(text: &str) -> bool {
    text.contains("arrived faster than the Slack rate limit")
}

/// A summary's `• N × kind` lines.
fn summary_counts(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("• "))
        .filter_map(|line| {
            let (count, kind) = line.split_once(" × ")?;
            Some((kind.to_string(), count.parse().ok()?))
        })
        .collect()
}

/// Token-bucket conformance of arrival instants: any k consecutive messages span at least
/// (k - burst) intervals.
fn assert_paced(requests: &[Received], burst: usize, interval: Duration) {
    for i in 0..requests.len() {
        for j in i + burst..requests.len() {
            let span = requests[j].at - requests[i].at;
            let needed = interval * u32::try_from(j - i + 1 - burst).unwrap();
            assert!(
                span + JITTER >= needed,
                "messages {i}..={j} arrived within {span:?}, the rate allows no less than {needed:?}"
            );
        }
    }
}

#[test]
fn the_seed_pipeline_sends_high_severity_and_security_alerts_with_blocks() {
    let double = SlackDouble::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let lines = [
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","level":"error","message":"MQTT error occurred","service":"mqtt-client","event":"error","category":"error","error":{"message":"connect ECONNREFUSED","code":"ECONNREFUSED"}}"#,
        r#"{"@timestamp":"2024-05-01T10:00:01.000Z","level":"warn","message":"Unauthorized publish <!channel>","service":"mqtt-client","event":"unauthorized_publish","category":"security","details":{"topic":"sensors/dev-7/cmd","clientId":"dev-7"}}"#,
        r#"{"@timestamp":"2024-05-01T10:00:02.000Z","level":"info","message":"MQTT connection event","service":"mqtt-client","event":"connected","category":"connection","details":{"broker":"mqtt://broker:1883"}}"#,
        r#"{"@timestamp":"2024-05-01T10:00:03.000Z","level":"warn","message":"Slow operation","service":"mqtt-client","event":"publish","category":"performance","durationMs":2500}"#,
    ];
    std::fs::write(
        dir.path().join("logs/mqtt-client.log"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let mqtt_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/mqtt.toml");
    let run = |slack_url: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(["run", "--once", "-c"])
            .arg(&mqtt_toml)
            .current_dir(dir.path())
            .env("MQTT_LOG_PATH", dir.path().join("logs/*.log"))
            .env("BEATS_ADDRESS", "127.0.0.1:0")
            .env("SLUICE_DATA_DIR", dir.path().join("data"))
            .env("KIBANA_URL", "https://kibana.example:5601")
            .env_remove("SLACK_WEBHOOK_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(url) = slack_url {
            command.env("SLACK_WEBHOOK_URL", url);
        }
        command.output().unwrap()
    };
    let output = run(Some(&double.url()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let mut accepted = double.accepted();
    assert_eq!(double.requests().len(), 2, "{:?}", double.requests());
    accepted.sort_by_key(Received::text);
    assert_eq!(accepted[0].text(), "MQTT Alert: MQTT error occurred");
    assert_eq!(
        accepted[1].text(),
        "MQTT Alert: Unauthorized publish &lt;!channel&gt;",
        "event text is escaped: no channel-wide ping"
    );
    let blocks = accepted[1].json()["blocks"].clone();
    let fields: Vec<String> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "*Severity*\nmedium",
        "*Alert type*\nsecurity",
        "*Device*\ndev-7",
        "*Topic*\nsensors/dev-7/cmd",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected:?} in {fields:?}"
        );
    }
    let link = blocks[3]["elements"][0]["url"].as_str().unwrap();
    assert!(
        link.starts_with("https://kibana.example:5601/app/discover#/")
            && link.contains("event:%22unauthorized_publish%22"),
        "{link}"
    );
    let error_blocks = accepted[0].json()["blocks"].clone();
    assert!(error_blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["text"] == "*Severity*\nhigh"));
    let archived: usize = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|f| {
            std::fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(archived, 4);

    // Without SLACK_WEBHOOK_URL the same pipeline still runs: Slack is disabled, said once.
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let output = run(None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no webhook_url").count(), 1, "{stderr}");
    assert_eq!(double.requests().len(), 2, "nothing more was sent");
}

#[test]
fn fifty_alerts_in_a_second_are_paced_and_the_rest_summarised_by_kind() {
    let double = SlackDouble::start();
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &(webhook(&double.url()) + "burst = 3\n"));
    let lines: Vec<String> = (0..50)
        .map(|i| {
            if i % 5 < 3 {
                security_line(i)
            } else {
                error_line(i)
            }
        })
        .collect();
    let run = run_once(
        config.as_path(),
        &lines,
        Some(Duration::from_millis(20)),
        &[],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(archived(dir.path()), 50);

    let requests = double.requests();
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    assert_paced(&requests, 3, Duration::from_secs(1));
    let span = requests.last().unwrap().at - requests[0].at;
    assert!(
        requests.len() <= 3 + 1 + span.as_secs() as usize,
        "{} messages over {span:?}",
        requests.len()
    );

    let (mut security, mut errors) = (0u64, 0u64);
    let mut summaries = 0;
    for request in &requests {
        let text = request.text();
        if is_summary(&text) {
            summaries += 1;
            assert!(text.contains("\nSamples:\n> MQTT Alert: "), "{text}");
            for (kind, count) in summary_counts(&text) {
                match kind.as_str() {
                    "security/medium" => security += count,
                    "-/high" => errors += count,
                    other => panic!("unexpected kind {other:?} in {text}"),
                }
            }
        } else if text.starts_with("MQTT Alert: Unauthorized publish attempt") {
            security += 1;
        } else {
            assert!(
                text.starts_with("MQTT Alert: Broker connection lost"),
                "{text}"
            );
            errors += 1;
        }
    }
    assert!(summaries >= 1, "{requests:?}");
    assert_eq!((security, errors), (30, 20), "every alert accounted for");
}

#[test]
fn duplicate_alerts_within_the_window_are_sent_once() {
    let double = SlackDouble::start();
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &(webhook(&double.url()) + "burst = 10\n"));
    let lines: Vec<String> = [0, 1, 0, 2, 1, 2, 0]
        .iter()
        .map(|&i| error_line(i))
        .collect();
    let run = run_once(config.as_path(), &lines, None, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    let mut texts: Vec<String> = double.accepted().iter().map(Received::text).collect();
    texts.sort();
    assert_eq!(
        texts,
        [0, 1, 2].map(|i| format!("MQTT Alert: Broker connection lost {i}"))
    );
    assert_eq!(archived(dir.path()), 7, "the other outputs get every event");
}

#[test]
fn a_429_pauses_for_retry_after_and_once_still_delivers_before_exit() {
    let double = SlackDouble::start();
    double.rate_limit_next(1, 2);
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &webhook(&double.url()));
    let run = run_once(config.as_path(), &[error_line(1)], None, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    let requests = double.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(2), "resent after {waited:?}");
    assert_eq!(requests[0].body, requests[1].body);
    assert!(run.stderr.contains("429"), "{}", run.stderr);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let double = SlackDouble::start();
    double.fail_next(2, 503);
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        &(webhook(&double.url()) + "retry_initial_backoff = \"200ms\"\n"),
    );
    let run = run_once(config.as_path(), &[error_line(1)], None, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    let requests = double.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(100));
    assert!(requests[2].at - requests[1].at >= Duration::from_millis(200));
}

#[test]
fn a_revoked_or_archived_webhook_is_disabled_with_one_error_and_the_pipeline_goes_on() {
    for (break_it, status) in [
        (SlackDouble::revoke as fn(&SlackDouble), 404),
        (SlackDouble::archive as fn(&SlackDouble), 410),
    ] {
        let double = SlackDouble::start();
        break_it(&double);
        let dir = tempfile::tempdir().unwrap();
        let config = pipeline(dir.path(), &webhook(&double.url()));
        let mut lines: Vec<String> = (0..20).map(error_line).collect();
        lines.extend((0..10).map(info_line));
        let run = run_once(
            config.as_path(),
            &lines,
            Some(Duration::from_millis(5)),
            &[],
        );
        assert!(run.status.success(), "{}", run.stderr);
        let requests = double.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].status, status);
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(
            errors[0].contains("disabled until restart") && errors[0].contains(&status.to_string()),
            "{}",
            errors[0]
        );
        assert_eq!(archived(dir.path()), 30, "the other outputs get everything");
    }
}

#[test]
fn draining_a_hung_webhook_is_bounded_by_drain_timeout() {
    let double = SlackDouble::start();
    double.stall_next(1);
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        &(webhook(&double.url()) + "drain_timeout = \"2s\"\nrequest_timeout = \"60s\"\n"),
    );
    let mut lines: Vec<String> = (0..5).map(error_line).collect();
    lines.extend((0..200).map(info_line));
    let run = run_once(config.as_path(), &lines, None, &["--log-format", "json"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        archived(dir.path()),
        205,
        "Slack never held up the other output"
    );
    assert!(
        run.elapsed >= Duration::from_secs(2) && run.elapsed < Duration::from_secs(20),
        "{:?}",
        run.elapsed
    );
    let warning: Value = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap_or("")
                .contains("not sent to Slack")
        })
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["alerts"], 5, "{warning}");
}

#[test]
fn the_webhook_url_never_appears_in_logs() {
    let double = SlackDouble::start();
    let dir = tempfile::tempdir().unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "WrongSecretToken0123456789";
    let urls = [
        // 403 invalid_token: a loud error about this webhook.
        double.url_with_token(secret),
        // Nothing listening: network errors, retries, giving up.
        format!("http://127.0.0.1:{closed_port}/services/T0SLUICE/B0SLUICE/{secret}"),
    ];
    for url in &urls {
        for args in [
            &["--log-format", "human"][..],
            &["--log-format", "json"][..],
            &["--log-format", "json", "--log-level", "debug"][..],
        ] {
            let config = pipeline(
                dir.path(),
                &(webhook(url) + "max_attempts = 2\nretry_initial_backoff = \"100ms\"\n"),
            );
            let run = run_once(config.as_path(), &[error_line(1)], None, args);
            assert!(run.status.success(), "{}", run.stderr);
            assert!(
                run.stderr.contains("Slack"),
                "the failure is reported: {}",
                run.stderr
            );
            assert!(!run.stderr.contains(secret), "{args:?}:\n{}", run.stderr);
            assert!(
                !run.stderr.contains("B0SLUICE"),
                "{args:?}:\n{}",
                run.stderr
            );
            if args[1] == "json" {
                for line in run.stderr.lines() {
                    serde_json::from_str::<Value>(line).unwrap();
                }
            }
        }
    }
    // A malformed URL is a configuration error that does not quote the value.
    for bad in [
        format!("hooks.slack.com/services/{secret}"),
        format!("ftp://hooks.slack.com/services/{secret}"),
    ] {
        let config = pipeline(dir.path(), &webhook(&bad));
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["validate", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("webhook_url"), "{stderr}");
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

#[test]
fn on_shutdown_queued_alerts_are_still_delivered() {
    let double = SlackDouble::start();
    double.rate_limit_next(1, 2);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, format!("{}\n{}\n", error_line(1), security_line(2))).unwrap();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n[inputs.app]\ntype = \"file\"\npaths = [{log:?}]\n{FILTERS}\n\
             [outputs.slack]\ntype = \"slack\"\nif = 'severity == \"high\" or alert_type == \"security\"'\n{hook}",
            data = dir.path().join("data").display().to_string(),
            log = log.display().to_string(),
            hook = webhook(&double.url()),
        ),
    )
    .unwrap();
    let sluice = common::Sluice::start(&config);
    assert!(
        common::slack_double::wait_for(&double, Duration::from_secs(20), |r| !r.is_empty()),
        "no request reached the double:\n{}",
        sluice.stderr()
    );
    // The first message got a 429 with Retry-After: 2; stop while it waits.
    let stderr = sluice.stop();
    let requests = double.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200, 200],
        "{stderr}"
    );
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(2));
}
