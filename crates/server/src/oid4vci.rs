//! OpenID for Verifiable Credential Issuance 1.0: each organisation's credential issuer
//! metadata, and the pre-authorized code flow with a transaction code (PIN).
//!
//! An administrator makes a credential offer for a type with the holder's claims
//! (`POST /v1/orgs/{org}/credential-offers`) and gets the `openid-credential-offer://` URI, its QR
//! code and the PIN to send the holder through another channel. The wallet then reads the offer
//! at its `credential_offer_uri`, exchanges the pre-authorized code and the PIN at the token
//! endpoint for an access token bound to the offer, takes a nonce from the nonce endpoint, and
//! sends a key proof (`openid4vci-proof+jwt`) to the credential endpoint, which issues the SD-JWT
//! VC bound to the proven key (`cnf.jwk`) through the same register, status list and audit log
//! as `POST /v1/orgs/{org}/attestations`.
//!
//! Every endpoint lives under the organisation's issuer identifier (`{base}/orgs/{org}`), and
//! its metadata where RFC 8615 path insertion puts it
//! (`/.well-known/openid-credential-issuer/orgs/{org}`). The pre-authorized code is derived from
//! the master key and the offer id, so that only hashes are stored; a wrong PIN counts, and
//! after [`MAX_TX_CODE_ATTEMPTS`] the offer is dead. Errors are the OAuth / OpenID4VCI JSON
//! objects (`{"error": …, "error_description": …}`), not problems.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tillit_audit::AuditEvent;
use tillit_core::OrgId;
use tillit_credential::oid4vci::{verify_proof, PROOF_ALGORITHMS};
use tillit_credential::service::IssueFormat;
use tillit_store::{
    AttestationRepo, KeyRepo, NewAttestation, NewOffer, OfferCredential, OfferIssue, OfferRecord,
    OfferRepo, OfferState, OrgRepo, Redemption, Scope, Signed, StoreError,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::attestations::ISSUER_KEY_PURPOSE;
use crate::attestations::{check_request, definition_of, issuer_id, Checked, Issuer};
use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{store_error, ApiError, PassThrough, Problem};
use crate::state::AppState;

/// The grant type of the pre-authorized code flow.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// How long an offer can be redeemed by default, and at most.
const OFFER_TTL_MINUTES: i64 = 30;
const MAX_OFFER_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// How long an access token of the flow is good.
const TOKEN_TTL_SECONDS: i64 = 300;
/// How long a nonce from the nonce endpoint is good.
const NONCE_TTL_SECONDS: i64 = 300;
/// Wrong transaction codes tried before an offer locks.
pub const MAX_TX_CODE_ATTEMPTS: u32 = 5;
/// Digits of the transaction code.
const TX_CODE_DIGITS: usize = 6;

// ---------------------------------------------------------------------------------------------
// Paths and secrets

fn issuer_url(state: &AppState, org: OrgId) -> String {
    issuer_id(&state.config.base_url(), org)
}

fn offer_url(state: &AppState, org: OrgId, id: Uuid) -> String {
    format!("{}/oid4vci/offers/{id}", issuer_url(state, org))
}

/// The `openid-credential-offer://` URI of an offer (what the QR code holds).
fn offer_link(state: &AppState, org: OrgId, id: Uuid) -> String {
    let query = serde_urlencoded::to_string([("credential_offer_uri", offer_url(state, org, id))])
        .unwrap_or_default();
    format!("openid-credential-offer://?{query}")
}

/// The pre-authorized code of offer `id`: derived from the master key, never stored.
fn pre_authorized_code(state: &AppState, id: Uuid) -> String {
    let secret = state
        .keys
        .derive_secret(&format!("tillit-oid4vci-pre-authorized-code/v1:{id}"));
    tillit_crypto::b64::encode_url(&secret)
}

fn digest(parts: &[&str]) -> String {
    hex::encode(tillit_crypto::sha256(parts.join("\u{0}").as_bytes()))
}

fn code_hash(code: &str) -> String {
    digest(&["oid4vci-code", code])
}

/// The PIN's hash, salted with the (secret, high-entropy) code it goes with.
fn tx_code_hash(code: &str, tx_code: &str) -> String {
    digest(&["oid4vci-tx-code", code, tx_code])
}

fn token_hash(token: &str) -> String {
    digest(&["oid4vci-token", token])
}

fn nonce_hash(nonce: &str) -> String {
    digest(&["oid4vci-nonce", nonce])
}

/// A uniformly random numeric PIN.
fn new_tx_code() -> String {
    let mut pool = tillit_crypto::RandomPool::new();
    (0..TX_CODE_DIGITS)
        .map(|_| char::from(b'0' + u8::try_from(pool.below(10)).unwrap_or(0)))
        .collect()
}

fn random_token() -> String {
    tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<32>())
}

fn parse_org(org: &str) -> Result<OrgId, ApiError> {
    org.parse()
        .map_err(|e: tillit_core::CoreError| ApiError::field("org", e.to_string()))
}

async fn org_name(state: &AppState, org: OrgId) -> Result<String, ApiError> {
    Ok(state
        .store
        .get_org(org)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("organisation {org} not found")))?
        .name)
}

// ---------------------------------------------------------------------------------------------
// OAuth / OpenID4VCI errors

/// An error of the token, nonce or credential endpoint: `{"error", "error_description"}`
/// (RFC 6749 §5.2, OpenID4VCI §8.3.1.2), passed through the problem middleware unchanged.
#[derive(Debug)]
pub struct VciError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl VciError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    fn grant(description: impl Into<String>) -> Self {
        Self::bad("invalid_grant", description)
    }

    fn token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    }

    fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "OpenID4VCI endpoint failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the request could not be completed; try again",
        )
    }

    fn store(e: StoreError) -> Self {
        if let StoreError::Invalid(why) = e {
            return Self::bad("invalid_credential_request", why);
        }
        if e.is_unavailable() || e.is_storage_full() {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; try again",
            );
        }
        Self::server(e)
    }
}

impl IntoResponse for VciError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response.extensions_mut().insert(PassThrough);
        response
    }
}

/// The error object's shape (for the API description).
#[derive(Debug, Serialize, ToSchema)]
pub struct VciErrorBody {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_token`,
    /// `invalid_credential_request`, `unknown_credential_configuration`, `invalid_proof`,
    /// `invalid_nonce`, `credential_request_denied`, …
    pub error: String,
    pub error_description: String,
}

fn no_store(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// Metadata

/// Credential Issuer Metadata (OpenID4VCI 1.0 §12.2) of an organisation: its endpoints and a
/// `dc+sd-jwt` credential configuration per attestation type that issues SD-JWT VCs.
#[utoipa::path(get, path = "/.well-known/openid-credential-issuer/orgs/{org}", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The credential issuer metadata", body = Object),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn credential_issuer_metadata(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = parse_org(&org)?;
    let name = org_name(&state, org).await?;
    let issuer = issuer_url(&state, org);
    let signing_alg = state
        .store
        .list_keys(Scope::Org(org), ISSUER_KEY_PURPOSE)
        .await
        .map_err(store_error)?
        .into_iter()
        .rev()
        .find(|k| k.status == tillit_store::KeyStatus::Active)
        .map_or_else(|| "ES256".to_string(), |k| k.alg);
    let types = state
        .store
        .list_attestation_types(org)
        .await
        .map_err(store_error)?;
    let mut configurations = Map::new();
    for record in types {
        let definition = definition_of(&record)?;
        if !definition.formats.contains(&IssueFormat::SdJwtVc) {
            continue;
        }
        let d = &definition.display;
        let display: Vec<Value> = [("sv", &d.sv), ("da", &d.da), ("nb", &d.nb), ("en", &d.en)]
            .into_iter()
            .filter_map(|(lang, n)| n.as_ref().map(|n| json!({"name": n, "locale": lang})))
            .collect();
        let required: Vec<&str> = definition
            .claims_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let claims: Vec<Value> = definition
            .claims_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .keys()
                    .map(|k| json!({"path": [k], "mandatory": required.contains(&k.as_str())}))
                    .collect()
            })
            .unwrap_or_default();
        let mut metadata = Map::new();
        if !display.is_empty() {
            metadata.insert("display".into(), Value::Array(display));
        }
        if !claims.is_empty() {
            metadata.insert("claims".into(), Value::Array(claims));
        }
        configurations.insert(
            record.slug.clone(),
            json!({
                "format": "dc+sd-jwt",
                "vct": record.vct,
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": [signing_alg],
                "proof_types_supported": {
                    "jwt": {
                        "proof_signing_alg_values_supported":
                            PROOF_ALGORITHMS.iter().map(|a| a.jose_name()).collect::<Vec<_>>(),
                    }
                },
                "credential_metadata": metadata,
            }),
        );
    }
    Ok(Json(json!({
        "credential_issuer": issuer,
        "authorization_servers": [issuer],
        "credential_endpoint": format!("{issuer}/oid4vci/credential"),
        "nonce_endpoint": format!("{issuer}/oid4vci/nonce"),
        "display": [{"name": name}],
        "credential_configurations_supported": configurations,
    })))
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414) of an organisation's credential issuer,
/// which is its own authorization server for the pre-authorized code flow.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server/orgs/{org}", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The authorization server metadata", body = Object),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn authorization_server_metadata(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = parse_org(&org)?;
    org_name(&state, org).await?;
    let issuer = issuer_url(&state, org);
    Ok(Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oid4vci/token"),
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": true,
    })))
}

// ---------------------------------------------------------------------------------------------
// Offers (the administrator's side)

/// Body of `POST /v1/orgs/{org}/credential-offers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOffer {
    /// The slug of the type (it must issue SD-JWT VCs).
    #[serde(rename = "type")]
    #[schema(example = "parking-permit")]
    pub type_slug: String,
    /// The holder's claims, checked against the type's schema now.
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
    /// Start of validity (default: when the offer is made).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity (default: valid_from + the type's default validity).
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
    /// How long the wallet has to redeem the offer, in seconds (default 1800, at most a week).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 604800)]
    pub expires_in: Option<i64>,
}

/// A credential offer, as its creator sees it once.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    #[serde(rename = "type")]
    pub type_slug: String,
    /// `openid-credential-offer://?credential_offer_uri=…`: open it in the wallet, or show the QR.
    pub credential_offer: String,
    /// Where the wallet reads the credential offer object.
    pub credential_offer_uri: String,
    /// The transaction code (PIN) the wallet asks the holder for: send it through another
    /// channel than the offer. Shown only here.
    pub tx_code: String,
    /// The QR code of `credential_offer` as PNG and as SVG.
    pub qr_png: String,
    pub qr_svg: String,
    /// Until when the offer can be redeemed.
    pub expires_at: DateTime<Utc>,
}

/// Offer an attestation to a wallet (OpenID4VCI pre-authorized code flow with a PIN): the
/// claims are checked against the type now; the response holds the offer URI, links to its QR
/// code and the PIN, which is not shown again.
#[utoipa::path(post, path = "/v1/orgs/{org}/credential-offers", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = CreateOffer,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The offer", body = OfferView),
        (status = 404, description = "No such organisation or type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Claims that do not fit the type (each named), a bad validity, or a type that does not issue SD-JWT VCs", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_offer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(org): Path<String>,
    Json(body): Json<CreateOffer>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    authorize(
        &state,
        &principal,
        Permission::IssueAttestation,
        Target::Org(org),
    )
    .await?;
    org_name(&state, org).await?;
    let record = state
        .store
        .latest_attestation_type(org, &body.type_slug)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("type {} not found", body.type_slug)))?;
    let definition = definition_of(&record)?;
    if !definition.formats.contains(&IssueFormat::SdJwtVc) {
        return Err(ApiError::field(
            "type",
            "this type does not issue SD-JWT VCs, the format wallets receive",
        ));
    }
    let now = tillit_store::micros(Utc::now());
    let checked = check_request(
        &definition,
        body.claims,
        None,
        body.valid_from,
        body.valid_to,
        now,
    )?;
    let id = Uuid::new_v4();
    let code = pre_authorized_code(&state, id);
    let tx_code = new_tx_code();
    let ttl = match body.expires_in {
        None => Duration::minutes(OFFER_TTL_MINUTES),
        Some(s) if (1..=MAX_OFFER_TTL_SECONDS).contains(&s) => Duration::seconds(s),
        Some(_) => {
            return Err(ApiError::field(
                "expires_in",
                format!("give 1-{MAX_OFFER_TTL_SECONDS} seconds"),
            ))
        }
    };
    let expires_at = now + ttl;
    let actor = principal.actor();
    let audit = AuditEvent {
        actor: actor.clone(),
        org_id: Some(org.to_string()),
        action: "credential_offer.create".into(),
        object_id: Some(id.to_string()),
        details: json!({ "type": record.slug, "expires_at": expires_at }),
    };
    let offer = state
        .store
        .create_offer(
            NewOffer {
                id,
                org_id: org,
                type_slug: record.slug.clone(),
                request: serde_json::to_value(&checked)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                created_by: actor,
                code_hash: code_hash(&code),
                tx_code_hash: tx_code_hash(&code, &tx_code),
                expires_at,
            },
            audit,
            now,
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let path = format!("/v1/orgs/{org}/credential-offers/{id}");
    let view = OfferView {
        id: id.to_string(),
        type_slug: offer.type_slug,
        credential_offer: offer_link(&state, org, id),
        credential_offer_uri: offer_url(&state, org, id),
        tx_code,
        qr_png: format!("{path}/qr.png"),
        qr_svg: format!("{path}/qr.svg"),
        expires_at: offer.expires_at,
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn own_offer(
    state: &AppState,
    principal: &crate::auth::Principal,
    org: &str,
    id: &str,
) -> Result<(OrgId, OfferRecord), ApiError> {
    let org = parse_org(org)?;
    authorize(
        state,
        principal,
        Permission::IssueAttestation,
        Target::Org(org),
    )
    .await?;
    let id = Uuid::try_parse(id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let offer = state
        .store
        .get_offer(id)
        .await
        .map_err(store_error)?
        .filter(|o| o.org_id == org)
        .ok_or_else(|| ApiError::NotFound(format!("credential offer {id} not found")))?;
    Ok((org, offer))
}

/// The QR code of an offer's `openid-credential-offer://` URI, as PNG.
#[utoipa::path(get, path = "/v1/orgs/{org}/credential-offers/{id}/qr.png", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Offer id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "PNG image", body = Vec<u8>, content_type = "image/png"),
        (status = 404, description = "No such offer in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn offer_qr_png(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (org, offer) = own_offer(&state, &principal, &org, &id).await?;
    let png = tillit_credential::render::render_png(&offer_link(&state, org, offer.id), 8)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// The QR code of an offer's `openid-credential-offer://` URI, as SVG.
#[utoipa::path(get, path = "/v1/orgs/{org}/credential-offers/{id}/qr.svg", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Offer id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "SVG image", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "No such offer in this organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn offer_qr_svg(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (org, offer) = own_offer(&state, &principal, &org, &id).await?;
    let svg = tillit_credential::render::render_svg(&offer_link(&state, org, offer.id))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

// ---------------------------------------------------------------------------------------------
// The wallet's side

/// The Credential Offer object (OpenID4VCI §4.1.1) at its `credential_offer_uri`, while the
/// offer can be redeemed.
#[utoipa::path(get, path = "/orgs/{org}/oid4vci/offers/{id}", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id"),
           ("id" = uuid::Uuid, Path, description = "Offer id")),
    responses(
        (status = 200, description = "The credential offer object", body = Object),
        (status = 404, description = "No such offer, or it was used or has expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn credential_offer(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    let id = Uuid::try_parse(&id).map_err(|e| ApiError::field("id", e.to_string()))?;
    let now = Utc::now();
    let offer = state
        .store
        .get_offer(id)
        .await
        .map_err(store_error)?
        .filter(|o| o.org_id == org && o.state == OfferState::Offered && o.expires_at > now)
        .ok_or_else(|| ApiError::NotFound(format!("no open credential offer {id}")))?;
    let mut grants = Map::new();
    grants.insert(
        PRE_AUTHORIZED_GRANT.to_owned(),
        json!({
            "pre-authorized_code": pre_authorized_code(&state, offer.id),
            "tx_code": {
                "input_mode": "numeric",
                "length": TX_CODE_DIGITS,
                "description": "The code the issuer sent you separately (e-mail, letter or text message)",
            }
        }),
    );
    Ok(no_store(json!({
        "credential_issuer": issuer_url(&state, org),
        "credential_configuration_ids": [offer.type_slug],
        "grants": grants,
    })))
}

/// The token request's form parameters (for the API description; the handler reads the form
/// itself so that a bad one is an OAuth error).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PreAuthorizedTokenForm {
    /// `urn:ietf:params:oauth:grant-type:pre-authorized_code`
    grant_type: String,
    #[serde(rename = "pre-authorized_code")]
    pre_authorized_code: String,
    /// The PIN the holder received separately.
    tx_code: Option<String>,
}

/// The token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct VciTokenResponse {
    pub access_token: String,
    /// `Bearer`
    pub token_type: String,
    pub expires_in: i64,
}

fn token_form(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, VciError> {
    let form_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(VciError::bad(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| VciError::bad("invalid_request", format!("the form does not parse: {e}")))?;
    let mut out = Map::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), Value::String(v)).is_some() {
            return Err(VciError::bad(
                "invalid_request",
                format!("parameter {k} is sent twice"),
            ));
        }
    }
    Ok(out)
}

/// The token endpoint of the pre-authorized code flow: the code and the PIN for an access token
/// bound to the offer (one use; the offer locks after too many wrong PINs).
#[utoipa::path(post, path = "/orgs/{org}/oid4vci/token", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    request_body(content = PreAuthorizedTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token for the credential endpoint", body = VciTokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_grant (unknown, used or expired code, wrong PIN, locked offer)", body = VciErrorBody),
        (status = 503, description = "The database is unavailable", body = VciErrorBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match redeem(&state, &org, &headers, &body).await {
        Ok(v) => {
            let mut r = no_store(v);
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn redeem(
    state: &AppState,
    org: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, VciError> {
    let org: OrgId = org
        .parse()
        .map_err(|_| VciError::grant("no such credential issuer"))?;
    let form = token_form(headers, body)?;
    let text = |k: &str| form.get(k).and_then(Value::as_str);
    match text("grant_type") {
        Some(PRE_AUTHORIZED_GRANT) => {}
        Some(other) => {
            return Err(VciError::bad(
                "unsupported_grant_type",
                format!("grant_type {other} is not supported; use {PRE_AUTHORIZED_GRANT}"),
            ))
        }
        None => return Err(VciError::bad("invalid_request", "grant_type is required")),
    }
    let code = text("pre-authorized_code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| VciError::bad("invalid_request", "pre-authorized_code is required"))?;
    let tx_code = text("tx_code")
        .ok_or_else(|| VciError::bad("invalid_request", "tx_code (the PIN) is required"))?;
    let now = Utc::now();
    let token = random_token();
    let outcome = state
        .store
        .redeem_offer(
            org,
            &code_hash(code),
            &tx_code_hash(code, tx_code),
            &token_hash(&token),
            now + Duration::seconds(TOKEN_TTL_SECONDS),
            MAX_TX_CODE_ATTEMPTS,
            now,
        )
        .await
        .map_err(VciError::store)?;
    match outcome {
        Redemption::Redeemed(_) => Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECONDS,
        })),
        Redemption::Unknown => Err(VciError::grant("the pre-authorized code is not known")),
        Redemption::Expired => Err(VciError::grant(
            "the credential offer has expired; ask the issuer for a new one",
        )),
        Redemption::Used => Err(VciError::grant("the pre-authorized code was used already")),
        Redemption::Locked => Err(VciError::grant(
            "too many wrong codes: the offer is locked; ask the issuer for a new one",
        )),
        Redemption::WrongTxCode { attempts_left } => Err(VciError::grant(format!(
            "wrong tx_code; {attempts_left} attempts left"
        ))),
    }
}

/// The nonce endpoint (OpenID4VCI §7): a fresh `c_nonce` for the next key proof.
#[utoipa::path(post, path = "/orgs/{org}/oid4vci/nonce", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "`{c_nonce}`", body = Object),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn nonce(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let org = parse_org(&org)?;
    org_name(&state, org).await?;
    let nonce = random_token();
    let now = Utc::now();
    state
        .store
        .create_nonce(
            org,
            &nonce_hash(&nonce),
            now + Duration::seconds(NONCE_TTL_SECONDS),
            now,
        )
        .await
        .map_err(store_error)?;
    Ok(no_store(json!({ "c_nonce": nonce })))
}

/// The credential request (for the API description).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CredentialRequest {
    /// One of the ids in the offer's `credential_configuration_ids`.
    credential_configuration_id: String,
    /// `{"jwt": ["<openid4vci-proof+jwt>"]}`: one key proof.
    #[schema(value_type = Object)]
    proofs: Value,
}

/// The credential response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialResponse {
    /// `[{"credential": "<SD-JWT VC>"}]`
    #[schema(value_type = Vec<Object>)]
    pub credentials: Vec<Value>,
}

/// The credential endpoint: checks the access token and the key proof (typ, signature with the
/// `jwk` header key, `aud` = the issuer, fresh `iat`, a nonce from the nonce endpoint, used
/// once) and issues the offered SD-JWT VC bound to the proven key (`cnf.jwk`).
#[utoipa::path(post, path = "/orgs/{org}/oid4vci/credential", tag = "oid4vci",
    params(("org" = uuid::Uuid, Path, description = "Organisation id")),
    request_body = CredentialRequest,
    responses(
        (status = 200, description = "The credential", body = CredentialResponse),
        (status = 400, description = "invalid_credential_request, unknown_credential_configuration, invalid_proof, invalid_nonce or credential_request_denied", body = VciErrorBody),
        (status = 401, description = "invalid_token: no, an unknown, expired or used access token", body = VciErrorBody),
        (status = 503, description = "The database is unavailable", body = VciErrorBody),
    ))]
pub async fn credential(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &org, &headers, &body).await {
        Ok(v) => no_store(v),
        Err(e) => e.into_response(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The one key proof of a credential request: `proofs.jwt[0]` (1.0), or the drafts' `proof`.
fn the_proof(body: &Value) -> Result<&str, VciError> {
    let invalid = |m: &str| VciError::bad("invalid_credential_request", m);
    match (body.get("proofs"), body.get("proof")) {
        (Some(_), Some(_)) => Err(invalid("send proofs or proof, not both")),
        (Some(proofs), None) => {
            let list = proofs
                .get("jwt")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("proofs has no jwt array"))?;
            match list.as_slice() {
                [Value::String(jwt)] => Ok(jwt),
                [] => Err(invalid("proofs.jwt is empty")),
                [_] => Err(invalid("proofs.jwt holds a non-string")),
                _ => Err(invalid(
                    "send one proof: this issuer issues one credential per offer",
                )),
            }
        }
        (None, Some(proof)) => match (proof.get("proof_type"), proof.get("jwt")) {
            (Some(Value::String(t)), Some(Value::String(jwt))) if t == "jwt" => Ok(jwt),
            _ => Err(invalid(
                "proof must be {\"proof_type\": \"jwt\", \"jwt\": …}",
            )),
        },
        (None, None) => Err(VciError::bad(
            "invalid_proof",
            "no key proof: send proofs.jwt with an openid4vci-proof+jwt",
        )),
    }
}

async fn issue(
    state: &AppState,
    org: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, VciError> {
    let org: OrgId = org
        .parse()
        .map_err(|_| VciError::token("no such credential issuer"))?;
    let token = bearer(headers).ok_or_else(|| VciError::token("no bearer access token"))?;
    let token_hash = token_hash(token);
    let now = tillit_store::micros(Utc::now());
    let offer = state
        .store
        .offer_by_token(org, &token_hash, now)
        .await
        .map_err(VciError::store)?
        .ok_or_else(|| VciError::token("the access token is unknown, expired or used"))?;
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        VciError::bad(
            "invalid_credential_request",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !body.is_object() {
        return Err(VciError::bad(
            "invalid_credential_request",
            "the body is not a JSON object",
        ));
    }
    match (
        body.get("credential_configuration_id"),
        body.get("credential_identifier"),
    ) {
        (Some(Value::String(id)), None) if *id == offer.type_slug => {}
        (Some(Value::String(id)), None) => {
            return Err(VciError::bad(
                "unknown_credential_configuration",
                format!(
                    "{id:?} is not the offered configuration {:?}",
                    offer.type_slug
                ),
            ))
        }
        (None, Some(_)) => {
            return Err(VciError::bad(
                "unknown_credential_identifier",
                "this issuer hands out no credential identifiers; send credential_configuration_id",
            ))
        }
        _ => {
            return Err(VciError::bad(
                "invalid_credential_request",
                "send credential_configuration_id (a string)",
            ))
        }
    }
    let jwt = the_proof(&body)?;
    let issuer_id = issuer_url(state, org);
    let proof = verify_proof(jwt, &issuer_id, now.timestamp())
        .map_err(|e| VciError::bad("invalid_proof", e.to_string()))?;
    let record = state
        .store
        .latest_attestation_type(org, &offer.type_slug)
        .await
        .map_err(VciError::store)?
        .ok_or_else(|| {
            VciError::bad(
                "credential_request_denied",
                "the offered type no longer exists",
            )
        })?;
    let mut checked: Checked =
        serde_json::from_value(offer.request.clone()).map_err(VciError::server)?;
    if checked.valid_to <= now {
        return Err(VciError::bad(
            "credential_request_denied",
            "the offered attestation's validity has ended",
        ));
    }
    checked.holder = Some(proof.jwk);
    let issuer = Issuer::load(state, org, record.clone(), &offer.created_by, now)
        .await
        .map_err(|e| VciError::server(format!("{e:?}")))?;
    let id = Uuid::now_v7();
    let type_slug = record.slug.clone();
    let outcome = state
        .store
        .issue_from_offer(
            OfferCredential {
                org_id: org,
                token_hash,
                nonce_hash: nonce_hash(&proof.nonce),
                attestation: NewAttestation {
                    id,
                    org_id: org,
                    type_id: record.id,
                    subject_ref: None,
                    issued_by: offer.created_by.clone(),
                    valid_from: checked.valid_from,
                    valid_to: checked.valid_to,
                    signing_kid: Some(issuer.key.kid()),
                },
            },
            now,
            move |offer, slot| {
                let view = issuer
                    .sign(id, &checked, now, slot.idx, slot.list_id)
                    .map_err(|e| StoreError::Invalid(format!("cannot issue these claims: {e}")))?;
                let credential = view
                    .sd_jwt_vc
                    .ok_or_else(|| StoreError::Invalid("the type issues no SD-JWT VC".into()))?;
                Ok(Signed {
                    value: credential,
                    audit: AuditEvent {
                        actor: offer.created_by.clone(),
                        org_id: Some(org.to_string()),
                        action: "attestation.issue".into(),
                        object_id: Some(id.to_string()),
                        details: json!({
                            "type": type_slug,
                            "status_list": slot.list_id.to_string(),
                            "idx": slot.idx,
                            "via": "oid4vci",
                            "offer": offer.id.to_string(),
                        }),
                    },
                    remember: None,
                })
            },
        )
        .await
        .map_err(VciError::store)?;
    match outcome {
        OfferIssue::Issued(_, credential) => {
            state.audit_written.notify_one();
            Ok(json!({ "credentials": [{ "credential": credential }] }))
        }
        OfferIssue::TokenInvalid => Err(VciError::token(
            "the access token is unknown, expired or used",
        )),
        OfferIssue::NonceInvalid => Err(VciError::bad(
            "invalid_nonce",
            "the proof's nonce is unknown, expired or used; get a new one from the nonce endpoint",
        )),
    }
}
