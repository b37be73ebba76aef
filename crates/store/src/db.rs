//! The backend seam: everything that differs between SQLite and PostgreSQL, in one place.
//!
//! The area modules (`orgs`, `tokens`, `keys`, `audit`, `idempotency`) write their SQL once,
//! with `$N` placeholders (both engines accept them), bind values through [`Query`] and read
//! rows through [`Row`]. This module encodes the values per backend — SQLite stores ids as UUID
//! text and times as RFC 3339 text with microseconds, PostgreSQL native `uuid` and
//! `timestamptz` — and runs every write as a unit of work that a dropped caller cannot
//! interrupt ([`Db::write`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::query::Query as SqlxQuery;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Postgres, Row as _, Sqlite, Transaction};
use tokio::sync::Notify;
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
}

impl Db {
    pub(crate) fn new(pools: Pools) -> Self {
        Self {
            pools,
            audit_pending: Arc::new(Notify::new()),
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
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
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
    /// `/readyz`): SQLite takes and releases its write lock; PostgreSQL begins a transaction on a
    /// primary that is not read-only. Like [`Db::write`] it runs in a task of its own.
    pub(crate) async fn check_writable(&self, bound: Duration) -> Result<(), StoreError> {
        let db = self.clone();
        let check = tokio::spawn(async move {
            match &db.pools {
                Pools::Sqlite { writer, .. } => {
                    let tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                    tx.rollback().await?;
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
            Pools::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres { pool } => pool.close().await,
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
