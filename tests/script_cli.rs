//! The script filter through the `sluice` binary: `validate` reports a broken script at its
//! own file:line:column, and `run` keeps going past events whose script run fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

#[test]
fn validate_reports_a_broken_script_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bucket.rhai");
    std::fs::write(
        &script,
        "let size = event.payloadSize;\n\nevent.x = size * ;\n",
    )
    .unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "[inputs.in]\ntype = \"stdin\"\n[[filters]]\ntype = \"script\"\npath = {:?}\n[outputs.out]\ntype = \"stdout\"\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:3:18: ", script.display())),
        "{stderr}"
    );
}

#[test]
fn run_goes_on_after_a_script_fails_on_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{}"
[inputs.in]
type = "stdin"

[[filters]]
type = "json"
source = "message"

[[filters]]
type = "script"
max_operations = 5000
source = '''
if event.spin == true {{ loop {{ }} }}
if event.unwanted == true {{ event.drop(); }}
event.bucket = if event.payloadSize < 1024 {{ "small" }} else {{ "large" }};
'''

[outputs.out]
type = "stdout"
"#,
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"n": 1, "payloadSize": 10}}"#).unwrap();
    writeln!(stdin, r#"{{"n": 2, "payloadSize": 10, "spin": true}}"#).unwrap();
    writeln!(stdin, r#"{{"n": 3, "payloadSize": 10, "unwanted": true}}"#).unwrap();
    writeln!(stdin, r#"{{"n": 4, "payloadSize": 4096}}"#).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    events.sort_by_key(|e| e["n"].as_i64());
    let summary: Vec<(i64, serde_json::Value, serde_json::Value)> = events
        .iter()
        .map(|e| {
            (
                e["n"].as_i64().unwrap(),
                e["bucket"].clone(),
                e["tags"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "small".into(), serde_json::Value::Null),
            (
                2,
                serde_json::Value::Null,
                serde_json::json!(["_script_error"])
            ),
            (4, "large".into(), serde_json::Value::Null),
        ]
    );
}
