use super::*;
use serde_json::json;

fn codec(toml: &str) -> CodecConfig {
    #[derive(Deserialize)]
    struct Holder {
        codec: CodecConfig,
    }
    toml_edit::de::from_str::<Holder>(toml).unwrap().codec
}

fn messages(decoded: &Decoded) -> Vec<Value> {
    decoded
        .events
        .iter()
        .map(|e| {
            let mut value = e.to_value();
            value.as_object_mut().unwrap().remove("@timestamp");
            value
        })
        .collect()
}

#[test]
fn codecs_are_named_or_tables_and_unknown_keys_are_refused() {
    assert_eq!(codec("codec = \"json_lines\""), CodecConfig::JsonLines);
    assert_eq!(codec("codec = { type = \"line\" }"), CodecConfig::Line);
    let CodecConfig::Multiline(settings) =
        codec("codec = { type = \"multiline\", pattern = \"^\\\\s\", what = \"previous\" }")
    else {
        panic!("not multiline")
    };
    assert_eq!(settings.max_lines, 500);
    assert!(!settings.negate);
    #[derive(Debug, Deserialize)]
    struct Holder {
        #[allow(dead_code)]
        codec: CodecConfig,
    }
    for (bad, needle) in [
        ("codec = \"xml\"", "xml"),
        ("codec = \"multiline\"", "needs options"),
        (
            "codec = { type = \"line\", delimiter = \";\" }",
            "delimiter",
        ),
        (
            "codec = { type = \"multiline\", pattern = \"x\", what = \"previous\", bogus = 1 }",
            "bogus",
        ),
        (
            "codec = { type = \"multiline\", pattern = \"x\", what = \"sideways\" }",
            "sideways",
        ),
    ] {
        let error = toml_edit::de::from_str::<Holder>(bad)
            .unwrap_err()
            .to_string();
        assert!(error.contains(needle), "{bad}: {error}");
    }
}

#[test]
fn lines_split_across_reads_become_one_event_each_and_blank_lines_are_skipped() {
    let mut decoder = CodecConfig::Line.decoder(1024);
    let mut out = Decoded::default();
    decoder.feed(b"first li", &mut out);
    decoder.feed(b"ne\r\n\n  \nsecond\nthi", &mut out);
    decoder.finish(&mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "first line"}),
            json!({"message": "second"}),
            json!({"message": "thi"})
        ]
    );
    assert_eq!(out.skipped, 2);
}

#[test]
fn long_lines_are_cut_and_tagged() {
    let mut decoder = CodecConfig::JsonLines.decoder(8);
    let mut out = Decoded::default();
    decoder.feed(b"{\"a\":\"0123456789\"}\n{\"b\":1}\n", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "{\"a\":\"01", "tags": ["_line_truncated"]}),
            json!({"b": 1}),
        ]
    );
    assert_eq!(out.truncated, 1);
}

#[test]
fn json_that_does_not_decode_keeps_its_text_and_is_tagged() {
    let mut decoder = CodecConfig::JsonLines.decoder(1024);
    let mut out = Decoded::default();
    decoder.feed(b"{\"level\":\"info\"}\nnot json\n42\n", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"level": "info"}),
            json!({"message": "not json", "tags": ["_jsonparsefailure"]}),
            json!({"message": "42", "tags": ["_jsonparsefailure"]}),
        ]
    );
}

#[test]
fn datagrams_are_whole_messages_for_plain_and_json_and_lines_otherwise() {
    let mut out = Decoded::default();
    CodecConfig::Plain.decoder(1024).datagram(b"a\nb", &mut out);
    CodecConfig::Json
        .decoder(1024)
        .datagram(b"[{\"x\":1},{\"x\":2}]", &mut out);
    CodecConfig::Line.decoder(1024).datagram(b"c\nd", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "a\nb"}),
            json!({"x": 1}),
            json!({"x": 2}),
            json!({"message": "c"}),
            json!({"message": "d"}),
        ]
    );
}

fn multiline(options: &str) -> Decoder {
    codec(&format!("codec = {{ type = \"multiline\", {options} }}")).decoder(1024)
}

#[test]
fn multiline_previous_joins_indented_lines_to_the_line_before() {
    let mut decoder = multiline(r#"pattern = "^\\s", what = "previous""#);
    let mut out = Decoded::default();
    decoder.feed(
        b"Exception in main\n  at a.b(C.java:1)\n\tat c.d(E.java:2)\nnext event\n",
        &mut out,
    );
    assert_eq!(
        messages(&out),
        [
            json!({"message": "Exception in main\n  at a.b(C.java:1)\n\tat c.d(E.java:2)", "tags": ["multiline"]})
        ]
    );
    decoder.finish(&mut out);
    assert_eq!(messages(&out)[1], json!({"message": "next event"}));
}

#[test]
fn multiline_negate_previous_starts_events_at_timestamps() {
    let mut decoder = multiline(r#"pattern = "^\\d{4}-", negate = true, what = "previous""#);
    let mut out = Decoded::default();
    decoder.feed(
        b"2024-01-01 one\ncontinued\n\n2024-01-02 two\n2024-01-03 three\n",
        &mut out,
    );
    assert_eq!(
        messages(&out),
        [
            json!({"message": "2024-01-01 one\ncontinued\n", "tags": ["multiline"]}),
            json!({"message": "2024-01-02 two"}),
        ]
    );
}

#[test]
fn multiline_next_joins_lines_ending_in_a_backslash_to_the_following_one() {
    let mut decoder = multiline(r#"pattern = "\\\\$", what = "next""#);
    let mut out = Decoded::default();
    decoder.feed(b"a \\\nb \\\nc\nd\n", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "a \\\nb \\\nc", "tags": ["multiline"]}),
            json!({"message": "d"})
        ]
    );
}

#[test]
fn multiline_limits_flush_with_logstash_tags() {
    let mut decoder = multiline(r#"pattern = "^ ", what = "previous", max_lines = 2"#);
    let mut out = Decoded::default();
    decoder.feed(b"a\n 1\n 2\n 3\n 4\nb\n", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "a\n 1\n 2", "tags": ["multiline", "multiline_codec_max_lines_reached"]}),
            json!({"message": " 3\n 4", "tags": ["multiline"]}),
        ]
    );
    let mut decoder = multiline(r#"pattern = "^ ", what = "previous", max_bytes = 4"#);
    let mut out = Decoded::default();
    decoder.feed(b"abc\n de\n f\nx\n", &mut out);
    assert_eq!(
        messages(&out),
        [
            json!({"message": "abc\n de", "tags": ["multiline", "multiline_codec_max_bytes_reached"]}),
            json!({"message": " f"}),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn multiline_auto_flush_sends_the_pending_event_after_the_interval() {
    let mut decoder = multiline(r#"pattern = "^ ", what = "previous", auto_flush_interval = "2s""#);
    let mut out = Decoded::default();
    decoder.feed(b"a\n b\n", &mut out);
    assert!(out.events.is_empty());
    let due = decoder.flush_deadline().unwrap();
    decoder.flush_due(due - std::time::Duration::from_millis(1), &mut out);
    assert!(out.events.is_empty());
    decoder.flush_due(due, &mut out);
    assert_eq!(
        messages(&out),
        [json!({"message": "a\n b", "tags": ["multiline"]})]
    );
    assert_eq!(decoder.flush_deadline(), None);
}

#[test]
fn grok_patterns_and_bad_regexes_are_refused() {
    let grok: MultilineConfig =
        toml_edit::de::from_str("pattern = \"^%{TIMESTAMP_ISO8601}\"\nwhat = \"previous\"")
            .unwrap();
    assert!(grok.compile().unwrap_err().contains("grok"));
    let bad: MultilineConfig =
        toml_edit::de::from_str("pattern = \"(\"\nwhat = \"previous\"").unwrap();
    assert!(bad.compile().unwrap_err().contains("regular expression"));
}
