//! Sign-in through external OpenID Connect providers (issue 9 item 6): the authorization code
//! flow with PKCE (S256), `state` and `nonce`, the id_token checked against the provider's JWKS
//! (signature, `iss`, `aud`, `azp`, `exp`, `nonce`), its `acr` mapped to a level (eIDAS, NSIS,
//! Swedish and ID-porten URIs, see `tillit_core::Loa::from_uri`), the person matched to a user of
//! the access model by a configured claim — or provisioned into it — and a session as for a local
//! login with IAL = AAL = that level and FAL as the provider is configured.
//!
//! The flow's secrets (state, nonce, PKCE verifier, where to return) travel in a cookie sealed
//! under the master key, valid for ten minutes, so that any instance can finish a sign-in another
//! began. Outbound calls (discovery, JWKS, token) use rustls with the webpki roots.
//!
//! id_tokens may be signed ES256, ES384, ES512, EdDSA, PS256 or RS256 (RSA keys of 2048 to 8192
//! bits, from the JWKS's `n` and `e`; an RSA entry without `alg` is tried as RS256 and PS256).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tillit_audit::AuditEvent;
use tillit_core::Loa;
use tillit_crypto::{jws, Algorithm, Jwk, VerifyingKey};
use tillit_store::{NewSession, SessionRepo};

use crate::config::OidcProvider;
use crate::error::{store_error, ApiError};
use crate::login::{ABSOLUTE_TIMEOUT, SESSION_COOKIE};
use crate::state::AppState;

/// The cookie carrying the flow's sealed state.
const FLOW_COOKIE: &str = "tillit_oidc";

/// How long a sign-in may take at the provider.
const FLOW_MINUTES: i64 = 10;

/// How long a provider's discovery document and keys are reused.
const METADATA_TTL: StdDuration = StdDuration::from_secs(300);

/// Algorithms accepted on id_tokens (RS256 is what most brokers sign with: MitID/NemLog-in,
/// ID-porten, Freja; RSA keys need at least 2048 bits).
const ID_TOKEN_ALGS: &[Algorithm] = &[
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Es512,
    Algorithm::EdDsa,
    Algorithm::Ps256,
    Algorithm::Rs256,
];

/// The verifying keys of one JWKS entry: its key for its `alg`, and an RSA key without `alg`
/// once per RSA algorithm (RS256 and PS256), since such a key may sign with either. Entries
/// Tillit cannot use (other key types, short RSA keys, `use` other than `sig`) are left out.
fn jwks_entry_keys(jwk: &Jwk) -> Vec<(Option<String>, VerifyingKey)> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Vec::new();
    }
    let Ok(key) = VerifyingKey::from_jwk(jwk) else {
        return Vec::new();
    };
    let mut out = vec![(jwk.kid.clone(), key.clone())];
    if jwk.kty == "RSA" && jwk.alg.is_none() {
        if let Ok(pss) = key.with_algorithm(Algorithm::Ps256) {
            out.push((jwk.kid.clone(), pss));
        }
    }
    out
}

/// What the sealed flow cookie holds.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    provider: String,
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    exp: i64,
}

/// A provider's discovery document (the members used) and its keys.
#[derive(Debug, Clone)]
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
    keys: Vec<(Option<String>, VerifyingKey)>,
}

/// Discovery documents and keys per provider, per process.
#[derive(Debug, Clone, Default)]
pub struct OidcCache {
    inner: Arc<Mutex<HashMap<String, (Instant, Metadata)>>>,
    client: Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
}

impl OidcCache {
    /// The HTTP client for providers; an error (a 503) only if TLS cannot be configured.
    fn client(&self) -> Result<&reqwest::Client, ApiError> {
        self.client
            .get_or_init(|| {
                // TLS from aws-lc-rs, like the rest of Tillit (no second crypto library),
                // trusting the Mozilla roots.
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
                reqwest::Client::builder()
                    .timeout(StdDuration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .use_preconfigured_tls(tls)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ApiError::Unavailable(format!("no HTTP client for OpenID providers: {e}")))
    }
}

fn flow_context(provider: &str) -> String {
    format!("tillit-oidc-flow/v1:{provider}")
}

fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a OidcProvider, ApiError> {
    state
        .config
        .oidc_providers
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no OpenID provider {id:?} is configured")))
}

fn upstream(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the OpenID provider's {what} failed: {e}"))
}

async fn get_json(state: &AppState, url: &str, what: &str) -> Result<Value, ApiError> {
    let r = state
        .oidc
        .client()?
        .get(url)
        .send()
        .await
        .map_err(|e| upstream(what, e))?;
    if !r.status().is_success() {
        return Err(upstream(what, format!("HTTP {}", r.status())));
    }
    r.json().await.map_err(|e| upstream(what, e))
}

async fn metadata(state: &AppState, p: &OidcProvider) -> Result<Metadata, ApiError> {
    if let Ok(cache) = state.oidc.inner.lock() {
        if let Some((at, m)) = cache.get(&p.id) {
            if at.elapsed() < METADATA_TTL {
                return Ok(m.clone());
            }
        }
    }
    let issuer = p.issuer.trim_end_matches('/');
    let doc = get_json(
        state,
        &format!("{issuer}/.well-known/openid-configuration"),
        "discovery document",
    )
    .await?;
    let text = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| upstream("discovery document", format!("it has no {k}")))
    };
    if text("issuer")? != p.issuer {
        return Err(upstream(
            "discovery document",
            format!("its issuer is not {}", p.issuer),
        ));
    }
    let jwks = get_json(state, &text("jwks_uri")?, "JWKS").await?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .flat_map(|jwk| jwks_entry_keys(&jwk))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let m = Metadata {
        authorization_endpoint: text("authorization_endpoint")?,
        token_endpoint: text("token_endpoint")?,
        keys,
    };
    if let Ok(mut cache) = state.oidc.inner.lock() {
        cache.insert(p.id.clone(), (Instant::now(), m.clone()));
    }
    Ok(m)
}

fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!(
        "{}/v1/login/oidc/{provider}/callback",
        state.config.base_url()
    )
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Query of the sign-in start.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// A path on this site to go to when signed in (default `/v1/session`).
    pub return_to: Option<String>,
}

/// Start signing in at an OpenID provider: a redirect to its authorization endpoint.
#[utoipa::path(get, path = "/v1/login/oidc/{provider}", tag = "access",
    params(("provider" = String, Path, description = "The provider's configured id"), StartQuery),
    responses(
        (status = 303, description = "To the provider"),
        (status = 404, description = "No such provider", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "return_to is not a path on this site", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, ApiError> {
    let p = provider(&state, &id)?;
    let return_to = query.return_to.unwrap_or_else(|| "/v1/session".into());
    if !return_to.starts_with('/') || return_to.starts_with("//") || return_to.contains('\\') {
        return Err(ApiError::field("return_to", "a path on this site, e.g. /"));
    }
    let m = metadata(&state, p).await?;
    let random = || tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<32>());
    let flow = Flow {
        provider: p.id.clone(),
        state: random(),
        nonce: random(),
        verifier: random(),
        return_to,
        exp: (Utc::now() + Duration::minutes(FLOW_MINUTES)).timestamp(),
    };
    let challenge =
        tillit_crypto::b64::encode_url(&tillit_crypto::sha256(flow.verifier.as_bytes()));
    let redirect = redirect_uri(&state, &p.id);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", p.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", p.scopes.as_str()),
        ("state", flow.state.as_str()),
        ("nonce", flow.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(acr) = &p.acr_values {
        params.push(("acr_values", acr.as_str()));
    }
    let query = form_encode(&params);
    let separator = if m.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{query}", m.authorization_endpoint);
    let plain = serde_json::to_vec(&flow).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed =
        tillit_crypto::b64::encode_url(&state.keys.seal_secret(&plain, &flow_context(&p.id)));
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{FLOW_COOKIE}={sealed}; HttpOnly; SameSite=Lax; Path=/v1/login/oidc/; Max-Age={}",
            FLOW_MINUTES * 60
        ))
        .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// Query of the callback.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the sign-in failed.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// The provider's redirect back: checks the sign-in and starts a session.
#[utoipa::path(get, path = "/v1/login/oidc/{provider}/callback", tag = "access",
    params(("provider" = String, Path, description = "The provider's configured id"), CallbackQuery),
    responses(
        (status = 303, description = "Signed in: to return_to, with the session cookie"),
        (status = 401, description = "The sign-in failed or does not verify", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No user of the access model matches", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = provider(&state, &id)?;
    let refused = |why: String| ApiError::Unauthorized(format!("sign-in at {}: {why}", p.id));
    if let Some(error) = query.error {
        return Err(refused(format!(
            "the provider answered {error}: {}",
            query.error_description.unwrap_or_default()
        )));
    }
    let sealed = cookie(&headers, FLOW_COOKIE)
        .and_then(|c| tillit_crypto::b64::decode_url(&c).ok())
        .ok_or_else(|| {
            refused("the sign-in was not started here, or the cookie was lost".into())
        })?;
    let flow: Flow = state
        .keys
        .open_secret(&sealed, &flow_context(&p.id))
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .ok_or_else(|| refused("the sign-in state does not open".into()))?;
    if flow.exp < Utc::now().timestamp() {
        return Err(refused(
            "the sign-in took longer than ten minutes; start again".into(),
        ));
    }
    if query.state.as_deref() != Some(flow.state.as_str()) {
        return Err(refused(
            "state does not match the sign-in started here".into(),
        ));
    }
    let code = query.code.ok_or_else(|| refused("no code".into()))?;
    let m = metadata(&state, p).await?;
    let redirect = redirect_uri(&state, &p.id);
    let response = state
        .oidc
        .client()?
        .post(&m.token_endpoint)
        .basic_auth(&p.client_id, Some(p.client_secret.expose()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &flow.verifier),
        ]))
        .send()
        .await
        .map_err(|e| upstream("token endpoint", e))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| upstream("token endpoint", e))?;
    if !status.is_success() {
        return Err(refused(format!(
            "the token endpoint answered {status}: {body}"
        )));
    }
    let id_token = body
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| refused("the token response has no id_token".into()))?;
    let claims = verify_id_token(p, &m, id_token, &flow.nonce).map_err(refused)?;
    let loa = claims
        .get("acr")
        .and_then(Value::as_str)
        .and_then(Loa::from_uri)
        .unwrap_or(p.default_loa);
    let subject = claims
        .get(&p.match_claim)
        .and_then(Value::as_str)
        .ok_or_else(|| refused(format!("the id_token has no {} claim", p.match_claim)))?
        .to_owned();
    let user = match_user(&state, p, &subject, &claims).await?;
    let now = Utc::now();
    let session_id = tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<16>());
    let audit = AuditEvent {
        actor: format!("user:{user}"),
        org_id: None,
        action: "login.success".into(),
        object_id: Some(format!("{}:{subject}", p.id)),
        details: json!({ "provider": p.id, "acr": claims.get("acr"), "ial": loa.as_str(),
                         "aal": loa.as_str(), "fal": p.fal.as_str() }),
    };
    let replaces =
        cookie(&headers, SESSION_COOKIE).map(|old| tillit_crypto::sha256(old.as_bytes()));
    state
        .store
        .create_session(
            NewSession {
                id_hash: tillit_crypto::sha256(session_id.as_bytes()),
                user_id: user,
                username: None,
                ial: loa.as_str().to_owned(),
                aal: loa.as_str().to_owned(),
                fal: p.fal.as_str().to_owned(),
                expires_at: now + ABSOLUTE_TIMEOUT,
            },
            replaces,
            audit,
            now,
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let secure = if state.config.base_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(
        LOCATION,
        HeaderValue::from_str(&flow.return_to).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.append(
        SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={session_id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            ABSOLUTE_TIMEOUT.num_seconds()
        ))
        .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.append(
        SET_COOKIE,
        HeaderValue::from_static("tillit_oidc=; HttpOnly; Path=/v1/login/oidc/; Max-Age=0"),
    );
    Ok(response)
}

/// Checks an id_token (OpenID Connect Core §3.1.3.7) and returns its claims.
fn verify_id_token(
    p: &OidcProvider,
    m: &Metadata,
    token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, String> {
    let jws = jws::decode_compact(token).map_err(|e| format!("the id_token: {e}"))?;
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let verified = m
        .keys
        .iter()
        .filter(|(k, _)| kid.is_none() || k.as_deref() == kid)
        .any(|(_, key)| jws.verify(key, ID_TOKEN_ALGS).is_ok());
    if !verified {
        return Err("the id_token's signature does not verify with the provider's keys".into());
    }
    let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
        .map_err(|_| "the id_token's payload is not a JSON object".to_string())?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("iss") != Some(p.issuer.as_str()) {
        return Err(format!("the id_token's iss is not {}", p.issuer));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == p.client_id,
        Some(Value::Array(list)) => {
            list.iter()
                .any(|a| a.as_str() == Some(p.client_id.as_str()))
                && (list.len() == 1 || text("azp") == Some(p.client_id.as_str()))
        }
        _ => false,
    };
    if !audience_ok {
        return Err("the id_token is not for this client (aud, azp)".into());
    }
    let now = Utc::now().timestamp();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Err("the id_token has expired".into());
    }
    if text("nonce") != Some(nonce) {
        return Err("the id_token's nonce is not this sign-in's".into());
    }
    Ok(claims)
}

/// The access-model user for `subject`: the user with that id, or — when the provider
/// provisions — a new person and user added to the model as a new version.
async fn match_user(
    state: &AppState,
    p: &OidcProvider,
    subject: &str,
    claims: &Map<String, Value>,
) -> Result<String, ApiError> {
    let loaded = match state.access.model(&state.store).await {
        Ok(loaded) => Some(loaded),
        Err(crate::access::AccessServiceError::NoDocument) => None,
        Err(e) => return Err(crate::access_api::service_error(e)),
    };
    if loaded.as_ref().is_some_and(|l| l.model.has_user(subject)) {
        return Ok(subject.to_owned());
    }
    if !p.provision {
        return Err(ApiError::Forbidden(format!(
            "no user {subject:?} in the access model, and provider {} does not provision users",
            p.id
        )));
    }
    // The document as stored (without the built-in IT system the compiled model adds).
    use tillit_store::AccessRepo as _;
    let mut document = match state
        .store
        .latest_access_document()
        .await
        .map_err(store_error)?
    {
        Some(stored) => tillit_access::Document::from_json(&stored.document)
            .map_err(|e| ApiError::Internal(format!("the stored access document: {e}")))?,
        None => tillit_access::Document::default(),
    };
    // An id_token of the code flow usually carries no profile claims (they are at userinfo).
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let addition = json!({
        "persons": [{"id": subject, "name": name}],
        "users": [{"id": subject, "person": subject, "name": name}],
    });
    let addition = tillit_access::Document::from_json(&addition.to_string())
        .map_err(|e| ApiError::Internal(format!("provisioning document: {e}")))?;
    document.persons.extend(addition.persons);
    document.users.extend(addition.users);
    let (document, model) = crate::access::compile(document)
        .await
        .map_err(crate::access_api::service_error)?;
    crate::access::import(
        &state.store,
        Some(&state.access),
        &document,
        model,
        &format!("system:oidc:{}", p.id),
        Utc::now(),
        &|_| Ok(None),
    )
    .await
    .map_err(crate::access_api::service_error)?;
    Ok(subject.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_entries_give_their_keys() {
        let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
        // (JWK, the algorithms of the keys it gives)
        let cases: Vec<(Value, Vec<Algorithm>)> = vec![
            (
                serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "kid": "a"}),
                vec![Algorithm::Rs256, Algorithm::Ps256],
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"}),
                vec![Algorithm::Rs256],
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "PS256", "use": "sig"}),
                vec![Algorithm::Ps256],
            ),
            (
                serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "use": "enc"}),
                vec![],
            ),
            (
                serde_json::json!({"kty": "RSA", "n": &n[..171], "e": "AQAB"}),
                vec![],
            ),
            (serde_json::json!({"kty": "oct", "k": "AAAA"}), vec![]),
        ];
        for (json, want) in cases {
            let jwk: Jwk = serde_json::from_value(json.clone()).unwrap();
            let got: Vec<Algorithm> = jwks_entry_keys(&jwk)
                .into_iter()
                .map(|(_, k)| k.algorithm())
                .collect();
            assert_eq!(got, want, "{json}");
        }
    }
}
