//! SQLite backend: one file, WAL, `synchronous=FULL`, a single writer connection whose
//! transactions start with `BEGIN IMMEDIATE`, and a small pool of reader connections.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: u32 = 4;

/// The SQLite implementation of every repository trait.
///
/// All writes go through one connection (`writer`, a pool of size 1) and start with
/// `BEGIN IMMEDIATE`, so the audit chain is appended by one transaction at a time, also when
/// another process (e.g. `tillit admin bootstrap`) writes to the same file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it with `?mode=rwc`) the database at `url` (`sqlite://PATH...`) and runs
    /// pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a transaction acknowledged by COMMIT survives power loss and kill -9.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        // An in-memory database exists once per connection: read through the writer then.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(options)
                .await?
        };
        Ok(Self { writer, reader })
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Writes a consistent copy of the live database to `path` (`VACUUM INTO`), which must not
    /// exist yet. Safe while the server runs.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        let path = path.to_str().ok_or(StoreError::Unsupported(
            "a backup path that is not valid UTF-8",
        ))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Column codec: ids as UUID text, times as RFC 3339 text with microseconds.
pub(crate) mod codec {
    use chrono::{DateTime, Utc};
    use sqlx::sqlite::SqliteRow;
    use sqlx::Row;
    use uuid::Uuid;

    use crate::StoreError;

    pub(crate) fn id(u: Uuid) -> String {
        u.hyphenated().to_string()
    }

    pub(crate) fn opt_id(u: Option<Uuid>) -> Option<String> {
        u.map(id)
    }

    pub(crate) fn time(t: DateTime<Utc>) -> String {
        tillit_audit::format_time(&t)
    }

    pub(crate) fn get_id(
        row: &SqliteRow,
        col: &str,
        table: &'static str,
    ) -> Result<Uuid, StoreError> {
        let text: String = row.try_get(col)?;
        Uuid::try_parse(&text).map_err(|e| StoreError::corrupt(table, format!("{col}: {e}")))
    }

    pub(crate) fn get_opt_id(
        row: &SqliteRow,
        col: &str,
        table: &'static str,
    ) -> Result<Option<Uuid>, StoreError> {
        let text: Option<String> = row.try_get(col)?;
        text.map(|t| {
            Uuid::try_parse(&t).map_err(|e| StoreError::corrupt(table, format!("{col}: {e}")))
        })
        .transpose()
    }

    pub(crate) fn get_time(
        row: &SqliteRow,
        col: &str,
        table: &'static str,
    ) -> Result<DateTime<Utc>, StoreError> {
        let text: String = row.try_get(col)?;
        tillit_audit::parse_time(&text)
            .map_err(|e| StoreError::corrupt(table, format!("{col}: {e}")))
    }

    pub(crate) fn get_opt_time(
        row: &SqliteRow,
        col: &str,
        table: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = row.try_get(col)?;
        text.map(|t| {
            tillit_audit::parse_time(&t)
                .map_err(|e| StoreError::corrupt(table, format!("{col}: {e}")))
        })
        .transpose()
    }
}

mod repos {
    crate::common::impl_repos!(
        super::SqliteStore,
        super::codec,
        sqlx::SqliteConnection,
        sqlx::sqlite::SqliteRow
    );
}
