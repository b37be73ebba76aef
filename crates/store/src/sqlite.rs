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
/// Units of work one write transaction takes at most (group commit, see `Db::write`).
const GROUP_COMMIT_UNITS: usize = 128;
/// Overrides [`GROUP_COMMIT_UNITS`] (not a `TILLIT_` option, which the configuration would refuse; for benchmarks: `1` runs every write in a transaction of
/// its own, the behaviour before group commit).
pub(crate) const GROUP_COMMIT_ENV: &str = "SQLITE_GROUP_COMMIT_UNITS";

/// Opens (creating it with `?mode=rwc`) the database at `url` (`sqlite://PATH...`) and runs
/// pending migrations.
///
/// All writes go through one connection (a pool of size 1) and start with `BEGIN IMMEDIATE`, so
/// the audit chain is appended by one transaction at a time, also when another process (e.g.
/// `tillit admin bootstrap`) writes to the same file. The writes queued together share one
/// transaction and one fsync (group commit, see `Db::write`).
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
            .connect_with(options.clone())
            .await?
    };
    let units = std::env::var(GROUP_COMMIT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(GROUP_COMMIT_UNITS);
    let disk_probe = (!in_memory).then(|| {
        let mut name = options.get_filename().as_os_str().to_owned();
        name.push(".readyz");
        std::path::PathBuf::from(name)
    });
    Ok(Db::new(
        Pools::Sqlite {
            writer,
            reader,
            disk_probe,
        },
        units,
    ))
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

/// Bytes `/readyz` writes next to the database: a little more than one commit of a few pages
/// needs in the WAL.
const PROBE_BYTES: usize = 64 * 1024;

/// Writes [`PROBE_BYTES`] to `path` and removes it: [`StoreError::NotWritable`] saying "the disk
/// is full" when the file system has no room (ENOSPC, or EDQUOT: over quota).
pub(crate) fn probe_disk(path: &Path) -> Result<(), StoreError> {
    use std::io::Write as _;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(&[0u8; PROBE_BYTES]).and_then(|()| f.flush()));
    let _ = std::fs::remove_file(path);
    match written {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::StorageFull
                || matches!(e.raw_os_error(), Some(28 | 122)) =>
        {
            Err(StoreError::NotWritable(format!(
                "the disk is full: {PROBE_BYTES} bytes cannot be written next to the database \
                 ({}: {e}); free disk space",
                path.display()
            )))
        }
        Err(e) => Err(StoreError::NotWritable(format!(
            "cannot write next to the database ({}: {e})",
            path.display()
        ))),
    }
}
