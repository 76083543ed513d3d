//! Golden tests of scripts, discovered from `scripts/tests/<case>/`:
//!
//! - `script.rhai`, or `example` naming a script in `scripts/` (e.g. `fleet_lookup.rhai`);
//! - `settings.toml` (optional): extra keys of the filter table (`max_operations = 100`);
//! - `in.ndjson`: input events, one per line (`@metadata` becomes the metadata);
//! - `out.ndjson`: every event that leaves the filter, in order (kept events, each followed
//!   by what it emitted), with `@metadata` when it is not empty; or
//! - `error.txt`: the expected build error, paths relative to the case directory.
//!
//! `SLUICE_BLESS=1 cargo test --test script_golden` rewrites the expected files from what the
//! scripts do now; review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod script_common;

use script_common::{build_at, pipeline, run};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Runs one case; `Err` describes how it differs from the expected files.
fn run_case(case: &Path, bless: bool) -> Result<(), String> {
    let script = if case.join("script.rhai").exists() {
        case.join("script.rhai")
    } else {
        let example = std::fs::read_to_string(case.join("example"))
            .map_err(|e| format!("needs `script.rhai` or `example`: {e}"))?;
        scripts_dir().join(example.trim())
    };
    // Messages name the script by the path given; show it relative to the case or `scripts/`.
    let relative = |text: String| {
        text.replace(&format!("{}/", case.display()), "")
            .replace(&format!("{}/", scripts_dir().display()), "scripts/")
    };
    let settings = std::fs::read_to_string(case.join("settings.toml")).unwrap_or_default();
    let text = pipeline(&format!(
        "[[filters]]\ntype = \"script\"\npath = {:?}\n{settings}\n",
        script.display().to_string()
    ));
    let built = match build_at(&case.join("pipeline.toml"), &text) {
        Ok(built) => built,
        Err(errors) => {
            let actual = errors
                .iter()
                .map(|e| relative(e.to_string()))
                .collect::<Vec<_>>()
                .join("\n");
            if bless {
                std::fs::write(case.join("error.txt"), format!("{actual}\n")).unwrap();
                return Ok(());
            }
            let expected = std::fs::read_to_string(case.join("error.txt"))
                .map_err(|_| format!("does not build:\n{actual}"))?;
            return if actual.trim() == expected.trim() {
                Ok(())
            } else {
                Err(format!(
                    "build error differs\nexpected: {}\nactual:   {actual}",
                    expected.trim()
                ))
            };
        }
    };
    if case.join("error.txt").exists() && !bless {
        return Err("builds, but error.txt expects a build error".to_string());
    }
    let mut worker = built.filter.worker();
    let actual: Vec<Value> = read_lines(&case.join("in.ndjson"))
        .into_iter()
        .flat_map(|input| run(&mut worker, input))
        .map(|output| serde_json::from_str(&relative(output.to_string())).unwrap())
        .collect();
    if bless {
        let text: String = actual.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(case.join("out.ndjson"), text).unwrap();
        return Ok(());
    }
    let expected = read_lines(&case.join("out.ndjson"));
    if actual == expected {
        return Ok(());
    }
    let mut report = String::from("output differs");
    for i in 0..actual.len().max(expected.len()) {
        let (a, e) = (actual.get(i), expected.get(i));
        if a != e {
            report.push_str(&format!(
                "\n  event {}:\n    expected {}\n    actual   {}",
                i + 1,
                e.map_or("(none)".to_string(), Value::to_string),
                a.map_or("(none)".to_string(), Value::to_string),
            ));
        }
    }
    Err(report)
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(scripts_dir().join("tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected the script golden cases in scripts/tests, found {}",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            run_case(case, bless)
                .err()
                .map(|report| format!("{name}: {report}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_example_script_has_a_golden_case() {
    let used: Vec<String> = std::fs::read_dir(scripts_dir().join("tests"))
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.unwrap().path().join("example")).ok())
        .map(|name| name.trim().to_string())
        .collect();
    for entry in std::fs::read_dir(scripts_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rhai") {
            assert!(used.contains(&name), "{name} has no case in scripts/tests");
        }
    }
}
