//! Provisioning over SCIM 2.0 (RFC 7643, RFC 7644) under `/scim/v2` (issue 9 item 7): an HR
//! system or a directory creates, updates and deactivates users and their group-based role
//! assignments.
//!
//! # The mapping onto the access model
//! - A SCIM **User** is a user of the access model together with its person, both with the
//!   SCIM `id` (a UUID Tillit issues). `userName` is the user's `name`, `displayName` the
//!   person's `name`. What the model has no place for — `userName` itself, `externalId`,
//!   `active` as the client said it, `created` / `lastModified`, and deletion — is kept in the
//!   document's `provisioning.users` section, so that every change is one document version.
//! - `active: false` ends the user's virkningsperiode (`valid_to` = now) and every open
//!   assignment of the user (the same end), so history stays: earlier decisions at earlier
//!   times still find them. `active: true` takes away an end that has passed. A user whose
//!   period an administrator ended is rendered `active: false` whatever the client last said.
//!   An omitted `active` in a PUT leaves the activation as it is (an omission never
//!   reactivates); a PATCH that removes `active` means active again.
//! - DELETE ends the user as `active: false` does, drops its group memberships and marks it
//!   deleted: SCIM answers 404 for it afterwards, while the model keeps the ended user and its
//!   ended assignments for history and audit.
//! - A SCIM **Group** is a `provisioning.groups` entry with `roles` and `restrictions` that an
//!   access administrator sets in the access document (import/export); SCIM never changes
//!   them, so a directory decides who is a member but not which rights membership carries
//!   (delegated administration stays with the model's administrators). Each member who is an
//!   active provisioned user holds one assignment of exactly those roles with those
//!   restrictions, `valid_from` = when they joined, `assigned_by` = the provisioning caller's
//!   user (none for an administrator token). Leaving the group, deactivation, deletion of the
//!   group or a change of its roles ends that assignment (`valid_to`); the next SCIM change
//!   makes the assignments agree with the groups again. Members are Users of this service.
//! - Every change runs through [`crate::access::modify`]: a new version of the access document
//!   with its audit entry (`scim.user.create`, `scim.group.patch`, …), compiled before it is
//!   stored (a group whose roles break static separation of duties for a member is refused
//!   with the model's reason) and never written over a version it did not read.
//!
//! # Protocol
//! ServiceProviderConfig, ResourceTypes and Schemas are public. Users and Groups need a bearer
//! token whose user holds `access.provision` in the built-in IT system `tillit` (administrator
//! tokens may). Filters: `eq ne co sw ew pr gt ge lt le`, `and or not`, parentheses and value
//! paths on every attribute of the representation (`tillit_access::scim`); `startIndex`,
//! `count` (at most 200), `sortBy`/`sortOrder`, `attributes`/`excludedAttributes`. PATCH:
//! `add`/`replace`/`remove` with paths like `members[value eq "…"]`. `meta.version` is a weak
//! ETag; `If-Match` is honoured on PUT, PATCH and DELETE (412 when it does not match), and
//! `If-None-Match` on GET (304). Not supported, and said so in ServiceProviderConfig: bulk,
//! changePassword; also not `/.search` (501) and no schema extensions.
//!
//! Errors are SCIM errors (`urn:ietf:params:scim:api:messages:2.0:Error` with `status` and
//! `scimType`) in `application/scim+json`, because SCIM clients parse that shape: the responses
//! carry [`PassThrough`] so that the problem middleware leaves them as they are, as the OAuth
//! token endpoint's do. Errors that arise before a handler runs (405 from the method router,
//! 413 from the body limit) are still RFC 9457 problems.

mod discovery;
mod resource;

use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use tillit_access::scim::{parse_filter, parse_path, AttrPath, Filter};
use tillit_access::{AccessError, Document};
use tillit_store::AccessRepo;
use utoipa::{IntoParams, ToSchema};

use crate::access::{self, AccessServiceError};
use crate::auth::{authorize, Authenticated, Permission, Principal, Subject, Target};
use crate::error::{ApiError, PassThrough};
use crate::state::AppState;

use discovery::MAX_RESULTS;
use resource::{case_exact, Kind};

/// Media type of every SCIM body.
pub const SCIM_JSON: &str = "application/scim+json";

/// Where the SCIM service is: every error under it, also those made outside its handlers
/// (405, 413, a 404 of an unknown path), is a SCIM error, not an RFC 9457 problem.
pub(crate) const PREFIX: &str = "/scim/v2";

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug, Clone)]
pub(crate) struct ScimError {
    pub(crate) status: StatusCode,
    pub(crate) scim_type: Option<&'static str>,
    pub(crate) detail: String,
}

impl ScimError {
    pub(crate) fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
}

/// The SCIM error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimErrorView {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    #[schema(example = "400")]
    pub status: String,
    /// `invalidFilter`, `invalidSyntax`, `invalidPath`, `invalidValue`, `noTarget`,
    /// `mutability`, `uniqueness`, `tooMany`, …
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    pub detail: String,
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let body = ScimErrorView {
            schemas: vec![ERROR_SCHEMA.into()],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(str::to_owned),
            detail: self.detail,
        };
        let mut response =
            (self.status, serde_json::to_vec(&body).unwrap_or_default()).into_response();
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tillit\""),
            );
        }
        response.extensions_mut().insert(PassThrough);
        response
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let (status, _, _) = e.kind();
        let detail = e.to_problem().detail.unwrap_or_else(|| status.to_string());
        match status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::error!(error = %e, "SCIM request failed");
                Self::new(status, None, detail)
            }
            _ => Self::new(status, None, detail),
        }
    }
}

fn service_error(e: AccessServiceError) -> ScimError {
    match e {
        AccessServiceError::Document(AccessError::Invalid(problems)) => ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            format!(
                "the access model refuses the change: {}",
                problems
                    .iter()
                    .map(|p| format!("{}[{}]: {}", p.section.as_str(), p.id, p.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        AccessServiceError::Exists(m) => {
            ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), m)
        }
        other => crate::access_api::service_error(other).into(),
    }
}

fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = body
        .get("meta")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str)
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        response.headers_mut().insert(ETAG, v);
    }
    response
}

/// The authenticated caller, allowed to provision.
async fn provisioner(
    state: &AppState,
    auth: Result<Authenticated, ApiError>,
) -> Result<Principal, ScimError> {
    let Authenticated(principal) = auth?;
    authorize(
        state,
        &principal,
        Permission::Provision,
        Target::Installation,
    )
    .await?;
    Ok(principal)
}

fn base(state: &AppState) -> String {
    state.config.base_url()
}

/// The document in force (empty before the first import).
async fn read_document(state: &AppState) -> Result<Document, ScimError> {
    match state.store.latest_access_document().await {
        Ok(Some(v)) => Document::from_json(&v.document).map_err(|e| service_error(e.into())),
        Ok(None) => Ok(Document::default()),
        Err(e) => Err(crate::error::store_error(e).into()),
    }
}

fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, ScimError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != SCIM_JSON && essence != "application/json" {
        return Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send the body as application/scim+json (or application/json)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("the body is not JSON: {e}"),
        )
    })
}

/// Whether the `If-Match` header (if any) allows a change of the resource at `version`.
fn if_match_ok(headers: &HeaderMap, version: Option<&str>) -> bool {
    let Some(h) = headers.get(IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    h.split(',')
        .any(|t| t.trim() == "*" || version.is_some_and(|v| strip(t) == strip(v)))
}

fn precondition_failed() -> ScimError {
    ScimError::new(
        StatusCode::PRECONDITION_FAILED,
        None,
        "the resource changed since the version in If-Match; read it again",
    )
}

/// Makes one change of the access document (see [`access::modify`]) as `principal` and returns
/// what `f` returns (the rendered resource). Before any document exists, the change is made
/// on an empty one and imported as the first version.
async fn change<F>(
    state: &AppState,
    principal: &Principal,
    action: String,
    object: &str,
    now: DateTime<Utc>,
    f: F,
) -> Result<Option<Value>, ScimError>
where
    F: Fn(
            &mut Document,
            Option<&str>,
            &mut dyn FnMut() -> String,
        ) -> Result<Option<Value>, ScimError>
        + Send
        + Sync,
{
    let assigned_by = match &principal.subject {
        Subject::User(u) => Some(u.clone()),
        Subject::Administrator => None,
    };
    let failed: Mutex<Option<ScimError>> = Mutex::new(None);
    let run = |d: &mut Document| -> Result<Option<Value>, AccessServiceError> {
        let mut new_id = || format!("scim-{}", uuid::Uuid::new_v4());
        f(d, assigned_by.as_deref(), &mut new_id).map_err(|e| {
            if let Ok(mut slot) = failed.lock() {
                *slot = Some(e);
            }
            AccessServiceError::Refused("scim".into())
        })
    };
    let actor = principal.actor();
    let result = access::modify(
        &state.store,
        &state.access,
        &actor,
        &action,
        object,
        now,
        |d, _| run(d),
    )
    .await;
    let taken = |failed: &Mutex<Option<ScimError>>| failed.lock().ok().and_then(|mut s| s.take());
    let value = match result {
        Ok(changed) => changed.value,
        Err(AccessServiceError::NoDocument) => {
            let mut d = Document::default();
            let value = match run(&mut d) {
                Ok(v) => v,
                Err(e) => return Err(taken(&failed).unwrap_or_else(|| service_error(e))),
            };
            let (d, model) = access::compile(d).await.map_err(service_error)?;
            access::import(
                &state.store,
                Some(&state.access),
                &d,
                model,
                &actor,
                now,
                &|_| Ok(None),
            )
            .await
            .map_err(service_error)?;
            value
        }
        Err(e) => return Err(taken(&failed).unwrap_or_else(|| service_error(e))),
    };
    state.audit_written.notify_one();
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// SCIM service provider configuration (RFC 7644 §4).
#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim",
    responses((status = 200, description = "What this service provider supports", body = Object, content_type = "application/scim+json")))]
pub async fn service_provider_config(State(state): State<AppState>) -> Response {
    scim_response(
        StatusCode::OK,
        &discovery::service_provider_config(&base(&state)),
    )
}

fn list_response(resources: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// SCIM resource types (RFC 7644 §4): User and Group.
#[utoipa::path(get, path = "/scim/v2/ResourceTypes", tag = "scim",
    responses((status = 200, description = "A ListResponse of the resource types", body = Object, content_type = "application/scim+json")))]
pub async fn resource_types(State(state): State<AppState>) -> Response {
    let all = discovery::resource_types(&base(&state));
    let n = all.len();
    scim_response(StatusCode::OK, &list_response(all, n, 1))
}

/// One SCIM resource type.
#[utoipa::path(get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim",
    params(("id" = String, Path, description = "`User` or `Group`")),
    responses(
        (status = 200, description = "The resource type", body = Object, content_type = "application/scim+json"),
        (status = 404, description = "No such resource type", body = ScimErrorView, content_type = "application/scim+json"),
    ))]
pub async fn resource_type(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    discovery::resource_types(&base(&state))
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_response(StatusCode::OK, &r))
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                None,
                format!("no resource type {id}"),
            )
        })
}

/// SCIM schemas (RFC 7643 §7): the attributes of User and Group this service keeps.
#[utoipa::path(get, path = "/scim/v2/Schemas", tag = "scim",
    responses((status = 200, description = "A ListResponse of the schemas", body = Object, content_type = "application/scim+json")))]
pub async fn schemas(State(state): State<AppState>) -> Response {
    let all = discovery::schemas(&base(&state));
    let n = all.len();
    scim_response(StatusCode::OK, &list_response(all, n, 1))
}

/// One SCIM schema, by its URN.
#[utoipa::path(get, path = "/scim/v2/Schemas/{id}", tag = "scim",
    params(("id" = String, Path, description = "The schema URN")),
    responses(
        (status = 200, description = "The schema", body = Object, content_type = "application/scim+json"),
        (status = 404, description = "No such schema", body = ScimErrorView, content_type = "application/scim+json"),
    ))]
pub async fn schema(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    discovery::schemas(&base(&state))
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| scim_response(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("no schema {id}")))
}

/// Any other path under `/scim/v2`: a SCIM 404.
#[utoipa::path(get, path = "/scim/v2/{resource}", tag = "scim",
    params(("resource" = String, Path, description = "Not a resource type of this service")),
    responses((status = 404, description = "No such endpoint", body = ScimErrorView, content_type = "application/scim+json")))]
pub async fn unknown(Path(resource): Path<String>) -> ScimError {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        format!("no SCIM endpoint {resource}; see /scim/v2/ResourceTypes"),
    )
}

/// Searching several resource types at once (`POST /.search`) is not supported.
#[utoipa::path(post, path = "/scim/v2/.search", tag = "scim",
    security(("bearer" = [])),
    responses(
        (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
        (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
        (status = 501, description = "Not supported: query /Users and /Groups with filter", body = ScimErrorView, content_type = "application/scim+json"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    auth: Result<Authenticated, ApiError>,
) -> ScimError {
    if let Err(e) = provisioner(&state, auth).await {
        return e;
    }
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "POST /.search is not supported; GET /Users or /Groups with filter",
    )
}

// ---------------------------------------------------------------------------------------------
// Users and Groups

/// Query of a list request (RFC 7644 §3.4.2).
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ListParams {
    /// A SCIM filter, e.g. `userName eq "bjensen"` or `members[value eq "…"]`.
    filter: Option<String>,
    /// 1-based index of the first result (default 1).
    start_index: Option<i64>,
    /// Most results to return (default and at most 200).
    count: Option<i64>,
    /// The attribute to sort by.
    sort_by: Option<String>,
    /// `ascending` (default) or `descending`.
    sort_order: Option<String>,
    /// Comma-separated attributes to return.
    attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    excluded_attributes: Option<String>,
}

/// What a list or read asks for, parsed.
#[derive(Debug, Default)]
struct Query {
    filter: Option<Filter>,
    start: usize,
    count: usize,
    sort_by: Option<AttrPath>,
    descending: bool,
    attributes: Option<Vec<AttrPath>>,
    excluded: Vec<AttrPath>,
}

fn bad(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
}

fn attr_list(text: &str) -> Result<Vec<AttrPath>, ScimError> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let p = parse_path(s.trim())
                .map_err(|e| bad("invalidValue", format!("attribute {s:?}: {e}")))?;
            if p.filter.is_some() {
                return Err(bad("invalidValue", format!("attribute {s:?} has a filter")));
            }
            Ok(p.attr)
        })
        .collect()
}

fn parse_query(raw: Option<&str>) -> Result<Query, ScimError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad("invalidSyntax", format!("the query string: {e}")))?;
    let mut q = Query {
        start: 1,
        count: MAX_RESULTS,
        ..Query::default()
    };
    let int = |name: &str, v: &str| -> Result<i64, ScimError> {
        v.trim()
            .parse::<i64>()
            .map_err(|_| bad("invalidValue", format!("{name} must be an integer")))
    };
    for (k, v) in pairs {
        match k.as_str() {
            "filter" => {
                q.filter = Some(
                    parse_filter(&v).map_err(|e| bad("invalidFilter", format!("filter: {e}")))?,
                )
            }
            "startIndex" => q.start = usize::try_from(int("startIndex", &v)?.max(1)).unwrap_or(1),
            "count" => {
                q.count = usize::try_from(int("count", &v)?.max(0))
                    .unwrap_or(0)
                    .min(MAX_RESULTS)
            }
            "sortBy" => {
                let mut list = attr_list(&v)?;
                if list.len() != 1 {
                    return Err(bad("invalidValue", "sortBy names one attribute"));
                }
                q.sort_by = list.pop();
            }
            "sortOrder" => match v.to_ascii_lowercase().as_str() {
                "ascending" => q.descending = false,
                "descending" => q.descending = true,
                _ => return Err(bad("invalidValue", "sortOrder is ascending or descending")),
            },
            "attributes" => q.attributes = Some(attr_list(&v)?),
            "excludedAttributes" => q.excluded = attr_list(&v)?,
            _ => {}
        }
    }
    Ok(q)
}

/// The representation with only the asked-for attributes (`id` and `schemas` always).
fn project(mut r: Value, q: &Query) -> Value {
    let keep = |k: &str, list: &[AttrPath]| list.iter().any(|a| a.name.eq_ignore_ascii_case(k));
    if let Some(o) = r.as_object_mut() {
        o.retain(|k, _| {
            let always = k == "id" || k == "schemas";
            always || (q.attributes.as_ref().is_none_or(|l| keep(k, l)) && !keep(k, &q.excluded))
        });
    }
    r
}

fn sort_key(r: &Value, attr: &AttrPath) -> Option<String> {
    tillit_access::scim::values(r, attr)
        .first()
        .map(|v| match v {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })
}

async fn list(
    state: AppState,
    auth: Result<Authenticated, ApiError>,
    kind: Kind,
    raw: Option<String>,
) -> Result<Response, ScimError> {
    provisioner(&state, auth).await?;
    let q = parse_query(raw.as_deref())?;
    let d = read_document(&state).await?;
    let mut all = resource::render_all(&d, kind, &base(&state), Utc::now());
    if let Some(f) = &q.filter {
        all.retain(|r| f.matches(r, &case_exact));
    }
    if let Some(attr) = &q.sort_by {
        // Resources without the attribute sort last either way.
        all.sort_by(|a, b| match (sort_key(a, attr), sort_key(b, attr)) {
            (Some(x), Some(y)) if q.descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
    }
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(q.start - 1)
        .take(q.count)
        .map(|r| project(r, &q))
        .collect();
    Ok(scim_response(
        StatusCode::OK,
        &list_response(page, total, q.start),
    ))
}

async fn read(
    state: AppState,
    auth: Result<Authenticated, ApiError>,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Response, ScimError> {
    provisioner(&state, auth).await?;
    let q = parse_query(raw.as_deref())?;
    let d = read_document(&state).await?;
    let r = resource::render(&d, kind, &id, &base(&state), Utc::now()).ok_or_else(|| {
        ScimError::new(
            StatusCode::NOT_FOUND,
            None,
            format!("no {} {id}", kind.name()),
        )
    })?;
    if let (Some(h), Some(v)) = (
        headers.get(IF_NONE_MATCH).and_then(|h| h.to_str().ok()),
        resource::version_of(&r),
    ) {
        if h.split(',').any(|t| t.trim() == v || t.trim() == "*") {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(v) {
                resp.headers_mut().insert(ETAG, v);
            }
            return Ok(resp);
        }
    }
    let etag = resource::version_of(&r).map(str::to_owned);
    let mut resp = scim_response(StatusCode::OK, &project(r, &q));
    if let Some(v) = etag.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert(ETAG, v);
    }
    Ok(resp)
}

/// Reads a body of `kind` and applies it to the document as `create` or `replace`.
fn apply_input(
    d: &mut Document,
    kind: Kind,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
    create: bool,
) -> Result<(), ScimError> {
    match (kind, create) {
        (Kind::User, true) => resource::create_user(d, id, resource::user_input(body)?, now),
        (Kind::User, false) => resource::replace_user(d, id, resource::user_input(body)?, now),
        (Kind::Group, true) => resource::create_group(d, id, resource::group_input(body)?, now),
        (Kind::Group, false) => resource::replace_group(d, id, resource::group_input(body)?, now),
    }
}

async fn create(
    state: AppState,
    auth: Result<Authenticated, ApiError>,
    kind: Kind,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let principal = provisioner(&state, auth).await?;
    let body = body_json(&headers, &body)?;
    // Refuse a bad body before touching the store.
    match kind {
        Kind::User => drop(resource::user_input(&body)?),
        Kind::Group => drop(resource::group_input(&body)?),
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let base = base(&state);
    let action = format!("scim.{}.create", kind.audit());
    let value = change(&state, &principal, action, &id, now, |d, by, new_id| {
        apply_input(d, kind, &id, &body, now, true)?;
        resource::reconcile(d, now, by, new_id);
        Ok(resource::render(d, kind, &id, &base, now))
    })
    .await?
    .unwrap_or(Value::Null);
    let mut resp = scim_response(StatusCode::CREATED, &value);
    if let Some(loc) = value
        .get("meta")
        .and_then(|m| m.get("location"))
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        resp.headers_mut().insert(LOCATION, loc);
    }
    Ok(resp)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Replace,
    Patch,
    Delete,
}

async fn update(
    state: AppState,
    auth: Result<Authenticated, ApiError>,
    kind: Kind,
    id: String,
    verb: Verb,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let principal = provisioner(&state, auth).await?;
    let body = match verb {
        Verb::Delete => Value::Null,
        _ => body_json(&headers, &body)?,
    };
    let now = Utc::now();
    let base = base(&state);
    let action = format!(
        "scim.{}.{}",
        kind.audit(),
        match verb {
            Verb::Replace => "replace",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    );
    let value = change(&state, &principal, action, &id, now, |d, by, new_id| {
        let current = resource::render(d, kind, &id, &base, now).ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                None,
                format!("no {} {id}", kind.name()),
            )
        })?;
        if !if_match_ok(&headers, resource::version_of(&current)) {
            return Err(precondition_failed());
        }
        match verb {
            Verb::Replace => apply_input(d, kind, &id, &body, now, false)?,
            Verb::Delete => match kind {
                Kind::User => resource::delete_user(d, &id, now)?,
                Kind::Group => resource::delete_group(d, &id, now)?,
            },
            Verb::Patch => {
                let mut r = current.clone();
                if let Some(o) = r.as_object_mut() {
                    o.remove("meta");
                }
                resource::apply_patch(&mut r, kind, &body)?;
                match kind {
                    Kind::User => resource::patch_user(d, &id, resource::user_input(&r)?, now)?,
                    Kind::Group => {
                        resource::replace_group(d, &id, resource::group_input(&r)?, now)?
                    }
                }
            }
        }
        resource::reconcile(d, now, by, new_id);
        Ok(resource::render(d, kind, &id, &base, now))
    })
    .await?;
    Ok(match (verb, value) {
        (Verb::Delete, _) | (_, None) => StatusCode::NO_CONTENT.into_response(),
        (_, Some(v)) => scim_response(StatusCode::OK, &v),
    })
}

macro_rules! resource_handlers {
    ($kind:expr, $path:literal, $item:literal,
     $list:ident, $create:ident, $get:ident, $replace:ident, $patch:ident, $delete:ident) => {
        /// List resources, with `filter`, `startIndex`, `count`, `sortBy`, `sortOrder`, `attributes`
        /// and `excludedAttributes`.
        #[utoipa::path(get, path = $path, tag = "scim", params(ListParams), security(("bearer" = [])),
            responses(
                (status = 200, description = "A ListResponse", body = Object, content_type = "application/scim+json"),
                (status = 400, description = "A bad filter (`invalidFilter`) or parameter", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $list(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, RawQuery(raw): RawQuery) -> Result<Response, ScimError> {
            list(state, auth, $kind, raw).await
        }

        /// Create a resource (a new version of the access document).
        #[utoipa::path(post, path = $path, tag = "scim", security(("bearer" = [])),
            request_body(content = Object, content_type = "application/scim+json"),
            responses(
                (status = 201, description = "Created", body = Object, content_type = "application/scim+json"),
                (status = 400, description = "A bad body (`invalidSyntax`, `invalidValue`), or a change the access model refuses", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 409, description = "userName is taken (`uniqueness`)", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 415, description = "Not application/scim+json", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable or too contended", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $create(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, headers: HeaderMap, body: Bytes) -> Result<Response, ScimError> {
            create(state, auth, $kind, headers, body).await
        }

        /// Read a resource (`attributes`/`excludedAttributes`; `If-None-Match`).
        #[utoipa::path(get, path = $item, tag = "scim", params(("id" = String, Path, description = "The resource id"), ListParams), security(("bearer" = [])),
            responses(
                (status = 200, description = "The resource", body = Object, content_type = "application/scim+json"),
                (status = 304, description = "Not modified (If-None-Match)"),
                (status = 400, description = "A bad parameter", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 404, description = "No such resource (or deleted)", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $get(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, Path(id): Path<String>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Response, ScimError> {
            read(state, auth, $kind, id, headers, raw).await
        }

        /// Replace a resource (`If-Match` honoured).
        #[utoipa::path(put, path = $item, tag = "scim", params(("id" = String, Path, description = "The resource id")), security(("bearer" = [])),
            request_body(content = Object, content_type = "application/scim+json"),
            responses(
                (status = 200, description = "Replaced", body = Object, content_type = "application/scim+json"),
                (status = 400, description = "A bad body, or a change the access model refuses", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 404, description = "No such resource", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 409, description = "userName is taken", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 412, description = "If-Match does not match meta.version", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 415, description = "Not application/scim+json", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable or too contended", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $replace(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, ScimError> {
            update(state, auth, $kind, id, Verb::Replace, headers, body).await
        }

        /// Modify a resource with a PatchOp (`add`, `replace`, `remove`; `If-Match` honoured).
        #[utoipa::path(patch, path = $item, tag = "scim", params(("id" = String, Path, description = "The resource id")), security(("bearer" = [])),
            request_body(content = Object, content_type = "application/scim+json"),
            responses(
                (status = 200, description = "Modified", body = Object, content_type = "application/scim+json"),
                (status = 400, description = "A bad operation (`invalidSyntax`, `invalidPath`, `noTarget`, `mutability`, `invalidValue`)", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 404, description = "No such resource", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 409, description = "userName is taken", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 412, description = "If-Match does not match meta.version", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 415, description = "Not application/scim+json", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable or too contended", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $patch(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, ScimError> {
            update(state, auth, $kind, id, Verb::Patch, headers, body).await
        }

        /// Delete a resource: its role assignments end; the model keeps it, ended, for history.
        #[utoipa::path(delete, path = $item, tag = "scim", params(("id" = String, Path, description = "The resource id")), security(("bearer" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 401, description = "No or a bad token", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 403, description = "The token's user lacks access.provision", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 404, description = "No such resource", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 412, description = "If-Match does not match meta.version", body = ScimErrorView, content_type = "application/scim+json"),
                (status = 503, description = "The database is unavailable or too contended", body = ScimErrorView, content_type = "application/scim+json"),
            ))]
        pub async fn $delete(State(state): State<AppState>, auth: Result<Authenticated, ApiError>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ScimError> {
            update(state, auth, $kind, id, Verb::Delete, headers, Bytes::new()).await
        }
    };
}

resource_handlers!(
    Kind::User,
    "/scim/v2/Users",
    "/scim/v2/Users/{id}",
    list_users,
    create_user,
    get_user,
    replace_user,
    patch_user,
    delete_user
);
resource_handlers!(
    Kind::Group,
    "/scim/v2/Groups",
    "/scim/v2/Groups/{id}",
    list_groups,
    create_group,
    get_group,
    replace_group,
    patch_group,
    delete_group
);

#[cfg(test)]
mod tests {
    use super::*;

    /// (start, count, descending), or the error's scimType.
    type Expected = Result<(usize, usize, bool), &'static str>;

    #[test]
    fn queries() {
        // (query, start, count, descending, error scimType)
        let cases: Vec<(&str, Expected)> = vec![
            ("", Ok((1, 200, false))),
            ("startIndex=0&count=-5", Ok((1, 0, false))),
            ("startIndex=3&count=1000", Ok((3, 200, false))),
            ("sortBy=userName&sortOrder=descending", Ok((1, 200, true))),
            ("count=x", Err("invalidValue")),
            ("filter=userName%20eq", Err("invalidFilter")),
            ("sortOrder=up", Err("invalidValue")),
            ("sortBy=a,b", Err("invalidValue")),
            ("attributes=members[value%20pr]", Err("invalidValue")),
        ];
        for (raw, want) in cases {
            match (parse_query(Some(raw)), want) {
                (Ok(q), Ok(w)) => assert_eq!((q.start, q.count, q.descending), w, "{raw}"),
                (Err(e), Err(w)) => assert_eq!(e.scim_type, Some(w), "{raw}: {}", e.detail),
                (got, want) => panic!("{raw}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn if_match() {
        let mut h = HeaderMap::new();
        assert!(if_match_ok(&h, Some("W/\"a\"")));
        for (header, version, ok) in [
            ("W/\"a\"", "W/\"a\"", true),
            ("\"a\"", "W/\"a\"", true),
            ("W/\"b\", W/\"a\"", "W/\"a\"", true),
            ("*", "W/\"a\"", true),
            ("W/\"b\"", "W/\"a\"", false),
        ] {
            h.insert(IF_MATCH, HeaderValue::from_str(header).unwrap());
            assert_eq!(if_match_ok(&h, Some(version)), ok, "{header}");
        }
    }
}
