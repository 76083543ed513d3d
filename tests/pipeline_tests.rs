//! The shipped pipelines' own tests (`pipelines/**/*.test.toml`) run in CI through the real
//! binary, and `sluice test` reports failures and broken test files with distinct exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sluice_test(paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("test")
        .args(paths)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("MQTT_LOG_PATH")
        .env_remove("SLUICE_DATA_DIR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run sluice: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")
}

#[test]
fn shipped_pipeline_tests_pass() {
    let out = sluice_test(&[&pipelines_dir()]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "sluice test pipelines/ failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("mqtt.test.toml :: durationMs 1001 is slow"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}

#[test]
fn the_library_runs_the_same_tests() {
    let report = sluice::testing::run_path(&pipelines_dir().join("mqtt.test.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.all_passed(), "{}", report.render());
    assert!(report.passed() >= 20, "{}", report.render());
}

fn write_test(dir: &Path, body: &str) -> PathBuf {
    let pipeline = pipelines_dir().join("mqtt.toml");
    let path = dir.join("case.test.toml");
    let text = format!("pipeline = {:?}\n{body}", pipeline.display().to_string());
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// The first ```toml block of README.md's "Pipeline tests" section.
fn readme_test_file_example() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let section = readme
        .split("\n### ")
        .find(|s| s.starts_with("Pipeline tests"))
        .unwrap_or_else(|| panic!("README has no `### Pipeline tests` section"));
    let block = section
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block.to_string());
    block.unwrap_or_else(|| panic!("the Pipeline tests section has no TOML example"))
}

#[test]
fn the_readme_example_test_file_runs_and_passes() {
    let example = readme_test_file_example();
    assert!(example.contains("pipeline = \"mqtt.toml\""), "{example}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The example sits beside `mqtt.toml` in `pipelines/`; from here, name it absolutely.
    let path = write_test(
        dir.path(),
        &example.replacen("pipeline = \"mqtt.toml\"", "", 1),
    );
    let out = sluice_test(&[&path]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the README example fails:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_failing_case_prints_a_diff_and_exits_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_test(
        dir.path(),
        r#"
[defaults]
fields = { service = "mqtt" }
[[cases]]
name = "wrong severity"
lines = ['{"level":"warn","message":"m"}']
[[cases.expect]]
fields = { severity = "high" }
"#,
    );
    let out = sluice_test(&[&path]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains(r#"severity: expected "high", got "medium""#),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn an_unknown_output_in_a_case_is_a_test_error_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_test(
        dir.path(),
        r#"
[[cases]]
name = "routes to a missing output"
lines = ['{}']
[[cases.expect]]
outputs = ["pagerduty"]
"#,
    );
    let out = sluice_test(&[&path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("output `pagerduty` is not in the pipeline"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_malformed_test_file_exits_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_test(dir.path(), "[[cases]]\nnmae = \"typo\"\n");
    let out = sluice_test(&[&path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid test file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_malformed_test_file_is_reported_at_its_line_and_column_in_toml_words() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write_test(dir.path(), "[[cases]]\nname = \"x\"\nlines = 5\n");
    let out = sluice_test(&[&path]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "{}:4:9: invalid test file: invalid type: integer `5`, expected an array",
            path.display()
        )
    );
}

#[test]
fn a_directory_without_tests_exits_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = sluice_test(&[dir.path()]);
    assert_eq!(out.status.code(), Some(2));
}

/// Writes `files` (name, text) into a fresh directory; returns it.
fn write_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// Two Logstash inputs that decorate differently, and a filter that routes on `[type]`.
const DECORATING_INPUTS: &str = r#"
input {
  file { id => "app" path => "/var/log/app.log" type => "mqtt" tags => ["edge"]
         add_field => { "[fields][site]" => "berlin" } }
  tcp { id => "relay" port => 5514 type => "relay" }
}
filter {
  if [type] == "mqtt" { mutate { add_field => { "routed" => "mqtt" } } }
}
output { stdout { } }
"#;

#[test]
fn cases_get_the_decorations_of_the_input_they_name_as_a_run_would() {
    let dir = write_files(&[
        ("routes.conf", DECORATING_INPUTS),
        (
            "routes.test.toml",
            r#"
pipeline = "routes.conf"
input = "app"

[[cases]]
name = "the file input's type, tags and fields; the mqtt branch runs"
lines = ['hello']
[[cases.expect]]
fields = { type = "mqtt", tags = ["edge"], fields = { site = "berlin" }, routed = "mqtt" }

[[cases]]
name = "an event's own type wins, as in Logstash"
events = [{ message = "m", type = "other" }]
[[cases.expect]]
fields = { type = "other", tags = ["edge"] }
absent = ["routed"]

[[cases]]
name = "the tcp input's type; the branch does not run"
input = "relay"
lines = ['hello']
[[cases.expect]]
fields = { type = "relay" }
absent = ["routed", "tags", "fields"]
"#,
        ),
    ]);
    let out = sluice_test(&[&dir.path().join("routes.test.toml")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_case_naming_an_input_the_pipeline_lacks_is_a_test_error_exit_2() {
    let dir = write_files(&[
        ("routes.conf", DECORATING_INPUTS),
        (
            "routes.test.toml",
            "pipeline = \"routes.conf\"\n[[cases]]\nname = \"x\"\ninput = \"beats\"\nlines = ['m']\n",
        ),
    ]);
    let out = sluice_test(&[&dir.path().join("routes.test.toml")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no input `beats` in the pipeline (inputs: app, relay)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_pipeline_with_one_input_decorates_every_case_without_naming_it() {
    let conf = r#"input { stdin { type => "console" add_field => { "via" => "stdin" } } }
filter { if [type] == "console" { mutate { add_tag => ["typed"] } } }
output { stdout { } }
"#;
    let dir = write_files(&[
        ("one.conf", conf),
        (
            "one.test.toml",
            "pipeline = \"one.conf\"\n[[cases]]\nname = \"decorated\"\nlines = ['m']\n\
             [[cases.expect]]\nfields = { type = \"console\", via = \"stdin\", tags = [\"typed\"] }\n",
        ),
    ]);
    let out = sluice_test(&[&dir.path().join("one.test.toml")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}
