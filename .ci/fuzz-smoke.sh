#!/usr/bin/env bash
# Fuzz smoke run: build every cargo-fuzz target once, run each for FUZZ_SECONDS (default 20),
# fail when any target finds a crash (panic, overflow, OOM, timeout).
#
# Only the stable toolchain is installed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its
# nightly-only flags. Seeds come from ../shared/testdata (TILLIT_TESTDATA) into a temporary
# corpus, so the repository is never written to. Crash inputs are kept in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
testdata="${TILLIT_TESTDATA:-$root/../shared/testdata}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# Extra cargo-fuzz build flags, e.g. FUZZ_FLAGS="--sanitizer none" for a faster build
# (the targets are safe Rust; AddressSanitizer, the default, also watches the C code of aws-lc).
read -r -a target_dir <<<"${FUZZ_FLAGS:-}"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  target_dir+=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi

cd fuzz
targets=$(cargo fuzz list)
echo "fuzz targets: $(echo $targets)"
cargo fuzz build "${target_dir[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Seeds: the public vectors, one file per input.
if [ -d "$testdata" ] && command -v python3 >/dev/null; then
  python3 - "$testdata" "$work" <<'EOF'
import glob, json, os, sys
data, work = sys.argv[1], sys.argv[2]
def put(target, name, content):
    os.makedirs(f"{work}/{target}", exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    open(f"{work}/{target}/{name}", "wb").write(content)
for i, f in enumerate(sorted(glob.glob(f"{data}/dcc/**/*.json", recursive=True))):
    try:
        case = json.load(open(f))
    except Exception:
        continue
    if case.get("PREFIX"):
        put("qr", f"prefix-{i}", case["PREFIX"][4:])
        put("base45", f"dcc-{i}", case["PREFIX"][4:])
    if case.get("COSE"):
        try:
            put("qr", f"cose-{i}", bytes.fromhex(case["COSE"]))
        except ValueError:
            pass
    cert = (case.get("TESTCTX") or {}).get("CERTIFICATE")
    if cert:
        put("x509", f"dcc-{i}", cert)
try:
    b45 = json.load(open(f"{data}/base45/rfc9285.json"))
    for i, c in enumerate(b45.get("valid", []) + b45.get("invalid", [])):
        put("base45", f"rfc-{i}", c["base45"])
except Exception:
    pass
for f in sorted(glob.glob(f"{data}/status-list/*.md")):
    text = open(f).read()
    name = os.path.basename(f)
    compact = "".join(text.split())
    if compact.startswith("ey"):
        put("status_list", name, compact)
        put("jws", name, compact)
    elif all(c in "0123456789abcdef" for c in compact):
        put("status_list", name, bytes.fromhex(compact))
    elif "{" in text:
        put("status_list", name, text[text.index("{"):])
EOF
fi
# The seed's worked examples of access-management documents (in this repository).
mkdir -p "$work/access_document"
cp "$root"/crates/access/examples/* "$work/access_document/" 2>/dev/null || true

failed=()
for t in $targets; do
  mkdir -p "$work/$t" "artifacts/$t"
  extra=()
  [ -d "corpus/$t" ] && extra=("corpus/$t")
  echo "=== fuzz $t (${seconds}s)"
  if ! cargo fuzz run "${target_dir[@]}" "$t" "$work/$t" "${extra[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log"
    failed+=("$t")
  else
    grep -E '^(stat::number_of_executed_units|#[0-9]+ *DONE)' "$work/$t.log" | tail -2 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke FAILED: ${failed[*]} (reproducers in fuzz/artifacts/<target>/)"
  exit 1
fi
echo "fuzz smoke passed: $(echo $targets)"
