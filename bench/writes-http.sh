#!/usr/bin/env bash
# Audited writes per second over loopback HTTP (issue 12, item 2; docs/benchmarks.md):
#   - writes: organisation creations (POST /v1/orgs: one row and its audit entry) and attestation
#     issuance (POST /v1/orgs/{org}/attestations: status-list index, register row, SD-JWT VC and
#     TL1 QR — two ES256 signatures — and the audit entry), each with wrk for SECONDS
#   - SQLite (synchronous=FULL) with group commit, and the same runs with group commit switched
#     off (SQLITE_GROUP_COMMIT_UNITS=1: one transaction and one fsync per write) as the
#     same-run baseline
#   - PostgreSQL on a throwaway cluster started here with durable settings (fsync=on,
#     synchronous_commit=on, full_page_writes=on — not the CI cluster, which runs fsync=off), with
#     1 and with 2 `tillit serve` instances (two wrk processes, one per instance, half the
#     connections each); baseline in the same run: pgbench's rate of single-row
#     INSERT + COMMIT transactions on the same cluster with the same number of connections
#   - every figure counts only runs where every response was 2xx (else the script says so)
# wrk runs on the same two cores as the servers (and PostgreSQL), so every figure includes its cost.
#
# Usage: bench/writes-http.sh [SECONDS]   (default 10; THREADS=2 CONNECTIONS=64;
#        BACKENDS="sqlite postgres"; BENCH_BIN=path/to/tillit skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
threads="${THREADS:-2}"
conns="${CONNECTIONS:-64}"
backends="${BACKENDS:-sqlite postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
root=$PWD
if [ -n "${BENCH_BIN:-}" ]; then
  bin="$BENCH_BIN"
else
  cargo build --release -p tillit --quiet
  bin="$CARGO_TARGET_DIR/release/tillit"
fi
work=$(mktemp -d)
chmod 755 "$work"
servers=()
pg_bindir=""
pg_data=""
as_pg=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_data" ]; then "${as_pg[@]}" "$pg_bindir/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export RUST_LOG=warn
master_key=$(openssl rand -hex 32)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME [ENV=VALUE...] → sets $url (and $token on a first start)
start_server() {
  local name=$1; shift
  local port dir
  port=$(free_port)
  dir="$work/$name"
  mkdir -p "$dir"
  (cd "$dir" && exec env TILLIT_LISTEN="127.0.0.1:$port" TILLIT_MASTER_KEY="$master_key" "$@" "$bin" serve >serve.out 2>serve.err) &
  servers+=($!)
  url="http://127.0.0.1:$port"
  for _ in $(seq 200); do
    curl -sf "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "$url/healthz" >/dev/null || { echo "server $name did not start" >&2; cat "$dir/serve.err" >&2; exit 1; }
  local t
  t=$(grep -o 'tillit_[A-Za-z0-9_-]*' "$dir/serve.out" | head -1 || true)
  if [ -n "$t" ]; then token=$t; fi
}

stop_servers() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  servers=()
}

# setup_org URL → sets $org (an organisation with the parking-permit type) and $permit (a body)
setup_org() {
  local base=$1
  org=$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Ankeborgs kommun","country":"SE","organisation_number":"2120000142"}' \
    "$base/v1/orgs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' -o /dev/null -d '{
    "slug": "parking-permit",
    "definition": {
      "display": {"sv": "Parkeringstillstånd", "en": "Parking permit"},
      "claims_schema": {"type": "object", "required": ["plate", "zone"],
        "properties": {"plate": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                       "zone": {"type": "string", "enum": ["A", "B", "C"]},
                       "holder": {"type": "string", "maxLength": 100}},
        "additionalProperties": false},
      "disclosable": ["holder"],
      "default_validity_days": 365,
      "formats": ["sd-jwt-vc", "qr"],
      "card_fields": ["plate", "zone"]
    }}' "$base/v1/orgs/$org/types"
  permit='{"type":"parking-permit","claims":{"plate":"ABC12D","zone":"B","holder":"Kalle Anka"}}'
  # The first issuance creates the organisation's issuer key.
  curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' -o /dev/null \
    -d "$permit" "$base/v1/orgs/$org/attestations"
}

echo 0 >"$work/org_base"
# wrk_writes KIND C URL... → one wrk per URL at once (C connections each), prints the summed
# requests/s; exits 1 if any response was not 2xx.
wrk_writes() {
  local kind=$1 c=$2; shift 2
  local pids=() i=0 out t
  t=$(( threads < c ? threads : c ))
  for u in "$@"; do
    i=$((i + 1))
    out="$work/wrk.$kind.$i"
    org_base=$(( $(cat "$work/org_base") + 1000000 ))
    echo "$org_base" >"$work/org_base"
    if [ "$kind" = orgs ]; then
      TOKEN="$token" ORG_BASE="$org_base" wrk -t"$t" -c"$c" -d"${secs}s" -s "$root/bench/org-create.lua" "$u/v1/orgs" >"$out" &
    else
      BODY="$permit" TOKEN="$token" wrk -t"$t" -c"$c" -d"${secs}s" -s "$root/bench/access-check.lua" "$u/v1/orgs/$org/attestations" >"$out" &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local total=0 bad=0
  for j in $(seq 1 "$i"); do
    out="$work/wrk.$kind.$j"
    total=$(awk -v t="$total" '/^Requests\/sec/ { t += $2 } END { printf "%.0f", t }' "$out")
    bad=$((bad + $(awk '/Non-2xx/ { n += $NF } END { print n + 0 }' "$out")))
    grep -E 'Latency' "$out" | sed "s/^/    $kind $j: /" >&2
  done
  if [ "$bad" != 0 ]; then echo "  $bad responses were not 2xx:" >&2; grep -h status "$work"/wrk.$kind.* >&2; fi
  echo "$total"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
rows=()
row() { rows+=("$(printf '| %-52s | %10s | %10s | %6s |' "$1" "$2" "$3" "$4")"); }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tillit: $("$bin" --version); wrk -t$threads -c$conns -d${secs}s"

if [[ " $backends " == *" sqlite "* ]]; then
  declare -A sq
  for mode in grouped single; do
    env_mode=()
    [ "$mode" = single ] && env_mode=(SQLITE_GROUP_COMMIT_UNITS=1)
    start_server "sqlite-$mode" TILLIT_DATA_DIR="$work/sqlite-$mode/data" "${env_mode[@]}"
    setup_org "$url"
    # Warm-up: connections, caches, the allocator.
    wrk_writes orgs "$conns" "$url" >/dev/null 2>&1 || true
    echo "SQLite ($mode):" >&2
    sq[$mode.orgs]=$(wrk_writes orgs "$conns" "$url")
    sq[$mode.att]=$(wrk_writes att "$conns" "$url")
    stop_servers
  done
  row "SQLite: organisation creations, group commit" "${sq[grouped.orgs]}" "${sq[single.orgs]}" "$(ratio "${sq[grouped.orgs]}" "${sq[single.orgs]}")"
  row "SQLite: attestation issuance, group commit" "${sq[grouped.att]}" "${sq[single.att]}" "$(ratio "${sq[grouped.att]}" "${sq[single.att]}")"
fi

if [[ " $backends " == *" postgres "* ]]; then
  pg_bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_data="$work/pg/data"
  mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg"; as_pg=(runuser -u postgres --); fi
  pg_port=$(free_port)
  "${as_pg[@]}" "$pg_bindir/initdb" -D "$pg_data" -U tillit -A trust -E UTF8 --no-locale >/dev/null
  "${as_pg[@]}" "$pg_bindir/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w -t 60 -o \
    "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200" \
    start >/dev/null
  pg="postgres://tillit@127.0.0.1:$pg_port/postgres"
  echo "PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}'): $("$pg_bindir/psql" "$pg" -Atc "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')")" >&2
  # Baseline: single-row INSERT + COMMIT transactions, same connections.
  "$pg_bindir/psql" "$pg" -qc "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, body text NOT NULL)"
  echo "INSERT INTO bench_raw (body) VALUES ('{\"name\":\"Kommune\",\"country\":\"DK\"}');" >"$work/raw.sql"
  raw=$("$pg_bindir/pgbench" -n -f "$work/raw.sql" -c "$conns" -j "$threads" -T "$secs" "$pg" 2>/dev/null |
    awk '/^tps/ { printf "%.0f", $3 }')
  declare -A pgr
  for n in 1 2; do
    db="tillit$n"
    "$pg_bindir/psql" "$pg" -qc "CREATE DATABASE $db"
    urls=()
    token=""
    for i in $(seq 1 "$n"); do
      start_server "pg$n-$i" TILLIT_DATABASE_URL="postgres://tillit@127.0.0.1:$pg_port/$db"
      urls+=("$url")
    done
    setup_org "${urls[0]}"
    wrk_writes orgs "$((conns / n))" "${urls[@]}" >/dev/null 2>&1 || true
    echo "PostgreSQL, $n instance(s):" >&2
    pgr[$n.orgs]=$(wrk_writes orgs "$((conns / n))" "${urls[@]}")
    pgr[$n.att]=$(wrk_writes att "$((conns / n))" "${urls[@]}")
    stop_servers
  done
  row "PostgreSQL durable, raw INSERT+COMMIT (pgbench)" "$raw" "$raw" "1.00"
  for n in 1 2; do
    row "PostgreSQL durable, $n instance(s): organisation creations" "${pgr[$n.orgs]}" "$raw" "$(ratio "${pgr[$n.orgs]}" "$raw")"
    row "PostgreSQL durable, $n instance(s): attestation issuance" "${pgr[$n.att]}" "$raw" "$(ratio "${pgr[$n.att]}" "$raw")"
  done
  row "PostgreSQL: 2 instances / 1 instance, organisations" "${pgr[2.orgs]}" "${pgr[1.orgs]}" "$(ratio "${pgr[2.orgs]}" "${pgr[1.orgs]}")"
  row "PostgreSQL: 2 instances / 1 instance, attestations" "${pgr[2.att]}" "${pgr[1.att]}" "$(ratio "${pgr[2.att]}" "${pgr[1.att]}")"
fi

echo
printf '| %-52s | %10s | %10s | %6s |\n' "measurement" "writes/s" "baseline" "ratio"
printf '%s\n' "${rows[@]}"
