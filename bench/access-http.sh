#!/usr/bin/env bash
# Throughput of POST /v1/access/check over loopback HTTP (issue 9: ≥ 20,000 decisions/s on this
# 2-core machine), with GET /healthz under the same wrk settings as the same-run baseline.
#   - tillit access generate: a model of the benchmark's shape scaled to USERS users
#     (10 assignments, 0.2 roles and 2 rights per user; inheritance depth 5)
#   - tillit access import (offline), tillit admin bootstrap, tillit serve (release build)
#   - wrk -t$THREADS -c$CONNECTIONS -d${SECONDS}s, once on /healthz, once on /v1/access/check
#     with one fixed check body (the first generated check that is allowed: a decision through
#     an inheritance path with a restriction), RUST_LOG=warn for both
# Note: wrk runs on the same 2 cores as the server, so both figures include its cost.
#
# Usage: bench/access-http.sh [USERS [SECONDS]]   (default 10000 users, 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-10000}"
secs="${2:-10}"
threads="${THREADS:-2}"
conns="${CONNECTIONS:-64}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
root=$PWD

cargo build --release -p tillit --quiet
bin="$CARGO_TARGET_DIR/release/tillit"
work=$(mktemp -d)
server=""
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export RUST_LOG=warn

"$bin" access generate --users "$users" --out model.json --checks checks.jsonl --count 200 >/dev/null
ls -l model.json | awk '{ printf "model: %.1f MB\n", $5 / 1e6 }'
/usr/bin/time -f "import: %e s, %M KiB max RSS" "$bin" access import model.json
token=$("$bin" admin bootstrap | awk '/tillit_/ { print $1 }')

# The first allowed generated check (asked offline, exit 0 = allowed).
body=""
while IFS= read -r line; do
  user=$(printf '%s' "$line" | sed -n 's/.*"user":"\([^"]*\)".*/\1/p')
  right=$(printf '%s' "$line" | sed -n 's/.*"right":"\([^"]*\)".*/\1/p')
  kind=$(printf '%s' "$line" | sed -n 's/.*"scope":{"kind":"\([^"]*\)".*/\1/p')
  id=$(printf '%s' "$line" | sed -n 's/.*"scope":{"kind":"[^"]*","id":"\([^"]*\)".*/\1/p')
  args=(--user "$user" --right "$right")
  if [ -n "$kind" ]; then args+=(--scope-kind "$kind" --scope-id "$id"); fi
  if "$bin" access check "${args[@]}" --at 2025-06-02T10:00:00Z --loa high >/dev/null; then
    body=$(printf '{"user":"%s","right":"%s","loa":"high","at":"2025-06-02T10:00:00Z"%s}' "$user" "$right" \
      "$( [ -n "$kind" ] && printf ',"scope":{"kind":"%s","id":"%s"}' "$kind" "$id")")
    break
  fi
done < checks.jsonl
[ -n "$body" ] || { echo "no allowed check among the generated ones" >&2; exit 1; }
echo "check body: $body"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TILLIT_LISTEN="127.0.0.1:$port" "$bin" serve >serve.log 2>&1 &
server=$!
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
  sleep 0.1
done
url="http://127.0.0.1:$port"
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" "$url/v1/access/check"; echo
# Warm-up (model compiled into the cache, connections, allocator).
BODY="$body" TOKEN="$token" wrk -t"$threads" -c"$conns" -d2s -s "$root/bench/access-check.lua" "$url/v1/access/check" >/dev/null

rps() { awk '/^Requests\/sec/ { printf "%.0f", $2 }'; }
echo "wrk -t$threads -c$conns -d${secs}s"
health=$(wrk -t"$threads" -c"$conns" -d"${secs}s" "$url/healthz" | tee healthz.txt | rps)
check=$(BODY="$body" TOKEN="$token" wrk -t"$threads" -c"$conns" -d"${secs}s" -s "$root/bench/access-check.lua" "$url/v1/access/check" | tee check.txt | rps)
grep -E 'Latency|status' healthz.txt check.txt || true
echo "GET /healthz:           $health requests/s"
echo "POST /v1/access/check:  $check decisions/s"
awk -v a="$check" -v b="$health" 'BEGIN { printf "ratio decisions/healthz: %.2f\n", a / b }'
ps -o rss= -p "$server" | awk '{ printf "server RSS: %.0f MiB\n", $1 / 1024 }'
