//! API tokens (only SHA-256 hashes of secrets): the `api_tokens` table. The access-management
//! model replaces these later.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::{ApiTokenId, OrgId};

use crate::audit::append_in;
use crate::db::{query, Row};
use crate::model::{micros, Scope};
use crate::{Store, StoreError};

/// The scope string of a super-admin API token.
pub const SCOPE_SUPER_ADMIN: &str = "super-admin";

/// An API token to create. Only the SHA-256 of the secret is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// A fresh UUIDv7.
    pub id: ApiTokenId,
    /// The organisation it acts for; None for installation-wide (super-admin) tokens.
    pub org_id: Option<OrgId>,
    /// A label for people ("bootstrap", "ci").
    pub name: String,
    /// SHA-256 of the secret.
    pub token_hash: [u8; 32],
    /// What it may do; [`SCOPE_SUPER_ADMIN`] for now.
    pub scope: String,
}

/// A stored API token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Identifier.
    pub id: ApiTokenId,
    /// The organisation it acts for, None for installation-wide tokens.
    pub org_id: Option<OrgId>,
    /// Label.
    pub name: String,
    /// SHA-256 of the secret.
    pub token_hash: [u8; 32],
    /// What it may do.
    pub scope: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// API tokens (only hashes of secrets).
pub trait ApiTokenRepo {
    /// Stores a token. [`StoreError::Conflict`] when the id or hash exists already.
    fn create_api_token(
        &self,
        token: NewApiToken,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiToken, StoreError>> + Send;

    /// The token whose secret hashes to `token_hash`, revoked or not (the caller checks).
    /// Not scoped: authentication is what finds out the scope.
    fn find_api_token_by_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<ApiToken>, StoreError>> + Send;

    /// The tokens of one scope, oldest first.
    fn list_api_tokens(
        &self,
        scope: Scope,
    ) -> impl Future<Output = Result<Vec<ApiToken>, StoreError>> + Send;

    /// Revokes a token of `scope` (idempotent: keeps the first revocation time).
    /// [`StoreError::NotFound`] when no such token is in that scope.
    fn revoke_api_token(
        &self,
        scope: Scope,
        id: ApiTokenId,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiToken, StoreError>> + Send;

    /// How many tokens exist at all, revoked included (0 = the installation needs bootstrapping).
    fn count_api_tokens(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

const TABLE: &str = "api_tokens";
const COLS: &str = "id, org_id, name, token_hash, scope, created_at, revoked_at";

fn from_row(row: &Row) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(row.id("id")?),
        org_id: row.opt_id("org_id")?.map(OrgId::from_uuid),
        name: row.text("name")?,
        token_hash: row.hash32("token_hash")?,
        scope: row.text("scope")?,
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

impl ApiTokenRepo for Store {
    async fn create_api_token(
        &self,
        token: NewApiToken,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        TABLE,
                        format!(
                            "INSERT INTO api_tokens ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
                        ),
                    )
                    .id(*token.id.as_uuid())
                    .opt_id(token.org_id.map(|o| *o.as_uuid()))
                    .text(&token.name)
                    .bytes(token.token_hash)
                    .text(&token.scope)
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("API token"))?;
                    append_in(tx, audit, at).await?;
                    Ok(ApiToken {
                        id: token.id,
                        org_id: token.org_id,
                        name: token.name,
                        token_hash: token.token_hash,
                        scope: token.scope,
                        created_at: at,
                        revoked_at: None,
                    })
                })
            })
            .await
    }

    async fn find_api_token_by_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<ApiToken>, StoreError> {
        query(
            TABLE,
            format!("SELECT {COLS} FROM api_tokens WHERE token_hash = $1"),
        )
        .bytes(*token_hash)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn list_api_tokens(&self, scope: Scope) -> Result<Vec<ApiToken>, StoreError> {
        query(
            TABLE,
            format!(
                "SELECT {COLS} FROM api_tokens WHERE org_id IS NOT DISTINCT FROM $1 ORDER BY id"
            ),
        )
        .opt_id(scope.column())
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn revoke_api_token(
        &self,
        scope: Scope,
        id: ApiTokenId,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        TABLE,
                        format!(
                            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
                             WHERE id = $2 AND org_id IS NOT DISTINCT FROM $3 RETURNING {COLS}"
                        ),
                    )
                    .time(at)
                    .id(*id.as_uuid())
                    .opt_id(scope.column())
                    .fetch_optional(tx.on())
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "API token",
                        id: id.to_string(),
                    })?;
                    let token = from_row(&row)?;
                    append_in(tx, audit, at).await?;
                    Ok(token)
                })
            })
            .await
    }

    async fn count_api_tokens(&self) -> Result<u64, StoreError> {
        query(TABLE, "SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(self.db.read())
            .await?
            .count("n")
    }
}
