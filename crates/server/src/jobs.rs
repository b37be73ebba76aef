//! The job runner: a pool of workers that claim jobs from the store's queue (`JobRepo`), run the
//! handler registered for each job's `kind`, renew the lease while it runs, and end the job:
//! succeeded, retried later with exponential backoff and jitter, failed, or — on shutdown —
//! released to the queue. Plus the jobs API (`GET /v1/orgs/{org}/jobs[/{id}]`).
//!
//! Handlers resume: a job may run again after a crash, a retry or a takeover, so a handler
//! commits its work in steps that record what is done (the store guards each step by the lease)
//! and starts from what is stored. Batch issuance (`batches`) is the first handler; catalogue
//! sync, webhook delivery and form delivery register theirs the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use tillit_audit::AuditEvent;
use tillit_store::{JobEnd, JobRecord, JobRepo, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::config::Config;
use crate::error::{store_error, ApiError, Problem};
use crate::paging::ListParams;
use crate::state::AppState;

/// What a handler's run returns.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// How a handler's run went wrong.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    /// Worth another attempt (the database was busy, a remote node did not answer).
    #[error("{0}")]
    Retry(String),
    /// Will not get better by retrying (bad payload).
    #[error("{0}")]
    Fatal(String),
    /// The handler stopped because it was asked to (shutdown, or the lease is gone).
    #[error("stopped before the job was done")]
    Stopped,
}

/// Runs the jobs of one kind.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs (or resumes) `job`; it should return [`JobError::Stopped`] soon after
    /// [`RunningJob::should_stop`] turns true.
    fn run(&self, job: RunningJob) -> JobFuture;
}

/// A job as its handler sees it.
pub struct RunningJob {
    /// The job as claimed.
    pub record: JobRecord,
    /// The worker holding the lease: the store's guarded steps take it.
    pub owner: String,
    /// Whether it was taken over from a worker whose lease ran out.
    pub taken_over: bool,
    stop: watch::Receiver<bool>,
}

impl RunningJob {
    /// True once the server is stopping or the lease has been lost: return
    /// [`JobError::Stopped`] at the next safe point.
    pub fn should_stop(&self) -> bool {
        *self.stop.borrow()
    }
}

/// The handlers by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    /// Registers `handler` for jobs of `kind` (a later one for the same kind replaces it).
    pub fn register(mut self, kind: &str, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.to_owned(), Arc::new(handler));
        self
    }

    /// The kinds this registry runs.
    pub fn kinds(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }
}

/// How the pool works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Concurrent workers (each runs one job at a time); 0 runs no jobs in this process.
    pub workers: usize,
    /// How long a claim holds a job without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs.
    pub poll: Duration,
    /// The first retry's delay; each later one doubles it, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl WorkerOptions {
    /// The options of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            workers: config.job_workers,
            lease: Duration::from_secs(config.job_lease_seconds.max(1)),
            poll: Duration::from_millis(250),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
        }
    }
}

/// The delay before retry number `attempt` (1 after the first failure): `base · 2^(attempt-1)`,
/// capped at `max`, of which the second half is scaled by `jitter` ∈ [0, 1) ("equal jitter": at
/// least half the exponential delay, so that retries of many jobs spread out but never bunch up
/// at zero).
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    let full = base.saturating_mul(exp).min(max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A uniformly random number in [0, 1) from the OS generator.
fn jitter() -> f64 {
    let bits = Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// The actor of the queue's audit entries.
const ACTOR: &str = "system:jobs";

fn event(job: &JobRecord, action: &str, details: Value) -> AuditEvent {
    AuditEvent {
        actor: ACTOR.into(),
        org_id: job.org_id.map(|o| o.to_string()),
        action: action.into(),
        object_id: Some(job.id.to_string()),
        details,
    }
}

/// Starts `options.workers` workers running the jobs of `registry` until `shutdown` turns true;
/// then each stops its handler and releases its job to the queue. The returned task ends when
/// every worker has.
pub fn start_pool(
    store: Store,
    registry: Registry,
    options: WorkerOptions,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let pool = Uuid::new_v4().simple().to_string();
    let registry = Arc::new(registry);
    let workers: Vec<JoinHandle<()>> = (0..options.workers)
        .map(|n| {
            let owner = format!("{}-{}-{n}", std::process::id(), &pool[..8.min(pool.len())]);
            tokio::spawn(worker(
                store.clone(),
                registry.clone(),
                options.clone(),
                owner,
                shutdown.clone(),
            ))
        })
        .collect();
    tokio::spawn(async move {
        for w in workers {
            let _ = w.await;
        }
    })
}

async fn worker(
    store: Store,
    registry: Arc<Registry>,
    options: WorkerOptions,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let kinds = registry.kinds();
    let lease = chrono::Duration::from_std(options.lease).unwrap_or(chrono::Duration::seconds(30));
    loop {
        if *shutdown.borrow() {
            break;
        }
        match store.claim_job(&owner, &kinds, lease, Utc::now()).await {
            Ok(Some(claimed)) => {
                let Some(handler) = registry.handlers.get(&claimed.job.kind).cloned() else {
                    continue;
                };
                if claimed.taken_over {
                    tracing::warn!(job = %claimed.job.id, kind = %claimed.job.kind,
                        "took over a job whose worker's lease ran out");
                }
                run_one(&store, handler, &options, &owner, claimed, shutdown.clone()).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(options.poll) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not claim a job; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(options.poll.max(Duration::from_secs(1))) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            }
        }
    }
}

async fn run_one(
    store: &Store,
    handler: Arc<dyn JobHandler>,
    options: &WorkerOptions,
    owner: &str,
    claimed: tillit_store::Claimed,
    mut shutdown: watch::Receiver<bool>,
) {
    let job = claimed.job;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    // The lease keeper: renews every third of the lease; says stop on shutdown or a lost lease.
    let keeper = {
        let store = store.clone();
        let owner = owner.to_owned();
        let stop_tx = stop_tx.clone();
        let lease = options.lease;
        let id = job.id;
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = tokio::time::sleep(lease / 3) => false,
                    stop = shutdown.wait_for(|stop| *stop) => stop.is_ok(),
                };
                if stopping {
                    let _ = stop_tx.send(true);
                    // Keep renewing while the handler winds down.
                    tokio::time::sleep(lease / 3).await;
                }
                let now = Utc::now();
                let until =
                    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::zero());
                match store.renew_job_lease(id, &owner, until, now).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = stop_tx.send(true);
                        return true;
                    }
                    Err(e) => tracing::warn!(job = %id, error = %e, "could not renew a job lease"),
                }
            }
        })
    };
    let running = RunningJob {
        record: job.clone(),
        owner: owner.to_owned(),
        taken_over: claimed.taken_over,
        stop: stop_rx,
    };
    let result = handler.run(running).await;
    keeper.abort();
    let lost = matches!(keeper.await, Ok(true));
    let now = Utc::now();
    let details = |extra: Value| {
        let mut d = json!({"kind": job.kind, "attempt": job.attempts});
        if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
            d.extend(extra.clone());
        }
        d
    };
    let (end, audit) = match result {
        Ok(()) => (
            JobEnd::Succeeded,
            Some(event(&job, "job.succeed", details(json!({})))),
        ),
        Err(JobError::Stopped) if lost => {
            tracing::warn!(job = %job.id, "lost the lease of a job; another worker has it");
            return;
        }
        Err(JobError::Stopped) => (JobEnd::Released, None),
        Err(JobError::Retry(error)) if job.attempts < job.max_attempts => {
            let delay = backoff(
                job.attempts,
                options.backoff_base,
                options.backoff_max,
                jitter(),
            );
            let run_after =
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, %error,
                retry_in_ms = delay.as_millis() as u64, "job attempt failed; will retry");
            let audit = event(
                &job,
                "job.retry",
                details(
                    json!({"error": error, "run_after": tillit_audit::format_time(&run_after)}),
                ),
            );
            (JobEnd::Retry { error, run_after }, Some(audit))
        }
        Err(JobError::Retry(error) | JobError::Fatal(error)) => {
            tracing::warn!(job = %job.id, kind = %job.kind, %error, "job failed");
            let audit = event(&job, "job.fail", details(json!({"error": error})));
            (JobEnd::Failed { error }, Some(audit))
        }
    };
    match store.finish_job(job.id, owner, end, audit, now).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job = %job.id, "a job's lease was gone when it ended; another worker has it")
        }
        Err(e) => tracing::warn!(job = %job.id, error = %e,
            "could not record the end of a job; its lease will run out and it will run again"),
    }
}

/// A store error met by a handler, as a job error: the database being unavailable is worth a
/// retry, a refused step means the lease is gone, anything else is retried too (bounded by
/// `max_attempts`).
pub fn from_store(e: StoreError) -> JobError {
    match e {
        StoreError::Refused(_) => JobError::Stopped,
        other => JobError::Retry(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// The API

/// Progress of a job: `done` of `total` steps, `failed` of them without success.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub done: u64,
    pub total: u64,
    pub failed: u64,
}

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// What it does (`batch.issue`, …).
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub attempts: u32,
    pub max_attempts: u32,
    /// A queued job runs no earlier than this.
    pub run_after: DateTime<Utc>,
    /// While running: until when its worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    pub progress: ProgressView,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id.to_string(),
            kind: j.kind,
            state: j.state.as_str().into(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_after: j.run_after,
            lease_until: j.lease_until,
            progress: ProgressView {
                done: j.progress.done,
                total: j.progress.total,
                failed: j.progress.failed,
            },
            last_error: j.last_error,
            created_by: j.created_by,
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

/// One page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobView>,
    pub next_cursor: Option<String>,
}

fn parse_org(org: &str) -> Result<tillit_core::OrgId, ApiError> {
    org.parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))
}

/// The jobs of an organisation, oldest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/jobs", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = JobPage),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<JobPage>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    let page = state
        .store
        .list_jobs(org, &params.page_request()?)
        .await
        .map_err(store_error)?;
    Ok(Json(JobPage {
        items: page.items.into_iter().map(JobView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One job: its state, attempts, progress and last error.
#[utoipa::path(get, path = "/v1/orgs/{org}/jobs/{id}", tag = "jobs",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Job id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<Json<JobView>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    let id = Uuid::try_parse(&id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let job = state
        .store
        .get_job(org, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    Ok(Json(job.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_keeps_half() {
        let s = Duration::from_secs;
        // (attempt, jitter, expected)
        let cases = [
            (1, 0.0, s(1) / 2),
            (1, 0.999_999, s(1) - Duration::from_micros(1)),
            (2, 0.0, s(1)),
            (3, 0.5, s(3)),
            (4, 0.0, s(4)),
            (10, 0.0, s(30)),
            (10, 1.0, s(60)),
            (u32::MAX, 0.0, s(30)),
            (0, 0.0, s(1) / 2),
        ];
        for (attempt, j, want) in cases {
            let got = backoff(attempt, s(1), s(60), j);
            let diff = got.abs_diff(want);
            assert!(
                diff < Duration::from_millis(1),
                "attempt {attempt}, jitter {j}: {got:?} ≠ {want:?}"
            );
        }
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
