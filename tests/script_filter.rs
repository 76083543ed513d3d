//! Behaviour of the Rhai script filter: the event API, the sandbox, compile errors and hot
//! reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod script_common;

use script_common::{build_at, build_inline, mqtt_event, pipeline, run};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn inline(script: &str) -> script_common::Built {
    let dir = tempfile::tempdir().unwrap();
    build_inline(dir.path(), script, "")
}

#[test]
fn fields_are_read_and_written_by_name_and_by_reference() {
    let built = inline(
        r#"
        event.bucket = if event.payloadSize > 1000 { "big" } else { "small" };
        event.set("[details][device]", topic_level(event.get("details.topic"), 1));
        event.details.seen = true;
        event.set("[@metadata][index]", "mqtt-" + event.category);
        event.copied_meta = event.get("[@metadata][index]");
        event.removed = event.remove("[host][name]");
        event.had_retain = event.contains("retain");
        "#,
    );
    let mut worker = built.filter.worker();
    let out = run(&mut worker, mqtt_event());
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e["bucket"], json!("big"));
    assert_eq!(e["details"]["device"], json!("sensor-001"));
    assert_eq!(e["details"]["seen"], json!(true));
    assert_eq!(e["@metadata"]["index"], json!("mqtt-message"));
    assert_eq!(e["copied_meta"], json!("mqtt-message"));
    assert_eq!(e["removed"], json!("edge-gw-07"));
    assert_eq!(e["host"], json!({}));
    assert_eq!(e["had_retain"], json!(true));
    assert_eq!(built.errors(), 0);
}

#[test]
fn tags_are_added_removed_and_tested() {
    let built = inline(
        r#"
        event.tag("seen");
        event.tag("seen");
        event.untag("stale");
        if event.has_tag("seen") && !event.has_tag("stale") { event.tag("checked"); }
        "#,
    );
    let mut worker = built.filter.worker();
    let out = run(&mut worker, json!({"tags": ["stale", "keep"]}));
    assert_eq!(out[0]["tags"], json!(["keep", "seen", "checked"]));
}

#[test]
fn drop_removes_the_event_and_emit_adds_events_after_it() {
    let built = inline(
        r#"
        for reading in event.readings {
            event.emit(#{ sensor: event.sensor, value: reading, "@metadata": #{ origin: "split" } });
        }
        if event.drop_original { event.drop(); }
        "#,
    );
    let mut worker = built.filter.worker();
    let out = run(
        &mut worker,
        json!({"@timestamp": "2025-01-01T00:00:00.000Z", "sensor": "t1", "readings": [1, 2], "drop_original": true}),
    );
    assert_eq!(
        out,
        vec![
            json!({"sensor": "t1", "value": 1, "@timestamp": "2025-01-01T00:00:00.000Z", "@metadata": {"origin": "split"}}),
            json!({"sensor": "t1", "value": 2, "@timestamp": "2025-01-01T00:00:00.000Z", "@metadata": {"origin": "split"}}),
        ]
    );
    let kept = run(
        &mut worker,
        json!({"sensor": "t2", "readings": [], "drop_original": false}),
    );
    assert_eq!(
        kept,
        vec![json!({"sensor": "t2", "readings": [], "drop_original": false})]
    );
}

#[test]
fn cancel_is_an_alias_of_drop() {
    let built = inline("event.cancel();");
    assert!(run(&mut built.filter.worker(), json!({"a": 1})).is_empty());
}

#[test]
fn timestamp_and_topic_helpers() {
    let built = inline(
        r#"
        let ms = event.timestamp();
        event.epoch_ms = ms;
        event.day = format_time(ms, "%Y.%m.%d");
        event.plus_second = format_time(ms + 1000);
        event.parsed = parse_time("2025-03-14T10:26:53.589+01:00");
        event.parsed_custom = parse_time("14/03/2025 09:26:53", "%d/%m/%Y %H:%M:%S");
        event.unparsable = parse_time("yesterday");
        event.levels = topic_levels(event.topic);
        event.is_temperature = topic_matches(event.topic, "factory/+/temperature");
        event.is_humidity = topic_matches(event.topic, "factory/+/humidity");
        event.recent = now() > ms;
        event.set_timestamp("2025-03-14T10:00:00+01:00");
        "#,
    );
    let out = run(&mut built.filter.worker(), mqtt_event());
    let e = &out[0];
    assert_eq!(e["epoch_ms"], json!(1_741_944_413_589_i64));
    assert_eq!(e["day"], json!("2025.03.14"));
    assert_eq!(e["plus_second"], json!("2025-03-14T09:26:54.589Z"));
    assert_eq!(e["parsed"], json!(1_741_944_413_589_i64));
    assert_eq!(e["parsed_custom"], json!(1_741_944_413_000_i64));
    assert_eq!(e["unparsable"], Value::Null);
    assert_eq!(e["levels"], json!(["factory", "sensor-001", "temperature"]));
    assert_eq!(e["is_temperature"], json!(true));
    assert_eq!(e["is_humidity"], json!(false));
    assert_eq!(e["recent"], json!(true));
    assert_eq!(e["@timestamp"], json!("2025-03-14T09:00:00.000Z"));
}

#[test]
fn sprintf_renders_logstash_templates() {
    let built = inline(r#"event.index = event.sprintf("mqtt-%{category}-%{+YYYY.MM.dd}");"#);
    let out = run(&mut built.filter.worker(), mqtt_event());
    assert_eq!(out[0]["index"], json!("mqtt-message-2025.03.14"));
}

/// Runs `script` on one event, then checks the failure was recorded and the worker still
/// processes the next event.
fn assert_contained_failure(script: &str, settings: &str, expected_message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let built = build_inline(
        dir.path(),
        &format!("if event.attack {{\n{script}\n}}\nevent.done = true;\n"),
        settings,
    );
    let mut worker = built.filter.worker();
    let started = Instant::now();
    let out = run(&mut worker, json!({"attack": true, "n": 1}));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the sandbox took {:?} to stop `{script}`",
        started.elapsed()
    );
    assert_eq!(out.len(), 1, "a failed event is kept");
    assert_eq!(out[0]["tags"], json!(["_script_error"]));
    let message = out[0]["@metadata"]["script_error"].as_str().unwrap();
    assert!(
        message.contains(expected_message),
        "`{message}` should mention `{expected_message}`"
    );
    assert!(message.contains("inline source"), "{message}");
    assert_eq!(out[0].get("done"), None, "the run stopped at the failure");
    assert_eq!(built.errors(), 1);

    let next = run(&mut worker, json!({"attack": false, "n": 2}));
    assert_eq!(next, vec![json!({"attack": false, "n": 2, "done": true})]);
    assert_eq!(built.errors(), 1);
}

/// The limit tests below lift `timeout_ms` (default 1 s of wall clock) so that the limit
/// under test is the one that trips, however loaded the machine running a debug build is.
const NO_TIMEOUT: &str = "timeout_ms = 600000\n";

#[test]
fn an_endless_loop_stops_at_max_operations() {
    assert_contained_failure("loop { }", NO_TIMEOUT, "Too many operations");
}

#[test]
fn a_run_longer_than_timeout_ms_is_stopped() {
    assert_contained_failure(
        "loop { }",
        "max_operations = 1000000000000\ntimeout_ms = 20",
        "took longer than timeout_ms (20 ms)",
    );
}

#[test]
fn a_string_bomb_stops_at_max_string_size() {
    assert_contained_failure(
        r#"let s = "xxxxxxxx"; loop { s += s; }"#,
        NO_TIMEOUT,
        "Length of string too large",
    );
}

#[test]
fn an_array_bomb_stops_at_max_array_size() {
    assert_contained_failure(
        "let a = []; loop { a.push(1); }",
        &format!("max_operations = 10000000\n{NO_TIMEOUT}"),
        "Size of array/BLOB too large",
    );
}

#[test]
fn deep_recursion_stops_at_max_call_levels() {
    // Functions are defined at the top level; the failing call happens inside the `if`.
    let dir = tempfile::tempdir().unwrap();
    let built = build_inline(
        dir.path(),
        "fn down(n) { down(n + 1) }\nif event.attack { down(0); }\nevent.done = true;\n",
        "",
    );
    let mut worker = built.filter.worker();
    let out = run(&mut worker, json!({"attack": true}));
    assert_eq!(out[0]["tags"], json!(["_script_error"]));
    let message = out[0]["@metadata"]["script_error"].as_str().unwrap();
    assert!(message.contains("Stack overflow"), "{message}");
    assert_eq!(built.errors(), 1);
    assert_eq!(
        run(&mut worker, json!({"attack": false})),
        vec![json!({"attack": false, "done": true})]
    );
}

#[test]
fn thrown_errors_keep_the_changes_made_so_far_and_discard_emits_and_drop() {
    let built = inline(
        r#"
        event.step = 1;
        event.emit(#{ extra: true });
        event.drop();
        throw "device unknown";
        "#,
    );
    let out = run(&mut built.filter.worker(), json!({"a": 1}));
    assert_eq!(
        out,
        vec![json!({
            "a": 1, "step": 1, "tags": ["_script_error"],
            "@metadata": {"script_error": "filter `script#1` (inline source):5:9: device unknown"}
        })]
    );
}

#[test]
fn the_error_tag_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let built = build_inline(dir.path(), "throw 1;", "tag_on_error = \"_rhai_failure\"");
    let out = run(&mut built.filter.worker(), json!({}));
    assert_eq!(out[0]["tags"], json!(["_rhai_failure"]));
}

#[test]
fn reassigning_event_is_an_error_and_the_event_survives() {
    let built = inline("event.kept = 1;\nevent = #{ replaced: true };\n");
    let out = run(&mut built.filter.worker(), json!({"a": 1}));
    assert_eq!(out[0]["a"], json!(1));
    assert_eq!(out[0]["kept"], json!(1));
    assert_eq!(out[0]["tags"], json!(["_script_error"]));
    assert!(out[0]["@metadata"]["script_error"]
        .as_str()
        .unwrap()
        .contains("`event` was reassigned"));
}

#[test]
fn copies_of_event_refer_to_the_same_event_and_can_be_emitted() {
    let built = inline("let same = event;\nsame.via_copy = true;\nevent.emit(event);\n");
    let out = run(&mut built.filter.worker(), json!({"a": 1}));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], json!({"a": 1, "via_copy": true}));
    assert_eq!(out[1], out[0]);
}

#[test]
fn imports_fail_unless_a_directory_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("units.rhai"),
        "fn celsius(f) { (f - 32.0) * 5.0 / 9.0 }",
    )
    .unwrap();
    let script = "import \"units\" as units;\nevent.c = units::celsius(event.f);\n";

    let sandboxed = build_inline(dir.path(), script, "");
    let out = run(&mut sandboxed.filter.worker(), json!({"f": 212.0}));
    assert_eq!(out[0]["tags"], json!(["_script_error"]), "{out:?}");

    let allowed = build_inline(
        dir.path(),
        script,
        &format!("imports_from = {:?}", dir.path().display().to_string()),
    );
    let out = run(&mut allowed.filter.worker(), json!({"f": 212.0}));
    assert_eq!(out[0]["c"], json!(100.0), "{out:?}");
}

#[test]
fn the_filter_is_shared_and_workers_move_between_threads() {
    fn shareable<T: Send + Sync>() {}
    fn movable<T: Send>() {}
    shareable::<sluice::filters::script::ScriptFilter>();
    movable::<sluice::filters::script::ScriptWorker>();

    let built = inline("event.n += 1;");
    std::thread::scope(|scope| {
        for start in [0, 100] {
            let mut worker = built.filter.worker();
            scope.spawn(move || {
                for n in start..start + 100 {
                    assert_eq!(run(&mut worker, json!({"n": n})), vec![json!({"n": n + 1})]);
                }
            });
        }
    });
}

fn build_errors(dir: &Path, filters: &str) -> Vec<String> {
    let path = dir.join("pipeline.toml");
    match build_at(&path, &pipeline(filters)) {
        Ok(_) => panic!("expected `{filters}` to fail"),
        Err(errors) => errors
            .iter()
            .map(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
            .collect(),
    }
}

#[test]
fn compile_errors_point_into_the_script_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.rhai"),
        "// bucket\nlet size = event.payloadSize;\nevent.bucket = size >;\n",
    )
    .unwrap();
    let errors = build_errors(
        dir.path(),
        &format!(
            "[[filters]]\nid = \"bucket\"\ntype = \"script\"\npath = {:?}\n",
            dir.path().join("broken.rhai").display().to_string()
        ),
    );
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("broken.rhai:3:22: filter `bucket`: script does not compile:"),
        "{}",
        errors[0]
    );
}

#[test]
fn undefined_variables_are_compile_errors() {
    let dir = tempfile::tempdir().unwrap();
    let errors = build_errors(
        dir.path(),
        "[[filters]]\ntype = \"script\"\nsource = 'event.x = evnt.y;'\n",
    );
    assert!(
        errors[0].starts_with("pipeline.toml:6:21: filter `script#1`: script does not compile: Undefined variable: evnt"),
        "{}",
        errors[0]
    );
}

#[test]
fn inline_compile_errors_point_into_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    // Line 6 holds `source = '''`, the script starts on line 7.
    let errors = build_errors(
        dir.path(),
        "[[filters]]\ntype = \"script\"\nsource = '''\nlet a = 1;\nlet b = a +;\n'''\n",
    );
    assert!(
        errors[0].starts_with("pipeline.toml:8:12: filter `script#1`: script does not compile:"),
        "{}",
        errors[0]
    );
}

#[test]
fn path_and_source_are_mutually_exclusive_and_one_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let both = build_errors(
        dir.path(),
        "[[filters]]\ntype = \"script\"\npath = \"x.rhai\"\nsource = \"1\"\n",
    );
    // Reported at the filter's table.
    assert!(both[0].starts_with("pipeline.toml:4:1: "), "{}", both[0]);
    assert!(
        both[0].contains("either `path` or `source`, not both"),
        "{}",
        both[0]
    );
    let neither = build_errors(dir.path(), "[[filters]]\ntype = \"script\"\n");
    assert!(
        neither[0].starts_with("pipeline.toml:4:1: "),
        "{}",
        neither[0]
    );
    assert!(neither[0].contains("needs `path"), "{}", neither[0]);
    let unknown = build_errors(
        dir.path(),
        "[[filters]]\ntype = \"script\"\nsource = \"1\"\nmax_opertions = 5\n",
    );
    assert!(unknown[0].contains("max_opertions"), "{}", unknown[0]);
}

#[test]
fn a_missing_script_file_points_at_the_path_setting() {
    let dir = tempfile::tempdir().unwrap();
    let errors = build_errors(
        dir.path(),
        "[[filters]]\ntype = \"script\"\npath = \"missing.rhai\"\n",
    );
    assert!(
        errors[0].starts_with("pipeline.toml:6:8: "),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("cannot read script"), "{}", errors[0]);
}

/// Rhai looks a function up only when a run reaches the call: `validate` must find a
/// made-up one before every event fails with "Function not found".
#[test]
fn unknown_functions_are_compile_errors_at_their_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("root.rhai"),
        "// the first topic level\nlet topic = event.topic;\nevent.root = mqtt_topic_root(topic);\nevent.n = topic.lenght();\n",
    )
    .unwrap();
    let errors = build_errors(
        dir.path(),
        "[[filters]]\nid = \"root\"\ntype = \"script\"\npath = \"root.rhai\"\n",
    );
    assert_eq!(
        errors,
        ["root.rhai:3:14: filter `root`: unknown function `mqtt_topic_root`: neither the script nor sluice's script API defines it (also unknown: `lenght` at 4:17); scripts/README.md lists the API"]
    );
}

/// What the check must not refuse: the API, the standard library, the script's own
/// functions, closures called through `call`, functions kept in a map, module functions,
/// and names in strings and comments.
#[test]
fn known_functions_closures_and_map_methods_pass_the_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(
        dir.path().join("lib/units.rhai"),
        "fn kilo(n) { n / 1000 }\n",
    )
    .unwrap();
    let script = r##"
import "units" as units;
fn bucket(size) { if size < 1024 { "small" } else { "large" } }
fn classify() { this.kind = "x"; }
let twice = |x| x * 2;
let handlers = #{ scale: |x| x * 10, "shift": |x| x + 1 };
// made_up(1) in a comment, /* nested /* made_up(2) */ */ too
event.text = "made_up(3)" + `${topic_levels("a/b").len()}` + 'x' + #"made_up(4)"#;
event.size = bucket(twice.call(600));
event.scaled = handlers.scale(2) + handlers.shift(1);
event.k = units::kilo(4000);
event.levels = topic_levels("a/b/c").len();
event.classify();
"##;
    std::fs::write(dir.path().join("ok.rhai"), script).unwrap();
    let built = build_at(
        &dir.path().join("pipeline.toml"),
        &pipeline("[[filters]]\ntype = \"script\"\npath = \"ok.rhai\"\nimports_from = \"lib\"\n"),
    )
    .unwrap_or_else(|errors| panic!("{errors:?}"));
    let mut worker = built.filter.worker();
    assert_eq!(
        run(&mut worker, json!({})),
        vec![
            json!({"text": "made_up(3)2xmade_up(4)", "size": "large", "scaled": 22, "k": 4, "levels": 3, "kind": "x"})
        ]
    );
}
