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
