//! The repository traits: the whole store API, one trait per area.
//!
//! Every method that changes state takes the [`AuditEvent`] describing the change and the time
//! `at`, and writes the change and its audit entry in ONE transaction: either both are stored or
//! neither. Methods return `impl Future + Send` so they can be awaited inside axum handlers.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::{AuditEntry, AuditEvent};
use tillit_core::{ApiTokenId, OrgId, Page, PageRequest};

use crate::model::{
    ApiToken, IdempotentResponse, KeyStatus, NewApiToken, NewOrg, NewSigningKey, Org, Scope,
    SigningKeyRecord, TreeHeadRecord,
};
use crate::StoreError;

/// Organisations (tenants).
pub trait OrgRepo {
    /// Creates an organisation, and stores `idempotency` (the response the caller will send) in
    /// the same transaction. [`StoreError::Conflict`] when (country, org_number), the id or the
    /// (actor, key) of `idempotency` already exists; then nothing is written, no audit entry either.
    fn create_org(
        &self,
        org: NewOrg,
        audit: AuditEvent,
        at: DateTime<Utc>,
        idempotency: Option<IdempotentResponse>,
    ) -> impl Future<Output = Result<Org, StoreError>> + Send;

    /// The organisation with this id, if any.
    fn get_org(&self, id: OrgId) -> impl Future<Output = Result<Option<Org>, StoreError>> + Send;

    /// Organisations in id order (= creation order, UUIDv7), one page at a time.
    fn list_orgs(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Org>, StoreError>> + Send;
}

/// API tokens (only hashes of secrets). The access-management model replaces this later.
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

/// The audit log (revisionslogg) and its signed tree heads.
pub trait AuditRepo {
    /// Appends an entry for an event that changes nothing else in the store.
    fn append_audit(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send;

    /// Up to `limit` entries with `seq >= from_seq`, in seq order.
    fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// The entry with the highest seq, if any.
    fn audit_last(&self) -> impl Future<Output = Result<Option<AuditEntry>, StoreError>> + Send;

    /// The number of entries (= the highest seq, since seq has no gaps).
    fn audit_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The `hash` of entries 1..=upto in seq order: the Merkle leaf data of the log
    /// (leaf hash = SHA-256(0x00 || hash), see `tillit_audit::AuditEntry::leaf_hash`).
    fn audit_entry_hashes(
        &self,
        upto: u64,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>, StoreError>> + Send;

    /// Stores a signed tree head. [`StoreError::Conflict`] when one of that size exists.
    fn insert_tree_head(
        &self,
        head: TreeHeadRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The tree head with the largest tree size, if any.
    fn latest_tree_head(
        &self,
    ) -> impl Future<Output = Result<Option<TreeHeadRecord>, StoreError>> + Send;

    /// Every tree head, smallest tree size first.
    fn tree_heads(&self) -> impl Future<Output = Result<Vec<TreeHeadRecord>, StoreError>> + Send;

    /// The tree head of exactly this size, if any.
    fn tree_head_at_size(
        &self,
        tree_size: u64,
    ) -> impl Future<Output = Result<Option<TreeHeadRecord>, StoreError>> + Send;
}

/// Responses kept for `Idempotency-Key` retries. They are written by the creating methods (in
/// the transaction of the change they answer); this trait reads them.
pub trait IdempotencyRepo {
    /// The response stored for `actor`'s `key`, if any.
    fn idempotent_response(
        &self,
        actor: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotentResponse>, StoreError>> + Send;
}

/// Signing keys, private halves sealed by the caller.
pub trait KeyRepo {
    /// Stores a key as active. [`StoreError::Conflict`] when the kid exists.
    fn insert_key(
        &self,
        key: NewSigningKey,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<SigningKeyRecord, StoreError>> + Send;

    /// The keys of `scope` with `purpose`, oldest first (active and retired).
    fn list_keys(
        &self,
        scope: Scope,
        purpose: &str,
    ) -> impl Future<Output = Result<Vec<SigningKeyRecord>, StoreError>> + Send;

    /// The key `kid` if it belongs to `scope`.
    fn get_key(
        &self,
        scope: Scope,
        kid: &str,
    ) -> impl Future<Output = Result<Option<SigningKeyRecord>, StoreError>> + Send;

    /// Sets the status of key `kid` of `scope`. [`StoreError::NotFound`] outside the scope.
    fn set_key_status(
        &self,
        scope: Scope,
        kid: &str,
        status: KeyStatus,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<SigningKeyRecord, StoreError>> + Send;
}
