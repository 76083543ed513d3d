use super::*;

fn translate_text(text: &str) -> Translation {
    translate_files(vec![(PathBuf::from("test.conf"), text.to_string())])
        .unwrap_or_else(|e| panic!("did not translate: {e}"))
}

#[test]
fn seed_like_pipeline_translates() {
    let t = translate_text(
        r#"input { beats { port => 5044 } }
filter {
  if [fields][service] == "mqtt" {
    json { source => "message" }
    if [level] == "error" { mutate { add_field => { "severity" => "high" } } }
    else if [level] == "warn" { mutate { add_field => { "severity" => "medium" } } }
    else { mutate { add_field => { "severity" => "low" } } }
  }
}
output { stdout { codec => rubydebug } }
"#,
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    println!("{}", t.toml);
    assert!(t.toml.contains(r#"address = "0.0.0.0:5044""#));
    assert!(t.toml.contains(
        r#"if = '([fields][service] == "mqtt") and not ([level] == "error") and ([level] == "warn")'"#
    ));
}
