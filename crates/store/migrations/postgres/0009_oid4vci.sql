-- Key rotation and OpenID4VCI (pre-authorized code flow).

-- Which issuer key signed an attestation: a retired key stays published until the last attestation
-- it signed has expired. NULL for attestations issued before this column existed.
ALTER TABLE attestations ADD COLUMN signing_kid TEXT;
CREATE INDEX attestations_signing_kid ON attestations (signing_kid, valid_to);
-- When a key stopped signing (NULL while it is active).
ALTER TABLE signing_keys ADD COLUMN retired_at TIMESTAMPTZ;

-- Credential offers. No secret is kept in the clear: the pre-authorized code is derived from the
-- master key and the offer id, and only its hash, the hash of the transaction code (PIN, salted
-- with the code) and the hash of the access token are stored. `request` holds the holder's claims
-- until the credential is issued, then it is emptied.
CREATE TABLE oid4vci_offers (
    id               UUID PRIMARY KEY,
    org_id           UUID NOT NULL REFERENCES orgs (id),
    type_slug        TEXT NOT NULL,
    request          TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    code_hash        TEXT NOT NULL UNIQUE,
    tx_code_hash     TEXT NOT NULL,
    failed_attempts  INTEGER NOT NULL CHECK (failed_attempts >= 0),
    state            TEXT NOT NULL CHECK (state IN ('offered', 'redeemed', 'issued', 'locked')),
    token_hash       TEXT UNIQUE,
    token_expires_at TIMESTAMPTZ,
    attestation_id   UUID,
    expires_at       TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX oid4vci_offers_org ON oid4vci_offers (org_id, created_at);

-- Nonces handed out by the nonce endpoint (hashes), each usable once until it expires.
CREATE TABLE oid4vci_nonces (
    nonce_hash  TEXT PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX oid4vci_nonces_expiry ON oid4vci_nonces (expires_at);
