//! Local sign-in accounts and sessions: the `local_accounts` and `sessions` tables. Passwords
//! are Argon2id PHC strings and TOTP secrets are sealed by the server before they get here; a
//! session is found by the SHA-256 of its random id, never by the id itself.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;

use crate::audit::append_in;
use crate::db::{query, Row};
use crate::model::micros;
use crate::{Store, StoreError};

/// An account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The sign-in name (lower case).
    pub username: String,
    /// The access-model user it signs in as.
    pub user_id: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret, sealed, hex; None: password only.
    pub totp_sealed: Option<String>,
    /// How well the person's identity was established when the account was made (`low`,
    /// `substantial`, `high`).
    pub ial: String,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub user_id: String,
    pub password_hash: String,
    pub totp_sealed: Option<String>,
    /// The last TOTP step used (a code works once).
    pub totp_last_step: Option<i64>,
    pub ial: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the session id.
    pub id_hash: [u8; 32],
    pub user_id: String,
    pub username: Option<String>,
    /// Identity, authentication and federation assurance (`low`, `substantial`, `high`).
    pub ial: String,
    pub aal: String,
    pub fal: String,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: [u8; 32],
    pub user_id: String,
    pub username: Option<String>,
    pub ial: String,
    pub aal: String,
    pub fal: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Accounts and sessions.
pub trait SessionRepo {
    /// Creates an account. [`StoreError::Conflict`] when the username is taken.
    fn create_account(
        &self,
        account: NewAccount,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// The account of `username`, if any.
    fn get_account(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Records that TOTP step `step` was used by `username`, unless that step or a later one was
    /// used already (then false: the code is a replay).
    fn use_totp_step(
        &self,
        username: &str,
        step: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Starts a session, revoking `replaces` (the session the login came from) in the same
    /// transaction, with its audit entry.
    fn create_session(
        &self,
        session: NewSession,
        replaces: Option<[u8; 32]>,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Session, StoreError>> + Send;

    /// The session whose id hashes to `id_hash`, revoked or not (the caller checks).
    fn get_session(
        &self,
        id_hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Moves a session's `last_seen_at` forward to `at`.
    fn touch_session(
        &self,
        id_hash: &[u8; 32],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends a session (idempotent), with its audit entry. [`StoreError::NotFound`] when absent.
    fn revoke_session(
        &self,
        id_hash: &[u8; 32],
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Session, StoreError>> + Send;
}

const ACCOUNTS: &str = "local_accounts";
const ACCOUNT_COLS: &str =
    "username, user_id, password_hash, totp_sealed, totp_last_step, ial, created_at, disabled_at";
const SESSIONS: &str = "sessions";
const SESSION_COLS: &str =
    "id_hash, user_id, username, ial, aal, fal, created_at, last_seen_at, expires_at, revoked_at";

fn account_from_row(row: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        username: row.text("username")?,
        user_id: row.text("user_id")?,
        password_hash: row.text("password_hash")?,
        totp_sealed: row.opt_text("totp_sealed")?,
        totp_last_step: row.opt_int("totp_last_step")?,
        ial: row.text("ial")?,
        created_at: row.time("created_at")?,
        disabled_at: row.opt_time("disabled_at")?,
    })
}

fn session_from_row(row: &Row) -> Result<Session, StoreError> {
    Ok(Session {
        id_hash: row.hash32("id_hash")?,
        user_id: row.text("user_id")?,
        username: row.opt_text("username")?,
        ial: row.text("ial")?,
        aal: row.text("aal")?,
        fal: row.text("fal")?,
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

impl SessionRepo for Store {
    async fn create_account(
        &self,
        account: NewAccount,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        ACCOUNTS,
                        format!(
                            "INSERT INTO local_accounts ({ACCOUNT_COLS}) \
                             VALUES ($1, $2, $3, $4, NULL, $5, $6, NULL)"
                        ),
                    )
                    .text(&account.username)
                    .text(&account.user_id)
                    .text(&account.password_hash)
                    .opt_text(account.totp_sealed.clone())
                    .text(&account.ial)
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("account"))?;
                    append_in(tx, audit, at).await?;
                    Ok(Account {
                        username: account.username,
                        user_id: account.user_id,
                        password_hash: account.password_hash,
                        totp_sealed: account.totp_sealed,
                        totp_last_step: None,
                        ial: account.ial,
                        created_at: at,
                        disabled_at: None,
                    })
                })
            })
            .await
    }

    async fn get_account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        query(
            ACCOUNTS,
            format!("SELECT {ACCOUNT_COLS} FROM local_accounts WHERE username = $1"),
        )
        .text(username)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(account_from_row)
        .transpose()
    }

    async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let username = username.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let changed = query(
                        ACCOUNTS,
                        "UPDATE local_accounts SET totp_last_step = $1 \
                         WHERE username = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                    )
                    .int(step)
                    .text(&username)
                    .execute(tx.on())
                    .await?;
                    Ok(changed == 1)
                })
            })
            .await
    }

    async fn create_session(
        &self,
        session: NewSession,
        replaces: Option<[u8; 32]>,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let at = micros(at);
        let expires_at = micros(session.expires_at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    if let Some(old) = replaces {
                        query(
                            SESSIONS,
                            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) \
                             WHERE id_hash = $2",
                        )
                        .time(at)
                        .bytes(old)
                        .execute(tx.on())
                        .await?;
                    }
                    query(
                        SESSIONS,
                        format!(
                            "INSERT INTO sessions ({SESSION_COLS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)"
                        ),
                    )
                    .bytes(session.id_hash)
                    .text(&session.user_id)
                    .opt_text(session.username.clone())
                    .text(&session.ial)
                    .text(&session.aal)
                    .text(&session.fal)
                    .time(at)
                    .time(at)
                    .time(expires_at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("session"))?;
                    append_in(tx, audit, at).await?;
                    Ok(Session {
                        id_hash: session.id_hash,
                        user_id: session.user_id,
                        username: session.username,
                        ial: session.ial,
                        aal: session.aal,
                        fal: session.fal,
                        created_at: at,
                        last_seen_at: at,
                        expires_at,
                        revoked_at: None,
                    })
                })
            })
            .await
    }

    async fn get_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        query(
            SESSIONS,
            format!("SELECT {SESSION_COLS} FROM sessions WHERE id_hash = $1"),
        )
        .bytes(*id_hash)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8; 32], at: DateTime<Utc>) -> Result<(), StoreError> {
        let at = micros(at);
        let id_hash = *id_hash;
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        SESSIONS,
                        "UPDATE sessions SET last_seen_at = $1 \
                         WHERE id_hash = $2 AND last_seen_at < $1",
                    )
                    .time(at)
                    .bytes(id_hash)
                    .execute(tx.on())
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn revoke_session(
        &self,
        id_hash: &[u8; 32],
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let at = micros(at);
        let id_hash = *id_hash;
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        SESSIONS,
                        format!(
                            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) \
                             WHERE id_hash = $2 RETURNING {SESSION_COLS}"
                        ),
                    )
                    .time(at)
                    .bytes(id_hash)
                    .fetch_optional(tx.on())
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "session",
                        id: hex::encode(&id_hash[..4]),
                    })?;
                    let session = session_from_row(&row)?;
                    append_in(tx, audit, at).await?;
                    Ok(session)
                })
            })
            .await
    }
}
