//! Logstash `.conf` pipelines in the real `sluice` binary.
//!
//! - The seed's `mqtt.conf` (`pipelines/logstash/mqtt.conf`), end to end: real Filebeat in,
//!   a real search node out, alerts to the Slack double; the documents are those the native
//!   `pipelines/mqtt.toml` indexes for the same Filebeat input, field for field, except the
//!   one difference Logstash's semantics dictate (see the test).
//! - The real-world corpus in `../shared/logstash-corpus/` (where it exists): every `core`
//!   pipeline validates and converts to TOML that validates, every `other` one is refused
//!   naming its unsupported plugins.

mod common;

use common::filebeat::Filebeat;
use common::search_node::search_node;
use common::slack_double::SlackDouble;
use common::{beats_listen_address, Sluice};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sluice(args: &[&str]) -> (i32, String, String) {
    sluice_with(args, &[])
}

fn sluice_with(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run sluice");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The Beats address sluice logged, as a loopback address Filebeat can dial.
fn beats_address(sluice: &Sluice) -> SocketAddr {
    let mut address = beats_listen_address(sluice);
    address.set_ip([127, 0, 0, 1].into());
    address
}

/// Runs `pipeline` (in `dir`, with `env`) fed by a fresh Filebeat tailing `log` with the
/// seed's `fields.service: mqtt`, until the node holds every line; returns the documents by
/// the offset of their line in `log` (ids are derived from the origin, which includes the
/// Filebeat instance).
fn index_through(
    dir: &Path,
    pipeline: &Path,
    env: &[(&str, &str)],
    log: &Path,
    lines: u64,
) -> BTreeMap<u64, Value> {
    let node = search_node();
    node.delete_indices("mqtt-logs-*");
    std::fs::create_dir_all(dir).unwrap();
    let sluice = Sluice::start_in(pipeline, env, Some(dir));
    let address = beats_address(&sluice);
    let filebeat = Filebeat::start_with(
        dir,
        log,
        address,
        3,
        "  fields: {service: mqtt}\n  prospector.scanner.check_interval: 1s",
        "",
    );
    let count = node.wait_for_count("mqtt-logs-*", lines, DEADLINE);
    assert_eq!(
        count,
        lines,
        "not every line was indexed:\nsluice:\n{}\nfilebeat:\n{}",
        sluice.stderr(),
        filebeat.stderr()
    );
    drop(filebeat);
    sluice.stop();
    node.refresh("mqtt-logs-*");
    let hits = node.search(
        "mqtt-logs-*",
        &serde_json::json!({"size": 10000, "query": {"match_all": {}}}),
    );
    let mut documents = BTreeMap::new();
    for hit in hits["hits"]["hits"].as_array().unwrap() {
        let offset = hit["_source"]["log"]["offset"].as_u64().unwrap();
        documents.insert(offset, hit["_source"].clone());
    }
    documents
}

/// Fields that differ between two Filebeat runs whatever the pipeline: Filebeat's own
/// identity, the file identity and the time it read the line.
fn without_run_identity(mut document: Value) -> Value {
    if let Some(map) = document.as_object_mut() {
        for key in ["agent", "host", "ecs", "input", "log"] {
            map.remove(key);
        }
    }
    document
}

#[test]
fn the_seed_mqtt_conf_indexes_what_mqtt_toml_indexes_and_alerts_slack() {
    let node = search_node();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("mqtt-client.log");
    std::fs::copy(manifest().join("pipelines/sample/mqtt-client.log"), &log).unwrap();
    let lines = std::fs::read_to_string(&log).unwrap().lines().count() as u64;

    // The seed's file: only the hosts and the webhook URL come from the environment; the
    // rest is the seed byte for byte, its Beats port 5044 included (the test's Filebeat
    // connects there; nothing else in the suite binds a fixed port).
    let conf = manifest().join("pipelines/logstash/mqtt.conf");
    let slack = SlackDouble::start();
    let url = slack.url();
    let from_conf = index_through(
        &tmp.path().join("conf"),
        &conf,
        &[
            ("ELASTICSEARCH_HOSTS", node.url()),
            ("SLACK_WEBHOOK_URL", &url),
        ],
        &log,
        lines,
    );
    let alerts: Vec<String> = slack.accepted().iter().map(|a| a.text()).collect();
    assert!(
        alerts.iter().any(|text| text.starts_with("MQTT Alert: ")),
        "the high-severity and security events reached Slack as `MQTT Alert: %{{message}}`: {alerts:?}"
    );
    drop(slack);

    let native = manifest().join("pipelines/mqtt.toml");
    let empty = tmp.path().join("no-files");
    std::fs::create_dir_all(&empty).unwrap();
    let no_files = format!("{}/*.log", empty.display());
    let from_toml = index_through(
        &tmp.path().join("toml"),
        &native,
        &[
            ("BEATS_ADDRESS", "127.0.0.1:0"),
            ("ELASTICSEARCH_URL", node.url()),
            ("MQTT_LOG_PATH", &no_files),
            ("SLACK_WEBHOOK_URL", ""),
        ],
        &log,
        lines,
    );

    assert_eq!(from_conf.len() as u64, lines);
    assert!(
        from_conf.keys().eq(from_toml.keys()),
        "both indexed every line once"
    );
    let mut security = 0;
    for (offset, conf_document) in &from_conf {
        let mut conf_document = without_run_identity(conf_document.clone());
        let mut toml_document = without_run_identity(from_toml[offset].clone());
        // The one deliberate difference: Logstash's `add_field` makes
        // `requires_investigation` the string "true"; the native security_flag filter makes
        // it the boolean (see its module docs).
        if conf_document.get("requires_investigation").is_some() {
            security += 1;
            assert_eq!(conf_document["requires_investigation"], "true");
            assert_eq!(toml_document["requires_investigation"], true);
            conf_document
                .as_object_mut()
                .unwrap()
                .remove("requires_investigation");
            toml_document
                .as_object_mut()
                .unwrap()
                .remove("requires_investigation");
        }
        assert_eq!(conf_document, toml_document, "the line at offset {offset}");
    }
    assert!(security > 0, "the sample holds security events");
}

/// `../shared/logstash-corpus` from the repository root (or `SLUICE_LOGSTASH_CORPUS`, for
/// a checkout elsewhere), when it exists.
fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_LOGSTASH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest().join("../shared/logstash-corpus"));
    if dir.join("INDEX.tsv").exists() {
        Some(dir)
    } else {
        println!("skipped: {} does not exist (CI has it)", dir.display());
        None
    }
}

struct CorpusEntry {
    file: String,
    class: String,
    unsupported: Vec<String>,
}

fn corpus_index(dir: &Path) -> Vec<CorpusEntry> {
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    index
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            CorpusEntry {
                file: columns[0].to_string(),
                class: columns[3].to_string(),
                unsupported: columns
                    .get(4)
                    .map(|c| {
                        c.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// `NAME` of every `${NAME}` (no `:default`) in `text`.
fn variables_without_default(text: &str) -> Vec<String> {
    regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

/// `core` pipelines that need a component sluice does not have yet, with what their
/// refusal must name. When one validates, the test fails until it is taken off this list.
/// (Empty: every `core` pipeline of the corpus validates.)
const WAITING_FOR_COMPONENTS: &[(&str, &[&str])] = &[];

#[test]
fn the_corpus_core_pipelines_validate_and_convert_and_the_others_are_refused_by_name() {
    let Some(dir) = corpus_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for entry in corpus_index(&dir) {
        let path = dir.join(&entry.file);
        // As Logstash, a `${VAR}` without a default needs the variable: give each one.
        let text = std::fs::read_to_string(&path).unwrap();
        let env: Vec<(String, String)> = variables_without_default(&text)
            .into_iter()
            .map(|name| (name, "placeholder".to_string()))
            .collect();
        let path = path.to_str().unwrap();
        let (code, _, stderr) = sluice_with(&["validate", "-c", path], &env);
        let waiting = WAITING_FOR_COMPONENTS
            .iter()
            .find(|(file, _)| *file == entry.file);
        if let Some((_, named)) = waiting {
            if code == 0 {
                failures.push(format!(
                    "{}: validates now: take it off WAITING_FOR_COMPONENTS",
                    entry.file
                ));
            }
            for name in *named {
                if !stderr.contains(name) {
                    failures.push(format!(
                        "{}: the refusal does not name {name}:\n{stderr}",
                        entry.file
                    ));
                }
            }
            println!(
                "waiting for components: {}: {}",
                entry.file,
                named.join(", ")
            );
            continue;
        }
        if entry.class == "core" {
            if code != 0 {
                failures.push(format!("{}: validate failed:\n{stderr}", entry.file));
                continue;
            }
            let converted = tmp.path().join(format!("{}.toml", entry.file));
            let (code, _, stderr) = sluice(&["convert", path, "-o", converted.to_str().unwrap()]);
            if code != 0 {
                failures.push(format!("{}: convert failed:\n{stderr}", entry.file));
                continue;
            }
            let (code, _, stderr) =
                sluice_with(&["validate", "-c", converted.to_str().unwrap()], &env);
            if code != 0 {
                failures.push(format!(
                    "{}: the converted TOML is invalid:\n{stderr}",
                    entry.file
                ));
            }
        } else {
            if code == 0 {
                failures.push(format!(
                    "{}: accepted, but uses {:?}",
                    entry.file, entry.unsupported
                ));
                continue;
            }
            for plugin in &entry.unsupported {
                if !stderr.contains(&format!("`{plugin}`")) {
                    failures.push(format!(
                        "{}: the refusal does not name `{plugin}`:\n{stderr}",
                        entry.file
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every `.test.toml` under `pipelines/logstash/` whose pipeline is a `.conf`.
fn conf_test_files() -> Vec<PathBuf> {
    let pattern = manifest().join("pipelines/logstash/**/*.test.toml");
    glob::glob(pattern.to_str().unwrap())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_shipped_conf_tests_pass_on_the_conf_and_on_its_conversions() {
    let tmp = tempfile::tempdir().unwrap();
    let files = conf_test_files();
    assert!(
        files.len() >= 2,
        "mqtt.test.toml and tests/constructs.test.toml"
    );
    let pipeline_line = regex::Regex::new(r#"(?m)^pipeline = "([^"]+\.conf)"$"#).unwrap();
    let script_path = regex::Regex::new(r#"(?m)^path = "(scripts/[^"]+\.rhai)"$"#).unwrap();
    let mut script_files = 0;
    for test_file in files {
        let (code, stdout, stderr) = sluice(&["test", test_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{}:\n{stdout}{stderr}", test_file.display());

        // The same cases against the TOML `sluice convert` prints: the same events.
        let text = std::fs::read_to_string(&test_file).unwrap();
        let conf = &pipeline_line.captures(&text).expect("a .conf pipeline")[1];
        let conf_path = test_file.parent().unwrap().join(conf);
        let name = test_file.file_name().unwrap().to_str().unwrap();
        let converted = tmp.path().join(format!("{name}.pipeline.toml"));
        let (code, _, stderr) = sluice(&[
            "convert",
            conf_path.to_str().unwrap(),
            "-o",
            converted.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "convert {conf}:\n{stderr}");
        let converted_test = tmp.path().join(name);
        let pass_on = |pipeline: &Path| {
            std::fs::write(
                &converted_test,
                pipeline_line
                    .replace(
                        &text,
                        format!("pipeline = {:?}", pipeline.display().to_string()),
                    )
                    .as_bytes(),
            )
            .unwrap();
            let (code, stdout, stderr) = sluice(&["test", converted_test.to_str().unwrap()]);
            assert_eq!(
                code,
                0,
                "{} does not give the events of {conf}:\n{stdout}{stderr}",
                pipeline.display()
            );
            assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
        };
        pass_on(&converted);

        // Converted into a directory: pipeline.toml, its scripts in files it names by path.
        let dir = tmp.path().join(format!("{name}.dir"));
        let (code, stdout, stderr) = sluice(&[
            "convert",
            conf_path.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "convert {conf} -o DIR:\n{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let toml = std::fs::read_to_string(dir.join("pipeline.toml")).unwrap();
        assert!(
            !toml.contains("source = '''") && !toml.contains("source = \"\"\""),
            "scripts are files, not inline:\n{toml}"
        );
        for script in script_path.captures_iter(&toml) {
            let code = std::fs::read_to_string(dir.join(&script[1])).unwrap();
            assert!(code.contains("event."), "{}: {code}", &script[1]);
            script_files += 1;
        }
        pass_on(&dir.join("pipeline.toml"));
    }
    assert!(
        script_files > 0,
        "constructs.conf's ruby filter was written as a Rhai file"
    );
}

#[test]
fn errors_point_at_the_conf_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("broken.conf");
    std::fs::write(
        &conf,
        "input { stdin { } }\nfilter {\n  mutate { add_feild => { \"a\" => \"b\" } }\n  grok { match => { \"message\" => \"%{WORD:w}\" } }\n  if [a] == {\n}\noutput { stdout { } }\n",
    )
    .unwrap();
    let (code, _, stderr) = sluice(&["validate", "-c", conf.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "broken.conf:5:13: invalid Logstash configuration: expected a field reference"
        ),
        "{stderr}"
    );

    // Syntax fixed: every remaining problem in one run, each at its place.
    std::fs::write(
        &conf,
        "input { stdin { } }\nfilter {\n  mutate { add_feild => { \"a\" => \"b\" } }\n  geoip { source => \"ip\" }\n  date { match => [\"t\", \"dd/MM/yyyy\"] timezone => \"Mars/Olympus\" }\n}\noutput { stdout { } }\n",
    )
    .unwrap();
    let (code, _, stderr) = sluice(&["validate", "-c", conf.to_str().unwrap()]);
    assert_eq!(code, 2);
    for expected in [
        "broken.conf:3:12: filter `mutate`: option `add_feild` is not supported",
        "broken.conf:4:3: filter plugin `geoip` is not supported",
        "broken.conf:5:",
    ] {
        assert!(stderr.contains(expected), "{expected} in:\n{stderr}");
    }
    assert!(stderr.contains("Mars/Olympus"), "{stderr}");
}

#[test]
fn format_logstash_reads_a_conf_whatever_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pipeline.txt");
    std::fs::copy(manifest().join("pipelines/logstash/mqtt.conf"), &file).unwrap();
    let file = file.to_str().unwrap();
    let (code, stdout, stderr) = sluice(&["validate", "-c", file, "--format", "logstash"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = sluice(&["validate", "-c", file]);
    assert_eq!(code, 2, "read as TOML by default: {stderr}");
    assert!(stderr.contains("pipeline.txt:75:"), "{stderr}");
}

#[test]
fn input_type_tags_and_add_field_decorate_every_event_before_the_filters() {
    // Logstash's input `decorate`: `type` only where the event has none, `add_field`
    // (sprintf), `tags`; the filters then see them. The file input builds its events late,
    // on a filter worker: the decoration must follow them there.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "first\n{\"type\":\"own\",\"message\":\"second\"}\n").unwrap();
    let out = dir.path().join("out.ndjson");
    let conf = dir.path().join("decorate.conf");
    std::fs::write(
        &conf,
        format!(
            r#"input {{
  file {{
    path => "{}"
    start_position => "beginning"
    type => "syslog"
    tags => ["from_file", "%{{[@metadata][x]}}"]
    add_field => {{ "copy" => "%{{message}}!" }}
  }}
}}
filter {{
  if [message] =~ /^\{{/ {{ json {{ source => "message" }} }}
  if [type] == "syslog" {{ mutate {{ add_field => {{ "routed" => "yes" }} }} }}
}}
output {{ file {{ path => "{}" codec => json_lines }} }}
"#,
            log.display(),
            out.display()
        ),
    )
    .unwrap();
    // The read positions go under `data`, relative to where sluice runs: the temp dir.
    let run = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "--no-api", "-c", conf.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (code, stdout, stderr) = (
        run.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let events: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["type"], "syslog");
    assert_eq!(events[0]["routed"], "yes");
    assert_eq!(events[0]["copy"], "first!");
    // An unresolved sprintf reference stays literal, as in Logstash.
    assert_eq!(
        events[0]["tags"],
        serde_json::json!(["from_file", "%{[@metadata][x]}"])
    );
    // The decoration runs before the filters: the json filter then overwrites `type`.
    assert_eq!(events[1]["type"], "own");
    assert!(events[1].get("routed").is_none(), "{:?}", events[1]);
}

/// Runs `sluice run --once -c config` in `dir` (its data directory is there), bounded by the
/// deadline; panics on failure.
fn run_once_in(dir: &Path, config: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "--no-api", "-c"])
        .arg(config)
        .current_dir(dir)
        .env_remove("ELASTICSEARCH_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("run sluice");
    let finished = common::wait_until(DEADLINE, || matches!(child.try_wait(), Ok(Some(_))));
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert!(
        finished && status.success(),
        "{}:\n{stderr}",
        config.display()
    );
}

/// The events of an NDJSON file, each as its JSON text with the keys sorted, sorted (the
/// filter workers may interleave batches).
fn sorted_events(path: &Path, edit: impl Fn(&mut serde_json::Map<String, Value>)) -> Vec<String> {
    let mut events: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut event: Value = serde_json::from_str(line).unwrap();
            edit(event.as_object_mut().unwrap());
            canonical(&event)
        })
        .collect();
    events.sort();
    events
}

/// JSON text with every object's keys sorted.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let items: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

#[test]
fn the_seed_filters_as_the_conf_give_the_native_pipelines_events_on_the_sample() {
    // The seed's filter section byte for byte and pipelines/mqtt.toml's six native filters,
    // between the same file input (Filebeat's `fields.service` added as the seed's Filebeat
    // does) and a file output, over the winston sample plus lines for the corners.
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("mqtt.log");
    let mut lines =
        std::fs::read_to_string(manifest().join("pipelines/sample/mqtt-client.log")).unwrap();
    for extra in [
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","level":"error","message":"m","severity":"critical"}"#,
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","level":"warn","message":"m","details":{"topic":"a/b/c/d"}}"#,
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","level":"info","message":"m","details":{"topic":"/a/b"}}"#,
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","level":"info","message":"m","category":"performance","durationMs":1000.5}"#,
    ] {
        lines.push_str(extra);
        lines.push('\n');
    }
    std::fs::write(&log, &lines).unwrap();
    let seed = std::fs::read_to_string(manifest().join("pipelines/logstash/mqtt.conf")).unwrap();
    let filter = &seed[seed.find("\nfilter {").unwrap()..seed.find("\noutput {").unwrap()];
    let conf_out = tmp.path().join("conf.ndjson");
    let conf = tmp.path().join("seed.conf");
    std::fs::write(
        &conf,
        format!(
            "input {{ file {{ path => \"{}\" start_position => \"beginning\" }} }}\n\
             filter {{ mutate {{ add_field => {{ \"[fields][service]\" => \"mqtt\" }} }} }}\n\
             {filter}\n\
             output {{ file {{ path => \"{}\" codec => json_lines }} }}\n",
            log.display(),
            conf_out.display()
        ),
    )
    .unwrap();
    let native = std::fs::read_to_string(manifest().join("pipelines/mqtt.toml")).unwrap();
    let filters =
        &native[native.find("[[filters]]").unwrap()..native.find("# A local copy").unwrap()];
    let toml_out = tmp.path().join("native.ndjson");
    let toml = tmp.path().join("native.toml");
    std::fs::write(
        &toml,
        format!(
            "[inputs.mqtt_logs]\ntype = \"file\"\npaths = [{:?}]\nfields = {{ service = \"mqtt\" }}\n\n\
             {filters}\n[outputs.sink]\ntype = \"file\"\npath = {:?}\n",
            log.display().to_string(),
            toml_out.display().to_string()
        ),
    )
    .unwrap();
    for (name, config) in [("conf", &conf), ("native", &toml)] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        run_once_in(&dir, config);
    }

    let from_conf = sorted_events(&conf_out, |event| {
        // The deliberate differences of the native port (see its filters' module docs):
        // Logstash's add_field makes the string "true" and appends to an existing severity.
        if let Some(flag) = event.get_mut("requires_investigation") {
            assert_eq!(flag, "true");
            *flag = Value::Bool(true);
        }
        if event["severity"] == serde_json::json!(["critical", "high"]) {
            event.insert("severity".into(), "high".into());
        }
    });
    let from_native = sorted_events(&toml_out, |_| {});
    assert_eq!(from_conf.len(), lines.lines().count());
    assert_eq!(from_native.len(), from_conf.len());
    for (conf_event, native_event) in from_conf.iter().zip(&from_native) {
        assert_eq!(conf_event, native_event);
    }
}
