//! Batch issuance over HTTP (issue #8 item 3): `POST /v1/orgs/{org}/attestations/batches` takes
//! JSON lines or CSV of up to [`MAX_ROWS`] holders, streams them into the store row by row (the
//! server never holds the batch), validates each row, and answers 202 with the job; the
//! `batch.issue` job ([`BatchIssuer`]) issues the rows in chunks; the results are read as JSON
//! lines and the cards as one PDF, both in bounded memory.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use tillit_store::{
    AttestationRepo, AttestationTypeRecord, BatchFormat, BatchRecord, BatchRepo, BatchRow,
    ChunkRow, JobRepo, NewAttestation, NewBatch, NewJob, OrgRepo, RowSigned,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::attestations::{check_request, definition_of, Checked, IssuedView, Issuer};
use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{store_error, ApiError, Problem};
use crate::idempotency;
use crate::jobs::{from_store, JobError, JobFuture, JobHandler, JobView, RunningJob};
use crate::state::AppState;

/// The job kind of batch issuance.
pub const KIND: &str = "batch.issue";
/// The most rows one batch may have.
pub const MAX_ROWS: u64 = 100_000;
/// The longest row (a line of JSON, a CSV record), bytes.
pub const MAX_ROW_BYTES: usize = 64 * 1024;
/// The largest upload, bytes.
pub const MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;
/// The most cards in one PDF: krilla builds the whole document in memory (a card page is a few
/// kilobytes), so a larger batch is printed in pages of cards (`?from=&count=`).
pub const MAX_CARDS_PER_PDF: u32 = 1000;
/// Rows stored per transaction during an upload.
const UPLOAD_CHUNK: usize = 500;
/// Rows issued per transaction by the job.
const ISSUE_CHUNK: u32 = 256;
/// Attempts of a batch job before it fails for good.
const MAX_ATTEMPTS: u32 = 5;
/// Failed rows shown per `GET …/batches/{id}`.
const FAILED_PAGE: u32 = 1000;
/// Results read from the store per step of the download.
const RESULTS_PAGE: u32 = 500;
const NDJSON: &str = "application/x-ndjson";

// ---------------------------------------------------------------------------------------------
// Parsing uploads (pure)

/// Cuts a byte stream into records: lines for JSON lines; for CSV, lines whose quotes are
/// balanced (a quoted field may hold a line break). Holds at most one partial record.
#[derive(Debug, Default)]
pub struct Records {
    csv: bool,
    partial: Vec<u8>,
    quotes: usize,
}

impl Records {
    pub fn new(format: BatchFormat) -> Self {
        Self {
            csv: format == BatchFormat::Csv,
            ..Self::default()
        }
    }

    /// Feeds `bytes`; the records they complete (without the line break, CR stripped).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' && (!self.csv || self.quotes & 1 == 0) {
                let mut record = std::mem::take(&mut self.partial);
                if record.last() == Some(&b'\r') {
                    record.pop();
                }
                self.quotes = 0;
                out.push(record);
                continue;
            }
            if b == b'"' {
                self.quotes += 1;
            }
            self.partial.push(b);
            if self.partial.len() > MAX_ROW_BYTES {
                return Err(format!(
                    "a row is longer than {MAX_ROW_BYTES} bytes (a missing line break?)"
                ));
            }
        }
        Ok(out)
    }

    /// The last record, when the upload does not end with a line break.
    pub fn finish(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.csv && self.quotes & 1 == 1 {
            return Err("the last CSV record has an unterminated quoted field".into());
        }
        let mut record = std::mem::take(&mut self.partial);
        if record.last() == Some(&b'\r') {
            record.pop();
        }
        Ok((!record.is_empty()).then_some(record))
    }
}

/// The fields of one CSV record (RFC 4180: `,` separated, `"` quoted, `""` inside quotes).
pub fn csv_fields(record: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err("text after a closing quote".into());
                    }
                }
            } else {
                field.push(c);
            }
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            at_start = true;
            continue;
        } else if c == '"' && at_start {
            quoted = true;
        } else if c == '"' {
            return Err("a quote inside an unquoted field".into());
        } else {
            field.push(c);
        }
        at_start = false;
    }
    if quoted {
        return Err("an unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

/// A CSV cell as the claim the type's schema declares: `integer`, `number` and `boolean`
/// properties are parsed, anything else stays text.
fn csv_value(schema: &Value, name: &str, cell: &str) -> Result<Value, String> {
    let ty = schema
        .get("properties")
        .and_then(|p| p.get(name))
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("string");
    let bad = |what: &str| format!("column {name:?}: {cell:?} is not {what}");
    Ok(match ty {
        "integer" => Value::from(cell.trim().parse::<i64>().map_err(|_| bad("an integer"))?),
        "number" => {
            let n: f64 = cell.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| bad("a finite number"))?
        }
        "boolean" => match cell.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        _ => Value::String(cell.to_owned()),
    })
}

/// One JSON line of an upload.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchLine {
    /// The type's slug; may be left out when the query names it.
    #[serde(rename = "type", default)]
    pub type_slug: Option<String>,
    pub claims: Map<String, Value>,
    #[serde(default)]
    pub holder_jwk: Option<Value>,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
}

/// An [`ApiError`] about one row as its reason text.
fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Validation { errors, .. } if !errors.is_empty() => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Upload

/// Query of `POST …/attestations/batches`.
#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreateParams {
    /// The type's slug: required for CSV; for JSON lines, the type of lines that name none.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_slug: Option<String>,
}

/// A batch and its job.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    /// `ndjson` or `csv`.
    pub format: String,
    /// Rows uploaded.
    pub rows: u64,
    /// The job issuing it: state, progress (done / total / failed), attempts, last error.
    pub job: JobView,
    /// Rows that failed, with the reason (at most 1000 per answer; see `failed_next`).
    pub failed_rows: Vec<FailedRow>,
    /// Pass as `?failed_after=` for the next failed rows.
    pub failed_next: Option<u64>,
    pub results: String,
    pub cards: String,
    pub created_at: DateTime<Utc>,
}

/// A row that was not issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedRow {
    /// 1-based position among the upload's rows (a CSV's header is not a row).
    pub row: u64,
    pub error: String,
}

fn batch_path(org: OrgId, id: Uuid) -> String {
    format!("/v1/orgs/{org}/attestations/batches/{id}")
}

fn view(batch: &BatchRecord, job: JobView, failed: Vec<FailedRow>, next: Option<u64>) -> BatchView {
    let path = batch_path(batch.org_id, batch.id);
    BatchView {
        id: batch.id.to_string(),
        format: batch.format.as_str().into(),
        rows: batch.rows_total,
        job,
        failed_rows: failed,
        failed_next: next,
        results: format!("{path}/results"),
        cards: format!("{path}/cards.pdf"),
        created_at: batch.created_at,
    }
}

fn format_of(headers: &HeaderMap) -> Result<BatchFormat, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
            Ok(BatchFormat::Ndjson)
        }
        "text/csv" => Ok(BatchFormat::Csv),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "send the batch as application/x-ndjson (one {{\"type\", \"claims\"}} object a line) \
             or text/csv (a header of claim names, with ?type=SLUG), not {ct:?}"
        ))),
    }
}

/// What the upload loop keeps per type slug.
struct TypeEntry {
    record: AttestationTypeRecord,
    definition: tillit_credential::service::TypeDefinition,
}

/// The upload in progress: the rows stored so far and what validates them.
struct Upload<'a> {
    state: &'a AppState,
    org: OrgId,
    batch: Uuid,
    format: BatchFormat,
    default_type: Option<String>,
    types: HashMap<String, Option<Arc<TypeEntry>>>,
    header: Option<Vec<String>>,
    rows: u64,
    invalid: u64,
    pending: Vec<BatchRow>,
    digest: [u8; 32],
    now: DateTime<Utc>,
}

/// The most distinct types one batch may name (bounds the cache).
const MAX_TYPES: usize = 64;

impl Upload<'_> {
    async fn type_entry(&mut self, slug: &str) -> Result<Option<Arc<TypeEntry>>, ApiError> {
        if let Some(entry) = self.types.get(slug) {
            return Ok(entry.clone());
        }
        if self.types.len() >= MAX_TYPES {
            return Err(ApiError::field(
                "type",
                format!("a batch may name at most {MAX_TYPES} types"),
            ));
        }
        let entry = match self
            .state
            .store
            .latest_attestation_type(self.org, slug)
            .await
            .map_err(store_error)?
        {
            None => None,
            Some(record) => {
                let definition = definition_of(&record)?;
                Some(Arc::new(TypeEntry { record, definition }))
            }
        };
        self.types.insert(slug.to_owned(), entry.clone());
        Ok(entry)
    }

    /// One record of the upload: the header (CSV), a blank line (skipped) or a row.
    async fn record(&mut self, bytes: Vec<u8>) -> Result<(), ApiError> {
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadRequest("the upload is not UTF-8 text".into()));
        let text = match text {
            Ok(t) => t,
            Err(e) if self.format == BatchFormat::Csv && self.header.is_none() => return Err(e),
            Err(_) => {
                // One bad row is that row's problem, not the batch's.
                return self.row(Err("the row is not UTF-8 text".into())).await;
            }
        };
        if text.trim().is_empty() {
            return Ok(());
        }
        let mut digest_input = self.digest.to_vec();
        digest_input.extend_from_slice(text.as_bytes());
        self.digest = tillit_crypto::sha256(&digest_input);
        if self.format == BatchFormat::Csv && self.header.is_none() {
            let names = csv_fields(text.trim_start_matches('\u{feff}'))
                .map_err(|e| ApiError::field("header", format!("the CSV header: {e}")))?;
            if names.iter().any(|n| n.trim().is_empty()) {
                return Err(ApiError::field(
                    "header",
                    "every CSV column needs a claim name",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(ApiError::field(
                    "header",
                    format!("the CSV header names {dup:?} twice"),
                ));
            }
            self.header = Some(names.into_iter().map(|n| n.trim().to_owned()).collect());
            return Ok(());
        }
        let line = match self.format {
            BatchFormat::Ndjson => serde_json::from_str::<BatchLine>(&text)
                .map_err(|e| format!("not a batch line ({{\"type\", \"claims\", …}}): {e}")),
            BatchFormat::Csv => self.csv_line(&text).await?,
        };
        self.row(line).await
    }

    async fn csv_line(&mut self, text: &str) -> Result<Result<BatchLine, String>, ApiError> {
        let slug = self.default_type.clone().unwrap_or_default();
        let entry = self.type_entry(&slug).await?;
        let header = self.header.clone().unwrap_or_default();
        let fields = match csv_fields(text) {
            Ok(f) => f,
            Err(e) => return Ok(Err(format!("not a CSV record: {e}"))),
        };
        if fields.len() != header.len() {
            return Ok(Err(format!(
                "{} fields, but the header has {} columns",
                fields.len(),
                header.len()
            )));
        }
        let schema = entry
            .as_ref()
            .map(|e| e.definition.claims_schema.clone())
            .unwrap_or(Value::Null);
        let mut claims = Map::new();
        for (name, cell) in header.iter().zip(fields) {
            if cell.is_empty() {
                continue;
            }
            match csv_value(&schema, name, &cell) {
                Ok(v) => {
                    claims.insert(name.clone(), v);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(BatchLine {
            type_slug: None,
            claims,
            holder_jwk: None,
            valid_from: None,
            valid_to: None,
        }))
    }

    async fn row(&mut self, line: Result<BatchLine, String>) -> Result<(), ApiError> {
        self.rows += 1;
        if self.rows > MAX_ROWS {
            return Err(ApiError::field(
                "body",
                format!("a batch has at most {MAX_ROWS} rows; split it"),
            ));
        }
        let row_no = self.rows;
        let checked = match line {
            Err(error) => Err(error),
            Ok(line) => match line.type_slug.clone().or_else(|| self.default_type.clone()) {
                None => {
                    Err("no type: name it in the line (\"type\") or in the query (?type=)".into())
                }
                Some(slug) => match self.type_entry(&slug).await? {
                    None => Err(format!("type {slug} not found")),
                    Some(entry) => check_request(
                        &entry.definition,
                        line.claims,
                        line.holder_jwk,
                        line.valid_from,
                        line.valid_to,
                        self.now,
                    )
                    .map(|c| (entry.record.id, c))
                    .map_err(|e| reason(&e)),
                },
            },
        };
        self.pending.push(match checked {
            Ok((type_id, checked)) => BatchRow::Valid {
                row_no,
                type_id,
                request: serde_json::to_value(&checked)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            Err(error) => {
                self.invalid += 1;
                BatchRow::Invalid { row_no, error }
            }
        });
        if self.pending.len() >= UPLOAD_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let rows = std::mem::take(&mut self.pending);
        if rows.is_empty() {
            return Ok(());
        }
        self.state
            .store
            .add_batch_rows(self.batch, rows)
            .await
            .map_err(store_error)
    }
}

/// Streams the body into the batch's rows; the number of rows and the digest of the upload.
async fn stream_rows(upload: &mut Upload<'_>, body: Body) -> Result<(), ApiError> {
    let mut records = Records::new(upload.format);
    let mut stream = body.into_data_stream();
    let mut bytes: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
        bytes += chunk.len() as u64;
        if bytes > MAX_UPLOAD_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        for record in records
            .push(&chunk)
            .map_err(|e| ApiError::field("body", e))?
        {
            upload.record(record).await?;
        }
    }
    if let Some(record) = records.finish().map_err(|e| ApiError::field("body", e))? {
        upload.record(record).await?;
    }
    upload.flush().await?;
    if upload.rows == 0 {
        return Err(ApiError::field("body", "the batch has no rows"));
    }
    Ok(())
}

/// Issue a batch of attestations: JSON lines (`application/x-ndjson`, one
/// `{"type", "claims", "holder_jwk"?, "valid_from"?, "valid_to"?}` a line; `type` may be given
/// once as `?type=`) or CSV (`text/csv`, a header of claim names, `?type=` required; cells of
/// integer, number and boolean claims are parsed). Up to 100,000 rows, streamed into the store;
/// each row is checked against its type (a row that fails is recorded with its reason and the
/// others go on). Answers 202 with the job that issues them.
#[utoipa::path(post, path = "/v1/orgs/{org}/attestations/batches", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"), CreateParams,
           ("Idempotency-Key" = Option<String>, Header, pattern = "^(\"[!#-~]{1,255}\"|[!#-~]{1,255})$",
            description = "A retry with the same key and upload gets the first answer (the same batch) again")),
    request_body(description = "JSON lines or CSV (a header of claim names)",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Stored and queued; poll the batch or its job", body = BatchView),
        (status = 400, description = "The upload is not UTF-8 or broke off", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 256 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither application/x-ndjson nor text/csv", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rows, more than 100,000, a row over 64 KiB, a bad CSV header, CSV without ?type, or an Idempotency-Key used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Query(params): Query<CreateParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let org_id: OrgId = org
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))?;
    authorize(
        &state,
        &principal,
        Permission::IssueAttestation,
        Target::Org(org_id),
    )
    .await?;
    let org = existing_org(&state, &org).await?;
    let format = format_of(&headers)?;
    let key = idempotency::key(&headers)?;
    if format == BatchFormat::Csv {
        let slug = params.type_slug.as_deref().ok_or_else(|| {
            ApiError::field(
                "type",
                "a CSV batch names its type in the query: ?type=SLUG",
            )
        })?;
        state
            .store
            .latest_attestation_type(org, slug)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("type {slug} not found")))?;
    }
    let actor = principal.actor();
    let now = tillit_store::micros(Utc::now());
    let id = Uuid::now_v7();
    let batch = state
        .store
        .begin_batch(
            NewBatch {
                id,
                org_id: org,
                format,
                created_by: actor.clone(),
            },
            now,
        )
        .await
        .map_err(store_error)?;
    let mut upload = Upload {
        state: &state,
        org,
        batch: id,
        format,
        default_type: params.type_slug.clone(),
        types: HashMap::new(),
        header: None,
        rows: 0,
        invalid: 0,
        pending: Vec::new(),
        digest: [0; 32],
        now,
    };
    let streamed = stream_rows(&mut upload, body).await;
    let (rows, invalid, digest) = (upload.rows, upload.invalid, upload.digest);
    drop(upload);
    let discard = || async {
        if let Err(e) = state.store.discard_batch(id).await {
            tracing::warn!(batch = %id, error = %e, "could not discard an unfinished upload");
        }
    };
    if let Err(e) = streamed {
        discard().await;
        return Err(e);
    }
    // "The same request": the path, the query and the rows as uploaded (a digest chained over
    // them, so that it is computed in one pass without holding the upload).
    let path = format!("/v1/orgs/{org}/attestations/batches");
    let request = json!({
        "type": params.type_slug,
        "format": format.as_str(),
        "rows": rows,
        "sha256": hex::encode(digest),
    });
    let claim = if key.is_some() {
        match idempotency::begin(&state, &headers, &actor, "POST", &path, &request).await {
            Ok(idempotency::Begin::Replay(first)) => {
                discard().await;
                return Ok(first);
            }
            Ok(idempotency::Begin::Proceed(claim)) => claim,
            Err(e) => {
                discard().await;
                return Err(e);
            }
        }
    } else {
        None
    };
    let location = batch_path(org, id);
    let job = NewJob {
        id,
        org_id: Some(org),
        kind: KIND.into(),
        payload: json!({ "batch": id.to_string(), "actor": actor }),
        max_attempts: MAX_ATTEMPTS,
        run_after: now,
        created_by: actor.clone(),
        progress: Default::default(),
    };
    let audit = AuditEvent {
        actor: actor.clone(),
        org_id: Some(org.to_string()),
        action: "batch.create".into(),
        object_id: Some(id.to_string()),
        details: json!({ "format": format.as_str(), "type": params.type_slug }),
    };
    // The response is known before the job is stored: its state is `queued` with the counts of
    // the upload.
    let preview = invalid;
    let sealed_batch = BatchRecord {
        rows_total: rows,
        sealed: true,
        ..batch
    };
    let queued = tillit_store::JobRecord {
        id,
        org_id: Some(org),
        kind: KIND.into(),
        state: tillit_store::JobState::Queued,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        run_after: now,
        lease_owner: None,
        lease_until: None,
        progress: tillit_store::JobProgress {
            done: preview,
            total: rows,
            failed: preview,
        },
        last_error: None,
        payload: job.payload.clone(),
        created_by: actor.clone(),
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    let failed = failed_rows(&state, id, 0).await?;
    let answer = view(&sealed_batch, JobView::from(queued), failed.0, failed.1);
    let remember = match &claim {
        Some(c) => Some(c.remember(
            StatusCode::ACCEPTED,
            Some(location.clone()),
            serde_json::to_string(&answer).map_err(|e| ApiError::Internal(e.to_string()))?,
            now,
        )),
        None => None,
    };
    match state.store.seal_batch(id, job, audit, remember, now).await {
        Ok(_) => {}
        Err(err) => {
            discard().await;
            return idempotency::after_store_error(&state, claim.as_ref(), err).await;
        }
    }
    state.audit_written.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(answer),
    )
        .into_response())
}

async fn existing_org(state: &AppState, org: &str) -> Result<OrgId, ApiError> {
    let id: OrgId = org
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))?;
    state
        .store
        .get_org(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {id} not found")))?;
    Ok(id)
}

fn ids(org: &str, id: &str) -> Result<(OrgId, Uuid), ApiError> {
    let org: OrgId = org
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))?;
    let id = Uuid::try_parse(id).map_err(|e| ApiError::field("id", e.to_string()))?;
    Ok((org, id))
}

async fn batch_of(state: &AppState, org: OrgId, id: Uuid) -> Result<BatchRecord, ApiError> {
    state
        .store
        .get_batch(org, id)
        .await
        .map_err(store_error)?
        .filter(|b| b.sealed)
        .ok_or_else(|| ApiError::NotFound(format!("batch {id} not found")))
}

async fn failed_rows(
    state: &AppState,
    batch: Uuid,
    after: u64,
) -> Result<(Vec<FailedRow>, Option<u64>), ApiError> {
    let mut failed = state
        .store
        .batch_results(batch, after, FAILED_PAGE + 1, true)
        .await
        .map_err(store_error)?;
    let more = failed.len() > FAILED_PAGE as usize;
    failed.truncate(FAILED_PAGE as usize);
    let next = if more {
        failed.last().map(|r| r.row_no)
    } else {
        None
    };
    Ok((
        failed
            .into_iter()
            .map(|r| FailedRow {
                row: r.row_no,
                error: r.error.unwrap_or_default(),
            })
            .collect(),
        next,
    ))
}

/// Query of `GET …/batches/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusParams {
    /// `failed_next` of the previous answer.
    #[param(minimum = 0)]
    pub failed_after: Option<u64>,
}

/// A batch: its job (state, progress done / total / failed, attempts, last error) and the rows
/// that failed, each with its reason.
#[utoipa::path(get, path = "/v1/orgs/{org}/attestations/batches/{id}", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Batch id (also its job's id)"), StatusParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 404, description = "No such batch in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Query(params): Query<StatusParams>,
) -> Result<Json<BatchView>, ApiError> {
    let (org, id) = ids(&org, &id)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    let batch = batch_of(&state, org, id).await?;
    let job = state
        .store
        .get_job(org, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::Internal(format!("batch {id} has no job")))?;
    let (failed, next) = failed_rows(&state, id, params.failed_after.unwrap_or(0)).await?;
    Ok(Json(view(&batch, job.into(), failed, next)))
}

/// The results so far as JSON lines, in row order, streamed: `{"row", "id", "type", …,
/// "sd_jwt_vc", "qr"}` for an issued row, `{"row", "error"}` for a failed one.
#[utoipa::path(get, path = "/v1/orgs/{org}/attestations/batches/{id}/results", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Batch id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One JSON object a line", body = String, content_type = "application/x-ndjson"),
        (status = 404, description = "No such batch in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn results(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (org, id) = ids(&org, &id)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    batch_of(&state, org, id).await?;
    let store = state.store.clone();
    let pages = futures_util::stream::unfold(Some(0u64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.batch_results(id, after, RESULTS_PAGE, false).await {
                Err(e) => {
                    tracing::warn!(batch = %id, error = %e, "results download broke off");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|r| r.row_no);
                    let mut out = Vec::new();
                    for r in page {
                        let mut line = Map::new();
                        line.insert("row".into(), r.row_no.into());
                        match (r.credentials, r.error) {
                            (Some(Value::Object(c)), _) => line.extend(c),
                            (_, error) => {
                                line.insert("error".into(), error.unwrap_or_default().into());
                            }
                        }
                        if serde_json::to_writer(&mut out, &Value::Object(line)).is_ok() {
                            out.push(b'\n');
                        }
                    }
                    Some((Ok(out), next))
                }
            }
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}

/// Query of `GET …/batches/{id}/cards.pdf`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardsParams {
    /// The first row to print (1-based; default 1).
    #[param(minimum = 1)]
    pub from: Option<u64>,
    /// How many issued rows to print, at most 1000 (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub count: Option<u32>,
    /// The cards' language: sv, da, nb or en (default: the type's first display name).
    pub lang: Option<String>,
}

/// The printable cards of the issued rows as one PDF, an ID-1 page each, in row order: at most
/// 1000 cards per PDF (the document is built in memory), so a larger batch is printed in parts
/// with `?from=ROW&count=N`.
#[utoipa::path(get, path = "/v1/orgs/{org}/attestations/batches/{id}/cards.pdf", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Batch id"), CardsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cards", body = String, content_type = "application/pdf"),
        (status = 404, description = "No such batch, or no issued row from `from` on", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "count over 1000 or 0, an unknown language, a type without the QR format, or a card that cannot be drawn", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cards(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Query(params): Query<CardsParams>,
) -> Result<Response, ApiError> {
    let (org, id) = ids(&org, &id)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    batch_of(&state, org, id).await?;
    let count = params.count.unwrap_or(MAX_CARDS_PER_PDF);
    if count == 0 || count > MAX_CARDS_PER_PDF {
        return Err(ApiError::field(
            "count",
            format!(
                "at most {MAX_CARDS_PER_PDF} cards per PDF; print a larger batch in parts with ?from=ROW&count=N"
            ),
        ));
    }
    let lang = params
        .lang
        .as_deref()
        .map(|l| l.parse::<tillit_card::Lang>())
        .transpose()
        .map_err(|e| ApiError::field("lang", e.to_string()))?;
    let from = params.from.unwrap_or(1).max(1);
    let rows = state
        .store
        .issued_batch_rows(id, from, count)
        .await
        .map_err(store_error)?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!(
            "batch {id} has no issued row from row {from} on"
        )));
    }
    let issuer_name = state
        .store
        .get_org(org)
        .await
        .map_err(store_error)?
        .map(|o| o.name)
        .unwrap_or_default();
    let mut types: HashMap<Uuid, tillit_credential::service::TypeDefinition> = HashMap::new();
    let mut specs = Vec::with_capacity(rows.len());
    for row in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = types.entry(row.type_id) {
            let record = state
                .store
                .attestation_type(org, row.type_id)
                .await
                .map_err(store_error)?
                .ok_or_else(|| ApiError::Internal(format!("type {} is gone", row.type_id)))?;
            slot.insert(definition_of(&record)?);
        }
        let definition = types
            .get(&row.type_id)
            .ok_or_else(|| ApiError::Internal("type cache".into()))?;
        specs.push(card_spec(definition, &issuer_name, lang, &row)?);
    }
    let pdf = tokio::task::spawn_blocking(move || tillit_card::render_pdf(&specs))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::field("cards", e.to_string()))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"batch-{id}-cards.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response())
}

/// The first of the type's display names in the order sv, da, nb, en, as the card's language.
fn type_lang(definition: &tillit_credential::service::TypeDefinition) -> tillit_card::Lang {
    let d = &definition.display;
    use tillit_card::Lang;
    [
        (Lang::Sv, &d.sv),
        (Lang::Da, &d.da),
        (Lang::Nb, &d.nb),
        (Lang::En, &d.en),
    ]
    .into_iter()
    .find(|(_, name)| name.is_some())
    .map_or(Lang::En, |(lang, _)| lang)
}

/// A claim as a card shows it: a text as it is, a number or boolean as JSON writes it.
fn shown(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

fn card_spec(
    definition: &tillit_credential::service::TypeDefinition,
    issuer: &str,
    lang: Option<tillit_card::Lang>,
    row: &tillit_store::IssuedRow,
) -> Result<tillit_card::CardSpec, ApiError> {
    let lang = lang.unwrap_or_else(|| type_lang(definition));
    let checked: Checked = serde_json::from_value(row.request.clone())
        .map_err(|e| ApiError::Internal(format!("stored batch row: {e}")))?;
    let qr = row
        .credentials
        .get("qr")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::field(
                "cards",
                "the type issues no QR code, so there is nothing to print on a card",
            )
        })?;
    let properties = definition.claims_schema.get("properties");
    let fields = definition
        .card_fields
        .iter()
        .filter_map(|name| {
            let value = checked.claims.get(name).and_then(shown)?;
            let label = properties
                .and_then(|p| p.get(name))
                .and_then(|p| p.get("title"))
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned();
            Some((label, value))
        })
        .take(tillit_card::MAX_FIELDS)
        .collect();
    let validity = tillit_card::Validity::new(
        checked.valid_from.date_naive(),
        checked.valid_to.date_naive(),
    )
    .map_err(|e| ApiError::field("cards", e.to_string()))?;
    Ok(tillit_card::CardSpec {
        title: definition.display_name(lang.code()).to_owned(),
        issuer: issuer.to_owned(),
        fields,
        validity,
        lang,
        qr_text: qr.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// The job

/// The `batch.issue` job: issues a batch's pending rows, [`ISSUE_CHUNK`] per transaction, and
/// resumes from the rows that have no result after a crash, a retry or a takeover.
pub struct BatchIssuer {
    pub state: AppState,
}

impl JobHandler for BatchIssuer {
    fn run(&self, job: RunningJob) -> JobFuture {
        let state = self.state.clone();
        Box::pin(async move { issue_batch(state, job).await })
    }
}

#[derive(Deserialize)]
struct Payload {
    batch: Uuid,
    actor: String,
}

async fn issue_batch(state: AppState, job: RunningJob) -> Result<(), JobError> {
    let payload: Payload = serde_json::from_value(job.record.payload.clone())
        .map_err(|e| JobError::Fatal(format!("not a batch job: {e}")))?;
    let org = job
        .record
        .org_id
        .ok_or_else(|| JobError::Fatal("a batch job has an organisation".into()))?;
    let mut issuers: HashMap<Uuid, Arc<Issuer>> = HashMap::new();
    let mut after = 0u64;
    loop {
        if job.should_stop() {
            return Err(JobError::Stopped);
        }
        let rows = state
            .store
            .pending_batch_rows(payload.batch, after, ISSUE_CHUNK)
            .await
            .map_err(from_store)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.row_no;
        let now = tillit_store::micros(Utc::now());
        let mut inputs: Vec<(Arc<Issuer>, Result<Checked, String>)> =
            Vec::with_capacity(rows.len());
        let mut chunk = Vec::with_capacity(rows.len());
        for row in rows {
            let issuer = match issuers.get(&row.type_id) {
                Some(i) => i.clone(),
                None => {
                    let record = state
                        .store
                        .attestation_type(org, row.type_id)
                        .await
                        .map_err(from_store)?
                        .ok_or_else(|| JobError::Fatal(format!("type {} is gone", row.type_id)))?;
                    let issuer = Issuer::load(&state, org, record, &payload.actor, now)
                        .await
                        .map_err(|e| JobError::Retry(e.to_string()))?;
                    let issuer = Arc::new(issuer);
                    issuers.insert(row.type_id, issuer.clone());
                    issuer
                }
            };
            let checked: Result<Checked, String> = serde_json::from_value(row.request)
                .map_err(|e| format!("stored row does not decode: {e}"));
            let (valid_from, valid_to) = checked
                .as_ref()
                .map_or((now, now), |c| (c.valid_from, c.valid_to));
            chunk.push(ChunkRow {
                row_no: row.row_no,
                attestation: NewAttestation {
                    id: Uuid::now_v7(),
                    org_id: org,
                    type_id: row.type_id,
                    subject_ref: None,
                    issued_by: payload.actor.clone(),
                    valid_from,
                    valid_to,
                    signing_kid: Some(issuer.key.kid()),
                },
            });
            inputs.push((issuer, checked));
        }
        let actor = payload.actor.clone();
        let batch = payload.batch;
        state
            .store
            .issue_batch_chunk(job.record.id, &job.owner, batch, chunk, now, move |items| {
                Ok(sign_chunk(items, &inputs, &actor, batch, now))
            })
            .await
            .map_err(from_store)?;
        state.audit_written.notify_one();
    }
}

/// Signs a chunk's rows, on up to as many threads as there are cores.
fn sign_chunk(
    items: &[(ChunkRow, tillit_store::StatusAllocation)],
    inputs: &[(Arc<Issuer>, Result<Checked, String>)],
    actor: &str,
    batch: Uuid,
    now: DateTime<Utc>,
) -> Vec<RowSigned> {
    let one = |(row, slot): &(ChunkRow, tillit_store::StatusAllocation),
               (issuer, checked): &(Arc<Issuer>, Result<Checked, String>)|
     -> RowSigned {
        let checked = match checked {
            Ok(c) => c,
            Err(e) => return RowSigned::Failed { error: e.clone() },
        };
        let id = row.attestation.id;
        match issuer.sign(id, checked, now, slot.idx, slot.list_id) {
            Err(error) => RowSigned::Failed { error },
            Ok(view) => match serde_json::to_value::<&IssuedView>(&view) {
                Err(e) => RowSigned::Failed {
                    error: e.to_string(),
                },
                Ok(credentials) => RowSigned::Issued {
                    credentials,
                    audit: Box::new(AuditEvent {
                        actor: actor.to_owned(),
                        org_id: Some(row.attestation.org_id.to_string()),
                        action: "attestation.issue".into(),
                        object_id: Some(id.to_string()),
                        details: json!({
                            "type": issuer.record.slug,
                            "status_list": slot.list_id.to_string(),
                            "idx": slot.idx,
                            "batch": batch.to_string(),
                            "row": row.row_no,
                        }),
                    }),
                },
            },
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    if threads == 1 || items.len() < 16 {
        return items.iter().zip(inputs).map(|(i, x)| one(i, x)).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(per)
            .zip(inputs.chunks(per))
            .map(|(is, xs)| {
                scope.spawn(move || {
                    is.iter()
                        .zip(xs)
                        .map(|(i, x)| one(i, x))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| {
                p.join().unwrap_or_else(|_| {
                    vec![RowSigned::Failed {
                        error: "signing panicked".into(),
                    }]
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_at_line_breaks_outside_quotes() {
        // (format, chunks, expected records)
        let cases: &[(BatchFormat, &[&str], &[&str])] = &[
            (
                BatchFormat::Ndjson,
                &["{\"a\":1}\n{\"b\"", ":2}\r\n"],
                &["{\"a\":1}", "{\"b\":2}"],
            ),
            (BatchFormat::Ndjson, &["x\n\ny"], &["x", "", "y"]),
            (
                BatchFormat::Csv,
                &["a,b\n\"x\ny\",z\n"],
                &["a,b", "\"x\ny\",z"],
            ),
            (
                BatchFormat::Csv,
                &["a,\"b\"\"", "c\"\nd"],
                &["a,\"b\"\"c\"", "d"],
            ),
        ];
        for (format, chunks, want) in cases {
            let mut r = Records::new(*format);
            let mut got: Vec<String> = Vec::new();
            for c in *chunks {
                got.extend(
                    r.push(c.as_bytes())
                        .unwrap()
                        .into_iter()
                        .map(|b| String::from_utf8(b).unwrap()),
                );
            }
            got.extend(r.finish().unwrap().map(|b| String::from_utf8(b).unwrap()));
            assert_eq!(&got, want, "{chunks:?}");
        }
        let mut r = Records::new(BatchFormat::Csv);
        r.push(b"\"open").unwrap();
        assert!(r.finish().is_err());
        let mut r = Records::new(BatchFormat::Ndjson);
        assert!(r.push(&vec![b'x'; MAX_ROW_BYTES + 1]).is_err());
    }

    #[test]
    fn csv_fields_follow_rfc_4180() {
        let cases: &[(&str, Result<&[&str], ()>)] = &[
            ("a,b,c", Ok(&["a", "b", "c"])),
            ("\"a,b\",c", Ok(&["a,b", "c"])),
            ("\"say \"\"hi\"\"\",", Ok(&["say \"hi\"", ""])),
            ("Åsa,Øre,æ", Ok(&["Åsa", "Øre", "æ"])),
            ("", Ok(&[""])),
            ("a\"b", Err(())),
            ("\"a\"b", Err(())),
            ("\"open", Err(())),
        ];
        for (input, want) in cases {
            let got = csv_fields(input);
            match want {
                Ok(w) => assert_eq!(
                    got.unwrap(),
                    w.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "{input}"
                ),
                Err(()) => assert!(got.is_err(), "{input}"),
            }
        }
    }

    #[test]
    fn csv_cells_take_the_schema_type() {
        let schema = json!({"properties": {"n": {"type": "integer"}, "x": {"type": "number"},
                                           "b": {"type": "boolean"}, "s": {"type": "string"}}});
        let cases = [
            ("n", "42", Ok(json!(42))),
            ("n", "4.2", Err(())),
            ("x", "4.5", Ok(json!(4.5))),
            ("b", "true", Ok(json!(true))),
            ("b", "yes", Err(())),
            ("s", "007", Ok(json!("007"))),
            ("unknown", "1", Ok(json!("1"))),
        ];
        for (name, cell, want) in cases {
            let got = csv_value(&schema, name, cell);
            match want {
                Ok(v) => assert_eq!(got.unwrap(), v, "{name}={cell}"),
                Err(()) => assert!(got.is_err(), "{name}={cell}"),
            }
        }
    }
}
