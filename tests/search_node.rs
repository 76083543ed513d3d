//! The real search-engine node the Elasticsearch output is tested against: it starts, it is
//! the version we pin, and its `_bulk` answers the cases the output must handle (created,
//! mapping conflict, invalid index name, version conflict on `create`).
//!
//! Every test uses its own indices: the tests of this binary share one node and run in parallel.

mod common;

use common::search_node::{search_node, SearchNode};
use serde_json::{json, Value};

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

fn node() -> &'static SearchNode {
    search_node()
}

#[test]
fn the_node_is_opensearch_2_19_6() {
    let node = node();
    let root = node.request("GET", "/", None);
    assert_eq!(root.status, 200, "{}", root.body);
    assert_eq!(root.body["version"]["distribution"], "opensearch");
    assert_eq!(root.body["version"]["number"], "2.19.6");
    assert_eq!(node.version(), "2.19.6");
    assert!(
        node.url().starts_with("http://127.0.0.1:"),
        "{}",
        node.url()
    );
}

#[test]
fn bulk_indexes_counts_and_reports_conflicts_per_item() {
    let node = node();
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

#[test]
fn helpers_see_missing_indices_as_empty() {
    let node = node();
    assert_eq!(node.count("no-such-index-*"), 0);
    assert_eq!(node.count("no-such-index"), 0);
    node.delete_indices("no-such-index");
    node.delete_index_template("no-such-template");
}
