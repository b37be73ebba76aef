//! Key service: generates signing keys, seals their private JWK under the master key and keeps
//! them in the store. Key id = RFC 7638 JWK thumbprint.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use tillit_crypto::{Algorithm, Jwk, SigningKey};
use tillit_store::{
    KeyRepo, KeyStatus, NewSigningKey, OrgRepo, Scope, SigningKeyRecord, Store, StoreError,
};
use utoipa::ToSchema;

use crate::attestations::{ISSUER_KEY_PURPOSE, STATUS_LIST_VALIDITY_HOURS};
use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{key_error, store_error, ApiError, Problem};
use crate::state::AppState;

/// Purpose of the installation key that signs audit tree heads.
pub const AUDIT_KEY_PURPOSE: &str = "audit";

/// Errors of the key service.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key operation failed: {0}")]
    Crypto(#[from] tillit_crypto::CryptoError),
    #[error(
        "cannot open the sealed private key {kid}: wrong master key or corrupted row ({reason})"
    )]
    Unseal { kid: String, reason: String },
    #[error("stored private key {kid} is not a valid JWK: {reason}")]
    BadJwk { kid: String, reason: String },
    #[error("algorithm {0} cannot sign; use ES256 or EdDSA")]
    VerifyOnly(&'static str),
}

/// Generates, seals, stores and unseals signing keys.
#[derive(Clone)]
pub struct KeyService {
    store: Store,
    master_key: Arc<[u8; 32]>,
}

/// Additional authenticated data binding a sealed private key to its kid, so that a sealed blob
/// copied into another row does not open.
fn aad(kid: &str) -> Vec<u8> {
    format!("tillit-signing-key/v1:{kid}").into_bytes()
}

impl KeyService {
    pub fn new(store: Store, master_key: [u8; 32]) -> Self {
        Self {
            store,
            master_key: Arc::new(master_key),
        }
    }

    /// A fresh key of `alg` (ES256 or EdDSA) for `scope` and `purpose`, its private half sealed.
    fn prepare(
        &self,
        scope: Scope,
        purpose: &str,
        alg: Algorithm,
    ) -> Result<(SigningKey, NewSigningKey), KeyError> {
        if !matches!(alg, Algorithm::Es256 | Algorithm::EdDsa) {
            return Err(KeyError::VerifyOnly(alg.jose_name()));
        }
        let key = SigningKey::generate(alg)?;
        let kid = key.kid();
        let private = serde_json::to_vec(&key.to_private_jwk()).map_err(|e| KeyError::BadJwk {
            kid: kid.clone(),
            reason: e.to_string(),
        })?;
        let public_jwk =
            serde_json::to_value(key.verifying_key().to_jwk()).map_err(|e| KeyError::BadJwk {
                kid: kid.clone(),
                reason: e.to_string(),
            })?;
        let sealed_private = tillit_crypto::seal::seal(&self.master_key, &private, &aad(&kid));
        Ok((
            key,
            NewSigningKey {
                kid,
                org_id: scope.org_id(),
                purpose: purpose.to_string(),
                alg: alg.jose_name().to_string(),
                public_jwk,
                sealed_private,
            },
        ))
    }

    /// Generates a key of `alg` (ES256 or EdDSA) for `scope` and `purpose` and stores it sealed,
    /// with its audit entry.
    pub async fn generate(
        &self,
        scope: Scope,
        purpose: &str,
        alg: Algorithm,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(SigningKey, SigningKeyRecord), KeyError> {
        let (key, new) = self.prepare(scope, purpose, alg)?;
        let audit = AuditEvent {
            actor: actor.to_string(),
            org_id: scope.org_id().map(|o| o.to_string()),
            action: "key.create".into(),
            object_id: Some(new.kid.clone()),
            details: serde_json::json!({ "purpose": purpose, "alg": alg.jose_name() }),
        };
        let record = self.store.insert_key(new, audit, at).await?;
        Ok((key, record))
    }

    /// Key rotation: a new key of `alg` becomes the one active key of `scope` and `purpose`;
    /// the keys active until now are retired (they sign nothing new but stay published while
    /// what they signed is valid). Returns the new key and the kids retired.
    pub async fn rotate(
        &self,
        scope: Scope,
        purpose: &str,
        alg: Algorithm,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(SigningKeyRecord, Vec<String>), KeyError> {
        let (_, new) = self.prepare(scope, purpose, alg)?;
        let audit = AuditEvent {
            actor: actor.to_string(),
            org_id: scope.org_id().map(|o| o.to_string()),
            action: "key.rotate".into(),
            object_id: Some(new.kid.clone()),
            details: serde_json::json!({ "purpose": purpose, "alg": alg.jose_name() }),
        };
        Ok(self.store.rotate_key(scope, new, audit, at).await?)
    }

    /// Derives a secret for `context` from the master key (HMAC-SHA-256): nothing to store.
    pub fn derive_secret(&self, context: &str) -> [u8; 32] {
        tillit_crypto::hmac_sha256(&self.master_key[..], context.as_bytes())
    }

    /// Seals a secret other than a signing key (e.g. a TOTP secret) under the master key, bound
    /// to `context` (a sealed value copied to another context does not open).
    pub fn seal_secret(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        tillit_crypto::seal::seal(&self.master_key, plaintext, context.as_bytes())
    }

    /// Opens what [`KeyService::seal_secret`] sealed for `context`.
    pub fn open_secret(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        tillit_crypto::seal::open(&self.master_key, sealed, context.as_bytes()).map_err(|e| {
            KeyError::Unseal {
                kid: context.to_owned(),
                reason: e.to_string(),
            }
        })
    }

    /// Opens a stored key's private half.
    pub fn unseal(&self, record: &SigningKeyRecord) -> Result<SigningKey, KeyError> {
        let plain =
            tillit_crypto::seal::open(&self.master_key, &record.sealed_private, &aad(&record.kid))
                .map_err(|e| KeyError::Unseal {
                    kid: record.kid.clone(),
                    reason: e.to_string(),
                })?;
        let jwk: Jwk = serde_json::from_slice(&plain).map_err(|e| KeyError::BadJwk {
            kid: record.kid.clone(),
            reason: e.to_string(),
        })?;
        Ok(SigningKey::from_jwk(&jwk)?)
    }

    /// The newest active key of `scope` and `purpose`, unsealed.
    pub async fn active(
        &self,
        scope: Scope,
        purpose: &str,
    ) -> Result<Option<SigningKey>, KeyError> {
        let keys = self.store.list_keys(scope, purpose).await?;
        match keys.iter().rev().find(|k| k.status == KeyStatus::Active) {
            Some(record) => Ok(Some(self.unseal(record)?)),
            None => Ok(None),
        }
    }

    /// The active key of `scope` and `purpose`, generated (ES256) when there is none.
    pub async fn ensure(
        &self,
        scope: Scope,
        purpose: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<SigningKey, KeyError> {
        if let Some(key) = self.active(scope, purpose).await? {
            return Ok(key);
        }
        match self
            .generate(scope, purpose, Algorithm::Es256, actor, at)
            .await
        {
            Ok((key, _)) => Ok(key),
            // Another instance created one at the same moment: use the stored one.
            Err(KeyError::Store(StoreError::Conflict { .. })) => {
                self.active(scope, purpose).await?.ok_or_else(|| {
                    KeyError::Store(StoreError::NotFound {
                        what: "signing key",
                        id: purpose.to_string(),
                    })
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The public key of `kid` in `scope`, for verification.
    pub async fn public(
        &self,
        scope: Scope,
        kid: &str,
    ) -> Result<Option<tillit_crypto::VerifyingKey>, KeyError> {
        let Some(record) = self.store.get_key(scope, kid).await? else {
            return Ok(None);
        };
        let jwk: Jwk = serde_json::from_value(record.public_jwk).map_err(|e| KeyError::BadJwk {
            kid: kid.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some(tillit_crypto::VerifyingKey::from_jwk(&jwk)?))
    }
}

// ---------------------------------------------------------------------------------------------
// Issuer key rotation over HTTP

/// The issuer keys of `org` to publish at `now`: the active one, and every retired one that
/// signed an attestation still valid at `now`, or that retired less than a status list token's
/// validity ago (a verifier may still hold a list it signed).
pub async fn published_issuer_keys(
    state: &AppState,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<SigningKeyRecord>, ApiError> {
    state
        .store
        .published_keys(
            Scope::Org(org),
            ISSUER_KEY_PURPOSE,
            now - chrono::Duration::hours(STATUS_LIST_VALIDITY_HOURS),
            now,
        )
        .await
        .map_err(store_error)
}

/// Body of `POST /v1/orgs/{org}/keys/rotate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// `ES256` (default) or `EdDSA`.
    #[serde(default)]
    #[schema(example = "ES256", pattern = "^(ES256|EdDSA)$")]
    pub alg: Option<String>,
}

/// An issuer key after rotation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    /// The new signing key's kid (RFC 7638 thumbprint).
    pub kid: String,
    pub alg: String,
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// The kids that stopped signing; they stay in the JWT VC issuer metadata until the last
    /// attestation each signed has expired.
    pub retired: Vec<String>,
}

/// Rotate an organisation's issuer key: a new key signs from now on (attestations and status
/// lists); the old one stays published while what it signed is valid.
#[utoipa::path(post, path = "/v1/orgs/{org}/keys/rotate", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = RotateKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new signing key", body = RotatedKey),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown algorithm, or the id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_issuer_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Json(body): Json<RotateKey>,
) -> Result<axum::response::Response, ApiError> {
    let org: OrgId = org
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))?;
    authorize(&state, &principal, Permission::ManageKeys, Target::Org(org)).await?;
    state
        .store
        .get_org(org)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {org} not found")))?;
    let alg = match body.alg.as_deref() {
        None | Some("ES256") => Algorithm::Es256,
        Some("EdDSA") => Algorithm::EdDsa,
        Some(other) => {
            return Err(ApiError::field(
                "alg",
                format!("{other:?} cannot sign issuer keys; use ES256 or EdDSA"),
            ))
        }
    };
    let (record, retired) = state
        .keys
        .rotate(
            Scope::Org(org),
            ISSUER_KEY_PURPOSE,
            alg,
            &principal.actor(),
            Utc::now(),
        )
        .await
        .map_err(key_error)?;
    state.audit_written.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(RotatedKey {
            kid: record.kid,
            alg: record.alg,
            public_jwk: record.public_jwk,
            created_at: record.created_at,
            retired,
        }),
    )
        .into_response())
}
