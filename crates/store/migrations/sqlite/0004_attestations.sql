-- The attestation service (DESIGN.md §2.1): attestation types, Token Status Lists and the register
-- of issued attestations. No claims are kept: the register holds what revocation and audit need.

-- A type's versions: a new version never changes what was issued under an older one.
CREATE TABLE attestation_types (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    slug        TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    vct         TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, slug, version)
) STRICT;

-- One Token Status List: `list` is the uncompressed bit string (`bits` per entry); `version` grows
-- with every change (the ETag); `used` counts allocated indexes.
CREATE TABLE status_lists (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    bits        INTEGER NOT NULL CHECK (bits IN (1, 2, 4, 8)),
    capacity    INTEGER NOT NULL CHECK (capacity > 0),
    used        INTEGER NOT NULL CHECK (used >= 0),
    list        BLOB NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX status_lists_org ON status_lists (org_id, created_at);

-- The register of issued attestations: no claims, only a subject reference when the type asks for
-- one.
CREATE TABLE attestations (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    type_id         TEXT NOT NULL REFERENCES attestation_types (id),
    status_list_id  TEXT NOT NULL REFERENCES status_lists (id),
    status_idx      INTEGER NOT NULL CHECK (status_idx >= 0),
    status          TEXT NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked')),
    subject_ref     TEXT,
    issued_by       TEXT NOT NULL,
    valid_from      TEXT NOT NULL,
    valid_to        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (status_list_id, status_idx)
) STRICT;
CREATE INDEX attestations_org ON attestations (org_id, id);
