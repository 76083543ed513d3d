use super::*;

fn translate_text(text: &str) -> Translation {
    translate_files(vec![(PathBuf::from("test.conf"), text.to_string())])
        .unwrap_or_else(|e| panic!("did not translate: {e}"))
}

fn syntax_error(text: &str) -> String {
    match translate_files(vec![(PathBuf::from("t.conf"), text.to_string())]) {
        Ok(_) => panic!("parsed: {text}"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn filter_branches_decide_once_through_a_marker_and_outputs_test_in_place() {
    let t = translate_text(
        r#"input { beats { port => 5044 } }
filter {
  if [fields][service] == "mqtt" {
    json { source => "message" }
    if [level] == "error" { mutate { add_field => { "severity" => "high" } } }
    else if [level] == "warn" { mutate { add_field => { "severity" => "medium" } } }
    else { mutate { add_field => { "severity" => "low" } } }
  }
  if [x] { drop { } }
}
output { if [severity] == "high" or [alert] { stdout { codec => rubydebug } } }
"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for expected in [
        r#"address = "0.0.0.0:5044""#,
        r#"if = '([fields][service] == "mqtt")'"#,
        r#"add_field = { "[@metadata][_logstash_branch_1]" = "1" }"#,
        r#"if = '[@metadata][_logstash_branch_1] == "1"'"#,
        // The severity chain of add_fields is the native severity lookup, appending.
        "type = \"severity\"\nif = '[@metadata][_logstash_branch_1] == \"1\"'\nfield = \"[level]\"\ntarget = \"[severity]\"\nmapping = { error = \"high\", warn = \"medium\" }\ndefault = \"low\"\nappend = true",
        // One arm, one filter: nothing can run between the test and the filter.
        "id = \"drop_1\"\ntype = \"drop\"\nif = \"([x])\"",
        "type = \"stdout\"\nif = '([severity] == \"high\" or [alert])'\ncodec = \"pretty\"",
    ] {
        assert!(t.toml.contains(expected), "{expected}\nin:\n{}", t.toml);
    }
}

#[test]
fn branches_whose_filters_cannot_change_their_conditions_test_in_place() {
    let t = translate_text(
        r#"input { stdin {} }
filter {
  if [level] == "error" { mutate { add_tag => ["e"] } mutate { add_field => { "x" => "1" } } }
  else { mutate { add_field => { "x" => "2" } } }
}
output { stdout {} }"#,
    );
    assert!(!t.toml.contains("_logstash_branch"), "{}", t.toml);
    assert_eq!(t.toml.matches(r#"if = '([level] == "error")'"#).count(), 2);
    assert!(t.toml.contains(r#"if = 'not ([level] == "error")'"#));

    // Writing what a condition reads, a computed name, or a filter whose writes its options
    // do not name (json): the decision is recorded first.
    for arm in [
        r#"mutate { replace => { "level" => "x" } } mutate { add_field => { "y" => "1" } }"#,
        r#"mutate { add_field => { "%{k}" => "v" } } mutate { add_field => { "y" => "1" } }"#,
        r#"json { source => "m" } mutate { add_field => { "y" => "1" } }"#,
        r#"mutate { remove_field => ["[level]"] } mutate { add_field => { "y" => "1" } }"#,
    ] {
        let t = translate_text(&format!(
            "input {{ stdin {{}} }} filter {{ if [level][x] == \"error\" {{ {arm} }} }} output {{ stdout {{}} }}"
        ));
        assert!(t.toml.contains("_logstash_branch_1"), "{arm}:\n{}", t.toml);
    }
}

#[test]
fn only_exact_severity_chains_become_the_severity_filter() {
    for chain in [
        // No else, another operator, another field, a second option, a computed value.
        r#"if [l] == "a" { mutate { add_field => { "s" => "x" } } }
           else if [l] == "b" { mutate { add_field => { "s" => "y" } } }"#,
        r#"if [l] != "a" { mutate { add_field => { "s" => "x" } } } else { mutate { add_field => { "s" => "y" } } }"#,
        r#"if [l] == "a" { mutate { add_field => { "s" => "x" } } } else if [m] == "b" { mutate { add_field => { "s" => "y" } } } else { mutate { add_field => { "s" => "z" } } }"#,
        r#"if [l] == "a" { mutate { add_field => { "s" => "x" } add_tag => ["t"] } } else { mutate { add_field => { "s" => "y" } } }"#,
        r#"if [l] == "a" { mutate { add_field => { "s" => "%{x}" } } } else { mutate { add_field => { "s" => "y" } } }"#,
        r#"if [l] == "a" { mutate { add_field => { "s" => "x" } } } else { mutate { add_field => { "t" => "y" } } }"#,
    ] {
        let t = translate_text(&format!(
            "input {{ stdin {{}} }} filter {{ {chain} }} output {{ stdout {{}} }}"
        ));
        assert!(!t.toml.contains("\"severity\""), "{chain}:\n{}", t.toml);
    }
    // The first arm testing a value takes it, as in the chain.
    let t = translate_text(
        r#"input { stdin {} } filter {
  if [l] == "a" { mutate { add_field => { "[s][v]" => "x" } } }
  else if [l] == "a" { mutate { add_field => { "[s][v]" => "y" } } }
  else { mutate { add_field => { "[s][v]" => "z" } } }
} output { stdout {} }"#,
    );
    assert!(
        t.toml
            .contains("target = \"[s][v]\"\nmapping = { a = \"x\" }\ndefault = \"z\""),
        "{}",
        t.toml
    );
}

#[test]
fn conditions_render_in_sluice_syntax() {
    let t = translate_text(
        r#"input { stdin {} }
filter {
  if !("a" in [tags]) and [n] >= 1.5 xor [s] !~ "^x/y" nand ![m] { drop {} }
}
output { stdout {} }"#,
    );
    assert!(
        t.toml.contains(
            r#"if = '(not ("a" in [tags]) and [n] >= 1.5 xor [s] !~ /^x\/y/ nand not [m])'"#
        ),
        "{}",
        t.toml
    );
}

#[test]
fn strings_keep_backslashes_and_variables_take_sluice_syntax() {
    let t = translate_text(
        r#"input { file { path => ['${LOGS:/var/log}/*.log', "a\d"] } } output { stdout {} }"#,
    );
    assert!(
        t.toml
            .contains(r#"paths = ["${LOGS:-/var/log}/*.log", 'a\d']"#),
        "{}",
        t.toml
    );
}

#[test]
fn syntax_errors_say_what_was_expected_where() {
    assert!(syntax_error("input { stdin { port 5 } }").contains(
        "t.conf:1:22: invalid Logstash configuration: expected `=>` after the option name `port`"
    ));
    assert!(syntax_error("filter {\n  if [a] == { }\n}").contains("t.conf:2:13:"));
    assert!(syntax_error("output { stdout { codec => \"x } }")
        .contains("t.conf:1:28: invalid Logstash configuration: string opened here is not closed"));
    assert!(
        syntax_error("filter { mutate { add_field => { \"a\" => 1 \"a\" => 2 } } }")
            .contains("duplicate key `a`")
    );
    assert!(syntax_error("filter { else { } }").contains("`else` without an `if`"));
    assert!(syntax_error("inputs { }").contains("expected `input`, `filter` or `output`"));
}

#[test]
fn several_files_add_up_and_errors_name_their_file() {
    let t = translate_files(vec![
        (PathBuf::from("1.conf"), "input { stdin {} }".into()),
        (
            PathBuf::from("2.conf"),
            "filter {\n  nosuch {}\n}\noutput { stdout {} }".into(),
        ),
    ])
    .unwrap();
    assert!(t.toml.contains("[inputs.stdin]") && t.toml.contains("[outputs.stdout]"));
    assert_eq!(t.problems.len(), 1);
    assert_eq!(t.problems[0].file, PathBuf::from("2.conf"));
    assert_eq!((t.problems[0].line, t.problems[0].column), (2, 3));
    assert!(t.problems[0]
        .message
        .contains("filter plugin `nosuch` is not supported"));
}

#[test]
fn unknown_options_are_reported_never_ignored() {
    let t = translate_text("input { beats { port => 1 porte => 2 } } output { stdout {} }");
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(t.problems[0]
        .message
        .contains("input `beats`: option `porte` is not supported"));
}

#[test]
fn a_misspelt_option_names_the_supported_one() {
    let t = translate_text(
        r#"input { stdin {} } filter { grok { match => { "message" => "%{IP:ip}" } ecs_compatability => v8 } } output { stdout {} }"#,
    );
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(
        t.problems[0].message.ends_with(
            "option `ecs_compatability` is not supported by sluice (did you mean `ecs_compatibility`?)"
        ),
        "{}",
        t.problems[0].message
    );
    // Far from every option: no guess.
    let t = translate_text("input { beats { port => 1 colour => 2 } } output { stdout {} }");
    assert!(
        !t.problems[0].message.contains("did you mean"),
        "{}",
        t.problems[0].message
    );
}

#[test]
fn kafka_input_keeps_logstash_defaults_and_maps_the_connection() {
    let t = translate_text(
        r#"input { kafka {
  bootstrap_servers => "${BROKERS:k1:9092,k2:9092}"
  topics_pattern => "app-.*"
  group_id => "ingest"
  decorate_events => "basic"
  codec => json
  consumer_threads => 4
  client_id => "edge"
  security_protocol => "SASL_SSL"
  sasl_mechanism => "SCRAM-SHA-512"
  sasl_jaas_config => "org.apache.kafka.common.security.scram.ScramLoginModule required username='ingest' password='${KAFKA_PASSWORD}';"
  ssl_truststore_location => "/etc/ca.pem"
  ssl_truststore_type => "PEM"
} }
output { stdout {} }"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for expected in [
        r#"bootstrap_servers = "${BROKERS:-k1:9092,k2:9092}""#,
        r#"topics = ["^app-.*"]"#,
        r#"group_id = "ingest""#,
        // Unset: the Java client's `latest`, not sluice's `earliest`.
        r#"auto_offset_reset = "latest""#,
        r#"codec = "json""#,
        "decorate_events = true",
        r#"client_id = "edge""#,
        r#"tls = { ca_file = "/etc/ca.pem" }"#,
        r#"sasl = { mechanism = "SCRAM-SHA-512", username = "ingest", password = "${KAFKA_PASSWORD}" }"#,
    ] {
        assert!(t.toml.contains(expected), "{expected}\nin:\n{}", t.toml);
    }

    // Logstash's defaults: localhost, topic `logstash`, group `logstash`, plain text.
    let t = translate_text("input { kafka { } } output { stdout {} }");
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for expected in [
        r#"bootstrap_servers = "localhost:9092""#,
        r#"topics = ["logstash"]"#,
        r#"group_id = "logstash""#,
        r#"codec = "plain""#,
    ] {
        assert!(t.toml.contains(expected), "{expected}\nin:\n{}", t.toml);
    }
}

#[test]
fn kafka_output_maps_topic_key_compression_and_needs_the_json_codec() {
    let t = translate_text(
        r#"input { stdin {} }
output { kafka {
  topic_id => "logs-%{[service]}"
  message_key => "%{[host][name]}"
  compression_type => "zstd"
  acks => "1"
  codec => json
} }"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for expected in [
        r#"type = "kafka""#,
        r#"bootstrap_servers = "localhost:9092""#,
        r#"topic = "logs-%{[service]}""#,
        r#"key = "%{[host][name]}""#,
        r#"compression = "zstd""#,
        "acks 1: sluice always waits for every in-sync replica",
    ] {
        assert!(t.toml.contains(expected), "{expected}\nin:\n{}", t.toml);
    }
}

#[test]
fn kafka_options_sluice_cannot_honour_are_named() {
    let t = translate_text(
        r#"input { kafka {
  security_protocol => "SASL_PLAINTEXT"
  auto_offset_reset => "none"
  ssl_truststore_location => "/etc/trust.jks"
  poll_timeout_ms => 100
} }
output { kafka { topic_id => "t" } }"#,
    );
    let messages: Vec<&str> = t.problems.iter().map(|p| p.message.as_str()).collect();
    for expected in [
        // The Java client's default mechanism is Kerberos.
        "`sasl_mechanism => GSSAPI` is not supported",
        "`auto_offset_reset => none` is not supported",
        "reads PEM files only",
        "option `poll_timeout_ms` is not supported",
        "the default `plain` codec is not supported",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected} in {messages:#?}"
        );
    }
    assert_eq!(messages.len(), 5, "{messages:#?}");
}

#[test]
fn http_output_to_any_other_url_is_the_native_http_output() {
    let t = translate_text(
        r#"input { stdin {} }
output { http {
  url => "${BACKEND:http://ui:8080}/events/%{[service]}"
  http_method => "PUT"
  format => "json_batch"
  mapping => { "text" => "%{message}" "count" => 3 "nested" => { "level" => "%{level}" } }
  headers => { "Authorization" => "Bearer ${TOKEN}" }
  content_type => "application/json; charset=utf-8"
  request_timeout => 10
  retryable_codes => [503]
  retry_failed => false
} }"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    for expected in [
        "[outputs.http]\ntype = \"http\"",
        r#"url = "${BACKEND:-http://ui:8080}/events/%{[service]}""#,
        r#"http_method = "put""#,
        r#"format = "json_batch""#,
        r#"mapping = { text = "%{message}", count = 3, nested = { level = "%{level}" } }"#,
        r#"headers = { Authorization = "Bearer ${TOKEN}" }"#,
        r#"content_type = "application/json; charset=utf-8""#,
        r#"request_timeout = "10s""#,
        "retryable_codes = [503]",
        // Logstash gives a failed request up; sluice dead-letters its events.
        "max_retries = 0",
    ] {
        assert!(t.toml.contains(expected), "{expected}\nin:\n{}", t.toml);
    }
}

#[test]
fn http_output_options_sluice_cannot_honour_are_named() {
    let t = translate_text(
        r#"input { stdin {} }
output { http { url => "http://x" format => "form" } http { url => "http://y" http_method => "delete" message => "m" } }"#,
    );
    let messages: Vec<&str> = t.problems.iter().map(|p| p.message.as_str()).collect();
    for expected in [
        // Logstash requires `http_method`.
        "output `http` needs `http_method`",
        "`format => form` is not supported",
        "`http_method => delete` is not supported",
        "output `http`: option `message` is not supported",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected} in {messages:#?}"
        );
    }
    assert_eq!(messages.len(), 4, "{messages:#?}");
}

#[test]
fn input_type_tags_and_add_field_become_the_native_input_options() {
    let t = translate_text(
        r#"input { tcp { port => 5000 type => syslog tags => ["net"] add_field => { "via" => "%{host}" } } }
output { stdout {} }"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    assert!(
        t.toml.contains(
            "port = 5000\nevent_type = \"syslog\"\nadd_field = { via = \"%{host}\" }\nadd_tag = [\"net\"]"
        ),
        "{}",
        t.toml
    );
}
