//! The filter chain as the runtime uses it: built from pipeline TOML, run per batch.

use serde_json::{json, Value};
use sluice::config::{self, BuildContext, ConfigErrors};
use sluice::event::Event;
use sluice::filters::{FilterChain, FilterConfig};
use sluice::inputs::InputConfig;
use sluice::metrics::{ComponentMetrics, Registry};
use sluice::outputs::OutputConfig;
use std::path::Path;
use std::sync::Arc;

const HEADER: &str = r#"
[inputs.in]
type = "stdin"

[outputs.out]
type = "null"
"#;

fn build(filters: &str) -> Result<(Arc<FilterChain>, Arc<Registry>), ConfigErrors> {
    let text = format!("{HEADER}\n{filters}");
    let config = config::parse::<InputConfig, FilterConfig, OutputConfig>(
        Path::new("pipeline.toml"),
        text,
        |_| None,
    )?;
    let metrics = Arc::new(Registry::default());
    let context = BuildContext {
        source: config.source.clone(),
        data_dir: config.data_dir.clone(),
        settings: config.settings.clone(),
        metrics: metrics.clone(),
    };
    let chain = FilterChain::build(&config.filters, &context).map_err(ConfigErrors)?;
    Ok((Arc::new(chain), metrics))
}

fn run(filters: &str, events: Vec<Value>) -> Vec<Value> {
    let (chain, _) = build(filters).unwrap_or_else(|e| panic!("{e}"));
    process(&chain, events)
}

/// One batch of `events` through `chain`, as values.
fn process(chain: &Arc<FilterChain>, events: Vec<Value>) -> Vec<Value> {
    let mut batch: Vec<Event> = events.into_iter().map(Event::from_value).collect();
    chain.worker().process(&mut batch);
    batch.iter().map(Event::to_value).collect()
}

fn counters(metrics: &Registry, id: &str) -> (u64, u64, u64, u64) {
    let (_, counters) = metrics
        .snapshot()
        .into_iter()
        .find(|(key, _)| key.kind == "filter" && key.id == id)
        .unwrap_or_else(|| panic!("no metrics for filter `{id}`"));
    (
        ComponentMetrics::get(&counters.events_in),
        ComponentMetrics::get(&counters.events_out),
        ComponentMetrics::get(&counters.events_dropped),
        ComponentMetrics::get(&counters.errors),
    )
}

#[test]
fn stages_run_in_order_and_conditions_gate_each_stage() {
    let out = run(
        r#"
[[filters]]
type = "json"
if = '[fields][service] == "mqtt"'

[[filters]]
type = "severity"
if = 'exists level'
"#,
        vec![
            json!({"message": r#"{"level":"error"}"#, "fields": {"service": "mqtt"}}),
            json!({"message": r#"{"level":"error"}"#, "fields": {"service": "web"}}),
        ],
    );
    assert_eq!(out[0]["severity"], json!("high"));
    assert_eq!(out[1].get("severity"), None);
    assert_eq!(out[1]["message"], json!(r#"{"level":"error"}"#));
}

#[test]
fn drop_removes_only_matching_events_and_keeps_order() {
    let out = run(
        r#"
[[filters]]
type = "drop"
if = 'level == "debug"'
"#,
        vec![
            json!({"n": 1, "level": "info"}),
            json!({"n": 2, "level": "debug"}),
            json!({"n": 3, "level": "warn"}),
            json!({"n": 4, "level": "debug"}),
        ],
    );
    let order: Vec<&Value> = out.iter().map(|e| &e["n"]).collect();
    assert_eq!(order, [&json!(1), &json!(3)]);
}

#[test]
fn drop_without_condition_empties_the_batch() {
    assert!(run("[[filters]]\ntype = \"drop\"\n", vec![json!({"a": 1})]).is_empty());
}

#[test]
fn per_filter_metrics_count_in_out_dropped_and_errors() {
    let (chain, metrics) = build(
        r#"
[[filters]]
id = "parse"
type = "json"

[[filters]]
id = "discard_failures"
type = "drop"
if = '"_jsonparsefailure" in tags'
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut batch: Vec<Event> = [
        json!({"message": "{}"}),
        json!({"message": "nope"}),
        json!({"message": "{\"a\":1}"}),
    ]
    .into_iter()
    .map(Event::from_value)
    .collect();
    chain.worker().process(&mut batch);
    assert_eq!(batch.len(), 2);
    assert_eq!(counters(&metrics, "parse"), (3, 3, 0, 1));
    assert_eq!(counters(&metrics, "discard_failures"), (1, 0, 1, 0));
}

#[test]
fn mutate_and_date_from_toml() {
    let out = run(
        r#"
[[filters]]
type = "date"
field = "logged_at"
formats = ["UNIX_MS", "ISO8601"]
timezone = "+09:00"

[[filters]]
type = "mutate"
rename = { host = "[host][name]" }
convert = { port = "integer" }
add_field = { "route_%{kind}" = "%{[host][name]}:%{port}" }
add_tag = ["mutated"]
remove_field = ["logged_at"]
"#,
        vec![
            json!({"logged_at": "2024-05-01 09:00:00", "host": "gw1", "port": "1883", "kind": "mqtt"}),
        ],
    );
    assert_eq!(
        out[0],
        json!({
            "host": {"name": "gw1"}, "port": 1883, "kind": "mqtt",
            "@timestamp": "2024-05-01T00:00:00.000Z",
            "route_mqtt": "gw1:1883", "tags": ["mutated"]
        })
    );
}

#[test]
fn common_options_run_on_every_filter_type_only_when_it_succeeded() {
    let (chain, metrics) = build(
        r#"
[[filters]]
id = "parse"
type = "json"
add_tag = ["parsed_%{kind}"]
add_field = { "seen" = ["json", "%{kind}"] }
remove_field = ["message"]

[[filters]]
type = "date"
field = "at"
add_tag = ["dated"]
remove_tag = ["parsed_a"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = process(
        &chain,
        vec![
            json!({"message": r#"{"kind":"a","at":"2024-05-01T00:00:00Z"}"#}),
            json!({"message": "{broken"}),
            json!({"other": 1, "at": "not a date"}),
        ],
    );
    assert_eq!(
        out,
        [
            json!({"kind": "a", "at": "2024-05-01T00:00:00Z", "tags": ["dated"],
                   "seen": ["json", "a"], "@timestamp": "2024-05-01T00:00:00.000Z"}),
            json!({"message": "{broken", "tags": ["_jsonparsefailure"]}),
            json!({"other": 1, "at": "not a date", "tags": ["_dateparsefailure"]}),
        ]
    );
    assert_eq!(counters(&metrics, "parse"), (3, 3, 0, 1));
}

#[test]
fn common_option_errors_point_at_their_key() {
    let message = error_text(
        r#"
[[filters]]
type = "json"
add_tag = "not-a-list"
add_field = { "a..b" = "x" }
"#,
    );
    assert!(
        message.contains("pipeline.toml:11:11: filter `json#1` (json): "),
        "{message}"
    );
}

#[test]
fn split_events_continue_from_the_next_stage_in_order_with_common_options() {
    let (chain, metrics) = build(
        r#"
[[filters]]
id = "lines"
type = "split"
add_field = { "part" = "%{message}" }

[[filters]]
type = "mutate"
uppercase = ["message"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = process(
        &chain,
        vec![
            json!({"message": "a\nb"}),
            json!({"message": "single"}),
            json!({"message": []}),
            json!({"message": "c\n"}),
        ],
    );
    assert_eq!(
        out,
        [
            json!({"message": "A", "part": "a"}),
            json!({"message": "B", "part": "b"}),
            json!({"message": "SINGLE"}),
            json!({"message": "C", "part": "c"}),
        ]
    );
    assert_eq!(counters(&metrics, "lines"), (4, 4, 1, 0));
}

fn error_text(filters: &str) -> String {
    match build(filters) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn condition_errors_point_at_the_column_in_the_file() {
    // The filter's `if` is on line 11 of the file; its `=` is at column 13.
    let message = error_text(
        r#"
[[filters]]
type = "severity"
if = 'level = "error"'
"#,
    );
    assert!(
        message.starts_with("pipeline.toml:11:13: invalid condition: `=` is not an operator"),
        "{message}"
    );
}

#[test]
fn invalid_filter_settings_are_reported_with_their_position() {
    let message = error_text(
        r#"
[[filters]]
type = "date"
formats = ["%H:%M"]

[[filters]]
type = "mutate"
convert = { a = "decimal" }
"#,
    );
    assert!(
        message.contains("pipeline.toml:9:1: filter `date#1` (date): format `%H:%M` has no date"),
        "{message}"
    );
    assert!(
        message.contains(
            "pipeline.toml:13:1: filter `mutate#2` (mutate): `convert.a`: unknown type `decimal`"
        ),
        "{message}"
    );
}

#[test]
fn unknown_settings_name_the_accepted_ones() {
    let message = error_text("[[filters]]\ntype = \"topic_split\"\nsourc = \"x\"\n");
    assert!(
        message.contains(
            "unknown field `sourc`, expected one of `source`, `prefix`, `count`, `levels`"
        ),
        "{message}"
    );
}

#[test]
fn unknown_filter_types_list_the_known_ones() {
    let message = error_text("[[filters]]\ntype = \"geoip\"\n");
    assert!(message.contains("unknown filter type `geoip`"), "{message}");
    assert!(message.contains("`topic_split`"), "{message}");
}

/// The chain answers each distinct part of its conditions once per event while no stage may
/// have written what the part reads; these are the cases where it must answer again.
#[test]
fn a_condition_shared_by_stages_is_answered_again_after_a_stage_writes_what_it_reads() {
    let guard = r#"if = '[fields][service] == "mqtt" and [level] != "debug"'"#;
    let flag = format!("[[filters]]\ntype = \"security_flag\"\n{guard}\n");
    let event = || json!({"fields": {"service": "mqtt"}, "level": "info", "category": "security"});
    let flagged = |out: &[Value]| out[0].get("alert_type").is_some();
    // Kept across a stage that writes elsewhere: both stages run.
    let out = run(
        &format!("[[filters]]\ntype = \"severity\"\n{guard}\n{flag}"),
        vec![event()],
    );
    assert!(flagged(&out), "{out:?}");
    assert_eq!(out[0]["severity"], json!("low"));
    // A declared write of the very field (severity's target).
    let out = run(
        &format!(
            "[[filters]]\ntype = \"severity\"\n{guard}\ntarget = \"[fields][service]\"\n{flag}"
        ),
        vec![event()],
    );
    assert!(!flagged(&out), "{out:?}");
    // A declared write of the object holding it.
    let out = run(
        &format!("[[filters]]\ntype = \"severity\"\n{guard}\ntarget = \"fields\"\n{flag}"),
        vec![event()],
    );
    assert!(!flagged(&out), "{out:?}");
    // A write of the second part's field.
    let out = run(
        &format!("[[filters]]\ntype = \"severity\"\n{guard}\ntarget = \"level\"\ndefault = \"debug\"\n{flag}"),
        vec![event()],
    );
    assert!(!flagged(&out), "{out:?}");
    // Common options may write anything.
    let out = run(
        &format!(
            "[[filters]]\ntype = \"severity\"\n{guard}\nadd_field = {{ \"[fields][service]\" = \"web\" }}\n{flag}"
        ),
        vec![event()],
    );
    assert!(!flagged(&out), "{out:?}");
    // A filter that declares nothing (json) may write anything.
    let mut parsed = event();
    parsed["message"] = json!(r#"{"fields":{"service":"web"}}"#);
    let out = run(
        &format!("[[filters]]\ntype = \"json\"\n{guard}\n{flag}"),
        vec![parsed],
    );
    assert!(!flagged(&out), "{out:?}");
    // A failing filter's tags: `"_dateparsefailure" in tags` answered again.
    let tagged = r#"if = 'not ("_dateparsefailure" in tags)'"#;
    let out = run(
        &format!(
            "[[filters]]\ntype = \"date\"\n{tagged}\nfield = \"level\"\n[[filters]]\ntype = \"security_flag\"\n{tagged}\n"
        ),
        vec![event()],
    );
    assert!(!flagged(&out), "{out:?}");
    assert_eq!(out[0]["tags"], json!(["_dateparsefailure"]));
}
