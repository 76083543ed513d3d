//! The real search-engine nodes the Elasticsearch output is tested against (OpenSearch 2.19 and
//! Elasticsearch 7.17): they start, they are the versions we pin, their `_bulk` answers the cases
//! the output must handle (created, mapping conflict, invalid index name, version conflict on
//! `create`), and `deploy/elasticsearch/mqtt-logs-template.json` maps what sluice's seed chain
//! produces into useful types.
//!
//! Every case runs against both flavours (`opensearch::*`, `elasticsearch7::*`). Every case uses
//! its own indices: the tests of this binary share one node per flavour and run in parallel.

#[macro_use]
mod common;

use common::search_node::{search_node_flavour, Flavour, SearchNode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One `_bulk` action line plus its document line.
fn item(action: &str, index: &str, id: Option<&str>, doc: &Value) -> String {
    let mut meta = json!({ "_index": index });
    if let Some(id) = id {
        meta["_id"] = json!(id);
    }
    format!("{}\n{}\n", json!({ action: meta }), doc)
}

/// `(status, error type)` of every item of a `_bulk` response, in request order.
fn item_results(response: &Value) -> Vec<(u64, Option<String>)> {
    response["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {response}"))
        .iter()
        .map(|item| {
            let (_, result) = item
                .as_object()
                .and_then(|o| o.iter().next())
                .unwrap_or_else(|| panic!("empty item in {response}"));
            (
                result["status"].as_u64().unwrap_or_default(),
                result["error"]["type"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn reports_the_pinned_version(node: &SearchNode) {
    let root = node.request("GET", "/", None);
    assert_eq!(root.status, 200, "{}", root.body);
    let product = root
        .headers
        .get("x-elastic-product")
        .and_then(|v| v.to_str().ok());
    match node.flavour() {
        Flavour::OpenSearch => {
            assert_eq!(root.body["version"]["distribution"], "opensearch");
            assert_eq!(root.body["version"]["number"], "2.19.6");
            assert_eq!(
                product, None,
                "OpenSearch does not claim to be Elasticsearch"
            );
        }
        Flavour::Elasticsearch7 => {
            assert_eq!(root.body["version"]["distribution"], Value::Null);
            assert_eq!(root.body["version"]["number"], "7.17.29");
            assert_eq!(product, Some("Elasticsearch"));
        }
    }
    assert_eq!(
        Some(node.version()),
        root.body["version"]["number"].as_str()
    );
    assert!(
        node.url().starts_with("http://127.0.0.1:"),
        "{}",
        node.url()
    );
}

fn bulk_indexes_counts_and_reports_conflicts_per_item(node: &SearchNode) {
    let index = "mqtt-logs-2026.11.26";
    node.delete_indices(index);

    let docs = [
        json!({ "@timestamp": "2026-11-26T10:00:00.000Z", "message": "connected", "durationMs": 12 }),
        json!({ "@timestamp": "2026-11-26T10:00:01.000Z", "message": "published", "durationMs": 7 }),
        json!({ "@timestamp": "2026-11-26T10:00:02.000Z", "message": "closed", "durationMs": 3 }),
    ];
    let body: String = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| item("create", index, Some(&format!("doc-{i}")), doc))
        .collect();
    let response = node.bulk(&body);
    assert_eq!(response["errors"], false, "{response}");
    assert_eq!(item_results(&response), vec![(201, None); 3]);
    assert_eq!(node.count(index), 3);

    // What the output's dead-letter and resend paths see, mixed in one request.
    let body = [
        // `durationMs` is a long now: a string that is no number is a mapping conflict.
        item(
            "index",
            index,
            None,
            &json!({ "message": "bad", "durationMs": "slow" }),
        ),
        // A resend of an already created document.
        item("create", index, Some("doc-1"), &docs[1]),
        // Index names must be lowercase.
        item("index", "MQTT-logs", None, &json!({ "message": "x" })),
        item(
            "index",
            index,
            None,
            &json!({ "message": "fine", "durationMs": 1 }),
        ),
    ]
    .concat();
    let response = node.bulk(&body);
    assert_eq!(response["errors"], true, "{response}");
    assert_eq!(
        item_results(&response),
        vec![
            (400, Some("mapper_parsing_exception".to_string())),
            (409, Some("version_conflict_engine_exception".to_string())),
            (400, Some("invalid_index_name_exception".to_string())),
            (201, None),
        ]
    );
    assert_eq!(node.count(index), 4, "the conflicts indexed nothing");
    let hits = node.search(index, &json!({ "query": { "term": { "_id": "doc-1" } } }));
    assert_eq!(hits["hits"]["hits"][0]["_source"], docs[1], "{hits}");
    assert_eq!(
        node.field_type(index, "durationMs").as_deref(),
        Some("long")
    );

    node.delete_indices(index);
    assert_eq!(node.count(index), 0);
}

fn helpers_see_missing_indices_as_empty(node: &SearchNode) {
    assert_eq!(node.count("no-such-index-*"), 0);
    assert_eq!(node.count("no-such-index"), 0);
    assert_eq!(node.field_type("no-such-index-*", "message"), None);
    node.delete_indices("no-such-index");
    node.delete_index_template("no-such-template");
}

/// Lines beyond the bundled sample that reach the other branches of the seed chain: a security
/// event with a topic, a refused subscription (SUBACK code 128), a slow operation, an
/// unparsable `@timestamp` and a line that is not JSON.
const EXTRA_LINES: &str = r#"{"@timestamp":"2026-11-25T00:10:00.000Z","level":"warn","message":"Security event","service":"mqtt-client","version":"1.0.0","event":"unauthorized_publish","category":"security","details":{"topic":"devices/dev-7/credential","clientId":"dev-7"}}
{"@timestamp":"2026-11-25T00:10:01.000Z","level":"info","message":"MQTT connection event","service":"mqtt-client","version":"1.0.0","event":"subscribed","category":"connection","details":{"topic":"plant/line-2/dev-9/vibration","qos":1,"granted":[{"topic":"plant/line-2/dev-9/vibration","qos":128}]}}
{"@timestamp":"2026-11-25T00:10:02.000Z","level":"info","message":"Performance metric","service":"mqtt-client","version":"1.0.0","event":"performance","category":"performance","operation":"message_publish","durationMs":2500,"details":{}}
{"@timestamp":"yesterday","level":"info","message":"clock trouble"}
{"level":"error","message":"truncated
"#;

/// The events sluice's seed chain makes of the bundled sample plus [`EXTRA_LINES`]: the real
/// binary runs the unchanged `pipelines/quickstart.toml` in a scratch directory that holds
/// the sample where the pipeline expects it.
fn seed_chain_events() -> Vec<Value> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let sample_dir = dir.path().join("pipelines/sample");
    std::fs::create_dir_all(&sample_dir).expect("sample dir");
    let mut sample = std::fs::read_to_string(repo.join("pipelines/sample/mqtt-client.log"))
        .expect("read the bundled sample");
    sample.push_str(EXTRA_LINES);
    std::fs::write(sample_dir.join("mqtt-client.log"), sample).expect("write sample");
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "-c"])
        .arg(repo.join("pipelines/quickstart.toml"))
        .current_dir(dir.path())
        .env("SLUICE_DATA_DIR", dir.path().join("data"))
        .output()
        .expect("run sluice");
    assert!(
        output.status.success(),
        "sluice failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut events = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("out")).expect("sluice wrote out/") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read output");
        events.extend(
            text.lines()
                .map(|line| serde_json::from_str::<Value>(line).expect("NDJSON")),
        );
    }
    events
}

fn shipped_template() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/elasticsearch/mqtt-logs-template.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read the template"))
        .expect("the template is JSON")
}

fn the_shipped_template_maps_the_seed_chain_events(node: &SearchNode) {
    let events = seed_chain_events();
    assert_eq!(events.len(), 333 + EXTRA_LINES.lines().count());
    let template = shipped_template();
    assert_eq!(template["index_patterns"], json!(["mqtt-logs-*"]));
    // `mqtt-logs-seed-*` keeps these indices apart from the other cases' daily indices while
    // the shipped pattern still applies to them.
    let pattern = "mqtt-logs-seed-*";
    node.delete_indices(pattern);
    node.put_index_template("mqtt-logs", &template);

    let body: String = events
        .iter()
        .map(|event| {
            let time = event["@timestamp"]
                .as_str()
                .expect("every event has a time");
            let day = time[..10].replace('-', ".");
            item("create", &format!("mqtt-logs-seed-{day}"), None, event)
        })
        .collect();
    let response = node.bulk(&body);
    let failures: Vec<_> = response["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["create"]["status"] != 201)
        .collect();
    assert!(
        failures.is_empty(),
        "events the template refused: {failures:?}"
    );
    assert_eq!(node.count(pattern), events.len() as u64);

    // The template's settings reached the index (5 s is not the default refresh interval).
    let index = "mqtt-logs-seed-2026.11.24";
    let settings = node.request("GET", &format!("/{index}/_settings"), None);
    assert_eq!(
        settings.body[index]["settings"]["index"]["refresh_interval"], "5s",
        "{}",
        settings.body
    );
    let expected = [
        ("@timestamp", "date"),
        ("_@timestamp", "keyword"),
        ("message", "text"),
        ("message.keyword", "keyword"),
        ("tags", "keyword"),
        ("level", "keyword"),
        ("severity", "keyword"),
        ("category", "keyword"),
        ("event", "keyword"),
        ("service", "keyword"),
        ("sessionId", "keyword"),
        ("correlationId", "keyword"),
        ("operation", "keyword"),
        ("durationMs", "long"),
        ("topic", "keyword"),
        ("qos", "short"),
        ("retain", "boolean"),
        ("payloadSize", "long"),
        ("payloadPreview", "keyword"),
        ("topic_levels", "short"),
        ("topic_root", "keyword"),
        ("topic_device", "keyword"),
        ("topic_metric", "keyword"),
        ("performance_alert", "keyword"),
        ("alert_type", "keyword"),
        ("requires_investigation", "boolean"),
        ("details.topic", "keyword"),
        ("details.granted.qos", "short"),
        ("details.connectionDuration", "long"),
        ("error.message", "text"),
        ("error.code", "keyword"),
        ("error.stack", "text"),
        ("context.operation", "keyword"),
        ("fields.service", "keyword"),
        ("host.name", "keyword"),
        ("log.file.path", "keyword"),
        ("log.offset", "long"),
        ("input.type", "keyword"),
    ];
    let actual: Vec<(&str, Option<String>)> = expected
        .iter()
        .map(|(field, _)| (*field, node.field_type(pattern, field)))
        .collect();
    let wanted: Vec<(&str, Option<String>)> = expected
        .iter()
        .map(|(field, kind)| (*field, Some(kind.to_string())))
        .collect();
    assert_eq!(actual, wanted);

    // What Kibana does with keywords and numbers: terms aggregations and ranges agree with the
    // events sluice produced.
    let mut severities = BTreeMap::new();
    for event in &events {
        *severities
            .entry(event["severity"].as_str().unwrap_or("none").to_string())
            .or_insert(0u64) += 1;
    }
    let response = node.search(
        pattern,
        &json!({ "size": 0, "aggs": { "severity": { "terms": { "field": "severity" } } } }),
    );
    let buckets: BTreeMap<String, u64> = response["aggregations"]["severity"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["key"].as_str().unwrap_or_default().to_string(),
                b["doc_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(buckets, severities);
    let slow = events
        .iter()
        .filter(|e| e["performance_alert"] == "slow_operation")
        .count() as u64;
    assert!(slow > 0);
    let response = node.search(
        pattern,
        &json!({ "size": 0, "track_total_hits": true, "query": { "bool": { "filter": [
            { "term": { "category": "performance" } },
            { "range": { "durationMs": { "gt": 1000 } } }
        ] } } }),
    );
    assert_eq!(response["hits"]["total"]["value"], slow);

    node.delete_indices(pattern);
    node.delete_index_template("mqtt-logs");
}

search_node_tests!(
    reports_the_pinned_version,
    bulk_indexes_counts_and_reports_conflicts_per_item,
    helpers_see_missing_indices_as_empty,
    the_shipped_template_maps_the_seed_chain_events,
);
