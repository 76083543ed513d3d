//! Throughput of the Elasticsearch output.
//!
//! `cargo bench --bench elasticsearch` runs:
//! - `encoder`: the `_bulk` encoder alone on events that went through the seed filter chain
//!   (the shipped sample, cycled with distinct sequence numbers): events/s on one core,
//!   with deterministic ids (the default: a SHA-256 per event) and with cluster-generated
//!   ids, and gzip level 1 of the encoded requests. Stable under load when counted in
//!   instructions: `SLUICE_BENCH_CASE=encoder valgrind --tool=callgrind <bench binary>`.
//! - `e2e-gzip1`, `e2e-gzip0`, `e2e-null`: file input → seed filters → this output (gzip level 1
//!   and off) or the null output (the baseline), run in-process with `--once` semantics,
//!   against a fake node in a child process that answers every request at once (it counts
//!   the items to answer one status per item, so gzip bodies are inflated there, not here).
//!   Reports events/s and CPU-µs per event of the sluice process alone; the difference to
//!   `e2e-null` is the output's own cost.
//!
//! - `output-gzip1`, `output-gzip0`, `output-null`: the whole output alone (encoding, gzip,
//!   HTTP to the fake node, reading its answers, settling and freeing the events) in a runtime
//!   of its own, fed batches just run through the seed filters, as in a pipeline: CPU-µs per
//!   event of the output's threads (the producer and the fake node are not counted). This is
//!   the issue's "encoding and sending" figure, without the filter chain's cost and noise.
//!   `output-null` (the null output fed the same way) is the baseline: handing batches over,
//!   settling and freeing the events.
//!
//! Environment knobs: `SLUICE_BENCH_LINES` (default 200,000), `SLUICE_BENCH_CASE`
//! (`encoder`, `output`, `e2e`, default all), `SLUICE_BENCH_OUTPUT` (`null`, `gzip1` or
//! `gzip0`: only that output run, for profiling), `SLUICE_BENCH_PREBUILT` (set: the output
//! case makes every batch before the clock starts, to see how fast the output alone can
//! go), `SLUICE_BENCH_ES_EXTRA` (more settings for its elasticsearch outputs, e.g.
//! `encoders = 1`), `SLUICE_BENCH_IDS` (`derived` or `auto`: only that
//! encoder run, no gzip; for callgrind), `SLUICE_BENCH_PIPELINE` (a `[pipeline]` table for the
//! e2e runs, settings separated by `;`, e.g. the pre-sidecar defaults
//! `batch_size = 1024; batch_bytes = 1048576; queue_batches = 4`).

mod common;

use sluice::event::{Event, Template};
use sluice::outputs::elasticsearch::config::Action;
use sluice::outputs::elasticsearch::encoder::{Encoder, IdPolicy};
use sluice::pipeline::load;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVE_ENV: &str = "SLUICE_BENCH_FAKE_NODE";

/// What components of `config` are built with.
fn build_context(config: &sluice::pipeline::Config) -> sluice::config::BuildContext {
    sluice::config::BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: std::sync::Arc::new(sluice::metrics::Registry::default()),
    }
}

/// Events as the output receives them: file-input shaped, through the seed filter chain (the
/// shipped sample, cycled with distinct sequence numbers and offsets).
struct SeedEvents {
    worker: sluice::filters::ChainWorker,
    lines: Vec<String>,
    produced: usize,
    offset: u64,
}

impl SeedEvents {
    fn new() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = load(&manifest.join("pipelines/mqtt.toml")).expect("mqtt.toml loads");
        let context = build_context(&config);
        let chain = std::sync::Arc::new(
            sluice::filters::FilterChain::build(&config.filters, &context)
                .unwrap_or_else(|_| panic!("the seed chain builds")),
        );
        let sample =
            std::fs::read_to_string(manifest.join("pipelines/sample/mqtt-client.log")).unwrap();
        Self {
            worker: chain.worker(),
            lines: sample.lines().map(str::to_string).collect(),
            produced: 0,
            offset: 0,
        }
    }

    /// The next `count` events.
    fn next(&mut self, count: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            let i = self.produced;
            let line = &self.lines[i % self.lines.len()];
            let line = format!("{},\"seq\":{i}}}", &line[..line.len() - 1]);
            let event = Event::from_value(serde_json::json!({
                "@timestamp": "2026-11-25T00:00:00.000Z",
                "message": line,
                "log": {"file": {"path": "/var/log/mqtt/client.log"}, "offset": self.offset},
                "host": {"name": "gw-01"},
                "input": {"type": "file"},
                "fields": {"service": "mqtt"},
            }));
            self.offset += line.len() as u64 + 1;
            self.produced += 1;
            events.push(event);
        }
        self.worker.process(&mut events);
        events
    }
}

fn seed_events(count: usize) -> Vec<Event> {
    SeedEvents::new().next(count)
}

fn encoder_case(lines: usize) {
    let events = seed_events(lines.min(100_000));
    let index = Template::parse("mqtt-logs-%{+YYYY.MM.dd}").unwrap();
    let only = std::env::var("SLUICE_BENCH_IDS").unwrap_or_default();
    for (name, ids) in [
        ("derived ids", IdPolicy::Derived),
        ("auto ids", IdPolicy::Auto),
    ] {
        if !only.is_empty() && !name.starts_with(only.as_str()) {
            continue;
        }
        let mut encoder = Encoder::new(index.clone(), Action::Create, ids, false);
        let mut buffer = Vec::with_capacity(4 << 20);
        let mut encoded = 0usize;
        let mut bytes = 0usize;
        let rounds = (lines / events.len()).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            for chunk in events.chunks(2000) {
                buffer.clear();
                // As the output reads a batch: prefetching the next events' blocks.
                for event in sluice::event::prefetch::walk(chunk) {
                    encoder.encode(event, &mut buffer).expect("encodes");
                }
                encoded += chunk.len();
                bytes += buffer.len();
            }
        }
        let wall = started.elapsed().as_secs_f64();
        println!(
            "encoder ({name}): {encoded} events in {wall:.3} s = {:.0} events/s on one core, {:.0} bytes/event",
            encoded as f64 / wall,
            bytes as f64 / encoded as f64
        );
    }
    if !only.is_empty() {
        return;
    }
    // gzip level 1 of full requests.
    let mut encoder = Encoder::new(index, Action::Create, IdPolicy::Derived, false);
    let mut buffer = Vec::new();
    for event in events.iter().take(2000) {
        encoder.encode(event, &mut buffer).expect("encodes");
    }
    let rounds = 50;
    let started = Instant::now();
    let mut compressed = 0usize;
    for _ in 0..rounds {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(buffer.len() / 4),
            flate2::Compression::new(1),
        );
        gz.write_all(&buffer).unwrap();
        compressed = gz.finish().unwrap().len();
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "gzip level 1: {:.0} events/s on one core ({:.0} MB/s in), ratio {:.1}",
        (rounds * 2000) as f64 / wall,
        (rounds * buffer.len()) as f64 / wall / 1e6,
        buffer.len() as f64 / compressed as f64
    );
}

/// The fake node: a child process (this binary with `SLUICE_BENCH_FAKE_NODE=1`) that prints
/// its port and serves until its stdin closes.
fn serve() {
    use http_body_util::{BodyExt, Full};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let service = service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                        let gzip = request.headers().get("content-encoding").is_some_and(|v| v == "gzip");
                        let root = request.uri().path() == "/";
                        let body = request.into_body().collect().await?.to_bytes();
                        let text = if root {
                            r#"{"name":"bench","cluster_name":"bench","version":{"distribution":"opensearch","number":"2.19.6"}}"#.to_string()
                        } else {
                            let raw = if gzip {
                                let mut out = Vec::new();
                                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out).unwrap();
                                out
                            } else {
                                body.to_vec()
                            };
                            let items = raw.iter().filter(|b| **b == b'\n').count() / 2;
                            let mut text = String::with_capacity(items * 28 + 64);
                            text.push_str(r#"{"took":1,"errors":false,"items":["#);
                            for i in 0..items {
                                if i > 0 {
                                    text.push(',');
                                }
                                text.push_str(r#"{"create":{"status":201}}"#);
                            }
                            text.push_str("]}");
                            text
                        };
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(bytes::Bytes::from(text))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        // Until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .unwrap();
    });
}

/// The output on its own, in a runtime of its own, fed `count` events in pipeline-sized
/// batches through the same bounded channel the pipeline uses. Like in a pipeline, each batch
/// is made (built and run through the seed chain) just before it is handed over, on this
/// thread; the output's CPU is that of the runtime's threads, so the producer's is not counted.
fn output_case(name: &str, dir: &Path, output: &str, count: usize) {
    use sluice::event::{ack_channel, Batch, BatchStatus, Delivery};
    use sluice::outputs::{Output, OutputContext};
    const THREAD_NAME: &str = "bench-output";
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config_path,
        format!(
            "data_dir = \"{}\"\n[inputs.stdin]\ntype = \"stdin\"\n[outputs.bench]\n{output}\n",
            dir.display()
        ),
    )
    .unwrap();
    let config = load(&config_path).expect("the output configuration loads");
    let context = build_context(&config);
    let output = Output::build(&config.outputs[0].config, &context).expect("the output builds");
    let batch_size = config.settings.batch_size;
    let mut source = SeedEvents::new();
    let (ack_sender, mut acks) = ack_channel();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .unwrap();
    let (deliveries, receiver) = tokio::sync::mpsc::channel(config.settings.queue_batches);
    let context = OutputContext {
        id: "bench".into(),
        condition: None,
        abort: tokio_util::sync::CancellationToken::new(),
        metrics: std::sync::Arc::new(sluice::metrics::ComponentMetrics::default()),
        readiness: sluice::readiness::ReadinessHandle::detached(),
    };
    let output_cpu_before = common::thread_cpu_seconds(THREAD_NAME);
    // `SLUICE_BENCH_PREBUILT=1`: every batch is made before the clock starts, so the output
    // runs as fast as it can (its wall-clock rate shows whether the encoders scale).
    let prebuilt = std::env::var_os("SLUICE_BENCH_PREBUILT").is_some();
    let mut made = Vec::new();
    // As a pipeline worker does, the producer gets the events back to free them itself.
    let (home, mut bin) = sluice::event::Home::new();
    let make = |source: &mut SeedEvents, sent: usize, id: u64| {
        let events = source.next(batch_size.min(count - sent));
        let mut batch = Batch::new(events, Some(ack_sender.token(id)));
        batch.free_at(home.clone());
        batch
    };
    let mut freeing = std::time::Duration::ZERO;
    let mut free_returned = |bin: &mut sluice::event::HomeBin| {
        let started = Instant::now();
        bin.empty();
        freeing += started.elapsed();
    };
    if prebuilt {
        let mut sent = 0;
        while sent < count {
            let batch = make(&mut source, sent, made.len() as u64);
            sent += batch.len();
            made.push(batch);
        }
        made.reverse();
    }
    let cpu_before = common::cpu_seconds();
    let started = Instant::now();
    let task = runtime.spawn(output.run(receiver, context));
    let mut batches = 0;
    let mut sent = 0;
    while sent < count {
        let batch = match made.pop() {
            Some(batch) => batch,
            None => make(&mut source, sent, batches),
        };
        sent += batch.len();
        batches += 1;
        deliveries
            .blocking_send(Delivery::new(std::sync::Arc::new(batch)))
            .expect("the output is running");
        free_returned(&mut bin);
    }
    drop(deliveries);
    runtime.block_on(task).unwrap().expect("the output ran");
    free_returned(&mut bin);
    let wall = started.elapsed().as_secs_f64();
    let output_cpu = common::thread_cpu_seconds(THREAD_NAME) - output_cpu_before;
    let cpu = common::cpu_seconds() - cpu_before;
    drop(ack_sender);
    let mut settled = 0;
    while let Ok(receipt) = acks.try_recv() {
        assert_eq!(
            receipt.status,
            BatchStatus::Delivered,
            "every batch is indexed"
        );
        settled += 1;
    }
    assert_eq!(settled, batches, "every batch is settled");
    let freeing = freeing.as_secs_f64();
    println!(
        "{name:>12}: {count} events in {wall:.2} s wall = {:.0} events/s; output threads' CPU {output_cpu:.2} s = {:.2} µs/event, + freeing events on the producer {:.2} µs/event = {:.0} events per CPU-second (whole process incl. the producer: {:.2} µs/event)",
        count as f64 / wall,
        output_cpu * 1e6 / count as f64,
        freeing * 1e6 / count as f64,
        count as f64 / (output_cpu + freeing),
        cpu * 1e6 / count as f64,
    );
}

fn e2e_case(name: &str, dir: &Path, corpus: &Path, lines: usize, output: &str) {
    let common::FileRun { wall, cpu, metrics } = common::run_file_pipeline(
        name,
        dir,
        corpus,
        lines,
        &common::seed_filter_section(),
        output,
    );
    let mut requests = String::new();
    for (key, component) in metrics.snapshot() {
        for extra in component.extras() {
            if let (true, sluice::metrics::ExtraValue::Histogram(h)) =
                (key.kind == "output", &extra.value)
            {
                let snapshot = h.snapshot();
                if extra.name == "bulk_request_duration_seconds" && snapshot.count > 0 {
                    requests = format!(
                        "; {} requests, mean {:.1} ms",
                        snapshot.count,
                        snapshot.sum * 1e3 / snapshot.count as f64
                    );
                }
            }
        }
    }
    println!(
        "{name:>9}: {lines} events in {wall:.2} s wall = {:.0} events/s; sluice CPU {cpu:.2} s = {:.2} µs/event; peak RSS so far {:.0} MiB{requests}",
        lines as f64 / wall,
        cpu * 1e6 / lines as f64,
        common::peak_rss_mib(),
    );
}

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        serve();
        return;
    }
    let lines: usize = std::env::var("SLUICE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let case = std::env::var("SLUICE_BENCH_CASE").unwrap_or_default();
    if case.is_empty() || case == "encoder" {
        encoder_case(lines);
    }
    if case.is_empty() || case == "e2e" || case == "output" {
        let mut node = Command::new(std::env::current_exe().unwrap())
            .env(SERVE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake node");
        let mut port = String::new();
        BufReader::new(node.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let url = format!("http://127.0.0.1:{}", port.trim());
        let dir = tempfile::tempdir().expect("tempdir");
        if case.is_empty() || case == "output" {
            let only = std::env::var("SLUICE_BENCH_OUTPUT").unwrap_or_default();
            if only.is_empty() || only == "null" {
                output_case("output-null", dir.path(), "type = \"null\"", lines);
            }
            for level in [1, 0] {
                if !only.is_empty() && only != format!("gzip{level}") {
                    continue;
                }
                output_case(
                    &format!("output-gzip{level}"),
                    dir.path(),
                    &format!(
                        "type = \"elasticsearch\"\nhosts = [\"{url}\"]\ncompression_level = {level}\n{}",
                        std::env::var("SLUICE_BENCH_ES_EXTRA").unwrap_or_default()
                    ),
                    lines,
                );
            }
        }
        if case == "output" {
            drop(node.stdin.take());
            let _ = node.wait();
            return;
        }
        let corpus = dir.path().join("corpus.log");
        let bytes = common::write_corpus(&corpus, lines);
        println!(
            "corpus: {lines} lines, {:.1} MB; fake node at {url}",
            bytes as f64 / 1e6
        );
        e2e_case("e2e-null", dir.path(), &corpus, lines, "type = \"null\"");
        for level in [1, 0] {
            e2e_case(
                &format!("e2e-gzip{level}"),
                dir.path(),
                &corpus,
                lines,
                &format!(
                    "type = \"elasticsearch\"\nhosts = [\"{url}\"]\ncompression_level = {level}"
                ),
            );
        }
        drop(node.stdin.take());
        let _ = node.wait();
    }
}
