//! tillit-store: all SQL of Tillit, behind one small API.
//!
//! # Shape
//! - One module per area — `orgs`, `tokens`, `keys`, `audit`, `idempotency`, `attestations`,
//!   `access`, `jobs`, `batches` — each with its domain types, its repository trait ([`OrgRepo`], [`ApiTokenRepo`],
//!   [`KeyRepo`], [`AuditRepo`], [`IdempotencyRepo`], [`AttestationRepo`], [`AccessRepo`], [`JobRepo`], [`BatchRepo`]), its
//!   SQL and its row decoding, implemented once for
//!   [`Store`]. Servers hold a `Store` (cheap to clone) and `use tillit_store::prelude::*`.
//! - What differs between the engines lives in `db` alone: connection pools, the value codec
//!   (SQLite: UUID and RFC 3339 text; PostgreSQL: native `uuid` and `timestamptz`), and how a
//!   write transaction begins. The SQL is written once (`$N` placeholders work in both).
//!   `sqlite` and `postgres` hold only connection set-up (and SQLite's backup).
//! - Migrations are forward-only, one folder per backend (`migrations/sqlite`,
//!   `migrations/postgres`), embedded in the binary and run by `connect`.
//! - Runtime-checked queries only (no database at build time).
//!
//! # Invariants
//! - **Writes are cancellation-safe.** Every mutating method runs its transaction — `BEGIN` to
//!   `COMMIT` — in a task of its own (`db::Db::write`) and awaits it, so a caller dropped at any
//!   await point (an HTTP client hanging up) cannot interrupt it: the change and its audit entry
//!   commit whole or not at all, and no pooled connection is left inside a transaction (a
//!   connection handed back in one is closed, not reused).
//! - **Every state change commits in one transaction together with its audit entry.**
//!   Mutating methods take the [`tillit_audit::AuditEvent`] and the time `at`; inside the write
//!   transaction they check the event and insert it into `audit_pending` with the change. A
//!   failed change (e.g. [`StoreError::Conflict`]) writes no audit entry.
//! - **The sequencer gives committed entries their place in the log**, oldest pending id first,
//!   in batches: seq, prev_hash and hash by `AuditEntry::next`, and the Merkle nodes the new
//!   leaves complete (`audit_tree_nodes`), in one transaction that holds the sequencer lock (one
//!   sequencer at a time, across processes). SQLite runs it inside every write transaction (its
//!   `BEGIN IMMEDIATE` excludes all other writers anyway), so there an entry is in the log when
//!   its change commits. PostgreSQL write transactions take no installation-wide lock; the
//!   server sequences in the background ([`Store::audit_pending_signal`]) and every read of the
//!   log sequences first ([`Store::sequence_audit`]), so readers see every committed entry.
//!   `audit_entries` and `audit_tree_nodes` refuse UPDATE and DELETE (triggers).
//! - **Tree heads and proofs cost O(log n)**: [`AuditRepo::audit_root`],
//!   [`AuditRepo::audit_inclusion_proof`] and [`AuditRepo::audit_consistency_proof`] read the
//!   few stored nodes they need. A log written before the node table gets its nodes built by
//!   [`Store::connect`].
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

mod access;
mod attestations;
mod audit;
mod batches;
mod clients;
mod db;
mod error;
mod idempotency;
mod jobs;
mod keys;
mod limits;
mod model;
mod oid4vci;
mod orgs;
mod postgres;
mod sessions;
mod sqlite;
mod tokens;

use std::path::Path;
use std::time::Duration;

pub use access::{AccessDocumentVersion, AccessRepo};
pub use attestations::{
    AttestationRecord, AttestationRepo, AttestationTypeRecord, NewAttestation, NewAttestationType,
    Signed, StatusAllocation, StatusListRecord, StatusUpdate, STATUS_BITS, STATUS_CAPACITY,
};
pub use audit::{AuditRepo, ConsistencyProofRecord, InclusionProofRecord, TreeHeadRecord};
pub use batches::{
    BatchFormat, BatchRecord, BatchRepo, BatchRow, ChunkOutcome, ChunkRow, IssuedRow, NewBatch,
    PendingRow, RowResult, RowSigned,
};
pub use clients::{Client, ClientCredential, ClientRepo, NewClient};
pub use error::StoreError;
pub use idempotency::{IdempotencyRepo, IdempotentResponse};
pub use jobs::{Claimed, JobEnd, JobProgress, JobRecord, JobRepo, JobState, NewJob};
pub use keys::{KeyRepo, KeyStatus, NewSigningKey, SigningKeyRecord};
pub use limits::LimitRepo;
pub use model::{micros, Scope};
pub use oid4vci::{
    NewOffer, OfferCredential, OfferIssue, OfferRecord, OfferRepo, OfferState, Redemption,
};
pub use orgs::{NewOrg, Org, OrgRepo};
pub use sessions::{Account, NewAccount, NewSession, Session, SessionRepo};
pub use tokens::{ApiToken, ApiTokenRepo, NewApiToken, SCOPE_SUPER_ADMIN};

/// Everything a caller needs: `use tillit_store::prelude::*;`.
pub mod prelude {
    pub use crate::{AccessDocumentVersion, AccessRepo};
    pub use crate::{
        ApiToken, ApiTokenRepo, AttestationRepo, AuditRepo, Backend, BatchRepo, IdempotencyRepo,
        IdempotentResponse, JobRepo, KeyRepo, KeyStatus, NewApiToken, NewOrg, NewSigningKey, Org,
        OrgRepo, Scope, SigningKeyRecord, Store, StoreError, TreeHeadRecord, SCOPE_SUPER_ADMIN,
    };
    pub use crate::{ConsistencyProofRecord, InclusionProofRecord};
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store: one database, SQLite or PostgreSQL, chosen by its URL. Cheap to clone (it holds
/// connection pools). Each area's methods come from its trait ([`OrgRepo`], [`AuditRepo`], …).
#[derive(Debug, Clone)]
pub struct Store {
    db: db::Db,
}

impl Store {
    /// Connects to `database_url`, runs the backend's pending migrations, builds the Merkle nodes
    /// of audit entries that have none yet (a log from an earlier release; progress is logged)
    /// and sequences pending audit entries.
    ///
    /// `sqlite://PATH?mode=rwc` (creates the file), `sqlite://PATH` (must exist),
    /// `sqlite::memory:` (tests), or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let db = if !supports_url(database_url) {
            return Err(StoreError::UnsupportedUrl(redact_url(database_url)));
        } else if database_url.starts_with("sqlite:") {
            sqlite::connect(database_url).await?
        } else {
            postgres::connect(database_url).await?
        };
        let store = Self { db };
        store.catch_up_audit().await?;
        Ok(store)
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Checks that the database answers a read.
    pub async fn ping(&self) -> Result<(), StoreError> {
        db::query("ping", "SELECT 1")
            .execute(self.db.read())
            .await?;
        Ok(())
    }

    /// Checks that a write transaction can begin within `bound` on a writable database (for
    /// `/readyz`); [`StoreError::NotWritable`] says why not. Writes nothing.
    pub async fn check_writable(&self, bound: Duration) -> Result<(), StoreError> {
        self.db.check_writable(bound).await
    }

    /// SQLite's group commit so far: write transactions committed, and the units of work
    /// (writes) they held; their ratio is the mean batch size. PostgreSQL: `(0, 0)`.
    pub fn group_commits(&self) -> (u64, u64) {
        self.db.group_commits()
    }

    /// SQLite: writes a consistent copy of the live database to `path` (must not exist).
    /// PostgreSQL: [`StoreError::Unsupported`]; use `pg_dump`.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => sqlite::backup_to(&self.db, path).await,
            Backend::Postgres => Err(StoreError::Unsupported("backup (use pg_dump)")),
        }
    }

    /// Sequences what audit entries are pending (so that a short-lived process, e.g. a CLI
    /// command, leaves none behind), then closes all connections.
    pub async fn close(&self) {
        if let Err(e) = self.sequence_audit().await {
            tracing::warn!(error = %e, "could not sequence pending audit entries before closing");
        }
        self.db.close().await;
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
