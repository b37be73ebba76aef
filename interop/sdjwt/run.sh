#!/usr/bin/env bash
# SD-JWT interop: the Python reference implementation verifies Tillit's SD-JWT VCs and Tillit verifies theirs.
# Usage (from the repository root): bash interop/sdjwt/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install --quiet -r interop/sdjwt/requirements.txt
TILLIT_INTEROP=1 cargo test -p tillit-credential --test sdjwt_interop -- --nocapture
