//! PostgreSQL: one connection pool. Write transactions run concurrently (READ COMMITTED); the
//! audit sequencer serialises only itself, by a row lock (see `db::Tx::lock_audit_sequencer`).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection as _;

use crate::db::{Db, Pools};
use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;

/// Connects to `url` (`postgres://...`) and runs pending migrations.
pub(crate) async fn connect(url: &str) -> Result<Db, StoreError> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        // As for SQLite: a connection handed back inside a transaction is closed, not reused.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(Db::new(Pools::Postgres { pool }, 1))
}
