//! tillit-store: all SQL of Tillit, behind one small API.
//!
//! # Shape
//! - Four repository traits, one per area: [`OrgRepo`], [`ApiTokenRepo`], [`AuditRepo`],
//!   [`KeyRepo`]. Each is implemented by [`SqliteStore`], [`PgStore`] and the [`Store`] enum that
//!   picks one of them from the database URL with [`Store::connect`]. Servers hold a `Store`
//!   (cheap to clone: it holds connection pools) and `use tillit_store::prelude::*`.
//! - Migrations are forward-only, one folder per backend (`migrations/sqlite`,
//!   `migrations/postgres`), embedded in the binary and run by `connect`.
//! - Runtime-checked queries only (no database at build time). The SQL is written once
//!   (`$N` placeholders work in both engines) and the trait implementations are generated for
//!   both backends from one macro over a per-backend column codec, so they cannot drift apart.
//!
//! # Invariants
//! - **Every state change is written in one transaction together with its audit entry.**
//!   Mutating methods take the [`tillit_audit::AuditEvent`] and the time `at`; inside the write
//!   transaction they read the last (seq, hash), build the entry with
//!   `AuditEntry::next` and insert both. A failed change (e.g. [`StoreError::Conflict`]) writes
//!   no audit entry.
//! - **Audit appends are serialised**: SQLite by a single writer connection whose transactions
//!   start with `BEGIN IMMEDIATE` (also excluding other processes); PostgreSQL by
//!   `LOCK TABLE audit_entries IN EXCLUSIVE MODE` at the start of every write transaction.
//!   `audit_entries` refuses UPDATE and DELETE (triggers).
//! - **Durability**: SQLite runs in WAL mode with `synchronous=FULL`, so a write acknowledged
//!   by the store survives `kill -9` and power loss.
//! - **Tenant isolation**: every tenant-owned row carries `org_id`, and every query on
//!   tenant-owned rows takes a [`Scope`]; rows of another scope are never returned or changed.
//!   The one unscoped lookup is [`ApiTokenRepo::find_api_token_by_hash`]: authentication is how
//!   the scope becomes known.
//! - The store never sees a plaintext private key or token secret: callers pass sealed keys
//!   and SHA-256 hashes.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod common;
mod error;
mod model;
mod postgres;
mod repo;
mod sqlite;

use std::path::Path;

use chrono::{DateTime, Utc};
use tillit_audit::{AuditEntry, AuditEvent};
use tillit_core::{ApiTokenId, OrgId, Page, PageRequest};

pub use error::StoreError;
pub use model::{
    micros, ApiToken, IdempotentResponse, KeyStatus, NewApiToken, NewOrg, NewSigningKey, Org,
    Scope, SigningKeyRecord, TreeHeadRecord, SCOPE_SUPER_ADMIN,
};
pub use postgres::PgStore;
pub use repo::{ApiTokenRepo, AuditRepo, IdempotencyRepo, KeyRepo, OrgRepo};
pub use sqlite::SqliteStore;

/// Everything a caller needs: `use tillit_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiToken, ApiTokenRepo, AuditRepo, Backend, IdempotencyRepo, IdempotentResponse, KeyRepo,
        KeyStatus, NewApiToken, NewOrg, NewSigningKey, Org, OrgRepo, Scope, SigningKeyRecord,
        Store, StoreError, TreeHeadRecord, SCOPE_SUPER_ADMIN,
    };
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store chosen by the database URL.
#[derive(Debug, Clone)]
pub enum Store {
    /// `sqlite://...`
    Sqlite(SqliteStore),
    /// `postgres://...` or `postgresql://...`
    Postgres(PgStore),
}

impl Store {
    /// Connects to `database_url` and runs the backend's pending migrations.
    ///
    /// `sqlite://PATH?mode=rwc` (creates the file), `sqlite://PATH` (must exist),
    /// `sqlite::memory:` (tests), or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        if !supports_url(database_url) {
            Err(StoreError::UnsupportedUrl(redact_url(database_url)))
        } else if database_url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect(database_url).await?))
        } else {
            Ok(Self::Postgres(PgStore::connect(database_url).await?))
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(s) => s.ping().await,
            Self::Postgres(s) => s.ping().await,
        }
    }

    /// SQLite: writes a consistent copy of the live database to `path` (must not exist).
    /// PostgreSQL: [`StoreError::Unsupported`]; use `pg_dump`.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(s) => s.backup_to(path).await,
            Self::Postgres(_) => Err(StoreError::Unsupported("backup (use pg_dump)")),
        }
    }

    /// Closes all connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}

/// Whether `url` names a database this store can open: `sqlite:…`, `postgres://…` or
/// `postgresql://…` (what [`Store::connect`] accepts; configuration checks with this too).
pub fn supports_url(url: &str) -> bool {
    url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL with its password masked (`postgres://user:********@host/db`), for messages and
/// `tillit config show`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:********@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Forwards a call to the backend store.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl OrgRepo for Store {
    async fn create_org(
        &self,
        org: NewOrg,
        audit: AuditEvent,
        at: DateTime<Utc>,
        idempotency: Option<IdempotentResponse>,
    ) -> Result<Org, StoreError> {
        dispatch!(self.create_org(org, audit, at, idempotency))
    }
    async fn get_org(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        dispatch!(self.get_org(id))
    }
    async fn list_orgs(&self, page: &PageRequest) -> Result<Page<Org>, StoreError> {
        dispatch!(self.list_orgs(page))
    }
}

impl ApiTokenRepo for Store {
    async fn create_api_token(
        &self,
        token: NewApiToken,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        dispatch!(self.create_api_token(token, audit, at))
    }
    async fn find_api_token_by_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<ApiToken>, StoreError> {
        dispatch!(self.find_api_token_by_hash(token_hash))
    }
    async fn list_api_tokens(&self, scope: Scope) -> Result<Vec<ApiToken>, StoreError> {
        dispatch!(self.list_api_tokens(scope))
    }
    async fn revoke_api_token(
        &self,
        scope: Scope,
        id: ApiTokenId,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        dispatch!(self.revoke_api_token(scope, id, audit, at))
    }
    async fn count_api_tokens(&self) -> Result<u64, StoreError> {
        dispatch!(self.count_api_tokens())
    }
}

impl AuditRepo for Store {
    async fn append_audit(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        dispatch!(self.append_audit(event, at))
    }
    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        dispatch!(self.audit_entries(from_seq, limit))
    }
    async fn audit_last(&self) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self.audit_last())
    }
    async fn audit_count(&self) -> Result<u64, StoreError> {
        dispatch!(self.audit_count())
    }
    async fn audit_entry_hashes(&self, upto: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        dispatch!(self.audit_entry_hashes(upto))
    }
    async fn insert_tree_head(&self, head: TreeHeadRecord) -> Result<(), StoreError> {
        dispatch!(self.insert_tree_head(head))
    }
    async fn latest_tree_head(&self) -> Result<Option<TreeHeadRecord>, StoreError> {
        dispatch!(self.latest_tree_head())
    }
    async fn tree_heads(&self) -> Result<Vec<TreeHeadRecord>, StoreError> {
        dispatch!(self.tree_heads())
    }
    async fn tree_head_at_size(
        &self,
        tree_size: u64,
    ) -> Result<Option<TreeHeadRecord>, StoreError> {
        dispatch!(self.tree_head_at_size(tree_size))
    }
}

impl IdempotencyRepo for Store {
    async fn idempotent_response(
        &self,
        actor: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        dispatch!(self.idempotent_response(actor, key))
    }
}

impl KeyRepo for Store {
    async fn insert_key(
        &self,
        key: NewSigningKey,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<SigningKeyRecord, StoreError> {
        dispatch!(self.insert_key(key, audit, at))
    }
    async fn list_keys(
        &self,
        scope: Scope,
        purpose: &str,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        dispatch!(self.list_keys(scope, purpose))
    }
    async fn get_key(
        &self,
        scope: Scope,
        kid: &str,
    ) -> Result<Option<SigningKeyRecord>, StoreError> {
        dispatch!(self.get_key(scope, kid))
    }
    async fn set_key_status(
        &self,
        scope: Scope,
        kid: &str,
        status: KeyStatus,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<SigningKeyRecord, StoreError> {
        dispatch!(self.set_key_status(scope, kid, status, audit, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_knows_its_urls() {
        let cases = [
            ("sqlite://./x.db", "sqlite://./x.db", true),
            ("sqlite::memory:", "sqlite::memory:", true),
            ("postgres://u:p@h/db", "postgres://u:********@h/db", true),
            ("postgresql://u@h/db", "postgresql://u:********@h/db", true),
            ("postgres://h/db", "postgres://h/db", true),
            ("postgres:relative", "postgres:relative", false),
            ("mysql://u:p@h/db", "mysql://u:********@h/db", false),
            ("nope", "nope", false),
        ];
        for (input, redacted, supported) in cases {
            assert_eq!(redact_url(input), redacted, "{input}");
            assert_eq!(supports_url(input), supported, "{input}");
        }
    }
}
