//! What this node publishes for verifiers (issue 8 item 7): the **trust list** — every
//! organisation that issues here, with its issuer keys (retired ones while what they signed is
//! valid), its attestation types and its status lists — and the **trust bundle**, the same plus
//! every current status list, signed, for verifying offline (`tillit verify --bundle`, the web
//! verifier). Both are Tillit trust bundles (`tillit_credential::bundle`, `typ:
//! tillit-trust+jwt`) signed with the installation key of purpose [`TRUST_KEY_PURPOSE`], whose
//! public keys `GET /v1/trust/keys` serves for pinning. All public: they hold no personal data.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tillit_credential::bundle::{build_bundle, BundleContent, BundleIssuer};
use tillit_crypto::Jwk;
use tillit_store::{AttestationRepo, KeyRepo, OrgRepo, Scope, StatusListRecord};

use crate::attestations::{issuer_id, list_token, status_list_uri, ISSUER_KEY_PURPOSE};
use crate::error::{key_error, store_error, ApiError};
use crate::state::AppState;

/// Purpose of the installation key that signs trust lists and bundles.
pub const TRUST_KEY_PURPOSE: &str = "trust-bundle";

/// How long a trust list is valid: verifiers fetch a new one well before.
const LIST_VALIDITY_DAYS: i64 = 7;
/// How long a bundle is valid: as long as the status lists in it (a day).
const BUNDLE_VALIDITY_HOURS: i64 = crate::attestations::STATUS_LIST_VALIDITY_HOURS;

/// Media type of both documents (a compact JWS).
const TRUST_JWT: &str = "application/tillit-trust+jwt";

/// Every organisation with a published issuer key (retired ones while what they signed is
/// valid), as a bundle issuer: its keys, its types and its status lists (of `lists`). What this
/// node's bundle publishes and what its own online verification trusts.
pub(crate) async fn issuers(
    state: &AppState,
    lists: &[StatusListRecord],
    now: DateTime<Utc>,
) -> Result<Vec<BundleIssuer>, ApiError> {
    let base = state.config.base_url();
    let mut issuers = Vec::new();
    let mut page = tillit_core::PageRequest {
        cursor: None,
        limit: 500,
    };
    loop {
        let orgs = state.store.list_orgs(&page).await.map_err(store_error)?;
        for org in &orgs.items {
            let keys = crate::keys::published_issuer_keys(state, org.id, now).await?;
            if keys.is_empty() {
                continue;
            }
            let keys = keys
                .into_iter()
                .map(|k| serde_json::from_value::<Jwk>(k.public_jwk))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::Internal(format!("stored issuer key: {e}")))?;
            let mut allowed_types: Vec<String> = state
                .store
                .list_attestation_types(org.id)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|t| t.vct)
                .collect();
            allowed_types.sort();
            allowed_types.dedup();
            issuers.push(BundleIssuer {
                id: issuer_id(&base, org.id),
                name: org.name.clone(),
                organisation: Some(org.name.clone()),
                country: Some(org.country.code().to_string()),
                keys,
                allowed_types,
                status_lists: lists
                    .iter()
                    .filter(|l| l.org_id == org.id)
                    .map(|l| status_list_uri(&base, l.id))
                    .collect(),
                valid_from: None,
                valid_until: None,
            });
        }
        match orgs.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Ok(issuers)
}

/// The bundle's payload: [`issuers`], and, when `with_status`, the current status lists signed
/// by their organisations' active keys.
async fn content(
    state: &AppState,
    now: DateTime<Utc>,
    valid_for: Duration,
    with_status: bool,
) -> Result<BundleContent, ApiError> {
    let base = state.config.base_url();
    let lists = state.store.all_status_lists().await.map_err(store_error)?;
    let issuers = issuers(state, &lists, now).await?;
    let mut status_lists = std::collections::BTreeMap::new();
    if with_status {
        for list in &lists {
            let Some(key) = state
                .keys
                .active(Scope::Org(list.org_id), ISSUER_KEY_PURPOSE)
                .await
                .map_err(key_error)?
            else {
                continue;
            };
            let jwt = list_token(&base, list, now)?
                .sign_jwt(&key, Some(&key.kid()))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            status_lists.insert(status_list_uri(&base, list.id), jwt);
        }
    }
    Ok(BundleContent {
        iss: base,
        iat: now.timestamp(),
        exp: (now + valid_for).timestamp(),
        issuers,
        status_lists,
        rules: Vec::new(),
        value_sets: serde_json::Map::new(),
    })
}

/// The installation key that signs trust lists and bundles (made on first use).
async fn publisher_key(state: &AppState) -> Result<tillit_crypto::SigningKey, ApiError> {
    state
        .keys
        .ensure(
            Scope::Installation,
            TRUST_KEY_PURPOSE,
            "system:trust",
            Utc::now(),
        )
        .await
        .map_err(key_error)
}

async fn signed(state: &AppState, content: &BundleContent) -> Result<Response, ApiError> {
    let key = publisher_key(state).await?;
    let jws = build_bundle(content, &key).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = jws.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TRUST_JWT));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=0, must-revalidate"),
    );
    Ok(response)
}

/// The signed trust list: the issuers of this node with their keys, types and status lists.
#[utoipa::path(get, path = "/v1/trust/list", tag = "trust",
    responses(
        (status = 200, description = "A Tillit trust bundle (compact JWS, `typ: tillit-trust+jwt`) without status lists, valid 7 days", body = String, content_type = "application/tillit-trust+jwt"),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = Utc::now();
    let content = content(&state, now, Duration::days(LIST_VALIDITY_DAYS), false).await?;
    signed(&state, &content).await
}

/// The signed offline bundle: the trust list plus every current status list (each signed by
/// its organisation), valid as long as they are.
#[utoipa::path(get, path = "/v1/trust/bundle", tag = "trust",
    responses(
        (status = 200, description = "A Tillit trust bundle (compact JWS, `typ: tillit-trust+jwt`) with the current status lists, valid 24 hours", body = String, content_type = "application/tillit-trust+jwt"),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn bundle(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = Utc::now();
    let content = content(&state, now, Duration::hours(BUNDLE_VALIDITY_HOURS), true).await?;
    signed(&state, &content).await
}

/// The keys that sign this node's trust lists and bundles (a JWK Set): what a verifier pins.
#[utoipa::path(get, path = "/v1/trust/keys", tag = "trust",
    responses(
        (status = 200, description = "JWK Set", body = Object),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    publisher_key(&state).await?;
    let keys: Vec<Value> = state
        .store
        .list_keys(Scope::Installation, TRUST_KEY_PURPOSE)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|k| k.public_jwk)
        .collect();
    let mut response = Json(json!({ "keys": keys })).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    Ok(response)
}
