//! Batch issuance: the `batches`, `batch_rows` and `batch_results` tables.
//!
//! An upload is stored row by row as it streams in ([`BatchRepo::add_batch_rows`], a chunk per
//! transaction), then sealed: its job is queued with the audit entry and, for a request with an
//! `Idempotency-Key`, the response ([`BatchRepo::seal_batch`]). The job issues the pending rows
//! in chunks ([`BatchRepo::issue_batch_chunk`]): each chunk is one transaction that checks the
//! worker's lease, allocates the status entries, lets the caller sign, registers each
//! attestation with its audit entry and records each row's result under the primary key
//! (batch, row) — so a job resumed after a crash, or a worker that lost its lease, issues no row
//! twice.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use uuid::Uuid;

use crate::attestations::{allocate_many, register_in};
use crate::audit::append_in;
use crate::db::{query, Row};
use crate::idempotency::{remember_in, IdempotentResponse};
use crate::jobs::{advance_in, enqueue_in, JobProgress, JobRecord, NewJob};
use crate::model::micros;
use crate::{AttestationRecord, NewAttestation, StatusAllocation, Store, StoreError};

/// How an upload was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// JSON lines.
    Ndjson,
    /// CSV with a header of claim names.
    Csv,
}

impl BatchFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ndjson" => Some(Self::Ndjson),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// A batch being uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    /// A fresh UUIDv7: also its job's id.
    pub id: Uuid,
    pub org_id: OrgId,
    pub format: BatchFormat,
    pub created_by: String,
}

/// A stored batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    pub id: Uuid,
    pub org_id: OrgId,
    pub format: BatchFormat,
    /// False while it is being uploaded (no job yet).
    pub sealed: bool,
    pub rows_total: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One uploaded row.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchRow {
    /// A row that validated: the type version to issue under and the request (claims,
    /// validity, holder key) as the issuer needs it.
    Valid {
        row_no: u64,
        type_id: Uuid,
        request: serde_json::Value,
    },
    /// A row that did not: why (its result from the start).
    Invalid { row_no: u64, error: String },
}

/// A valid row not issued yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRow {
    pub row_no: u64,
    pub type_id: Uuid,
    pub request: serde_json::Value,
}

/// One row of a chunk to issue: the attestation to register for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRow {
    pub row_no: u64,
    pub attestation: NewAttestation,
}

/// What the caller's signing made of one row of a chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum RowSigned {
    /// Issued: the credentials to keep for the results, and the audit event.
    Issued {
        credentials: serde_json::Value,
        audit: Box<AuditEvent>,
    },
    /// Not issued, with the reason.
    Failed { error: String },
}

/// What a committed chunk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkOutcome {
    pub issued: u64,
    pub failed: u64,
}

/// The result of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    pub row_no: u64,
    /// The attestation issued, or `None` with `error`.
    pub attestation_id: Option<Uuid>,
    pub error: Option<String>,
    /// The credentials issued (as the signing closure gave them).
    pub credentials: Option<serde_json::Value>,
}

/// An issued row with what its card needs.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedRow {
    pub row_no: u64,
    pub type_id: Uuid,
    pub request: serde_json::Value,
    pub credentials: serde_json::Value,
}

/// Batches of attestations: upload, issuance in chunks, results.
pub trait BatchRepo {
    /// Starts an upload (not audited: nothing is issued or queued until [`Self::seal_batch`]).
    fn begin_batch(
        &self,
        new: NewBatch,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchRecord, StoreError>> + Send;

    /// Stores uploaded rows of an unsealed batch in one transaction (an invalid row's result
    /// with it).
    fn add_batch_rows(
        &self,
        batch: Uuid,
        rows: Vec<BatchRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Seals the upload and queues its job (`job.id` becomes the batch's id; its progress is
    /// counted from the rows), with `audit` and the response to `remember`, in one transaction.
    fn seal_batch(
        &self,
        batch: Uuid,
        job: NewJob,
        audit: AuditEvent,
        remember: Option<IdempotentResponse>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// Deletes an unsealed batch and its rows (an upload that failed).
    fn discard_batch(&self, batch: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Batch `id` of `org`.
    fn get_batch(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<BatchRecord>, StoreError>> + Send;

    /// Up to `limit` valid rows after row `after` that have no result yet, in row order.
    fn pending_batch_rows(
        &self,
        batch: Uuid,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PendingRow>, StoreError>> + Send;

    /// Issues `rows` of `batch` in one transaction, if `owner` still holds job `job`'s lease
    /// ([`StoreError::Refused`] otherwise): allocates a status entry per row, calls `sign` with
    /// the rows and their entries (it returns one [`RowSigned`] per row, in order), registers
    /// each issued attestation with its audit entry, records every row's result and adds to the
    /// job's progress.
    fn issue_batch_chunk<F>(
        &self,
        job: Uuid,
        owner: &str,
        batch: Uuid,
        rows: Vec<ChunkRow>,
        at: DateTime<Utc>,
        sign: F,
    ) -> impl Future<Output = Result<ChunkOutcome, StoreError>> + Send
    where
        F: FnOnce(&[(ChunkRow, StatusAllocation)]) -> Result<Vec<RowSigned>, StoreError>
            + Send
            + 'static;

    /// Up to `limit` results after row `after`, in row order; only failed ones with
    /// `failed_only`.
    fn batch_results(
        &self,
        batch: Uuid,
        after: u64,
        limit: u32,
        failed_only: bool,
    ) -> impl Future<Output = Result<Vec<RowResult>, StoreError>> + Send;

    /// Up to `limit` issued rows from row `from` on, in row order (for the cards).
    fn issued_batch_rows(
        &self,
        batch: Uuid,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<IssuedRow>, StoreError>> + Send;
}

const BATCHES: &str = "batches";
const ROWS: &str = "batch_rows";
const RESULTS: &str = "batch_results";
const BATCH_COLS: &str = "id, org_id, format, state, rows_total, created_by, created_at";

fn batch_from_row(row: &Row) -> Result<BatchRecord, StoreError> {
    let format = row.text("format")?;
    Ok(BatchRecord {
        id: row.id("id")?,
        org_id: OrgId::from_uuid(row.id("org_id")?),
        format: BatchFormat::parse(&format)
            .ok_or_else(|| StoreError::corrupt(BATCHES, format!("format {format:?}")))?,
        sealed: row.text("state")? == "ready",
        rows_total: row.count("rows_total")?,
        created_by: row.text("created_by")?,
        created_at: row.time("created_at")?,
    })
}

fn opt_json(row: &Row, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
    row.opt_text(col)?
        .map(|t| serde_json::from_str(&t).map_err(|e| StoreError::corrupt(RESULTS, e)))
        .transpose()
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

impl BatchRepo for Store {
    async fn begin_batch(
        &self,
        new: NewBatch,
        at: DateTime<Utc>,
    ) -> Result<BatchRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        BATCHES,
                        format!(
                            "INSERT INTO batches ({BATCH_COLS}) \
                             VALUES ($1, $2, $3, 'uploading', 0, $4, $5)"
                        ),
                    )
                    .id(new.id)
                    .id(*new.org_id.as_uuid())
                    .text(new.format.as_str())
                    .text(&new.created_by)
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("batch"))?;
                    Ok(BatchRecord {
                        id: new.id,
                        org_id: new.org_id,
                        format: new.format,
                        sealed: false,
                        rows_total: 0,
                        created_by: new.created_by,
                        created_at: at,
                    })
                })
            })
            .await
    }

    async fn add_batch_rows(&self, batch: Uuid, rows: Vec<BatchRow>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    for row in rows {
                        match row {
                            BatchRow::Valid {
                                row_no,
                                type_id,
                                request,
                            } => {
                                query(
                                    ROWS,
                                    "INSERT INTO batch_rows (batch_id, row_no, type_id, request) \
                                     VALUES ($1, $2, $3, $4)",
                                )
                                .id(batch)
                                .count(row_no)?
                                .id(type_id)
                                .text(request.to_string())
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("batch row"))?;
                            }
                            BatchRow::Invalid { row_no, error } => {
                                query(
                                    ROWS,
                                    "INSERT INTO batch_rows (batch_id, row_no, type_id, request) \
                                     VALUES ($1, $2, NULL, NULL)",
                                )
                                .id(batch)
                                .count(row_no)?
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("batch row"))?;
                                query(
                                    RESULTS,
                                    "INSERT INTO batch_results (batch_id, row_no, error) \
                                     VALUES ($1, $2, $3)",
                                )
                                .id(batch)
                                .count(row_no)?
                                .text(error)
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("batch result"))?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn seal_batch(
        &self,
        batch: Uuid,
        mut job: NewJob,
        audit: AuditEvent,
        remember: Option<IdempotentResponse>,
        at: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let total = query(
                        ROWS,
                        "SELECT COUNT(*) AS n FROM batch_rows WHERE batch_id = $1",
                    )
                    .id(batch)
                    .fetch_one(tx.on())
                    .await?
                    .count("n")?;
                    let failed = query(
                        RESULTS,
                        "SELECT COUNT(*) AS n FROM batch_results WHERE batch_id = $1",
                    )
                    .id(batch)
                    .fetch_one(tx.on())
                    .await?
                    .count("n")?;
                    let sealed = query(
                        BATCHES,
                        "UPDATE batches SET state = 'ready', rows_total = $1 \
                         WHERE id = $2 AND state = 'uploading'",
                    )
                    .count(total)?
                    .id(batch)
                    .execute(tx.on())
                    .await?;
                    if sealed == 0 {
                        return Err(StoreError::NotFound {
                            what: "batch being uploaded",
                            id: batch.to_string(),
                        });
                    }
                    job.id = batch;
                    job.progress = JobProgress {
                        done: failed,
                        total,
                        failed,
                    };
                    let record = enqueue_in(tx, &job, at).await?;
                    let mut audit = audit;
                    if let Some(details) = audit.details.as_object_mut() {
                        details.insert("rows".into(), total.into());
                        details.insert("invalid_rows".into(), failed.into());
                    }
                    append_in(tx, audit, at).await?;
                    if let Some(response) = remember {
                        remember_in(tx, response).await?;
                    }
                    Ok(record)
                })
            })
            .await
    }

    async fn discard_batch(&self, batch: Uuid) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let unsealed = query(
                        BATCHES,
                        "SELECT id FROM batches WHERE id = $1 AND state = 'uploading'",
                    )
                    .id(batch)
                    .fetch_optional(tx.on())
                    .await?;
                    if unsealed.is_none() {
                        return Ok(());
                    }
                    for sql in [
                        "DELETE FROM batch_results WHERE batch_id = $1",
                        "DELETE FROM batch_rows WHERE batch_id = $1",
                        "DELETE FROM batches WHERE id = $1",
                    ] {
                        query(BATCHES, sql).id(batch).execute(tx.on()).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn get_batch(&self, org: OrgId, id: Uuid) -> Result<Option<BatchRecord>, StoreError> {
        query(
            BATCHES,
            format!("SELECT {BATCH_COLS} FROM batches WHERE org_id = $1 AND id = $2"),
        )
        .id(*org.as_uuid())
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(batch_from_row)
        .transpose()
    }

    async fn pending_batch_rows(
        &self,
        batch: Uuid,
        after: u64,
        max: u32,
    ) -> Result<Vec<PendingRow>, StoreError> {
        query(
            ROWS,
            "SELECT r.row_no, r.type_id, r.request FROM batch_rows r \
             LEFT JOIN batch_results s ON s.batch_id = r.batch_id AND s.row_no = r.row_no \
             WHERE r.batch_id = $1 AND r.row_no > $2 AND r.type_id IS NOT NULL \
             AND s.row_no IS NULL ORDER BY r.row_no LIMIT $3",
        )
        .id(batch)
        .count(after)?
        .int(limit(max))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| {
            Ok(PendingRow {
                row_no: row.count("row_no")?,
                type_id: row.id("type_id")?,
                request: row.json("request")?,
            })
        })
        .collect()
    }

    async fn issue_batch_chunk<F>(
        &self,
        job: Uuid,
        owner: &str,
        batch: Uuid,
        rows: Vec<ChunkRow>,
        at: DateTime<Utc>,
        sign: F,
    ) -> Result<ChunkOutcome, StoreError>
    where
        F: FnOnce(&[(ChunkRow, StatusAllocation)]) -> Result<Vec<RowSigned>, StoreError>
            + Send
            + 'static,
    {
        let at = micros(at);
        let owner = owner.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    // The lease first (on PostgreSQL this locks the job's row until commit).
                    advance_in(tx, job, &owner, 0, 0, at).await?;
                    let Some(first) = rows.first() else {
                        return Ok(ChunkOutcome::default());
                    };
                    let org = first.attestation.org_id;
                    let slots = allocate_many(tx, org, rows.len(), at).await?;
                    let items: Vec<(ChunkRow, StatusAllocation)> =
                        rows.into_iter().zip(slots).collect();
                    let signed = sign(&items)?;
                    if signed.len() != items.len() {
                        return Err(StoreError::Rejected(format!(
                            "signing returned {} results for {} rows",
                            signed.len(),
                            items.len()
                        )));
                    }
                    let mut outcome = ChunkOutcome::default();
                    for ((row, slot), result) in items.into_iter().zip(signed) {
                        match result {
                            RowSigned::Issued { credentials, audit } => {
                                let record: AttestationRecord =
                                    register_in(tx, row.attestation, slot, at).await?;
                                append_in(tx, *audit, at).await?;
                                query(
                                    RESULTS,
                                    "INSERT INTO batch_results \
                                     (batch_id, row_no, attestation_id, credentials) \
                                     VALUES ($1, $2, $3, $4)",
                                )
                                .id(batch)
                                .count(row.row_no)?
                                .id(record.id)
                                .text(credentials.to_string())
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("batch result"))?;
                                outcome.issued += 1;
                            }
                            RowSigned::Failed { error } => {
                                query(
                                    RESULTS,
                                    "INSERT INTO batch_results (batch_id, row_no, error) \
                                     VALUES ($1, $2, $3)",
                                )
                                .id(batch)
                                .count(row.row_no)?
                                .text(error)
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("batch result"))?;
                                outcome.failed += 1;
                            }
                        }
                    }
                    advance_in(
                        tx,
                        job,
                        &owner,
                        outcome.issued + outcome.failed,
                        outcome.failed,
                        at,
                    )
                    .await?;
                    Ok(outcome)
                })
            })
            .await
    }

    async fn batch_results(
        &self,
        batch: Uuid,
        after: u64,
        max: u32,
        failed_only: bool,
    ) -> Result<Vec<RowResult>, StoreError> {
        let only = if failed_only {
            " AND error IS NOT NULL"
        } else {
            ""
        };
        query(
            RESULTS,
            format!(
                "SELECT row_no, attestation_id, error, credentials FROM batch_results \
                 WHERE batch_id = $1 AND row_no > $2{only} ORDER BY row_no LIMIT $3"
            ),
        )
        .id(batch)
        .count(after)?
        .int(limit(max))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| {
            Ok(RowResult {
                row_no: row.count("row_no")?,
                attestation_id: row.opt_id("attestation_id")?,
                error: row.opt_text("error")?,
                credentials: opt_json(row, "credentials")?,
            })
        })
        .collect()
    }

    async fn issued_batch_rows(
        &self,
        batch: Uuid,
        from: u64,
        max: u32,
    ) -> Result<Vec<IssuedRow>, StoreError> {
        query(
            RESULTS,
            "SELECT r.row_no, r.type_id, r.request, s.credentials FROM batch_results s \
             JOIN batch_rows r ON r.batch_id = s.batch_id AND r.row_no = s.row_no \
             WHERE s.batch_id = $1 AND s.row_no >= $2 AND s.attestation_id IS NOT NULL \
             ORDER BY s.row_no LIMIT $3",
        )
        .id(batch)
        .count(from)?
        .int(limit(max))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| {
            Ok(IssuedRow {
                row_no: row.count("row_no")?,
                type_id: row.id("type_id")?,
                request: row.json("request")?,
                credentials: row.json("credentials")?,
            })
        })
        .collect()
    }
}
