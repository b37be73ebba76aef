#!/usr/bin/env bash
# Interop: Python cbor2 + pycose decode and verify a TL1: code that Tillit issued,
# reject a corrupted one, and decode a published HC1: code.
# Usage: bash interop/cbor/run.sh   (from the workspace root; CARGO_TARGET_DIR is honoured)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 -m pip install -q -r "$here/requirements.txt"
(cd "$root" && TILLIT_INTEROP_OUT="$out" cargo test -q -p tillit-credential --test qr_tl1 tl1_round_trip)

python3 "$here/check.py" --jwk "$out/tl1.jwk" "$out/tl1.txt"

# A changed last character breaks the zlib checksum: the checker must say no.
sed 's/.$/0/' "$out/tl1.txt" > "$out/bad.txt"
if python3 "$here/check.py" --jwk "$out/tl1.jwk" "$out/bad.txt"; then
  echo "interop: a corrupted TL1 code was accepted" >&2
  exit 1
fi

# A published EU DCC code (decode only: its signer is an X.509 certificate, not a JWK).
testdata=${TILLIT_TESTDATA:-$root/../shared/testdata}
if [ -f "$testdata/dcc/SE/2DCode/raw/1.json" ]; then
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["PREFIX"])' \
    "$testdata/dcc/SE/2DCode/raw/1.json" | python3 "$here/check.py" > /dev/null
fi
echo "interop cbor: 3 passed, 0 failed"
