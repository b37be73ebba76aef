//! Signing keys, private halves sealed by the caller: the `signing_keys` table.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;

use crate::audit::append_in;
use crate::db::{query, Row};
use crate::model::{micros, Scope};
use crate::{Store, StoreError};

/// Whether a signing key may still sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Signs new objects.
    Active,
    /// Kept to verify what it signed; signs nothing new.
    Retired,
}

impl KeyStatus {
    /// The stored text ("active", "retired").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A signing key to store. The private key arrives already sealed (AEAD) by the caller:
/// the store never sees a plaintext private key.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSigningKey {
    /// RFC 7638 JWK thumbprint; unique across the installation.
    pub kid: String,
    /// Owner; None for installation keys (e.g. the audit tree-head key).
    pub org_id: Option<OrgId>,
    /// What it signs: "audit", "issuer", "trust-list", ...
    pub purpose: String,
    /// JOSE algorithm name ("ES256", "EdDSA").
    pub alg: String,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
    /// `tillit_crypto::seal::seal` output of the private JWK.
    pub sealed_private: Vec<u8>,
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// RFC 7638 JWK thumbprint.
    pub kid: String,
    /// Owner; None for installation keys.
    pub org_id: Option<OrgId>,
    /// What it signs.
    pub purpose: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
    /// The sealed private JWK.
    pub sealed_private: Vec<u8>,
    /// Active or retired.
    pub status: KeyStatus,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing (None while active).
    pub retired_at: Option<DateTime<Utc>>,
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

    /// Key rotation: retires every active key of `scope` and `purpose` (recording when) and
    /// stores `key` as the one active key, with one audit entry, in one transaction. Returns the
    /// new key and the kids it retired.
    fn rotate_key(
        &self,
        scope: Scope,
        key: NewSigningKey,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(SigningKeyRecord, Vec<String>), StoreError>> + Send;

    /// The keys of `scope` with `purpose` that must stay published at `now`, oldest first: the
    /// active ones, those retired after `retired_after` (what they signed last, e.g. a status
    /// list token, may still be cached), and those that signed an attestation still valid at
    /// `now`. An attestation without a recorded kid (issued before kids were recorded) keeps
    /// every key of its organisation that was created before it and retired after it.
    fn published_keys(
        &self,
        scope: Scope,
        purpose: &str,
        retired_after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SigningKeyRecord>, StoreError>> + Send;
}

const TABLE: &str = "signing_keys";
const COLS: &str = "kid, org_id, purpose, alg, public_jwk, sealed_private, status, created_at";
const ALL_COLS: &str =
    "kid, org_id, purpose, alg, public_jwk, sealed_private, status, created_at, retired_at";

fn from_row(row: &Row) -> Result<SigningKeyRecord, StoreError> {
    let status = row.text("status")?;
    Ok(SigningKeyRecord {
        kid: row.text("kid")?,
        org_id: row.opt_id("org_id")?.map(OrgId::from_uuid),
        purpose: row.text("purpose")?,
        alg: row.text("alg")?,
        public_jwk: row.json("public_jwk")?,
        sealed_private: row.bytes("sealed_private")?,
        status: KeyStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(TABLE, format!("status {status:?}")))?,
        created_at: row.time("created_at")?,
        retired_at: row.opt_time("retired_at")?,
    })
}

impl KeyRepo for Store {
    async fn insert_key(
        &self,
        key: NewSigningKey,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<SigningKeyRecord, StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        TABLE,
                        format!(
                            "INSERT INTO signing_keys ({COLS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                        ),
                    )
                    .text(&key.kid)
                    .opt_id(key.org_id.map(|o| *o.as_uuid()))
                    .text(&key.purpose)
                    .text(&key.alg)
                    .text(key.public_jwk.to_string())
                    .bytes(key.sealed_private.clone())
                    .text(KeyStatus::Active.as_str())
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("signing key"))?;
                    append_in(tx, audit, at).await?;
                    Ok(SigningKeyRecord {
                        kid: key.kid,
                        org_id: key.org_id,
                        purpose: key.purpose,
                        alg: key.alg,
                        public_jwk: key.public_jwk,
                        sealed_private: key.sealed_private,
                        status: KeyStatus::Active,
                        created_at: at,
                        retired_at: None,
                    })
                })
            })
            .await
    }

    async fn list_keys(
        &self,
        scope: Scope,
        purpose: &str,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        query(
            TABLE,
            format!(
                "SELECT {ALL_COLS} FROM signing_keys \
                 WHERE org_id IS NOT DISTINCT FROM $1 AND purpose = $2 ORDER BY created_at, kid"
            ),
        )
        .opt_id(scope.column())
        .text(purpose)
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn get_key(
        &self,
        scope: Scope,
        kid: &str,
    ) -> Result<Option<SigningKeyRecord>, StoreError> {
        query(
            TABLE,
            format!(
                "SELECT {ALL_COLS} FROM signing_keys WHERE kid = $1 AND org_id IS NOT DISTINCT FROM $2"
            ),
        )
        .text(kid)
        .opt_id(scope.column())
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn set_key_status(
        &self,
        scope: Scope,
        kid: &str,
        status: KeyStatus,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<SigningKeyRecord, StoreError> {
        let at = micros(at);
        let kid = kid.to_owned();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let row = query(
                        TABLE,
                        format!(
                            "UPDATE signing_keys SET status = $1 \
                             WHERE kid = $2 AND org_id IS NOT DISTINCT FROM $3 RETURNING {ALL_COLS}"
                        ),
                    )
                    .text(status.as_str())
                    .text(&kid)
                    .opt_id(scope.column())
                    .fetch_optional(tx.on())
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "signing key",
                        id: kid.clone(),
                    })?;
                    let key = from_row(&row)?;
                    append_in(tx, audit, at).await?;
                    Ok(key)
                })
            })
            .await
    }

    async fn rotate_key(
        &self,
        scope: Scope,
        key: NewSigningKey,
        audit: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<(SigningKeyRecord, Vec<String>), StoreError> {
        let at = micros(at);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let retired = query(
                        TABLE,
                        "UPDATE signing_keys SET status = $1, retired_at = $2 \
                         WHERE org_id IS NOT DISTINCT FROM $3 AND purpose = $4 AND status = $5 \
                         RETURNING kid",
                    )
                    .text(KeyStatus::Retired.as_str())
                    .time(at)
                    .opt_id(scope.column())
                    .text(&key.purpose)
                    .text(KeyStatus::Active.as_str())
                    .fetch_all(tx.on())
                    .await?
                    .iter()
                    .map(|r| r.text("kid"))
                    .collect::<Result<Vec<_>, _>>()?;
                    query(
                        TABLE,
                        format!(
                            "INSERT INTO signing_keys ({COLS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                        ),
                    )
                    .text(&key.kid)
                    .opt_id(key.org_id.map(|o| *o.as_uuid()))
                    .text(&key.purpose)
                    .text(&key.alg)
                    .text(key.public_jwk.to_string())
                    .bytes(key.sealed_private.clone())
                    .text(KeyStatus::Active.as_str())
                    .time(at)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("signing key"))?;
                    append_in(tx, audit, at).await?;
                    Ok((
                        SigningKeyRecord {
                            kid: key.kid,
                            org_id: key.org_id,
                            purpose: key.purpose,
                            alg: key.alg,
                            public_jwk: key.public_jwk,
                            sealed_private: key.sealed_private,
                            status: KeyStatus::Active,
                            created_at: at,
                            retired_at: None,
                        },
                        retired,
                    ))
                })
            })
            .await
    }

    async fn published_keys(
        &self,
        scope: Scope,
        purpose: &str,
        retired_after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        query(
            TABLE,
            format!(
                "SELECT {ALL_COLS} FROM signing_keys k \
                 WHERE k.org_id IS NOT DISTINCT FROM $1 AND k.purpose = $2 AND ( \
                   k.status = $3 OR k.retired_at IS NULL OR k.retired_at > $4 \
                   OR EXISTS (SELECT 1 FROM attestations a \
                              WHERE a.signing_kid = k.kid AND a.valid_to > $5) \
                   OR EXISTS (SELECT 1 FROM attestations a \
                              WHERE a.signing_kid IS NULL AND a.org_id = k.org_id \
                                AND a.valid_to > $5 AND a.created_at >= k.created_at \
                                AND a.created_at <= k.retired_at)) \
                 ORDER BY k.created_at, k.kid"
            ),
        )
        .opt_id(scope.column())
        .text(purpose)
        .text(KeyStatus::Active.as_str())
        .time(micros(retired_after))
        .time(micros(now))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }
}
