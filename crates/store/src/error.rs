use thiserror::Error;

/// Everything the store can answer instead of a result.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL names no supported backend.
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    /// A unique constraint refused the change (nothing was written, no audit entry either).
    #[error("{what} already exists: {detail}")]
    Conflict {
        /// What kind of row ("organisation", "API token", ...).
        what: &'static str,
        /// The database's description of the clash.
        detail: String,
    },
    /// The row to change does not exist in the given scope.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of row.
        what: &'static str,
        /// The id looked for.
        id: String,
    },
    /// A pagination cursor that this store did not hand out.
    #[error("invalid cursor {0:?}: pass the next_cursor of the previous page unchanged")]
    InvalidCursor(String),
    /// Invalid input rejected by the core vocabulary (e.g. a page limit).
    #[error(transparent)]
    Core(#[from] tillit_core::CoreError),
    /// The audit entry could not be built; the change was not made.
    #[error("audit entry rejected, change not made: {0}")]
    Audit(#[from] tillit_audit::AuditError),
    /// A stored row does not decode: the database was changed outside Tillit.
    #[error("corrupt {table} row: {reason}; run `tillit audit verify` and restore from backup")]
    Corrupt {
        /// The table read.
        table: &'static str,
        /// What did not decode.
        reason: String,
    },
    /// The backend does not offer this operation.
    #[error("{0} is not supported by this database backend")]
    Unsupported(&'static str),
    /// The caller's part of a unit of work failed (e.g. signing); nothing was written.
    #[error("the change could not be completed: {0}")]
    Rejected(String),
    /// The caller's part of a unit of work found the request unusable (e.g. claims that cannot be
    /// signed into the format asked for); nothing was written. A 422, unlike [`Self::Rejected`].
    #[error("{0}")]
    Invalid(String),
    /// The caller's domain rules refused the change in the state found inside the transaction
    /// (e.g. reinstating a revoked attestation); nothing was written.
    #[error("{0}")]
    Refused(String),
    /// The task running a unit of work ended without an answer (the runtime is shutting down);
    /// a write may or may not have committed whole — never half.
    #[error("the database task was interrupted: {0}")]
    Interrupted(String),
    /// The database cannot take writes now (for `/readyz`).
    #[error("the database cannot take writes: {0}")]
    NotWritable(String),
    /// Migrations failed; the database was left at its previous version.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], a foreign-key violation
    /// (a row for an organisation that does not exist) to [`StoreError::NotFound`], anything
    /// else to `Database`.
    pub(crate) fn from_write(what: &'static str, err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict {
                what,
                detail: db.message().to_owned(),
            },
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::NotFound {
                what: "organisation",
                id: format!("referenced by the new {what}"),
            },
            _ => Self::Database(err),
        }
    }

    /// The task of a unit of work ended without an answer: a panic in it is a fault of the code
    /// (nothing was committed: the transaction rolls back when its connection is dropped), a
    /// cancellation means the runtime is shutting down.
    pub(crate) fn from_join(e: tokio::task::JoinError) -> Self {
        if e.is_panic() {
            Self::Rejected("the database task panicked; the change was not made".into())
        } else {
            Self::Interrupted(e.to_string())
        }
    }

    /// [`StoreError::from_write`] for an error of a query that writes `what`.
    pub(crate) fn on_write(self, what: &'static str) -> Self {
        match self {
            Self::Database(err) => Self::from_write(what, err),
            other => other,
        }
    }

    /// The database's storage is full: SQLite's `SQLITE_FULL` (13, "database or disk is full",
    /// also when `max_page_count` is reached) or PostgreSQL's `disk_full` (53100). The statement
    /// or transaction was rolled back whole; once space returns, the same request succeeds.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                code == "53100" || code.parse::<u32>().is_ok_and(|c| c & 0xff == 13)
            }
            _ => false,
        }
    }

    /// The database could not take the request now (no connection within the timeout, the pool
    /// or the server shutting down, the connection lost, SQLite busy, a PostgreSQL lock or
    /// serialisation conflict): worth a retry, not a fault of the request or of the data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Interrupted(_) | Self::NotWritable(_) => true,
            Self::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            Self::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6) with their extended codes, and
                // SQLITE_FULL (13: once space returns, a retry succeeds).
                // PostgreSQL: connection exceptions (08…), serialisation failure, deadlock,
                // lock not available, insufficient resources (53…, disk full among them),
                // shutting down (57P0…).
                let sqlite_busy = code
                    .parse::<u32>()
                    .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 13));
                sqlite_busy
                    || code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P0")
                    || matches!(code, "40001" | "40P01" | "55P03")
            }
            _ => false,
        }
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            table,
            reason: reason.to_string(),
        }
    }
}
