-- The job queue (DESIGN.md §4: one queue in the database for all background work) and its first
-- user, batch issuance (issue #8 item 3).

-- A job: claimed by one worker at a time under a lease (`lease_owner` until `lease_until`); a lease
-- that runs out (a worker that died) lets another worker take the job over. `attempts` counts
-- claims; a failed attempt is retried at `run_after` (exponential backoff with jitter) until
-- `max_attempts`. `progress_*` are what the API shows (done counts failed ones too).
CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    org_id           UUID REFERENCES orgs (id),
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_after        TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    progress_done    BIGINT NOT NULL DEFAULT 0 CHECK (progress_done >= 0),
    progress_total   BIGINT NOT NULL DEFAULT 0 CHECK (progress_total >= 0),
    progress_failed  BIGINT NOT NULL DEFAULT 0 CHECK (progress_failed >= 0),
    last_error       TEXT,
    payload          TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ
);
-- What a worker looks for: queued jobs that are due, running jobs whose lease ran out.
CREATE INDEX jobs_due ON jobs (state, run_after);
CREATE INDEX jobs_org ON jobs (org_id, id);

-- A batch of attestations to issue: its rows are uploaded (streamed) first, then its job is queued.
-- `state` is `uploading` until every row is stored, then `ready`. The batch's id is its job's id.
CREATE TABLE batches (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id),
    format      TEXT NOT NULL CHECK (format IN ('ndjson', 'csv')),
    state       TEXT NOT NULL CHECK (state IN ('uploading', 'ready')),
    rows_total  BIGINT NOT NULL DEFAULT 0 CHECK (rows_total >= 0),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX batches_org ON batches (org_id, id);

-- One uploaded row (1-based `row_no`, the line or record of the upload). A row that did not
-- validate has no `type_id`/`request` and its reason is in `batch_results` from the start.
-- `request` is the row as the issuance needs it (claims, validity, holder key), JSON.
CREATE TABLE batch_rows (
    batch_id  UUID NOT NULL REFERENCES batches (id),
    row_no    BIGINT NOT NULL CHECK (row_no >= 1),
    type_id   UUID REFERENCES attestation_types (id),
    request   TEXT,
    PRIMARY KEY (batch_id, row_no)
);

-- The outcome of one row: the attestation issued (with its credentials, for the results download
-- and the cards) or the reason it failed. At most one per row: a job resumed after a crash skips
-- rows that have one, and a second worker's insert for the same row fails — nothing is issued twice.
CREATE TABLE batch_results (
    batch_id        UUID NOT NULL REFERENCES batches (id),
    row_no          BIGINT NOT NULL CHECK (row_no >= 1),
    attestation_id  UUID REFERENCES attestations (id),
    error           TEXT,
    credentials     TEXT,
    PRIMARY KEY (batch_id, row_no),
    CHECK ((attestation_id IS NULL) <> (error IS NULL))
);
CREATE UNIQUE INDEX batch_results_attestation ON batch_results (attestation_id);
