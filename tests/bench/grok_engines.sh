#!/usr/bin/env bash
# The grok crate's regex engines on the same lines: Apache combined lines against
# %{COMBINEDAPACHELOG} (matching, and a non-matching line), and a syslog line against
# %{SYSLOGLINE}. Builds a throwaway crate once per engine (release) in a temporary folder
# and prints one line per engine; `regex` is expected to fail (no look-behind / atomic groups).
#
#   bash tests/bench/grok_engines.sh            # onig pcre2 fancy regex
#   bash tests/bench/grok_engines.sh pcre2 onig # some of them
set -uo pipefail
engines=${*:-onig pcre2 fancy regex}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "grok-engines"
version = "0.1.0"
edition = "2021"
[dependencies]
grok = { version = "2.4.1", default-features = false }
[features]
onig = ["grok/onig"]
pcre2 = ["grok/pcre2"]
fancy = ["grok/fancy-regex"]
regex = ["grok/regex"]
[profile.release]
debug = false
TOML
cat > "$work/src/main.rs" <<'RUST'
// One line per engine: lines per second (or µs per line) for each case.
use grok::Grok;
use std::time::Instant;
fn main() {
    let lines = [
        r#"220.181.108.96 - - [13/Jun/2015:21:14:28 +0000] "GET /blog/geekery/xvfb-firefox.html HTTP/1.1" 200 10975 "-" "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)""#,
        r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#,
        r#"2001:db8::1 - frank [10/Oct/2000:13:55:36 -0700] "POST /api/v1/items?id=7 HTTP/2.0" 404 - "-" "curl/8.5.0""#,
        r#"www.example.com - - [01/Jan/2024:00:00:01 +0100] "HEAD / HTTP/1.0" 301 0 "https://example.org/a?b=c" "Wget/1.21""#,
    ];
    let grok = Grok::with_default_patterns();
    let pattern = match grok.compile("%{COMBINEDAPACHELOG}", true) {
        Ok(pattern) => pattern,
        Err(e) => {
            let text = format!("{e}");
            println!("cannot compile %{{COMBINEDAPACHELOG}}: {}", text.lines().find(|l| l.contains("error:")).unwrap_or("?"));
            return;
        }
    };
    for line in &lines { assert!(pattern.match_against(line).is_some(), "{line}"); }
    let miss = r#"not an apache line at all, but long enough to make the engine work a little: 1.2.3.4 - - [x]"#;
    let rounds = 200_000;
    let start = Instant::now();
    let mut n = 0usize;
    for i in 0..rounds { if let Some(m) = pattern.match_against(lines[i % lines.len()]) { n += m.iter().count(); } }
    let hit = start.elapsed();
    let start = Instant::now();
    for _ in 0..rounds / 4 { if pattern.match_against(miss).is_some() { n += 1; } }
    let miss_t = start.elapsed();
    let syslog = grok.compile("%{SYSLOGLINE}", true).expect("compile syslog");
    let sl = "Mar 12 12:34:56 web-01 sshd[1234]: Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2";
    assert!(syslog.match_against(sl).is_some());
    let start = Instant::now();
    for _ in 0..rounds { if let Some(m) = syslog.match_against(sl) { n += m.iter().count(); } }
    let sys_t = start.elapsed();
    println!("apache hit: {:.0} lines/s ({:.2} us/line); apache miss: {:.2} us/line; syslog: {:.0} lines/s [{n}]",
        rounds as f64 / hit.as_secs_f64(), hit.as_secs_f64() * 1e6 / rounds as f64,
        miss_t.as_secs_f64() * 1e6 / (rounds / 4) as f64, rounds as f64 / sys_t.as_secs_f64());
}
RUST
for engine in $engines; do
  echo -n "$engine: "
  if cargo build -q --release --features "$engine" --manifest-path "$work/Cargo.toml" \
      --target-dir "$work/target-$engine" 2>/dev/null; then
    "$work/target-$engine/release/grok-engines" 2>&1 | tail -1
  else
    echo "build failed"
  fi
done
