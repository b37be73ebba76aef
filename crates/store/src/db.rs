//! The backend seam: everything that differs between SQLite and PostgreSQL, in one place.
//!
//! The area modules (`orgs`, `tokens`, `keys`, `audit`, `idempotency`) write their SQL once,
//! with `$N` placeholders (both engines accept them), bind values through [`Query`] and read
//! rows through [`Row`]. This module encodes the values per backend — SQLite stores ids as UUID
//! text and times as RFC 3339 text with microseconds, PostgreSQL native `uuid` and
//! `timestamptz` — and runs every write as a unit of work that a dropped caller cannot
//! interrupt ([`Db::write`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::query::Query as SqlxQuery;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Postgres, Row as _, Sqlite, Transaction};
use tokio::sync::{oneshot, Notify};
use uuid::Uuid;

use crate::{Backend, StoreError};

/// A boxed, sendable future: what a unit of work given to [`Db::write`] returns.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The connection pools of one database.
#[derive(Debug, Clone)]
pub(crate) enum Pools {
    /// One writer connection (all writes, `BEGIN IMMEDIATE`) and a pool of readers.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        /// A file next to the database that `/readyz` writes to see whether the disk has room
        /// (`None` for an in-memory database).
        disk_probe: Option<std::path::PathBuf>,
    },
    /// One pool for reads and writes; write transactions run concurrently.
    Postgres { pool: PgPool },
}

/// One database: its pools, and the signal that a committed write left audit entries for the
/// sequencer.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pools: Pools,
    audit_pending: Arc<Notify>,
    group: Arc<GroupCommit>,
}

impl Db {
    /// `max_units`: how many units of work one SQLite write transaction takes at most (group
    /// commit; 1 = a transaction per unit). PostgreSQL ignores it.
    pub(crate) fn new(pools: Pools, max_units: usize) -> Self {
        Self {
            pools,
            audit_pending: Arc::new(Notify::new()),
            group: Arc::new(GroupCommit {
                queue: std::sync::Mutex::new(VecDeque::new()),
                turn: tokio::sync::Mutex::new(()),
                max_units: max_units.max(1),
                committed: Default::default(),
                committed_units: Default::default(),
            }),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match &self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Notified after every commit that left entries in `audit_pending` (see
    /// [`Tx::left_audit_pending`]).
    pub(crate) fn audit_pending(&self) -> &Arc<Notify> {
        &self.audit_pending
    }

    /// Runs `work` in one write transaction and commits it when `work` returns `Ok`; rolls back
    /// when it returns `Err`.
    ///
    /// **Cancellation-safe.** The transaction — from `BEGIN` to `COMMIT` or `ROLLBACK` — runs in
    /// a task of its own, so a caller that is dropped at any await point (an HTTP client that
    /// hangs up) neither interrupts it nor leaves a pooled connection inside a transaction: the
    /// change commits whole, with its audit entry, or not at all. (sqlx's `begin` is not
    /// cancellation-safe by itself: a `BEGIN` dropped in flight left SQLite's only writer at a
    /// non-zero transaction depth, and every later write failed.)
    ///
    /// **Group commit on SQLite.** The units of work that are queued when the writer gets its
    /// turn run together (at most [`GroupCommit::max_units`]) in one `BEGIN IMMEDIATE`
    /// transaction, each inside its own `SAVEPOINT`: a unit that returns `Err` (or panics) is
    /// rolled back to its savepoint alone and gets its error, the others go on. One `COMMIT`
    /// (one fsync) then makes them durable together, and only after it is each unit
    /// acknowledged; when the commit fails, every unit of the batch gets the error and none is
    /// acknowledged. Units run one after the other on the one connection, so each sees the
    /// effects of those before it (the audit sequencer runs inside each unit: seq and hash
    /// chain stay exact). PostgreSQL runs every unit in a transaction of its own, concurrently.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        if matches!(self.pools, Pools::Sqlite { .. }) {
            let (reply, answer) = oneshot::channel();
            self.group.enqueue(Box::new(Typed {
                work: Some(work),
                value: None,
                error: None,
                reply,
            }));
            let db = self.clone();
            // The turn runs in a task of its own: a dropped caller does not stop it.
            tokio::spawn(async move { db.writer_turn().await });
            return answer.await.unwrap_or_else(|_| {
                Err(StoreError::Interrupted(
                    "the database task ended without an answer (the runtime is shutting down)"
                        .into(),
                ))
            });
        }
        let db = self.clone();
        tokio::spawn(async move {
            let mut tx = db.begin_write().await?;
            match work(&mut tx).await {
                Ok(value) => {
                    let pending = tx.audit_pending;
                    tx.commit().await?;
                    if pending {
                        db.audit_pending.notify_one();
                    }
                    Ok(value)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
        .await
        .map_err(StoreError::from_join)?
    }

    /// One turn of SQLite's writer: takes the queued units (at most `max_units`) and runs them
    /// as one batch. Every [`Db::write`] spawns one turn after queueing its unit, and every turn
    /// that finds the queue non-empty takes at least one unit, so no unit is left behind.
    async fn writer_turn(&self) {
        let _turn = self.group.turn.lock().await;
        let batch = self.group.take();
        if batch.is_empty() {
            return;
        }
        self.run_batch(batch).await;
    }

    async fn run_batch(&self, mut batch: Vec<Box<dyn Unit>>) {
        let mut tx = match self.begin_write().await {
            Ok(tx) => tx,
            Err(e) => {
                let failed = Err(e);
                for unit in batch {
                    unit.deliver(&failed);
                }
                return;
            }
        };
        let mut broken = None;
        for unit in &mut batch {
            if let Err(e) = raw(&mut tx, "SAVEPOINT tillit_unit").await {
                broken = Some(e);
                break;
            }
            let ok = match (CatchUnwind(unit.run(&mut tx))).await {
                Ok(ok) => ok,
                Err(()) => {
                    unit.fail(StoreError::Rejected(
                        "the database task panicked; the change was not made".into(),
                    ));
                    false
                }
            };
            let end = if ok {
                raw(&mut tx, "RELEASE tillit_unit").await
            } else {
                match raw(&mut tx, "ROLLBACK TO tillit_unit").await {
                    Ok(()) => raw(&mut tx, "RELEASE tillit_unit").await,
                    // The unit's error ended the whole transaction (SQLite rolls back on some
                    // errors, e.g. a full disk): the batch fails with that error.
                    Err(e) => Err(unit.error().map_or(e, replicate)),
                }
            };
            if let Err(e) = end {
                broken = Some(e);
                break;
            }
        }
        let pending = tx.audit_pending;
        let committed = match broken {
            Some(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
            None => tx.commit().await,
        };
        if committed.is_ok() {
            use std::sync::atomic::Ordering::Relaxed;
            self.group.committed.fetch_add(1, Relaxed);
            self.group
                .committed_units
                .fetch_add(batch.len() as u64, Relaxed);
            if pending {
                self.audit_pending.notify_one();
            }
        }
        for unit in batch {
            unit.deliver(&committed);
        }
    }

    /// SQLite: the write transactions committed so far by group commit, and the units of work
    /// they held (PostgreSQL: zero).
    pub(crate) fn group_commits(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.group.committed.load(Relaxed),
            self.group.committed_units.load(Relaxed),
        )
    }

    /// A write transaction. SQLite: `BEGIN IMMEDIATE` on the one writer connection, which
    /// excludes every other writer (of any process) until it ends. PostgreSQL: a plain
    /// `BEGIN` (READ COMMITTED); no installation-wide lock — the audit sequencer takes its own
    /// ([`Tx::lock_audit_sequencer`]) only in its own short transactions.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        let inner = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Pools::Postgres { pool } => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            audit_pending: false,
        })
    }

    /// Checks, within `bound`, that a write transaction can begin on a writable database (for
    /// `/readyz`): SQLite takes and releases its write lock and writes a small file next to the
    /// database (a full disk is [`StoreError::NotWritable`] saying "the disk is full");
    /// PostgreSQL begins a transaction on a primary that is not read-only. Like [`Db::write`] it runs in a task of its own.
    pub(crate) async fn check_writable(&self, bound: Duration) -> Result<(), StoreError> {
        let db = self.clone();
        let check = tokio::spawn(async move {
            match &db.pools {
                Pools::Sqlite {
                    writer, disk_probe, ..
                } => {
                    let tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                    tx.rollback().await?;
                    // The write lock says nothing about space: a full disk fails only the
                    // commits. Write a little next to the database to find out.
                    if let Some(path) = disk_probe.clone() {
                        tokio::task::spawn_blocking(move || crate::sqlite::probe_disk(&path))
                            .await
                            .map_err(StoreError::from_join)??;
                    }
                }
                Pools::Postgres { pool } => {
                    let mut tx = pool.begin().await?;
                    let (recovery, read_only): (bool, String) = sqlx::query_as(
                        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    if recovery || read_only == "on" {
                        return Err(StoreError::NotWritable(
                            "the PostgreSQL server is read-only (a standby, or \
                             default_transaction_read_only is on)"
                                .into(),
                        ));
                    }
                }
            }
            Ok(())
        });
        match tokio::time::timeout(bound, check).await {
            Ok(joined) => joined.map_err(StoreError::from_join)?,
            Err(_) => Err(StoreError::NotWritable(format!(
                "no write transaction could begin within {} ms",
                bound.as_millis()
            ))),
        }
    }

    /// The pool for reads.
    /// The writer outside any transaction (SQLite: the writer connection's pool; PostgreSQL:
    /// the pool), for single statements that need no audit entry (the job queue's claims).
    pub(crate) fn writer(&self) -> On<'_> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => On::SqlitePool(writer),
            Pools::Postgres { pool } => On::PgPool(pool),
        }
    }

    pub(crate) fn read(&self) -> On<'_> {
        match &self.pools {
            Pools::Sqlite { reader, .. } => On::SqlitePool(reader),
            Pools::Postgres { pool } => On::PgPool(pool),
        }
    }

    /// Closes every connection (SQLite checkpoints the WAL).
    pub(crate) async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres { pool } => pool.close().await,
        }
    }
}

/// SQLite's group commit (see [`Db::write`]): the queue of units waiting for the writer, and
/// the writer's turn (one batch at a time).
#[derive(Debug)]
pub(crate) struct GroupCommit {
    queue: std::sync::Mutex<VecDeque<Box<dyn Unit>>>,
    turn: tokio::sync::Mutex<()>,
    max_units: usize,
    /// Transactions committed, and the units of work they held.
    committed: std::sync::atomic::AtomicU64,
    committed_units: std::sync::atomic::AtomicU64,
}

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Box<dyn Unit>>> {
        // A panic while the lock was held cannot leave the queue half-changed (push and drain).
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enqueue(&self, unit: Box<dyn Unit>) {
        self.lock().push_back(unit);
    }

    /// The oldest queued units, at most `max_units`.
    fn take(&self) -> Vec<Box<dyn Unit>> {
        let mut queue = self.lock();
        let n = queue.len().min(self.max_units);
        queue.drain(..n).collect()
    }
}

/// A unit of work of one [`Db::write`] caller, with the value it produced until its batch has
/// committed.
trait Unit: Send {
    /// Runs the work inside the batch's transaction; whether it succeeded.
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool>;
    /// Records that the work failed outside its own answer (a panic).
    fn fail(&mut self, error: StoreError);
    /// The unit's own error, if it failed.
    fn error(&self) -> Option<&StoreError>;
    /// Answers the caller: the unit's own error if it failed, else its value once `committed`
    /// is `Ok`, else the batch's error.
    fn deliver(self: Box<Self>, committed: &Result<(), StoreError>);
}

impl std::fmt::Debug for dyn Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unit")
    }
}

struct Typed<T, F> {
    work: Option<F>,
    value: Option<T>,
    error: Option<StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Unit for Typed<T, F>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let Some(work) = self.work.take() else {
                return false;
            };
            match work(tx).await {
                Ok(value) => {
                    self.value = Some(value);
                    true
                }
                Err(e) => {
                    self.error = Some(e);
                    false
                }
            }
        })
    }

    fn fail(&mut self, error: StoreError) {
        self.value = None;
        self.error = Some(error);
    }

    fn error(&self) -> Option<&StoreError> {
        self.error.as_ref()
    }

    fn deliver(self: Box<Self>, committed: &Result<(), StoreError>) {
        let answer = match (self.error, self.value, committed) {
            (Some(e), _, _) => Err(e),
            (None, Some(value), Ok(())) => Ok(value),
            (None, _, Err(e)) => Err(replicate(e)),
            (None, None, Ok(())) => Err(StoreError::Interrupted(
                "the unit of work did not run".into(),
            )),
        };
        // A caller that went away no longer needs the answer; the change is committed (or not)
        // all the same.
        let _ = self.reply.send(answer);
    }
}

/// Polls a future and turns a panic in it into `Err(())` (the panic has been printed by the
/// panic hook already).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// One statement of the batch's own (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`).
async fn raw(tx: &mut Tx, sql: &'static str) -> Result<(), StoreError> {
    query("transaction", sql).execute(tx.on()).await?;
    Ok(())
}

/// The same error again, for each unit of a batch that failed as a whole: database errors keep
/// their code and message (so that "disk full" or "busy" is still recognised), connection
/// errors their kind.
fn replicate(e: &StoreError) -> StoreError {
    use sqlx::Error as E;
    let db = match e {
        StoreError::Database(E::Database(db)) => E::Database(Box::new(SharedDbError {
            message: db.message().to_owned(),
            code: db.code().map(Cow::into_owned),
            kind: match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => SharedKind::Unique,
                sqlx::error::ErrorKind::ForeignKeyViolation => SharedKind::ForeignKey,
                sqlx::error::ErrorKind::NotNullViolation => SharedKind::NotNull,
                sqlx::error::ErrorKind::CheckViolation => SharedKind::Check,
                _ => SharedKind::Other,
            },
        })),
        StoreError::Database(E::Io(io)) => E::Io(std::io::Error::new(io.kind(), io.to_string())),
        StoreError::Database(E::PoolTimedOut) => E::PoolTimedOut,
        StoreError::Database(E::PoolClosed) => E::PoolClosed,
        StoreError::Database(E::WorkerCrashed) => E::WorkerCrashed,
        StoreError::Interrupted(s) => return StoreError::Interrupted(s.clone()),
        StoreError::NotWritable(s) => return StoreError::NotWritable(s.clone()),
        StoreError::Rejected(s) => return StoreError::Rejected(s.clone()),
        StoreError::Refused(s) => return StoreError::Refused(s.clone()),
        StoreError::Invalid(s) => return StoreError::Invalid(s.clone()),
        StoreError::Corrupt { table, reason } => {
            return StoreError::Corrupt {
                table,
                reason: reason.clone(),
            }
        }
        other => E::Protocol(other.to_string()),
    };
    StoreError::Database(db)
}

#[derive(Debug, Clone, Copy)]
enum SharedKind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    Other,
}

/// A database error given to every unit of a failed batch ([`replicate`]).
#[derive(Debug)]
struct SharedDbError {
    message: String,
    code: Option<String>,
    kind: SharedKind,
}

impl std::fmt::Display for SharedDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SharedDbError {}

impl sqlx::error::DatabaseError for SharedDbError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.kind {
            SharedKind::Unique => sqlx::error::ErrorKind::UniqueViolation,
            SharedKind::ForeignKey => sqlx::error::ErrorKind::ForeignKeyViolation,
            SharedKind::NotNull => sqlx::error::ErrorKind::NotNullViolation,
            SharedKind::Check => sqlx::error::ErrorKind::CheckViolation,
            SharedKind::Other => sqlx::error::ErrorKind::Other,
        }
    }
}

/// A write transaction (see [`Db::write`]).
pub(crate) struct Tx {
    inner: TxInner,
    /// Set when the transaction inserted audit entries that it did not sequence itself.
    audit_pending: bool,
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Where a [`Query`] inside this transaction runs.
    pub(crate) fn on(&mut self) -> On<'_> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => On::SqliteConn(tx),
            TxInner::Postgres(tx) => On::PgConn(tx),
        }
    }

    /// Whether this transaction already excludes every other writer of the database until it
    /// ends (SQLite's `BEGIN IMMEDIATE`), so that the audit sequencer may run inside it at no
    /// extra cost in concurrency.
    pub(crate) fn excludes_other_writers(&self) -> bool {
        matches!(self.inner, TxInner::Sqlite(_))
    }

    /// Takes the audit sequencer's lock until the transaction ends: one sequencer at a time,
    /// across connections and processes. PostgreSQL: the row lock on the one row of
    /// `audit_sequencer` (schema-local, unlike an advisory lock); SQLite: already held
    /// ([`Tx::excludes_other_writers`]).
    pub(crate) async fn lock_audit_sequencer(&mut self) -> Result<(), StoreError> {
        if let TxInner::Postgres(tx) = &mut self.inner {
            let locked = sqlx::query("SELECT id FROM audit_sequencer WHERE id = 1 FOR UPDATE")
                .fetch_optional(&mut **tx)
                .await?;
            if locked.is_none() {
                return Err(StoreError::corrupt(
                    "audit_sequencer",
                    "the sequencer's row is missing",
                ));
            }
        }
        Ok(())
    }

    /// Serializes the transactions that name the same `name` in `namespace` until they end,
    /// for a check-then-insert on rows that may not exist yet (a row lock cannot lock what is
    /// not there). PostgreSQL: a transaction-scoped advisory lock on a hash of the schema,
    /// namespace and name (a hash collision only serializes two unrelated names); SQLite:
    /// already held ([`Tx::excludes_other_writers`]).
    pub(crate) async fn lock_name(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        if let TxInner::Postgres(tx) = &mut self.inner {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1 || ':' || $2, 0))",
            )
            .bind(namespace)
            .bind(name)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Records that the transaction leaves audit entries for the sequencer: after its commit,
    /// [`Db::audit_pending`] is notified.
    pub(crate) fn left_audit_pending(&mut self) {
        self.audit_pending = true;
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.rollback().await?,
            TxInner::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Where a query runs: a pool (reads) or the connection of a transaction.
pub(crate) enum On<'a> {
    SqlitePool(&'a SqlitePool),
    SqliteConn(&'a mut SqliteConnection),
    PgPool(&'a PgPool),
    PgConn(&'a mut PgConnection),
}

/// One value bound to a placeholder.
enum Arg {
    Text(Option<String>),
    Int(i64),
    Int32(i32),
    Bytes(Vec<u8>),
    Id(Option<Uuid>),
    Time(DateTime<Utc>),
}

/// A statement with its bound values, written once for both backends.
pub(crate) struct Query {
    table: &'static str,
    sql: String,
    args: Vec<Arg>,
}

/// A statement on `table` (named in errors about its rows).
pub(crate) fn query(table: &'static str, sql: impl Into<String>) -> Query {
    Query {
        table,
        sql: sql.into(),
        args: Vec::new(),
    }
}

fn sqlite_time(t: DateTime<Utc>) -> String {
    tillit_audit::format_time(&t)
}

fn bind_sqlite<'q>(
    mut q: SqlxQuery<'q, Sqlite, SqliteArguments<'q>>,
    args: Vec<Arg>,
) -> SqlxQuery<'q, Sqlite, SqliteArguments<'q>> {
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Int32(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
            Arg::Id(v) => q.bind(v.map(|u| u.hyphenated().to_string())),
            Arg::Time(t) => q.bind(sqlite_time(t)),
        };
    }
    q
}

fn bind_pg(
    mut q: SqlxQuery<'_, Postgres, PgArguments>,
    args: Vec<Arg>,
) -> SqlxQuery<'_, Postgres, PgArguments> {
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Int32(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
            Arg::Id(v) => q.bind(v),
            Arg::Time(t) => q.bind(t),
        };
    }
    q
}

/// Runs the sqlx method `$method` of the query on whichever backend `$on` is, mapping each
/// backend's result with `$wrap`.
macro_rules! run {
    ($self:ident, $on:ident, $method:ident, $wrap:expr) => {{
        let Query { table, sql, args } = $self;
        let wrap = $wrap;
        match $on {
            On::SqlitePool(pool) => wrap(
                table,
                Outcome::Sqlite(bind_sqlite(sqlx::query(&sql), args).$method(pool).await?),
            ),
            On::SqliteConn(conn) => wrap(
                table,
                Outcome::Sqlite(bind_sqlite(sqlx::query(&sql), args).$method(conn).await?),
            ),
            On::PgPool(pool) => wrap(
                table,
                Outcome::Postgres(bind_pg(sqlx::query(&sql), args).$method(pool).await?),
            ),
            On::PgConn(conn) => wrap(
                table,
                Outcome::Postgres(bind_pg(sqlx::query(&sql), args).$method(conn).await?),
            ),
        }
    }};
}

/// A backend's result, before it is wrapped into the backend-neutral type.
enum Outcome<S, P> {
    Sqlite(S),
    Postgres(P),
}

impl Query {
    pub(crate) fn text(mut self, v: impl Into<String>) -> Self {
        self.args.push(Arg::Text(Some(v.into())));
        self
    }

    pub(crate) fn opt_text(mut self, v: Option<impl Into<String>>) -> Self {
        self.args.push(Arg::Text(v.map(Into::into)));
        self
    }

    pub(crate) fn int(mut self, v: i64) -> Self {
        self.args.push(Arg::Int(v));
        self
    }

    /// A 32-bit integer column (`INTEGER` in PostgreSQL).
    pub(crate) fn int32(mut self, v: i32) -> Self {
        self.args.push(Arg::Int32(v));
        self
    }

    /// A count or sequence number (the columns are signed 64-bit in both engines).
    pub(crate) fn count(self, n: u64) -> Result<Self, StoreError> {
        let v = i64::try_from(n)
            .map_err(|_| StoreError::corrupt(self.table, format!("{n} exceeds 2^63-1")))?;
        Ok(self.int(v))
    }

    pub(crate) fn bytes(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.args.push(Arg::Bytes(v.into()));
        self
    }

    pub(crate) fn id(mut self, v: Uuid) -> Self {
        self.args.push(Arg::Id(Some(v)));
        self
    }

    pub(crate) fn opt_id(mut self, v: Option<Uuid>) -> Self {
        self.args.push(Arg::Id(v));
        self
    }

    pub(crate) fn time(mut self, v: DateTime<Utc>) -> Self {
        self.args.push(Arg::Time(v));
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) async fn execute(self, on: On<'_>) -> Result<u64, StoreError> {
        run!(self, on, execute, |_, done: Outcome<_, _>| Ok(match done {
            Outcome::Sqlite(r) => sqlx::sqlite::SqliteQueryResult::rows_affected(&r),
            Outcome::Postgres(r) => sqlx::postgres::PgQueryResult::rows_affected(&r),
        }))
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional(self, on: On<'_>) -> Result<Option<Row>, StoreError> {
        run!(self, on, fetch_optional, |table,
                                        row: Outcome<
            Option<SqliteRow>,
            Option<PgRow>,
        >| Ok(match row {
            Outcome::Sqlite(r) => r.map(|r| Row::sqlite(table, r)),
            Outcome::Postgres(r) => r.map(|r| Row::pg(table, r)),
        }))
    }

    /// Exactly one row ([`StoreError::Corrupt`] when there is none: used for aggregates).
    pub(crate) async fn fetch_one(self, on: On<'_>) -> Result<Row, StoreError> {
        let table = self.table;
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::corrupt(table, "the query returned no row"))
    }

    /// Every row.
    pub(crate) async fn fetch_all(self, on: On<'_>) -> Result<Vec<Row>, StoreError> {
        run!(self, on, fetch_all, |table,
                                   rows: Outcome<
            Vec<SqliteRow>,
            Vec<PgRow>,
        >| Ok(match rows {
            Outcome::Sqlite(r) => r.into_iter().map(|r| Row::sqlite(table, r)).collect(),
            Outcome::Postgres(r) => r.into_iter().map(|r| Row::pg(table, r)).collect(),
        }))
    }
}

/// A row of either backend, read through typed getters that decode ids and times per backend.
/// A value that does not decode is [`StoreError::Corrupt`] naming the table and column.
pub(crate) struct Row {
    table: &'static str,
    inner: Outcome<SqliteRow, PgRow>,
}

impl Row {
    fn sqlite(table: &'static str, row: SqliteRow) -> Self {
        Self {
            table,
            inner: Outcome::Sqlite(row),
        }
    }

    fn pg(table: &'static str, row: PgRow) -> Self {
        Self {
            table,
            inner: Outcome::Postgres(row),
        }
    }

    fn bad(&self, col: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::corrupt(self.table, format!("{col}: {reason}"))
    }

    fn get<T>(&self, col: &str) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, Sqlite>
            + sqlx::Type<Sqlite>
            + for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>,
    {
        match &self.inner {
            Outcome::Sqlite(r) => r.try_get(col),
            Outcome::Postgres(r) => r.try_get(col),
        }
        .map_err(|e| self.bad(col, e))
    }

    /// The value of the `i`th column, borrowed from the row where the type allows (`&str`).
    fn get_at<'r, T>(&'r self, i: usize) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, Sqlite>
            + sqlx::Type<Sqlite>
            + sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>,
    {
        match &self.inner {
            Outcome::Sqlite(r) => r.try_get(i),
            Outcome::Postgres(r) => r.try_get(i),
        }
        .map_err(|e| self.bad(&format!("column {i}"), e))
    }

    /// The text of the `i`th column, borrowed (no copy: for reading millions of rows).
    pub(crate) fn str_at(&self, i: usize) -> Result<&str, StoreError> {
        self.get_at(i)
    }

    /// [`Row::str_at`] of a nullable column.
    pub(crate) fn opt_str_at(&self, i: usize) -> Result<Option<&str>, StoreError> {
        self.get_at(i)
    }

    /// The integer of the `i`th column.
    pub(crate) fn int_at(&self, i: usize) -> Result<i64, StoreError> {
        self.get_at(i)
    }

    pub(crate) fn text(&self, col: &str) -> Result<String, StoreError> {
        self.get(col)
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get(col)
    }

    pub(crate) fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.get(col)
    }

    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.get(col)
    }

    /// A 32-bit integer column (`INTEGER` in PostgreSQL).
    pub(crate) fn int32(&self, col: &str) -> Result<i32, StoreError> {
        self.get(col)
    }

    /// A count or sequence number (never negative).
    pub(crate) fn count(&self, col: &str) -> Result<u64, StoreError> {
        let n = self.int(col)?;
        u64::try_from(n).map_err(|_| self.bad(col, format!("negative value {n}")))
    }

    pub(crate) fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        self.get(col)
    }

    /// A 32-byte hash stored as a blob.
    pub(crate) fn hash32(&self, col: &str) -> Result<[u8; 32], StoreError> {
        let bytes = self.bytes(col)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| self.bad(col, format!("{} bytes, not 32", bytes.len())))
    }

    /// A 32-byte hash stored as lower-case hex text (the audit tables).
    pub(crate) fn hex_hash(&self, col: &'static str) -> Result<[u8; 32], StoreError> {
        let text = self.text(col)?;
        tillit_audit::parse_hash(col, &text).map_err(|e| self.bad(col, e))
    }

    /// An RFC 3339 time stored as text in both backends (the audit tables, whose hashes depend
    /// on the exact text).
    pub(crate) fn text_time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        let text = self.text(col)?;
        tillit_audit::parse_time(&text).map_err(|e| self.bad(col, e))
    }

    pub(crate) fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        let text = self.text(col)?;
        serde_json::from_str(&text).map_err(|e| self.bad(col, e))
    }

    pub(crate) fn id(&self, col: &str) -> Result<Uuid, StoreError> {
        self.opt_id(col)?
            .ok_or_else(|| self.bad(col, "NULL in a NOT NULL id"))
    }

    pub(crate) fn opt_id(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        match &self.inner {
            Outcome::Sqlite(r) => {
                let text: Option<String> = r.try_get(col).map_err(|e| self.bad(col, e))?;
                text.map(|t| Uuid::try_parse(&t).map_err(|e| self.bad(col, e)))
                    .transpose()
            }
            Outcome::Postgres(r) => r.try_get(col).map_err(|e| self.bad(col, e)),
        }
    }

    pub(crate) fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(col)?
            .ok_or_else(|| self.bad(col, "NULL in a NOT NULL time"))
    }

    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match &self.inner {
            Outcome::Sqlite(r) => {
                let text: Option<String> = r.try_get(col).map_err(|e| self.bad(col, e))?;
                text.map(|t| tillit_audit::parse_time(&t).map_err(|e| self.bad(col, e)))
                    .transpose()
            }
            Outcome::Postgres(r) => r.try_get(col).map_err(|e| self.bad(col, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = crate::sqlite::connect(&url).await.unwrap();
        db.write(|tx| {
            Box::pin(async move {
                for sql in [
                    "CREATE TABLE t (x INTEGER NOT NULL UNIQUE)",
                    "CREATE TABLE p (id INTEGER PRIMARY KEY)",
                    "CREATE TABLE c (p INTEGER NOT NULL REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
                ] {
                    query("t", sql).execute(tx.on()).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
        (dir, db)
    }

    async fn xs(db: &Db) -> Vec<i64> {
        query("t", "SELECT x FROM t ORDER BY x")
            .fetch_all(db.read())
            .await
            .unwrap()
            .iter()
            .map(|r| r.int("x").unwrap())
            .collect()
    }

    /// What a unit does: insert `x` into `t`, then fail, panic or succeed.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Then {
        Ok,
        Fail,
        Panic,
        /// A row of `c` without its `p`: the deferred foreign key fails the COMMIT.
        BreakCommit,
    }

    /// Queues `units` while the writer's turn is held, so that they all run in one batch.
    async fn one_batch(db: &Db, units: &[(i64, Then)]) -> Vec<Result<i64, StoreError>> {
        let turn = db.group.turn.lock().await;
        let mut tasks = Vec::new();
        for &(x, then) in units {
            let writer = db.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |tx| {
                        Box::pin(async move {
                            query("t", "INSERT INTO t (x) VALUES ($1)")
                                .int(x)
                                .execute(tx.on())
                                .await
                                .map_err(|e| e.on_write("t row"))?;
                            match then {
                                Then::Ok => Ok(x),
                                Then::Fail => Err(StoreError::Refused(format!("unit {x} refuses"))),
                                Then::Panic => panic!("unit {x} panics"),
                                Then::BreakCommit => {
                                    query("c", "INSERT INTO c (p) VALUES (999)")
                                        .execute(tx.on())
                                        .await?;
                                    Ok(x)
                                }
                            }
                        })
                    })
                    .await
            }));
            // Queued in the order given (spawned tasks may otherwise enqueue in any order,
            // and the order decides which of two conflicting units wins).
            while db.group.lock().len() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(turn);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_unit_rolls_back_alone_and_its_neighbours_commit_together() {
        let (_dir, db) = sqlite_db().await;
        let before = db.group_commits();
        let units = [
            (1, Then::Ok),
            (2, Then::Fail),
            (3, Then::Ok),
            (4, Then::Panic),
            (1, Then::Ok), // unique violation: a conflict for this unit only
            (5, Then::Ok),
        ];
        let results = one_batch(&db, &units).await;
        let summary: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(x) => format!("ok {x}"),
                Err(StoreError::Refused(_)) => "refused".into(),
                Err(StoreError::Rejected(m)) if m.contains("panicked") => "panicked".into(),
                Err(StoreError::Conflict { .. }) => "conflict".into(),
                Err(e) => format!("other {e}"),
            })
            .collect();
        assert_eq!(
            summary,
            ["ok 1", "refused", "ok 3", "panicked", "conflict", "ok 5"]
        );
        assert_eq!(xs(&db).await, [1, 3, 5]);
        let after = db.group_commits();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1, 6),
            "one transaction for the six units"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_unit_of_the_batch_and_the_writer_recovers() {
        let (_dir, db) = sqlite_db().await;
        let results = one_batch(&db, &[(1, Then::Ok), (2, Then::BreakCommit), (3, Then::Ok)]).await;
        for r in &results {
            match r {
                Err(StoreError::Database(sqlx::Error::Database(e))) => {
                    assert!(e.message().contains("FOREIGN KEY"), "{e}")
                }
                other => panic!("a unit of a failed commit was answered {other:?}"),
            }
        }
        assert_eq!(
            xs(&db).await,
            Vec::<i64>::new(),
            "nothing of the batch committed"
        );
        // The next batch commits normally on the same writer.
        let results = one_batch(&db, &[(7, Then::Ok), (8, Then::Ok)]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(xs(&db).await, [7, 8]);
    }

    #[test]
    fn replicated_errors_keep_what_the_server_maps_them_by() {
        let full = StoreError::Database(sqlx::Error::Database(Box::new(SharedDbError {
            message: "database or disk is full".into(),
            code: Some("13".into()),
            kind: SharedKind::Other,
        })));
        let busy = StoreError::Database(sqlx::Error::PoolTimedOut);
        let io = StoreError::Database(sqlx::Error::Io(std::io::Error::other("cut")));
        for (e, storage_full, unavailable) in
            [(full, true, true), (busy, false, true), (io, false, true)]
        {
            let r = replicate(&e);
            assert_eq!(r.is_storage_full(), storage_full, "{e}");
            assert_eq!(r.is_unavailable(), unavailable, "{e}");
            assert_eq!(r.to_string(), e.to_string());
        }
    }
}
