#!/usr/bin/env bash
# The seed chain into Elasticsearch, from a file or from Beats: CPU per event of the sluice
# process (user + system, GNU time), events per second (wall) and peak RSS, for each run.
# The node is a fake bulk node (a Python HTTP/1.1 server answering every `_bulk` item
# `201 created`, `/` as OpenSearch 2.19); the Beats client is a Python Lumberjack v2 client
# sending zlib-compressed windows of 2,048 Filebeat-shaped events, two windows in flight
# (Filebeat's `bulk_max_size` and `pipelining` defaults). Both run outside the measured
# process; only sluice's CPU is counted.
#
#   bash tests/bench/seed_es.sh [BINARY] [RUNS]        # file -> seed chain -> Elasticsearch
#   SLUICE_BENCH_INPUT=beats bash tests/bench/seed_es.sh ...  # Beats -> seed chain -> ES
#   SLUICE_BENCH_PIPELINE='batch_size = 1024' ...      # a [pipeline] table (lines, `;`-separated)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-target/release/sluice}")
runs=${2:-3}
input=${SLUICE_BENCH_INPUT:-file}
lines=300000
windows=100
work=$(mktemp -d)
node_pid=""
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The bundled sample repeated (tests/bench/corpus.sh).
source tests/bench/corpus.sh
write_corpus "$work/corpus.log" "$lines"

# The fake bulk node, on a free port written to $work/port.
cat > "$work/node.py" <<'PY'
import gzip, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = b'{"name":"bench","cluster_name":"bench","version":{"distribution":"opensearch","number":"2.19.6"}}'

class Node(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.split("?")[0].endswith("_bulk"):
            items = body.count(b"\n") // 2
            text = b'{"took":1,"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * items) + b"]}"
        else:
            text = ROOT if self.path == "/" else b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_HEAD = answer

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
PY
python3 "$work/node.py" "$work/port" &
node_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
node="http://127.0.0.1:$(cat "$work/port")"

# The Beats client: sends the windows, waits for every ACK, exits.
cat > "$work/client.py" <<'PY'
import json, socket, struct, sys, time, zlib, collections
port, corpus, windows = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
WINDOW = 2048
lines = open(corpus, encoding="utf-8").read().splitlines()
def window(first):
    frames = bytearray()
    for seq in range(1, WINDOW + 1):
        event = {
            "@timestamp": "2026-11-25T00:00:00.000Z",
            "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.1.3"},
            "message": lines[(first + seq) % len(lines)],
            "log": {"offset": (first + seq) * 360, "file": {"path": "/var/log/mqtt/mqtt-client.log"}},
            "input": {"type": "filestream"},
            "ecs": {"version": "8.0.0"},
            "host": {"name": "gw-01"},
            "agent": {"type": "filebeat", "version": "8.1.3", "name": "gw-01"},
            "fields": {"service": "mqtt"},
        }
        data = json.dumps(event, separators=(",", ":")).encode()
        frames += b"2J" + struct.pack(">II", seq, len(data)) + data
    compressed = zlib.compress(bytes(frames), 3)
    return b"2W" + struct.pack(">I", WINDOW) + b"2C" + struct.pack(">I", len(compressed)) + compressed
prepared = [window(i * WINDOW) for i in range(windows)]
for _ in range(600):
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        time.sleep(0.05)
started = time.monotonic()
pending = collections.deque()
def read_ack():
    data = b""
    while len(data) < 6:
        chunk = sock.recv(6 - len(data))
        if not chunk:
            sys.exit("connection closed")
        data += chunk
    assert data[:2] == b"2A", data
    return struct.unpack(">I", data[2:])[0]
for w in prepared:
    sock.sendall(w)
    pending.append(w)
    while len(pending) >= 2:
        if read_ack() == WINDOW:
            pending.popleft()
while pending:
    if read_ack() == WINDOW:
        pending.popleft()
print(time.monotonic() - started)
PY

filters=$(sed -n '/^\[\[filters\]\]/,/^# A local copy/p' pipelines/mqtt.toml | sed '$d')
pipeline=""
if [ -n "${SLUICE_BENCH_PIPELINE:-}" ]; then
  pipeline=$'[pipeline]\n'"${SLUICE_BENCH_PIPELINE//;/$'\n'}"
fi

for run in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  beats_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if [ "$input" = beats ]; then
    source_toml=$'[inputs.beats]\ntype = "beats"\naddress = "127.0.0.1:'"$beats_port"'"'
    events=$((windows * 2048))
  else
    source_toml=$(corpus_input "$work/corpus.log")
    events=$lines
  fi
  cat > "$work/seed.toml" <<TOML
data_dir = "$work/data"
$pipeline
$source_toml

$filters

[outputs.elasticsearch]
type = "elasticsearch"
hosts = ["$node"]
index = "mqtt-logs-%{+YYYY.MM.dd}"
TOML
  if [ "$input" = beats ]; then
    /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$binary" run --no-api -c "$work/seed.toml" >/dev/null 2>"$work/stderr" &
    sluice_pid=$!
    # Wall: from the connection to the last ACK (the client builds its windows first).
    wall=$(python3 "$work/client.py" "$beats_port" "$work/corpus.log" "$windows")
    # GNU time's child is sluice: signal it, not time.
    kill -TERM "$(pgrep -P "$sluice_pid")"
    wait "$sluice_pid" || true
    read -r user sys _ rss < "$work/time"
  else
    /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$binary" run --once --no-api -c "$work/seed.toml" >/dev/null 2>"$work/stderr" \
      || { cat "$work/stderr"; exit 1; }
    read -r user sys wall rss < "$work/time"
  fi
  python3 - "$user" "$sys" "$wall" "$rss" "$events" "$run" "$input" <<'PY'
import sys
user, sys_, wall, rss, n, run = map(float, sys.argv[1:7])
cpu = (user + sys_) / n * 1e6
print(f"{sys.argv[7]} run {int(run)}: {cpu:.2f} us CPU/event, {n / wall / 1000:.0f}k events/s, peak RSS {rss / 1024:.1f} MiB")
PY
done
