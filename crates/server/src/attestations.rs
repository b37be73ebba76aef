//! The attestation service over HTTP: attestation types, issuance (SD-JWT VC and `TL1:` QR),
//! the register, revocation/suspension, published Token Status Lists, issuer metadata and online
//! verification. The rules are in `tillit_credential::service`; the formats in
//! `tillit_credential`; this module parses, authorizes, calls them and persists.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use tillit_credential::qr::{self, Attestation};
use tillit_credential::report::{VerificationReport, VerifyOptions};
use tillit_credential::sdjwt::{self, IssueOptions, VcInput};
use tillit_credential::service::{AttestationStatus, IssueFormat, StatusChange, TypeDefinition};
use tillit_credential::status_list::{StatusList, StatusListToken, StatusReference};
use tillit_credential::trust::TrustStore;
use tillit_credential::verify::verify;
use tillit_crypto::{Jwk, SigningKey};
use tillit_store::{
    AttestationRecord, AttestationRepo, AttestationTypeRecord, NewAttestation, NewAttestationType,
    OrgRepo, Scope, Signed, StatusListRecord, StatusUpdate, StoreError,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{store_error, ApiError, FieldError, Problem};
use crate::idempotency;
use crate::paging::ListParams;
use crate::state::AppState;

/// Purpose of an organisation's attestation-signing key.
pub const ISSUER_KEY_PURPOSE: &str = "issuer";
/// Seconds a verifier may cache a status list (the `ttl` claim).
const STATUS_LIST_TTL: u64 = 300;
/// How long a served status list token is valid.
pub(crate) const STATUS_LIST_VALIDITY_HOURS: i64 = 24;
/// The media type of status lists in CWT form.
const STATUSLIST_CWT: &str = "application/statuslist+cwt";
const STATUSLIST_JWT: &str = "application/statuslist+jwt";

/// The issuer id of an organisation on this node (also the JWT VC issuer metadata path).
pub fn issuer_id(base: &str, org: OrgId) -> String {
    format!("{base}/orgs/{org}")
}

pub(crate) fn status_list_uri(base: &str, id: Uuid) -> String {
    format!("{base}/statuslists/{id}")
}

fn problems(detail: &str, list: Vec<tillit_credential::service::FieldProblem>) -> ApiError {
    ApiError::Validation {
        detail: format!(
            "{detail}: {}",
            list.iter()
                .map(|p| p.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        errors: list
            .into_iter()
            .map(|p| FieldError {
                field: p.field,
                message: p.message,
            })
            .collect(),
    }
}

fn parse_org(org: &str) -> Result<OrgId, ApiError> {
    org.parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))
}

/// The organisation in the path, which must exist.
async fn existing_org(state: &AppState, id: OrgId) -> Result<(), ApiError> {
    state
        .store
        .get_org(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {id} not found")))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Types

/// The latest version of the type `slug` of `org`; 404 when there is none.
async fn latest_type(
    state: &AppState,
    org: OrgId,
    slug: &str,
) -> Result<AttestationTypeRecord, ApiError> {
    state
        .store
        .latest_attestation_type(org, slug)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("type {slug} not found")))
}

/// Body of `POST /v1/orgs/{org}/types`: a new type, or the next version of an existing one.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateType {
    /// The type's name in URLs: 1-64 of a-z, 0-9 and -, starting with a letter.
    #[schema(example = "parking-permit", pattern = "^[a-z][a-z0-9-]{0,63}$")]
    pub slug: String,
    /// The definition: display names, claims schema, disclosable claims, validity, formats,
    /// card fields, information classification.
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// A version of an attestation type.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypeView {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub version: u64,
    /// The SD-JWT VC `vct`; its type metadata is served at this URL.
    pub vct: String,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_at: DateTime<Utc>,
}

impl From<AttestationTypeRecord> for TypeView {
    fn from(t: AttestationTypeRecord) -> Self {
        Self {
            id: t.id.to_string(),
            org_id: t.org_id.to_string(),
            slug: t.slug,
            version: t.version,
            vct: t.vct,
            definition: t.definition,
            created_at: t.created_at,
        }
    }
}

/// Define an attestation type, or a new version of one (a version never changes what was
/// issued under an earlier one).
#[utoipa::path(post, path = "/v1/orgs/{org}/types", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = CreateType,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The stored version", body = TypeView),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid slug or definition (every wrong field is named)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_type(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Json(body): Json<CreateType>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ManageTypes,
        Target::Org(org),
    )
    .await?;
    existing_org(&state, org).await?;
    tillit_credential::service::check_slug(&body.slug)
        .map_err(|p| problems("invalid slug", vec![p]))?;
    let definition: TypeDefinition = serde_json::from_value(body.definition.clone())
        .map_err(|e| ApiError::field("definition", e.to_string()))?;
    definition
        .check()
        .map_err(|p| problems("invalid type definition", p))?;
    let base = state.config.base_url();
    let vct = format!("{base}/vct/{org}/{}", body.slug);
    let id = Uuid::now_v7();
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: Some(org.to_string()),
        action: "attestation_type.create".into(),
        object_id: Some(id.to_string()),
        details: json!({ "slug": body.slug }),
    };
    let record = state
        .store
        .create_attestation_type(
            NewAttestationType {
                id,
                org_id: org,
                slug: body.slug,
                vct,
                definition: serde_json::to_value(&definition)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            audit,
            Utc::now(),
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let location = format!("/v1/orgs/{org}/types/{}", record.slug);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(TypeView::from(record)),
    )
        .into_response())
}

/// The types of an organisation (latest version of each).
#[utoipa::path(get, path = "/v1/orgs/{org}/types", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The types", body = [TypeView]),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_types(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<Vec<TypeView>>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    existing_org(&state, org).await?;
    let types = state
        .store
        .list_attestation_types(org)
        .await
        .map_err(store_error)?;
    Ok(Json(types.into_iter().map(TypeView::from).collect()))
}

/// The latest version of one type.
#[utoipa::path(get, path = "/v1/orgs/{org}/types/{slug}", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("slug" = String, Path, description = "The type's slug")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The type", body = TypeView),
        (status = 404, description = "No such organisation or type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_type(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, slug)): Path<(String, String)>,
) -> Result<Json<TypeView>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    let record = latest_type(&state, org, &slug).await?;
    Ok(Json(record.into()))
}

/// SD-JWT VC type metadata, served at the type's `vct` URL (public).
#[utoipa::path(get, path = "/vct/{org}/{slug}", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("slug" = String, Path, description = "The type's slug")),
    responses(
        (status = 200, description = "Type metadata (SD-JWT VC §6)", body = Object),
        (status = 404, description = "No such type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn type_metadata(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let org = parse_org(&org)?;
    let record = latest_type(&state, org, &slug).await?;
    let def: TypeDefinition = serde_json::from_value(record.definition.clone())
        .map_err(|e| ApiError::Internal(format!("stored type definition: {e}")))?;
    let d = &def.display;
    let display: Vec<Value> = [("sv", &d.sv), ("da", &d.da), ("nb", &d.nb), ("en", &d.en)]
        .into_iter()
        .filter_map(|(lang, name)| name.as_ref().map(|n| json!({"lang": lang, "name": n})))
        .collect();
    Ok(Json(json!({
        "vct": record.vct,
        "name": def.display_name("en"),
        "display": display,
        "schema": def.claims_schema,
    })))
}

// ---------------------------------------------------------------------------------------------
// Issuance and the register

/// Body of `POST /v1/orgs/{org}/attestations`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The slug of the type (its latest version is used).
    #[serde(rename = "type")]
    #[schema(example = "parking-permit")]
    pub type_slug: String,
    /// The attestation's claims, checked against the type's schema.
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
    /// The holder's public JWK, bound into the SD-JWT VC's `cnf` (wallets send one).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub holder_jwk: Option<Value>,
    /// Start of validity (default now).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity (default valid_from + the type's default validity).
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
}

/// A status reference: entry `idx` of the list at `uri`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusRef {
    pub idx: u64,
    pub uri: String,
}

/// An issued attestation: the register entry and the credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedView {
    pub id: String,
    /// The type's slug and version issued under.
    #[serde(rename = "type")]
    pub type_slug: String,
    pub type_version: u64,
    pub issuer: String,
    pub status: StatusRef,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    /// The SD-JWT VC (issuance form), when the type issues that format.
    pub sd_jwt_vc: Option<String>,
    /// The `TL1:` QR text, when the type issues that format.
    pub qr: Option<String>,
}

/// A register entry (no claims are kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterView {
    pub id: String,
    pub type_id: String,
    /// `valid`, `suspended` or `revoked`.
    pub status: String,
    pub status_list: StatusRef,
    pub issued_by: String,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn register_view(base: &str, a: AttestationRecord) -> RegisterView {
    RegisterView {
        id: a.id.to_string(),
        type_id: a.type_id.to_string(),
        status: a.status,
        status_list: StatusRef {
            idx: a.status_idx,
            uri: status_list_uri(base, a.status_list_id),
        },
        issued_by: a.issued_by,
        valid_from: a.valid_from,
        valid_to: a.valid_to,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// One page of the register.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterPage {
    pub items: Vec<RegisterView>,
    pub next_cursor: Option<String>,
}

/// What every attestation issued under one type version by one organisation shares: the
/// signing key, the issuer id and the type. Shared by single issuance and batch issuance.
#[derive(Clone)]
pub(crate) struct Issuer {
    pub(crate) key: SigningKey,
    pub(crate) issuer: String,
    pub(crate) base: String,
    pub(crate) record: AttestationTypeRecord,
    pub(crate) definition: TypeDefinition,
}

/// One attestation's own part: checked by [`check_request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Checked {
    pub(crate) claims: Map<String, Value>,
    pub(crate) holder: Option<Jwk>,
    pub(crate) valid_from: DateTime<Utc>,
    pub(crate) valid_to: DateTime<Utc>,
}

/// The stored type definition of `record`.
pub(crate) fn definition_of(record: &AttestationTypeRecord) -> Result<TypeDefinition, ApiError> {
    serde_json::from_value(record.definition.clone())
        .map_err(|e| ApiError::Internal(format!("stored type definition: {e}")))
}

/// Checks one issuance request against the type: the claims against its schema (each wrong
/// field named), the holder key, the validity (default: from `now`, for the type's default
/// validity).
pub(crate) fn check_request(
    definition: &TypeDefinition,
    claims: Map<String, Value>,
    holder_jwk: Option<Value>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Checked, ApiError> {
    definition
        .check_claims(&claims)
        .map_err(|p| problems("the claims do not fit the type", p))?;
    let holder = holder_jwk
        .map(|v| {
            serde_json::from_value::<Jwk>(v)
                .map_err(|e| ApiError::field("holder_jwk", format!("not a JWK: {e}")))
        })
        .transpose()?;
    let valid_from = valid_from.unwrap_or(now);
    let valid_to = valid_to.unwrap_or_else(|| {
        valid_from + Duration::days(i64::from(definition.default_validity_days))
    });
    if valid_to <= valid_from || valid_to <= now {
        return Err(ApiError::field(
            "valid_to",
            "must be after valid_from and in the future",
        ));
    }
    Ok(Checked {
        claims,
        holder,
        valid_from,
        valid_to,
    })
}

impl Issuer {
    /// The issuer of `org`'s attestations of type `record`, with its issuer key (made on first
    /// use).
    pub(crate) async fn load(
        state: &AppState,
        org: OrgId,
        record: AttestationTypeRecord,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let definition = definition_of(&record)?;
        let key = state
            .keys
            .ensure(Scope::Org(org), ISSUER_KEY_PURPOSE, actor, now)
            .await
            .map_err(crate::error::key_error)?;
        let base = state.config.base_url();
        Ok(Self {
            key,
            issuer: issuer_id(&base, org),
            base,
            record,
            definition,
        })
    }

    /// Signs the formats of the type for attestation `id` at status entry `idx` of `list`.
    pub(crate) fn sign(
        &self,
        id: Uuid,
        row: &Checked,
        now: DateTime<Utc>,
        idx: u64,
        list: Uuid,
    ) -> Result<IssuedView, String> {
        let status = StatusReference {
            idx,
            uri: status_list_uri(&self.base, list),
        };
        let formats = &self.definition.formats;
        let sd_jwt_vc = if formats.contains(&IssueFormat::SdJwtVc) {
            let input = VcInput {
                vct: self.record.vct.clone(),
                iss: self.issuer.clone(),
                iat: now,
                nbf: Some(row.valid_from),
                exp: Some(row.valid_to),
                sub: None,
                holder_key: row.holder.clone(),
                status: Some(status.clone()),
                claims: row.claims.clone(),
            };
            let paths = self
                .definition
                .disclosable_paths_in(&row.claims)
                .map_err(|e| e.to_string())?;
            let opts = IssueOptions {
                typ: Some("dc+sd-jwt".into()),
                kid: Some(self.key.kid()),
                ..IssueOptions::default()
            };
            Some(
                sdjwt::issue_vc(&input, &paths, &self.key, &opts)
                    .map_err(|e| e.to_string())?
                    .sd_jwt,
            )
        } else {
            None
        };
        let qr = if formats.contains(&IssueFormat::Qr) {
            let attestation = Attestation {
                issuer: self.issuer.clone(),
                subject: None,
                attestation_type: self.record.vct.clone(),
                claims: row.claims.clone(),
                status: Some(status.clone()),
            };
            // The QR's validity starts at issuance (nbf = iat) and ends with the attestation's.
            let validity = row.valid_to - now;
            Some(qr::issue_qr(&attestation, &self.key, now, validity).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(IssuedView {
            id: id.to_string(),
            type_slug: self.record.slug.clone(),
            type_version: self.record.version,
            issuer: self.issuer.clone(),
            status: StatusRef {
                idx: status.idx,
                uri: status.uri,
            },
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            sd_jwt_vc,
            qr,
        })
    }
}

/// Issue an attestation: the claims are checked against the type's schema, a random entry of a
/// status list is allocated, the SD-JWT VC and the QR are signed with the organisation's issuer
/// key, and the register entry and its audit entry are written — all or nothing.
#[utoipa::path(post, path = "/v1/orgs/{org}/attestations", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^(\"[!#-~]{1,255}\"|[!#-~]{1,255})$",
            description = "A retry with the same key and body gets the first response (the same credentials) again")),
    request_body = IssueRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Issued", body = IssuedView),
        (status = 404, description = "No such organisation or type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Claims that do not fit the type's schema (each named), a bad validity or holder key, or an Idempotency-Key used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    headers: HeaderMap,
    Json(body): Json<IssueRequest>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::IssueAttestation,
        Target::Org(org),
    )
    .await?;
    existing_org(&state, org).await?;
    let actor = principal.actor();
    let path = format!("/v1/orgs/{org}/attestations");
    let claim = match idempotency::begin(&state, &headers, &actor, "POST", &path, &body).await? {
        idempotency::Begin::Replay(first) => return Ok(first),
        idempotency::Begin::Proceed(claim) => claim,
    };
    let record = latest_type(&state, org, &body.type_slug).await?;
    let now = tillit_store::micros(Utc::now());
    let definition = definition_of(&record)?;
    let row = check_request(
        &definition,
        body.claims,
        body.holder_jwk,
        body.valid_from,
        body.valid_to,
        now,
    )?;
    let (valid_from, valid_to) = (row.valid_from, row.valid_to);
    let issuer = Issuer::load(&state, org, record.clone(), &actor, now).await?;
    let id = Uuid::now_v7();
    let type_slug = record.slug.clone();
    let audit_actor = actor.clone();
    let location = format!("{path}/{id}");
    let remember_location = location.clone();
    let winner_claim = claim.clone();
    let issued = state
        .store
        .issue_attestation(
            NewAttestation {
                id,
                org_id: org,
                type_id: record.id,
                subject_ref: None,
                issued_by: actor.clone(),
                valid_from,
                valid_to,
                signing_kid: Some(issuer.key.kid()),
            },
            now,
            move |slot| {
                let view = issuer
                    .sign(id, &row, now, slot.idx, slot.list_id)
                    .map_err(|e| StoreError::Invalid(format!("cannot issue these claims: {e}")))?;
                let audit = AuditEvent {
                    actor: audit_actor.clone(),
                    org_id: Some(org.to_string()),
                    action: "attestation.issue".into(),
                    object_id: Some(id.to_string()),
                    details: json!({
                        "type": type_slug,
                        "status_list": slot.list_id.to_string(),
                        "idx": slot.idx,
                    }),
                };
                let remember = match &winner_claim {
                    Some(c) => Some(
                        c.remember(
                            StatusCode::CREATED,
                            Some(remember_location),
                            serde_json::to_string(&view)
                                .map_err(|e| StoreError::Rejected(e.to_string()))?,
                            now,
                        ),
                    ),
                    None => None,
                };
                Ok(Signed {
                    value: view,
                    audit,
                    remember,
                })
            },
        )
        .await;
    let view = match issued {
        Ok((_, view)) => view,
        // A concurrent retry with the same key issued first: answer with its credentials.
        Err(err) => return idempotency::after_store_error(&state, claim.as_ref(), err).await,
    };
    state.audit_written.notify_one();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// The register of an organisation, oldest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/attestations", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = RegisterPage),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_register(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<RegisterPage>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    existing_org(&state, org).await?;
    let page = state
        .store
        .list_attestations(org, &params.page_request()?)
        .await
        .map_err(store_error)?;
    let base = state.config.base_url();
    Ok(Json(RegisterPage {
        items: page
            .items
            .into_iter()
            .map(|a| register_view(&base, a))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One register entry.
#[utoipa::path(get, path = "/v1/orgs/{org}/attestations/{id}", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Attestation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The entry", body = RegisterView),
        (status = 404, description = "No such attestation in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_register(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<Json<RegisterView>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::ReadAttestations,
        Target::Org(org),
    )
    .await?;
    let id = Uuid::try_parse(&id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let record = state
        .store
        .get_attestation(org, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("attestation {id} not found")))?;
    Ok(Json(register_view(&state.config.base_url(), record)))
}

/// Body of a status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    /// `revoke` (final), `suspend` or `reinstate`.
    #[schema(value_type = String, pattern = "^(revoke|suspend|reinstate)$")]
    pub change: StatusChange,
    /// Why (recorded in the audit log), 1-500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Revoke, suspend or reinstate an attestation, with a reason; the organisation's status list
/// shows it on the next fetch.
#[utoipa::path(post, path = "/v1/orgs/{org}/attestations/{id}/status", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Attestation id")),
    request_body = ChangeStatus,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The entry after the change", body = RegisterView),
        (status = 404, description = "No such attestation in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current status (a revoked attestation stays revoked)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID, or the reason is empty or too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_status(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Json(body): Json<ChangeStatus>,
) -> Result<Json<RegisterView>, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::RevokeAttestation,
        Target::Org(org),
    )
    .await?;
    let id = Uuid::try_parse(&id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::field(
            "reason",
            "give a reason of 1-500 characters",
        ));
    }
    let actor = principal.actor();
    let change = body.change;
    let record = state
        .store
        .change_attestation_status(org, id, Utc::now(), move |current| {
            let from = AttestationStatus::parse(&current.status).ok_or_else(|| {
                StoreError::Rejected(format!("stored status {:?}", current.status))
            })?;
            let to = from.apply(change).map_err(StoreError::Refused)?;
            Ok(StatusUpdate {
                status: to.as_str().into(),
                list_value: to.list_value(),
                audit: AuditEvent {
                    actor,
                    org_id: Some(org.to_string()),
                    action: format!("attestation.{}", change_name(change)),
                    object_id: Some(id.to_string()),
                    details: json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
                },
            })
        })
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    Ok(Json(register_view(&state.config.base_url(), record)))
}

fn change_name(change: StatusChange) -> &'static str {
    match change {
        StatusChange::Revoke => "revoke",
        StatusChange::Suspend => "suspend",
        StatusChange::Reinstate => "reinstate",
    }
}

// ---------------------------------------------------------------------------------------------
// Publication: status lists, issuer metadata

/// A Token Status List, signed on each fetch by the owning organisation's issuer key:
/// `statuslist+jwt` by default, `statuslist+cwt` on `Accept: application/statuslist+cwt`. A
/// change is visible on the next fetch; `ETag` lets a verifier revalidate cheaply.
#[utoipa::path(get, path = "/statuslists/{id}", tag = "attestations",
    params(("id" = uuid::Uuid, Path, description = "Status list id")),
    responses(
        (status = 200, description = "The signed status list (application/statuslist+jwt or application/statuslist+cwt)", body = String, content_type = "application/statuslist+jwt"),
        (status = 304, description = "Not changed since the ETag in If-None-Match"),
        (status = 404, description = "No such status list", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn status_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let list = state
        .store
        .status_list(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("status list {id} not found")))?;
    let cwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(STATUSLIST_CWT));
    let etag = format!(
        "\"{}-{}-{}\"",
        list.id.simple(),
        list.version,
        if cwt { "c" } else { "j" }
    );
    let cache = [
        (
            header::CACHE_CONTROL,
            "public, max-age=0, must-revalidate".to_string(),
        ),
        (header::ETAG, etag.clone()),
        (header::VARY, "Accept".to_string()),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let key = state
        .keys
        .active(Scope::Org(list.org_id), ISSUER_KEY_PURPOSE)
        .await
        .map_err(crate::error::key_error)?
        .ok_or_else(|| ApiError::Internal(format!("no issuer key for status list {id}")))?;
    let token = list_token(&state.config.base_url(), &list, Utc::now())?;
    let (content_type, body) = if cwt {
        let kid = key.kid();
        let bytes = token
            .sign_cwt(&key, Some(kid.as_bytes()))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        (STATUSLIST_CWT, bytes)
    } else {
        let jwt = token
            .sign_jwt(&key, Some(&key.kid()))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        (STATUSLIST_JWT, jwt.into_bytes())
    };
    let mut response = (StatusCode::OK, cache, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

pub(crate) fn list_token(
    base: &str,
    list: &StatusListRecord,
    now: DateTime<Utc>,
) -> Result<StatusListToken, ApiError> {
    let bits = StatusList::from_bytes(list.bits, list.list.clone())
        .map_err(|e| ApiError::Internal(format!("stored status list: {e}")))?;
    Ok(StatusListToken {
        sub: status_list_uri(base, list.id),
        iss: Some(issuer_id(base, list.org_id)),
        iat: now.timestamp(),
        exp: Some((now + Duration::hours(STATUS_LIST_VALIDITY_HOURS)).timestamp()),
        ttl: Some(STATUS_LIST_TTL),
        list: bits,
    })
}

/// JWT VC Issuer Metadata of an organisation: its issuer id and the keys it signs with, and the
/// retired ones while what they signed is valid (see `keys::published_issuer_keys`).
#[utoipa::path(get, path = "/.well-known/jwt-vc-issuer/orgs/{org}", tag = "attestations",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "`{issuer, jwks}`", body = Object),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issuer_metadata(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = parse_org(&org)?;
    existing_org(&state, org).await?;
    let keys = crate::keys::published_issuer_keys(&state, org, Utc::now()).await?;
    Ok(Json(json!({
        "issuer": issuer_id(&state.config.base_url(), org),
        "jwks": {"keys": keys.into_iter().map(|k| k.public_jwk).collect::<Vec<_>>()},
    })))
}

// ---------------------------------------------------------------------------------------------
// Online verification

/// Body of `POST /v1/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// A `TL1:` or `HC1:` QR text, or an SD-JWT VC (with or without key binding).
    #[schema(min_length = 1)]
    pub credential: String,
    /// The moment to judge validity at (default now).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Verify an attestation issued by any organisation of this node: the one pipeline (decode,
/// signature, trusted issuer, type, validity, status, rules, holder binding) with its report.
/// The report says which step failed and why; `valid` is false then (still a 200).
#[utoipa::path(post, path = "/v1/verify", tag = "attestations",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verification report", body = Object),
        (status = 422, description = "The body has unknown fields, or no credential", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_online(
    State(state): State<AppState>,
    Json(body): Json<VerifyRequest>,
) -> Result<Json<VerificationReport>, ApiError> {
    if body.credential.trim().is_empty() {
        return Err(ApiError::field(
            "credential",
            "give a TL1:/HC1: text or an SD-JWT VC",
        ));
    }
    let trust = local_trust(&state).await?;
    let at = body.at.unwrap_or_else(Utc::now);
    let input = body.credential;
    // Verification is CPU work (signatures, inflate): off the async threads.
    let report =
        tokio::task::spawn_blocking(move || verify(&input, &trust, &VerifyOptions::at(at)))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(report))
}

/// The trust store of this node: what its trust bundle says (`trust::issuers`: every
/// organisation's published issuer keys, allowed to issue its own types), with the current bits
/// of its status lists.
async fn local_trust(state: &AppState) -> Result<TrustStore, ApiError> {
    let base = state.config.base_url();
    let lists = state.store.all_status_lists().await.map_err(store_error)?;
    let mut trust = TrustStore::new();
    for issuer in crate::trust::issuers(state, &lists, Utc::now()).await? {
        let trusted = issuer.trusted();
        for jwk in &issuer.keys {
            trust
                .add_jwk(jwk, Some(trusted.clone()))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
    }
    for list in lists {
        let bits = StatusList::from_bytes(list.bits, list.list)
            .map_err(|e| ApiError::Internal(format!("stored status list: {e}")))?;
        trust.set_status_list(status_list_uri(&base, list.id), bits);
    }
    Ok(trust)
}
