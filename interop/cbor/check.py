#!/usr/bin/env python3
"""Independent check of Tillit QR codes (TL1: and HC1:) with Python libraries.

Reads the QR text from a file argument or standard input, then:
  1. strips the context prefix (TL1: or HC1:),
  2. Base45-decodes it (own strict RFC 9285 decoder, 20 lines, below),
  3. zlib-decompresses it (Python's zlib),
  4. decodes the COSE_Sign1 and the CWT claims with `cbor2`,
  5. if a public JWK is given (--jwk FILE) verifies the signature with `cose`
     (pycose 0.9) when it is installed, else fails.

Exits 0 when every step passed, 1 otherwise (the failing step is printed).

    pip install cbor2==5.* cose==0.9.dev8      # or: pip install -r interop/cbor/requirements.txt
    python3 interop/cbor/check.py --jwk issuer.jwk code.txt
    TILLIT_INTEROP=1 cargo test -p tillit-credential --test qr_interop   # what CI runs
"""
import argparse
import base64
import json
import sys
import zlib
from collections.abc import Mapping

import cbor2

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
TL1_CLAIM = -65537
STATUS_CLAIM = 65535
HCERT_CLAIM = -260


def b45decode(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 3):
        group = text[i:i + 3]
        if len(group) == 1:
            raise ValueError("dangling single character")
        try:
            values = [ALPHABET.index(c) for c in group]
        except ValueError:
            raise ValueError(f"character outside the Base45 alphabet in {group!r}")
        n = sum(v * 45 ** k for k, v in enumerate(values))
        size = 2 if len(group) == 3 else 1
        if n >= 256 ** size:
            raise ValueError(f"group {group!r} overflows")
        out += n.to_bytes(size, "big")
    return bytes(out)


def b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def plain(v):
    """cbor2 returns frozendicts and tuples; make them JSON-friendly."""
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def fail(step: str, why) -> None:
    print(f"FAIL {step}: {why}")
    sys.exit(1)


def verify_signature(cose_obj, jwk: dict) -> None:
    try:
        from cose.messages import Sign1Message
        from cose.keys import CoseKey
        from cose.keys.keyparam import KpKty, EC2KpCurve, EC2KpX, EC2KpY, OKPKpCurve, OKPKpX, KpKeyOps
        from cose.keys.keytype import KtyEC2, KtyOKP
        from cose.keys.curves import P256, Ed25519
        from cose.keys.keyops import VerifyOp
    except ImportError as e:
        fail("signature", f"the `cose` package (pycose 0.9) is not installed: {e}")
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        key = CoseKey.from_dict({KpKty: KtyEC2, EC2KpCurve: P256, EC2KpX: b64url(jwk["x"]),
                                 EC2KpY: b64url(jwk["y"]), KpKeyOps: [VerifyOp]})
    elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        key = CoseKey.from_dict({KpKty: KtyOKP, OKPKpCurve: Ed25519, OKPKpX: b64url(jwk["x"]),
                                 KpKeyOps: [VerifyOp]})
    else:
        fail("signature", f"unsupported JWK {jwk.get('kty')}/{jwk.get('crv')}")
    msg = Sign1Message.from_cose_obj(list(cose_obj), True)
    msg.key = key
    if not msg.verify_signature():
        fail("signature", "pycose says the COSE_Sign1 signature does not verify")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="file with the QR text (default: standard input)")
    parser.add_argument("--jwk", help="the issuer's public JWK (JSON file) to verify the signature")
    args = parser.parse_args()
    text = (open(args.input, encoding="utf-8").read() if args.input else sys.stdin.read()).strip()

    prefix, _, body = text.partition(":")
    if prefix not in ("TL1", "HC1") or not body:
        fail("unprefix", f"unknown prefix {prefix!r}")
    try:
        raw = b45decode(body)
    except ValueError as e:
        fail("base45", e)
    if raw[:1] == b"\x78":
        try:
            cose_bytes = zlib.decompress(raw)
        except zlib.error as e:
            fail("decompress", e)
    elif prefix == "HC1":
        cose_bytes = raw  # HCERT lets verifiers proceed without zlib
    else:
        fail("decompress", "TL1 payloads are always zlib-compressed")

    try:
        obj = cbor2.loads(cose_bytes)
    except Exception as e:  # noqa: BLE001 - any decoding failure is a failed step
        fail("cose", e)
    while isinstance(obj, cbor2.CBORTag) and obj.tag == 61:
        obj = obj.value
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != 18:
            fail("cose", f"tag {obj.tag} is not COSE_Sign1 (18)")
        obj = obj.value
    if not (isinstance(obj, (list, tuple)) and len(obj) == 4 and isinstance(obj[0], bytes) and isinstance(obj[3], bytes)):
        fail("cose", "not a COSE_Sign1 array [protected, unprotected, payload, signature]")
    protected = cbor2.loads(obj[0]) if obj[0] else {}
    alg = protected.get(1, obj[1].get(1) if isinstance(obj[1], Mapping) else None)
    kid = protected.get(4) or (obj[1].get(4) if isinstance(obj[1], Mapping) else None)
    try:
        claims = cbor2.loads(obj[2])
    except Exception as e:  # noqa: BLE001
        fail("cbor", e)
    if not isinstance(claims, Mapping):
        fail("cbor", "the CWT claims are not a map")

    summary = {"prefix": prefix, "alg": alg, "kid": kid.hex() if isinstance(kid, bytes) else kid,
               "iss": claims.get(1), "sub": claims.get(2), "iat": claims.get(6), "nbf": claims.get(5),
               "exp": claims.get(4)}
    if prefix == "TL1":
        att = claims.get(TL1_CLAIM)
        if not (isinstance(att, Mapping) and isinstance(att.get(1), str) and isinstance(att.get(2), Mapping)):
            fail("cbor", "claim -65537 must be {1: type, 2: claims}")
        if not isinstance(summary["iss"], str) or not isinstance(summary["exp"], int):
            fail("cbor", "TL1 requires iss (1) and exp (4)")
        summary["type"] = att[1]
        summary["claims"] = att[2]
        if STATUS_CLAIM in claims:
            summary["status"] = claims[STATUS_CLAIM]
    else:
        hcert = claims.get(HCERT_CLAIM)
        if not (isinstance(hcert, Mapping) and isinstance(hcert.get(1), Mapping)):
            fail("cbor", "claim -260 must be {1: DCC}")
        summary["hcert"] = hcert[1]

    if args.jwk:
        with open(args.jwk, encoding="utf-8") as f:
            verify_signature(obj, json.load(f))
        summary["signature"] = "verified with pycose"
    print(json.dumps(plain(summary), ensure_ascii=False, indent=2, default=str))
    print("OK")


if __name__ == "__main__":
    main()
