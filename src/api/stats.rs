//! `/_node/stats` and `/`: JSON with Logstash's names where sluice has the same thing, so
//! dashboards and scripts written against Logstash's monitoring API keep working.
//!
//! - `events.{in,filtered,out}`: events entering the filter chain, leaving it, and settled
//!   by every output (Logstash counts `out` once per event, not once per output).
//! - `pipelines.main.plugins.{inputs,filters,outputs}[]`: `{id, name, events}` with the
//!   plugin type as `name`, as Logstash does; `events.in` and `events.out` are the counters
//!   `/metrics` exposes as `events_in_total` and `events_out_total` (for an input: records
//!   read, and events handed to the pipeline, Logstash's `out`). sluice's other counters (`dropped`, `failed`, `errors`,
//!   `bytes`) and the component's own metrics (`metrics`: counters and gauges by name,
//!   histograms as `{count, sum}`) are added beside them; the Beats input also reports
//!   `current_connections`, as Logstash's does.
//! - `process`: `open_file_descriptors`, `max_file_descriptors`, `mem.total_virtual_in_bytes`,
//!   `cpu.total_in_millis` (Logstash's names) plus `mem.resident_in_bytes`.
//! - `pipeline`: the settings (`workers`, `batch_size`, plus sluice's `batch_bytes` and
//!   `queue_batches`); there is no JVM and no config reload, so `jvm` and `reloads` are
//!   absent.
//! - `pipelines.main.queue`: `type` `memory`, or with `[pipeline.queue] type = "disk"`
//!   Logstash's `persisted` with `events`, `queue_size_in_bytes`, `max_queue_size_in_bytes`.

use super::process::ProcessStats;
use crate::config::PipelineSettings;
use crate::metrics::{ComponentKey, ComponentMetrics, ExtraValue, Registry};
use crate::readiness::ReadinessReport;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The id of sluice's one pipeline in Logstash-shaped documents.
pub const PIPELINE_ID: &str = "main";

/// What a node document describes besides the metrics.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub host: String,
    pub version: String,
    pub http_address: SocketAddr,
    pub settings: PipelineSettings,
}

fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    ComponentMetrics::get(counter)
}

/// `GET /`: who this is.
pub fn node_info(info: &NodeInfo, readiness: &ReadinessReport) -> Value {
    json!({
        "host": info.host,
        "version": info.version,
        "http_address": info.http_address.to_string(),
        "name": info.host,
        "status": status(readiness),
        "pipeline": pipeline_settings(&info.settings),
    })
}

/// `GET /_node/stats[/section]`; `None` for an unknown section.
pub fn node_stats(
    info: &NodeInfo,
    registry: &Registry,
    readiness: &ReadinessReport,
    process: &ProcessStats,
    section: Option<&str>,
) -> Option<Value> {
    let components = registry.snapshot();
    let mut document = node_info(info, readiness);
    let sections: Vec<(&str, Value)> = vec![
        ("events", events(&components)),
        ("process", process_section(process)),
        ("pipelines", pipelines(&components)),
    ];
    let Value::Object(root) = &mut document else {
        return None;
    };
    for (name, value) in sections {
        if section.is_none_or(|wanted| wanted == name) {
            root.insert(name.to_string(), value);
        }
    }
    match section {
        None | Some("events" | "process" | "pipelines") => Some(document),
        Some(_) => None,
    }
}

fn status(readiness: &ReadinessReport) -> &'static str {
    if readiness.ready {
        "green"
    } else {
        "yellow"
    }
}

fn pipeline_settings(settings: &PipelineSettings) -> Value {
    json!({
        "workers": settings.worker_count(),
        "batch_size": settings.batch_size,
        "batch_bytes": settings.batch_bytes,
        "queue_batches": settings.queue_batches,
    })
}

type Components = [(ComponentKey, std::sync::Arc<ComponentMetrics>)];

fn find<'a>(components: &'a Components, kind: &str, id: &str) -> Option<&'a ComponentMetrics> {
    components
        .iter()
        .find(|(key, _)| key.kind == kind && key.id == id)
        .map(|(_, metrics)| metrics.as_ref())
}

fn events(components: &Components) -> Value {
    let chain = find(components, "pipeline", crate::metrics::FILTERS_ID);
    let fanout = find(components, "pipeline", crate::metrics::OUTPUTS_ID);
    json!({
        "in": chain.map_or(0, |m| get(&m.events_in)),
        "filtered": chain.map_or(0, |m| get(&m.events_out)),
        "out": fanout.map_or(0, |m| get(&m.events_out)),
    })
}

fn pipelines(components: &Components) -> Value {
    let mut plugins = Map::new();
    for (kind, section) in [
        ("input", "inputs"),
        ("filter", "filters"),
        ("output", "outputs"),
    ] {
        let list: Vec<Value> = components
            .iter()
            .filter(|(key, _)| key.kind == kind)
            .map(|(key, metrics)| plugin(key, metrics))
            .collect();
        plugins.insert(section.to_string(), Value::Array(list));
    }
    plugins.insert("codecs".to_string(), Value::Array(Vec::new()));
    json!({
        PIPELINE_ID: {
            "events": events(components),
            "plugins": plugins,
            "queue": queue(components),
        }
    })
}

/// Logstash's `queue` section: `{"type": "memory"}`, or for the disk queue Logstash's
/// `persisted` with `events`, `events_count`, `queue_size_in_bytes` and
/// `max_queue_size_in_bytes` (also under `capacity`, as Logstash nests them), plus sluice's
/// own counters of damage and failed writes.
fn queue(components: &Components) -> Value {
    let Some((key, metrics)) = components
        .iter()
        .find(|(key, _)| key.kind == "pipeline" && key.id == crate::metrics::QUEUE_ID)
    else {
        return json!({ "type": "memory" });
    };
    if key.type_name != "disk" {
        return json!({ "type": "memory" });
    }
    let mut values = Map::new();
    for extra in metrics.extras() {
        let value = match &extra.value {
            ExtraValue::Counter(counter) => json!(counter.get()),
            ExtraValue::Gauge(gauge) => json!(gauge.get()),
            ExtraValue::Histogram(_) => continue,
        };
        values.insert(extra.name.to_string(), value);
    }
    let value = |name: &str| values.get(name).cloned().unwrap_or(json!(0));
    json!({
        "type": "persisted",
        "events": value("queue_events"),
        "events_count": value("queue_events"),
        "queue_size_in_bytes": value("queue_bytes"),
        "max_queue_size_in_bytes": value("queue_max_bytes"),
        "capacity": {
            "queue_size_in_bytes": value("queue_bytes"),
            "max_queue_size_in_bytes": value("queue_max_bytes"),
        },
        "segments": value("queue_segments"),
        "disk_full": value("queue_disk_full"),
        "full": value("queue_full"),
        "corrupt_records": value("queue_corrupt_records_total"),
        "quarantined_segments": value("queue_quarantined_segments_total"),
        "write_errors": value("queue_write_errors_total"),
    })
}

fn plugin(key: &ComponentKey, metrics: &ComponentMetrics) -> Value {
    // The same counters `/metrics` exposes as `events_in_total` / `events_out_total`, for
    // every kind: an input's `out` is what it handed to the pipeline, as in Logstash.
    let events = json!({ "in": get(&metrics.events_in), "out": get(&metrics.events_out) });
    let mut own = Map::new();
    let mut current_connections = None;
    for extra in metrics.extras() {
        let mut name = extra.name.to_string();
        for (label, value) in &extra.labels {
            name.push_str(&format!("{{{label}={value}}}"));
        }
        let value = match &extra.value {
            ExtraValue::Counter(counter) => json!(counter.get()),
            ExtraValue::Gauge(gauge) => {
                if extra.name == "beats_connections" {
                    current_connections = Some(gauge.get());
                }
                json!(gauge.get())
            }
            ExtraValue::Histogram(histogram) => {
                let snapshot = histogram.snapshot();
                json!({ "count": snapshot.count, "sum": snapshot.sum })
            }
        };
        own.insert(name, value);
    }
    let mut document = json!({
        "id": key.id,
        "name": key.type_name,
        "events": events,
        "dropped": get(&metrics.events_dropped),
        "failed": get(&metrics.events_failed),
        "errors": get(&metrics.errors),
        "bytes": get(&metrics.bytes),
        "metrics": own,
    });
    if let (Some(connections), Value::Object(map)) = (current_connections, &mut document) {
        map.insert("current_connections".to_string(), json!(connections));
    }
    document
}

fn process_section(process: &ProcessStats) -> Value {
    json!({
        "open_file_descriptors": process.open_fds,
        "max_file_descriptors": process.max_fds,
        "mem": {
            "total_virtual_in_bytes": process.virtual_memory_bytes,
            "resident_in_bytes": process.resident_memory_bytes,
        },
        "cpu": {
            "total_in_millis": process.cpu_seconds.map(|s| (s * 1000.0).round() as u64),
        },
        "threads": process.threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> NodeInfo {
        NodeInfo {
            host: "box".to_string(),
            version: "9.9.9".to_string(),
            http_address: "127.0.0.1:9600".parse().unwrap(),
            settings: PipelineSettings::default(),
        }
    }

    fn ready() -> ReadinessReport {
        ReadinessReport {
            ready: true,
            shutting_down: false,
            components: Vec::new(),
        }
    }

    #[test]
    fn stats_use_logstash_names() {
        let registry = Registry::default();
        let input = registry.component("input", "logs", "file");
        crate::inputs::count_handed_over(&input, 10, 2);
        let chain = registry.component("pipeline", crate::metrics::FILTERS_ID, "chain");
        ComponentMetrics::add(&chain.events_in, 10);
        ComponentMetrics::add(&chain.events_out, 9);
        let fanout = registry.component("pipeline", crate::metrics::OUTPUTS_ID, "fanout");
        ComponentMetrics::add(&fanout.events_out, 9);
        let filter = registry.component("filter", "drop#1", "drop");
        ComponentMetrics::add(&filter.events_in, 10);
        ComponentMetrics::add(&filter.events_dropped, 1);
        let beats = registry.component("input", "beats", "beats");
        beats.gauge("beats_connections", "h").set(2);
        let output = registry.component("output", "es", "elasticsearch");
        output
            .counter_with("bulk_responses_total", "h", &[("status", "200")])
            .add(4);

        let stats =
            node_stats(&info(), &registry, &ready(), &ProcessStats::default(), None).unwrap();
        assert_eq!(stats["events"], json!({"in": 10, "filtered": 9, "out": 9}));
        assert_eq!(stats["status"], "green");
        assert_eq!(stats["pipeline"]["batch_size"], 64);
        let main = &stats["pipelines"]["main"];
        assert_eq!(main["events"]["out"], 9);
        let inputs = main["plugins"]["inputs"].as_array().unwrap();
        assert_eq!(inputs[0]["id"], "logs");
        assert_eq!(inputs[0]["name"], "file");
        assert_eq!(inputs[0]["events"], json!({"in": 12, "out": 10}));
        assert_eq!(inputs[0]["dropped"], 2);
        assert_eq!(inputs[1]["current_connections"], 2);
        let filters = main["plugins"]["filters"].as_array().unwrap();
        assert_eq!(filters[0]["dropped"], 1);
        let outputs = main["plugins"]["outputs"].as_array().unwrap();
        assert_eq!(outputs[0]["metrics"]["bulk_responses_total{status=200}"], 4);
        assert!(stats["process"]["mem"].is_object());

        let only_events = node_stats(
            &info(),
            &registry,
            &ready(),
            &ProcessStats::default(),
            Some("events"),
        )
        .unwrap();
        assert!(only_events.get("pipelines").is_none());
        assert!(only_events.get("events").is_some());
        assert!(node_stats(
            &info(),
            &registry,
            &ready(),
            &ProcessStats::default(),
            Some("jvm")
        )
        .is_none());
    }
}
