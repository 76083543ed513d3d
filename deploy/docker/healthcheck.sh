#!/bin/bash
# Container health check without curl: GET /health on sluice's monitoring API through
# bash's /dev/tcp; healthy only on a 200 answer. SLUICE_HEALTH_ADDRESS (host:port, default
# 127.0.0.1:9600) must match the pipeline's `[api] address` port.
set -euo pipefail
address="${SLUICE_HEALTH_ADDRESS:-127.0.0.1:9600}"
host="${address%:*}"
port="${address##*:}"
if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  echo "sluice monitoring API not reachable on ${address}" >&2
  exit 1
fi
printf 'GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "${host}" >&3
status=""
IFS= read -r -t 4 status <&3 || true
case "${status}" in
  "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "sluice /health on ${address} answered: ${status:-nothing}" >&2
exit 1
