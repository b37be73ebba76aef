#!/usr/bin/env bash
# Interop: Python cbor2 + pycose decode and verify TL1: codes that Tillit issued, refuse changed
# ones, and decode a published HC1: code. The cases are the Rust test `qr_interop`, which calls
# check.py; CI runs it inside `cargo test --workspace` with TILLIT_INTEROP=1.
# Usage: bash interop/cbor/run.sh   (from anywhere; CARGO_TARGET_DIR is honoured)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -m pip install -q -r "$here/requirements.txt"
cd "$here/../.." && TILLIT_INTEROP=1 cargo test -p tillit-credential --test qr_interop
