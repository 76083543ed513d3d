//! The Elasticsearch output against real nodes (OpenSearch 2.19 and Elasticsearch 7.17, see
//! `tests/common/search_node.rs`), through the real `sluice` binary with the seed's filter
//! chain: what a fake cannot prove (the node's own mapping, template and conflict behaviour).
//!
//! Every case runs against both flavours. Tests of this binary share one node per flavour, so
//! each case uses its own index and template names.

#[macro_use]
mod common;

use common::search_node::{search_node_flavour, Flavour, SearchNode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seed's filter chain, exactly as `pipelines/mqtt.toml` has it.
fn seed_filters() -> String {
    let mqtt = std::fs::read_to_string(manifest().join("pipelines/mqtt.toml")).unwrap();
    let start = mqtt.find("[[filters]]").unwrap();
    let end = mqtt.find("[outputs.").unwrap();
    mqtt[start..end].to_string()
}

/// The shipped template (`deploy/elasticsearch/mqtt-logs-template.json`) for `prefix-*`.
fn template_for(dir: &Path, prefix: &str) -> PathBuf {
    let mut template: Value = serde_json::from_slice(
        &std::fs::read(manifest().join("deploy/elasticsearch/mqtt-logs-template.json")).unwrap(),
    )
    .unwrap();
    template["index_patterns"] = serde_json::json!([format!("{prefix}-*")]);
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    path
}

/// File input over `logs` → seed filters → the node, into `prefix-YYYY.MM.dd`, installing the
/// shipped template as `prefix`.
fn pipeline(dir: &Path, logs: &Path, node: &SearchNode, prefix: &str) -> PathBuf {
    let template = template_for(dir, prefix);
    let text = format!(
        "data_dir = {data:?}\n\
         [inputs.app]\ntype = \"file\"\npaths = [{logs:?}]\nfields = {{ service = \"mqtt\" }}\n\n\
         {filters}\n\
         [outputs.es]\ntype = \"elasticsearch\"\nhosts = [{url:?}]\nindex = \"{prefix}-%{{+YYYY.MM.dd}}\"\n\
         template = {template:?}\ntemplate_name = {prefix:?}\ntemplate_overwrite = true\n\
         flush_interval = \"200ms\"\nretry_initial_interval = \"200ms\"\n",
        data = dir.join("data").display().to_string(),
        logs = logs.display().to_string(),
        filters = seed_filters(),
        url = node.url(),
        template = template.display().to_string(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_once(config: &Path) -> String {
    let (code, stderr) = common::run_once_bounded(config, &[], Duration::from_secs(120));
    assert_eq!(code, 0, "sluice --once failed:\n{stderr}");
    stderr
}

/// Lines of the shipped sample per UTC day, as index names `prefix-YYYY.MM.dd`.
fn expected_daily_counts(prefix: &str) -> BTreeMap<String, u64> {
    let sample =
        std::fs::read_to_string(manifest().join("pipelines/sample/mqtt-client.log")).unwrap();
    let mut counts = BTreeMap::new();
    for line in sample.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let day = value["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
        *counts.entry(format!("{prefix}-{day}")).or_insert(0) += 1;
    }
    counts
}

fn flavour_banner(node: &SearchNode) -> String {
    match node.flavour() {
        Flavour::OpenSearch => format!("Connected to OpenSearch {}", node.version()),
        Flavour::Elasticsearch7 => format!("Connected to Elasticsearch {}", node.version()),
    }
}

/// The shipped sample crosses midnight UTC: two daily indices with the right counts and the
/// template's field types; the flavour is detected at start; replaying everything (the
/// checkpoints deleted) adds no document (409 on `create` with deterministic ids).
fn the_sample_is_indexed_into_daily_indices_once(node: &SearchNode) {
    let prefix = "es-sample";
    node.delete_indices(&format!("{prefix}-*"));
    let dir = tempfile::tempdir().unwrap();
    let sample = manifest().join("pipelines/sample/mqtt-client.log");
    let config = pipeline(dir.path(), &sample, node, prefix);
    let stderr = run_once(&config);
    assert!(stderr.contains(&flavour_banner(node)), "{stderr}");

    let expected = expected_daily_counts(prefix);
    assert_eq!(expected.len(), 2, "the sample crosses midnight UTC");
    let total: u64 = expected.values().sum();
    assert_eq!(
        node.wait_for_count(&format!("{prefix}-*"), total, Duration::from_secs(60)),
        total
    );
    for (index, count) in &expected {
        assert_eq!(node.count(index), *count, "{index}");
    }
    let pattern = format!("{prefix}-*");
    for (field, kind) in [
        ("@timestamp", "date"),
        ("durationMs", "long"),
        ("severity", "keyword"),
        ("category", "keyword"),
        ("level", "keyword"),
        ("message", "text"),
    ] {
        assert_eq!(
            node.field_type(&pattern, field).as_deref(),
            Some(kind),
            "{field} in {}",
            node.mapping(&pattern)
        );
    }
    let sources = node.sources(&pattern);
    assert!(sources
        .iter()
        .any(|doc| doc["alert_type"] == "security" && doc["requires_investigation"] == true));

    // Replay everything from the start: every document is already there.
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    run_once(&config);
    for (index, count) in &expected {
        assert_eq!(node.count(index), *count, "{index} after the resend");
    }
    assert!(!dir.path().join("data/dead_letter/es.ndjson").exists());
    node.delete_indices(&pattern);
}

/// A value the template's mapping cannot take (`durationMs: long` given a word) is refused
/// by the node with a 400 and ends in the dead-letter file; the rest is indexed.
fn a_mapping_conflict_ends_in_the_dead_letter_file(node: &SearchNode) {
    let prefix = "es-conflict";
    node.delete_indices(&format!("{prefix}-*"));
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app.log");
    let mut text = String::new();
    for i in 0..20 {
        let duration = if i == 13 {
            "\"very slow\"".to_string()
        } else {
            (i * 100).to_string()
        };
        text.push_str(&format!(
            "{{\"@timestamp\":\"2026-11-24T10:00:{i:02}.000Z\",\"level\":\"info\",\"message\":\"Performance metric\",\"category\":\"performance\",\"operation\":\"op{i}\",\"durationMs\":{duration}}}\n"
        ));
    }
    std::fs::write(&logs, text).unwrap();
    let config = pipeline(dir.path(), &logs, node, prefix);
    run_once(&config);

    let index = format!("{prefix}-2026.11.24");
    assert_eq!(node.count(&index), 19);
    let letters: Vec<Value> =
        std::fs::read_to_string(dir.path().join("data/dead_letter/es.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    let letter = &letters[0];
    assert_eq!(letter["status"], 400);
    assert_eq!(letter["index"], index.as_str());
    assert!(
        letter["error"]["type"]
            .as_str()
            .unwrap()
            .ends_with("parsing_exception"),
        "{letter}"
    );
    assert!(
        letter["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("durationMs"),
        "{letter}"
    );
    assert_eq!(letter["event"]["operation"], "op13");
    assert_eq!(letter["event"]["durationMs"], "very slow");
    assert_eq!(
        letter["event"]["severity"], "low",
        "the enriched event is kept"
    );
    node.delete_indices(&format!("{prefix}-*"));
}

search_node_tests!(
    the_sample_is_indexed_into_daily_indices_once,
    a_mapping_conflict_ends_in_the_dead_letter_file,
);
