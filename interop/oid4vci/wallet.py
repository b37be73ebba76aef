#!/usr/bin/env python3
"""A wallet for OpenID4VCI 1.0's pre-authorized code flow, written on PyJWT and the SD-JWT
reference implementation (PyPI `sd-jwt`), independent of Tillit's code.

    python3 wallet.py 'openid-credential-offer://?credential_offer_uri=…' TX_CODE

It reads the credential offer at its URI, the issuer's metadata (RFC 8615 path insertion) and
its authorization server's metadata, exchanges the pre-authorized code and the PIN for an access
token, takes a nonce, proves possession of a fresh P-256 key (openid4vci-proof+jwt), receives the
SD-JWT VC, verifies it with `sd-jwt` against the issuer's JWT VC issuer metadata, checks that
cnf.jwk is its key, and presents it with a key-binding JWT that `sd-jwt` verifies too. Prints
{"credential", "claims", "presentation_claims"} as JSON. Exit status 0 = success.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

import jwt  # PyJWT
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier


def well_known(identifier, name):
    """RFC 8615 / OpenID4VCI §12.2.2: insert /.well-known/NAME between host and path."""
    u = urllib.parse.urlsplit(identifier)
    path = u.path.rstrip("/")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, f"/.well-known/{name}{path}", "", ""))


def http(method, url, *, form=None, body=None, token=None):
    headers = {"Accept": "application/json"}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {url}: {e.code} {e.read().decode(errors='replace')}")


def main(offer_link, tx_code):
    link = urllib.parse.urlsplit(offer_link)
    if link.scheme != "openid-credential-offer":
        sys.exit(f"not a credential offer: {offer_link}")
    params = urllib.parse.parse_qs(link.query)
    offer = http("GET", params["credential_offer_uri"][0])
    issuer = offer["credential_issuer"]
    grant = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    assert grant["tx_code"]["input_mode"] == "numeric", grant
    assert grant["tx_code"]["length"] == len(tx_code), grant
    config_id = offer["credential_configuration_ids"][0]

    meta = http("GET", well_known(issuer, "openid-credential-issuer"))
    assert meta["credential_issuer"] == issuer, meta
    config = meta["credential_configurations_supported"][config_id]
    assert config["format"] == "dc+sd-jwt", config
    assert "jwk" in config["cryptographic_binding_methods_supported"], config
    assert "ES256" in config["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"]
    auth_server = (meta.get("authorization_servers") or [issuer])[0]
    as_meta = http("GET", well_known(auth_server, "oauth-authorization-server"))
    assert as_meta["issuer"] == auth_server, as_meta

    token = http(
        "POST",
        as_meta["token_endpoint"],
        form={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": grant["pre-authorized_code"],
            "tx_code": tx_code,
        },
    )
    assert token["token_type"].lower() == "bearer", token
    c_nonce = http("POST", meta["nonce_endpoint"])["c_nonce"]

    holder_key = JWK.generate(kty="EC", crv="P-256")
    holder_public = json.loads(holder_key.export_public())
    proof = jwt.encode(
        {"aud": issuer, "iat": int(time.time()), "nonce": c_nonce},
        holder_key.export_to_pem(private_key=True, password=None),
        algorithm="ES256",
        headers={"typ": "openid4vci-proof+jwt", "jwk": holder_public},
    )
    response = http(
        "POST",
        meta["credential_endpoint"],
        token=token["access_token"],
        body={"credential_configuration_id": config_id, "proofs": {"jwt": [proof]}},
    )
    credential = response["credentials"][0]["credential"]

    # Verify with the SD-JWT reference implementation against the issuer's published keys.
    jwks = http("GET", well_known(issuer, "jwt-vc-issuer"))
    assert jwks["issuer"] == issuer, jwks
    keys = {k.get("kid") or JWK(**k).thumbprint(): JWK(**k) for k in jwks["jwks"]["keys"]}

    def issuer_key(iss, header):
        assert iss == issuer, iss
        return keys[header["kid"]]

    claims = SDJWTVerifier(credential, issuer_key).get_verified_payload()
    cnf = claims["cnf"]["jwk"]
    assert (cnf["x"], cnf["y"]) == (holder_public["x"], holder_public["y"]), cnf

    # Present it with a key-binding JWT and verify that too.
    aud, nonce = "https://verifier.example", "presentation-nonce"
    holder = SDJWTHolder(credential)
    standard = {"iss", "iat", "nbf", "exp", "vct", "cnf", "status", "sub"}
    disclose = {k: True for k in claims if k not in standard}
    holder.create_presentation(disclose, nonce, aud, holder_key, "ES256")
    presented = SDJWTVerifier(holder.sd_jwt_presentation, issuer_key, aud, nonce).get_verified_payload()
    print(json.dumps({"credential": credential, "claims": claims, "presentation_claims": presented},
                     ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
