//! Throughput of the Beats input: a Lumberjack v2 client sending zlib-compressed windows of
//! 2,048 Filebeat-shaped events (the Filebeat default `bulk_max_size`) to an in-process
//! pipeline, with two windows in flight (Filebeat's default `pipelining: 2`).
//!
//!     cargo bench --bench beats
//!     SLUICE_BENCH_WINDOWS=500 SLUICE_BENCH_CASE=null cargo bench --bench beats
//!
//! Cases: `null` (decode + ACK: Beats → null output) and `seed` (Beats → the filter chain of
//! `pipelines/mqtt.toml` → null). The windows are compressed before the clock starts, so the
//! client costs only its socket writes and ACK reads. CPU is the whole process (server and
//! client thread). `SLUICE_BENCH_PIPELINE` adds a `[pipeline]` table (settings separated by `;`).

mod common;

use sluice::pipeline::{compile, load, RunOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WINDOW: usize = 2048;

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// One compressed window (`2W` + `2C` holding `2J` frames numbered 1..=WINDOW).
fn window(lines: &[&str], first: usize) -> Vec<u8> {
    let mut frames = Vec::new();
    for seq in 1..=WINDOW {
        let line = lines[(first + seq) % lines.len()];
        let event = serde_json::json!({
            "@timestamp": "2026-11-25T00:00:00.000Z",
            "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.1.3"},
            "message": line,
            "log": {"offset": (first + seq) * 360, "file": {"path": "/var/log/mqtt/mqtt-client.log"}},
            "input": {"type": "filestream"},
            "ecs": {"version": "8.0.0"},
            "host": {"name": "gw-01"},
            "agent": {"type": "filebeat", "version": "8.1.3", "name": "gw-01"},
            "fields": {"service": "mqtt"},
        });
        let json = serde_json::to_vec(&event).expect("encode");
        frames.extend_from_slice(b"2J");
        frames.extend_from_slice(&(seq as u32).to_be_bytes());
        frames.extend_from_slice(&(json.len() as u32).to_be_bytes());
        frames.extend_from_slice(&json);
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
    encoder.write_all(&frames).expect("compress");
    let compressed = encoder.finish().expect("compress");
    let mut out = Vec::with_capacity(compressed.len() + 12);
    out.extend_from_slice(b"2W");
    out.extend_from_slice(&(WINDOW as u32).to_be_bytes());
    out.extend_from_slice(b"2C");
    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    out.extend_from_slice(&compressed);
    out
}

/// Reads ACK frames until a final one (non-zero sequence) arrives.
fn await_final_ack(stream: &mut TcpStream) {
    let mut ack = [0u8; 6];
    loop {
        stream.read_exact(&mut ack).expect("ack");
        assert_eq!(&ack[..2], b"2A");
        let seq = u32::from_be_bytes([ack[2], ack[3], ack[4], ack[5]]);
        if seq != 0 {
            assert_eq!(seq as usize, WINDOW);
            return;
        }
    }
}

fn connect(address: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => return stream,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("cannot connect to the Beats input: {e}"),
        }
    }
}

fn run_case(name: &str, dir: &Path, windows: &[Vec<u8>], filters: &str) {
    let address = free_port();
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config_path,
        format!(
            "data_dir = \"{}\"\n{}[inputs.beats]\ntype = \"beats\"\naddress = \"{address}\"\n\n{filters}\n[outputs.sink]\ntype = \"null\"\n",
            dir.join(format!("data-{name}")).display(),
            common::pipeline_section(),
        ),
    )
    .expect("write config");
    let pipeline = compile(load(&config_path).expect("loads")).expect("compiles");
    let metrics = pipeline.metrics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let shutdown = CancellationToken::new();
    let server = runtime.spawn(pipeline.run(
        RunOptions { once: false },
        shutdown.clone(),
        CancellationToken::new(),
    ));
    let mut stream = connect(address);
    stream.set_nodelay(true).expect("nodelay");
    let cpu_before = common::cpu_seconds();
    let started = Instant::now();
    // Two windows in flight, as Filebeat's default pipelining.
    let mut sent = 0;
    let mut acked = 0;
    while acked < windows.len() {
        while sent < windows.len() && sent - acked < 2 {
            stream.write_all(&windows[sent]).expect("send");
            sent += 1;
        }
        await_final_ack(&mut stream);
        acked += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = common::cpu_seconds() - cpu_before;
    drop(stream);
    shutdown.cancel();
    runtime.block_on(server).expect("join").expect("pipeline");
    let events = windows.len() * WINDOW;
    let delivered = common::delivered(&metrics);
    assert_eq!(delivered as usize, events, "every event reaches the output");
    println!(
        "{name:>5}: {events} events in {wall:.2} s wall = {:.0} events/s; CPU {cpu:.2} s = {:.2} µs/event ({:.0} events per CPU-second); peak RSS so far {:.0} MiB",
        events as f64 / wall,
        cpu * 1e6 / events as f64,
        events as f64 / cpu,
        common::peak_rss_mib(),
    );
}

fn main() {
    let count: usize = std::env::var("SLUICE_BENCH_WINDOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let case = std::env::var("SLUICE_BENCH_CASE").unwrap_or_default();
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample/mqtt-client.log"),
    )
    .expect("the shipped sample exists");
    let lines: Vec<&str> = sample.lines().collect();
    let windows: Vec<Vec<u8>> = (0..count).map(|i| window(&lines, i * WINDOW)).collect();
    let compressed: usize = windows.iter().map(Vec::len).sum();
    println!(
        "beats: {count} windows of {WINDOW} events, {:.1} MB compressed ({:.0} bytes/event on the wire)",
        compressed as f64 / 1e6,
        compressed as f64 / (count * WINDOW) as f64
    );
    let dir = tempfile::tempdir().expect("tempdir");
    if case.is_empty() || case == "null" {
        run_case("null", dir.path(), &windows, "");
    }
    if case.is_empty() || case == "seed" {
        run_case("seed", dir.path(), &windows, &common::seed_filter_section());
    }
}
