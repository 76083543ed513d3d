//! Logstash `ruby` filters translated to Rhai (`sluice::config::ruby`) and run through the
//! real script filter: the events must be the ones Logstash's ruby filter produces (Ruby's
//! `nil`, truth, `to_i`, `String#split`, `_rubyexception`), as its documentation and Ruby's
//! core documentation describe them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod script_common;

use script_common::{build_inline, mqtt_event, run};
use serde_json::{json, Value};
use sluice::config::ruby::{stub, translate, EXCEPTION_TAG};

/// The seed's ruby filter (section 10.3.2 of the seed, `code => '...'`), byte for byte.
const SEED_CODE: &str = r#"
          topic = event.get("[details][topic]")
          if topic
            parts = topic.split("/")
            event.set("[topic_levels]", parts.length)
            event.set("[topic_root]", parts[0]) if parts.length > 0
            event.set("[topic_device]", parts[1]) if parts.length > 1
            event.set("[topic_metric]", parts[2]) if parts.length > 2
          end
        "#;

/// Translates `code` and builds a script filter from it as a converted pipeline would.
fn ruby(code: &str) -> script_common::Built {
    let translation = match translate(code) {
        Ok(translation) => translation,
        Err(errors) => panic!("{code}\ndoes not translate: {errors:?}"),
    };
    let dir = tempfile::tempdir().unwrap();
    build_inline(
        dir.path(),
        &translation.rhai,
        &format!("tag_on_error = \"{EXCEPTION_TAG}\""),
    )
}

/// Runs `code` on one event and returns the event that leaves.
fn apply(code: &str, input: Value) -> Value {
    let built = ruby(code);
    let mut worker = built.filter.worker();
    let mut out = run(&mut worker, input);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

fn with_topic(topic: Value) -> Value {
    let mut event = mqtt_event();
    event["details"]["topic"] = topic;
    event
}

#[test]
fn the_seed_block_splits_the_topic_into_levels() {
    let out = apply(SEED_CODE, mqtt_event());
    assert_eq!(out["topic_levels"], json!(3));
    assert_eq!(out["topic_root"], json!("factory"));
    assert_eq!(out["topic_device"], json!("sensor-001"));
    assert_eq!(out["topic_metric"], json!("temperature"));
    assert!(out.get("tags").is_none(), "{out}");
}

#[test]
fn the_seed_block_follows_ruby_on_short_odd_and_missing_topics() {
    let fields = |out: &Value| {
        ["topic_levels", "topic_root", "topic_device", "topic_metric"]
            .map(|name| out.get(name).cloned())
    };
    // One level: only the root.
    let out = apply(SEED_CODE, with_topic(json!("fleet")));
    assert_eq!(
        fields(&out),
        [Some(json!(1)), Some(json!("fleet")), None, None]
    );
    // Trailing empty levels are dropped by String#split; leading ones are kept.
    let out = apply(SEED_CODE, with_topic(json!("/fleet/dev-1//")));
    assert_eq!(
        fields(&out),
        [
            Some(json!(3)),
            Some(json!("")),
            Some(json!("fleet")),
            Some(json!("dev-1"))
        ]
    );
    // An empty string is true in Ruby and splits into no parts.
    let out = apply(SEED_CODE, with_topic(json!("")));
    assert_eq!(fields(&out), [Some(json!(0)), None, None, None]);
    // Missing and null fields are nil: nothing is set.
    let mut missing = mqtt_event();
    missing["details"].as_object_mut().unwrap().remove("topic");
    assert_eq!(fields(&apply(SEED_CODE, missing)), [None, None, None, None]);
    assert_eq!(
        fields(&apply(SEED_CODE, with_topic(Value::Null))),
        [None, None, None, None]
    );
}

#[test]
fn a_ruby_exception_tags_the_event_rubyexception_and_keeps_it() {
    // `5.split` raises NoMethodError in Logstash: the event goes on, tagged.
    let out = apply(SEED_CODE, with_topic(json!(5)));
    assert_eq!(out["tags"], json!(["_rubyexception"]));
    assert!(out.get("topic_levels").is_none());
    let out = apply("event.set('l', event.get('missing').downcase)", json!({}));
    assert_eq!(out["tags"], json!(["_rubyexception"]));
}

#[test]
fn to_i_and_to_f_read_the_leading_number_and_nil_is_zero() {
    let code = r#"
        event.set("a", event.get("a").to_i)
        event.set("b", event.get("b").to_i)
        event.set("c", event.get("c").to_i)
        event.set("d", event.get("d").to_i)
        event.set("e", event.get("e").to_f)
        event.set("f", event.get("f").to_f)
        event.set("g", event.get("g").to_i + 1)
    "#;
    let out = apply(
        code,
        json!({"a": "12ms", "b": "abc", "d": 3.7, "e": "1.5s", "f": "x", "g": " -4"}),
    );
    assert_eq!(out["a"], json!(12));
    assert_eq!(out["b"], json!(0));
    assert_eq!(out["c"], json!(0));
    assert_eq!(out["d"], json!(3));
    assert_eq!(out["e"], json!(1.5));
    assert_eq!(out["f"], json!(0.0));
    assert_eq!(out["g"], json!(-3));
}

#[test]
fn truth_is_ruby_truth_nil_and_false_only() {
    let code = r#"
        event.tag("zero") if event.get("zero")
        event.tag("empty") if event.get("empty")
        event.tag("no") if event.get("no")
        event.tag("null") if event.get("null")
        event.tag("missing") if event.get("missing")
        event.tag("not_no") unless event.get("no")
        event.tag("null_is_nil") if event.get("null").nil? && event.get("missing").nil?
        event.tag("null_included") if event.include?("null") && !event.include?("missing")
    "#;
    let out = apply(
        code,
        json!({"zero": 0, "empty": "", "no": false, "null": null}),
    );
    assert_eq!(
        out["tags"],
        json!(["zero", "empty", "not_no", "null_is_nil", "null_included"])
    );
}

#[test]
fn split_follows_string_split() {
    let code = r#"
        event.set("ws", event.get("s").split)
        event.set("space", event.get("s").split(" "))
        event.set("comma", event.get("c").split(","))
        event.set("chars", "abc".split(""))
        event.set("regex", event.get("r").split(/\s*;\s*/))
    "#;
    let out = apply(
        code,
        json!({"s": "  a  b\tc ", "c": "a,,b,,", "r": "x ; y;z;;"}),
    );
    assert_eq!(out["ws"], json!(["a", "b", "c"]));
    assert_eq!(out["space"], json!(["a", "b", "c"]));
    assert_eq!(out["comma"], json!(["a", "", "b"]));
    assert_eq!(out["chars"], json!(["a", "b", "c"]));
    assert_eq!(out["regex"], json!(["x", "y", "z"]));
}

#[test]
fn indexing_counts_from_either_end_and_is_nil_outside() {
    let code = r#"
        parts = event.get("p").split("/")
        event.set("last", parts[-1])
        event.set("first", parts.first)
        event.set("outside", parts[7])
        event.set("before", parts[-9])
        event.set("char", event.get("p")[1])
        event.set("nested", event.get("h")["k"])
    "#;
    let out = apply(code, json!({"p": "a/b/c", "h": {"k": "v"}}));
    assert_eq!(out["last"], json!("c"));
    assert_eq!(out["first"], json!("a"));
    // event.set(ref, nil) stores a null field, as in Logstash.
    assert_eq!(out["outside"], Value::Null);
    assert!(out.as_object().unwrap().contains_key("outside"));
    assert_eq!(out["before"], Value::Null);
    assert_eq!(out["char"], json!("/"));
    assert_eq!(out["nested"], json!("v"));
}

#[test]
fn strings_interpolate_convert_and_rewrite_as_ruby_does() {
    let code = r##"
        level = event.get("level")
        n = event.get("n")
        event.set("msg", "#{level.upcase}: #{event.get('missing')}#{n} #{1.0} #{[1, 'a', nil]}")
        event.set("clean", event.get("path").gsub("/", "_").downcase)
        event.set("digits", event.get("path").gsub(/[a-z]+(\d)/, 'n\1'))
        event.set("first_only", event.get("path").sub(/\//, ""))
        event.set("stripped", "  pad \n".strip)
        event.set("joined", ["a", ["b", 1]].join("-"))
        event.set("len", event.get("path").length + [1, 2].size)
    "##;
    let out = apply(
        code,
        json!({"level": "warn", "n": 3, "path": "/Var/Log9/x"}),
    );
    assert_eq!(out["msg"], json!("WARN: 3 1.0 [1, \"a\", nil]"));
    assert_eq!(out["clean"], json!("_var_log9_x"));
    assert_eq!(out["digits"], json!("/Var/Ln9/x"));
    assert_eq!(out["first_only"], json!("Var/Log9/x"));
    assert_eq!(out["stripped"], json!("pad"));
    assert_eq!(out["joined"], json!("a-b-1"));
    assert_eq!(out["len"], json!(13));
}

#[test]
fn conditions_branches_and_operators() {
    let code = r#"
        ms = event.get("durationMs").to_i
        if ms > 1000 && !event.get("category").nil?
          kind = "slow"
        elsif ms > 100 or event.get("force")
          kind = "medium"
        else
          kind = "fast"
        end
        unless event.get("category").include?("perf")
          event.tag("other")
        else
          event.tag("perf")
        end
        label = event.get("label") || "none"
        label ||= "unused"
        count = 1
        count += 2
        event.set("kind", kind)
        event.set("label", label)
        event.set("count", count * 2 - 1)
        event.set("ratio", ms / 4.0)
        event.set("big", ms >= 1000 ? "yes" : "no")
        event.set("matched", event.get("category") =~ /form/)
        event.tag("empty") if event.get("list").empty?
        return if ms < 2000
        event.tag("not reached")
    "#;
    let out = apply(
        code,
        json!({"durationMs": "1500", "category": "performance", "list": []}),
    );
    assert_eq!(out["kind"], json!("slow"));
    assert_eq!(out["label"], json!("none"));
    assert_eq!(out["count"], json!(5));
    assert_eq!(out["ratio"], json!(375.0));
    assert_eq!(out["big"], json!("yes"));
    assert_eq!(out["matched"], json!(3));
    assert_eq!(out["tags"], json!(["perf", "empty"]));

    let out = apply(
        code,
        json!({"durationMs": 50, "category": "auth", "force": 0, "label": "x", "list": [1]}),
    );
    assert_eq!(out["kind"], json!("medium"), "0 is true in Ruby");
    assert_eq!(out["label"], json!("x"));
    assert_eq!(out["matched"], Value::Null);
    assert_eq!(out["tags"], json!(["other"]));
}

#[test]
fn remove_returns_the_value_and_cancel_drops_the_event() {
    let out = apply(
        "old = event.remove('[a][b]')\nevent.set('[moved]', old)",
        json!({"a": {"b": 1, "c": 2}}),
    );
    assert_eq!(out, json!({"a": {"c": 2}, "moved": 1}));

    let built = ruby("event.cancel if event.get('drop_me')");
    let mut worker = built.filter.worker();
    assert!(run(&mut worker, json!({"drop_me": true})).is_empty());
    assert_eq!(run(&mut worker, json!({"drop_me": false})).len(), 1);
}

#[test]
fn the_stub_builds_and_tags_every_event_until_finished() {
    let code = "event.set('x', Time.now.to_i)";
    let errors = translate(code).unwrap_err();
    let dir = tempfile::tempdir().unwrap();
    let built = build_inline(
        dir.path(),
        &stub(code, &errors),
        &format!("tag_on_error = \"{EXCEPTION_TAG}\""),
    );
    let mut worker = built.filter.worker();
    let out = run(&mut worker, json!({"a": 1}));
    assert_eq!(out[0]["tags"], json!(["_rubyexception"]));
    assert_eq!(built.errors(), 1);
}
