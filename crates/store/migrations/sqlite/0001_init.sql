-- Tillit schema, SQLite. Forward-only: never edit a released migration, add a new one.
-- Ids are UUID text (lower-case, hyphenated: sorts like the UUID bytes); times are RFC 3339 UTC
-- text with exactly six fractional digits and `Z` (sorts chronologically).

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL CHECK (country IN ('SE', 'DK', 'NO', 'FI', 'IS')),
    org_number  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (country, org_number)
) STRICT;

-- org_id NULL = installation-wide (super-admin) token. Only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT REFERENCES orgs (id),
    name        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    scope       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
CREATE INDEX api_tokens_org ON api_tokens (org_id);

-- org_id NULL = installation key. sealed_private is AEAD ciphertext made by the caller.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT REFERENCES orgs (id),
    purpose         TEXT NOT NULL,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    sealed_private  BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX signing_keys_scope ON signing_keys (org_id, purpose);

-- The hash-chained audit log. Text columns hold exactly what tillit-audit hashes
-- (details = canonical JSON, hashes = lower-case hex), so a dump can be re-verified.
-- org_id is deliberately not a foreign key: the log outlives what it describes.
CREATE TABLE audit_entries (
    seq        INTEGER PRIMARY KEY NOT NULL CHECK (seq > 0),
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    org_id     TEXT,
    action     TEXT NOT NULL,
    object_id  TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only');
END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only');
END;

-- Signed RFC 9162 tree heads over audit_entries 1..=tree_size.
CREATE TABLE audit_tree_heads (
    tree_size  INTEGER PRIMARY KEY NOT NULL CHECK (tree_size >= 0),
    root_hash  TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL
) STRICT;
