#!/usr/bin/env bash
# Batch issuance end to end through the server (issue #8 item 3; docs/benchmarks.md):
#   - a release `tillit serve` (SQLite by default; BENCH_DATABASE_URL=postgres://… for PostgreSQL)
#   - N permits (default 10,000) uploaded over HTTP as JSON lines, then N as CSV, each permit
#     issued in both formats (SD-JWT VC and TL1 QR: two ES256 signatures), with validation,
#     status-list index, register row and audit entry
#   - the clock runs from the first byte of the upload to the job's `succeeded`
#   - rate in permits/s, and its ratio to OpenSSL's raw P-256 signing rate measured in the same run
#     (`openssl speed -seconds 3 ecdsap256`), counting two signatures per permit (goal ≥ 0.5)
#   - the server's peak RSS (VmHWM from /proc/<pid>/status) after both batches
#
# Usage: bench/batch.sh [N]   (BENCH_N also works; BENCH_BIN, BENCH_DATABASE_URL see below)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-${BENCH_N:-10000}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# BENCH_BIN=path/to/tillit measures that binary instead of a fresh release build.
if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  cargo build --release -p tillit --quiet
  bin="$CARGO_TARGET_DIR/release/tillit"
fi
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
(
  cd "$work"
  env ${BENCH_DATABASE_URL:+TILLIT_DATABASE_URL="$BENCH_DATABASE_URL"} \
    TILLIT_LISTEN="127.0.0.1:$port" RUST_LOG=warn "$bin" serve >"$work/serve.out" 2>"$work/serve.err"
) &
server=$!
for _ in $(seq 100); do
  grep -q "tillit_" "$work/serve.out" 2>/dev/null && curl -sf "$base/healthz" >/dev/null && break
  sleep 0.1
done
token=$(grep -o 'tillit_[A-Za-z0-9_-]*' "$work/serve.out" | head -1)
pid=$(pgrep -P "$server" -f "tillit serve" || echo "$server")
auth=(-H "Authorization: Bearer $token")

org=$(curl -sf "${auth[@]}" -H 'content-type: application/json' \
  -d '{"name":"Myndigheten för samhällsskydd och beredskap","country":"SE","organisation_number":"2021005489"}' \
  "$base/v1/orgs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf "${auth[@]}" -H 'content-type: application/json' -o /dev/null -d '{
  "slug": "travel-permit",
  "definition": {
    "display": {"sv": "Resetillstånd", "en": "Travel permit"},
    "claims_schema": {"type": "object", "required": ["name", "worker_id", "region"],
      "properties": {"name": {"type": "string", "maxLength": 100},
                     "worker_id": {"type": "string", "pattern": "^W[0-9]{6}$"},
                     "region": {"type": "string", "enum": ["Gävleborg", "Dalarna", "Jämtland"]}},
      "additionalProperties": false},
    "disclosable": ["name"],
    "default_validity_days": 30,
    "formats": ["sd-jwt-vc", "qr"],
    "card_fields": ["name", "worker_id", "region"]
  }}' "$base/v1/orgs/$org/types"

python3 - "$n" "$work" <<'EOF'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
regions = ["Gävleborg", "Dalarna", "Jämtland"]
with open(f"{work}/rows.ndjson", "w") as f:
    for i in range(n):
        f.write(json.dumps({"type": "travel-permit", "claims": {
            "name": f"Återställare {i}", "worker_id": f"W{i:06d}", "region": regions[i % 3]}},
            ensure_ascii=False) + "\n")
with open(f"{work}/rows.csv", "w") as f:
    f.write("name,worker_id,region\n")
    for i in range(n):
        f.write(f"Återställare {i},W{n + i:06d},{regions[i % 3]}\n")
EOF

now() { date +%s.%N; }
run_batch() { # run_batch FILE CONTENT-TYPE → prints seconds
  local file=$1 ct=$2 start id state
  start=$(now)
  id=$(curl -sf "${auth[@]}" -H "content-type: $ct" --data-binary "@$file" \
    "$base/v1/orgs/$org/attestations/batches?type=travel-permit" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    state=$(curl -sf "${auth[@]}" "$base/v1/orgs/$org/jobs/$id" |
      python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["progress"]["done"], j["progress"]["failed"])')
    case "$state" in
      succeeded*) break ;;
      failed*|cancelled*) echo "batch $id: $state" >&2; exit 1 ;;
    esac
    sleep 0.05
  done
  failed=$(echo "$state" | awk '{print $3}')
  [ "$failed" = 0 ] || { echo "batch $id: $failed rows failed" >&2; exit 1; }
  awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}

sign=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/^ *256 bits ecdsa/ { print $(NF-1) }')
t_ndjson=$(run_batch "$work/rows.ndjson" application/x-ndjson)
t_csv=$(run_batch "$work/rows.csv" text/csv)
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
registered=$(curl -sf "${auth[@]}" "$base/v1/orgs/$org/jobs?limit=10" | python3 -c 'import json,sys; print(sum(j["progress"]["done"] - j["progress"]["failed"] for j in json.load(sys.stdin)["items"]))')

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v r="$1" -v o="$2" 'BEGIN { printf "%.2f", 2 * r / o }'; }
r_ndjson=$(rate "$n" "$t_ndjson")
r_csv=$(rate "$n" "$t_csv")
echo "batch issuance, $n permits per batch, two signatures each (${BENCH_DATABASE_URL:+PostgreSQL}${BENCH_DATABASE_URL:-SQLite})"
printf '| %-28s | %10s | %10s | %8s |\n' measurement seconds "permits/s" "ratio"
printf '| %-28s | %10s | %10s | %8s |\n' "openssl ecdsap256 sign/s" "" "$sign" "1.00"
printf '| %-28s | %10s | %10s | %8s |\n' "batch, JSON lines" "$t_ndjson" "$r_ndjson" "$(ratio "$r_ndjson" "$sign")"
printf '| %-28s | %10s | %10s | %8s |\n' "batch, CSV" "$t_csv" "$r_csv" "$(ratio "$r_csv" "$sign")"
echo "issued: $registered; server peak RSS (VmHWM): $((hwm / 1024)) MiB"
