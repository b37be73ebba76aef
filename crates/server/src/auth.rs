//! Authentication and authorization seam (for now: bearer API tokens, super-admin only).
//!
//! Handlers take an [`Authenticated`] extractor and call [`authorize`] with the [`Permission`]
//! they need. The access-management work replaces the inside of this module (tokens → users,
//! roles and rights); the handlers' side of the seam stays the same.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use tillit_audit::AuditEvent;
use tillit_core::{ApiTokenId, OrgId};
use tillit_store::{ApiTokenRepo, NewApiToken, Store, StoreError, SCOPE_SUPER_ADMIN};

use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of every API token secret, so that leaked tokens are recognisable by scanners.
pub const TOKEN_PREFIX: &str = "tillit_";

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token used.
    pub token_id: ApiTokenId,
    /// The organisation the token acts for; None for installation-wide tokens.
    pub org_id: Option<OrgId>,
    /// The token's scope (`super-admin` for now).
    pub scope: String,
}

impl Principal {
    /// The actor recorded in audit entries: the token id, never a secret or a name.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create an organisation.
    CreateOrg,
    /// Read organisations.
    ReadOrgs,
    /// Read audit entries.
    ReadAudit,
    /// Define attestation types of an organisation.
    ManageTypes,
    /// Issue attestations of an organisation.
    IssueAttestation,
    /// Revoke, suspend and reinstate attestations of an organisation.
    RevokeAttestation,
    /// Read the register of issued attestations.
    ReadAttestations,
    /// Import the access document.
    ManageAccess,
    /// Export the access document, list rights and violations.
    ReadAccess,
    /// Ask for access decisions (and record exercises).
    CheckAccess,
}

/// Decides whether `principal` may do `permission`. Today only super-admin tokens exist, and they
/// may do everything.
pub fn authorize(principal: &Principal, permission: Permission) -> Result<(), ApiError> {
    if principal.scope == SCOPE_SUPER_ADMIN {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "token scope `{}` does not allow {permission:?}",
            principal.scope
        )))
    }
}

/// A new token secret: `tillit_` + 32 random bytes, base64url.
pub fn new_token_secret() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<32>())
    )
}

/// The stored form of a token: SHA-256 of the secret.
pub fn hash_token(secret: &str) -> [u8; 32] {
    tillit_crypto::sha256(secret.as_bytes())
}

/// Creates a super-admin token and returns its secret (shown once, stored only as a hash).
pub async fn create_super_admin_token(
    store: &Store,
    name: &str,
    actor: &str,
) -> Result<String, StoreError> {
    let secret = new_token_secret();
    let id = ApiTokenId::new();
    let audit = AuditEvent {
        actor: actor.to_string(),
        org_id: None,
        action: "token.create".into(),
        object_id: Some(id.to_string()),
        details: serde_json::json!({ "name": name, "scope": SCOPE_SUPER_ADMIN }),
    };
    store
        .create_api_token(
            NewApiToken {
                id,
                org_id: None,
                name: name.to_string(),
                token_hash: hash_token(&secret),
                scope: SCOPE_SUPER_ADMIN.into(),
            },
            audit,
            Utc::now(),
        )
        .await?;
    Ok(secret)
}

/// Extractor: the request carries a valid, unrevoked bearer token.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <token>`".into()))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::Unauthorized("the Authorization header is not ASCII".into()))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("expected the Bearer authentication scheme".into())
            })?;
        let token = state
            .store
            .find_api_token_by_hash(&hash_token(secret))
            .await
            .map_err(crate::error::store_error)?
            .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
        if token.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("the token has been revoked".into()));
        }
        Ok(Authenticated(Principal {
            token_id: token.id,
            org_id: token.org_id,
            scope: token.scope,
        }))
    }
}
