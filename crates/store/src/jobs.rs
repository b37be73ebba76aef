//! The job queue: the `jobs` table (DESIGN.md §4, "one job queue in the database for all
//! background work").
//!
//! A worker claims a due job under a lease (`lease_owner` until `lease_until`) and renews it while
//! it works; every step the job commits is guarded by the lease ([`check_lease_in`]), so a worker
//! that lost its lease (it stalled, and another took the job over) cannot commit anything more.
//! A lease that runs out — the process was killed — lets another worker take the job over.
//!
//! - **Claims** of queued jobs are one statement each, outside the audit-append lock:
//!   PostgreSQL picks the job with `FOR UPDATE SKIP LOCKED`, so workers of several processes
//!   never wait for or take the same row; SQLite has a single writer, so a guarded
//!   `UPDATE … RETURNING` suffices. They are not audited (an operational step, like a lease
//!   renewal or a progress count).
//! - **State changes that matter are audited** in their own transaction: a job queued
//!   (`job.create`, by its creator's method), taken over after its lease ran out (`job.takeover`),
//!   finished (`job.succeed`, `job.fail`) or cancelled (`job.cancel`).

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tillit_audit::AuditEvent;
use tillit_core::{OrgId, Page, PageRequest};
use uuid::Uuid;

use crate::audit::append_in;
use crate::db::{query, Query, Row, Tx};
use crate::model::{decode_cursor, micros, paginate};
use crate::{Backend, Store, StoreError};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker (first run, or a retry after `run_after`).
    Queued,
    /// A worker holds its lease.
    Running,
    /// Finished (final).
    Succeeded,
    /// Gave up: a permanent error, or the last attempt failed (final).
    Failed,
    /// Cancelled before it finished (final).
    Cancelled,
}

impl JobState {
    /// The state's name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job is over (succeeded, failed or cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// A fresh UUIDv7.
    pub id: Uuid,
    /// The organisation it works for; `None` for installation-wide jobs.
    pub org_id: Option<OrgId>,
    /// Which handler runs it (`batch.issue`, `catalogue.sync`, …).
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// Claims allowed before it fails for good (≥ 1).
    pub max_attempts: u32,
    /// Not before.
    pub run_after: DateTime<Utc>,
    /// The actor that queued it.
    pub created_by: String,
    /// The progress counts it starts with (`total` known up front, e.g. a batch's rows).
    pub progress: JobProgress,
}

/// How far a job is: `done` of `total` steps, `failed` of them without success (counted in
/// `done` too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub done: u64,
    pub total: u64,
    pub failed: u64,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    pub org_id: Option<OrgId>,
    pub kind: String,
    pub state: JobState,
    /// Claims so far (the current one included while running).
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_after: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub progress: JobProgress,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A job a worker has just claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub job: JobRecord,
    /// Whether it was taken over from a worker whose lease had run out (it may have committed
    /// part of its work: handlers resume from what is stored).
    pub taken_over: bool,
}

/// How a worker ends its hold on a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Done.
    Succeeded,
    /// Failed for good, with the reason.
    Failed { error: String },
    /// Failed this time; queue it again, not before `run_after`.
    Retry {
        error: String,
        run_after: DateTime<Utc>,
    },
    /// Not finished and not failed (the worker is shutting down): queue it again now, without
    /// counting the attempt.
    Released,
}

/// The job queue.
pub trait JobRepo {
    /// Queues a job, with its audit entry (`job.create` unless the caller says otherwise).
    fn enqueue_job(
        &self,
        new: NewJob,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// Claims one due job of one of `kinds` for `owner` until `at + lease`: a queued job whose
    /// `run_after` has come, else a running one whose lease ran out (taken over, audited). A
    /// taken-over job that has used all its attempts is failed instead (audited) and the next
    /// one is looked for.
    fn claim_job(
        &self,
        owner: &str,
        kinds: &[String],
        lease: Duration,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Claimed>, StoreError>> + Send;

    /// Extends `owner`'s lease on job `id` to `until`; false when the lease is no longer
    /// `owner`'s (taken over, cancelled or finished).
    fn renew_job_lease(
        &self,
        id: Uuid,
        owner: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends `owner`'s hold on job `id` as `end` says, with `audit` in the same transaction when
    /// given; false (and nothing written) when the lease is no longer `owner`'s.
    fn finish_job(
        &self,
        id: Uuid,
        owner: &str,
        end: JobEnd,
        audit: Option<AuditEvent>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Cancels job `id` of `org` unless it is over; [`StoreError::Refused`] when it is. A
    /// running job's worker finds its lease gone at its next step.
    fn cancel_job(
        &self,
        org: OrgId,
        id: Uuid,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<JobRecord, StoreError>> + Send;

    /// Job `id` of `org`.
    fn get_job(
        &self,
        org: OrgId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;

    /// Job `id`, of any organisation (for workers and operators).
    fn job(&self, id: Uuid) -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;

    /// The jobs of `org`, oldest first, one page at a time.
    fn list_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<JobRecord>, StoreError>> + Send;
}

const JOBS: &str = "jobs";
const COLS: &str = "id, org_id, kind, state, attempts, max_attempts, run_after, lease_owner, \
                    lease_until, progress_done, progress_total, progress_failed, last_error, \
                    payload, created_by, created_at, updated_at, finished_at";

fn attempts(row: &Row, col: &str) -> Result<u32, StoreError> {
    let n = row.int32(col)?;
    u32::try_from(n).map_err(|_| StoreError::corrupt(JOBS, format!("{col} {n}")))
}

fn from_row(row: &Row) -> Result<JobRecord, StoreError> {
    let state = row.text("state")?;
    Ok(JobRecord {
        id: row.id("id")?,
        org_id: row.opt_id("org_id")?.map(OrgId::from_uuid),
        kind: row.text("kind")?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(JOBS, format!("state {state:?}")))?,
        attempts: attempts(row, "attempts")?,
        max_attempts: attempts(row, "max_attempts")?,
        run_after: row.time("run_after")?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_until: row.opt_time("lease_until")?,
        progress: JobProgress {
            done: row.count("progress_done")?,
            total: row.count("progress_total")?,
            failed: row.count("progress_failed")?,
        },
        last_error: row.opt_text("last_error")?,
        payload: row.json("payload")?,
        created_by: row.text("created_by")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        finished_at: row.opt_time("finished_at")?,
    })
}

/// `$from, $from+1, …` for `n` values (an `IN (…)` list).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Longest `last_error` kept (characters).
const MAX_ERROR_CHARS: usize = 2000;

fn clip(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// Inserts a job inside the caller's write transaction (the caller writes the audit entry).
pub(crate) async fn enqueue_in(
    tx: &mut Tx,
    new: &NewJob,
    at: DateTime<Utc>,
) -> Result<JobRecord, StoreError> {
    let record = JobRecord {
        id: new.id,
        org_id: new.org_id,
        kind: new.kind.clone(),
        state: JobState::Queued,
        attempts: 0,
        max_attempts: new.max_attempts.max(1),
        run_after: micros(new.run_after),
        lease_owner: None,
        lease_until: None,
        progress: new.progress,
        last_error: None,
        payload: new.payload.clone(),
        created_by: new.created_by.clone(),
        created_at: at,
        updated_at: at,
        finished_at: None,
    };
    query(
        JOBS,
        format!(
            "INSERT INTO jobs ({COLS}) VALUES ($1, $2, $3, 'queued', 0, $4, $5, NULL, NULL, \
             $6, $7, $8, NULL, $9, $10, $11, $11, NULL)"
        ),
    )
    .id(record.id)
    .opt_id(record.org_id.map(|o| *o.as_uuid()))
    .text(&record.kind)
    .int32(i32::try_from(record.max_attempts).unwrap_or(i32::MAX))
    .time(record.run_after)
    .count(record.progress.done)?
    .count(record.progress.total)?
    .count(record.progress.failed)?
    .text(record.payload.to_string())
    .text(&record.created_by)
    .time(at)
    .execute(tx.on())
    .await
    .map_err(|e| e.on_write("job"))?;
    Ok(record)
}

/// Inside a job step's transaction: checks that `owner` still holds job `id`'s lease (locking the
/// job's row on PostgreSQL until the step commits) and adds `done`/`failed` to its progress.
/// [`StoreError::Refused`] — the step must not commit — when the lease is gone.
pub(crate) async fn advance_in(
    tx: &mut Tx,
    id: Uuid,
    owner: &str,
    done: u64,
    failed: u64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let changed = query(
        JOBS,
        "UPDATE jobs SET progress_done = progress_done + $1, \
         progress_failed = progress_failed + $2, updated_at = $3 \
         WHERE id = $4 AND state = 'running' AND lease_owner = $5",
    )
    .count(done)?
    .count(failed)?
    .time(at)
    .id(id)
    .text(owner)
    .execute(tx.on())
    .await?;
    if changed == 0 {
        return Err(lease_lost(id));
    }
    Ok(())
}

/// The refusal of a step whose worker no longer holds the job.
pub(crate) fn lease_lost(id: Uuid) -> StoreError {
    StoreError::Refused(format!(
        "job {id}: this worker no longer holds its lease (taken over, cancelled or finished)"
    ))
}

impl Store {
    /// Runs one statement on the writer outside the audit lock (SQLite: the writer connection;
    /// PostgreSQL: the pool), in a task of its own so that a dropped caller cannot interrupt it.
    async fn write_one(&self, q: Query) -> Result<Option<Row>, StoreError> {
        let db = self.db.clone();
        tokio::spawn(async move { q.fetch_optional(db.writer()).await })
            .await
            .map_err(StoreError::from_join)?
    }

    async fn claim_queued(
        &self,
        owner: &str,
        kinds: &[String],
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<JobRecord>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut q = query(
            JOBS,
            format!(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, \
                 attempts = attempts + 1, updated_at = $3 \
                 WHERE state = 'queued' AND id = (SELECT id FROM jobs \
                   WHERE state = 'queued' AND run_after <= $3 AND kind IN ({}) \
                   ORDER BY run_after, id LIMIT 1{lock}) \
                 RETURNING {COLS}",
                placeholders(4, kinds.len())
            ),
        )
        .text(owner)
        .time(until)
        .time(at);
        for kind in kinds {
            q = q.text(kind);
        }
        self.write_one(q).await?.as_ref().map(from_row).transpose()
    }

    /// Takes over one running job whose lease ran out (or fails it when it has no attempts
    /// left), audited. `Ok(None)` when there is none; `Ok(Some(None))` when one was failed.
    async fn take_over(
        &self,
        owner: &str,
        kinds: &[String],
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<Option<JobRecord>>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let select = format!(
            "SELECT {COLS} FROM jobs WHERE state = 'running' AND lease_until < $1 \
             AND kind IN ({}) ORDER BY lease_until, id LIMIT 1{lock}",
            placeholders(2, kinds.len())
        );
        let kinds = kinds.to_vec();
        let owner = owner.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let mut q = query(JOBS, select).time(at);
                    for kind in &kinds {
                        q = q.text(kind);
                    }
                    let Some(row) = q.fetch_optional(tx.on()).await? else {
                        return Ok(None);
                    };
                    let stale = from_row(&row)?;
                    let previous = stale.lease_owner.clone().unwrap_or_default();
                    let event = |action: &str, details: serde_json::Value| AuditEvent {
                        actor: format!("system:jobs:{owner}"),
                        org_id: stale.org_id.map(|o| o.to_string()),
                        action: action.into(),
                        object_id: Some(stale.id.to_string()),
                        details,
                    };
                    if stale.attempts >= stale.max_attempts {
                        let error = format!(
                            "the lease of worker {previous} ran out on attempt {} of {} \
                             (the process stopped or stalled); no attempts left",
                            stale.attempts, stale.max_attempts
                        );
                        query(
                            JOBS,
                            "UPDATE jobs SET state = 'failed', lease_owner = NULL, \
                             lease_until = NULL, last_error = $1, updated_at = $2, \
                             finished_at = $2 WHERE id = $3",
                        )
                        .text(clip(&error))
                        .time(at)
                        .id(stale.id)
                        .execute(tx.on())
                        .await?;
                        let details =
                            json!({"kind": stale.kind, "attempts": stale.attempts, "error": error});
                        append_in(tx, event("job.fail", details), at).await?;
                        return Ok(Some(None));
                    }
                    let row = query(
                        JOBS,
                        format!(
                            "UPDATE jobs SET lease_owner = $1, lease_until = $2, \
                             attempts = attempts + 1, updated_at = $3 WHERE id = $4 \
                             RETURNING {COLS}"
                        ),
                    )
                    .text(&owner)
                    .time(until)
                    .time(at)
                    .id(stale.id)
                    .fetch_one(tx.on())
                    .await?;
                    let job = from_row(&row)?;
                    let details = json!({
                        "kind": job.kind,
                        "from_worker": previous,
                        "attempt": job.attempts,
                    });
                    append_in(tx, event("job.takeover", details), at).await?;
                    Ok(Some(Some(job)))
                })
            })
            .await
    }
}

impl JobRepo for Store {
    async fn enqueue_job(
        &self,
        new: NewJob,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let record = enqueue_in(tx, &new, at).await?;
                    append_in(tx, audit, at).await?;
                    Ok(record)
                })
            })
            .await
    }

    async fn claim_job(
        &self,
        owner: &str,
        kinds: &[String],
        lease: Duration,
        at: DateTime<Utc>,
    ) -> Result<Option<Claimed>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let at = micros(at);
        let until = micros(at + lease);
        if let Some(job) = self.claim_queued(owner, kinds, until, at).await? {
            return Ok(Some(Claimed {
                job,
                taken_over: false,
            }));
        }
        // Expired leases: each pass takes one over or fails one that has no attempts left.
        loop {
            match self.take_over(owner, kinds, until, at).await? {
                None => return Ok(None),
                Some(Some(job)) => {
                    return Ok(Some(Claimed {
                        job,
                        taken_over: true,
                    }))
                }
                Some(None) => continue,
            }
        }
    }

    async fn renew_job_lease(
        &self,
        id: Uuid,
        owner: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let q = query(
            JOBS,
            "UPDATE jobs SET lease_until = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND lease_owner = $4 RETURNING id",
        )
        .time(micros(until))
        .time(micros(at))
        .id(id)
        .text(owner);
        Ok(self.write_one(q).await?.is_some())
    }

    async fn finish_job(
        &self,
        id: Uuid,
        owner: &str,
        end: JobEnd,
        audit: Option<AuditEvent>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = micros(at);
        let owner = owner.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let guard = "WHERE id = $1 AND state = 'running' AND lease_owner = $2";
                    let q = match &end {
                        JobEnd::Succeeded => query(
                            JOBS,
                            format!(
                                "UPDATE jobs SET state = 'succeeded', lease_owner = NULL, \
                                 lease_until = NULL, last_error = NULL, updated_at = $3, \
                                 finished_at = $3 {guard}"
                            ),
                        )
                        .id(id)
                        .text(&owner)
                        .time(at),
                        JobEnd::Failed { error } => query(
                            JOBS,
                            format!(
                                "UPDATE jobs SET state = 'failed', lease_owner = NULL, \
                                 lease_until = NULL, last_error = $4, updated_at = $3, \
                                 finished_at = $3 {guard}"
                            ),
                        )
                        .id(id)
                        .text(&owner)
                        .time(at)
                        .text(clip(error)),
                        JobEnd::Retry { error, run_after } => query(
                            JOBS,
                            format!(
                                "UPDATE jobs SET state = 'queued', lease_owner = NULL, \
                                 lease_until = NULL, last_error = $4, run_after = $5, \
                                 updated_at = $3 {guard}"
                            ),
                        )
                        .id(id)
                        .text(&owner)
                        .time(at)
                        .text(clip(error))
                        .time(micros(*run_after)),
                        JobEnd::Released => query(
                            JOBS,
                            format!(
                                "UPDATE jobs SET state = 'queued', lease_owner = NULL, \
                                 lease_until = NULL, attempts = attempts - 1, run_after = $3, \
                                 updated_at = $3 {guard}"
                            ),
                        )
                        .id(id)
                        .text(&owner)
                        .time(at),
                    };
                    if q.execute(tx.on()).await? == 0 {
                        return Ok(false);
                    }
                    if let Some(event) = audit {
                        append_in(tx, event, at).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn cancel_job(
        &self,
        org: OrgId,
        id: Uuid,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<JobRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        JOBS,
                        format!(
                            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, \
                             lease_until = NULL, updated_at = $1, finished_at = $1 \
                             WHERE org_id = $2 AND id = $3 AND state IN ('queued', 'running') \
                             RETURNING {COLS}"
                        ),
                    )
                    .time(at)
                    .id(*org.as_uuid())
                    .id(id)
                    .fetch_optional(tx.on())
                    .await?;
                    let Some(row) = row else {
                        let exists =
                            query(JOBS, "SELECT state FROM jobs WHERE org_id = $1 AND id = $2")
                                .id(*org.as_uuid())
                                .id(id)
                                .fetch_optional(tx.on())
                                .await?;
                        return Err(match exists {
                            None => StoreError::NotFound {
                                what: "job",
                                id: id.to_string(),
                            },
                            Some(r) => StoreError::Refused(format!(
                                "job {id} is {} and cannot be cancelled",
                                r.text("state")?
                            )),
                        });
                    };
                    let job = from_row(&row)?;
                    append_in(tx, audit, at).await?;
                    Ok(job)
                })
            })
            .await
    }

    async fn get_job(&self, org: OrgId, id: Uuid) -> Result<Option<JobRecord>, StoreError> {
        query(
            JOBS,
            format!("SELECT {COLS} FROM jobs WHERE org_id = $1 AND id = $2"),
        )
        .id(*org.as_uuid())
        .id(id)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn job(&self, id: Uuid) -> Result<Option<JobRecord>, StoreError> {
        query(JOBS, format!("SELECT {COLS} FROM jobs WHERE id = $1"))
            .id(id)
            .fetch_optional(self.db.read())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn list_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> Result<Page<JobRecord>, StoreError> {
        page.validate()?;
        let fetch = i64::from(page.limit) + 1;
        let q = match page.cursor.as_deref() {
            None => query(
                JOBS,
                format!("SELECT {COLS} FROM jobs WHERE org_id = $1 ORDER BY id LIMIT $2"),
            )
            .id(*org.as_uuid())
            .int(fetch),
            Some(cursor) => query(
                JOBS,
                format!(
                    "SELECT {COLS} FROM jobs WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ),
            )
            .id(*org.as_uuid())
            .id(decode_cursor(cursor)?)
            .int(fetch),
        };
        let items = q
            .fetch_all(self.db.read())
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, page.limit, |j: &JobRecord| j.id))
    }
}
