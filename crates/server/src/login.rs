//! Local sign-in (issue 9 item 6): accounts with an Argon2id password (OWASP parameters) and
//! optionally TOTP, each signing in as one user of the access model; sessions with 128-bit random
//! ids (only their SHA-256 is stored), a new id at every login (the old session ends), an idle
//! timeout of [`IDLE_TIMEOUT`] and an absolute one of [`ABSOLUTE_TIMEOUT`], revocable by logging
//! out; failed logins limited per account ([`MAX_FAILURES`] per [`FAILURE_WINDOW`], then 429 with
//! `Retry-After`), each audited and counted in the store, so that the limit holds across every
//! instance of an installation.
//!
//! **Assurance.** A session records IAL (the account's registration, set when it was made), AAL
//! (password: Low; password and TOTP: Substantial — NSIS asks two factors, one of them dynamic)
//! and FAL (High: a local login is not federated), and decides at their minimum.
//!
//! **The cookie** `tillit_session` is `HttpOnly; SameSite=Strict; Path=/` (and `Secure` when the
//! public base URL is https). A state-changing request authenticated by it must come from this
//! origin (`Origin` equal to the public base URL's, or `Sec-Fetch-Site: same-origin`); forms of
//! the pages will add a CSRF token on top.

use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tillit_audit::AuditEvent;
use tillit_core::{Loa, LoginAssurance};
use tillit_store::{LimitRepo, NewAccount, NewSession, Session, SessionRepo};
use utoipa::ToSchema;

use crate::auth::{authorize, Authenticated, Permission, Principal, Subject, Target};
use crate::error::{store_error, ApiError, Problem};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tillit_session";

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);

/// A session ends this long after the login, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);

/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Failed logins allowed per account within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;

/// The window failed logins are counted in.
pub const FAILURE_WINDOW: StdDuration = StdDuration::from_secs(15 * 60);

/// Shortest and longest password accepted (NIST SP 800-63B §3.1.1.2 asks at least 8 and at least
/// 64 allowed; 12 is the common public-sector floor).
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 12..=256;

/// Context the TOTP secrets are sealed under.
fn totp_context(username: &str) -> String {
    format!("tillit-totp/v1:{username}")
}

/// Seconds `username` must wait before trying again (None: it may try now): after
/// [`MAX_FAILURES`] failed logins within [`FAILURE_WINDOW`] at any instance of the installation
/// (they are counted in the store), until the oldest of them leaves the window.
async fn blocked(
    state: &AppState,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<u64>, ApiError> {
    let window = failure_window();
    let (count, oldest) = state
        .store
        .login_failures_since(username, now - window)
        .await
        .map_err(store_error)?;
    if count < MAX_FAILURES as u64 {
        return Ok(None);
    }
    let wait = oldest.map_or(window, |t| t + window - now);
    Ok(Some(u64::try_from(wait.num_seconds()).unwrap_or(0).max(1)))
}

fn failure_window() -> Duration {
    Duration::from_std(FAILURE_WINDOW).unwrap_or_else(|_| Duration::minutes(15))
}

fn parse_loa(field: &str, text: &str) -> Result<Loa, ApiError> {
    serde_json::from_value::<Loa>(json!(text))
        .map_err(|_| ApiError::field(field, "one of low, substantial, high"))
}

fn normalise_username(name: &str) -> Result<String, ApiError> {
    let name = name.trim().to_lowercase();
    let ok = (3..=100).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::field(
            "username",
            "3-100 letters, digits, `.`, `_`, `-` or `@`",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// Body of `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// The sign-in name (3-100 letters, digits, `.`, `_`, `-`, `@`; compared in lower case).
    #[schema(example = "kalle.anka@ankeborg.se", min_length = 3, max_length = 100)]
    pub username: String,
    /// The access-model user it signs in as.
    #[schema(example = "kalle", min_length = 1, max_length = 200)]
    pub user: String,
    /// 12-256 characters.
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
    /// How well the person's identity was established when the account was made (IAL):
    /// `low` (default), `substantial`, `high`.
    #[schema(example = "substantial", pattern = "^(low|substantial|high)$")]
    pub ial: Option<String>,
    /// Whether sign-in also asks a TOTP code; the answer then carries the `otpauth://` URI to
    /// put in an authenticator app (shown once).
    #[serde(default)]
    pub totp: bool,
}

/// An account just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub username: String,
    pub user: String,
    pub ial: String,
    pub totp: bool,
    /// For the authenticator app (scan as a QR code); shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpauth_uri: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Make a local sign-in account for a user of the access model. Needs `access.manage` without
/// restriction.
#[utoipa::path(post, path = "/v1/accounts", tag = "access",
    request_body = CreateAccount,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Made", body = AccountView),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, or a user the access model does not know", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_account(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Json(body): Json<CreateAccount>,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ManageAccess,
        Target::Installation,
    )
    .await?;
    let username = normalise_username(&body.username)?;
    if !PASSWORD_CHARS.contains(&body.password.chars().count()) {
        return Err(ApiError::field("password", "12-256 characters"));
    }
    let ial = parse_loa("ial", body.ial.as_deref().unwrap_or("low"))?;
    crate::access_api::require_model_user(&state, &body.user).await?;
    let password = body.password;
    let password_hash =
        tokio::task::spawn_blocking(move || tillit_crypto::password::hash(&password))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let totp_secret = body.totp.then(tillit_crypto::random_bytes::<20>);
    let totp_sealed = totp_secret
        .map(|secret| hex::encode(state.keys.seal_secret(&secret, &totp_context(&username))));
    let audit = AuditEvent {
        actor: principal.actor(),
        org_id: None,
        action: "account.create".into(),
        object_id: Some(username.clone()),
        details: json!({ "user": body.user, "ial": ial.as_str(), "totp": body.totp }),
    };
    let account = state
        .store
        .create_account(
            NewAccount {
                username: username.clone(),
                user_id: body.user,
                password_hash,
                totp_sealed,
                ial: ial.as_str().to_owned(),
            },
            audit,
            Utc::now(),
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let otpauth_uri =
        totp_secret.map(|secret| tillit_crypto::totp::otpauth_uri("Tillit", &username, &secret));
    Ok((
        StatusCode::CREATED,
        Json(AccountView {
            username: account.username,
            user: account.user_id,
            ial: account.ial,
            totp: otpauth_uri.is_some(),
            otpauth_uri,
            created_at: account.created_at,
        }),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Login, session, logout

/// Body of `POST /v1/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "kalle.anka@ankeborg.se", max_length = 100)]
    pub username: String,
    #[schema(max_length = 256)]
    pub password: String,
    /// The authenticator app's 6-digit code, for accounts with TOTP.
    #[schema(example = "492039", pattern = "^[0-9]{6}$")]
    pub totp: Option<String>,
}

/// The signed-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The access-model user.
    pub user: String,
    pub username: Option<String>,
    /// The login's level: the lowest of `ial`, `aal` and `fal`.
    pub loa: String,
    /// The same level as the NSIS URI.
    pub acr: String,
    pub ial: String,
    pub aal: String,
    pub fal: String,
    pub created_at: DateTime<Utc>,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
    /// The session also ends after this many seconds without a request.
    pub idle_timeout_seconds: i64,
}

fn assurance(session: &Session) -> Option<LoginAssurance> {
    let get = |s: &str| serde_json::from_value::<Loa>(json!(s)).ok();
    Some(LoginAssurance {
        ial: get(&session.ial)?,
        aal: get(&session.aal)?,
        fal: get(&session.fal)?,
    })
}

impl SessionView {
    fn of(session: &Session) -> Result<Self, ApiError> {
        let loa = assurance(session)
            .ok_or_else(|| ApiError::Internal("a stored session has an unknown level".into()))?
            .loa();
        Ok(Self {
            user: session.user_id.clone(),
            username: session.username.clone(),
            loa: loa.as_str().to_owned(),
            acr: loa.nsis_uri().to_owned(),
            ial: session.ial.clone(),
            aal: session.aal.clone(),
            fal: session.fal.clone(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            idle_timeout_seconds: IDLE_TIMEOUT.num_seconds(),
        })
    }
}

fn session_cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.base_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("tillit_session=; Max-Age=0"))
}

fn failure(username: &str, reason: &str) -> AuditEvent {
    AuditEvent {
        actor: format!("login:{username}"),
        org_id: None,
        action: "login.failure".into(),
        object_id: Some(username.to_owned()),
        details: json!({ "reason": reason }),
    }
}

/// Sign in with a local account.
///
/// Answers the session and sets the `tillit_session` cookie (a new id at every login; a session
/// the request came with ends). A wrong name, password or code is one 401 that does not say
/// which; after five failures within 15 minutes the account is refused for a while (429 with
/// `Retry-After`).
#[utoipa::path(post, path = "/v1/login", tag = "access",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = SessionView),
        (status = 401, description = "Wrong username, password or code", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that is not a login request (an unknown or missing field)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let username = body.username.trim().to_lowercase();
    if let Some(retry_after) = blocked(&state, &username, Utc::now()).await? {
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "too many failed logins for this account; try again in {retry_after} seconds"
            ),
            retry_after,
        });
    }
    let refused = || ApiError::Unauthorized("wrong username, password or code".into());
    let account = state
        .store
        .get_account(&username)
        .await
        .map_err(store_error)?;
    let phc = account.as_ref().map_or_else(
        || tillit_crypto::password::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let password = body.password;
    let password_ok =
        tokio::task::spawn_blocking(move || tillit_crypto::password::verify(&password, &phc))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = Utc::now();
    let account = match account {
        Some(a) if password_ok && a.disabled_at.is_none() => a,
        _ => {
            let reason = if password_ok { "disabled" } else { "password" };
            record_failure(&state, &username, failure(&username, reason), now).await;
            return Err(refused());
        }
    };
    let aal = match &account.totp_sealed {
        None => Loa::Low,
        Some(sealed) => {
            let secret = hex::decode(sealed)
                .map_err(|e| ApiError::Internal(format!("stored TOTP secret: {e}")))?;
            let secret = state
                .keys
                .open_secret(&secret, &totp_context(&account.username))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let step = body.totp.as_deref().and_then(|code| {
                tillit_crypto::totp::verify(&secret, code, now.timestamp(), account.totp_last_step)
            });
            let fresh = match step {
                Some(step) => state
                    .store
                    .use_totp_step(&account.username, step)
                    .await
                    .map_err(store_error)?,
                None => false,
            };
            if !fresh {
                record_failure(&state, &username, failure(&username, "totp"), now).await;
                return Err(refused());
            }
            Loa::Substantial
        }
    };
    state
        .store
        .clear_login_failures(&username)
        .await
        .map_err(store_error)?;
    let ial = parse_loa("ial", &account.ial)?;
    let id = tillit_crypto::b64::encode_url(&tillit_crypto::random_bytes::<16>());
    let replaces = session_cookie_value(&headers).map(|old| tillit_crypto::sha256(old.as_bytes()));
    let audit = AuditEvent {
        actor: format!("user:{}", account.user_id),
        org_id: None,
        action: "login.success".into(),
        object_id: Some(account.username.clone()),
        details: json!({ "ial": ial.as_str(), "aal": aal.as_str(), "fal": "high" }),
    };
    let session = state
        .store
        .create_session(
            NewSession {
                id_hash: tillit_crypto::sha256(id.as_bytes()),
                user_id: account.user_id.clone(),
                username: Some(account.username.clone()),
                ial: ial.as_str().to_owned(),
                aal: aal.as_str().to_owned(),
                fal: Loa::High.as_str().to_owned(),
                expires_at: now + ABSOLUTE_TIMEOUT,
            },
            replaces,
            audit,
            now,
        )
        .await
        .map_err(store_error)?;
    state.audit_written.notify_one();
    let mut response = Json(SessionView::of(&session)?).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        cookie(&state, &id, ABSOLUTE_TIMEOUT.num_seconds()),
    );
    Ok(response)
}

/// Counts and audits a failed login; a store that cannot take it does not change the answer.
async fn record_failure(state: &AppState, username: &str, event: AuditEvent, at: DateTime<Utc>) {
    use tillit_store::AuditRepo as _;
    if let Err(e) = state
        .store
        .record_login_failure(username, at, at - failure_window())
        .await
    {
        tracing::warn!(error = %e, "could not count a failed login");
    }
    if let Err(e) = state.store.append_audit(event, at).await {
        tracing::warn!(error = %e, "could not audit a failed login");
    } else {
        state.audit_written.notify_one();
    }
}

/// The session the request's cookie names, if it is live.
async fn live_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, [u8; 32])>, ApiError> {
    let Some(value) = session_cookie_value(headers) else {
        return Ok(None);
    };
    let hash = tillit_crypto::sha256(value.as_bytes());
    let Some(session) = state.store.get_session(&hash).await.map_err(store_error)? else {
        return Ok(None);
    };
    let now = Utc::now();
    let live = session.revoked_at.is_none()
        && session.expires_at > now
        && session.last_seen_at + IDLE_TIMEOUT > now;
    if !live {
        return Ok(None);
    }
    if session.last_seen_at + TOUCH_EVERY < now {
        state
            .store
            .touch_session(&hash, now)
            .await
            .map_err(store_error)?;
    }
    Ok(Some((session, hash)))
}

/// The principal of a request authenticated by its session cookie (for [`Authenticated`]);
/// None without a live session. A state-changing request must come from this origin.
pub async fn session_principal(
    state: &AppState,
    parts: &Parts,
) -> Result<Option<Principal>, ApiError> {
    let Some((session, _)) = live_session(state, &parts.headers).await? else {
        return Ok(None);
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_origin(state, &parts.headers) {
        return Err(ApiError::Forbidden(
            "a request signed in by cookie must come from this site (Origin or \
             Sec-Fetch-Site: same-origin)"
                .into(),
        ));
    }
    Ok(Some(Principal {
        token_id: None,
        subject: Subject::User(session.user_id.clone()),
        loa: assurance(&session).map(|a| a.loa()),
    }))
}

fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("same-origin") {
        return true;
    }
    let base = state.config.base_url();
    let origin = base.trim_end_matches('/');
    // The origin is scheme://host[:port], without the path of the base URL.
    let origin = origin
        .find("://")
        .and_then(|i| origin[i + 3..].find('/').map(|j| &origin[..i + 3 + j]))
        .unwrap_or(origin);
    header("origin") == Some(origin)
}

/// The current session (from the cookie).
#[utoipa::path(get, path = "/v1/session", tag = "access",
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionView>, ApiError> {
    match live_session(&state, &headers).await? {
        Some((session, _)) => Ok(Json(SessionView::of(&session)?)),
        None => Err(ApiError::Unauthorized("not signed in".into())),
    }
}

/// Sign out: the session ends and the cookie is cleared.
#[utoipa::path(post, path = "/v1/logout", tag = "access",
    responses(
        (status = 204, description = "Signed out (also when there was no session)"),
        (status = 403, description = "A cross-site request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((session, hash)) = live_session(&state, &headers).await? {
        if !same_origin(&state, &headers) {
            return Err(ApiError::Forbidden(
                "sign out from this site (Origin or Sec-Fetch-Site: same-origin)".into(),
            ));
        }
        let audit = AuditEvent {
            actor: format!("user:{}", session.user_id),
            org_id: None,
            action: "logout".into(),
            object_id: session.username.clone(),
            details: json!({}),
        };
        state
            .store
            .revoke_session(&hash, audit, Utc::now())
            .await
            .map_err(store_error)?;
        state.audit_written.notify_one();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, "", 0));
    Ok(response)
}
