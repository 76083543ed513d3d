//! Shared helpers of the script tests: building script filters from pipeline TOML the way the
//! loader does (so spans, relative paths and `file:line:col` errors are the real ones), and
//! running events through them.
#![allow(dead_code)]

use serde_json::{Map, Value};
use sluice::config::{self, BuildContext, ComponentKind, ConfigError, PipelineSettings};
use sluice::event::Event;
use sluice::filters::script::{ScriptConfig, ScriptFilter, ScriptWorker, Verdict};
use sluice::metrics::{ComponentMetrics, Registry};
use std::path::Path;
use std::sync::Arc;

/// Any input: the tests only need the loader to accept one.
pub struct AnyInput;
impl ComponentKind for AnyInput {
    const KIND: &'static str = "input";
    const TYPES: &'static [&'static str] = &["stdin"];
    const CONDITIONAL: bool = false;
    fn from_type(_: &str, _: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        Ok(Self)
    }
}

/// Any output.
pub struct AnyOutput;
impl ComponentKind for AnyOutput {
    const KIND: &'static str = "output";
    const TYPES: &'static [&'static str] = &["stdout"];
    const CONDITIONAL: bool = true;
    fn from_type(_: &str, _: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        Ok(Self)
    }
}

/// Only script filters.
pub struct Script(pub ScriptConfig);
impl ComponentKind for Script {
    const KIND: &'static str = "filter";
    const TYPES: &'static [&'static str] = &["script"];
    const CONDITIONAL: bool = true;
    fn from_type(_: &str, table: toml_edit::Value) -> Result<Self, toml_edit::de::Error> {
        config::settings::<ScriptConfig>(table).map(Self)
    }
}

/// A built script filter with its metrics.
pub struct Built {
    pub filter: ScriptFilter,
    pub metrics: Arc<ComponentMetrics>,
}

impl Built {
    pub fn errors(&self) -> u64 {
        ComponentMetrics::get(&self.metrics.errors)
    }
}

/// Wraps filter tables (`[[filters]]` ...) into a complete pipeline file.
pub fn pipeline(filters: &str) -> String {
    format!("[inputs.in]\ntype = \"stdin\"\n\n{filters}\n[outputs.out]\ntype = \"stdout\"\n")
}

/// Loads `text` as the pipeline file `path` and builds its first (script) filter.
pub fn build_at(path: &Path, text: &str) -> Result<Built, Vec<ConfigError>> {
    let loaded = config::parse::<AnyInput, Script, AnyOutput>(path, text.to_string(), |_| None)
        .map_err(|errors| errors.0)?;
    let component = loaded.filters.first().expect("the pipeline has a filter");
    let context = BuildContext {
        source: loaded.source.clone(),
        data_dir: loaded.data_dir.clone(),
        settings: PipelineSettings::default(),
        metrics: Arc::new(Registry::default()),
    };
    let filter =
        ScriptFilter::build(&component.id, &component.config.0, &context).map_err(|e| vec![e])?;
    let metrics = context.metrics.component("filter", &component.id, "script");
    Ok(Built { filter, metrics })
}

/// Builds a filter from inline Rhai source (pipeline file `pipeline.toml` in `dir`).
pub fn build_inline(dir: &Path, script: &str, extra_settings: &str) -> Built {
    let text = pipeline(&format!(
        "[[filters]]\ntype = \"script\"\nsource = '''\n{script}'''\n{extra_settings}\n"
    ));
    match build_at(&dir.join("pipeline.toml"), &text) {
        Ok(built) => built,
        Err(errors) => panic!("script does not build: {errors:?}"),
    }
}

/// An event from JSON; a top-level `@metadata` object becomes the metadata.
pub fn event(value: Value) -> Event {
    let Value::Object(mut fields) = value else {
        panic!("events are objects")
    };
    let metadata = match fields.remove("@metadata") {
        Some(Value::Object(metadata)) => metadata,
        _ => Map::new(),
    };
    Event::from_parts(fields, metadata)
}

/// An event as JSON, with its metadata under `@metadata` when there is any.
pub fn render(event: &Event) -> Value {
    let mut fields = event.fields().clone();
    if !event.metadata().is_empty() {
        fields.insert(
            "@metadata".to_string(),
            Value::Object(event.metadata().clone()),
        );
    }
    Value::Object(fields)
}

/// Runs one event; returns what leaves the filter (the event unless dropped, then emits).
pub fn run(worker: &mut ScriptWorker, input: Value) -> Vec<Value> {
    let mut event = event(input);
    let mut emitted = Vec::new();
    let verdict = worker.apply(&mut event, &mut emitted);
    let mut out = Vec::new();
    if verdict == Verdict::Keep {
        out.push(render(&event));
    }
    out.extend(emitted.iter().map(render));
    out
}

/// A typical record of the seed's MQTT client logger (winston JSON, 16 fields).
pub fn mqtt_event() -> Value {
    serde_json::json!({
        "@timestamp": "2025-03-14T09:26:53.589Z",
        "level": "info",
        "message": "Message received",
        "event": "message_received",
        "category": "message",
        "topic": "factory/sensor-001/temperature",
        "payloadSize": 2048,
        "qos": 1,
        "retain": false,
        "timestamp": "2025-03-14T09:26:53.589Z",
        "payloadPreview": "{\"value\":21.5,\"unit\":\"C\"}",
        "correlationId": "7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b",
        "sessionId": "sess-42",
        "details": { "topic": "factory/sensor-001/temperature", "clientId": "gw-7" },
        "host": { "name": "edge-gw-07" },
        "fields": { "service": "mqtt" }
    })
}
