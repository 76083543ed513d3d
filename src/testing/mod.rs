//! `sluice test`: run example events through a pipeline's real filter chain and conditions
//! and compare what comes out with what a test file expects.
//!
//! Why: a pipeline is code. Its conditions and filters are easy to get subtly wrong (a
//! trailing `/` in a topic, a timezone, a threshold off by one), and the only way to know is
//! to feed it events. A test file loads the pipeline file it names with the normal loader,
//! compiles the filter chain and every output's `if` exactly as `sluice run` does, but starts
//! no input and no output, so tests are fast, deterministic and touch nothing.
//!
//! # Test files (`*.test.toml`)
//!
//! README.md ("Pipeline tests") documents the format for users, with an example that
//! `tests/pipeline_tests.rs` runs; this is the summary for readers of the code.
//!
//! ```toml
//! pipeline = "mqtt.toml"            # relative to this file
//! ingest_time = "2024-05-01T00:00:00.000Z"   # optional: @timestamp of events without one
//!
//! input = "app"                     # optional: whose `event_type`/`add_tag`/`add_field`
//!                                   # apply (default: the pipeline's only input, if one)
//! [defaults]                        # optional: merged into every input event (what the
//! fields = { service = "mqtt" }     # input would add); the event's own values win
//!
//! [[cases]]
//! name = "error lines are high severity"
//! # input = "beats"                 # optional: overrides the file's `input`
//! lines = ['{"level":"error","message":"boom"}']   # each becomes { message = line }
//! # events = [{ message = "...", other = 1 }]     # or whole events (both may be given)
//!
//! [[cases.expect]]                  # one table per output event, in order
//! outputs = ["daily_file"]          # exactly the outputs whose `if` matches the event
//! absent = ["performance_alert"]    # fields that must not exist
//! fields = { severity = "high" }    # subset match (nested tables match a subset of keys)
//! render = { "%{+YYYY.MM.dd}" = "2024.05.01" }   # templates rendered against the event
//! ```
//!
//! A case with no `[[cases.expect]]` expects every event to be dropped. Matching rules:
//! expected tables match any object with at least those keys (recursively), arrays match
//! element by element and must have the same length, numbers match by value (`1 == 1.0`),
//! and a `@metadata` key in `fields` is matched against the event's metadata. `outputs` is
//! compared as a set; leave it out to not check routing. A time a test needs to pin down
//! belongs in `ingest_time` (file or case): without it, events that have no `@timestamp`
//! get the current time, as they would from a real input.

use crate::condition::Condition;
use crate::config::{BuildContext, ConfigErrors};
use crate::event::{format_timestamp, Event, FieldPath, Template};
use crate::filters::common::Common;
use crate::filters::FilterChain;
use crate::pipeline;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why tests could not be run at all (as opposed to failing).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: invalid test file: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Pipeline(ConfigErrors),
    #[error("no `*.test.toml` files in {0}")]
    NoTests(PathBuf),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    pipeline: PathBuf,
    #[serde(default)]
    ingest_time: Option<String>,
    /// The input the events come from: its decorations (Logstash's `type`, `tags`,
    /// `add_field`) apply as `sluice run` applies them.
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    defaults: Map<String, Value>,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    ingest_time: Option<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    lines: Vec<String>,
    #[serde(default)]
    events: Vec<Map<String, Value>>,
    #[serde(default)]
    expect: Vec<Expectation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    #[serde(default)]
    fields: Map<String, Value>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    outputs: Option<Vec<String>>,
    #[serde(default)]
    render: Map<String, Value>,
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    /// Empty when the case passed; otherwise a readable description of every difference.
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of one test file.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub cases: Vec<CaseResult>,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<FileResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.cases().filter(|c| c.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.cases().filter(|c| !c.passed()).count()
    }

    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }

    fn cases(&self) -> impl Iterator<Item = &CaseResult> {
        self.files.iter().flat_map(|f| f.cases.iter())
    }

    /// The human-readable report: one line per case, the differences of failed ones, and a
    /// closing `N passed, N failed` line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            for case in &file.cases {
                let status = if case.passed() { "ok  " } else { "FAIL" };
                let _ = writeln!(out, "{status} {} :: {}", file.path.display(), case.name);
                for failure in &case.failures {
                    for line in failure.lines() {
                        let _ = writeln!(out, "       {line}");
                    }
                }
            }
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

/// Runs one `*.test.toml` file, or every `*.test.toml` under a directory (recursively,
/// in name order).
pub fn run_path(path: &Path) -> Result<Report, TestError> {
    let files = if path.is_dir() {
        let mut found = Vec::new();
        collect_test_files(path, &mut found)?;
        if found.is_empty() {
            return Err(TestError::NoTests(path.to_path_buf()));
        }
        found
    } else {
        vec![path.to_path_buf()]
    };
    let mut report = Report::default();
    for file in files {
        report.files.push(run_file(&file)?);
    }
    Ok(report)
}

fn collect_test_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), TestError> {
    let read_error = |source| TestError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_test_files(&entry, found)?;
        } else if entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".test.toml"))
        {
            found.push(entry);
        }
    }
    Ok(())
}

/// The pieces of a pipeline a test needs: the chain and each output's condition.
struct Harness {
    chain: Arc<FilterChain>,
    outputs: Vec<(String, Option<Condition>)>,
    /// Every input by id, with what it adds to each event it sends (`None`: nothing).
    inputs: Vec<(String, Option<Box<Common>>)>,
}

impl Harness {
    /// The decoration of the input `named`, or of the pipeline's only input when unnamed.
    fn decoration(&self, named: Option<&str>) -> Result<Option<&Common>, String> {
        match named {
            Some(id) => self
                .inputs
                .iter()
                .find(|(input, _)| input == id)
                .map(|(_, common)| common.as_deref())
                .ok_or_else(|| {
                    let known: Vec<&str> = self.inputs.iter().map(|(id, _)| id.as_str()).collect();
                    format!(
                        "no input `{id}` in the pipeline (inputs: {})",
                        known.join(", ")
                    )
                }),
            None => Ok(match self.inputs.as_slice() {
                [(_, common)] => common.as_deref(),
                _ => None,
            }),
        }
    }
}

fn build_harness(pipeline_path: &Path) -> Result<Harness, TestError> {
    let config = pipeline::load(pipeline_path).map_err(TestError::Pipeline)?;
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(crate::metrics::Registry::default()),
    };
    let mut errors = Vec::new();
    let chain = FilterChain::build(&config.filters, &context).map_err(|mut e| {
        errors.append(&mut e);
    });
    let mut inputs = Vec::new();
    for input in &config.inputs {
        match Common::new(&input.common) {
            Ok(common) => inputs.push((input.id.clone(), common)),
            Err(e) => errors.push(context.error_at(
                Some(input.span.clone()),
                format!("input `{}`: {e}", input.id),
            )),
        }
    }
    let mut outputs = Vec::new();
    for output in &config.outputs {
        match context.compile_condition(output.condition.as_ref()) {
            Ok(condition) => outputs.push((output.id.clone(), condition)),
            Err(e) => errors.push(e),
        }
    }
    match chain {
        Ok(chain) if errors.is_empty() => Ok(Harness {
            chain: Arc::new(chain),
            outputs,
            inputs,
        }),
        _ => {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(TestError::Pipeline(ConfigErrors(errors)))
        }
    }
}

fn run_file(path: &Path) -> Result<FileResult, TestError> {
    let text = std::fs::read_to_string(path).map_err(|source| TestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: TestFile = toml_edit::de::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| crate::config::line_column(&text, span.start));
        TestError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: crate::config::humanize(e.message().trim()),
        }
    })?;
    if file.cases.is_empty() {
        return Err(TestError::Invalid {
            path: path.to_path_buf(),
            message: "no `[[cases]]`".into(),
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let harness = build_harness(&base.join(&file.pipeline))?;
    let mut worker = harness.chain.worker();
    let mut cases = Vec::with_capacity(file.cases.len());
    for case in &file.cases {
        let ingest_time = case
            .ingest_time
            .as_deref()
            .or(file.ingest_time.as_deref())
            .map(|text| {
                crate::event::parse_timestamp(text)
                    .map(format_timestamp)
                    .ok_or_else(|| TestError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "case `{}`: ingest_time `{text}` is not an RFC 3339 time",
                            case.name
                        ),
                    })
            })
            .transpose()?
            .unwrap_or_else(|| format_timestamp(chrono::Utc::now()));
        let decoration = harness
            .decoration(case.input.as_deref().or(file.input.as_deref()))
            .map_err(|message| TestError::Invalid {
                path: path.to_path_buf(),
                message: format!("case `{}`: {message}", case.name),
            })?;
        let mut events = input_events(case, &file.defaults, &ingest_time);
        if let Some(decoration) = decoration {
            events.iter_mut().for_each(|event| decoration.apply(event));
        }
        worker.process(&mut events);
        let failures =
            compare_case(case, &events, &harness).map_err(|message| TestError::Invalid {
                path: path.to_path_buf(),
                message: format!("case `{}`: {message}", case.name),
            })?;
        cases.push(CaseResult {
            name: case.name.clone(),
            failures,
        });
    }
    Ok(FileResult {
        path: path.to_path_buf(),
        cases,
    })
}

fn input_events(case: &Case, defaults: &Map<String, Value>, ingest_time: &str) -> Vec<Event> {
    let lines = case.lines.iter().map(|line| {
        let mut fields = Map::new();
        fields.insert(crate::event::MESSAGE.into(), Value::String(line.clone()));
        fields
    });
    lines
        .chain(case.events.iter().cloned())
        .map(|mut fields| {
            merge_defaults(&mut fields, defaults);
            let mut event = Event::from_fields(fields);
            event.ensure_timestamp(ingest_time);
            event
        })
        .collect()
}

/// Adds `defaults` to `fields` where `fields` has no value of its own (objects merge).
fn merge_defaults(fields: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, default) in defaults {
        match (fields.get_mut(key), default) {
            (Some(Value::Object(own)), Value::Object(default)) => merge_defaults(own, default),
            (Some(_), _) => {}
            (None, _) => {
                fields.insert(key.clone(), default.clone());
            }
        }
    }
}

/// Differences between the events that came out and the expectations. `Err` is a mistake in
/// the test itself (an unparsable field reference or template).
fn compare_case(case: &Case, events: &[Event], harness: &Harness) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    if events.len() != case.expect.len() {
        failures.push(format!(
            "expected {} event(s) out of the chain, got {}",
            case.expect.len(),
            events.len()
        ));
    }
    for (index, (event, expected)) in events.iter().zip(&case.expect).enumerate() {
        let mut differences = Vec::new();
        for (key, value) in &expected.fields {
            if key == "@metadata" {
                subset_differences(
                    "@metadata",
                    value,
                    Some(&Value::Object(event.metadata().clone())),
                    &mut differences,
                );
            } else {
                subset_differences(key, value, event.fields().get(key), &mut differences);
            }
        }
        for field in &expected.absent {
            let path = FieldPath::parse(field).map_err(|e| format!("absent `{field}`: {e}"))?;
            if let Some(value) = event.get(&path) {
                differences.push(format!("{field}: expected absent, got {value}"));
            }
        }
        for (template, value) in &expected.render {
            let compiled =
                Template::parse(template).map_err(|e| format!("render `{template}`: {e}"))?;
            let (rendered, _) = compiled.render(event);
            let expected_text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if rendered != expected_text {
                differences.push(format!(
                    "render {template:?}: expected {expected_text:?}, got {rendered:?}"
                ));
            }
        }
        if let Some(expected_outputs) = &expected.outputs {
            for name in expected_outputs {
                if !harness.outputs.iter().any(|(id, _)| id == name) {
                    return Err(format!(
                        "output `{name}` is not in the pipeline (it has: {})",
                        harness
                            .outputs
                            .iter()
                            .map(|(id, _)| id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            let mut receiving: Vec<&str> = harness
                .outputs
                .iter()
                .filter(|(_, condition)| condition.as_ref().is_none_or(|c| c.matches(event)))
                .map(|(id, _)| id.as_str())
                .collect();
            let mut wanted: Vec<&str> = expected_outputs.iter().map(String::as_str).collect();
            receiving.sort_unstable();
            wanted.sort_unstable();
            if receiving != wanted {
                differences.push(format!(
                    "outputs: expected [{}], got [{}]",
                    wanted.join(", "),
                    receiving.join(", ")
                ));
            }
        }
        if !differences.is_empty() {
            let mut text = format!("event {} of {}:\n", index + 1, events.len());
            for difference in &differences {
                let _ = writeln!(text, "  {difference}");
            }
            let _ = writeln!(text, "  actual event:");
            let pretty = serde_json::to_string_pretty(&event.to_value()).unwrap_or_default();
            for line in pretty.lines() {
                let _ = writeln!(text, "    {line}");
            }
            failures.push(text);
        }
    }
    for (index, event) in events.iter().enumerate().skip(case.expect.len()) {
        failures.push(format!(
            "unexpected event {} of {}: {}",
            index + 1,
            events.len(),
            event.to_value()
        ));
    }
    Ok(failures)
}

fn subset_differences(
    path: &str,
    expected: &Value,
    actual: Option<&Value>,
    differences: &mut Vec<String>,
) {
    let Some(actual) = actual else {
        differences.push(format!(
            "{path}: expected {expected}, but the field is missing"
        ));
        return;
    };
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                subset_differences(
                    &format!("{path}.{key}"),
                    value,
                    actual.get(key),
                    differences,
                );
            }
        }
        (Value::Array(expected_items), Value::Array(actual_items))
            if expected_items.len() == actual_items.len() =>
        {
            for (i, (e, a)) in expected_items.iter().zip(actual_items).enumerate() {
                subset_differences(&format!("{path}[{i}]"), e, Some(a), differences);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        _ if expected == actual => {}
        _ => differences.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn differences(expected: Value, actual: Value) -> Vec<String> {
        let mut out = Vec::new();
        subset_differences("f", &expected, Some(&actual), &mut out);
        out
    }

    #[test]
    fn subset_matching_rules() {
        assert!(differences(json!({"a": 1}), json!({"a": 1.0, "b": 2})).is_empty());
        assert!(differences(json!(["x"]), json!(["x"])).is_empty());
        assert_eq!(
            differences(json!(["x"]), json!(["x", "y"])),
            [r#"f: expected ["x"], got ["x","y"]"#]
        );
        assert_eq!(
            differences(json!({"a": {"b": true}}), json!({"a": {"b": "true"}})),
            [r#"f.a.b: expected true, got "true""#]
        );
        assert_eq!(
            differences(json!({"a": 1}), json!({})),
            ["f.a: expected 1, but the field is missing"]
        );
    }

    #[test]
    fn defaults_fill_gaps_and_merge_objects() {
        let mut fields = json!({"fields": {"own": 1}, "x": 2})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let defaults = json!({"fields": {"service": "mqtt", "own": 0}, "x": 0, "y": 3});
        merge_defaults(&mut fields, defaults.as_object().unwrap());
        assert_eq!(
            Value::Object(fields),
            json!({"fields": {"own": 1, "service": "mqtt"}, "x": 2, "y": 3})
        );
    }
}
