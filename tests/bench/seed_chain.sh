#!/usr/bin/env bash
# The seed chain on a 300,000-line corpus: file input (--once) -> json, date, severity,
# topic_split, slow_operation, security_flag -> file output to /dev/null. Prints CPU per
# event (user + system of the whole process), events per second (wall) and peak RSS for
# each run, from GNU time.
#
#   bash tests/bench/seed_chain.sh [BINARY] [RUNS]      # default target/release/sluice, 3
#   SLUICE_BENCH_SCRIPT=1 ...                           # adds a Rhai script filter
#   SLUICE_BENCH_IDLE=1 ...                             # idle RSS: empty directory, API on
#   SLUICE_BENCH_QUEUE=batch|interval|never ...         # the disk queue with that fsync
#                                                       # (in the work directory under $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-target/release/sluice}")
runs=${2:-3}
lines=300000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The bundled sample repeated (tests/bench/corpus.sh).
source tests/bench/corpus.sh
write_corpus "$work/corpus.log" "$lines"

filters=$(sed -n '/^\[\[filters\]\]/,/^# A local copy/p' pipelines/mqtt.toml | sed '$d')
script=""
if [ "${SLUICE_BENCH_SCRIPT:-}" = 1 ]; then
  script=$'[[filters]]\ntype = "script"\nif = \'[fields][service] == "mqtt"\'\nsource = \'if event.durationMs != () && event.durationMs > 500 { event.tag("slowish"); }\''
fi

queue=""
if [ -n "${SLUICE_BENCH_QUEUE:-}" ]; then
  queue=$'[pipeline.queue]\ntype = "disk"\nfsync = "'"$SLUICE_BENCH_QUEUE"'"'
fi

if [ "${SLUICE_BENCH_IDLE:-}" = 1 ]; then
  mkdir -p "$work/empty"
  cat > "$work/idle.toml" <<TOML
data_dir = "$work/data-idle"
[inputs.app]
type = "file"
paths = ["$work/empty/*.log"]
[outputs.sink]
type = "null"
TOML
  "$binary" run -c "$work/idle.toml" --api-address 127.0.0.1:0 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    grep -q "^VmHWM" /proc/$pid/status 2>/dev/null && break
    sleep 0.1
  done
  sleep 3   # let it settle: idle means after start-up
  grep -E "VmHWM|VmRSS" /proc/$pid/status
  kill -TERM $pid; wait $pid || true
  exit 0
fi

for run in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  cat > "$work/seed.toml" <<TOML
data_dir = "$work/data"
$queue
$(corpus_input "$work/corpus.log")

$filters
$script

[outputs.sink]
type = "file"
path = "/dev/null"
TOML
  /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$binary" run --once --no-api -c "$work/seed.toml" >/dev/null 2>"$work/stderr" \
    || { cat "$work/stderr"; exit 1; }
  read -r user sys wall rss < "$work/time"
  python3 - "$user" "$sys" "$wall" "$rss" "$lines" "$run" <<'PY'
import sys
user, sys_, wall, rss, n, run = map(float, sys.argv[1:])
cpu = (user + sys_) / n * 1e6
print(f"run {int(run)}: {cpu:.2f} us CPU/event, {n / wall / 1000:.0f}k events/s, peak RSS {rss / 1024:.1f} MiB")
PY
done
