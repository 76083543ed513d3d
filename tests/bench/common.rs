//! Helpers shared by the end-to-end benchmarks (`pipeline`, `beats`).

use std::path::Path;

/// User + system CPU seconds of this process, all threads (from /proc: getrusage would
/// need `unsafe`).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or("");
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

/// Events every output received, summed over outputs.
pub fn delivered(metrics: &sluice::metrics::Registry) -> u64 {
    metrics
        .snapshot()
        .iter()
        .filter(|(key, _)| key.kind == "output")
        .map(|(_, m)| sluice::metrics::ComponentMetrics::get(&m.events_in))
        .sum()
}
