"""A resource server written on PyJWT, independent of Tillit, checks a Tillit access token.

Usage: python3 resource_server.py ISSUER AUDIENCE TOKEN
Fetches the issuer's RFC 8414 metadata and its JWKS over HTTP, verifies the token (ES256,
`typ` at+jwt, iss, aud, exp, iat), and prints its claims as JSON. Exits 1 with the reason when
the token does not verify.
"""
import json
import sys
import urllib.request

import jwt


def main() -> int:
    issuer, audience, token = sys.argv[1:4]
    with urllib.request.urlopen(f"{issuer}/.well-known/oauth-authorization-server") as r:
        metadata = json.load(r)
    if metadata["issuer"] != issuer:
        print(f"metadata issuer {metadata['issuer']} != {issuer}", file=sys.stderr)
        return 1
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        print(f"typ is {header.get('typ')}, not at+jwt (RFC 9068)", file=sys.stderr)
        return 1
    key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]},
        )
    except jwt.InvalidTokenError as e:
        print(f"not valid: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
