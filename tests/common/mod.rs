//! Helpers shared by the integration tests: the real `sluice` binary, the real winston
//! producer, a real search-engine node ([`search_node`]), and polling with deadlines instead of
//! sleeps.
//!
//! The node dependencies install themselves: the first test that needs them runs `npm ci` in
//! `tests/fixtures/node`, holding an exclusive lock so test binaries running in parallel do not
//! install over each other. A fresh checkout therefore needs only `node`/`npm` and
//! `cargo test`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod chaos;
#[macro_use]
pub mod search_node;
pub mod filebeat;
pub mod kafka_broker;
pub mod slack_double;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `tests/fixtures/node` with `node_modules` installed.
pub fn node_fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node");
    let installed = dir.join("node_modules/winston/package.json");
    if installed.exists() {
        return dir;
    }
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-install.lock");
    let lock = File::create(&lock_path).expect("create the npm install lock file");
    lock.lock().expect("lock the npm install lock file");
    // Another test binary may have installed while we waited for the lock.
    if !installed.exists() {
        let command = if dir.join("package-lock.json").exists() {
            "ci"
        } else {
            "install"
        };
        let output = Command::new("npm")
            .args([command, "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .expect("run npm (node and npm must be installed to run these tests)");
        assert!(
            output.status.success(),
            "npm {command} failed in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    drop(lock);
    dir
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a pipeline with one file input (`app`) and an NDJSON file output in `dir`.
/// `input_extra` is added to the input's table (e.g. `read_from = "end"`). One filter worker
/// keeps batches in order, so tests can assert the order of lines within a file.
pub fn write_pipeline(dir: &Path, paths: &[&str], input_extra: &str) -> PathBuf {
    let paths: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = 64\nworkers = 1\n\
         [inputs.app]\ntype = \"file\"\npaths = [{paths}]\nscan_interval = \"100ms\"\n{input_extra}\n\
         [outputs.out]\ntype = \"file\"\npath = {out:?}\n",
        data = dir.join("data").display().to_string(),
        paths = paths.join(", "),
        out = output_path(dir).display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// Where [`write_pipeline`]'s output goes.
pub fn output_path(dir: &Path) -> PathBuf {
    dir.join("out.ndjson")
}

/// Every event written to the output so far (a torn last line is ignored).
pub fn read_events(dir: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(output_path(dir)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The messages of the output's events.
pub fn read_messages(dir: &Path) -> Vec<String> {
    read_events(dir)
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Counts how often each winston `seq` appears in the output.
pub fn sequence_counts(dir: &Path) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for event in read_events(dir) {
        let Some(message) = event["message"].as_str() else {
            continue;
        };
        let Ok(line) = serde_json::from_str::<Value>(message) else {
            continue;
        };
        if let Some(seq) = line["seq"].as_u64() {
            *counts.entry(seq).or_insert(0) += 1;
        }
    }
    counts
}

/// Runs `sluice run --once` to completion and returns its stderr; panics on failure.
pub fn run_once(pipeline: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "-c"])
        .arg(pipeline)
        .env("SLUICE_LOG", "info")
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "sluice --once failed:\n{stderr}");
    stderr
}

/// Runs `sluice run --once -c config` with `env` (after `SLUICE_LOG=info`; an inherited
/// `ELASTICSEARCH_URL` is removed) and returns its exit code and stderr. A run still going
/// after `deadline` is killed and fails the test, so a hang shows as a failure with the log.
pub fn run_once_bounded(config: &Path, env: &[(&str, &str)], deadline: Duration) -> (i32, String) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("run-once-{}-{run}.stderr", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "-c"])
        .arg(config)
        .env("SLUICE_LOG", "info")
        .env_remove("ELASTICSEARCH_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run sluice");
    let finished = wait_until(deadline, || matches!(child.try_wait(), Ok(Some(_))));
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for sluice");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        finished,
        "sluice --once did not finish within {deadline:?}:\n{stderr}"
    );
    (status.code().unwrap_or(-1), stderr)
}

/// A running `sluice run` (killed when dropped, so a failing test leaves no process behind).
pub struct Sluice {
    child: Child,
    stderr_path: PathBuf,
}

impl Sluice {
    pub fn start(pipeline: &Path) -> Self {
        Self::start_in(pipeline, &[], None)
    }

    /// `sluice run --once`, left running (to be read from, signalled or killed mid-run).
    pub fn start_once(pipeline: &Path) -> Self {
        Self::spawn(pipeline, &["--once"], &[], None)
    }

    /// [`Sluice::start`] with `env` set and, when given, `cwd` as the working directory.
    pub fn start_in(pipeline: &Path, env: &[(&str, &str)], cwd: Option<&Path>) -> Self {
        Self::spawn(pipeline, &[], env, cwd)
    }

    fn spawn(
        pipeline: &Path,
        run_flags: &[&str],
        env: &[(&str, &str)],
        cwd: Option<&Path>,
    ) -> Self {
        // Under the build's scratch directory, not beside the pipeline: runs of the repository's
        // own pipelines must not leave files in `pipelines/`.
        let name = pipeline.file_stem().map_or_else(
            || "pipeline".into(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let stderr_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{name}.{}.{}.stderr",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let stderr = File::create(&stderr_path).expect("create stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .args(run_flags)
            .arg("-c")
            .arg(pipeline)
            .env("SLUICE_LOG", "info")
            .envs(env.iter().copied())
            .current_dir(cwd.unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start sluice");
        Self { child, stderr_path }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What sluice logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> String {
        signal(self.child.id(), "TERM");
        let exited = wait_until(Duration::from_secs(20), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(
            exited,
            "sluice did not exit after SIGTERM:\n{}",
            self.stderr()
        );
        let status = self.child.wait().expect("wait for sluice");
        let stderr = self.stderr();
        assert!(status.success(), "sluice exited with {status}:\n{stderr}");
        stderr
    }

    /// SIGTERM, then waits up to `deadline` for the exit, whatever its code; returns the code
    /// (`None` for a signal) and what sluice logged. Fails the test if sluice is still running.
    pub fn terminate(&mut self, deadline: Duration) -> (Option<i32>, String) {
        signal(self.child.id(), "TERM");
        let exited = wait_until(deadline, || matches!(self.child.try_wait(), Ok(Some(_))));
        assert!(
            exited,
            "sluice did not exit within {deadline:?} of SIGTERM:\n{}",
            self.stderr()
        );
        let status = self.child.wait().expect("wait for sluice");
        (status.code(), self.stderr())
    }

    /// SIGKILL: no chance to flush or checkpoint.
    pub fn kill(mut self) {
        signal(self.child.id(), "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A running winston producer (see `tests/fixtures/node/producer.js`).
pub struct Producer {
    child: Child,
}

/// How a [`Producer`] writes.
#[derive(Debug, Clone, Copy)]
pub struct ProducerPlan {
    pub lines: u64,
    pub lines_per_tick: u64,
    pub tick_ms: u64,
    /// winston `maxsize`: rotate when the active file reaches this many bytes.
    pub max_size: u64,
    /// winston `maxFiles`: files kept (the oldest is destroyed by rename-over).
    pub max_files: u64,
}

impl Producer {
    pub fn start(file: &Path, plan: ProducerPlan) -> Self {
        let node_dir = node_fixture_dir();
        let child = Command::new("node")
            .arg(node_dir.join("producer.js"))
            .arg(file)
            .args(
                [
                    plan.lines,
                    plan.lines_per_tick,
                    plan.tick_ms,
                    plan.max_size,
                    plan.max_files,
                ]
                .map(|n| n.to_string()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node (node must be installed to run these tests)");
        Self { child }
    }

    /// Waits for the producer to write and flush every line.
    pub fn finish(mut self) {
        let status = self.child.wait().expect("wait for producer");
        assert!(status.success(), "winston producer failed: {status}");
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut stdout);
        }
        assert!(
            stdout.starts_with("done"),
            "producer did not finish: {stdout:?}"
        );
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The Beats address a running sluice logged it listens on.
pub fn beats_listen_address(sluice: &Sluice) -> std::net::SocketAddr {
    let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    let address = regex::Regex::new(r"Listening for Beats clients.*address=(\S+)").expect("regex");
    let mut found = None;
    let listening = wait_until(Duration::from_secs(20), || {
        let stderr = ansi.replace_all(&sluice.stderr(), "").into_owned();
        found = address
            .captures(&stderr)
            .and_then(|c| c[1].parse::<std::net::SocketAddr>().ok());
        found.is_some()
    });
    assert!(listening, "sluice did not listen:\n{}", sluice.stderr());
    found.expect("address")
}
