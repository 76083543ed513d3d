//! Throughput of the seed filter chain alone (no input, no output), in events per second on
//! one core.
//!
//! Why a plain `harness = false` binary: the number we track is events/s for a realistic
//! batch workload, not a per-call latency distribution, and it needs no extra dependency.
//!
//!     cargo bench --bench filter_chain
//!     BENCH_EVENTS=400000 BENCH_ROUNDS=7 cargo bench --bench filter_chain
//!
//! The chain is compiled from `pipelines/mqtt.toml` (the same filters and conditions as
//! production). Lines are winston records like the seed's `StructuredMQTTLogger` writes,
//! 300-400 bytes each, a mix of message, performance, connection, security and error
//! events. Each round feeds fresh batches of 1024 events (as the file input would) through
//! one `ChainWorker`; building and dropping the batches is not timed. The best and median rounds are
//! printed, plus the raw JSON parse rate of the json filter's root-map parse vs a plain
//! `serde_json::Value` parse on the same lines.

mod common;

use serde_json::{Map, Value};
use sluice::event::Event;
use sluice::filters::FilterChain;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1024;

fn lines() -> Vec<String> {
    let templates = [
        r#"{"@timestamp":"2024-05-01T12:00:00.123Z","level":"info","message":"Message received","service":"mqtt-client","version":"1.0.0","event":"message_received","category":"message","topic":"sensors/gw-north-NN/temperature","payloadSize":25,"qos":1,"retain":false,"payloadPreview":"{\"value\":22.6,\"unit\":\"C\"}","correlationId":"pub_1714564800123_abNN","sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T21:00:00.456+09:00","level":"info","message":"Performance metric","service":"mqtt-client","version":"1.0.0","event":"performance","category":"performance","operation":"message_publish","durationMs":1NN7,"details":{"topic":"plant/line-2/dev-NN/vibration","qos":1},"correlationId":"pub_1714564800456_cdNN","sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:01.789Z","level":"warn","message":"Security event","service":"mqtt-client","version":"1.0.0","event":"connection_blocked","category":"security","details":{"broker":"mqtts://broker.plant.local:8883","errorCode":"ECONNREFUSED","topic":"devices/dev-NN/credential"},"sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:02.000Z","level":"error","message":"MQTT error occurred","service":"mqtt-client","version":"1.0.0","event":"error","category":"error","error":{"message":"connect ECONNREFUSED 10.0.0.NN:1883","code":"ECONNREFUSED"},"context":{"operation":"connection","broker":"mqtt://10.0.0.NN:1883"},"sessionId":"session_1714564800000"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:03.321Z","level":"info","message":"MQTT connection event","service":"mqtt-client","version":"1.0.0","event":"subscribed","category":"connection","details":{"topic":"commands/dev-NN/set","qos":1,"granted":[{"topic":"commands/dev-NN/set","qos":1}]},"correlationId":"sub_1714564803321_efNN","sessionId":"session_1714564800000"}"#,
    ];
    (0..100)
        .flat_map(|i| {
            templates
                .iter()
                .map(move |t| t.replace("NN", &format!("{:02}", i % 100)))
        })
        .collect()
}

fn event(line: &str) -> Event {
    let mut fields = Map::new();
    fields.insert("message".into(), Value::String(line.to_string()));
    fields.insert("fields".into(), serde_json::json!({"service": "mqtt"}));
    fields.insert(
        "@timestamp".into(),
        Value::String("2024-05-01T12:00:05.000Z".into()),
    );
    Event::from_fields(fields)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (config, context) = common::seed_config()?;
    let chain = Arc::new(
        FilterChain::build(&config.filters, &context)
            .map_err(|errors| format!("{} filter errors", errors.len()))?,
    );
    let mut worker = chain.worker();

    let lines = lines();
    let average = lines.iter().map(String::len).sum::<usize>() / lines.len();
    let (shortest, longest) = (
        lines.iter().map(String::len).min().unwrap_or(0),
        lines.iter().map(String::len).max().unwrap_or(0),
    );
    let total = common::env_number("BENCH_EVENTS", 200_000);
    let rounds = common::env_number("BENCH_ROUNDS", 5);
    println!(
        "filter_chain: {} stages, lines {shortest}-{longest} bytes (avg {average}), {total} events x {rounds} rounds, batch {BATCH}",
        chain.len()
    );

    // Warm-up (and a sanity check that the chain really enriches the events).
    let mut sample: Vec<Event> = lines.iter().take(BATCH).map(|l| event(l)).collect();
    worker.process(&mut sample);
    let enriched = sample
        .iter()
        .filter(|e| e.get_field("severity").is_some())
        .count();
    if enriched != sample.len() {
        return Err(format!("only {enriched}/{} events were enriched", sample.len()).into());
    }

    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        rates.push(common::chain_rate(&mut worker, &lines, total, BATCH, event));
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "native chain: best {:.0} events/s, median {:.0} events/s (one core)",
        rates[rates.len() - 1],
        rates[rates.len() / 2]
    );

    // Where the time goes: the rate of each prefix of the chain (stages 1..=k).
    if std::env::var_os("BENCH_STAGES").is_some() {
        for k in 1..=config.filters.len() {
            let prefix = Arc::new(
                FilterChain::build(&config.filters[..k], &context)
                    .map_err(|errors| format!("{} filter errors", errors.len()))?,
            );
            let rate = common::chain_rate(&mut prefix.worker(), &lines, total, BATCH, event);
            println!(
                "  stages 1..={k} (up to `{}`): {rate:.0} events/s",
                config.filters[k - 1].id
            );
        }
    }

    // The json filter's share: raw parse rates on the same lines.
    for (name, parse) in [
        (
            "json filter (root map with room)",
            parse_root as fn(&str) -> bool,
        ),
        ("serde_json::from_str::<Value>", parse_serde),
    ] {
        let started = Instant::now();
        let mut ok = 0usize;
        for line in lines.iter().cycle().take(total) {
            ok += usize::from(parse(black_box(line)));
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        println!("parse only, {name}: {rate:.0} lines/s ({ok} ok)");
    }
    Ok(())
}

fn parse_root(line: &str) -> bool {
    black_box(sluice::filters::json::parse_object(line)).is_ok()
}

fn parse_serde(line: &str) -> bool {
    black_box(serde_json::from_str::<Value>(line)).is_ok()
}
