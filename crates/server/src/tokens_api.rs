//! API tokens: `POST /v1/tokens` (make one for a user of the access model, or — for
//! administrators only — another administrator token), `GET /v1/tokens`,
//! `POST /v1/tokens/{id}/revoke`. Secrets are shown once and stored only as SHA-256 hashes.
//!
//! Creating a token has no `Idempotency-Key`: a replayed response would have to keep the secret.
//! A client that lost the answer revokes the token it cannot use (it is listed) and makes another.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillit_audit::AuditEvent;
use tillit_core::ApiTokenId;
use tillit_store::{ApiToken, ApiTokenRepo, Scope};
use utoipa::ToSchema;

use crate::auth::{self, authorize, Authenticated, Permission, Subject, Target};
use crate::error::{store_error, ApiError, Problem};
use crate::state::AppState;

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label for people, e.g. "Ankeborg case system" (1-100 characters).
    #[schema(example = "Ankeborg case system", min_length = 1, max_length = 100)]
    pub name: String,
    /// The access-model user the token acts as. Absent: an administrator token (only an
    /// administrator may make one).
    #[schema(example = "ankeborg-caseworker", min_length = 1, max_length = 200)]
    pub user: Option<String>,
}

/// A token (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Identifier (UUIDv7).
    pub id: String,
    /// Label.
    pub name: String,
    /// `administrator`, or the access-model user it acts as.
    #[schema(example = "ankeborg-caseworker")]
    pub acts_as: String,
    /// RFC 3339 UTC.
    pub created_at: DateTime<Utc>,
    /// RFC 3339 UTC; absent while valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just made, with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    /// The token.
    #[serde(flatten)]
    pub token: TokenView,
    /// Send as `Authorization: Bearer <secret>`. Not stored: keep it now.
    #[schema(example = "tillit_3q2-…")]
    pub secret: String,
}

fn acts_as(scope: &str) -> String {
    match Subject::from_scope(scope) {
        Some(Subject::Administrator) => "administrator".into(),
        Some(Subject::User(id)) => id,
        None => scope.to_owned(),
    }
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            acts_as: acts_as(&t.scope),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Make an API token.
///
/// For a user of the access model in force (the token may then do what the model allows that
/// user in the IT system `tillit`), or, without `user` and by an administrator only, another
/// administrator token. Needs `access.manage` without restriction.
#[utoipa::path(post, path = "/v1/tokens", tag = "access",
    request_body = CreateToken,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Made; the secret is in this answer only", body = CreatedTokenView),
        (status = 422, description = "A bad name, or a user the access model does not know", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Json(body): Json<CreateToken>,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "1-100 characters, not only spaces, no control characters",
        ));
    }
    let subject =
        match body.user {
            None if principal.subject == Subject::Administrator => Subject::Administrator,
            None => return Err(ApiError::Forbidden(
                "only an administrator token may make another administrator token; name a `user`"
                    .into(),
            )),
            Some(user) => {
                crate::access_api::require_model_user(&state, &user).await?;
                Subject::User(user)
            }
        };
    let created = auth::create_token(&state.store, &subject, name, &principal.actor())
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let token = state
        .store
        .find_api_token_by_hash(&auth::hash_token(&created.secret))
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::Internal("the token just made is not found".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            token: token.into(),
            secret: created.secret,
        }),
    )
        .into_response())
}

/// List API tokens (never their secrets), oldest first. Needs `access.manage` without
/// restriction.
#[utoipa::path(get, path = "/v1/tokens", tag = "access",
    security(("bearer" = [])),
    responses((status = 200, description = "Every token, revoked ones included", body = [TokenView])))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let tokens = state
        .store
        .list_api_tokens(Scope::Installation)
        .await
        .map_err(store_error)?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Revoke an API token (idempotent: a second revocation keeps the first time). It stops working
/// at once in this process and within a second in the others. Needs `access.manage` without
/// restriction.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "access",
    params(("id" = uuid::Uuid, Path, description = "Token id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = TokenView),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is made with this very token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let id: ApiTokenId = id
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("id", e.to_string()))?;
    if principal.token_id == Some(id) {
        return Err(ApiError::Conflict(
            "this request is made with the token it would revoke; revoke it with another token, \
             so that nobody locks themselves out by mistake"
                .into(),
        ));
    }
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: None,
        action: "token.revoke".into(),
        object_id: Some(id.to_string()),
        details: serde_json::json!({}),
    };
    let token = state
        .store
        .revoke_api_token(Scope::Installation, id, audit, Utc::now())
        .await
        .map_err(store_error)?;
    state.tokens.clear();
    state.audit_written.notify_one();
    Ok(Json(token.into()))
}
