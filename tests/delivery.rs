//! End-to-end delivery guarantees across inputs, the runtime and outputs.

use std::path::Path;
use std::process::Command;

fn run_once(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--once", "-c"])
        .arg(config)
        .output()
        .unwrap()
}

fn lines_in(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            lines.extend(text.lines().map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["message"].as_str().unwrap().to_string()
            }));
        }
    }
    lines
}

/// An output that cannot write must not let the input checkpoint: after the output is
/// fixed, a second run delivers every line exactly once.
#[test]
fn a_failed_output_leaves_the_checkpoint_behind_and_a_rerun_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let lines: Vec<String> = (0..3000).map(|i| format!("event {i}")).collect();
    std::fs::write(logs.join("app.log"), lines.join("\n") + "\n").unwrap();
    // The output's directory is a regular file at first: every write fails.
    let out = dir.path().join("out");
    std::fs::write(&out, "in the way").unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[inputs.logs]\ntype = \"file\"\npaths = [\"{}/*.log\"]\n[outputs.archive]\ntype = \"file\"\npath = \"{}/events.ndjson\"\n",
            dir.path().join("data").display(),
            logs.display(),
            out.display()
        ),
    )
    .unwrap();

    let failed = run_once(&config);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );

    std::fs::remove_file(&out).unwrap();
    let fixed = run_once(&config);
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let mut delivered = lines_in(&out);
    delivered.sort_by_key(|l| l[6..].parse::<u32>().unwrap());
    assert_eq!(delivered, lines);

    // A third run finds everything checkpointed and delivers nothing again.
    let again = run_once(&config);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(lines_in(&out).len(), lines.len());
}

/// Fan-out: every output receives every event, and the input still checkpoints once.
#[test]
fn fan_out_delivers_to_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let lines: Vec<String> = (0..2500).map(|i| format!("event {i}")).collect();
    std::fs::write(logs.join("app.log"), lines.join("\n") + "\n").unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n[inputs.logs]\ntype = \"file\"\npaths = [\"{logs}/*.log\"]\n[outputs.a]\ntype = \"file\"\npath = \"{root}/a/events.ndjson\"\n[outputs.b]\ntype = \"file\"\npath = \"{root}/b/events.ndjson\"\n[outputs.c]\ntype = \"null\"\n",
            data = dir.path().join("data").display(),
            logs = logs.display(),
            root = dir.path().display()
        ),
    )
    .unwrap();
    let out = run_once(&config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["a", "b"] {
        let mut got = lines_in(&dir.path().join(name));
        got.sort_by_key(|l| l[6..].parse::<u32>().unwrap());
        assert_eq!(got, lines, "output {name}");
    }
    let rerun = run_once(&config);
    assert_eq!(rerun.status.code(), Some(0));
    assert_eq!(
        lines_in(&dir.path().join("a")).len(),
        lines.len(),
        "nothing re-delivered"
    );
}
