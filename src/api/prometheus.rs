//! `/metrics`: the Prometheus text exposition format, version 0.0.4.
//!
//! Every series of one metric name is written under a single `# HELP` / `# TYPE` header, so
//! the samples of all components are gathered by name first. Names get the `sluice_` prefix;
//! counters end in `_total` (added when a registered name lacks it); histograms expand to
//! `_bucket{le=...}` (cumulative, ending with `+Inf`), `_sum` and `_count`. Every component
//! series carries `component_kind`, `component_id` and `component_type` labels; label values
//! are escaped (`\\`, `\"`, `\n`) and names outside `[a-zA-Z0-9_:]` have the offending
//! characters replaced by `_`. A name registered with two different types by two components
//! keeps the first type; the other series are left out rather than making the scrape invalid.

use super::process::ProcessStats;
use crate::metrics::{ComponentKey, ComponentMetrics, ExtraValue, Registry};
use crate::readiness::ReadinessReport;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The content type of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX: &str = "sluice_";

/// One metric name with all its samples.
struct Family {
    name: String,
    help: String,
    kind: &'static str,
    samples: String,
}

#[derive(Default)]
struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Exposition {
    /// The family `name` (without prefix) of type `kind`; `None` when the name is taken by
    /// another type.
    fn family(&mut self, name: &str, help: &str, kind: &'static str) -> Option<&mut String> {
        let name = format!("{PREFIX}{}", sanitize_name(name));
        let position = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                self.families.push(Family {
                    name: name.clone(),
                    help: help.to_string(),
                    kind,
                    samples: String::new(),
                });
                self.index.insert(name, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        let family = self.families.get_mut(position)?;
        (family.kind == kind).then_some(&mut family.samples)
    }

    fn sample(
        &mut self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        if let Some(samples) = self.family(name, help, kind) {
            let full = format!("{PREFIX}{}", sanitize_name(name));
            write_sample(samples, &full, labels, None, value);
        }
    }

    fn render(self) -> String {
        let mut out = String::with_capacity(
            self.families
                .iter()
                .map(|f| f.samples.len() + f.help.len() + 2 * f.name.len() + 32)
                .sum(),
        );
        for family in self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
            out.push_str(&family.samples);
        }
        out
    }
}

/// Renders every metric of the process.
pub fn render(
    registry: &Registry,
    readiness: &ReadinessReport,
    process: &ProcessStats,
    version: &str,
) -> String {
    let mut exposition = Exposition::default();
    exposition.sample(
        "build_info",
        "Always 1; the labels say which sluice is running.",
        "gauge",
        &[("version", version)],
        1.0,
    );
    process_metrics(&mut exposition, process);
    exposition.sample(
        "ready",
        "1 when every input and output is ready (what /ready answers), else 0.",
        "gauge",
        &[],
        if readiness.ready { 1.0 } else { 0.0 },
    );
    for component in &readiness.components {
        exposition.sample(
            "component_ready",
            "1 when the component reports itself ready, else 0.",
            "gauge",
            &[
                ("component_kind", component.kind),
                ("component_id", &component.id),
                ("component_type", &component.type_name),
            ],
            if component.ready { 1.0 } else { 0.0 },
        );
    }
    let components = registry.snapshot();
    for (key, metrics) in &components {
        standard_counters(&mut exposition, key, metrics);
    }
    for (key, metrics) in &components {
        extras(&mut exposition, key, metrics);
    }
    exposition.render()
}

fn process_metrics(exposition: &mut Exposition, process: &ProcessStats) {
    exposition.sample(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        "gauge",
        &[],
        process.start_time_seconds,
    );
    let optional: [(&str, &str, &'static str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "User and system CPU time spent, in seconds.",
            "counter",
            process.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            "gauge",
            process.resident_memory_bytes.map(|v| v as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes.",
            "gauge",
            process.virtual_memory_bytes.map(|v| v as f64),
        ),
        (
            "process_open_fds",
            "Open file descriptors.",
            "gauge",
            process.open_fds.map(|v| v as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors (soft limit).",
            "gauge",
            process.max_fds.map(|v| v as f64),
        ),
        (
            "process_threads",
            "Operating system threads of the process.",
            "gauge",
            process.threads.map(|v| v as f64),
        ),
    ];
    for (name, help, kind, value) in optional {
        if let Some(value) = value {
            exposition.sample(name, help, kind, &[], value);
        }
    }
}

fn standard_counters(exposition: &mut Exposition, key: &ComponentKey, metrics: &ComponentMetrics) {
    let labels = component_labels(key);
    let counters = [
        (
            "events_in_total",
            "Events received (filters, outputs) or records read (inputs).",
            &metrics.events_in,
        ),
        (
            "events_out_total",
            "Events passed on (inputs: into the pipeline; filters) or delivered (outputs).",
            &metrics.events_out,
        ),
        (
            "events_dropped_total",
            "Events deliberately dropped (drop filter, script, disposal policy, blank input lines).",
            &metrics.events_dropped,
        ),
        (
            "events_failed_total",
            "Events that failed and were disposed of (dead letter, tagged failure).",
            &metrics.events_failed,
        ),
        (
            "errors_total",
            "Errors that did not stop the component (unreadable file, script error, retry).",
            &metrics.errors,
        ),
        ("bytes_total", "Raw bytes read or written.", &metrics.bytes),
    ];
    for (name, help, counter) in counters {
        exposition.sample(
            name,
            help,
            "counter",
            &labels,
            ComponentMetrics::get(counter) as f64,
        );
    }
}

fn extras(exposition: &mut Exposition, key: &ComponentKey, metrics: &ComponentMetrics) {
    let base = component_labels(key);
    for extra in metrics.extras() {
        let mut labels: Vec<(&str, &str)> = base.clone();
        labels.extend(extra.labels.iter().map(|(k, v)| (*k, v.as_str())));
        match &extra.value {
            ExtraValue::Counter(counter) => {
                let name = if extra.name.ends_with("_total") {
                    extra.name.to_string()
                } else {
                    format!("{}_total", extra.name)
                };
                exposition.sample(&name, extra.help, "counter", &labels, counter.get() as f64);
            }
            ExtraValue::Gauge(gauge) => {
                exposition.sample(extra.name, extra.help, "gauge", &labels, gauge.get() as f64);
            }
            ExtraValue::Histogram(histogram) => {
                let Some(samples) = exposition.family(extra.name, extra.help, "histogram") else {
                    continue;
                };
                let name = format!("{PREFIX}{}", sanitize_name(extra.name));
                let snapshot = histogram.snapshot();
                let bucket = format!("{name}_bucket");
                for (bound, count) in &snapshot.buckets {
                    let le = format_value(*bound);
                    write_sample(samples, &bucket, &labels, Some(&le), *count as f64);
                }
                write_sample(samples, &format!("{name}_sum"), &labels, None, snapshot.sum);
                write_sample(
                    samples,
                    &format!("{name}_count"),
                    &labels,
                    None,
                    snapshot.count as f64,
                );
            }
        }
    }
}

fn component_labels(key: &ComponentKey) -> Vec<(&str, &str)> {
    vec![
        ("component_kind", key.kind),
        ("component_id", key.id.as_str()),
        ("component_type", key.type_name.as_str()),
    ]
}

fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
    let mut first = true;
    for (key, value) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(&sanitize_label_name(key));
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` spellings for the special values; finite
/// values in Rust's shortest round-trip form (which Prometheus parses).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        value.to_string()
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{BATCH_SIZE_BUCKETS, LATENCY_SECONDS_BUCKETS};

    fn empty_readiness() -> ReadinessReport {
        ReadinessReport {
            ready: true,
            shutting_down: false,
            components: Vec::new(),
        }
    }

    fn render_registry(registry: &Registry) -> String {
        render(
            registry,
            &empty_readiness(),
            &ProcessStats::default(),
            "1.2.3",
        )
    }

    #[test]
    fn families_are_grouped_under_one_header_with_component_labels() {
        let registry = Registry::default();
        let a = registry.component("output", "es", "elasticsearch");
        let b = registry.component("output", "backup", "elasticsearch");
        ComponentMetrics::add(&a.events_out, 5);
        ComponentMetrics::add(&b.events_out, 7);
        a.counter_with(
            "bulk_responses_total",
            "Bulk responses by status.",
            &[("status", "200")],
        )
        .add(3);
        b.counter_with(
            "bulk_responses_total",
            "Bulk responses by status.",
            &[("status", "429")],
        )
        .inc();
        let text = render_registry(&registry);
        assert_eq!(
            text.matches("# TYPE sluice_events_out_total counter")
                .count(),
            1
        );
        assert_eq!(
            text.matches("# TYPE sluice_bulk_responses_total counter")
                .count(),
            1
        );
        assert!(text.contains(
            "sluice_events_out_total{component_kind=\"output\",component_id=\"es\",component_type=\"elasticsearch\"} 5\n"
        ));
        assert!(text.contains(
            "sluice_bulk_responses_total{component_kind=\"output\",component_id=\"backup\",component_type=\"elasticsearch\",status=\"429\"} 1\n"
        ));
        assert!(text.contains("sluice_build_info{version=\"1.2.3\"} 1\n"));
        // Every sample line follows the header of its own family.
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(name.starts_with(&current), "{name} under {current}");
            }
        }
    }

    #[test]
    fn histograms_expand_to_buckets_sum_and_count() {
        let registry = Registry::default();
        let metrics = registry.component("output", "out", "file");
        let histogram = metrics.histogram("batch_events", "Events per batch.", BATCH_SIZE_BUCKETS);
        histogram.observe(5.0);
        histogram.observe(5000.0);
        histogram.observe(100_000.0);
        let text = render_registry(&registry);
        assert!(text.contains("# TYPE sluice_batch_events histogram\n"));
        let labels = "component_kind=\"output\",component_id=\"out\",component_type=\"file\"";
        assert!(text.contains(&format!(
            "sluice_batch_events_bucket{{{labels},le=\"1\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "sluice_batch_events_bucket{{{labels},le=\"8\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "sluice_batch_events_bucket{{{labels},le=\"8192\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "sluice_batch_events_bucket{{{labels},le=\"+Inf\"}} 3\n"
        )));
        assert!(text.contains(&format!("sluice_batch_events_sum{{{labels}}} 105005\n")));
        assert!(text.contains(&format!("sluice_batch_events_count{{{labels}}} 3\n")));
        let latency = metrics.histogram("lat_seconds", "h", LATENCY_SECONDS_BUCKETS);
        latency.observe(0.002);
        let text = render_registry(&registry);
        assert!(text.contains(&format!(
            "sluice_lat_seconds_bucket{{{labels},le=\"0.005\"}} 1\n"
        )));
    }

    #[test]
    fn label_values_and_help_are_escaped_and_counters_end_in_total() {
        let registry = Registry::default();
        let metrics = registry.component("input", "we\"ird\\id", "file");
        metrics
            .gauge_with(
                "file_lag_bytes",
                "Bytes\\behind\nthe end.",
                &[("path", "C:\\logs\n\"x\".log")],
            )
            .set(42);
        metrics.counter("windows", "h").add(2);
        let text = render_registry(&registry);
        assert!(text.contains("# HELP sluice_file_lag_bytes Bytes\\\\behind\\nthe end.\n"));
        assert!(text.contains(
            "sluice_file_lag_bytes{component_kind=\"input\",component_id=\"we\\\"ird\\\\id\",component_type=\"file\",path=\"C:\\\\logs\\n\\\"x\\\".log\"} 42\n"
        ));
        assert!(text.contains("# TYPE sluice_windows_total counter\n"));
    }

    #[test]
    fn a_name_with_two_types_keeps_the_first() {
        let registry = Registry::default();
        registry
            .component("input", "a", "x")
            .gauge("thing", "h")
            .set(1);
        registry
            .component("input", "b", "x")
            .histogram("thing", "h", BATCH_SIZE_BUCKETS)
            .observe(1.0);
        registry
            .component("input", "c", "x")
            .gauge("thing", "h")
            .set(3);
        let text = render_registry(&registry);
        assert_eq!(text.matches("# TYPE sluice_thing ").count(), 1);
        assert!(text.contains("# TYPE sluice_thing gauge"));
        assert!(text.contains("sluice_thing{component_kind=\"input\",component_id=\"c\""));
        assert!(!text.contains("sluice_thing_bucket"), "{text}");
    }

    #[test]
    fn special_values_use_prometheus_spellings() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(sanitize_name("a.b-c"), "a_b_c");
        assert_eq!(sanitize_label_name("1x"), "_1x");
    }
}
