#!/usr/bin/env bash
# Whole-process benchmarks of `tillit`, each as a ratio to OpenSSL's raw P-256 rate measured in
# the same run (docs/benchmarks.md explains the method):
#   - openssl speed -seconds 3 ecdsap256           → sign/s and verify/s (per user-CPU second)
#   - tillit issue --count N (TL1 QR and SD-JWT VC) → issuance/s, goal ≥ 0.7 of OpenSSL sign/s
#   - tillit verify --batch --threads 1 on those N  → verification/s, goal ≥ 0.85 of OpenSSL verify/s
# Rates are per user+system CPU second of the whole tillit process (start-up, reading, JSON output
# included), because that is what `openssl speed` reports too (user CPU time) and because wall time
# swings with other load on a shared machine. Wall-clock rates are printed beside them.
#
# Each ratio is the median over ROUNDS rounds (default 3), each round taking its own OpenSSL
# baseline just before the Tillit measurements.
#
# Usage: bench/run.sh [N [ROUNDS]]   (default N=20000, ROUNDS=3; BENCH_N, BENCH_ROUNDS also work)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-${BENCH_N:-20000}}"
rounds="${2:-${BENCH_ROUNDS:-3}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build --release -p tillit --quiet
bin="$CARGO_TARGET_DIR/release/tillit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" keys generate --alg ES256 --out "$work/issuer.jwk" >/dev/null 2>&1
cat >"$work/claims.json" <<'EOF'
{"sub": "198112289874", "given_name": "Kalle", "family_name": "Anka",
 "licence": "hunting", "area": {"county": "Dalarna", "municipality": "Ankeborg"}, "valid_species": ["moose", "deer"]}
EOF
vct="https://ankeborg.se/vct/jaktkort"

# cpu_rate COUNT TIMEFILE → COUNT / (user+sys seconds); wall_of TIMEFILE → elapsed seconds
cpu_seconds() { awk '{ printf "%.3f", $1 + $2 }' "$1"; }
wall_seconds() { awk '{ printf "%.3f", $3 }' "$1"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print 0 }'; }
timed() { # timed NAME cmd... ; stdout → $work/NAME.out, stderr → $work/NAME.err, times → $work/NAME.time
  local name=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || true
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openssl: $(openssl version)"
echo "tillit:  $("$bin" --version), N=$n, rounds=$rounds"

# One round: the OpenSSL baseline, then the four Tillit measurements right after it, so that each
# ratio compares figures taken within seconds of each other. Rounds are repeated and the median
# ratio is reported, because a shared machine's speed drifts by several percent within a minute.
for round in $(seq 1 "$rounds"); do
  # 1. OpenSSL baseline (its own user-CPU based rates).
  openssl speed -seconds 3 ecdsap256 >"$work/openssl.out" 2>/dev/null
  line=$(grep -E 'ecdsa \(nistp256\)' "$work/openssl.out" | tail -1)
  echo "$line" | awk '{ print $(NF-1) }' >"$work/r$round.ossl_sign"
  echo "$line" | awk '{ print $NF }' >"$work/r$round.ossl_verify"

  # 2. Issuance: N credentials in one process each (keys loaded once, one signature each).
  timed issue_qr "$bin" issue --key "$work/issuer.jwk" --type "$vct" --claims "$work/claims.json" --format qr --count "$n"
  timed issue_sd "$bin" issue --key "$work/issuer.jwk" --type "$vct" --claims "$work/claims.json" --format sd-jwt-vc \
    --sd given_name --sd family_name --sd area.municipality --count "$n"

  # 3. Verification: one thread, the N credentials just issued.
  timed verify_qr "$bin" verify --cert "$work/issuer.jwk" --batch "$work/issue_qr.out" --threads 1
  timed verify_sd "$bin" verify --cert "$work/issuer.jwk" --batch "$work/issue_sd.out" --threads 1

  for v in verify_qr verify_sd; do
    valid=$(tail -1 "$work/$v.out" | sed -n 's/.*"valid":\([0-9]*\).*/\1/p')
    if [ "$valid" != "$n" ]; then
      echo "error: $v: only ${valid:-0} of $n credentials verified"; tail -3 "$work/$v.out"; cat "$work/$v.err"; exit 1
    fi
  done
  for m in issue_qr issue_sd verify_qr verify_sd; do
    cp "$work/$m.time" "$work/r$round.$m.time"
  done
  echo "round $round of $rounds done"
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

printf '\n%-28s %12s %12s %8s %12s %6s\n' "measurement (median)" "per CPU s" "per wall s" "ratio" "ratio range" "goal"
ossl_sign=$(cat "$work"/r*.ossl_sign | median)
ossl_verify=$(cat "$work"/r*.ossl_verify | median)
printf '%-28s %12s %12s %8s %12s %6s\n' "openssl ecdsap256 sign" "$ossl_sign" "" "1.00" "" ""
printf '%-28s %12s %12s %8s %12s %6s\n' "openssl ecdsap256 verify" "$ossl_verify" "" "1.00" "" ""
status=0
row() { # row LABEL NAME BASELINE(sign|verify) GOAL
  local cpu wall r range
  for round in $(seq 1 "$rounds"); do
    local c b
    c=$(rate "$n" "$(cpu_seconds "$work/r$round.$2.time")")
    b=$(cat "$work/r$round.ossl_$3")
    echo "$c" >>"$work/$2.cpu"
    echo "$(rate "$n" "$(wall_seconds "$work/r$round.$2.time")")" >>"$work/$2.wall"
    echo "$(ratio "$c" "$b")" >>"$work/$2.ratio"
  done
  cpu=$(median <"$work/$2.cpu")
  wall=$(median <"$work/$2.wall")
  r=$(median <"$work/$2.ratio")
  range=$(minmax <"$work/$2.ratio")
  printf '%-28s %12s %12s %8s %12s %6s\n' "$1" "$cpu" "$wall" "$r" "$range" "≥$4"
  awk -v r="$r" -v g="$4" 'BEGIN { exit !(r >= g) }' || status=1
}
row "tillit issue TL1 QR" issue_qr sign 0.7
row "tillit issue SD-JWT VC" issue_sd sign 0.7
row "tillit verify TL1 QR" verify_qr verify 0.85
row "tillit verify SD-JWT VC" verify_sd verify 0.85
echo
echo "in-process figures of the last round (wall clock, from tillit itself):"
echo "  issue TL1:     $(cat "$work/issue_qr.err")"
echo "  issue SD-JWT:  $(cat "$work/issue_sd.err")"
echo "  verify TL1:    $(tail -1 "$work/verify_qr.out")"
echo "  verify SD-JWT: $(tail -1 "$work/verify_sd.out")"
echo "  sizes: TL1 $(head -1 "$work/issue_qr.out" | wc -c) chars, SD-JWT VC $(head -1 "$work/issue_sd.out" | wc -c) chars"
exit $status
