//! Cost of the Rhai script filter per event, in events per second on one core.
//!
//!     cargo bench --bench script
//!     BENCH_EVENTS=400000 BENCH_ROUNDS=7 cargo bench --bench script
//!
//! Measures, on a 16-field MQTT record of the seed's winston logger:
//! - `clone only`: copying the event, the floor every other row includes;
//! - `script: payload buckets` / `script: fleet lookup`: `ScriptWorker::apply` with the
//!   shipped examples (the event handle design: only touched fields are converted);
//! - `map round trip: payload buckets`: the alternative design, binding `event` as a Rhai map
//!   built with `rhai::serde::to_dynamic` and read back with `from_dynamic`, same engine and
//!   script, to show why the handle was chosen;
//! - `seed chain` and `seed chain + payload buckets`: `pipelines/mqtt.toml`'s filters on raw
//!   winston lines (json parse included), without and with the script as a last stage.
//!
//! A plain `harness = false` binary like `filter_chain`: the number tracked is a throughput.

use serde_json::{json, Map, Value};
use sluice::config::{self, BuildContext};
use sluice::event::Event;
use sluice::filters::script::{engine, ScriptFilter};
use sluice::filters::FilterChain;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1024;

fn mqtt_record() -> Event {
    let value = json!({
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
        "fields": { "service": "mqtt" },
        "topic_device": "sensor-001"
    });
    Event::from_value(value)
}

fn winston_lines() -> Vec<String> {
    let templates = [
        r#"{"@timestamp":"2024-05-01T12:00:00.123Z","level":"info","message":"Message received","service":"mqtt-client","version":"1.0.0","event":"message_received","category":"message","topic":"sensors/gw-north-NN/temperature","payloadSize":25,"qos":1,"retain":false,"payloadPreview":"{\"value\":22.6,\"unit\":\"C\"}","correlationId":"pub_1714564800123_abNN","sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T21:00:00.456+09:00","level":"info","message":"Performance metric","service":"mqtt-client","version":"1.0.0","event":"performance","category":"performance","operation":"message_publish","durationMs":1NN7,"details":{"topic":"plant/line-2/dev-NN/vibration","qos":1},"correlationId":"pub_1714564800456_cdNN","sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:01.789Z","level":"warn","message":"Security event","service":"mqtt-client","version":"1.0.0","event":"connection_blocked","category":"security","details":{"broker":"mqtts://broker.plant.local:8883","errorCode":"ECONNREFUSED","topic":"devices/dev-NN/credential"},"sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:02.000Z","level":"error","message":"MQTT error occurred","service":"mqtt-client","version":"1.0.0","event":"error","category":"error","error":{"message":"connect ECONNREFUSED 10.0.0.NN:1883","code":"ECONNREFUSED"},"context":{"operation":"connection","broker":"mqtt://10.0.0.NN:1883"},"sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:03.321Z","level":"info","message":"MQTT connection event","service":"mqtt-client","version":"1.0.0","event":"subscribed","category":"connection","details":{"topic":"commands/dev-NN/set","qos":1},"correlationId":"sub_1714564803321_efNN","sessionId":"session_1714564800000"}"#,
    ];
    (0..100)
        .flat_map(|i| {
            templates
                .iter()
                .map(move |t| t.replace("NN", &format!("{:02}", i % 100)))
        })
        .collect()
}

fn line_event(line: &str) -> Event {
    let mut fields = Map::new();
    fields.insert("message".into(), Value::String(line.to_string()));
    fields.insert("fields".into(), json!({"service": "mqtt"}));
    fields.insert(
        "@timestamp".into(),
        Value::String("2024-05-01T12:00:05.000Z".into()),
    );
    Event::from_fields(fields)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `round` (which processes `total` events and returns the time it spent on them)
/// `rounds` times; prints best and median events/s.
fn report(name: &str, total: usize, rounds: usize, mut round: impl FnMut() -> Duration) {
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| total as f64 / round().as_secs_f64())
        .collect();
    rates.sort_by(|a, b| b.total_cmp(a));
    let best = rates.first().copied().unwrap_or(0.0);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{name:<36} best {:>10.0} ev/s  median {:>10.0} ev/s  ({:.0} ns/event at best)",
        best,
        median,
        1e9 / best
    );
}

/// The `[[filters]]` table of a script at `path`, for appending to a pipeline file.
fn script_table(path: &Path) -> String {
    format!(
        "\n[[filters]]\nid = \"bench_script\"\ntype = \"script\"\npath = {:?}\n",
        path.display().to_string()
    )
}

fn build_script(manifest: &Path, script: &str) -> Result<ScriptFilter, Box<dyn std::error::Error>> {
    let pipeline = manifest.join("pipelines/mqtt.toml");
    let mut text = std::fs::read_to_string(&pipeline)?;
    text.push_str(&script_table(&manifest.join(script)));
    let config: sluice::pipeline::Config =
        config::parse(&pipeline, text, |name| std::env::var(name).ok())?;
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(sluice::metrics::Registry::default()),
    };
    let component = config.filters.last().ok_or("no filters")?;
    let sluice::filters::FilterConfig::Script(script_config) = &component.config else {
        return Err("the last filter is not the script".into());
    };
    ScriptFilter::build(&component.id, script_config, &context).map_err(|e| e.to_string().into())
}

fn build_chain(
    manifest: &Path,
    with_script: Option<&str>,
) -> Result<Arc<FilterChain>, Box<dyn std::error::Error>> {
    let pipeline = manifest.join("pipelines/mqtt.toml");
    let mut text = std::fs::read_to_string(&pipeline)?;
    if let Some(script) = with_script {
        text += &script_table(&manifest.join(script));
    }
    let config: sluice::pipeline::Config =
        config::parse(&pipeline, text, |name| std::env::var(name).ok())?;
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(sluice::metrics::Registry::default()),
    };
    let chain = FilterChain::build(&config.filters, &context)
        .map_err(|errors| format!("{} filter errors: {errors:?}", errors.len()))?;
    Ok(Arc::new(chain))
}

/// The alternative design: the whole event as a Rhai map, converted in and out each run.
fn map_round_trip_rate(
    manifest: &Path,
    total: usize,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let limits = engine::Limits {
        timeout: std::time::Duration::from_millis(1000),
        max_operations: 100_000,
        max_call_levels: 32,
        max_string_size: 1 << 20,
        max_array_size: 10_000,
        max_map_size: 10_000,
    };
    let engine = engine::build("bench_map", &limits, None);
    let source = std::fs::read_to_string(manifest.join("scripts/payload_size_buckets.rhai"))?;
    let mut scope = rhai::Scope::new();
    scope.push("event", rhai::Map::new());
    let ast = engine.compile_with_scope(&scope, &source)?;
    let record = mqtt_record();
    // Sanity check: the map design produces the same bucket.
    {
        let mut scope = rhai::Scope::new();
        scope.push_dynamic("event", rhai::serde::to_dynamic(record.fields())?);
        engine.run_ast_with_scope(&mut scope, &ast)?;
        let out: Map<String, Value> =
            rhai::serde::from_dynamic(scope.get("event").ok_or("event gone")?)?;
        if out.get("payload_bucket") != Some(&json!("medium")) {
            return Err("the map design computed another bucket".into());
        }
    }
    report("map round trip: payload buckets", total, rounds, || {
        let started = Instant::now();
        for _ in 0..total {
            let event = record.clone();
            scope.rewind(0);
            let converted = rhai::serde::to_dynamic(event.fields()).unwrap_or_default();
            scope.push_dynamic("event", converted);
            let _ = engine.run_ast_with_scope(&mut scope, &ast);
            let back: Option<Map<String, Value>> = scope
                .get("event")
                .and_then(|value| rhai::serde::from_dynamic(value).ok());
            black_box(back);
        }
        started.elapsed()
    });
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let total = env_number("BENCH_EVENTS", 200_000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    println!(
        "script: {total} events x {rounds} rounds; record has {} top-level fields",
        mqtt_record().fields().len()
    );

    let record = mqtt_record();
    report("clone only", total, rounds, || {
        let started = Instant::now();
        for _ in 0..total {
            black_box(record.clone());
        }
        started.elapsed()
    });

    let empty = std::env::temp_dir().join("sluice-bench-empty.rhai");
    std::fs::write(&empty, "// nothing\n")?;
    let mut extra = vec![("script: empty (per-run floor)".to_string(), empty)];
    // BENCH_SCRIPT=path/to/x.rhai adds a row for any script (run on the same record).
    if let Ok(path) = std::env::var("BENCH_SCRIPT") {
        extra.push((format!("script: {path}"), std::path::PathBuf::from(path)));
    }
    for (name, path) in extra {
        let filter = build_script(manifest, &path.display().to_string())?;
        let mut worker = filter.worker();
        let mut emitted = Vec::new();
        report(&name, total, rounds, || {
            let started = Instant::now();
            for _ in 0..total {
                let mut event = record.clone();
                black_box(worker.apply(&mut event, &mut emitted));
                black_box(&event);
            }
            started.elapsed()
        });
    }

    for (name, script, field, expected) in [
        (
            "script: payload buckets",
            "scripts/payload_size_buckets.rhai",
            "payload_bucket",
            json!("medium"),
        ),
        (
            "script: fleet lookup",
            "scripts/fleet_lookup.rhai",
            "site",
            json!("osaka-dc1"),
        ),
    ] {
        let filter = build_script(manifest, script)?;
        let mut worker = filter.worker();
        let mut emitted = Vec::new();
        let mut check = record.clone();
        worker.apply(&mut check, &mut emitted);
        if check.get_field(field) != Some(&expected) {
            return Err(format!("{script} did not set {field}: {:?}", check.fields()).into());
        }
        report(name, total, rounds, || {
            let started = Instant::now();
            for _ in 0..total {
                let mut event = record.clone();
                black_box(worker.apply(&mut event, &mut emitted));
                black_box(&event);
            }
            started.elapsed()
        });
    }

    map_round_trip_rate(manifest, total, rounds)?;

    let lines = winston_lines();
    for (name, script) in [
        ("seed chain", None),
        (
            "seed chain + payload buckets",
            Some("scripts/payload_size_buckets.rhai"),
        ),
    ] {
        let chain = build_chain(manifest, script)?;
        let mut worker = chain.worker();
        let mut sample: Vec<Event> = lines.iter().take(BATCH).map(|l| line_event(l)).collect();
        worker.process(&mut sample);
        if script.is_some()
            && !sample
                .iter()
                .any(|e| e.get_field("payload_bucket").is_some())
        {
            return Err("the script stage never ran".into());
        }
        report(name, total, rounds, || {
            let mut batches: Vec<Vec<Event>> = Vec::with_capacity(total / BATCH + 1);
            let mut cycle = lines.iter().cycle();
            let mut produced = 0;
            while produced < total {
                let size = BATCH.min(total - produced);
                batches.push(cycle.by_ref().take(size).map(|l| line_event(l)).collect());
                produced += size;
            }
            let started = Instant::now();
            for batch in &mut batches {
                worker.process(batch);
            }
            let elapsed = started.elapsed();
            black_box(&batches);
            elapsed
        });
    }
    Ok(())
}
