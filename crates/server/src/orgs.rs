//! Organisations (tenants): `POST /v1/orgs`, `GET /v1/orgs`, `GET /v1/orgs/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillit_audit::AuditEvent;
use tillit_core::{Country, OrgId, OrganisationNumber};
use tillit_store::{NewOrg, Org, OrgRepo};
use utoipa::ToSchema;

use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{store_error, ApiError, FieldError, Problem};
use crate::idempotency;
use crate::paging::ListParams;
use crate::state::AppState;

/// Longest accepted organisation name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// Display name, e.g. "Ankeborgs kommun" (1-200 characters, not only spaces, no control
    /// characters).
    #[schema(
        example = "Ankeborgs kommun",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Country of registration: SE, DK, NO, FI or IS.
    #[schema(example = "SE", pattern = "^(SE|DK|NO|FI|IS)$")]
    pub country: String,
    /// National organisation number (organisationsnummer, CVR, organisasjonsnummer, Y-tunnus,
    /// kennitala), validated with its check digit.
    #[schema(example = "212000-0142")]
    pub organisation_number: String,
}

/// An organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    /// Identifier (UUIDv7).
    pub id: String,
    pub name: String,
    /// SE, DK, NO, FI or IS.
    pub country: String,
    /// Canonical form of the organisation number.
    pub organisation_number: String,
    /// RFC 3339 UTC.
    pub created_at: DateTime<Utc>,
}

impl From<Org> for OrgView {
    fn from(org: Org) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name,
            country: org.country.code().to_string(),
            organisation_number: org.org_number.as_str().to_string(),
            created_at: org.created_at,
        }
    }
}

/// One page of organisations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPage {
    pub items: Vec<OrgView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Validates the body into the store's type, naming every wrong field.
fn validate(body: CreateOrg) -> Result<NewOrg, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.trim().to_string();
    if name.is_empty() {
        errors.push(FieldError {
            field: "name".into(),
            message: "must not be empty".into(),
        });
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError {
            field: "name".into(),
            message: format!("must be at most {MAX_NAME_CHARS} characters"),
        });
    } else if name.chars().any(char::is_control) {
        // Also what PostgreSQL would refuse (NUL) as a server error rather than a 422.
        errors.push(FieldError {
            field: "name".into(),
            message: "must not contain control characters (tabs, line breaks, NUL)".into(),
        });
    }
    let country = match body.country.parse::<Country>() {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(FieldError {
                field: "country".into(),
                message: e.to_string(),
            });
            None
        }
    };
    let org_number =
        country.and_then(
            |c| match OrganisationNumber::parse(c, &body.organisation_number) {
                Ok(n) => Some(n),
                Err(e) => {
                    errors.push(FieldError {
                        field: "organisation_number".into(),
                        message: e.to_string(),
                    });
                    None
                }
            },
        );
    match org_number {
        Some(org_number) if errors.is_empty() => Ok(NewOrg {
            id: OrgId::new(),
            name,
            org_number,
        }),
        _ => Err(ApiError::Validation {
            detail: format!(
                "invalid field(s): {}",
                errors
                    .iter()
                    .map(|e| e.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            errors,
        }),
    }
}

/// Create an organisation.
///
/// With an `Idempotency-Key` header, a retry of the same request returns the first response
/// (with `Idempotent-Replayed: true`) instead of creating a second organisation or a 409.
#[utoipa::path(post, path = "/v1/orgs", tag = "organisations",
    request_body = CreateOrg,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^(\"[!#-~]{1,255}\"|[!#-~]{1,255})$",
        description = "1-255 visible ASCII characters, e.g. a UUID; a retry with the same key and body gets the first response again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (or, with Idempotent-Replayed: true, the first response to this key)", body = OrgView),
        (status = 400, description = "The body is not valid JSON, or a malformed Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An organisation with this number exists", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field(s), or an Idempotency-Key already used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    Json(body): Json<CreateOrg>,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::CreateOrg,
        Target::Installation,
    )
    .await?;
    let actor = principal.actor();
    let claim =
        match idempotency::begin(&state, &headers, &actor, "POST", "/v1/orgs", &body).await? {
            idempotency::Begin::Replay(first) => return Ok(first),
            idempotency::Begin::Proceed(claim) => claim,
        };
    let org = validate(body)?;
    let at = tillit_store::micros(Utc::now());
    let audit = AuditEvent {
        actor: actor.clone(),
        org_id: Some(org.id.to_string()),
        action: "org.create".into(),
        object_id: Some(org.id.to_string()),
        details: serde_json::json!({ "country": org.org_number.country().code() }),
    };
    let location = format!("/v1/orgs/{}", org.id);
    // The response is known before the write (the id and time are chosen here), so it can be
    // stored in the same transaction as the organisation.
    let view = OrgView::from(Org {
        id: org.id,
        name: org.name.clone(),
        country: org.org_number.country(),
        org_number: org.org_number.clone(),
        created_at: at,
    });
    let remember = match &claim {
        Some(c) => Some(
            c.remember(
                StatusCode::CREATED,
                Some(location.clone()),
                serde_json::to_string(&view)
                    .map_err(|e| ApiError::Internal(format!("serialise organisation: {e}")))?,
                at,
            ),
        ),
        None => None,
    };
    if let Err(err) = state.store.create_org(org, audit, at, remember).await {
        return idempotency::after_store_error(&state, claim.as_ref(), err).await;
    }
    state.audit_written.notify_one();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// List organisations, oldest first, one page at a time.
#[utoipa::path(get, path = "/v1/orgs", tag = "organisations",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = OrgPage),
        (status = 400, description = "Malformed query string (e.g. `limit=-1` or a non-numeric limit)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<ListParams>,
) -> Result<Json<OrgPage>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ReadOrgs,
        Target::Installation,
    )
    .await?;
    let page = state
        .store
        .list_orgs(&params.page_request()?)
        .await
        .map_err(store_error)?;
    Ok(Json(OrgPage {
        items: page.items.into_iter().map(OrgView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get one organisation.
#[utoipa::path(get, path = "/v1/orgs/{id}", tag = "organisations",
    params(("id" = uuid::Uuid, Path, description = "Organisation id (UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organisation", body = OrgView),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OrgView>, ApiError> {
    let id: OrgId = id
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("id", e.to_string()))?;
    authorize(&state, &principal, Permission::ReadOrgs, Target::Org(id)).await?;
    let org = state
        .store
        .get_org(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {id} not found")))?;
    Ok(Json(OrgView::from(org)))
}
