//! Authentication and authorization: bearer API tokens, and decisions by the access engine.
//!
//! A token is either an **administrator** token (scope `super-admin`: the bootstrap token and
//! those made with `tillit admin bootstrap`) or a **user** token (scope `user:<id>`), which acts
//! as one user of the access model. Handlers take an [`Authenticated`] extractor and call
//! [`authorize`] with the [`Permission`] they need and the [`Target`] it is exercised on:
//! administrator tokens may do everything (the first administrator is unrestricted, as the
//! issue asks); a user token is allowed only when the model in force decides that its user holds
//! the permission's right in the built-in IT system `tillit` ([`TILLIT_SYSTEM`]) for that
//! organisation (restriction kind `organisation`, id = the organisation's UUID), or everywhere
//! for installation-wide actions (only an assignment without restrictions allows those).
//!
//! Tokens are looked up in the store once per [`TOKEN_CACHE_TTL`] per process: a revoked token
//! stops working in the process that revoked it at once and in the others within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use tillit_access::{CheckRequest, Document, ScopeKind};
use tillit_audit::AuditEvent;
use tillit_core::{ApiTokenId, OrgId};
use tillit_store::{ApiTokenRepo, NewApiToken, Store, StoreError, SCOPE_SUPER_ADMIN};

use crate::access::AccessServiceError;
use crate::error::ApiError;
use crate::state::AppState;

/// Prefix of every API token secret, so that leaked tokens are recognisable by scanners.
pub const TOKEN_PREFIX: &str = "tillit_";

/// The id of Tillit's own IT system in the access model; its rights are [`Permission::right`].
pub const TILLIT_SYSTEM: &str = "tillit";

/// Prefix of the scope of a token that acts as a user of the access model.
pub const USER_SCOPE_PREFIX: &str = "user:";

/// How long a process trusts what it last read about a token.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Tokens kept in the cache at most (it is emptied when full).
const TOKEN_CACHE_MAX: usize = 10_000;

/// Who a token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An administrator token: may do everything (DESIGN.md: the bootstrap token is the first
    /// administrator's credential, unrestricted).
    Administrator,
    /// A user of the access model, by id: may do what the model decides.
    User(String),
}

impl Subject {
    /// The subject of a stored token scope; None for a scope this version does not know.
    pub fn from_scope(scope: &str) -> Option<Self> {
        if scope == SCOPE_SUPER_ADMIN {
            Some(Self::Administrator)
        } else {
            scope
                .strip_prefix(USER_SCOPE_PREFIX)
                .filter(|id| !id.is_empty())
                .map(|id| Self::User(id.to_owned()))
        }
    }

    /// The stored token scope of this subject.
    pub fn scope(&self) -> String {
        match self {
            Self::Administrator => SCOPE_SUPER_ADMIN.to_owned(),
            Self::User(id) => format!("{USER_SCOPE_PREFIX}{id}"),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The API token used; None for a JWT access token from the token endpoint.
    pub token_id: Option<ApiTokenId>,
    /// Who the token acts as.
    pub subject: Subject,
    /// The login's level of assurance (a session's, or an access token's `acr`); None for API
    /// tokens, which satisfy no LoA requirement.
    pub loa: Option<tillit_core::Loa>,
}

impl Principal {
    /// The actor recorded in audit entries: `user:<id>` for a user's token, `token:<id>` for an
    /// administrator token; never a secret.
    pub fn actor(&self) -> String {
        match &self.subject {
            Subject::Administrator => match self.token_id {
                Some(id) => format!("token:{id}"),
                None => "token:unknown".into(),
            },
            Subject::User(id) => format!("user:{id}"),
        }
    }
}

/// What a request wants to do. Each is a right of the built-in IT system `tillit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create organisations (installation-wide).
    CreateOrg,
    /// Read organisations.
    ReadOrgs,
    /// Read audit entries (installation-wide).
    ReadAudit,
    /// Define attestation types of an organisation.
    ManageTypes,
    /// Issue attestations of an organisation.
    IssueAttestation,
    /// Revoke, suspend and reinstate attestations of an organisation.
    RevokeAttestation,
    /// Read the register of issued attestations.
    ReadAttestations,
    /// Import the access document and manage API tokens (installation-wide).
    ManageAccess,
    /// Export the access document, list rights and violations.
    ReadAccess,
    /// Ask for access decisions (and record exercises).
    CheckAccess,
    /// Give and end role assignments (within what the model's assign rights allow the user).
    AssignAccess,
    /// Provision users and groups over SCIM (installation-wide).
    Provision,
    /// Rotate an organisation's signing keys.
    ManageKeys,
}

impl Permission {
    /// Every permission, in the order the built-in IT system lists them.
    pub const ALL: [Permission; 13] = [
        Self::CreateOrg,
        Self::ReadOrgs,
        Self::ReadAudit,
        Self::ManageTypes,
        Self::IssueAttestation,
        Self::RevokeAttestation,
        Self::ReadAttestations,
        Self::ManageAccess,
        Self::ReadAccess,
        Self::CheckAccess,
        Self::AssignAccess,
        Self::Provision,
        Self::ManageKeys,
    ];

    /// The id of its right in the IT system `tillit`.
    pub fn right(self) -> &'static str {
        match self {
            Self::CreateOrg => "org.manage",
            Self::ReadOrgs => "org.read",
            Self::ReadAudit => "audit.read",
            Self::ManageTypes => "type.manage",
            Self::IssueAttestation => "attestation.issue",
            Self::RevokeAttestation => "attestation.revoke",
            Self::ReadAttestations => "attestation.read",
            Self::ManageAccess => "access.manage",
            Self::ReadAccess => "access.read",
            Self::CheckAccess => "access.check",
            Self::AssignAccess => "access.assign",
            Self::Provision => "access.provision",
            Self::ManageKeys => "key.manage",
        }
    }

    /// What the right allows, for people reading the model.
    fn describe(self) -> &'static str {
        match self {
            Self::CreateOrg => "Create organisations",
            Self::ReadOrgs => "Read organisations",
            Self::ReadAudit => "Read the audit log",
            Self::ManageTypes => "Define attestation types",
            Self::IssueAttestation => "Issue attestations",
            Self::RevokeAttestation => "Revoke, suspend and reinstate attestations",
            Self::ReadAttestations => "Read the register of issued attestations",
            Self::ManageAccess => "Import the access model and manage API tokens",
            Self::ReadAccess => "Read the access model, rights and violations",
            Self::CheckAccess => "Ask for access decisions",
            Self::AssignAccess => "Give and end role assignments (delegated administration)",
            Self::Provision => "Provision users and groups over SCIM",
            Self::ManageKeys => "Rotate an organisation's signing keys",
        }
    }
}

/// Where a permission is exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The whole installation: only an assignment without restrictions allows it.
    Installation,
    /// One organisation: an assignment restricted to it (or to a parent, with children) allows it.
    Org(OrgId),
}

/// The built-in IT system `tillit`, its classification and one right per [`Permission`], which
/// every compiled access model contains. A document may define entries with these ids itself
/// (e.g. to require a login level for a right); then its own entries are used.
pub fn builtin_document() -> Document {
    let rights: Vec<serde_json::Value> = Permission::ALL
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.right(),
                "name": p.describe(),
                "it_system": TILLIT_SYSTEM,
                "classification": TILLIT_SYSTEM,
            })
        })
        .collect();
    let document = serde_json::json!({
        "classifications": [{ "id": TILLIT_SYSTEM, "name": "Tillit" }],
        "it_systems": [{ "id": TILLIT_SYSTEM, "name": "Tillit", "classification": TILLIT_SYSTEM }],
        "rights": rights,
    });
    // The value above is written to the schema; a failure here is a bug in this function.
    Document::from_json(&document.to_string()).unwrap_or_default()
}

/// `document` with the entries of [`builtin_document`] it does not define itself.
pub fn with_builtin(document: &Document) -> Document {
    let builtin = builtin_document();
    let mut merged = document.clone();
    for c in builtin.classifications {
        if !merged.classifications.iter().any(|x| x.id == c.id) {
            merged.classifications.push(c);
        }
    }
    for s in builtin.it_systems {
        if !merged.it_systems.iter().any(|x| x.id == s.id) {
            merged.it_systems.push(s);
        }
    }
    for r in builtin.rights {
        if !merged.rights.iter().any(|x| x.id == r.id) {
            merged.rights.push(r);
        }
    }
    merged
}

/// Decides whether `principal` may do `permission` on `target`. Administrator tokens may do
/// everything; a user token needs an allowing decision of the access model in force, and a
/// refusal says why.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    permission: Permission,
    target: Target,
) -> Result<(), ApiError> {
    let user = match &principal.subject {
        Subject::Administrator => return Ok(()),
        Subject::User(user) => user,
    };
    let loaded = match state.access.model(&state.store).await {
        Ok(loaded) => loaded,
        Err(AccessServiceError::NoDocument) => {
            return Err(ApiError::Forbidden(format!(
                "user {user} may not {}: no access document has been imported, so only \
                 administrator tokens may act",
                permission.right()
            )))
        }
        Err(e) => return Err(crate::access_api::service_error(e)),
    };
    let mut request = CheckRequest::new(user.clone(), permission.right()).it_system(TILLIT_SYSTEM);
    if let Some(loa) = principal.loa {
        request = request.loa(loa);
    }
    if let Target::Org(org) = target {
        request = request.scope(ScopeKind::Organisation, org.to_string());
    }
    let decision = loaded.model.decide(&request, Utc::now(), &[]);
    if decision.allowed {
        Ok(())
    } else {
        let place = match target {
            Target::Installation => "installation-wide".to_owned(),
            Target::Org(org) => format!("in organisation {org}"),
        };
        Err(ApiError::Forbidden(format!(
            "user {user} may not {} {place}: {}",
            permission.right(),
            decision.reasons.join("; ")
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

/// A token just made: its id and its secret (shown once, stored only as a hash).
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// Its id.
    pub id: ApiTokenId,
    /// The secret.
    pub secret: String,
}

/// Creates a token for `subject`, with its `token.create` audit entry naming `actor`.
pub async fn create_token(
    store: &Store,
    subject: &Subject,
    name: &str,
    actor: &str,
) -> Result<CreatedToken, StoreError> {
    let secret = new_token_secret();
    let id = ApiTokenId::new();
    let scope = subject.scope();
    let audit = AuditEvent {
        actor: actor.to_string(),
        org_id: None,
        action: "token.create".into(),
        object_id: Some(id.to_string()),
        details: serde_json::json!({ "name": name, "scope": scope }),
    };
    store
        .create_api_token(
            NewApiToken {
                id,
                org_id: None,
                name: name.to_string(),
                token_hash: hash_token(&secret),
                scope,
            },
            audit,
            Utc::now(),
        )
        .await?;
    Ok(CreatedToken { id, secret })
}

/// Creates a super-admin token and returns its secret (shown once, stored only as a hash).
pub async fn create_super_admin_token(
    store: &Store,
    name: &str,
    actor: &str,
) -> Result<String, StoreError> {
    Ok(create_token(store, &Subject::Administrator, name, actor)
        .await?
        .secret)
}

/// The per-process cache of token lookups (cheap to clone): hash → principal (None: unknown or
/// revoked), trusted for [`TOKEN_CACHE_TTL`].
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    inner: Arc<Mutex<HashMap<[u8; 32], CachedToken>>>,
}

/// When a token was read, and who it was then (None: unknown or revoked).
type CachedToken = (Instant, Option<Principal>);

impl TokenCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Option<Principal>> {
        let map = self.inner.lock().ok()?;
        map.get(hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, hash: [u8; 32], principal: Option<Principal>) {
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
            map.insert(hash, (Instant::now(), principal));
        }
    }

    /// Forgets what was read about every token (after this process revoked one).
    pub fn clear(&self) {
        if let Ok(mut map) = self.inner.lock() {
            map.clear();
        }
    }
}

/// Extractor: the request carries a valid, unrevoked bearer token.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return match crate::login::session_principal(state, parts).await? {
                Some(principal) => Ok(Authenticated(principal)),
                None => Err(ApiError::Unauthorized(
                    "send `Authorization: Bearer <token>`, or sign in (POST /v1/login)".into(),
                )),
            };
        };
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
        let hash = hash_token(secret);
        let principal = match state.tokens.get(&hash) {
            Some(cached) => cached,
            // A JWT access token from the token endpoint (three base64url parts).
            None if !secret.starts_with(TOKEN_PREFIX) && secret.split('.').count() == 3 => {
                let found = crate::oauth::principal_from_access_token(state, secret).await?;
                state.tokens.put(hash, found.clone());
                found
            }
            None => {
                let found = state
                    .store
                    .find_api_token_by_hash(&hash)
                    .await
                    .map_err(crate::error::store_error)?
                    .filter(|t| t.revoked_at.is_none())
                    .and_then(|t| {
                        Subject::from_scope(&t.scope).map(|subject| Principal {
                            token_id: Some(t.id),
                            subject,
                            loa: None,
                        })
                    });
                state.tokens.put(hash, found.clone());
                found
            }
        };
        principal
            .map(Authenticated)
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        let cases = [
            ("super-admin", Some(Subject::Administrator)),
            ("user:riget", Some(Subject::User("riget".into()))),
            ("user:", None),
            ("reader", None),
        ];
        for (scope, want) in cases {
            let got = Subject::from_scope(scope);
            assert_eq!(got, want, "{scope}");
            if let Some(s) = got {
                assert_eq!(s.scope(), scope);
            }
        }
    }

    #[test]
    fn the_builtin_system_has_one_right_per_permission() {
        let d = builtin_document();
        assert_eq!(d.it_systems.len(), 1);
        assert_eq!(d.rights.len(), Permission::ALL.len());
        for p in Permission::ALL {
            let r = d.rights.iter().find(|r| r.id == p.right());
            assert_eq!(
                r.map(|r| r.it_system.as_str()),
                Some(TILLIT_SYSTEM),
                "{p:?}"
            );
        }
        tillit_access::Model::load(&d).expect("the built-in document loads on its own");
    }
}
