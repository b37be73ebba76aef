#!/usr/bin/env bash
# Installs the independent implementations the interop tests talk to (pinned versions, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check \
  -r interop/sdjwt/requirements.txt -r interop/cbor/requirements.txt
python3 -c 'import sd_jwt, cbor2, cose; print("interop packages ready")'
