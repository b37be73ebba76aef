//! The job queue on SQLite and PostgreSQL: retries with exponential backoff after a failing
//! handler, a permanent failure, a lease that runs out (a dead worker) and is taken over, and
//! two worker pools on one database (two `Store`s, as two processes would have) that never run
//! one job twice.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{backend_tests, Backend, TestServer};
use serde_json::json;
use tillit_audit::AuditEvent;
use tillit_server::jobs::{
    start_pool, JobError, JobFuture, JobHandler, Registry, RunningJob, WorkerOptions,
};
use tillit_store::{AuditRepo, JobEnd, JobRecord, JobRepo, JobState, NewJob, Store};
use tokio::sync::watch;
use uuid::Uuid;

backend_tests!(
    failing_handlers_are_retried_with_backoff_then_succeed_or_fail,
    a_dead_workers_lease_runs_out_and_the_job_is_taken_over,
    two_worker_pools_never_run_one_job_twice,
);

fn options() -> WorkerOptions {
    WorkerOptions {
        workers: 2,
        lease: Duration::from_secs(10),
        poll: Duration::from_millis(20),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(5),
    }
}

/// One run of a handler: job, when, whether taken over, the worker.
type Run = (Uuid, Instant, bool, String);

/// A handler that fails with `errors[n]` on its n-th run (0-based) and succeeds after them,
/// recording when and how it ran.
#[derive(Clone, Default)]
struct Scripted {
    errors: Vec<JobError>,
    runs: Arc<Mutex<Vec<Run>>>,
    pause: Duration,
}

impl JobHandler for Scripted {
    fn run(&self, job: RunningJob) -> JobFuture {
        let this = self.clone();
        Box::pin(async move {
            let n = {
                let mut runs = this.runs.lock().unwrap();
                let n = runs.iter().filter(|r| r.0 == job.record.id).count();
                runs.push((
                    job.record.id,
                    Instant::now(),
                    job.taken_over,
                    job.owner.clone(),
                ));
                n
            };
            tokio::time::sleep(this.pause).await;
            match this.errors.get(n) {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            }
        })
    }
}

fn new_job(kind: &str, max_attempts: u32) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        org_id: None,
        kind: kind.into(),
        payload: json!({}),
        max_attempts,
        run_after: Utc::now(),
        created_by: "test".into(),
        progress: Default::default(),
    }
}

fn created(job: &NewJob) -> AuditEvent {
    AuditEvent {
        actor: "test".into(),
        org_id: None,
        action: "job.create".into(),
        object_id: Some(job.id.to_string()),
        details: json!({"kind": job.kind}),
    }
}

async fn enqueue(store: &Store, job: NewJob) -> Uuid {
    let audit = created(&job);
    store.enqueue_job(job, audit, Utc::now()).await.unwrap().id
}

/// Waits until job `id` is final.
async fn settled(store: &Store, id: Uuid, within: Duration) -> JobRecord {
    let deadline = Instant::now() + within;
    loop {
        let job = store.job(id).await.unwrap().expect("job exists");
        if job.state.is_final() {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} still {:?}", job.state);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit actions about job `id`, in order.
async fn job_audit(store: &Store, id: Uuid) -> Vec<String> {
    store
        .audit_entries(1, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.object_id.as_deref() == Some(id.to_string().as_str()))
        .map(|e| e.action)
        .collect()
}

async fn failing_handlers_are_retried_with_backoff_then_succeed_or_fail(backend: Backend) {
    let s = TestServer::start(backend).await;
    let store = s.server.state.store.clone();
    let retry = || JobError::Retry("the remote node did not answer".into());
    // (kind, scripted errors, max attempts, final state, attempts, audit trail)
    let cases = [
        (
            "test.flaky",
            vec![retry(), retry()],
            5,
            JobState::Succeeded,
            3,
            vec!["job.create", "job.retry", "job.retry", "job.succeed"],
        ),
        (
            "test.down",
            vec![retry(), retry(), retry()],
            2,
            JobState::Failed,
            2,
            vec!["job.create", "job.retry", "job.fail"],
        ),
        (
            "test.broken",
            vec![JobError::Fatal("bad payload".into())],
            5,
            JobState::Failed,
            1,
            vec!["job.create", "job.fail"],
        ),
    ];
    let mut registry = Registry::default();
    let mut handlers = HashMap::new();
    for (kind, errors, ..) in &cases {
        let h = Scripted {
            errors: errors.clone(),
            ..Scripted::default()
        };
        handlers.insert(*kind, h.clone());
        registry = registry.register(kind, h);
    }
    let (stop, rx) = watch::channel(false);
    let pool = start_pool(store.clone(), registry, options(), rx);
    for (kind, _, max_attempts, state, attempts, trail) in cases {
        let id = enqueue(&store, new_job(kind, max_attempts)).await;
        let job = settled(&store, id, Duration::from_secs(20)).await;
        assert_eq!(job.state, state, "{kind}: {job:?}");
        assert_eq!(job.attempts, attempts, "{kind}");
        if state == JobState::Failed {
            assert!(
                job.last_error.is_some(),
                "{kind}: a failure keeps its reason"
            );
        }
        assert_eq!(job_audit(&store, id).await, trail, "{kind}");
        // Each retry waited at least half its exponential delay (200 ms · 2^(n-1)).
        let runs = handlers[kind].runs.lock().unwrap().clone();
        let times: Vec<Instant> = runs.iter().filter(|r| r.0 == id).map(|r| r.1).collect();
        assert_eq!(times.len() as u32, attempts, "{kind}");
        for (n, pair) in times.windows(2).enumerate() {
            let waited = pair[1] - pair[0];
            let floor = Duration::from_millis(100 << n);
            assert!(
                waited >= floor,
                "{kind}: retry {} after {waited:?} < {floor:?}",
                n + 1
            );
        }
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool)
        .await
        .unwrap()
        .unwrap();
    s.stop().await;
}

async fn a_dead_workers_lease_runs_out_and_the_job_is_taken_over(backend: Backend) {
    let s = TestServer::start(backend).await;
    let store = s.server.state.store.clone();
    let kinds = vec!["test.takeover".to_string()];
    let id = enqueue(&store, new_job("test.takeover", 3)).await;
    // A worker claims it for one second, then dies: it never renews nor finishes.
    let dead = store
        .claim_job(
            "dead-worker",
            &kinds,
            chrono::Duration::seconds(1),
            Utc::now(),
        )
        .await
        .unwrap()
        .expect("claims the job");
    assert!(!dead.taken_over);
    assert_eq!(dead.job.state, JobState::Running);
    // Within the lease nobody else gets it.
    let other = store
        .claim_job("other", &kinds, chrono::Duration::seconds(10), Utc::now())
        .await
        .unwrap();
    assert!(other.is_none(), "a live lease is not taken: {other:?}");

    let handler = Scripted::default();
    let registry = Registry::default().register("test.takeover", handler.clone());
    let (stop, rx) = watch::channel(false);
    let pool = start_pool(store.clone(), registry, options(), rx);
    let job = settled(&store, id, Duration::from_secs(20)).await;
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.attempts, 2, "the dead worker's claim and the takeover");
    let runs = handler.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].2, "the handler is told it took the job over");
    assert_eq!(
        job_audit(&store, id).await,
        ["job.create", "job.takeover", "job.succeed"]
    );
    // The dead worker, come back, can neither renew nor end the job.
    assert!(!store
        .renew_job_lease(id, "dead-worker", Utc::now(), Utc::now())
        .await
        .unwrap());
    assert!(!store
        .finish_job(id, "dead-worker", JobEnd::Succeeded, None, Utc::now())
        .await
        .unwrap());
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool)
        .await
        .unwrap()
        .unwrap();
    s.stop().await;
}

async fn two_worker_pools_never_run_one_job_twice(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = s.server.state.config.effective_database_url();
    let first = s.server.state.store.clone();
    // A second connection pool on the same database, as a second `tillit serve` would have.
    let second = Store::connect(&url).await.unwrap();
    const JOBS: usize = 60;
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        ids.push(enqueue(&first, new_job("test.once", 3)).await);
    }
    let handler = Scripted {
        pause: Duration::from_millis(10),
        ..Scripted::default()
    };
    let (stop, rx) = watch::channel(false);
    let pools: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|store| {
            let registry = Registry::default().register("test.once", handler.clone());
            let opts = WorkerOptions {
                workers: 3,
                ..options()
            };
            start_pool(store, registry, opts, rx.clone())
        })
        .collect();
    for id in &ids {
        let job = settled(&first, *id, Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(job.attempts, 1, "job {id} was claimed more than once");
    }
    let runs = handler.runs.lock().unwrap().clone();
    let mut per_job: HashMap<Uuid, usize> = HashMap::new();
    for r in &runs {
        *per_job.entry(r.0).or_default() += 1;
    }
    assert_eq!(per_job.len(), JOBS);
    assert!(
        per_job.values().all(|n| *n == 1),
        "a job ran twice: {per_job:?}"
    );
    let owners: std::collections::HashSet<&str> = runs
        .iter()
        .map(|r| r.3.rsplit_once('-').map_or(r.3.as_str(), |(pool, _)| pool))
        .collect();
    println!("{}: {JOBS} jobs over {} pools", s.backend, owners.len());
    stop.send(true).unwrap();
    for pool in pools {
        tokio::time::timeout(Duration::from_secs(10), pool)
            .await
            .unwrap()
            .unwrap();
    }
    second.close().await;
    s.stop().await;
}
