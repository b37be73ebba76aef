//! SQLite: one file, WAL, `synchronous=FULL`, one writer connection whose transactions start
//! with `BEGIN IMMEDIATE`, and a small pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection as _;

use crate::db::{Db, Pools};
use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write waits for the writer connection before the store answers "busy".
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);
const READERS: u32 = 4;

/// Opens (creating it with `?mode=rwc`) the database at `url` (`sqlite://PATH...`) and runs
/// pending migrations.
///
/// All writes go through one connection (a pool of size 1) and start with `BEGIN IMMEDIATE`, so
/// the audit chain is appended by one transaction at a time, also when another process (e.g.
/// `tillit admin bootstrap`) writes to the same file.
pub(crate) async fn connect(url: &str) -> Result<Db, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a transaction acknowledged by COMMIT survives power loss and kill -9.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
        // A connection handed back still inside a transaction (which `Db::write` never leaves)
        // is closed — rolling the transaction back — instead of poisoning every later write.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
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
    Ok(Db::new(Pools::Sqlite { writer, reader }))
}

/// Writes a consistent copy of the live database to `path` (`VACUUM INTO`), which must not
/// exist yet. Safe while the server runs.
pub(crate) async fn backup_to(db: &Db, path: &Path) -> Result<(), StoreError> {
    let path = path.to_str().ok_or(StoreError::Unsupported(
        "a backup path that is not valid UTF-8",
    ))?;
    crate::db::query("backup", "VACUUM INTO $1")
        .text(path)
        .execute(db.read())
        .await?;
    Ok(())
}
