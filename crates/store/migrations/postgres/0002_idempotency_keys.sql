-- Responses to creating requests sent with an `Idempotency-Key` header (DESIGN.md §4): a retry with
-- the same key and the same request gets the first response again instead of a second resource.
-- Keys are per actor (the authenticated principal), so clients cannot see each other's responses.
-- request_hash = SHA-256 of the request as the server understood it; a reuse of the key for another
-- request is refused.
CREATE TABLE idempotency_keys (
    actor         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL CHECK (length(request_hash) = 32),
    status        INTEGER NOT NULL CHECK (status BETWEEN 200 AND 299),
    location      TEXT,
    body          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (actor, key)
);
