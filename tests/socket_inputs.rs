//! The tcp and udp inputs and the stdin codecs through the real binary: clients on real
//! sockets, events in the file output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{output_path, read_events, wait_until, Sluice};
use serde_json::{json, Value};
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// A port free right now (the kernel's pick for a socket that is then closed).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pipeline(dir: &Path, inputs: &str) -> std::path::PathBuf {
    let text = format!(
        "data_dir = {data:?}\n[pipeline]\nworkers = 1\n{inputs}\n[outputs.out]\ntype = \"file\"\npath = {out:?}\n",
        data = dir.join("data").display().to_string(),
        out = output_path(dir).display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn without_timestamp(mut event: Value) -> Value {
    assert!(event
        .as_object_mut()
        .unwrap()
        .remove("@timestamp")
        .is_some());
    event
}

#[test]
fn tcp_json_lines_and_udp_syslog_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let (tcp_port, udp_port) = (free_port(), free_port());
    let config = pipeline(
        dir.path(),
        &format!(
            "[inputs.tcp]\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {tcp_port}\ncodec = \"json_lines\"\n\
             [inputs.udp]\ntype = \"udp\"\nhost = \"127.0.0.1\"\nport = {udp_port}\n"
        ),
    );
    let sluice = Sluice::start(&config);
    let mut client = None;
    assert!(
        wait_until(DEADLINE, || {
            client = TcpStream::connect(("127.0.0.1", tcp_port)).ok();
            client.is_some()
        }),
        "{}",
        sluice.stderr()
    );
    let mut client = client.unwrap();
    client
        .write_all(b"{\"level\":\"error\",\"message\":\"broker down\"}\nnot json\n")
        .unwrap();
    drop(client);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A datagram sent before the input listens is lost (UDP); resend until one arrives.
    assert!(wait_until(DEADLINE, || {
        udp.send_to(
            b"<13>Dec  3 12:00:00 edge-7 app: hello",
            ("127.0.0.1", udp_port),
        )
        .unwrap();
        read_events(dir.path())
            .iter()
            .any(|e| e["host"]["ip"] == json!("127.0.0.1"))
            && read_events(dir.path()).len() >= 3
    }));
    let stderr = sluice.stop();
    let events: Vec<Value> = read_events(dir.path())
        .into_iter()
        .map(without_timestamp)
        .collect();
    assert!(
        events.contains(&json!({"level": "error", "message": "broker down"})),
        "{events:?}\n{stderr}"
    );
    assert!(events.contains(&json!({"message": "not json", "tags": ["_jsonparsefailure"]})));
    assert!(events.contains(
        &json!({"message": "<13>Dec  3 12:00:00 edge-7 app: hello", "host": {"ip": "127.0.0.1"}})
    ));
}

#[test]
fn stdin_with_a_multiline_codec_joins_stack_traces() {
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        "[inputs.in]\ntype = \"stdin\"\ncodec = { type = \"multiline\", pattern = \"^\\\\s\", what = \"previous\" }\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"Exception in thread main\n  at a.B.c(B.java:1)\n  at d.E.f(E.java:2)\nnext line\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages: Vec<Value> = read_events(dir.path())
        .into_iter()
        .map(|e| json!([e["message"], e["tags"], e["input"]]))
        .collect();
    assert_eq!(
        messages,
        [
            json!(["Exception in thread main\n  at a.B.c(B.java:1)\n  at d.E.f(E.java:2)", ["multiline"], {"type": "stdin"}]),
            json!(["next line", null, {"type": "stdin"}]),
        ]
    );
}

/// `sluice validate` on `config`: it must fail; returns what it printed on stderr.
fn refused_by_validate(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["validate", "-c"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_socket_input_setting_outside_logstash_names_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        "[inputs.tcp]\ntype = \"tcp\"\nport = 5000\nmode = \"client\"\n",
    );
    let stderr = refused_by_validate(&config);
    assert!(
        stderr.contains(":7:1: input `tcp` (tcp): unknown field `mode`"),
        "{stderr}"
    );
}

#[test]
fn a_grok_multiline_pattern_is_refused_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        "[inputs.tcp]\ntype = \"tcp\"\nport = 5000\ncodec = { type = \"multiline\", pattern = \"^%{TIMESTAMP_ISO8601}\", what = \"previous\" }\n",
    );
    let stderr = refused_by_validate(&config);
    assert!(
        stderr.contains("pipeline.toml:7:9: input `tcp`: codec: multiline `pattern")
            && stderr.contains("grok"),
        "{stderr}"
    );
}
