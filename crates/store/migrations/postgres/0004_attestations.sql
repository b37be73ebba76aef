-- The attestation service (DESIGN.md §2.1): attestation types, Token Status Lists and the register
-- of issued attestations. No claims are kept: the register holds what revocation and audit need.

-- A type's versions: a new version never changes what was issued under an older one.
CREATE TABLE attestation_types (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id),
    slug        TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 1),
    vct         TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, slug, version)
);

-- One Token Status List: `list` is the uncompressed bit string (`bits` per entry); `version` grows
-- with every change (the ETag); `used` counts allocated indexes.
CREATE TABLE status_lists (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id),
    bits        INTEGER NOT NULL CHECK (bits IN (1, 2, 4, 8)),
    capacity    BIGINT NOT NULL CHECK (capacity > 0),
    used        BIGINT NOT NULL CHECK (used >= 0),
    list        BYTEA NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 1),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX status_lists_org ON status_lists (org_id, created_at);

-- The register of issued attestations: no claims, only a subject reference when the type asks for
-- one.
CREATE TABLE attestations (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES orgs (id),
    type_id         UUID NOT NULL REFERENCES attestation_types (id),
    status_list_id  UUID NOT NULL REFERENCES status_lists (id),
    status_idx      BIGINT NOT NULL CHECK (status_idx >= 0),
    status          TEXT NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked')),
    subject_ref     TEXT,
    issued_by       TEXT NOT NULL,
    valid_from      TIMESTAMPTZ NOT NULL,
    valid_to        TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (status_list_id, status_idx)
);
CREATE INDEX attestations_org ON attestations (org_id, id);
