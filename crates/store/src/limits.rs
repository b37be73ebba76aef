//! State that every instance of an installation must share, which a process-local map would
//! split between instances: single-use values (a client assertion's `jti`: a replay to another
//! instance must fail too) and failed logins per account (the login limit counts the attempts
//! made at every instance). The `used_once` and `login_failures` tables.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::db::query;
use crate::model::micros;
use crate::{Store, StoreError};

const USED_ONCE: &str = "used_once";
const FAILURES: &str = "login_failures";

/// Single-use values and failed-login counts.
pub trait LimitRepo {
    /// Records `value_hash` of kind `scope` as used until `expires_at` (and forgets expired
    /// ones); false when it is recorded already and has not expired — a replay.
    fn first_use(
        &self,
        scope: &str,
        value_hash: [u8; 32],
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a failed login of `username` at `at`, and forgets every account's failures
    /// from before `forget_before` (they no longer count).
    fn record_login_failure(
        &self,
        username: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The failed logins of `username` after `since`: their number and the time of the oldest.
    fn login_failures_since(
        &self,
        username: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(u64, Option<DateTime<Utc>>), StoreError>> + Send;

    /// Forgets the failed logins of `username` (after a successful one).
    fn clear_login_failures(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl LimitRepo for Store {
    async fn first_use(
        &self,
        scope: &str,
        value_hash: [u8; 32],
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let scope = scope.to_owned();
        let (at, expires_at) = (micros(at), micros(expires_at));
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(USED_ONCE, "DELETE FROM used_once WHERE expires_at <= $1")
                        .time(at)
                        .execute(tx.on())
                        .await?;
                    let inserted = query(
                        USED_ONCE,
                        "INSERT INTO used_once (scope, value_hash, expires_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (scope, value_hash) DO NOTHING",
                    )
                    .text(scope)
                    .bytes(value_hash.to_vec())
                    .time(expires_at)
                    .execute(tx.on())
                    .await?;
                    Ok(inserted == 1)
                })
            })
            .await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let username = username.to_owned();
        let (at, forget_before) = (micros(at), micros(forget_before));
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(FAILURES, "DELETE FROM login_failures WHERE at < $1")
                        .time(forget_before)
                        .execute(tx.on())
                        .await?;
                    query(
                        FAILURES,
                        "INSERT INTO login_failures (username, at) VALUES ($1, $2)",
                    )
                    .text(username)
                    .time(at)
                    .execute(tx.on())
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn login_failures_since(
        &self,
        username: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let rows = query(
            FAILURES,
            "SELECT at FROM login_failures WHERE username = $1 AND at > $2 ORDER BY at",
        )
        .text(username)
        .time(micros(since))
        .fetch_all(self.db.read())
        .await?;
        let oldest = rows.first().map(|r| r.time("at")).transpose()?;
        Ok((rows.len() as u64, oldest))
    }

    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        let username = username.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(FAILURES, "DELETE FROM login_failures WHERE username = $1")
                        .text(username)
                        .execute(tx.on())
                        .await?;
                    Ok(())
                })
            })
            .await
    }
}
