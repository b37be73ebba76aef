-- Tillit schema, PostgreSQL. Forward-only: never edit a released migration, add a new one.
-- Same tables and meaning as migrations/sqlite; native uuid/timestamptz/bytea where no hash
-- depends on the exact text.

CREATE TABLE orgs (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    country     TEXT NOT NULL CHECK (country IN ('SE', 'DK', 'NO', 'FI', 'IS')),
    org_number  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (country, org_number)
);

-- org_id NULL = installation-wide (super-admin) token. Only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id          UUID PRIMARY KEY,
    org_id      UUID REFERENCES orgs (id),
    name        TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    scope       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_tokens_org ON api_tokens (org_id);

-- org_id NULL = installation key. sealed_private is AEAD ciphertext made by the caller.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    org_id          UUID REFERENCES orgs (id),
    purpose         TEXT NOT NULL,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    sealed_private  BYTEA NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX signing_keys_scope ON signing_keys (org_id, purpose);

-- The hash-chained audit log: text exactly as tillit-audit hashes it (time as RFC 3339 with
-- microseconds, details as canonical JSON, hashes as lower-case hex). Appends are serialised
-- by `LOCK TABLE audit_entries IN EXCLUSIVE MODE` at the start of every write transaction.
CREATE TABLE audit_entries (
    seq        BIGINT PRIMARY KEY CHECK (seq > 0),
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    org_id     TEXT,
    action     TEXT NOT NULL,
    object_id  TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();

-- Signed RFC 9162 tree heads over audit_entries 1..=tree_size.
CREATE TABLE audit_tree_heads (
    tree_size  BIGINT PRIMARY KEY CHECK (tree_size >= 0),
    root_hash  TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BYTEA NOT NULL
);
