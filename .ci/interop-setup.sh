#!/usr/bin/env bash
# Installs the independent implementations the interop tests talk to (pinned versions, from PyPI
# and npm),
# and Debian's poppler-utils (pdftotext, pdftoppm), with which crates/card's tests read the
# printed card's text and QR code back from the PDF.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check \
  -r interop/sdjwt/requirements.txt -r interop/cbor/requirements.txt -r interop/oauth/requirements.txt
python3 -c 'import sd_jwt, cbor2, cose, jwt; print("interop packages ready")'
# A real OpenID provider (npm oidc-provider) for the federated sign-in test.
npm ci --prefix interop/oidc --no-audit --no-fund --loglevel=error
(cd interop/oidc && node -e 'import("oidc-provider").then(() => console.log("oidc-provider ready"))' 2>/dev/null)
if ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null; then
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q poppler-utils
fi
pdftotext -v 2>&1 | head -n 1
# PyPI scim2-tester for the SCIM provisioning interop test (crates/server/tests/scim.rs).
python3 -m pip install --quiet --disable-pip-version-check -r interop/scim/requirements.txt
python3 -c 'import scim2_tester, httpx2; print("scim2-tester ready")'
# The OpenID4VCI wallet (crates/server/tests/oid4vci.rs): PyJWT proofs, the sd-jwt verifier.
python3 -m pip install --quiet --disable-pip-version-check -r interop/oid4vci/requirements.txt
python3 -c 'import jwt, sd_jwt, jwcrypto; print("oid4vci wallet packages ready")'
