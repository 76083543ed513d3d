# Sourced by the benchmark scripts: the seed chain's corpus and the file input that reads it.
# The corpus is the bundled sample (winston's StructuredMQTTLogger output, 333 lines) repeated
# to N lines, so that every benchmark reads the same bytes.
#
#   write_corpus DEST LINES
write_corpus() {
  python3 - pipelines/sample/mqtt-client.log "$1" "$2" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [l for l in open(src, encoding="utf-8").read().splitlines() if l.strip()]
with open(dst, "w", encoding="utf-8") as out:
    for i in range(n):
        out.write(lines[i % len(lines)] + "\n")
PY
}

# The file input every benchmark reads its corpus with (the seed pipeline's `fields`).
#
#   corpus_input CORPUS
corpus_input() {
  printf '[inputs.mqtt_logs]\ntype = "file"\npaths = ["%s"]\nfields = { service = "mqtt" }\n' "$1"
}
