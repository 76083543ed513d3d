//! End-to-end throughput of the runtime: file input → (filters) → null output.
//!
//! `cargo bench --bench pipeline` writes a corpus of MQTT client log lines (the shipped
//! winston sample, cycled with distinct sequence numbers, ~300 bytes per line by default),
//! runs the real pipeline in-process with `--once` semantics and prints lines/s, MB/s and
//! CPU-µs per line (user+system time of the whole process, so both cores count).
//!
//! Environment knobs: `SLUICE_BENCH_LINES` (default 1,000,000), `SLUICE_BENCH_CASE`
//! (`core` = no filters, `seed` = the filter chain of pipelines/mqtt.toml, `none` = only
//! write the corpus, the baseline of an instruction count; default both), and
//! `SLUICE_BENCH_OUTPUT` (`null`, the default, or `file`: NDJSON into a file in the
//! benchmark's temporary directory, so every event is serialised).

mod common;

use std::path::Path;

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run_case(name: &str, dir: &Path, corpus: &Path, lines: usize, bytes: u64, filters: &str) {
    let output = match std::env::var("SLUICE_BENCH_OUTPUT").as_deref() {
        Ok("file") => format!(
            "type = \"file\"\npath = \"{}\"\n",
            dir.join(format!("out-{name}.ndjson")).display()
        ),
        _ => "type = \"null\"\n".to_string(),
    };
    let common::FileRun { wall, cpu, .. } =
        common::run_file_pipeline(name, dir, corpus, lines, filters, output.trim_end());
    println!(
        "{name:>5}: {lines} lines in {wall:.2} s wall = {:.0} lines/s, {:.0} MB/s; CPU {cpu:.2} s = {:.2} µs/line ({:.0} lines per CPU-second); peak RSS so far {:.0} MiB",
        lines as f64 / wall,
        bytes as f64 / wall / 1e6,
        cpu * 1e6 / lines as f64,
        lines as f64 / cpu,
        common::peak_rss_mib(),
    );
}

fn main() {
    let lines: usize = std::env::var("SLUICE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let case = std::env::var("SLUICE_BENCH_CASE").unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus.log");
    let bytes = common::write_corpus(&corpus, lines);
    println!(
        "corpus: {lines} lines, {:.1} MB, {:.0} bytes/line",
        bytes as f64 / 1e6,
        bytes as f64 / lines as f64
    );
    if case.is_empty() || case == "core" {
        run_case("core", dir.path(), &corpus, lines, bytes, "");
    }
    if case.is_empty() || case == "seed" {
        let filters = common::seed_filter_section();
        if filters.is_empty() {
            println!(" seed: skipped (pipelines/mqtt.toml has no filter section)");
        } else {
            run_case("seed", dir.path(), &corpus, lines, bytes, &filters);
        }
    }
}
