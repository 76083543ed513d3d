//! The file input end to end: the real `sluice` binary tailing real files into a file output,
//! with a real winston logger rotating them.
//!
//! Rotation rates these tests claim to survive: ~8 renames per second with winston
//! `maxFiles: 10` while running, and a SIGKILL + restart while winston rotates ~4 times per
//! second with `maxFiles: 40` (the restart must come before unread files are destroyed by
//! rename-over; see `shared/reference/peers.md` D1 for why faster rotation loses data in any
//! tailer that is not running).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn logs_dir(dir: &Path) -> std::path::PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    logs
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix}-{i}\n")).collect()
}

fn expected(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// The messages starting with `prefix-`, in output order.
fn with_prefix(messages: &[String], prefix: &str) -> Vec<String> {
    let start = format!("{prefix}-");
    messages
        .iter()
        .filter(|m| m.starts_with(&start))
        .cloned()
        .collect()
}

/// Asserts equality without printing thousands of lines: the first difference and the lengths.
fn assert_same_lines(actual: &[String], wanted: &[String]) {
    let first_difference = actual.iter().zip(wanted).position(|(a, w)| a != w);
    assert!(
        actual.len() == wanted.len() && first_difference.is_none(),
        "got {} lines, wanted {}; first difference at {first_difference:?}: {:?} vs {:?}",
        actual.len(),
        wanted.len(),
        first_difference.map(|i| &actual[i]),
        first_difference.map(|i| &wanted[i]),
    );
}

/// Asserts that every `seq` in `0..total` arrived exactly once.
fn assert_exactly_once(counts: &BTreeMap<u64, usize>, total: u64) {
    let missing: Vec<u64> = (0..total).filter(|s| !counts.contains_key(s)).collect();
    let duplicated: Vec<(&u64, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty(),
        "{} lines missing, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        duplicated.is_empty(),
        "{} lines duplicated, first: {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)]
    );
    assert_eq!(counts.len() as u64, total, "unexpected sequence numbers");
}

#[test]
fn once_emits_filebeat_shaped_events_with_offsets_tags_and_the_partial_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let mut content = b"first\r\nsecond\ninvalid \xff utf8\n".to_vec();
    content.extend_from_slice(&[b'L'; 100]);
    content.extend_from_slice(b"\nno newline yet");
    std::fs::write(logs.join("app.log"), &content).unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        &[&format!("{}/*.log", logs.display())],
        "max_line_bytes = 16\nfields = { service = \"mqtt\" }\ntags = [\"edge\"]",
    );
    run_once(&pipeline);

    let events = read_events(dir.path());
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        vec![
            "first",
            "second",
            "invalid \u{fffd} utf8",
            "LLLLLLLLLLLLLLLL",
            "no newline yet"
        ]
    );
    let offsets: Vec<u64> = events
        .iter()
        .map(|e| e["log"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 7, 14, 29, 130]);
    let path = logs.join("app.log").display().to_string();
    for event in &events {
        assert_eq!(event["log"]["file"]["path"], Value::from(path.as_str()));
        assert_eq!(event["input"]["type"], "file");
        assert_eq!(event["fields"]["service"], "mqtt");
        assert!(!event["host"]["name"].as_str().unwrap().is_empty());
        assert!(event["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(events[0]["tags"], serde_json::json!(["edge"]));
    assert_eq!(
        events[3]["tags"],
        serde_json::json!(["edge", "_line_truncated"])
    );
}

#[test]
fn the_files_found_at_start_are_logged_and_a_glob_matching_nothing_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    for i in 0..7 {
        append(&logs.join(format!("app{i}.log")), &numbered("line", 0..2));
    }
    let matching = format!("{}/*.log", logs.display());
    let typo = format!("{}/*.lgo", logs.display());
    let pipeline = write_pipeline(dir.path(), &[&matching, &typo], "");
    let named: Vec<String> = (0..5)
        .map(|i| logs.join(format!("app{i}.log")).display().to_string())
        .collect();
    let counted = format!("7 files: {} and 2 more.", named.join(", "));

    let stderr = run_once(&pipeline);
    let line_with = |text: &str| {
        stderr
            .lines()
            .find(|l| l.contains(text))
            .map(str::to_string)
    };
    let reading = line_with(&format!("Reading {counted}"));
    assert!(
        reading.as_deref().is_some_and(|l| l.contains("INFO")),
        "{stderr}"
    );
    let warning = line_with(&format!(
        "No file matches `{typo}`; nothing is read from it."
    ));
    assert!(
        warning.as_deref().is_some_and(|l| l.contains("WARN")),
        "{stderr}"
    );
    assert!(
        line_with(&format!("No file matches `{matching}`")).is_none(),
        "{stderr}"
    );

    // Running (not `--once`): the same at start, and the glob is looked for again.
    let sluice = Sluice::start(&pipeline);
    let logged = wait_until(Duration::from_secs(10), || {
        let stderr = sluice.stderr();
        stderr.contains(&format!("Tailing {counted}"))
            && stderr.contains(&format!(
                "No file matches `{typo}` yet; it is looked for again every scan_interval."
            ))
    });
    let stderr = sluice.stop();
    assert!(logged, "{stderr}");
}

/// The summed offsets of the input's checkpoint (0 before the first one is written).
fn checkpoint_offset(dir: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(dir.join("data/checkpoints/app.json")) else {
        return 0;
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return 0; // being replaced
    };
    value["files"].as_array().map_or(0, |files| {
        files.iter().filter_map(|f| f["offset"].as_u64()).sum()
    })
}

/// The `Component totals.` line of the file input, from a run's stderr.
fn input_totals(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("Component totals.") && l.contains("component_kind=input"))
        .unwrap_or_else(|| panic!("no input totals:\n{stderr}"))
        .to_string()
}

#[test]
fn blank_lines_are_skipped_counted_and_checkpointed_past() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, "one\n\n  \t\r\ntwo\n\n\n");
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let stderr = run_once(&pipeline);
    assert_eq!(read_messages(dir.path()), ["one", "two"]);
    let totals = input_totals(&stderr);
    assert!(
        totals.contains("events_in=6 events_out=2 dropped=4"),
        "{totals}"
    );
    let len = std::fs::metadata(&file).unwrap().len();
    assert_eq!(
        checkpoint_offset(dir.path()),
        len,
        "the trailing blank lines are past"
    );

    // Running: a write of only blank lines is checkpointed past too, and nothing is re-read.
    let sluice = Sluice::start(&pipeline);
    append(&file, "\n \n");
    let len = std::fs::metadata(&file).unwrap().len();
    let checkpointed = wait_until(Duration::from_secs(10), || {
        checkpoint_offset(dir.path()) == len
    });
    append(&file, "three\n");
    let arrived = wait_until(Duration::from_secs(10), || {
        read_messages(dir.path()).len() == 3
    });
    let stderr = sluice.stop();
    assert!(
        checkpointed,
        "checkpoint stuck before the blank lines:\n{stderr}"
    );
    assert!(arrived, "{stderr}");
    assert_eq!(read_messages(dir.path()), ["one", "two", "three"]);
    assert!(
        input_totals(&stderr).contains("events_in=3 events_out=1 dropped=2"),
        "{stderr}"
    );
}

#[test]
fn a_second_once_run_continues_from_the_checkpoint_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, &numbered("line", 0..100));
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    run_once(&pipeline);
    assert_eq!(read_messages(dir.path()), expected("line", 0..100));

    append(&file, &numbered("line", 100..150));
    append(&logs.join("other.log"), &numbered("other", 0..3));
    run_once(&pipeline);
    let messages = read_messages(dir.path());
    assert_eq!(messages.len(), 153);
    assert_same_lines(&with_prefix(&messages, "line"), &expected("line", 0..150));
    assert_same_lines(&with_prefix(&messages, "other"), &expected("other", 0..3));

    run_once(&pipeline);
    assert_eq!(
        read_messages(dir.path()).len(),
        153,
        "nothing new, nothing re-read"
    );
}

/// Reads what is in the FIFO now; false once every writer has closed it and it is empty.
fn read_available(fifo: &mut std::fs::File, into: &mut Vec<u8>) -> bool {
    use std::io::Read;
    let mut chunk = [0u8; 64 * 1024];
    match fifo.read(&mut chunk) {
        Ok(0) => false,
        Ok(n) => {
            into.extend_from_slice(&chunk[..n]);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(e) => panic!("reading the FIFO: {e}"),
    }
}

/// `--once` over a long file checkpoints as the outputs settle, not only once the file is
/// read: a run killed half-way resumes where its output was. The output is a FIFO this test
/// reads at its own pace, so the run cannot get ahead of it (backpressure, through a real
/// pipe).
#[test]
fn a_once_run_checkpoints_as_its_output_settles_and_a_killed_run_resumes_there() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    // Fixed-length lines, so an offset names a line count: 16 MiB, four reading rounds.
    let total = 80_000usize;
    let pad = "x".repeat(190);
    let text: String = (0..total).map(|i| format!("line {i:07} {pad}\n")).collect();
    let line_len = (text.len() / total) as u64;
    append(&file, &text);
    let fifo_path = dir.path().join("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo_path).status().unwrap();
    assert!(made.success());
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    let out = output_path(dir.path()).display().to_string();
    std::fs::write(
        &pipeline,
        text.replace(&out, &fifo_path.display().to_string()),
    )
    .unwrap();
    // Non-blocking, and open before sluice: its writes never find the FIFO without a reader.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
        .unwrap();

    let sluice = Sluice::start_once(&pipeline);
    let mut written = Vec::new();
    let mut checkpointed = 0;
    let seen = wait_until(Duration::from_secs(60), || {
        read_available(&mut fifo, &mut written);
        checkpointed = checkpoint_offset(dir.path());
        checkpointed > 0
    });
    let lines_read = written.iter().filter(|&&b| b == b'\n').count();
    assert!(seen, "no checkpoint during the run:\n{}", sluice.stderr());
    assert!(
        lines_read < total,
        "the checkpoint came only after all {lines_read} lines were delivered"
    );
    assert_eq!(checkpointed % line_len, 0, "a checkpoint ends a line");
    sluice.kill();
    while read_available(&mut fifo, &mut written) {}

    // The next run (to a regular file) reads exactly what was not checkpointed.
    let resumed_from = checkpoint_offset(dir.path());
    std::fs::write(&pipeline, text).unwrap();
    run_once(&pipeline);
    let again = read_messages(dir.path());
    assert_eq!(again.len() as u64, total as u64 - resumed_from / line_len);
    let mut messages: Vec<String> = String::from_utf8(written)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|event| event["message"].as_str().unwrap_or_default().to_string())
        .collect();
    messages.extend(again);
    let mut distinct: Vec<&str> = messages.iter().map(|m| &m[..12]).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), total, "every line arrived at least once");
}

#[test]
fn read_from_end_skips_existing_lines_of_files_found_at_startup_only() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    append(&logs.join("app.log"), &numbered("old", 0..10));
    let pipeline = write_pipeline(
        dir.path(),
        &[&format!("{}/*.log", logs.display())],
        "read_from = \"end\"",
    );
    let sluice = Sluice::start(&pipeline);
    let checkpoint = dir.path().join("data/checkpoints/app.json");
    assert!(
        wait_until(Duration::from_secs(10), || checkpoint.exists()),
        "no checkpoint written:\n{}",
        sluice.stderr()
    );
    append(&logs.join("app.log"), &numbered("new", 0..5));
    append(&logs.join("later.log"), &numbered("later", 0..5));
    let arrived = wait_until(Duration::from_secs(10), || {
        read_events(dir.path()).len() >= 10
    });
    sluice.stop();
    assert!(arrived, "got {:?}", read_messages(dir.path()));
    let mut messages = read_messages(dir.path());
    messages.sort();
    let mut wanted = [expected("later", 0..5), expected("new", 0..5)].concat();
    wanted.sort();
    assert_eq!(messages, wanted);
}

#[test]
fn winston_rotation_by_rename_is_followed_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    // app.log, app1.log ... app9.log all match the glob: the renamed files must not be
    // read a second time.
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let sluice = Sluice::start(&pipeline);
    let plan = ProducerPlan {
        lines: 6000,
        lines_per_tick: 20,
        tick_ms: 10,
        max_size: 32 * 1024,
        max_files: 10,
    };
    Producer::start(&logs.join("app.log"), plan).finish();
    let all_arrived = wait_until(Duration::from_secs(30), || {
        sequence_counts(dir.path()).len() as u64 >= plan.lines
    });
    let stderr = sluice.stop();
    assert!(
        all_arrived,
        "only {} of {} lines arrived:\n{stderr}",
        sequence_counts(dir.path()).len(),
        plan.lines
    );
    let rotated = std::fs::read_dir(&logs).unwrap().count();
    assert!(
        rotated >= 10,
        "winston should have rotated; files: {rotated}"
    );
    assert_exactly_once(&sequence_counts(dir.path()), plan.lines);
}

#[test]
fn copytruncate_makes_the_file_be_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, &numbered("before", 0..20));
    let inode = std::fs::metadata(&file).unwrap().ino();
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let sluice = Sluice::start(&pipeline);
    assert!(
        wait_until(Duration::from_secs(10), || read_events(dir.path()).len()
            >= 20),
        "{}",
        sluice.stderr()
    );
    // copytruncate: same inode, emptied in place, then written again (less than before).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&file, &numbered("after", 0..5));
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
    let arrived = wait_until(Duration::from_secs(10), || {
        read_events(dir.path()).len() >= 25
    });
    let stderr = sluice.stop();
    assert!(arrived, "{:?}\n{stderr}", read_messages(dir.path()));
    assert_eq!(
        read_messages(dir.path()),
        [expected("before", 0..20), expected("after", 0..5)].concat()
    );
    let offsets: Vec<u64> = read_events(dir.path())[20..]
        .iter()
        .map(|e| e["log"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 8, 16, 24, 32]);
}

#[test]
fn a_reused_inode_with_different_content_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let file = logs.join("app.log");
    append(&file, &numbered("old", 0..10));
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    run_once(&pipeline);
    assert_eq!(read_messages(dir.path()), expected("old", 0..10));

    let old = std::fs::metadata(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    // The new file is longer than the old offset, so only the fingerprint can tell them apart.
    let new_content = numbered("replacement", 0..20);
    let mut reused = false;
    for attempt in 0..500 {
        let candidate = scratch.join(format!("candidate-{attempt}"));
        std::fs::write(&candidate, &new_content).unwrap();
        if std::fs::metadata(&candidate).unwrap().ino() == old.ino() {
            std::fs::rename(&candidate, &file).unwrap();
            reused = true;
            break;
        }
    }
    if !reused {
        // The filesystem did not hand the inode out again: make the checkpoint claim the new
        // file's inode instead, which is what the tailer sees after a real reuse.
        std::fs::rename(scratch.join("candidate-0"), &file).unwrap();
        let checkpoint_path = dir.path().join("data/checkpoints/app.json");
        let mut checkpoint: Value =
            serde_json::from_slice(&std::fs::read(&checkpoint_path).unwrap()).unwrap();
        checkpoint["files"][0]["inode"] = std::fs::metadata(&file).unwrap().ino().into();
        std::fs::write(&checkpoint_path, checkpoint.to_string()).unwrap();
    }
    eprintln!("inode reused by the filesystem: {reused}");
    run_once(&pipeline);
    assert_eq!(
        read_messages(dir.path()),
        [expected("old", 0..10), expected("replacement", 0..20)].concat(),
        "inode reused for real: {reused}"
    );
}

/// Files `pid` holds open whose target was deleted.
fn deleted_open_files(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.ends_with("(deleted)"))
        .collect()
}

#[test]
fn a_file_deleted_while_being_read_is_read_to_its_end_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, "warm-up\n");
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let sluice = Sluice::start(&pipeline);
    assert!(
        wait_until(Duration::from_secs(10), || read_events(dir.path()).len()
            == 1),
        "{}",
        sluice.stderr()
    );
    // Sluice has the file open; write a lot more and delete it at once.
    append(&file, &numbered("line", 0..20_000));
    std::fs::remove_file(&file).unwrap();
    let all_read = wait_until(Duration::from_secs(20), || {
        read_events(dir.path()).len() >= 20_001
    });
    let released = wait_until(Duration::from_secs(10), || {
        deleted_open_files(sluice.pid()).is_empty()
    });
    let still_open = deleted_open_files(sluice.pid());
    let stderr = sluice.stop();
    assert!(
        all_read,
        "{} events\n{stderr}",
        read_events(dir.path()).len()
    );
    assert!(released, "still open: {still_open:?}");
    assert_same_lines(
        &read_messages(dir.path()),
        &[vec!["warm-up".to_string()], expected("line", 0..20_000)].concat(),
    );
}

/// A sidecar's last words: lines appended just before SIGTERM are read and delivered before
/// sluice exits. The append is far more than one read share (4 MiB), so a reader that stopped
/// at its last read on the signal would leave most of it behind.
#[test]
fn lines_appended_just_before_sigterm_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, "warm-up\n");
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let sluice = Sluice::start(&pipeline);
    assert!(
        wait_until(Duration::from_secs(10), || read_events(dir.path()).len()
            == 1),
        "{}",
        sluice.stderr()
    );
    // ~16 MiB in one write, then the signal at once; a new file too, found only by the last
    // scan or a notification racing the signal.
    let last_words = numbered(&format!("last-words-{}", "x".repeat(56)), 0..200_000);
    append(&file, &last_words);
    append(&logs.join("new.log"), &numbered("new", 0..100));
    let stderr = sluice.stop();
    let messages = read_messages(dir.path());
    let prefix = format!("last-words-{}", "x".repeat(56));
    assert_same_lines(
        &with_prefix(&messages, &prefix),
        &expected(&prefix, 0..200_000),
    );
    assert_same_lines(&with_prefix(&messages, "new"), &expected("new", 0..100));
    assert_eq!(
        checkpoint_offset(dir.path()),
        std::fs::metadata(&file).unwrap().len()
            + std::fs::metadata(logs.join("new.log")).unwrap().len(),
        "the checkpoint covers the appended lines\n{stderr}"
    );
}

/// The last read after SIGTERM shares `shutdown_timeout` with the drain: with Elasticsearch
/// unreachable the pipeline is full and the reader cannot go on, so sluice gives up at the
/// bound (exit code 3), says the files were not read to their end, and checkpoints nothing it
/// did not deliver.
#[test]
fn the_last_read_after_sigterm_is_bounded_by_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let file = logs.join("app.log");
    append(&file, &numbered("backlog", 0..50_000));
    // A port nothing listens on: Elasticsearch is unreachable.
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", unreachable.local_addr().unwrap());
    drop(unreachable);
    let text = format!(
        "data_dir = {data:?}\n[pipeline]\nbatch_size = 64\nqueue_batches = 2\nshutdown_timeout = \"2s\"\n\
         [inputs.app]\ntype = \"file\"\npaths = [{logs:?}]\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [{url:?}]\n",
        data = dir.path().join("data").display().to_string(),
        logs = logs.join("*.log").display().to_string(),
    );
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, text).unwrap();
    let mut sluice = Sluice::start(&pipeline);
    assert!(
        wait_until(Duration::from_secs(20), || sluice
            .stderr()
            .contains("not reachable")),
        "{}",
        sluice.stderr()
    );
    append(&file, &numbered("last-words", 0..100_000));
    let (code, stderr) = sluice.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("Stopped reading at shutdown_timeout"),
        "{stderr}"
    );
    assert_eq!(checkpoint_offset(dir.path()), 0, "nothing was delivered");
}

#[test]
fn sigkill_mid_stream_while_winston_rotates_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_dir(dir.path());
    let pipeline = write_pipeline(dir.path(), &[&format!("{}/*.log", logs.display())], "");
    let plan = ProducerPlan {
        lines: 12_000,
        lines_per_tick: 20,
        tick_ms: 10,
        max_size: 64 * 1024,
        max_files: 40,
    };
    let mut producer = Producer::start(&logs.join("app.log"), plan);
    let mut received_at_kill = Vec::new();
    for kill_after in [2_000u64, 6_000] {
        let sluice = Sluice::start(&pipeline);
        let reached = wait_until(Duration::from_secs(30), || {
            sequence_counts(dir.path()).len() as u64 >= kill_after
        });
        assert!(reached, "no progress before the kill:\n{}", sluice.stderr());
        assert!(producer.is_running(), "the kill must happen mid-stream");
        sluice.kill();
        received_at_kill.push(read_events(dir.path()).len());
    }
    let sluice = Sluice::start(&pipeline);
    producer.finish();
    let complete = wait_until(Duration::from_secs(30), || {
        sequence_counts(dir.path()).len() as u64 >= plan.lines
    });
    let stderr = sluice.stop();
    let counts = sequence_counts(dir.path());
    assert!(
        complete,
        "{} of {} lines after restart:\n{stderr}",
        counts.len(),
        plan.lines
    );
    let missing: Vec<u64> = (0..plan.lines)
        .filter(|s| !counts.contains_key(s))
        .collect();
    assert!(missing.is_empty(), "lost lines: {missing:?}");
    // Duplicates come only from batches delivered after the last checkpoint before each kill:
    // checkpoints are written every second, the producer writes ~2000 lines per second.
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "duplicates after two SIGKILLs: {duplicates} (received at kills: {received_at_kill:?})"
    );
    assert!(
        duplicates <= 2 * 4_000,
        "{duplicates} duplicates is more than two seconds of input per kill"
    );
}

#[test]
fn invalid_settings_are_reported_at_their_position_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("paths = []", "4:9: `paths` is empty"),
        (
            "paths = [\"logs/[.log\"]",
            "4:16: invalid glob `logs/[.log`",
        ),
        (
            "paths = [\"a.log\"]\nmax_line_bytes = 0",
            "5:18: `max_line_bytes` must be at least 1",
        ),
        (
            "paths = [\"a.log\"]\nscan_interval = \"5 parsecs\"",
            "5:17:",
        ),
        (
            "pathz = [\"a.log\"]",
            "4:1: input `app` (file): unknown field `pathz`",
        ),
    ];
    for (settings, wanted) in cases {
        let pipeline = dir.path().join("pipeline.toml");
        std::fs::write(
            &pipeline,
            format!(
                "[inputs.app]\ntype = \"file\"\n\n{settings}\n[outputs.out]\ntype = \"null\"\n"
            ),
        )
        .unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["validate", "-c"])
            .arg(&pipeline)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{settings}: {stderr}");
        assert!(
            stderr.contains(&format!("pipeline.toml:{wanted}")),
            "{settings}: wanted `{wanted}` in {stderr}"
        );
    }
}
