//! Helpers shared by the benchmarks.

// Each benchmark uses a different subset of these helpers.
#![allow(dead_code)]

use sluice::metrics::Registry;
use sluice::pipeline::{compile, load, RunOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one `--once` run of a file-input pipeline took.
pub struct FileRun {
    pub wall: f64,
    pub cpu: f64,
    pub metrics: Arc<Registry>,
}

/// Runs `corpus` (`lines` lines) through a file input, `filters` (TOML `[[filters]]` text) and
/// the output table body `output`, once to the end, in `dir`; asserts every line reached the
/// output and returns the wall and CPU seconds with the metrics.
pub fn run_file_pipeline(
    name: &str,
    dir: &Path,
    corpus: &Path,
    lines: usize,
    filters: &str,
    output: &str,
) -> FileRun {
    let data = dir.join(format!("data-{name}"));
    let config_path = dir.join(format!("{name}.toml"));
    let config = format!(
        "data_dir = \"{}\"\n[inputs.bench]\ntype = \"file\"\npaths = [\"{}\"]\nfields = {{ service = \"mqtt\" }}\n\n{filters}\n[outputs.sink]\n{output}\n",
        data.display(),
        corpus.display(),
    );
    std::fs::write(&config_path, config).expect("write config");
    let pipeline = compile(load(&config_path).expect("config loads")).expect("config compiles");
    let metrics = pipeline.metrics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    runtime
        .block_on(pipeline.run(
            RunOptions { once: true },
            CancellationToken::new(),
            CancellationToken::new(),
        ))
        .expect("pipeline runs");
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    assert_eq!(
        delivered(&metrics) as usize,
        lines,
        "every line reaches the output"
    );
    FileRun { wall, cpu, metrics }
}

/// User + system CPU seconds of this process, all threads (from /proc: getrusage would
/// need `unsafe`).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_cpu_seconds(stat.rsplit(')').next().unwrap_or(""))
}

/// User + system CPU seconds of this process's live threads named `name` (from
/// /proc/self/task; a thread that has exited is not counted).
pub fn thread_cpu_seconds(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let comm = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'));
        if let Some((comm, after_comm)) = comm {
            if comm == name {
                total += stat_cpu_seconds(after_comm);
            }
        }
    }
    total
}

/// utime + stime of a `stat` line's fields after the command name.
fn stat_cpu_seconds(after_comm: &str) -> f64 {
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks_per_second = 100.0;
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / ticks_per_second
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The filter chain of `pipelines/mqtt.toml`: everything from its first `[[filters]]` up to
/// its first output table.
pub fn seed_filter_section() -> String {
    let mqtt =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/mqtt.toml"))
            .unwrap_or_default();
    match (mqtt.find("[[filters]]"), mqtt.find("[outputs.")) {
        (Some(start), Some(end)) if end > start => mqtt[start..end].to_string(),
        _ => String::new(),
    }
}

/// `pipelines/mqtt.toml`, loaded, with the context its components are built in.
pub fn seed_config(
) -> Result<(sluice::pipeline::Config, sluice::config::BuildContext), Box<dyn std::error::Error>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = load(&manifest.join("pipelines/mqtt.toml"))?;
    let context = sluice::config::BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(Registry::default()),
    };
    Ok((config, context))
}

/// The filter chain of `pipelines/mqtt.toml`, built as the pipeline builds it.
pub fn seed_chain() -> Result<Arc<sluice::filters::FilterChain>, Box<dyn std::error::Error>> {
    let (config, context) = seed_config()?;
    let chain = sluice::filters::FilterChain::build(&config.filters, &context)
        .map_err(|errors| format!("{} filter errors", errors.len()))?;
    Ok(Arc::new(chain))
}

/// Events every output received, summed over outputs.
pub fn delivered(metrics: &sluice::metrics::Registry) -> u64 {
    metrics
        .snapshot()
        .iter()
        .filter(|(key, _)| key.kind == "output")
        .map(|(_, m)| sluice::metrics::ComponentMetrics::get(&m.events_in))
        .sum()
}

/// Writes `lines` distinct winston lines (the shipped sample's, each with a sequence number)
/// to `path`; returns the bytes written.
pub fn write_corpus(path: &Path, lines: usize) -> u64 {
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/sample/mqtt-client.log"),
    )
    .expect("the shipped sample exists");
    let templates: Vec<&str> = sample.lines().filter(|l| l.len() < 420).collect();
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create corpus"));
    let mut bytes = 0u64;
    for i in 0..lines {
        let template = templates[i % templates.len()];
        // Keep every line distinct: replace the closing brace with a sequence number.
        let line = format!("{},\"seq\":{i}}}\n", &template[..template.len() - 1]);
        bytes += line.len() as u64;
        out.write_all(line.as_bytes()).expect("write corpus");
    }
    out.flush().expect("flush corpus");
    bytes
}

/// A whole number from the environment (`BENCH_EVENTS`, ...), or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Events per second of `worker` over `total` events made from `lines` by `event`, in
/// batches of `batch`. Each batch is built, processed and dropped in turn, so memory is
/// reused as in the running pipeline (where outputs release batches); only `process` is
/// timed.
pub fn chain_rate(
    worker: &mut sluice::filters::ChainWorker,
    lines: &[String],
    total: usize,
    batch: usize,
    event: impl Fn(&str) -> sluice::event::Event,
) -> f64 {
    let mut cycle = lines.iter().cycle();
    let mut processed = 0;
    let mut busy = std::time::Duration::ZERO;
    while processed < total {
        let size = batch.min(total - processed);
        let mut events: Vec<sluice::event::Event> =
            cycle.by_ref().take(size).map(|l| event(l)).collect();
        let started = Instant::now();
        worker.process(&mut events);
        busy += started.elapsed();
        std::hint::black_box(&events);
        drop(events);
        processed += size;
    }
    total as f64 / busy.as_secs_f64()
}
