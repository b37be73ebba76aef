//! The OAuth 2.0 token service (issue 9 item 6): IT systems registered as clients get ES256 JWT
//! access tokens (RFC 9068 `at+jwt`) with the client-credentials grant (RFC 6749 §4.4), carrying
//! who the client acts as in the access model and its roles and rights for the audience IT
//! system, with their restrictions. Clients authenticate with a secret (`client_secret_basic`,
//! `client_secret_post`) or a signed assertion (`private_key_jwt`, RFC 7523). The keys are
//! published at `/oauth/jwks`, the metadata at `/.well-known/oauth-authorization-server`
//! (RFC 8414) and `/.well-known/openid-configuration`.
//!
//! Tillit's own API accepts these tokens (audience `tillit`) as bearer tokens, deciding on their
//! `sub` like on a user token. An access token lives [`ACCESS_TOKEN_SECONDS`]: revoking a client
//! stops new tokens at once, and issued ones run out within that time.
//!
//! The token endpoint answers errors as RFC 6749 §5.2 JSON (`{"error", "error_description"}`),
//! not as RFC 9457 problems: OAuth clients read that shape.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tillit_access::EffectiveRight;
use tillit_audit::AuditEvent;
use tillit_core::Loa;
use tillit_crypto::{jws, Algorithm, Jwk, VerifyingKey};
use tillit_store::{Client, ClientCredential, ClientRepo, KeyRepo, LimitRepo, NewClient, Scope};
use utoipa::ToSchema;

use crate::auth::{
    authorize, Authenticated, Permission, Principal, Subject, Target, TILLIT_SYSTEM,
};
use crate::error::{store_error, ApiError, PassThrough, Problem};
use crate::state::AppState;

/// Purpose of the installation key that signs access tokens.
pub const TOKEN_KEY_PURPOSE: &str = "access-token";

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECONDS: i64 = 300;

/// The `client_assertion_type` of `private_key_jwt`.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest a client assertion may be valid for.
const MAX_ASSERTION_SECONDS: i64 = 3600;

/// Signature algorithms accepted on client assertions.
const ASSERTION_ALGS: &[Algorithm] = &[
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Es512,
    Algorithm::EdDsa,
    Algorithm::Ps256,
];

/// The `used_once` scope of client-assertion ids (replay protection shared by every instance).
const ASSERTION_SCOPE: &str = "oauth-client-assertion";

// ---------------------------------------------------------------------------------------------
// Client registration

/// Body of `POST /v1/clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterClient {
    /// A label for people (1-100 characters).
    #[schema(example = "Ankeborg case system", min_length = 1, max_length = 100)]
    pub name: String,
    /// The access-model user the client acts as (usually a user of an IT system).
    #[schema(example = "ankeborg-case-system", min_length = 1, max_length = 200)]
    pub user: String,
    /// The `client_id` to use (letters, digits, `.`, `_`, `-`; 3-64); generated when absent.
    #[schema(example = "ankeborg-case-system", pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub client_id: Option<String>,
    /// Its public keys (a JWK Set) for `private_key_jwt`; without it, a secret is made.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// The assurance level of the client's credential (`low`, `substantial`, `high`), put in
    /// its tokens as `acr` (the NSIS URI).
    #[schema(example = "substantial", pattern = "^(low|substantial|high)$")]
    pub loa: Option<String>,
}

/// A registered client (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// The access-model user it acts as.
    pub user: String,
    /// `client_secret_basic` (a secret, also accepted as `client_secret_post`) or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// The assurance level of its credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loa: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        Self {
            token_endpoint_auth_method: match c.credential {
                ClientCredential::SecretSha256(_) => "client_secret_basic".into(),
                ClientCredential::Jwks(_) => "private_key_jwt".into(),
            },
            client_id: c.client_id,
            name: c.name,
            user: c.user_id,
            loa: c.loa,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// A client just registered, with its secret when it has one (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// Present for secret clients. Not stored: keep it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

fn valid_client_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The verifying keys of a JWK Set, each with its `kid` (if any).
fn jwks_keys(jwks: &Value) -> Result<Vec<(Option<String>, VerifyingKey)>, String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("a JWK Set is {\"keys\": [...]}")?;
    if keys.is_empty() || keys.len() > 10 {
        return Err("a JWK Set of 1-10 public keys".into());
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let jwk: Jwk =
                serde_json::from_value(k.clone()).map_err(|e| format!("keys[{i}]: {e}"))?;
            if jwk.d.is_some() {
                return Err(format!(
                    "keys[{i}] is a private key: send only the public half"
                ));
            }
            let key = VerifyingKey::from_jwk(&jwk).map_err(|e| format!("keys[{i}]: {e}"))?;
            Ok((jwk.kid.clone(), key))
        })
        .collect()
}

/// Register an OAuth client of the token endpoint.
///
/// The client acts as `user` of the access model in force. Without `jwks` a secret is made and
/// returned this once. Needs `access.manage` without restriction.
#[utoipa::path(post, path = "/v1/clients", tag = "access",
    request_body = RegisterClient,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = RegisteredClient),
        (status = 409, description = "The client_id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, or a user the access model does not know", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_client(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Json(body): Json<RegisterClient>,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "1-100 characters, not only spaces, no control characters",
        ));
    }
    let client_id = match body.client_id {
        Some(id) if valid_client_id(&id) => id,
        Some(_) => {
            return Err(ApiError::field(
                "client_id",
                "3-64 letters, digits, `.`, `_` or `-`",
            ))
        }
        None => format!("client-{}", uuid::Uuid::now_v7()),
    };
    let loa = match body.loa.as_deref() {
        None => None,
        Some(text) => Some(
            serde_json::from_value::<Loa>(Value::String(text.to_owned()))
                .map_err(|_| ApiError::field("loa", "one of low, substantial, high"))?,
        ),
    };
    crate::access_api::require_model_user(&state, &body.user).await?;
    let (credential, secret) = match body.jwks {
        Some(jwks) => {
            jwks_keys(&jwks).map_err(|e| ApiError::field("jwks", e))?;
            (ClientCredential::Jwks(jwks.to_string()), None)
        }
        None => {
            let secret = tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<32>());
            let hash = hex::encode(tillit_crypto::sha256(secret.as_bytes()));
            (ClientCredential::SecretSha256(hash), Some(secret))
        }
    };
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: None,
        action: "oauth_client.create".into(),
        object_id: Some(client_id.clone()),
        details: json!({ "name": name, "user": body.user, "private_key_jwt": secret.is_none() }),
    };
    let client = state
        .store
        .create_client(
            NewClient {
                client_id,
                name,
                user_id: body.user,
                credential,
                loa: loa.map(|l| l.as_str().to_owned()),
            },
            audit,
            Utc::now(),
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(RegisteredClient {
            client: client.into(),
            client_secret: secret,
        }),
    )
        .into_response())
}

/// List the OAuth clients (never their secrets). Needs `access.manage` without restriction.
#[utoipa::path(get, path = "/v1/clients", tag = "access",
    security(("bearer" = [])),
    responses((status = 200, description = "Every client, revoked ones included", body = [ClientView])))]
pub async fn list_clients(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let clients = state.store.list_clients().await.map_err(store_error)?;
    Ok(Json(clients.into_iter().map(ClientView::from).collect()))
}

/// Revoke an OAuth client: it gets no more tokens (those issued run out within five minutes).
/// Needs `access.manage` without restriction.
#[utoipa::path(post, path = "/v1/clients/{client_id}/revoke", tag = "access",
    params(("client_id" = String, Path, description = "The client_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = ClientView),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_client(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: None,
        action: "oauth_client.revoke".into(),
        object_id: Some(client_id.clone()),
        details: json!({}),
    };
    let client = state
        .store
        .revoke_client(&client_id, audit, Utc::now())
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    Ok(Json(client.into()))
}

// ---------------------------------------------------------------------------------------------
// The token endpoint

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer `WWW-Authenticate: Basic` (the client tried HTTP Basic).
    basic: bool,
}

impl OAuthError {
    fn request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            basic,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic: false,
        }
    }

    fn server(description: impl std::fmt::Display) -> Self {
        tracing::error!(error = %description, "token endpoint");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the token could not be issued; try again",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tillit\""),
            );
        }
        response.extensions_mut().insert(PassThrough);
        response
    }
}

/// The token request's form parameters (for the API description; the handler reads the form
/// itself so that a bad one is an RFC 6749 error).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TokenForm {
    /// Only `client_credentials`.
    #[schema(pattern = "^client_credentials$")]
    pub grant_type: String,
    /// The IT system the token is for (default `tillit`).
    pub audience: Option<String>,
    /// The same as `audience` (RFC 8707); send one of them.
    pub resource: Option<String>,
    /// Space-separated rights the token should carry.
    pub scope: Option<String>,
    /// With `client_secret` (`client_secret_post`), or with an assertion.
    pub client_id: Option<String>,
    /// The client's secret (`client_secret_post`).
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (`private_key_jwt`).
    pub client_assertion_type: Option<String>,
    /// The signed assertion (`private_key_jwt`).
    pub client_assertion: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT access token (`typ` `at+jwt`, ES256).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The rights it carries, space-separated, when the request named a `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The form parameters, each at most once (RFC 6749 §3.2).
fn form(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, OAuthError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    }) {
        return Err(OAuthError::request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::request(format!("the form does not parse: {e}")))?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::request(format!("parameter {k} is sent twice")));
        }
    }
    Ok(out)
}

/// `Authorization: Basic` → (client_id, secret), each form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::client("a malformed Basic credential", true);
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(OAuthError::client(
            "authenticate the client with HTTP Basic, client_secret_post or private_key_jwt",
            true,
        ));
    };
    let decoded = tillit_crypto::b64::decode_std(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| bad())?;
        pairs.into_iter().next().map(|(_, v)| v).ok_or_else(bad)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// Equal in constant time (both are hex digests of the same length).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Authenticates the client of a token request.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let via_basic = basic.is_some();
    let assertion = params.get("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(params.contains_key("client_secret"))
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::request(
            "use one client authentication method, not several",
        ));
    }
    let unknown = || OAuthError::client("unknown client or wrong credentials", via_basic);
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return Err(OAuthError::request(format!(
                "client_assertion_type must be {ASSERTION_TYPE}"
            )));
        }
        return assertion_client(state, params, assertion, now).await;
    }
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return Err(OAuthError::client(
                    "authenticate the client: HTTP Basic, client_id + client_secret, or \
                     private_key_jwt",
                    false,
                ))
            }
        },
    };
    if params.get("client_id").is_some_and(|p| *p != id) {
        return Err(OAuthError::request(
            "client_id differs from the authenticated client",
        ));
    }
    let client = state
        .store
        .get_client(&id)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(unknown)?;
    let ClientCredential::SecretSha256(hash) = &client.credential else {
        return Err(OAuthError::client(
            "this client authenticates with private_key_jwt",
            via_basic,
        ));
    };
    if !same(hash, &hex::encode(tillit_crypto::sha256(secret.as_bytes()))) {
        return Err(unknown());
    }
    Ok(client)
}

/// `private_key_jwt` (RFC 7523 §3): the assertion is signed by one of the client's keys, names
/// the client as `iss` and `sub`, this endpoint (or issuer) in `aud`, and is fresh and unused.
async fn assertion_client(
    state: &AppState,
    params: &BTreeMap<String, String>,
    assertion: &str,
    now: DateTime<Utc>,
) -> Result<Client, OAuthError> {
    let bad = |why: &str| OAuthError::client(format!("client assertion: {why}"), false);
    let jws = jws::decode_compact(assertion).map_err(|e| bad(&e.to_string()))?;
    let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
        .map_err(|_| bad("the payload is not a JSON object"))?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (text("iss"), text("sub")) else {
        return Err(bad("iss and sub must name the client"));
    };
    if iss != sub || params.get("client_id").is_some_and(|c| c != iss) {
        return Err(bad("iss, sub (and client_id) must be the same client"));
    }
    let client = state
        .store
        .get_client(iss)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(|| bad("unknown client"))?;
    let ClientCredential::Jwks(jwks) = &client.credential else {
        return Err(bad("this client authenticates with a secret"));
    };
    let jwks: Value = serde_json::from_str(jwks).map_err(OAuthError::server)?;
    let keys = jwks_keys(&jwks).map_err(OAuthError::server)?;
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let verified = keys
        .iter()
        .filter(|(k, _)| kid.is_none() || k.as_deref() == kid)
        .any(|(_, key)| jws.verify(key, ASSERTION_ALGS).is_ok());
    if !verified {
        return Err(bad("the signature does not verify with the client's keys"));
    }
    let base = state.config.base_url();
    let endpoint = format!("{base}/oauth/token");
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == endpoint || *a == base,
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| a == endpoint || a == base),
        _ => false,
    };
    if !audience_ok {
        return Err(bad(&format!("aud must be {endpoint}")));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| bad("exp (seconds since the epoch) is required"))?;
    if exp <= now {
        return Err(bad("it has expired"));
    }
    if exp > now + Duration::seconds(MAX_ASSERTION_SECONDS) {
        return Err(bad("exp is more than an hour away"));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
        if nbf > now.timestamp() + 60 {
            return Err(bad("it is not valid yet (nbf)"));
        }
    }
    let jti = text("jti").ok_or_else(|| bad("jti is required"))?;
    let first = state
        .store
        .first_use(
            ASSERTION_SCOPE,
            tillit_crypto::sha256(format!("{iss}\u{0}{jti}").as_bytes()),
            exp,
            now,
        )
        .await
        .map_err(OAuthError::server)?;
    if !first {
        return Err(bad("this jti was used already"));
    }
    Ok(client)
}

/// Issue an access token (RFC 6749 §4.4, client credentials).
///
/// Form parameters: `grant_type=client_credentials`; `audience` (or `resource`) — the IT system
/// the token is for, default `tillit`; optional `scope` — space-separated rights to carry (each
/// must be one the client's user holds in that IT system). Client authentication: HTTP Basic,
/// `client_id` + `client_secret`, or `client_assertion` (`private_key_jwt`). Errors are RFC 6749
/// §5.2 JSON.
#[utoipa::path(post, path = "/oauth/token", tag = "access",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials&audience=…&scope=…, with the client's credentials"),
    responses(
        (status = 200, description = "The access token", body = TokenResponse),
        (status = 400, description = "RFC 6749 error: invalid_request, unsupported_grant_type, invalid_scope, invalid_target", body = Object),
        (status = 401, description = "RFC 6749 error: invalid_client", body = Object),
    ))]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue_token(&state, &headers, &body).await {
        Ok(token) => {
            let mut response = Json(token).into_response();
            let h = response.headers_mut();
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn issue_token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let now = Utc::now();
    let params = form(headers, body)?;
    match params.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type {other} is not supported; use client_credentials"),
            ))
        }
        None => return Err(OAuthError::request("grant_type is required")),
    }
    let client = authenticate_client(state, headers, &params, now).await?;
    if client.revoked_at.is_some() {
        return Err(OAuthError::client("this client has been revoked", false));
    }
    let audience = match (params.get("audience"), params.get("resource")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::request("send audience or resource, not both"))
        }
        (Some(a), None) | (None, Some(a)) => a.clone(),
        (None, None) => TILLIT_SYSTEM.to_owned(),
    };
    let loaded =
        state.access.model(&state.store).await.map_err(|e| {
            OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client", e.to_string())
        })?;
    if !loaded.model.has_it_system(&audience) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!("the access model has no IT system {audience:?}"),
        ));
    }
    let (person, it_system) = loaded.model.user_subject(&client.user_id).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            format!(
                "the client's user {} is no longer in the access model",
                client.user_id
            ),
        )
    })?;
    let rights: Vec<EffectiveRight> = loaded
        .model
        .effective_rights(&client.user_id, now)
        .map_err(OAuthError::server)?
        .into_iter()
        .filter(|r| r.it_system == audience)
        .collect();
    let requested: Option<Vec<&str>> = params
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect());
    let rights: Vec<EffectiveRight> = match &requested {
        None => rights,
        Some(scope) => {
            if let Some(missing) = scope
                .iter()
                .find(|want| !rights.iter().any(|r| r.right == **want))
            {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!(
                        "user {} holds no right {missing} in IT system {audience}",
                        client.user_id
                    ),
                ));
            }
            rights
                .into_iter()
                .filter(|r| scope.contains(&r.right.as_str()))
                .collect()
        }
    };
    let claims = access_token_claims(
        &state.config.base_url(),
        &client,
        &audience,
        person,
        it_system,
        &rights,
        now,
    );
    let key = state
        .keys
        .ensure(Scope::Installation, TOKEN_KEY_PURPOSE, "system:oauth", now)
        .await
        .map_err(OAuthError::server)?;
    let mut header = Map::new();
    header.insert("typ".into(), json!("at+jwt"));
    header.insert("kid".into(), json!(key.kid()));
    let payload = serde_json::to_vec(&claims).map_err(OAuthError::server)?;
    let access_token = jws::sign_compact(header, &payload, &key).map_err(OAuthError::server)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
        scope: requested.map(|s| s.join(" ")),
    })
}

/// The claims of an access token (RFC 9068 §2.2 plus Tillit's: `person`, `it_system`, `acr`
/// as the NSIS URI of the client's registered level, `roles`, and `rights` for the audience with
/// the restrictions they apply in — no `restrictions` member: everywhere).
fn access_token_claims(
    issuer: &str,
    client: &Client,
    audience: &str,
    person: Option<&str>,
    it_system: Option<&str>,
    rights: &[EffectiveRight],
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut roles: Vec<&str> = rights
        .iter()
        .flat_map(|r| r.grants.iter().map(|g| g.role.as_str()))
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let rights: Vec<Value> = rights
        .iter()
        .map(|r| {
            let mut right = Map::new();
            right.insert("right".into(), json!(r.right));
            if r.grants.iter().all(|g| !g.restrictions.is_empty()) {
                let mut restrictions: Vec<Value> = Vec::new();
                for x in r.grants.iter().flat_map(|g| g.restrictions.iter()) {
                    let x =
                        json!({"kind": x.kind, "id": x.id, "include_children": x.include_children});
                    if !restrictions.contains(&x) {
                        restrictions.push(x);
                    }
                }
                right.insert("restrictions".into(), Value::Array(restrictions));
            }
            Value::Object(right)
        })
        .collect();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(client.user_id));
    claims.insert("aud".into(), json!(audience));
    claims.insert("client_id".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now.timestamp()));
    claims.insert("exp".into(), json!(now.timestamp() + ACCESS_TOKEN_SECONDS));
    claims.insert("jti".into(), json!(uuid::Uuid::now_v7().to_string()));
    if let Some(loa) = client
        .loa
        .as_deref()
        .and_then(|l| serde_json::from_value::<Loa>(json!(l)).ok())
    {
        claims.insert("acr".into(), json!(loa.nsis_uri()));
    }
    if let Some(p) = person {
        claims.insert("person".into(), json!(p));
    }
    if let Some(s) = it_system {
        claims.insert("it_system".into(), json!(s));
    }
    claims.insert("roles".into(), json!(roles));
    claims.insert("rights".into(), Value::Array(rights));
    claims
}

/// The principal of a JWT access token for Tillit's own API: signed by this installation's
/// token key, issued here, for audience `tillit`, not expired. None when it is not one.
pub async fn principal_from_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<Principal>, ApiError> {
    let Ok(jws) = jws::decode_compact(token) else {
        return Ok(None);
    };
    if jws.header.get("typ").and_then(Value::as_str) != Some("at+jwt") {
        return Ok(None);
    }
    let Some(kid) = jws.header.get("kid").and_then(Value::as_str) else {
        return Ok(None);
    };
    let keys = state
        .store
        .list_keys(Scope::Installation, TOKEN_KEY_PURPOSE)
        .await
        .map_err(store_error)?;
    let Some(record) = keys.iter().find(|k| k.kid == kid) else {
        return Ok(None);
    };
    let key = serde_json::from_value::<Jwk>(record.public_jwk.clone())
        .ok()
        .and_then(|jwk| VerifyingKey::from_jwk(&jwk).ok());
    let Some(key) = key else {
        return Ok(None);
    };
    if jws.verify(&key, &[Algorithm::Es256]).is_err() {
        return Ok(None);
    }
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(&jws.payload) else {
        return Ok(None);
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let fresh = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > Utc::now().timestamp());
    if !fresh
        || text("iss") != Some(state.config.base_url().as_str())
        || text("aud") != Some(TILLIT_SYSTEM)
    {
        return Ok(None);
    }
    Ok(text("sub").map(|sub| Principal {
        token_id: None,
        subject: Subject::User(sub.to_owned()),
        loa: text("acr").and_then(Loa::from_uri),
    }))
}

// ---------------------------------------------------------------------------------------------
// Keys and metadata

/// The public keys that sign access tokens (JWK Set), newest last, retired ones included.
#[utoipa::path(get, path = "/oauth/jwks", tag = "access",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state
        .store
        .list_keys(Scope::Installation, TOKEN_KEY_PURPOSE)
        .await
        .map_err(store_error)?;
    let keys: Vec<Value> = keys.into_iter().map(|k| k.public_jwk).collect();
    let mut response = Json(json!({ "keys": keys })).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    Ok(response)
}

fn metadata(state: &AppState) -> Value {
    let base = state.config.base_url();
    json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/oauth/jwks"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "ES512", "EdDSA", "PS256"],
        "response_types_supported": [],
        "scopes_supported": [],
        "acr_values_supported": Loa::ALL.iter().map(|l| l.nsis_uri()).collect::<Vec<_>>(),
        "access_token_signing_alg_values_supported": ["ES256"],
    })
}

/// OAuth 2.0 authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "access",
    responses((status = 200, description = "The metadata", body = Object)))]
pub async fn authorization_server_metadata(State(state): State<AppState>) -> Json<Value> {
    Json(metadata(&state))
}

/// OpenID Provider metadata (OpenID Connect Discovery 1.0): the same as the OAuth metadata for
/// now (the token service issues access tokens to IT systems; sign-in of people follows).
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "access",
    responses((status = 200, description = "The metadata", body = Object)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    let mut m = metadata(&state);
    if let Some(o) = m.as_object_mut() {
        o.insert("subject_types_supported".into(), json!(["public"]));
        o.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(["ES256"]),
        );
    }
    Json(m)
}
