-- OAuth 2.0 clients of the token endpoint (issue 9): IT systems that get JWT access tokens with the
-- client-credentials grant. Each acts as one user of the access model (user_id). A client
-- authenticates with a secret (only its SHA-256 is kept: the secret is 32 random bytes, so a slow
-- password hash would add nothing) or with private_key_jwt (RFC 7523) against its public JWK Set.
CREATE TABLE oauth_clients (
    client_id    TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    secret_hash  TEXT,
    jwks         TEXT,
    loa          TEXT,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    CHECK ((secret_hash IS NULL) <> (jwks IS NULL))
) STRICT;
