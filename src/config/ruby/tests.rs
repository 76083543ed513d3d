use super::*;

/// The code of the seed's ruby filter (section 10.3.2), as Logstash hands it to Ruby.
pub const SEED_CODE: &str = r#"
          topic = event.get("[details][topic]")
          if topic
            parts = topic.split("/")
            event.set("[topic_levels]", parts.length)
            event.set("[topic_root]", parts[0]) if parts.length > 0
            event.set("[topic_device]", parts[1]) if parts.length > 1
            event.set("[topic_metric]", parts[2]) if parts.length > 2
          end
        "#;

fn errors(code: &str) -> Vec<RubyError> {
    match translate(code) {
        Ok(translation) => panic!("translated:\n{}", translation.rhai),
        Err(errors) => errors,
    }
}

#[test]
fn the_seed_block_translates_to_the_expected_rhai() {
    let rhai = translate(SEED_CODE).unwrap().rhai;
    assert_eq!(
        rhai,
        r#"let topic = ();
let parts = ();
topic = event.get("[details][topic]");
if rb_truthy(topic) {
    parts = rb_split(topic, "/");
    event.set("[topic_levels]", parts.len());
    if (parts.len() > 0) {
        event.set("[topic_root]", rb_at(parts, 0));
    }
    if (parts.len() > 1) {
        event.set("[topic_device]", rb_at(parts, 1));
    }
    if (parts.len() > 2) {
        event.set("[topic_metric]", rb_at(parts, 2));
    }
}
"#
    );
}

#[test]
fn locals_are_declared_once_at_the_top_in_order_of_first_assignment() {
    let rhai =
        translate("if event.get('a')\n  x = 1\nelse\n  y = 2\n  x = 3\nend\nevent.set('x', x)")
            .unwrap()
            .rhai;
    assert!(rhai.starts_with("let x = ();\nlet y = ();\n"), "{rhai}");
    assert!(
        rhai.contains("} else {\n    y = 2;\n    x = 3;\n}"),
        "{rhai}"
    );
}

#[test]
fn interpolation_and_escapes_become_concatenation_of_literals() {
    let rhai =
        translate(r##"n = 2; event.set("m", "a\t\"#{n + 1}\" b") ; event.set('s', 'it\'s \n')"##)
            .unwrap()
            .rhai;
    assert!(
        rhai.contains(r#"event.set("m", ("" + "a\t\"" + rb_to_s((n + 1)) + "\" b"));"#),
        "{rhai}"
    );
    assert!(rhai.contains(r#"event.set("s", "it's \\n");"#), "{rhai}");
}

#[test]
fn a_reserved_rhai_name_is_renamed() {
    let rhai = translate("match = 1\nrb_x = match\nevent.set('m', rb_x)")
        .unwrap()
        .rhai;
    assert!(rhai.contains("let ruby_match = ();"), "{rhai}");
    assert!(rhai.contains("ruby_rb_x = ruby_match;"), "{rhai}");
}

#[test]
fn unsupported_methods_are_reported_at_their_line_and_column() {
    let found = errors("x = event.get('a')\n  y = x.reverse\nevent.set('z', x.frobnicate(1, 2))");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].line, found[0].column), (2, 9));
    assert!(
        found[0].message.contains("`reverse`"),
        "{}",
        found[0].message
    );
    assert_eq!((found[1].line, found[1].column), (3, 18));
    assert!(
        found[1].message.contains("`frobnicate`"),
        "{}",
        found[1].message
    );
}

#[test]
fn event_methods_outside_the_subset_and_wrong_arities_are_reported() {
    let found = errors("event.set('a')\nevent.to_json");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].line, found[0].column), (1, 7));
    assert!(found[0].message.contains("event.set") && found[0].message.contains("2"));
    assert!(found[1].message.contains("event.to_json"));
}

#[test]
fn an_unknown_name_is_reported_as_ruby_would_raise_name_error() {
    let found = errors("event.set('a', topic)\ntopic = 1");
    assert_eq!((found[0].line, found[0].column), (1, 16));
    assert!(found[0].message.contains("`topic`"));
}

#[test]
fn constructs_outside_the_subset_are_named() {
    for (code, needle, line, column) in [
        (
            "event.get('a').each do |x|\n  event.tag(x)\nend",
            "blocks",
            1,
            21,
        ),
        (
            "case event.get('a')\nwhen 1 then x = 1\nend",
            "`case`",
            1,
            1,
        ),
        ("@count = 1", "`@count`", 1, 1),
        ("x = Time.now", "`Time`", 1, 5),
        ("require 'json'", "`require`", 1, 1),
        ("x = :sym", ":sym", 1, 5),
        ("x = %w[a b]", "`%` literals", 1, 5),
        ("x = 1 while false", "while", 1, 7),
        ("x = event.get('a')&.size", "`&.`", 1, 19),
        ("if event.get('a')\n  x = 1\n", "`end`", 3, 1),
    ] {
        let found = errors(code);
        assert!(
            found
                .iter()
                .any(|e| e.message.contains(needle) && (e.line, e.column) == (line, column)),
            "{code}: {found:?}"
        );
    }
}

#[test]
fn invalid_regular_expressions_are_reported_at_translation() {
    let found = errors("x = event.get('a')\nevent.set('b', x.gsub(/(?<=a)b/, ''))");
    assert_eq!((found[0].line, found[0].column), (2, 23));
    assert!(found[0].message.contains("regular expression"), "{found:?}");
}

#[test]
fn the_stub_keeps_the_code_and_the_problems_and_throws() {
    let code = "x = event.get('a')\nevent.set('b', x.reverse)\n";
    let found = errors(code);
    let stub = stub(code, &found);
    assert!(
        stub.contains("//   line 2, column 18: the method `reverse`"),
        "{stub}"
    );
    assert!(stub.contains("//   event.set('b', x.reverse)\n"), "{stub}");
    assert!(
        stub.trim_end().ends_with(';') && stub.contains("\nthrow \""),
        "{stub}"
    );
}

#[test]
fn continued_lines_and_paren_less_calls_parse() {
    let rhai = translate("x = event.get('a') ||\n  'd'\ny = x\n  .downcase\nevent.set 'b', y")
        .unwrap()
        .rhai;
    assert!(rhai.contains("x = { let rb_value = event.get(\"a\"); if rb_truthy(rb_value) { rb_value } else { \"d\" } };"), "{rhai}");
    assert!(rhai.contains("y = x.to_lower();"), "{rhai}");
    assert!(rhai.contains("event.set(\"b\", y);"), "{rhai}");
}
