#!/usr/bin/env bash
# The seed's mqtt.conf filters on a 300,000-line corpus, three ways: as the .conf itself, as
# the TOML `sluice convert` prints for it, and the native port (pipelines/mqtt.toml's
# filters). File input (--once) -> filters -> file output to /dev/null; prints CPU per event
# (user + system of the whole process), events per second (wall) and peak RSS, from GNU time.
# The .conf reads the file with Logstash's file input, which has no Filebeat `fields`, so a
# first mutate adds `[fields][service] => "mqtt"` as the seed's Filebeat does.
#
#   bash tests/bench/logstash_conf.sh [BINARY] [RUNS]   # default target/release/sluice, 3
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-target/release/sluice}")
runs=${2:-3}
lines=${SLUICE_BENCH_LINES:-300000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The bundled sample repeated (tests/bench/corpus.sh).
source tests/bench/corpus.sh
write_corpus "$work/corpus.log" "$lines"

# The seed's filter section, byte for byte, between an input and an output of our own.
seed_filter=$(sed -n '/^filter {/,/^output {/p' pipelines/logstash/mqtt.conf | sed '$d')
cat > "$work/seed.conf" <<CONF
input { file { path => "$work/corpus.log" start_position => "beginning" } }
filter { mutate { add_field => { "[fields][service]" => "mqtt" } } }
$seed_filter
output { file { path => "/dev/null" } }
CONF
"$binary" convert "$work/seed.conf" -o "$work/converted.toml"

native_filters=$(sed -n '/^\[\[filters\]\]/,/^# A local copy/p' pipelines/mqtt.toml | sed '$d')
cat > "$work/native.toml" <<TOML
$(corpus_input "$work/corpus.log")

$native_filters

[outputs.sink]
type = "file"
path = "/dev/null"
TOML

measure() {
  local name=$1 config=$2 run=$3
  rm -rf "$work/data"
  (cd "$work" && /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$binary" run --once --no-api -c "$config" >/dev/null 2>"$work/stderr") \
    || { cat "$work/stderr"; exit 1; }
  read -r user sys wall rss < "$work/time"
  python3 - "$name" "$user" "$sys" "$wall" "$rss" "$lines" "$run" <<'PY'
import sys
name = sys.argv[1]
user, sys_, wall, rss, n, run = map(float, sys.argv[2:])
cpu = (user + sys_) / n * 1e6
print(f"{name:<14} run {int(run)}: {cpu:.2f} us CPU/event, {n / wall / 1000:.0f}k events/s, peak RSS {rss / 1024:.1f} MiB")
PY
}

for run in $(seq 1 "$runs"); do
  measure ".conf" "$work/seed.conf" "$run"
  measure "converted" "$work/converted.toml" "$run"
  measure "native toml" "$work/native.toml" "$run"
done
