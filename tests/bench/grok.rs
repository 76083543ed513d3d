//! Throughput of the grok filter on Apache combined log lines, in events per second on one
//! core, through the real filter chain (`grok` with `%{COMBINEDAPACHELOG}`, as Logstash's
//! most common pipeline has it).
//!
//!     cargo bench --bench grok
//!     BENCH_EVENTS=200000 BENCH_ROUNDS=5 cargo bench --bench grok
//!
//! Lines are varied Apache combined records (IPv4, IPv6 and host-name clients, with and
//! without a byte count, referrers and user agents of different lengths), 150-290 bytes.
//! Three cases: every line matches; every line matches with `%{NUMBER:bytes:int}`-style typed
//! captures and `overwrite`; and no line matches (the cost of `_grokparsefailure`, which is
//! backtracking-heavy). Building the batches is not timed.

mod common;

use serde_json::{Map, Value};
use sluice::config::{self, BuildContext};
use sluice::event::Event;
use sluice::filters::{FilterChain, FilterConfig};
use sluice::inputs::InputConfig;
use sluice::metrics::Registry;
use sluice::outputs::OutputConfig;
use std::path::Path;
use std::sync::Arc;

/// The same allocator as the `sluice` binary, so the figures match what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1024;

fn lines() -> Vec<String> {
    let clients = [
        "83.149.9.216",
        "2001:db8::17",
        "crawler-NN.example.com",
        "10.0.NN.7",
    ];
    let requests = [
        "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1",
        "POST /api/v1/devices/dev-NN/telemetry?batch=NN HTTP/1.1",
        "GET / HTTP/1.0",
        "HEAD /health HTTP/2.0",
    ];
    let agents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    ];
    (0..240)
        .map(|i| {
            let bytes = if i % 7 == 0 {
                "-".to_string()
            } else {
                (i * 37 % 90_000).to_string()
            };
            let referrer = if i % 3 == 0 {
                "-"
            } else {
                "http://semicomplete.com/presentations/logstash-monitorama-2013/"
            };
            format!(
                r#"{} - {} [17/May/2015:10:{:02}:{:02} +0000] "{}" {} {} "{}" "{}""#,
                clients[i % clients.len()],
                if i % 5 == 0 { "frank" } else { "-" },
                i % 60,
                (i * 7) % 60,
                requests[i % requests.len()],
                [200, 304, 404, 500][i % 4],
                bytes,
                referrer,
                agents[i % agents.len()],
            )
            .replace("NN", &format!("{:02}", i % 100))
        })
        .collect()
}

fn chain(filters: &str) -> Result<Arc<FilterChain>, Box<dyn std::error::Error>> {
    let text = format!("[inputs.in]\ntype = \"stdin\"\n[outputs.out]\ntype = \"null\"\n{filters}");
    let config = config::parse::<InputConfig, FilterConfig, OutputConfig>(
        Path::new("grok-bench.toml"),
        text,
        |_| None,
    )?;
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: Arc::new(Registry::default()),
    };
    let chain = FilterChain::build(&config.filters, &context)
        .map_err(|errors| format!("{} filter errors", errors.len()))?;
    Ok(Arc::new(chain))
}

fn event(line: &str) -> Event {
    let mut fields = Map::new();
    fields.insert("message".into(), Value::String(line.to_string()));
    fields.insert(
        "@timestamp".into(),
        Value::String("2024-05-01T12:00:05.000Z".into()),
    );
    Event::from_fields(fields)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lines = lines();
    let (shortest, longest) = (
        lines.iter().map(String::len).min().unwrap_or(0),
        lines.iter().map(String::len).max().unwrap_or(0),
    );
    let failing: Vec<String> = lines
        .iter()
        .map(|l| format!("x{}", &l[..l.len() / 2]))
        .collect();
    let total = common::env_number("BENCH_EVENTS", 100_000);
    let rounds = common::env_number("BENCH_ROUNDS", 5);
    println!("grok: Apache combined lines {shortest}-{longest} bytes, {total} events x {rounds} rounds, batch {BATCH}");
    let cases = [
        ("COMBINEDAPACHELOG, every line matches", "[[filters]]\ntype = \"grok\"\nmatch = { message = \"%{COMBINEDAPACHELOG}\" }\n", &lines, "clientip"),
        (
            "typed captures + overwrite, every line matches",
            "[[filters]]\ntype = \"grok\"\nmatch = { message = '%{IPORHOST:clientip} %{HTTPDUSER:ident} %{HTTPDUSER:auth} \\[%{HTTPDATE:timestamp}\\] \"%{WORD:verb} %{NOTSPACE:request} HTTP/%{NUMBER:httpversion:float}\" %{NUMBER:response:int} (?:%{NUMBER:bytes:int}|-) %{QS:referrer} %{QS:message}' }\noverwrite = [\"message\"]\n",
            &lines,
            "response",
        ),
        ("COMBINEDAPACHELOG, no line matches (_grokparsefailure)", "[[filters]]\ntype = \"grok\"\nmatch = { message = \"%{COMBINEDAPACHELOG}\" }\n", &failing, "tags"),
    ];
    for (name, filters, input, check) in cases {
        let chain = chain(filters)?;
        let mut worker = chain.worker();
        let mut sample: Vec<Event> = input.iter().take(BATCH).map(|l| event(l)).collect();
        worker.process(&mut sample);
        let hits = sample
            .iter()
            .filter(|e| e.get_field(check).is_some())
            .count();
        if hits != sample.len() {
            return Err(
                format!("{name}: only {hits}/{} events have `{check}`", sample.len()).into(),
            );
        }
        let mut rates: Vec<f64> = (0..rounds)
            .map(|_| common::chain_rate(&mut worker, input, total, BATCH, event))
            .collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name}: best {:.0} events/s, median {:.0} events/s (one core)",
            rates[rates.len() - 1],
            rates[rates.len() / 2]
        );
    }
    Ok(())
}
