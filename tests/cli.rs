//! The command line as a user meets it: exit codes, error format, `--once`, signals.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn version_and_help_work() {
    let out = sluice().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = sluice().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Examples:") && text.contains("Exit codes"),
        "{text}"
    );
}

#[test]
fn validate_accepts_a_good_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_reports_every_problem_as_file_line_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "[inputs.in]\ntype = \"stdin\"\nextra = true\n\n[outputs.out]\ntype = \"stdout\"\ncodec = \"yaml\"\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let prefix = config.display().to_string();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{prefix}:3:1: input `in` (stdin): unknown field `extra`"
        )),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{prefix}:7:9: output `out` (stdout): unknown variant `yaml`"
        )),
        "{stderr}"
    );
}

#[test]
fn errors_name_toml_kinds_and_positions_not_rust_types_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "[pipeline]\nbatch_size = -1\n[inputs.in]\ntype = \"stdin\"\nmax_line_bytes = 1.5\n\
         [[filters]]\ntype = \"date\"\nformats = \"ISO8601\"\n\
         [outputs.out]\ntype = \"stdout\"\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = config.display().to_string();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{prefix}:2:14: [pipeline]: invalid value: integer `-1`, expected a non-negative whole number"),
            format!("{prefix}:5:18: input `in` (stdin): invalid type: number `1.5`, expected a non-negative whole number"),
            format!("{prefix}:8:11: filter `date#1` (date): invalid type: string \"ISO8601\", expected an array"),
        ],
    );

    // A condition's unclosed `(` is pointed at, at its line and column in the file.
    let config = write(
        dir.path(),
        "q.toml",
        "[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\nif = \"\"\"\nlevel == 1 and\n  (a == 2 or b == 3\"\"\"\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "{}:7:3: invalid condition: unclosed `(`: no `)` closes it",
            config.display()
        )
    );

    // A file that cannot be read has no line and column to give.
    let missing = dir.path().join("missing.toml");
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}: cannot read configuration: ",
            missing.display()
        )),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_missing_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "data_dir = \"${SLUICE_CLI_TEST_MISSING}\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\n",
    );
    let out = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .env_remove("SLUICE_CLI_TEST_MISSING")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`SLUICE_CLI_TEST_MISSING` is not set"));
}

#[test]
fn once_reads_stdin_to_the_end_and_writes_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\n[outputs.archive]\ntype = \"file\"\npath = \"{}/out-%{{+YYYY}}.ndjson\"\n",
            dir.path().join("data").display(),
            dir.path().display()
        ),
    );
    let mut child = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = (0..5000).map(|i| format!("line {i}")).collect();
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["@timestamp"].is_string());
            v["message"].as_str().unwrap().to_string()
        })
        .collect();
    let mut sorted = messages.clone();
    sorted.sort_by_key(|m| m[5..].parse::<u32>().unwrap());
    assert_eq!(sorted.len(), 5000);
    assert_eq!(sorted.first().map(String::as_str), Some("line 0"));
    assert_eq!(sorted.last().map(String::as_str), Some("line 4999"));
    sorted.dedup();
    assert_eq!(sorted.len(), 5000, "no duplicates");
    let archived: usize = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(archived, 5000);
}

#[test]
fn sigterm_drains_in_flight_events_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = sluice()
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "first").unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"first\""), "{line}");
    // The input is still open; SIGTERM must end the run cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sluice did not exit after SIGTERM"
        );
        std::thread::yield_now();
    };
    assert_eq!(status.code(), Some(0));
    drop(stdin);
}

#[test]
fn an_unwritable_data_dir_is_a_clear_runtime_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = write(dir.path(), "not-a-dir", "x");
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}/sub\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n",
            blocker.display()
        ),
    );
    let out = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create data directory"));
}

#[test]
fn stdin_cuts_huge_lines_and_keeps_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\nmax_line_bytes = 1000\n[outputs.out]\ntype = \"stdout\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&vec![b'x'; 5_000_000]).unwrap();
        stdin
            .write_all(b"\nbad \xff byte\nlast line without newline")
            .unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["message"].as_str().unwrap().len(), 1000);
    assert_eq!(events[0]["tags"], serde_json::json!(["_line_truncated"]));
    assert_eq!(events[1]["message"], "bad \u{fffd} byte");
    assert!(events[1].get("tags").is_none());
    assert_eq!(events[2]["message"], "last line without newline");
}

#[test]
fn stdin_skips_blank_lines_and_counts_them_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n[[filters]]\ntype = \"json\"\n[outputs.out]\ntype = \"stdout\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = sluice()
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"n\":1}\n\n   \n\t\r\n{\"n\":2}\n \n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<&serde_json::Value> = events.iter().map(|e| &e["n"]).collect();
    assert_eq!(numbers, [1, 2], "no `_jsonparsefailure` events: {events:?}");
    let totals = stderr
        .lines()
        .find(|l| l.contains("Component totals.") && l.contains("component_kind=input"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        totals.contains("events_in=6 events_out=2 dropped=4"),
        "{totals}"
    );
}
