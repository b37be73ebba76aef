//! Access management over HTTP (issue 9): `POST /v1/access/import`, `GET /v1/access/export`,
//! `POST /v1/access/check`, `GET /v1/access/users/{id}/rights`, `GET /v1/access/violations`.
//!
//! Thin handlers over [`crate::access`] (the cached model, import, decide-and-record) and
//! `tillit_access` (every rule). The wire types below state the constraints the OpenAPI
//! document shows and convert into the domain's types.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillit_access::{
    AccessError, Amount, CheckRequest, Decision, Document, EffectiveRight, Loa, ScopeKind,
    SodViolation, Timestamp, UserRoleAssignment, UserRoleRestriction,
};
use tillit_store::{AccessRepo, IdempotentResponse, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::access::{self, AccessServiceError, Imported};
use crate::auth::{authorize, Authenticated, Permission, Subject, Target};
use crate::error::{store_error, ApiError, FieldError, Problem};
use crate::idempotency;
use crate::state::AppState;

/// Longest id accepted in a check (user, right, IT system, scope id, object), in characters.
const MAX_ID_CHARS: usize = 256;

/// What a restriction or a check's scope names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKindView {
    Organisation,
    Person,
    ItSystem,
}

impl From<ScopeKindView> for ScopeKind {
    fn from(k: ScopeKindView) -> Self {
        match k {
            ScopeKindView::Organisation => ScopeKind::Organisation,
            ScopeKindView::Person => ScopeKind::Person,
            ScopeKindView::ItSystem => ScopeKind::ItSystem,
        }
    }
}

impl From<ScopeKind> for ScopeKindView {
    fn from(k: ScopeKind) -> Self {
        match k {
            ScopeKind::Organisation => ScopeKindView::Organisation,
            ScopeKind::Person => ScopeKindView::Person,
            ScopeKind::ItSystem => ScopeKindView::ItSystem,
        }
    }
}

/// A login's level of assurance (eIDAS / NSIS).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoaView {
    Low,
    Substantial,
    High,
}

impl From<LoaView> for Loa {
    fn from(l: LoaView) -> Self {
        match l {
            LoaView::Low => Loa::Low,
            LoaView::Substantial => Loa::Substantial,
            LoaView::High => Loa::High,
        }
    }
}

impl From<Loa> for LoaView {
    fn from(l: Loa) -> Self {
        match l {
            Loa::Low => LoaView::Low,
            Loa::Substantial => LoaView::Substantial,
            Loa::High => LoaView::High,
        }
    }
}

/// What a check is about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    pub kind: ScopeKindView,
    /// The organisation's, person's or IT system's id (1-256 characters).
    #[schema(min_length = 1, max_length = 256)]
    pub id: String,
}

/// Body of `POST /v1/access/check`: may `user` exercise `right`? Only `user` and `right` are
/// required. A restricted assignment allows only within its restrictions, so a check without a
/// `scope` is not allowed by it; a missing `loa` satisfies no LoA requirement; a missing `amount`
/// no amount rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// The user acting (1-256 characters).
    #[schema(example = "riget", min_length = 1, max_length = 256)]
    pub user: String,
    /// The right to exercise (1-256 characters).
    #[schema(example = "ordinationsret", min_length = 1, max_length = 256)]
    pub right: String,
    /// The IT system the right is exercised in; when given it must be the right's.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub it_system: Option<String>,
    #[serde(default)]
    pub scope: Option<ScopeBody>,
    /// The amount, for amount ceilings (≥ 0).
    #[schema(value_type = Option<f64>, minimum = 0)]
    #[serde(default)]
    pub amount: Option<Amount>,
    /// When: RFC 3339 (`2025-06-02T10:00:00Z`) or a date (`2025-06-02`, 00:00 UTC); now when
    /// absent.
    #[schema(value_type = Option<String>, example = "2025-06-02T10:00:00Z",
        pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$")]
    #[serde(default)]
    pub at: Option<Timestamp>,
    #[serde(default)]
    pub loa: Option<LoaView>,
    /// The object acted on (a case, an invoice), for per-object separation of duties.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub object: Option<String>,
    /// Record the exercise when allowed, so later checks on `object` see it (without `object`
    /// nothing is recorded, and the reasons say so).
    #[serde(default)]
    pub record: bool,
}

impl CheckBody {
    fn into_request(self) -> Result<CheckRequest, ApiError> {
        let mut errors = Vec::new();
        let mut id = |field: &str, value: Option<&str>| {
            if let Some(v) = value {
                let n = v.chars().count();
                if n == 0 || n > MAX_ID_CHARS {
                    errors.push(FieldError {
                        field: field.into(),
                        message: format!("must be 1 to {MAX_ID_CHARS} characters"),
                    });
                }
            }
        };
        id("user", Some(&self.user));
        id("right", Some(&self.right));
        id("it_system", self.it_system.as_deref());
        id("scope.id", self.scope.as_ref().map(|s| s.id.as_str()));
        id("object", self.object.as_deref());
        if !errors.is_empty() {
            return Err(validation(errors));
        }
        let mut r = CheckRequest::new(self.user, self.right);
        r.it_system = self.it_system;
        r.scope = self.scope.map(|s| tillit_access::Scope {
            kind: s.kind.into(),
            id: s.id,
        });
        r.amount = self.amount;
        r.at = self.at;
        r.loa = self.loa.map(Loa::from);
        r.object = self.object;
        r.record = self.record;
        Ok(r)
    }
}

/// What an assignment (or its restriction) is limited to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RestrictionView {
    pub kind: ScopeKindView,
    pub id: String,
    /// For an organisation: also its sub-organisations.
    pub include_children: bool,
    /// RFC 3339; absent: from the beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; absent: open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
}

impl From<UserRoleRestriction> for RestrictionView {
    fn from(r: UserRoleRestriction) -> Self {
        Self {
            kind: r.kind.into(),
            id: r.id,
            include_children: r.include_children,
            valid_from: r.valid_from.map(|t| t.0),
            valid_to: r.valid_to.map(|t| t.0),
        }
    }
}

/// Which assignment, role and inheritance path allowed a decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViaView {
    pub assignment: String,
    /// The assigned role.
    pub role: String,
    /// Role ids from the assigned role down to the role that holds the right.
    pub path: Vec<String>,
    /// The restriction the scope matched; null for an unrestricted assignment.
    pub restriction: Option<RestrictionView>,
}

/// The answer to a check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionView {
    pub allowed: bool,
    /// Why, in plain English; at least one for every refusal.
    pub reasons: Vec<String>,
    /// What allowed it; null when refused.
    pub via: Option<ViaView>,
    /// Whether the exercise was recorded (`record: true` and allowed).
    pub recorded: bool,
}

impl DecisionView {
    fn new(d: Decision, recorded: bool) -> Self {
        Self {
            allowed: d.allowed,
            reasons: d.reasons,
            via: d.via.map(|v| ViaView {
                assignment: v.assignment,
                role: v.role,
                path: v.path,
                restriction: v.restriction.map(RestrictionView::from),
            }),
            recorded,
        }
    }
}

/// What an import stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportView {
    /// The new version in force (1 for the first import).
    pub version: u64,
    /// The audit actor that imported it.
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    /// SHA-256 of the stored document (the export), hex.
    pub sha256: String,
    /// Entries per section.
    #[schema(value_type = Object)]
    pub counts: serde_json::Map<String, serde_json::Value>,
}

impl From<&Imported> for ImportView {
    fn from(i: &Imported) -> Self {
        Self {
            version: i.version.version,
            imported_by: i.version.imported_by.clone(),
            imported_at: i.version.imported_at,
            sha256: i.sha256.clone(),
            counts: i
                .counts
                .iter()
                .map(|(s, n)| ((*s).to_owned(), serde_json::json!(n)))
                .collect(),
        }
    }
}

/// One way a user has a right.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub assignment: String,
    pub role: String,
    pub path: Vec<String>,
    /// Where it applies; empty: everywhere.
    pub restrictions: Vec<RestrictionView>,
}

/// One right a user has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectiveRightView {
    pub right: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub it_system: String,
    /// The login level it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_loa: Option<LoaView>,
    /// Rules valid for it (a decision may still refuse by them).
    pub rules: Vec<String>,
    pub grants: Vec<GrantView>,
}

impl From<EffectiveRight> for EffectiveRightView {
    fn from(e: EffectiveRight) -> Self {
        Self {
            right: e.right,
            name: e.name,
            it_system: e.it_system,
            required_loa: e.required_loa.map(LoaView::from),
            rules: e.rules,
            grants: e
                .grants
                .into_iter()
                .map(|g| GrantView {
                    assignment: g.assignment,
                    role: g.role,
                    path: g.path,
                    restrictions: g.restrictions.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

/// A user's effective rights at a time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RightsView {
    pub user: String,
    pub at: DateTime<Utc>,
    pub rights: Vec<EffectiveRightView>,
}

/// Query of `GET /v1/access/users/{id}/rights`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RightsParams {
    /// When: RFC 3339 or a date; now when absent.
    #[param(
        value_type = Option<String>,
        example = "2025-06-02T10:00:00Z",
        pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$"
    )]
    pub at: Option<String>,
}

/// A user who holds two rights a static separation-of-duties rule keeps apart.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViolationView {
    pub rule: String,
    pub user: String,
    pub rights: Vec<String>,
    /// The assignments granting them.
    pub assignments: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<DateTime<Utc>>,
    /// The violation in plain English.
    pub description: String,
}

impl From<SodViolation> for ViolationView {
    fn from(v: SodViolation) -> Self {
        Self {
            description: v.describe(),
            rule: v.rule,
            user: v.user,
            rights: v.rights.to_vec(),
            assignments: v.assignments.to_vec(),
            valid_from: v.valid_from.map(|t| t.0),
            valid_to: v.valid_to.map(|t| t.0),
        }
    }
}

/// The current static separation-of-duties violations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViolationsView {
    /// The version of the document in force.
    pub version: u64,
    pub violations: Vec<ViolationView>,
}

fn validation(errors: Vec<FieldError>) -> ApiError {
    ApiError::Validation {
        detail: format!(
            "invalid field(s): {}",
            errors
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        errors,
    }
}

/// The one mapping from the service's errors to problems: a refused document is a 422 naming
/// every offending entry (`section[id]`).
pub(crate) fn service_error(err: AccessServiceError) -> ApiError {
    match err {
        AccessServiceError::NoDocument => ApiError::NotFound(err.to_string()),
        AccessServiceError::Document(AccessError::Invalid(problems)) => ApiError::Validation {
            detail: AccessError::Invalid(problems.clone()).to_string(),
            errors: problems
                .into_iter()
                .map(|p| FieldError {
                    field: format!("{}[{}]", p.section.as_str(), p.id),
                    message: p.message,
                })
                .collect(),
        },
        AccessServiceError::Document(e) => ApiError::Validation {
            detail: e.to_string(),
            errors: vec![FieldError {
                field: "body".into(),
                message: e.to_string(),
            }],
        },
        AccessServiceError::Store(e) => store_error(e),
        AccessServiceError::UnknownUser(_) => ApiError::field("user", err.to_string()),
        AccessServiceError::Refused(m) => ApiError::Forbidden(m),
        AccessServiceError::Exists(m) => ApiError::Conflict(m),
        AccessServiceError::Missing(m) => ApiError::NotFound(m),
        AccessServiceError::Contended(m) => ApiError::Unavailable(m),
        e @ (AccessServiceError::Stored { .. } | AccessServiceError::Interrupted(_)) => {
            ApiError::Internal(e.to_string())
        }
    }
}

/// How the import body is written, from its `Content-Type`.
enum Syntax {
    Json,
    Yaml,
}

fn syntax(headers: &HeaderMap) -> Result<Syntax, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Syntax::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(Syntax::Yaml),
        _ => Err(ApiError::UnsupportedMediaType(
            "send the access document with `Content-Type: application/json` or `application/yaml`"
                .into(),
        )),
    }
}

const PROBLEM: &str = "application/problem+json";

/// A JSON object body, as axum's `Json` reads it (415 without a JSON content type, 400 for bad
/// syntax, 422 for the wrong shape), except that a JSON array is refused too: serde's derived
/// `Deserialize` would read `["u", "r"]` as the struct's fields in order.
fn json_object<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if !matches!(syntax(headers), Ok(Syntax::Json)) {
        return Err(ApiError::UnsupportedMediaType(
            "expected request with `Content-Type: application/json`".into(),
        ));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Err(ApiError::Validation {
            detail: "the body must be a JSON object".into(),
            errors: vec![FieldError {
                field: "body".into(),
                message: "must be a JSON object".into(),
            }],
        });
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Validation {
            detail: format!("the body does not match the expected shape: {e}"),
            errors: Vec::new(),
        },
        _ => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
    })
}

/// Import an access document: the new version in force.
///
/// JSON or YAML with the top-level arrays `classifications`, `it_systems`, `rights`, `rules`,
/// `roles`, `organisations`, `persons`, `users`, `assignments`, `attestations`, `assign_rights`
/// (JSON Schema: `crates/access/schema/access-document.schema.json`). All or nothing: a cycle, a
/// dangling reference or a static separation-of-duties violation refuses the whole document with
/// a 422 whose `errors` name every offending entry as `section[id]`; nothing changes then. With
/// an `Idempotency-Key` header, a retry gets the first response (with `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/v1/access/import", tag = "access",
    request_body(description = "The access document", content(
        (Object = "application/json"),
        (Object = "application/yaml"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^(\"[!#-~]{1,255}\"|[!#-~]{1,255})$",
        description = "1-255 visible ASCII characters, e.g. a UUID; a retry with the same key and document gets the first response again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Imported as a new version (or, with Idempotent-Replayed: true, the first response to this key)", body = ImportView),
        (status = 400, description = "The body is not UTF-8, or a malformed Idempotency-Key", body = Problem, content_type = PROBLEM),
        (status = 415, description = "The body is neither `application/json` nor `application/yaml`", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The document is unreadable or refused (`errors` name every offending entry as `section[id]`), or an Idempotency-Key already used for another request", body = Problem, content_type = PROBLEM),
    ))]
pub async fn import(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let syntax = syntax(&headers)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the access document is not UTF-8".into()))?;
    let document = match syntax {
        Syntax::Json => Document::from_json(text),
        Syntax::Yaml => Document::from_yaml(text),
    }
    .map_err(|e| service_error(e.into()))?;
    let actor = principal.actor();
    // The parsed document: the same document in JSON or YAML is the same request.
    let claim = match idempotency::begin(
        &state,
        &headers,
        &actor,
        "POST",
        "/v1/access/import",
        &document,
    )
    .await?
    {
        idempotency::Begin::Replay(first) => return Ok(first),
        idempotency::Begin::Proceed(claim) => claim,
    };
    let (document, model) = access::compile(document).await.map_err(service_error)?;
    let at = Utc::now();
    let remember = |imported: &Imported| -> Result<Option<IdempotentResponse>, String> {
        let Some(claim) = &claim else {
            return Ok(None);
        };
        let body = serde_json::to_string(&ImportView::from(imported))
            .map_err(|e| format!("serialise import: {e}"))?;
        Ok(Some(claim.remember(
            StatusCode::CREATED,
            None,
            body,
            imported.version.imported_at,
        )))
    };
    let result = access::import(
        &state.store,
        Some(&state.access),
        &document,
        model,
        &actor,
        at,
        &remember,
    )
    .await;
    let imported = match result {
        Ok(i) => i,
        // A concurrent request with the same key got there first: answer as it did.
        Err(AccessServiceError::Store(err @ StoreError::Conflict { .. })) => {
            return idempotency::after_store_error(&state, claim.as_ref(), err).await;
        }
        Err(e) => return Err(service_error(e)),
    };
    state.audit_written.notify_one();
    Ok((StatusCode::CREATED, Json(ImportView::from(&imported))).into_response())
}

/// Export the access document in force (JSON, the import format).
#[utoipa::path(get, path = "/v1/access/export", tag = "access",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The document in force; importing it again gives the same model", body = Object),
        (status = 404, description = "No document has been imported yet", body = Problem, content_type = PROBLEM),
    ))]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ReadAccess,
        Target::Installation,
    )
    .await?;
    let stored = state
        .store
        .latest_access_document()
        .await
        .map_err(store_error)?
        .ok_or_else(|| service_error(AccessServiceError::NoDocument))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        stored.document,
    )
        .into_response())
}

/// Decide: may a user exercise a right (in an IT system, on a scope, for an amount, at a time,
/// with a login level, on an object)?
///
/// A refusal is a 200 with `allowed: false` and its reasons. With `record: true` and an
/// `object`, an allowed exercise is recorded (with an audit entry), so later checks of a right a
/// per-object separation-of-duties rule keeps apart from it are refused for the same object.
#[utoipa::path(post, path = "/v1/access/check", tag = "access",
    request_body = CheckBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision, with its reasons", body = DecisionView),
        (status = 404, description = "No access document has been imported yet", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid field(s)", body = Problem, content_type = PROBLEM),
    ))]
pub async fn check(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<DecisionView>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::CheckAccess,
        Target::Installation,
    )
    .await?;
    let request = json_object::<CheckBody>(&headers, &body)?.into_request()?;
    let loaded = state
        .access
        .model(&state.store)
        .await
        .map_err(service_error)?;
    let (decision, recorded) = access::decide(
        &state.store,
        &loaded,
        &request,
        &principal.actor(),
        Utc::now(),
    )
    .await
    .map_err(service_error)?;
    if recorded {
        state.audit_written.notify_one();
    }
    Ok(Json(DecisionView::new(decision, recorded)))
}

/// A user's effective rights at a time, with their restrictions.
#[utoipa::path(get, path = "/v1/access/users/{id}/rights", tag = "access",
    params(("id" = String, Path, description = "The user's id in the access document"), RightsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The rights, by right id", body = RightsView),
        (status = 404, description = "No such user, or no document imported yet", body = Problem, content_type = PROBLEM),
        (status = 422, description = "`at` is not a time", body = Problem, content_type = PROBLEM),
    ))]
pub async fn user_rights(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(user): Path<String>,
    Query(params): Query<RightsParams>,
) -> Result<Json<RightsView>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ReadAccess,
        Target::Installation,
    )
    .await?;
    let at = match params.at.as_deref() {
        Some(text) => {
            text.parse::<Timestamp>()
                .map_err(|e| ApiError::field("at", e.to_string()))?
                .0
        }
        None => Utc::now(),
    };
    let loaded = state
        .access
        .model(&state.store)
        .await
        .map_err(service_error)?;
    let rights = loaded
        .model
        .effective_rights(&user, at)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    Ok(Json(RightsView {
        user,
        at,
        rights: rights.into_iter().map(Into::into).collect(),
    }))
}

/// The current static separation-of-duties violations of the document in force.
#[utoipa::path(get, path = "/v1/access/violations", tag = "access",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The violations (empty when none)", body = ViolationsView),
        (status = 404, description = "No document has been imported yet", body = Problem, content_type = PROBLEM),
    ))]
pub async fn violations(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<ViolationsView>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ReadAccess,
        Target::Installation,
    )
    .await?;
    let loaded = state
        .access
        .model(&state.store)
        .await
        .map_err(service_error)?;
    Ok(Json(ViolationsView {
        version: loaded.version,
        violations: loaded
            .model
            .sod_violations()
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Single assignments (delegated administration)

/// What an assignment change stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentChanged {
    /// The access document's new version.
    pub version: u64,
    /// The assignment.
    pub assignment: String,
    /// Which assign right allowed each role (empty for an administrator token).
    pub reasons: Vec<String>,
}

/// Give a user roles (brugerrolletildeling).
///
/// The body is one entry of the document's `assignments`. A user's token may assign only what
/// the model's assign rights allow that user (`assigned_by` is set to the caller, and the check
/// of the seed's delegated administration applies: another user, valid, holding an assign right
/// for each role whose restrictions cover the assignment's); an administrator token may assign
/// anything (with the body's `assigned_by`, if any). Static separation of duties is checked.
/// Stored as a new version of the access document. Needs `access.assign`.
#[utoipa::path(post, path = "/v1/access/assignments", tag = "access",
    request_body(content = Object, description = "A UserRoleAssignment: {id, user, roles, restrictions, attestation, valid_from, valid_to}"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = AssignmentChanged),
        (status = 403, description = "The caller may not assign these roles there (the reasons say why)", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No access document has been imported", body = Problem, content_type = PROBLEM),
        (status = 409, description = "An assignment with this id exists", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A bad assignment (unknown user or role, a separation-of-duties conflict, …)", body = Problem, content_type = PROBLEM),
    ))]
pub async fn assign(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::AssignAccess,
        Target::Installation,
    )
    .await?;
    let mut proposal: UserRoleAssignment = json_object(&headers, &body)?;
    let caller = match &principal.subject {
        Subject::User(user) => {
            if proposal.assigned_by.as_deref().is_some_and(|a| a != user) {
                return Err(ApiError::field(
                    "assigned_by",
                    "a user's token assigns as that user; leave assigned_by out",
                ));
            }
            proposal.assigned_by = Some(user.clone());
            Some(user.clone())
        }
        Subject::Administrator => None,
    };
    let now = Utc::now();
    let id = proposal.id.clone();
    let changed = access::modify(
        &state.store,
        &state.access,
        &principal.actor(),
        "access.assign",
        &id,
        now,
        |document, model| {
            if document.assignments.iter().any(|a| a.id == proposal.id) {
                return Err(AccessServiceError::Exists(format!(
                    "assignment {} exists already",
                    proposal.id
                )));
            }
            let reasons = match &caller {
                None => Vec::new(),
                Some(_) => {
                    let check = model.check_assignment(&proposal, now);
                    if !check.allowed {
                        return Err(AccessServiceError::Refused(check.reasons.join("; ")));
                    }
                    check.reasons
                }
            };
            document.assignments.push(proposal.clone());
            Ok(reasons)
        },
    )
    .await
    .map_err(service_error)?;
    state.audit_written.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(AssignmentChanged {
            version: changed.version,
            assignment: id,
            reasons: changed.value,
        }),
    )
        .into_response())
}

/// Body of `POST /v1/access/assignments/{id}/end`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndAssignment {
    /// When it ends (RFC 3339); now when absent. An assignment that has not begun by then is
    /// removed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// End a role assignment.
///
/// A user's token may end only an assignment it could have made now (the same delegated
/// administration check); an administrator token any. Needs `access.assign`.
#[utoipa::path(post, path = "/v1/access/assignments/{id}/end", tag = "access",
    params(("id" = String, Path, description = "The assignment's id")),
    request_body = EndAssignment,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Ended", body = AssignmentChanged),
        (status = 403, description = "The caller may not end it", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such assignment, or no document", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A body that is not {\"at\"}, or an end the document refuses", body = Problem, content_type = PROBLEM),
    ))]
pub async fn end_assignment(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AssignmentChanged>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::AssignAccess,
        Target::Installation,
    )
    .await?;
    let end: EndAssignment = if body.is_empty() {
        EndAssignment::default()
    } else {
        json_object(&headers, &body)?
    };
    let now = Utc::now();
    let at = end.at.unwrap_or(Timestamp(now));
    let caller = match &principal.subject {
        Subject::User(user) => Some(user.clone()),
        Subject::Administrator => None,
    };
    let changed = access::modify(
        &state.store,
        &state.access,
        &principal.actor(),
        "access.unassign",
        &id,
        now,
        |document, model| {
            let Some(index) = document.assignments.iter().position(|a| a.id == id) else {
                return Err(AccessServiceError::Missing(format!("no assignment {id}")));
            };
            let mut reasons = Vec::new();
            if let (Some(user), Some(existing)) = (&caller, document.assignments.get(index)) {
                let as_if = UserRoleAssignment {
                    id: format!("{}#end", existing.id),
                    assigned_by: Some(user.clone()),
                    ..existing.clone()
                };
                let check = model.check_assignment(&as_if, now);
                if !check.allowed {
                    return Err(AccessServiceError::Refused(check.reasons.join("; ")));
                }
                reasons = check.reasons;
            }
            let begun = document
                .assignments
                .get(index)
                .and_then(|a| a.valid_from)
                .is_none_or(|from| from.0 < at.0);
            if begun {
                if let Some(a) = document.assignments.get_mut(index) {
                    a.valid_to = Some(
                        a.valid_to
                            .map_or(at, |to| if to.0 < at.0 { to } else { at }),
                    );
                }
            } else {
                document.assignments.remove(index);
            }
            Ok(reasons)
        },
    )
    .await
    .map_err(service_error)?;
    state.audit_written.notify_one();
    Ok(Json(AssignmentChanged {
        version: changed.version,
        assignment: id,
        reasons: changed.value,
    }))
}

/// 422 on `user` unless the access model in force has that user (for tokens, clients and
/// accounts, which each act as one).
pub(crate) async fn require_model_user(state: &AppState, user: &str) -> Result<(), ApiError> {
    let known = match state.access.model(&state.store).await {
        Ok(loaded) => loaded.model.has_user(user),
        Err(AccessServiceError::NoDocument) => false,
        Err(e) => return Err(service_error(e)),
    };
    if known {
        Ok(())
    } else {
        Err(ApiError::field(
            "user",
            format!("user {user:?} is not in the access model in force; import it first"),
        ))
    }
}
