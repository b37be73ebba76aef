#!/usr/bin/env python3
"""SD-JWT interop between Tillit and the SD-JWT reference implementation (PyPI `sd-jwt`).

    python3 interop.py verify ISSUER_JWK_FILE SD_JWT_FILE [--aud AUD --nonce NONCE]
        Verify an SD-JWT (VC) that Tillit issued (issuance form or presentation with KB-JWT)
        with the reference implementation; print the disclosed claims as JSON.
    python3 interop.py issue OUT_FILE
        Issue an SD-JWT VC with the reference implementation, make a presentation with a
        KB-JWT, and write {"issuer_jwk", "presentation", "issuance", "aud", "nonce", "iat"} to OUT_FILE.

Install: pip install "sd-jwt==0.10.4" (pulls jwcrypto). Exit status 0 = success.
"""
import json
import sys
import time

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier


def verify(args):
    issuer_jwk = JWK.from_json(open(args[0]).read())
    sd_jwt = open(args[1]).read().strip()
    aud = nonce = None
    if "--aud" in args:
        aud = args[args.index("--aud") + 1]
    if "--nonce" in args:
        nonce = args[args.index("--nonce") + 1]
    verifier = SDJWTVerifier(sd_jwt, lambda iss, header: issuer_jwk, aud, nonce)
    print(json.dumps(verifier.get_verified_payload(), ensure_ascii=False, sort_keys=True))


def issue(args):
    issuer_key = JWK.generate(kty="EC", crv="P-256")
    holder_key = JWK.generate(kty="EC", crv="P-256")
    now = int(time.time())
    claims = {
        "iss": "https://interop.example",
        "iat": now,
        "exp": now + 3600,
        "vct": "https://interop.example/vct/licence",
        SDObj("given_name"): "Kajsa",
        SDObj("family_name"): "Anka",
        "address": {SDObj("locality"): "Ankeborg", "country": "SE"},
        "licences": [SDObj("moose"), SDObj("deer"), "small-game"],
    }
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": issuer_key.thumbprint()},
    )
    aud, nonce = "https://tillit.example/verifier", "interop-nonce-1"
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        {"given_name": True, "address": {"locality": True}, "licences": [False, True]},
        nonce,
        aud,
        holder_key,
        "ES256",
    )
    out = {
        "issuer_jwk": json.loads(issuer_key.export_public()),
        "issuance": issuer.sd_jwt_issuance,
        "presentation": holder.sd_jwt_presentation,
        "aud": aud,
        "nonce": nonce,
        "iat": now,
    }
    with open(args[0], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("verify", "issue"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    {"verify": verify, "issue": issue}[sys.argv[1]](sys.argv[2:])
