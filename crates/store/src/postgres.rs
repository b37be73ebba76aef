//! PostgreSQL backend: a connection pool; every write transaction first takes
//! `LOCK TABLE audit_entries IN EXCLUSIVE MODE`, which serialises audit appends across all
//! connections and servers while plain reads go on.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;

/// The PostgreSQL implementation of every repository trait.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://...`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction holding the audit-append lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE audit_entries IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Column codec: native `uuid` and `timestamptz` (microsecond precision).
pub(crate) mod codec {
    use chrono::{DateTime, Utc};
    use sqlx::postgres::PgRow;
    use sqlx::Row;
    use uuid::Uuid;

    use crate::StoreError;

    pub(crate) fn id(u: Uuid) -> Uuid {
        u
    }

    pub(crate) fn opt_id(u: Option<Uuid>) -> Option<Uuid> {
        u
    }

    pub(crate) fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    pub(crate) fn get_id(row: &PgRow, col: &str, _table: &'static str) -> Result<Uuid, StoreError> {
        Ok(row.try_get(col)?)
    }

    pub(crate) fn get_opt_id(
        row: &PgRow,
        col: &str,
        _table: &'static str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(row.try_get(col)?)
    }

    pub(crate) fn get_time(
        row: &PgRow,
        col: &str,
        _table: &'static str,
    ) -> Result<DateTime<Utc>, StoreError> {
        Ok(row.try_get(col)?)
    }

    pub(crate) fn get_opt_time(
        row: &PgRow,
        col: &str,
        _table: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row.try_get(col)?)
    }
}

mod repos {
    crate::common::impl_repos!(
        super::PgStore,
        super::codec,
        sqlx::PgConnection,
        sqlx::postgres::PgRow
    );
}
