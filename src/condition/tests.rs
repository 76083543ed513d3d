use super::*;
use serde_json::json;

fn event() -> Event {
    let mut event = Event::from_value(json!({
        "level": "error",
        "severity": "high",
        "category": "performance",
        "durationMs": 1500,
        "durationText": "1500",
        "ratio": 0.5,
        "ok": false,
        "nothing": null,
        "message": "MQTT connection refused",
        "tags": ["_jsonparsefailure", "beats"],
        "fields": {"service": "mqtt"},
        "details": {"topic": "sensors/dev1/temp"},
    }));
    event
        .metadata_mut()
        .insert("beat".into(), json!("filebeat"));
    event
}

fn check(condition: &str) -> bool {
    Condition::compile(condition)
        .unwrap_or_else(|e| panic!("`{condition}` did not compile: {e} at {}", e.offset))
        .matches(&event())
}

fn offset_of_error(condition: &str) -> usize {
    match Condition::compile(condition) {
        Ok(_) => panic!("`{condition}` compiled"),
        Err(e) => e.offset,
    }
}

#[test]
fn equality_in_both_field_notations() {
    assert!(check(r#"[fields][service] == "mqtt""#));
    assert!(check(r#"fields.service == "mqtt""#));
    assert!(check(r#"fields.service == 'mqtt'"#));
    assert!(!check(r#"fields.service == "http""#));
    assert!(check(r#"fields.service != "http""#));
    assert!(check(r#"[@metadata][beat] == "filebeat""#));
    assert!(check(r#"@metadata.beat == "filebeat""#));
}

#[test]
fn the_slack_condition_from_the_seed() {
    assert!(check(r#"severity == "high" or alert_type == "security""#));
    assert!(!check(r#"severity == "low" or alert_type == "security""#));
}

#[test]
fn missing_fields_equal_nothing() {
    assert!(!check(r#"missing == "x""#));
    assert!(check(r#"missing != "x""#));
    assert!(!check("missing == null"));
    assert!(check("nothing == null"));
}

#[test]
fn numbers_compare_by_value_and_numeric_strings_order_numerically() {
    assert!(check("durationMs > 1000"));
    assert!(check("durationMs == 1500.0"));
    assert!(!check("durationMs < 1500"));
    assert!(check("durationMs <= 1500"));
    assert!(check("durationMs >= 1500"));
    assert!(check("durationText > 1000"));
    assert!(
        !check("durationText == 1500"),
        "a string never equals a number"
    );
    assert!(check("ratio < 1"));
    assert!(check(r#"level < "warn""#));
    assert!(!check("level > 3"));
    assert!(!check("missing > 3"));
}

#[test]
fn truthiness_of_bare_fields() {
    assert!(check("details.topic"));
    assert!(check("[details][topic]"));
    assert!(!check("missing"));
    assert!(!check("nothing"));
    assert!(!check("ok"));
    assert!(check("not ok"));
    assert!(check("!missing"));
}

#[test]
fn exists_is_true_for_null_and_false() {
    assert!(check("exists nothing"));
    assert!(check("exists ok"));
    assert!(check("exists details.topic"));
    assert!(!check("exists missing"));
    assert!(check("not exists missing"));
}

#[test]
fn regex_matching() {
    assert!(check("message =~ /refused$/"));
    assert!(check(r#"message =~ "^MQTT""#));
    assert!(!check("message !~ /refused/"));
    assert!(check("missing !~ /x/"));
    assert!(!check("missing =~ /x/"));
    assert!(check(r"details.topic =~ /^sensors\/dev\d/"));
    assert!(!check("durationMs =~ /1500/"), "only strings match");
}

#[test]
fn membership_in_lists_arrays_and_strings() {
    assert!(check(r#"level in ["error", "fatal"]"#));
    assert!(!check(r#"level in ["warn"]"#));
    assert!(check(r#"level not in ["warn"]"#));
    assert!(check(r#""_jsonparsefailure" in tags"#));
    assert!(check(r#""_jsonparsefailure" in [tags]"#));
    assert!(!check(r#""_dateparsefailure" in tags"#));
    assert!(check(r#""connection" in message"#));
    assert!(check("durationMs in [1000, 1500]"));
    assert!(!check("level in []"));
    assert!(!check(r#""x" in missing"#));
}

#[test]
fn boolean_operators_precedence_and_parentheses() {
    assert!(check(
        r#"level == "warn" or level == "error" and category == "performance""#
    ));
    assert!(!check(
        r#"(level == "warn" or level == "error") and category == "security""#
    ));
    assert!(check(r#"not (level == "warn") && durationMs > 1 || false"#));
    assert!(check("true"));
    assert!(!check("false"));
}

#[test]
fn errors_point_at_the_offending_token() {
    assert_eq!(offset_of_error(r#"level == "error" and"#), 20);
    assert_eq!(offset_of_error(r#"level = "error""#), 6);
    assert_eq!(offset_of_error(r#"level == "error"#), 9);
    assert_eq!(offset_of_error("message =~ /(unclosed/"), 11);
    assert_eq!(offset_of_error("(level == 1"), 0, "at the unclosed `(`");
    assert_eq!(offset_of_error("a == 1 and ((b == 2)"), 11);
    assert_eq!(offset_of_error("level == 1 2"), 11);
    assert_eq!(offset_of_error("level $ 1"), 6);
    assert_eq!(offset_of_error("exists 3"), 7);
    assert_eq!(offset_of_error("[a][b == 1"), 3);
    assert_eq!(offset_of_error(""), 0);
}

#[test]
fn string_and_regex_escapes_and_unterminated_literals() {
    let value = |text: &str| Event::from_value(json!({ "x": text }));
    let matches = |condition: &str, text: &str| {
        Condition::compile(condition)
            .unwrap_or_else(|e| panic!("`{condition}` did not compile: {e}"))
            .matches(&value(text))
    };
    assert!(matches(
        r#"x == "a\"b\\c\nd\te\rf\qg""#,
        "a\"b\\c\nd\te\rfqg"
    ));
    assert!(matches(r#"x == 'it\'s'"#, "it's"));
    assert!(matches(r"x =~ /^a\/b\.c$/", "a/b.c"));
    assert!(!matches(r"x =~ /^a\/b\.c$/", "a/bxc"));
    for (condition, message) in [
        (r#"x == "abc\"#, "unterminated string"),
        (r#"x == 'abc"#, "unterminated string"),
        (r"x =~ /ab\/", "unterminated regex: close it with `/`"),
    ] {
        let error = Condition::compile(condition).unwrap_err();
        assert_eq!((error.offset, error.message.as_str()), (5, message));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Condition::compile(&deep).is_err());
    let nots = format!("{}x", "not ".repeat(10_000));
    assert!(Condition::compile(&nots).is_err());
}

#[test]
fn source_is_kept() {
    let condition = Condition::compile("a == 1").unwrap();
    assert_eq!(condition.source(), "a == 1");
}

proptest::proptest! {
    #[test]
    fn compiling_arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = Condition::compile(&text);
    }

    #[test]
    fn compiling_condition_like_text_never_panics(
        text in r#"[\[\]()a-z.@ "'/=!<>~,0-9\-]{0,48}"#
    ) {
        if let Ok(condition) = Condition::compile(&text) {
            let _ = condition.matches(&event());
        }
    }

    #[test]
    fn error_offsets_are_inside_the_text(text in "\\PC{0,64}") {
        if let Err(e) = Condition::compile(&text) {
            proptest::prop_assert!(e.offset <= text.len());
            proptest::prop_assert!(text.is_char_boundary(e.offset));
        }
    }
}

#[test]
fn xor_and_nand_as_in_logstash() {
    assert!(check(r#"[level] == "error" xor [severity] == "low""#));
    assert!(!check(r#"[level] == "error" xor [severity] == "high""#));
    assert!(!check(r#"[level] == "warn" xor [severity] == "low""#));
    assert!(check(r#"[level] == "error" nand [severity] == "low""#));
    assert!(!check(r#"[level] == "error" nand [severity] == "high""#));
    // nand binds like `and`: `false or (true nand true)`.
    assert!(!check(
        r#"[level] == "warn" or [level] == "error" nand [ok] == false"#
    ));
    // xor binds like `or`, left to right: `(true xor true) xor true`.
    assert!(check(
        r#"[level] == "error" xor [ratio] == 0.5 xor [durationMs] > 1000"#
    ));
}
