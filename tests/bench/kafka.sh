#!/usr/bin/env bash
# Kafka against the file input on the seed chain's 300,000-line corpus, with a real Apache
# Kafka 4.1 broker (the peer of the Kafka tests, tests/peers/kafka). Per round, four cases:
#
#   file  -> seed chain -> null   the baseline (file input --once, as seed_chain.sh)
#   file  -> null                 the file input alone, the baseline of file -> kafka
#   file  -> kafka                the shipper tier (pipelines/kafka-shipper.toml: zstd,
#                                 idempotent producer, acks = all), --once, into a topic of
#                                 4 partitions (no key: the lines spread over partitions)
#   file  -> seed chain -> kafka  the chain at the edge, into the same kind of topic
#   file  -> kafka (mock broker)  file -> kafka against librdkafka's own mock cluster, a
#                                 broker inside the sluice process (`test.mock.num.brokers`):
#                                 the output without the JVM broker's round trips (not in
#                                 the default cases: SLUICE_BENCH_CASES='... file-mock')
#   kafka -> seed chain -> null   the ingest tier (pipelines/kafka-ingest.toml's chain), a
#                                 fresh consumer group reading the first run's topic
#   kafka -> null                 the Kafka input alone, same topic, another fresh group
#
# The Kafka input never ends: it is stopped with SIGTERM once the pipeline's
# `sluice_events_out_total{component_id="outputs"}` on /metrics reaches 300,000, and its
# events/s are timed from the first event out to the last. CPU (user + system of the whole
# sluice process, start-up and shutdown included) and peak RSS come from GNU time; the
# broker's CPU for the case (from /proc) is printed beside it.
#
#   bash tests/bench/kafka.sh [BINARY[:BINARY...]] [RUNS]   # default target/release/sluice, 3
#                                 # several binaries (before:after): each case runs with each
#                                 # in turn (A B A B ...), labelled by position
#   SLUICE_BENCH_PIPELINE='batch_size = 512' ...  # a [pipeline] table in every case
#   SLUICE_BENCH_KAFKA_OUTPUT='max_in_flight_events = 20000' ...  # added to the kafka output
#   SLUICE_BENCH_KAFKA_INPUT='librdkafka = { "queued.max.messages.kbytes" = "8192" }' ...
#   SLUICE_BENCH_PIN=1 ...        # the broker on CPU 0, sluice on CPU 1 (taskset): whether
#                                 # Kafka is the bottleneck when it does not share sluice's core
#   SLUICE_BENCH_TOOL='valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p' ...
#                                 # sluice run under a tool (instruction counts: use
#                                 # SLUICE_BENCH_LINES=30000; the CPU column is then the tool's)
#   SLUICE_BENCH_CASES='kafka-seed file-seed' ...  # only these cases (the topic is still
#                                 # written by file -> kafka with the first binary)
#
# Needs Java 17 and Maven (the broker is built as the tests build it, into
# target/tmp/kafka-broker/build, unless the tests already did). The broker runs with the
# JVM's default JIT and without the tests' per-message flush, as a production broker would.
set -euo pipefail
cd "$(dirname "$0")/../.."
binaries=()
IFS=: read -r -a given <<<"${1:-target/release/sluice}"
for b in "${given[@]}"; do binaries+=("$(realpath "$b")"); done
runs=${2:-3}
cases=${SLUICE_BENCH_CASES:-file-seed file-null file-kafka file-seed-kafka kafka-seed kafka-none}
wanted() { [[ " $cases " == *" $1 "* ]]; }
lines=${SLUICE_BENCH_LINES:-300000}   # smaller only to try the script out
partitions=4
work=$(mktemp -d "${TMPDIR:-/tmp}/kafka-bench.XXXXXX")
broker_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true  # the broker halts when its standard input closes
  if [ -n "$broker_pid" ]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The bundled sample repeated (tests/bench/corpus.sh).
source tests/bench/corpus.sh
write_corpus "$work/corpus.log" "$lines"

# The broker's classpath: the tests' build if there is one, else Maven as the tests run it.
build=target/tmp/kafka-broker/build
if [ ! -d "$build/lib" ] || [ ! -d "$build/classes" ]; then
  build=target/tmp/kafka-bench/build
  if [ ! -d "$build/lib" ] || [ ! -d "$build/classes" ]; then
    echo "building the Kafka broker peer with Maven into $build" >&2
    mvn -q -B -f tests/peers/kafka/pom.xml "-Dpeer.build.dir=$(realpath -m "$build")" \
      package dependency:copy-dependencies >&2
  fi
fi
classpath="$(realpath "$build")/classes:$(realpath "$build")/lib/*"

# A small admin tool on kafka-clients: create a topic (waiting for its leaders), count one.
cat > "$work/BenchAdmin.java" <<'JAVA'
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.TopicPartition;
public class BenchAdmin {
    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", a[1]);
        try (Admin admin = Admin.create(p)) {
            if (a[0].equals("create")) {
                admin.createTopics(List.of(new NewTopic(a[2], Integer.parseInt(a[3]), (short) 1))).all().get();
                long deadline = System.currentTimeMillis() + 60_000;
                while (true) {
                    var d = admin.describeTopics(List.of(a[2])).allTopicNames().get().get(a[2]);
                    if (d.partitions().stream().allMatch(x -> x.leader() != null)) break;
                    if (System.currentTimeMillis() > deadline) throw new IllegalStateException("no leaders");
                    Thread.sleep(100);
                }
            } else {
                var d = admin.describeTopics(List.of(a[2])).allTopicNames().get().get(a[2]);
                Map<TopicPartition, OffsetSpec> q = new HashMap<>();
                for (var x : d.partitions()) q.put(new TopicPartition(a[2], x.partition()), OffsetSpec.latest());
                long n = 0;
                for (var r : admin.listOffsets(q).all().get().values()) n += r.offset();
                System.out.println(n);
            }
        }
    }
}
JAVA
javac -nowarn -cp "$classpath" -d "$work/admin" "$work/BenchAdmin.java"
admin() { java -cp "$work/admin:$classpath" BenchAdmin "$@"; }

read -r plain controller < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
bootstrap="127.0.0.1:$plain"
cat > "$work/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$plain
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$work/kafka-data
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
cluster_id=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')
java -cp "$classpath" kafka.tools.StorageTool format --cluster-id "$cluster_id" \
  -c "$work/server.properties" >/dev/null 2>"$work/format.log" || { cat "$work/format.log"; exit 1; }
mkfifo "$work/broker.stdin"
pin_broker=()
if [ -n "${SLUICE_BENCH_PIN:-}" ]; then pin_broker=(taskset -c 0); fi
"${pin_broker[@]}" java -Xms512m -Xmx1g -cp "$classpath" sluice.peer.KafkaBroker "$work/server.properties" \
  <"$work/broker.stdin" >/dev/null 2>"$work/broker.log" &
broker_pid=$!
exec 3>"$work/broker.stdin"
started=$(date +%s)
# Ready once a topic can be created (the admin client retries until the broker answers).
until admin create "$bootstrap" ready 1 >/dev/null 2>"$work/admin.log"; do
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; exit 1; }
  [ $(( $(date +%s) - started )) -lt 180 ] || { echo "broker not ready after 180 s" >&2; tail -50 "$work/broker.log" >&2; exit 1; }
  sleep 1
done
echo "broker $bootstrap ready after $(( $(date +%s) - started )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

pipeline=""
if [ -n "${SLUICE_BENCH_PIPELINE:-}" ]; then
  pipeline=$'[pipeline]\n'"$SLUICE_BENCH_PIPELINE"
fi
filters=$(sed -n '/^\[\[filters\]\]/,/^# A local copy/p' pipelines/mqtt.toml | sed '$d')

# Runs one case and prints its line. until_events = 0: the run ends by itself (--once);
# otherwise it is stopped with SIGTERM once the pipeline's outputs settled that many events.
measure() {
  local binary=$1 name=$2 config=$3 until_events=$4
  python3 - "$binary" "$config" "$until_events" "$lines" "$broker_pid" "$name" "$work/time" <<'PY'
import os, re, shlex, signal, socket, subprocess, sys, time, urllib.request
binary, config, until, n, broker, name, timefile = sys.argv[1:]
until, n = int(until), int(n)

def broker_cpu():
    fields = open(f"/proc/{broker}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

tool = shlex.split(os.environ.get("SLUICE_BENCH_TOOL", ""))
cmd = ["/usr/bin/time", "-f", "%U %S %e %M", "-o", timefile] + tool + [binary, "run", "-c", config]
if os.environ.get("SLUICE_BENCH_PIN"):
    cmd = ["taskset", "-c", "1"] + cmd
if until:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    cmd += ["--api-address", f"127.0.0.1:{port}"]
else:
    cmd += ["--once", "--no-api"]
broker_before = broker_cpu()
stderr = open(timefile + ".stderr", "w")
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
wall = None
if until:
    pattern = re.compile(r'^sluice_events_out_total\{[^}]*component_id="outputs"[^}]*\} (\S+)', re.M)
    first = done = None
    deadline = time.monotonic() + 1800
    while done is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"{name}: sluice exited or timed out before {until} events; see its stderr")
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            out = sum(float(m) for m in pattern.findall(body))
        except OSError:
            out = 0
        now = time.monotonic()
        if out > 0 and first is None:
            first = now
        if out >= until:
            done = now
        time.sleep(0.02)
    wall = done - first
    # GNU time waits for sluice: the signal goes to sluice itself, its only child.
    child = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
    os.kill(int(child[0]), signal.SIGTERM)
if proc.wait() != 0:
    sys.stderr.write(open(timefile + ".stderr").read()[-4000:])
    sys.exit(f"{name}: sluice failed")
broker_used = broker_cpu() - broker_before
user, sys_, elapsed, rss = map(float, open(timefile).read().split()[-4:])
wall = wall if wall else elapsed
print(f"{name:32} {(user + sys_) / n * 1e6:6.2f} us CPU/event, {n / wall / 1000:4.0f}k events/s, "
      f"peak RSS {rss / 1024:5.1f} MiB, broker {broker_used / n * 1e6:5.2f} us CPU/event")
PY
}

# Runs case $1 (label $2, config $3, until $4) with each binary in turn; the data directory
# and the consumer group (in the config, from $b) are fresh for each.
each_binary() {
  local case=$1 label=$2 config=$3 until_events=$4
  for b in "${!binaries[@]}"; do
    rm -rf "$work/data"
    local name=$label
    [ "${#binaries[@]}" -eq 1 ] || name="$label [$((b + 1))]"
    sed "s/@B@/$b/g" "$config" > "$work/$case-$b.toml"
    measure "${binaries[$b]}" "$name" "$work/$case-$b.toml" "$until_events"
  done
}

# The file -> kafka config into topic TOPIC, with the seed chain's FILTERS if given.
kafka_config() {
  cat <<TOML
data_dir = "$work/data/file-kafka"
$pipeline
$(corpus_input "$work/corpus.log")

${2:-}

[outputs.kafka]
type = "kafka"
bootstrap_servers = "$bootstrap"
topic = "$1"
compression = "zstd"
${SLUICE_BENCH_KAFKA_OUTPUT:-}
TOML
}

# A fresh JVM broker runs its first hundreds of thousands of requests interpreted or
# half-compiled: unwarmed, the first round's Kafka cases ran at about half the third's (file ->
# kafka pinned: 100k, 175k, 199k events/s in rounds 1-3). A broker in production has been up
# for days, so every case is measured against a warm one: the first binary writes the corpus
# into a topic of its own twice, and a consumer group reads it once, before round 1 (not
# reported). SLUICE_BENCH_WARMUP=0 skips it.
if [ "${SLUICE_BENCH_WARMUP:-1}" != 0 ]; then
  admin create "$bootstrap" warmup "$partitions" >/dev/null
  kafka_config warmup > "$work/warmup.toml"
  for _ in 1 2; do
    rm -rf "$work/data"
    "${binaries[0]}" run -c "$work/warmup.toml" --once --no-api >/dev/null 2>"$work/warmup.stderr" \
      || { cat "$work/warmup.stderr" >&2; exit 1; }
  done
  cat > "$work/warmup-read.toml" <<TOML
data_dir = "$work/data/warmup-read"
[inputs.kafka]
type = "kafka"
bootstrap_servers = "$bootstrap"
topics = ["warmup"]
group_id = "warmup"
auto_offset_reset = "earliest"
[outputs.sink]
type = "null"
TOML
  rm -rf "$work/data"
  measure "${binaries[0]}" warmup "$work/warmup-read.toml" $((2 * lines)) >/dev/null
  echo "broker warmed up ($(admin count "$bootstrap" warmup) messages written and read); load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi

for run in $(seq 1 "$runs"); do
  echo "round $run (load average $(cut -d' ' -f1-3 /proc/loadavg))"

  cat > "$work/file-seed.toml" <<TOML
data_dir = "$work/data/file-seed"
$pipeline
$(corpus_input "$work/corpus.log")

$filters

[outputs.sink]
type = "null"
TOML
  wanted file-seed && each_binary file-seed "file -> seed chain -> null" "$work/file-seed.toml" 0

  cat > "$work/file-null.toml" <<TOML
data_dir = "$work/data/file-null"
$pipeline
$(corpus_input "$work/corpus.log")

[outputs.sink]
type = "null"
TOML
  wanted file-null && each_binary file-null "file -> null" "$work/file-null.toml" 0

  # Each binary writes a topic of its own; the consumers read the first one.
  if wanted file-kafka; then
    for b in "${!binaries[@]}"; do
      admin create "$bootstrap" "bench-$run-$b" "$partitions" >/dev/null
    done
    kafka_config "bench-$run-@B@" > "$work/file-kafka.toml"
    each_binary file-kafka "file -> kafka" "$work/file-kafka.toml" 0
    for b in "${!binaries[@]}"; do
      in_topic=$(admin count "$bootstrap" "bench-$run-$b")
      [ "$in_topic" = "$lines" ] || { echo "topic bench-$run-$b holds $in_topic messages, not $lines" >&2; exit 1; }
    done
  elif [ "$run" = 1 ]; then
    admin create "$bootstrap" "bench-1-0" "$partitions" >/dev/null
    kafka_config "bench-1-0" > "$work/file-kafka.toml"
    rm -rf "$work/data"
    "${binaries[0]}" run -c "$work/file-kafka.toml" --once --no-api >/dev/null 2>"$work/file-kafka.stderr"
  fi
  if wanted file-seed-kafka; then
    for b in "${!binaries[@]}"; do
      admin create "$bootstrap" "bench-seed-$run-$b" "$partitions" >/dev/null
    done
    kafka_config "bench-seed-$run-@B@" "$filters" > "$work/file-seed-kafka.toml"
    each_binary file-seed-kafka "file -> seed chain -> kafka" "$work/file-seed-kafka.toml" 0
  fi
  if wanted file-mock; then
    # The mock cluster creates its topics on first use, with 4 partitions by default.
    { kafka_config "bench-mock"; echo 'librdkafka = { "test.mock.num.brokers" = "1" }'; } \
      > "$work/file-mock.toml"
    each_binary file-mock "file -> kafka (mock broker)" "$work/file-mock.toml" 0
  fi

  for chain in seed none; do
    wanted "kafka-$chain" || continue
    cat > "$work/kafka-$chain.toml" <<TOML
data_dir = "$work/data/kafka-$chain"
$pipeline
[inputs.kafka]
type = "kafka"
bootstrap_servers = "$bootstrap"
topics = ["bench-1-0"]
group_id = "bench-$chain-$run-@B@"
auto_offset_reset = "earliest"
codec = "json"
${SLUICE_BENCH_KAFKA_INPUT:-}

$([ "$chain" = seed ] && echo "$filters")

[outputs.sink]
type = "null"
TOML
    label="kafka -> seed chain -> null"
    [ "$chain" = seed ] || label="kafka -> null"
    each_binary "kafka-$chain" "$label" "$work/kafka-$chain.toml" "$lines"
  done
done
