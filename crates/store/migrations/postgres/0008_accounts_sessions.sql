-- Local sign-in (issue 9 item 6): accounts with an Argon2id password (PHC string) and an optional
-- TOTP secret sealed under the master key by the server (hex); each account signs in as one user of
-- the access model. totp_last_step makes a code work once, across every instance.
CREATE TABLE local_accounts (
    username        TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    totp_sealed     TEXT,
    totp_last_step  BIGINT,
    ial             TEXT NOT NULL CHECK (ial IN ('low', 'substantial', 'high')),
    created_at      TIMESTAMPTZ NOT NULL,
    disabled_at     TIMESTAMPTZ
);

-- Sessions: only the SHA-256 of the 128-bit random session id is kept. The login's assurance
-- (IAL, AAL, FAL) is recorded; its level is the lowest of the three.
CREATE TABLE sessions (
    id_hash       BYTEA PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id       TEXT NOT NULL,
    username      TEXT,
    ial           TEXT NOT NULL,
    aal           TEXT NOT NULL,
    fal           TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
