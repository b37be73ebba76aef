//! Organisations (tenants): `POST /v1/orgs`, `GET /v1/orgs`, `GET /v1/orgs/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillit_audit::AuditEvent;
use tillit_core::{Country, OrgId, OrganisationNumber, PageRequest};
use tillit_store::{NewOrg, Org, OrgRepo, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{authorize, Authenticated, Permission};
use crate::error::{ApiError, FieldError, Problem};
use crate::state::AppState;

/// Longest accepted organisation name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// Display name, e.g. "Ankeborgs kommun" (1-200 characters).
    #[schema(example = "Ankeborgs kommun")]
    pub name: String,
    /// Country of registration: SE, DK, NO, FI or IS.
    #[schema(example = "SE")]
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

/// Query of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
}

impl ListParams {
    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        let request = PageRequest {
            cursor: self.cursor.clone(),
            limit: self.limit.unwrap_or(PageRequest::DEFAULT_LIMIT),
        };
        request
            .validate()
            .map_err(|e| ApiError::field("limit", e.to_string()))?;
        Ok(request)
    }
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

pub(crate) fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Conflict { what, .. } => ApiError::Conflict(format!("{what} already exists")),
        StoreError::NotFound { what, id } => ApiError::NotFound(format!("{what} {id} not found")),
        StoreError::InvalidCursor(c) => ApiError::field(
            "cursor",
            format!("unknown cursor {c:?}: pass next_cursor unchanged"),
        ),
        StoreError::Core(e) => ApiError::BadRequest(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Create an organisation.
#[utoipa::path(post, path = "/v1/orgs", tag = "organisations",
    request_body = CreateOrg,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OrgView),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An organisation with this number exists", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field(s)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Json(body): Json<CreateOrg>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&principal, Permission::CreateOrg)?;
    let org = validate(body)?;
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: Some(org.id.to_string()),
        action: "org.create".into(),
        object_id: Some(org.id.to_string()),
        details: serde_json::json!({ "country": org.org_number.country().code() }),
    };
    let created = state
        .store
        .create_org(org, audit, Utc::now())
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let location = format!("/v1/orgs/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(OrgView::from(created)),
    ))
}

/// List organisations, oldest first, one page at a time.
#[utoipa::path(get, path = "/v1/orgs", tag = "organisations",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = OrgPage),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<ListParams>,
) -> Result<Json<OrgPage>, ApiError> {
    authorize(&principal, Permission::ReadOrgs)?;
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
    params(("id" = String, Path, description = "Organisation id (UUID)")),
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
    authorize(&principal, Permission::ReadOrgs)?;
    let id: OrgId = id
        .parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("id", e.to_string()))?;
    let org = state
        .store
        .get_org(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {id} not found")))?;
    Ok(Json(OrgView::from(org)))
}
