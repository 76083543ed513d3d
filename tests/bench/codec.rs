//! The queue's event codec (`sluice::queue::codec`) against `serde_json`, on seed-shaped
//! events, on one core.
//!
//! Why: the disk queue and Kafka will encode every event once and decode it once, so what the
//! codec costs per event, and how many bytes it writes, is what they add to the pipeline.
//!
//!     cargo bench --bench codec
//!     BENCH_EVENTS=400000 BENCH_ROUNDS=9 cargo bench --bench codec
//!
//! The events are the lines of `pipelines/sample/mqtt-client.log` read as the file input reads
//! them (`log`, `host`, `input`, `fields.service`), run through the seed filter chain of
//! `pipelines/mqtt.toml`, each with the `@metadata` a Beats event carries (so the metadata is
//! written and read too): what a filter worker would hand a queue. Each round encodes and
//! decodes batches of 1024 of them; the encoding and the decoding are timed apart, dropping the
//! decoded events is not timed. `serde_json` does the same with `(fields, metadata)` as one
//! JSON array. Every decoded event is checked to equal its original, once, before timing. A
//! last row encodes line events nothing has read yet (a pipeline without filters), which
//! builds their fields first.

mod common;

use serde_json::{json, Map, Value};
use sluice::event::{Event, LineBlock, LineOrigin};
use sluice::queue::codec;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1024;
const NOW: &str = "2026-11-25T00:00:00.000Z";

type Parts = (Map<String, Value>, Map<String, Value>);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sample's lines as the file input hands them over: lazy, nothing built.
fn line_events(lines: &[&str]) -> Vec<Event> {
    let origin = Arc::new(LineOrigin::new(
        Some(json!({"path": "/var/log/mqtt/mqtt-client.log"})),
        vec![
            ("host".into(), json!({"name": "plant-gw-1"})),
            ("input".into(), json!({"type": "file"})),
            ("fields".into(), json!({"service": "mqtt"})),
        ],
        Vec::new(),
    ));
    let mut block = LineBlock::default();
    let mut offset = 0;
    for line in lines {
        block.push(line.as_bytes(), offset, false, &origin, NOW);
        offset += line.len() as u64 + 1;
    }
    let mut events = Vec::new();
    block.into_events(&mut events);
    events
}

/// One timed pass over `total` events in batches: (encode, decode, encoded bytes).
fn pass<E, D>(events: &[Event], total: usize, encode: E, decode: D) -> (Duration, Duration, usize)
where
    E: Fn(&Event, &mut Vec<u8>),
    D: Fn(&[u8]) -> Event,
{
    let (mut encoding, mut decoding, mut bytes) = (Duration::ZERO, Duration::ZERO, 0);
    let mut buffer = Vec::new();
    let mut ends = Vec::with_capacity(BATCH);
    let mut decoded = Vec::with_capacity(BATCH);
    let mut cycle = events.iter().cycle();
    let mut done = 0;
    while done < total {
        let size = BATCH.min(total - done);
        buffer.clear();
        ends.clear();
        let started = Instant::now();
        for event in cycle.by_ref().take(size) {
            encode(event, &mut buffer);
            ends.push(buffer.len());
        }
        encoding += started.elapsed();
        bytes += buffer.len();
        let started = Instant::now();
        let mut start = 0;
        for &end in &ends {
            decoded.push(decode(&buffer[start..end]));
            start = end;
        }
        decoding += started.elapsed();
        black_box(&decoded);
        decoded.clear();
        done += size;
    }
    (encoding, decoding, bytes)
}

fn ours_encode(event: &Event, out: &mut Vec<u8>) {
    codec::encode(event, out).expect("seed events nest shallowly");
}

fn ours_decode(bytes: &[u8]) -> Event {
    codec::decode(bytes).expect("what was encoded decodes")
}

fn json_encode(event: &Event, out: &mut Vec<u8>) {
    serde_json::to_writer(out, &(event.fields(), event.metadata())).expect("writes to a Vec");
}

fn json_decode(bytes: &[u8]) -> Event {
    let (fields, metadata): Parts = serde_json::from_slice(bytes).expect("what was written reads");
    Event::from_parts(fields, metadata)
}

fn best_and_median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chain = common::seed_chain()?;
    let sample = std::fs::read_to_string(manifest.join("pipelines/sample/mqtt-client.log"))?;
    let lines: Vec<&str> = sample.lines().filter(|l| !l.is_empty()).collect();

    let mut events = line_events(&lines);
    chain.worker().process(&mut events);
    if events.iter().any(|e| e.get_field("severity").is_none()) {
        return Err("the seed chain did not enrich every event".into());
    }
    for event in &mut events {
        let metadata = event.metadata_mut();
        metadata.insert("beat".into(), json!("filebeat"));
        metadata.insert("type".into(), json!("_doc"));
        metadata.insert("version".into(), json!("8.1.3"));
        metadata.insert(
            "input".into(),
            json!({"beats": {"host": {"ip": "10.1.2.3"}}}),
        );
    }
    for event in &events {
        let mut bytes = Vec::new();
        ours_encode(event, &mut bytes);
        assert_eq!(&ours_decode(&bytes), event, "the codec round-trips");
        bytes.clear();
        json_encode(event, &mut bytes);
        assert_eq!(&json_decode(&bytes), event, "serde_json round-trips");
    }

    let total = env_number("BENCH_EVENTS", 200_000);
    let rounds = env_number("BENCH_ROUNDS", 7);
    let mut written = Vec::new();
    for event in &events {
        event.write_json(&mut written)?;
    }
    println!(
        "codec: {} seed-shaped events ({} bytes of JSON each without @metadata, on average), {total} events x {rounds} rounds, batch {BATCH}",
        events.len(),
        written.len() / events.len()
    );

    type Encode = fn(&Event, &mut Vec<u8>);
    type Decode = fn(&[u8]) -> Event;
    let cases: [(&str, Encode, Decode); 2] = [
        ("queue codec", ours_encode, ours_decode),
        ("serde_json", json_encode, json_decode),
    ];
    for (name, encode, decode) in cases {
        let (mut encodes, mut decodes, mut both) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for _ in 0..rounds {
            let (encoding, decoding, written) = pass(&events, total, encode, decode);
            let per_event = |d: Duration| d.as_secs_f64() * 1e9 / total as f64;
            encodes.push(per_event(encoding));
            decodes.push(per_event(decoding));
            both.push(per_event(encoding + decoding));
            bytes = written / total;
        }
        let (encode_best, encode_median) = best_and_median(encodes);
        let (decode_best, decode_median) = best_and_median(decodes);
        let (both_best, both_median) = best_and_median(both);
        println!(
            "{name}: {bytes} bytes/event; encode {encode_median:.0} ns (best {encode_best:.0}), decode {decode_median:.0} ns (best {decode_best:.0}), both {both_median:.0} ns/event (best {both_best:.0}), medians of {rounds} rounds"
        );
    }

    // Line events nothing has read: encoding builds their fields first.
    let mut unbuilt_rounds = Vec::new();
    for _ in 0..rounds {
        let mut busy = Duration::ZERO;
        let mut buffer = Vec::new();
        let mut done = 0;
        while done < total {
            let batch: Vec<&str> = lines
                .iter()
                .cycle()
                .skip(done % lines.len())
                .take(BATCH.min(total - done))
                .copied()
                .collect();
            let fresh = line_events(&batch);
            buffer.clear();
            let started = Instant::now();
            for event in &fresh {
                ours_encode(event, &mut buffer);
            }
            busy += started.elapsed();
            black_box(&buffer);
            done += batch.len();
        }
        unbuilt_rounds.push(busy.as_secs_f64() * 1e9 / total as f64);
    }
    let (best, median) = best_and_median(unbuilt_rounds);
    println!(
        "queue codec, unbuilt line events (no filters, no metadata): encode {median:.0} ns/event (best {best:.0})"
    );
    Ok(())
}
