//! Hot reload of `path` scripts: a good edit replaces the running version for every worker,
//! a broken edit keeps the old one and is reported once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod script_common;

use script_common::{build_at, pipeline, run};
use serde_json::json;

fn filter_on(dir: &std::path::Path, script: &str) -> script_common::Built {
    std::fs::write(dir.join("bucket.rhai"), script).unwrap();
    // Interval 0: every event looks at the file, so the test needs no waiting.
    let text = pipeline(&format!(
        "[[filters]]\ntype = \"script\"\npath = {:?}\nreload_interval_ms = 0\n",
        dir.join("bucket.rhai").display().to_string()
    ));
    build_at(&dir.join("pipeline.toml"), &text).unwrap()
}

#[test]
fn a_good_edit_replaces_the_script_for_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let built = filter_on(dir.path(), "event.version = 1;\n");
    let mut first = built.filter.worker();
    let mut second = built.filter.worker();
    assert_eq!(run(&mut first, json!({}))[0]["version"], json!(1));

    std::fs::write(
        dir.path().join("bucket.rhai"),
        "event.version = 2; // edited\n",
    )
    .unwrap();
    assert_eq!(run(&mut first, json!({}))[0]["version"], json!(2));
    assert_eq!(run(&mut second, json!({}))[0]["version"], json!(2));
    assert!(built.filter.reload_error().is_none());
    assert_eq!(built.errors(), 0);
}

#[test]
fn a_broken_edit_keeps_the_old_version_and_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let built = filter_on(dir.path(), "event.version = 1;\n");
    let mut worker = built.filter.worker();
    assert_eq!(run(&mut worker, json!({}))[0]["version"], json!(1));

    std::fs::write(dir.path().join("bucket.rhai"), "event.version = ;\n").unwrap();
    for _ in 0..3 {
        assert_eq!(run(&mut worker, json!({})), vec![json!({"version": 1})]);
    }
    let error = built
        .filter
        .reload_error()
        .expect("the broken edit is reported");
    assert!(error.file.ends_with("bucket.rhai"), "{error}");
    assert_eq!((error.line, error.column), (1, 17), "{error}");
    assert_eq!(built.errors(), 1, "reported once, not per event");

    std::fs::write(dir.path().join("bucket.rhai"), "event.version = 3;\n").unwrap();
    assert_eq!(run(&mut worker, json!({}))[0]["version"], json!(3));
    assert!(built.filter.reload_error().is_none());
}

#[test]
fn reload_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fixed.rhai"), "event.version = 1;").unwrap();
    let text = pipeline(&format!(
        "[[filters]]\ntype = \"script\"\npath = {:?}\nreload = false\nreload_interval_ms = 0\n",
        dir.path().join("fixed.rhai").display().to_string()
    ));
    let built = build_at(&dir.path().join("pipeline.toml"), &text).unwrap();
    let mut worker = built.filter.worker();
    std::fs::write(dir.path().join("fixed.rhai"), "event.version = 22;").unwrap();
    assert_eq!(run(&mut worker, json!({}))[0]["version"], json!(1));
}

#[test]
fn the_default_interval_limits_how_often_the_file_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.rhai"), "event.version = 1;").unwrap();
    let text = pipeline(&format!(
        "[[filters]]\ntype = \"script\"\npath = {:?}\nreload_interval_ms = 200\n",
        dir.path().join("slow.rhai").display().to_string()
    ));
    let built = build_at(&dir.path().join("pipeline.toml"), &text).unwrap();
    let mut worker = built.filter.worker();
    assert_eq!(run(&mut worker, json!({}))[0]["version"], json!(1));
    std::fs::write(dir.path().join("slow.rhai"), "event.version = 2; // x").unwrap();
    // Just checked: the next check is at least 200 ms away.
    assert_eq!(run(&mut worker, json!({}))[0]["version"], json!(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if run(&mut worker, json!({}))[0]["version"] == json!(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never picked up"
        );
        std::thread::yield_now();
    }
}
