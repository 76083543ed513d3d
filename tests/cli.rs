//! The command line as a user meets it: exit codes, error format, `--once`, signals.

use std::io::{BufRead, BufReader, Read, Write};
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

/// Polls `child` until it exits or `timeout` passes; a child still running then is killed and
/// `None` returned, so a hang fails the test instead of leaving a process behind.
fn wait_for_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A spawned sluice that is killed if the test fails before it exits, so that no process
/// outlives the test.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, name: &str) {
    assert!(Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success());
}

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE,
/// as when the journal, `docker logs` or `| head` went away.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Whether process `pid` has a handler installed for SIGTERM (`SigCgt` in
/// `/proc/<pid>/status`), i.e. a SIGTERM now reaches sluice's code.
#[cfg(target_os = "linux")]
fn catches_sigterm(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

/// A pipeline tailing an empty directory: it runs until stopped and logs nothing meanwhile.
fn idle_pipeline(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    write(
        dir,
        "idle.toml",
        &format!(
            "data_dir = {:?}\n[inputs.app]\ntype = \"file\"\npaths = [{:?}]\n[outputs.out]\ntype = \"null\"\n",
            dir.join("data").display().to_string(),
            dir.join("logs/*.log").display().to_string()
        ),
    )
}

#[test]
#[cfg(target_os = "linux")]
fn sigterm_stops_a_run_whose_stderr_is_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let config = idle_pipeline(dir.path());
    let mut child = Running(
        sluice()
            .args(["run", "--no-api", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(closed_pipe())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !catches_sigterm(pid) {
        assert!(child.0.try_wait().unwrap().is_none(), "sluice exited early");
        assert!(Instant::now() < deadline, "sluice never handled SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Writing the "Shutting down" line fails with EPIPE; that must not stop the shutdown.
    signal(pid, "TERM");
    let status = wait_for_exit(&mut child.0, Duration::from_secs(20))
        .expect("sluice did not exit after SIGTERM with stderr a closed pipe");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn a_failure_with_stderr_a_closed_pipe_still_exits_1() {
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
    let status = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    // 101 would be a panic while reporting the failure.
    assert_eq!(status.code(), Some(1), "{status}");
}

#[test]
fn stdout_a_closed_pipe_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"stdout\"\n",
            dir.path().join("data").display()
        ),
    );
    let validate = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let test = sluice()
        .arg("test")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines"))
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(
        test.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    // `sluice run ... | head -1`: the stdout output stops, the run still ends normally.
    let mut run = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = run.stdin.take().unwrap();
    writeln!(stdin, "one\ntwo").unwrap();
    drop(stdin);
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
#[cfg(target_os = "linux")]
fn a_second_run_on_the_same_data_dir_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let config = idle_pipeline(dir.path());
    let lock_file = dir.path().join("data/sluice.lock");
    let mut first = Running(
        sluice()
            .args(["run", "--no-api", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first_pid = first.0.id();
    // Handling signals means it is running its pipeline.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !catches_sigterm(first_pid) {
        assert!(
            first.0.try_wait().unwrap().is_none(),
            "the first run exited"
        );
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    // `--once` takes the lock too; the refusal names the holder.
    let second = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("in use by another sluice run (pid {first_pid})")),
        "{stderr}"
    );
    // `validate` runs nothing and takes no lock.
    let validate = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(0));

    // kill -9 leaves the lock file behind, but not the lock.
    signal(first_pid, "KILL");
    first.0.wait().unwrap();
    assert!(lock_file.exists());
    let third = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        third.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

/// A loopback address where nothing listens: connections are refused at once.
fn unreachable_elasticsearch() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A pipeline reading `app.log` in `dir` into `out_file`, and into an Elasticsearch at `es` if
/// given, with a 1 s `shutdown_timeout`.
fn bounded_pipeline(
    dir: &Path,
    name: &str,
    es: Option<&str>,
    out_file: &str,
) -> std::path::PathBuf {
    let mut text = format!(
        "data_dir = {:?}\n[pipeline]\nshutdown_timeout = \"1s\"\n\
         [inputs.app]\ntype = \"file\"\npaths = [{:?}]\n\
         [outputs.archive]\ntype = \"file\"\npath = {:?}\n",
        dir.join("data").display().to_string(),
        dir.join("app.log").display().to_string(),
        dir.join(out_file).display().to_string(),
    );
    if let Some(es) = es {
        text.push_str(&format!(
            "[outputs.search]\ntype = \"elasticsearch\"\nhosts = [{es:?}]\n"
        ));
    }
    write(dir, name, &text)
}

fn lines_of(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Runs `config` with `--once`, expects it to give up with exit code 3 within 30 s and returns
/// its stderr.
fn once_giving_up(dir: &Path, config: &Path) -> String {
    let stderr_path = dir.join("stderr.txt");
    let mut child = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let status = wait_for_exit(&mut child, Duration::from_secs(30));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let status = status.unwrap_or_else(|| panic!("--once did not give up:\n{stderr}"));
    assert_eq!(status.code(), Some(3), "{stderr}");
    stderr
}

/// Runs the same input on the same data directory into a file output only and returns how
/// many lines it wrote: what the checkpoint left to read again.
fn rerun_without_elasticsearch(dir: &Path) -> usize {
    let rerun = bounded_pipeline(dir, "archive.toml", None, "second.ndjson");
    let out = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&rerun)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines_of(&dir.join("second.ndjson"))
}

#[test]
fn once_against_an_unreachable_elasticsearch_gives_up_after_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", "one\ntwo\nthree\n");
    let es = unreachable_elasticsearch();
    let config = bounded_pipeline(dir.path(), "es.toml", Some(&es), "first.ndjson");
    let stderr = once_giving_up(dir.path(), &config);
    assert!(stderr.contains("3 events not delivered"), "{stderr}");
    // The archive took them; the checkpoint waits for every output, so the next run reads
    // them again.
    assert_eq!(lines_of(&dir.path().join("first.ndjson")), 3);
    assert_eq!(rerun_without_elasticsearch(dir.path()), 3);
}

#[test]
fn once_with_a_backlog_larger_than_the_queues_gives_up_when_delivery_stalls() {
    // One event a batch, one batch a queue: the inputs can never read 200 lines to their end
    // while Elasticsearch takes nothing, so the end-of-input clock never starts; the stall
    // rule must end the run all the same.
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..200).map(|i| format!("line {i}\n")).collect();
    write(dir.path(), "app.log", &lines);
    let es = unreachable_elasticsearch();
    let config = bounded_pipeline(dir.path(), "es.toml", Some(&es), "first.ndjson");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[pipeline]\n",
        "[pipeline]\nbatch_size = 1\nqueue_batches = 1\nworkers = 1\n",
    );
    // The output's own buffer holds one event a request, one request at a time.
    let text = format!("{text}max_events = 1\nconcurrency = 1\n");
    std::fs::write(&config, text).unwrap();
    let stderr = once_giving_up(dir.path(), &config);
    assert!(stderr.contains("events not delivered"), "{stderr}");
    // Nothing is lost: a run without the unreachable output reads every line.
    assert_eq!(rerun_without_elasticsearch(dir.path()), 200);
}

#[test]
fn a_drain_after_sigterm_gives_up_after_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.log", "one\ntwo\nthree\n");
    let es = unreachable_elasticsearch();
    let config = bounded_pipeline(dir.path(), "es.toml", Some(&es), "out.ndjson");
    let stderr_path = dir.path().join("stderr.txt");
    let mut child = Running(
        sluice()
            .args(["run", "--no-api", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    // The archive has them: they are in flight to Elasticsearch too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines_of(&dir.path().join("out.ndjson")) < 3 {
        assert!(
            Instant::now() < deadline,
            "the lines never reached the outputs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(child.0.id(), "TERM");
    let status = wait_for_exit(&mut child.0, Duration::from_secs(30));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let status = status.unwrap_or_else(|| panic!("the drain did not give up:\n{stderr}"));
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("3 events not delivered"), "{stderr}");
}

#[test]
fn once_starts_the_shutdown_bound_when_its_inputs_reach_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = {:?}\n[pipeline]\nshutdown_timeout = \"1s\"\n[inputs.in]\ntype = \"stdin\"\n\
             [outputs.archive]\ntype = \"file\"\npath = {:?}\n",
            dir.path().join("data").display().to_string(),
            dir.path().join("out.ndjson").display().to_string(),
        ),
    );
    let mut child = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Input still open for twice the timeout: a bound counted from the start would end the
    // run here.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "--once ended while its input was still open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    writeln!(stdin, "late one\nlate two").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines_of(&dir.path().join("out.ndjson")), 2);
}

/// Companion files (script, its `imports_from`, an index template) are found beside the
/// pipeline file; data (`data_dir`, a file output) goes where sluice runs. Run from an empty
/// directory elsewhere, as a service runs from its state directory.
#[test]
fn companion_files_start_at_the_pipeline_folder_and_data_at_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("etc");
    let work = dir.path().join("work");
    std::fs::create_dir_all(config_dir.join("lib")).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    write(
        &config_dir.join("lib"),
        "units.rhai",
        "export const SUFFIX = \"-checked\";\n",
    );
    write(
        &config_dir,
        "mark.rhai",
        "import \"units\" as units;\nevent.mark = event.message + units::SUFFIX;\n",
    );
    write(
        &config_dir,
        "template.json",
        "{\"index_patterns\": [\"x-*\"]}",
    );
    let config = write(
        &config_dir,
        "p.toml",
        "data_dir = \"state\"\n\
         [inputs.in]\ntype = \"stdin\"\n\
         [[filters]]\ntype = \"script\"\npath = \"mark.rhai\"\nimports_from = \"lib\"\n\
         [outputs.archive]\ntype = \"file\"\npath = \"out/events.ndjson\"\n\
         [outputs.cluster]\ntype = \"elasticsearch\"\nhosts = [\"${ES_URL:-}\"]\n\
         template = \"template.json\"\n",
    );
    // Validation reads the template only for an enabled output.
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .env("ES_URL", "http://127.0.0.1:9")
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = sluice()
        .args(["run", "--once", "--no-api", "-c"])
        .arg(&config)
        .current_dir(&work)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "hello").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(work.join("out/events.ndjson")).unwrap();
    assert!(written.contains("\"mark\":\"hello-checked\""), "{written}");
    assert!(work.join("state").is_dir());
    assert!(!config_dir.join("out").exists() && !config_dir.join("state").exists());
}

/// A typo in one component does not hide what building the others finds: `validate` reports
/// the parse error and the build errors (a URL scheme, a made-up script function, an index
/// name Elasticsearch refuses) in one run, in file order.
#[test]
fn validate_reports_parse_and_build_problems_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "[inputs.app]\ntype = \"file\"\npaths = [\"x.log\"]\nread_form = \"end\"\n\
         [[filters]]\ntype = \"script\"\nsource = 'event.root = mqtt_topic_root(event.topic);'\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [\"ftp://es:9200\"]\n\
         [outputs.other]\ntype = \"elasticsearch\"\nhosts = [\"http://es:9200\"]\n\
         index = \"MQTT-%{+YYYY.MM.dd}\"\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let path = config.display().to_string();
    let expected = [
        format!("{path}:4:1: input `app` (file): unknown field `read_form`"),
        format!("{path}:7:24: filter `script#1`: unknown function `mqtt_topic_root`"),
        format!("{path}:10:9: `hosts` URLs must be http:// or https://"),
        format!("{path}:14:10: Elasticsearch refuses this index name: an index name must be lowercase (`M`)"),
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, expected) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(expected.as_str()),
            "{line}\nexpected: {expected}"
        );
    }
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

/// One Elasticsearch table with several wrong values: `validate` names each of them, not only
/// the first one the output's checks meet.
#[test]
fn validate_reports_every_problem_of_one_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "p.toml",
        "[inputs.app]\ntype = \"stdin\"\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [\"ftp://es:9200\"]\n\
         index = \"Logs-%{+YYYY.MM.dd}\"\nmax_events = 0\ncompression_level = 12\n",
    );
    let out = sluice()
        .args(["validate", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let path = config.display().to_string();
    for expected in [
        format!("{path}:5:9: `hosts` URLs must be http:// or https://"),
        format!("{path}:6:10: Elasticsearch refuses this index name"),
        format!("{path}:7:14: `max_events` must be at least 1"),
        format!("{path}:8:21: `compression_level` must be 0 (off) to 9"),
    ] {
        assert!(
            stderr.lines().any(|line| line.starts_with(&expected)),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
}

/// Total lines of every file in `dir`.
fn lines_in_dir(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| lines_of(&entry.unwrap().path()))
        .sum()
}

/// The README's quickstart piped into `head`: the reader leaves after a few bytes, the stdout
/// output drops the rest (counted, logged), the daily files still get every event, and the
/// run checkpoints, so a second run prints nothing new, as the README promises.
#[test]
fn the_quickstart_piped_into_head_checkpoints_and_a_rerun_prints_nothing() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines/sample")).unwrap();
    for file in ["quickstart.toml", "sample/mqtt-client.log"] {
        std::fs::copy(
            repo.join("pipelines").join(file),
            dir.path().join("pipelines").join(file),
        )
        .unwrap();
    }
    let quickstart = || {
        let mut command = sluice();
        command
            .args([
                "run",
                "--once",
                "--no-api",
                "-c",
                "pipelines/quickstart.toml",
            ])
            .current_dir(dir.path())
            .env_remove("SLUICE_DATA_DIR")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        command
    };
    let mut head = quickstart().stdout(Stdio::piped()).spawn().unwrap();
    let mut first_bytes = [0u8; 100];
    head.stdout
        .take()
        .unwrap()
        .read_exact(&mut first_bytes)
        .unwrap();
    // The read end is closed now, with 333 pretty events (far more than a pipe holds) unsent.
    let out = head.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("broken pipe"), "{stderr}");
    assert!(!stderr.contains("not delivered"), "{stderr}");
    assert_eq!(lines_in_dir(&dir.path().join("out")), 333);

    let rerun = quickstart().stdout(Stdio::piped()).output().unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&rerun.stdout), "");
    assert_eq!(lines_in_dir(&dir.path().join("out")), 333);
}
