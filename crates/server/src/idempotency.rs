//! `Idempotency-Key` on creating POSTs (DESIGN.md §4; IETF draft-ietf-httpapi-idempotency-key-header):
//! a client that retries a create with the same key gets the first response again, with
//! `Idempotent-Replayed: true`, instead of a second resource or a 409. The response is stored in
//! the transaction of the change it answers, so it exists exactly when the change does.
//!
//! Keys are per authenticated actor. Reusing a key for a different request is a 422. The key is
//! optional: without it a create behaves as before.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tillit_store::{IdempotencyRepo, IdempotentResponse, StoreError};

use crate::error::{store_error, ApiError};
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted, in bytes.
const MAX_KEY_LEN: usize = 255;

/// The request's key, if it sent one: 1–255 visible ASCII characters, bare or as a Structured
/// Field string (`"…"`, the draft's form).
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (e.g. a UUID), \
             optionally in double quotes"
        ))
    };
    let text = value.to_str().map_err(|_| bad())?;
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let visible = |b: u8| (0x21..=0x7e).contains(&b) && b != b'"';
    if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(visible) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// SHA-256 over the method, the path and the parsed request body: what "the same request" means.
pub fn request_hash(method: &str, path: &str, body: &impl Serialize) -> Result<[u8; 32], ApiError> {
    let mut bytes = format!("{method} {path}\n").into_bytes();
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| ApiError::Internal(format!("request hash: {e}")))?;
    Ok(tillit_crypto::sha256(&bytes))
}

/// What an idempotent create does first: answer with the first response when this key was seen
/// with this request, or go on (holding the key, when one was sent).
pub enum Begin {
    /// The first response to this key, to send again.
    Replay(Response),
    /// No response stored yet: create, remembering the response under the claim if there is one.
    Proceed(Option<Claim>),
}

/// A key sent with a create whose response is not stored yet.
#[derive(Debug, Clone)]
pub struct Claim {
    actor: String,
    key: String,
    hash: [u8; 32],
}

/// Reads the `Idempotency-Key` of a create (`method`, `path`, parsed `body`) by `actor`.
pub async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    actor: &str,
    method: &str,
    path: &str,
    body: &impl Serialize,
) -> Result<Begin, ApiError> {
    let Some(key) = key(headers)? else {
        return Ok(Begin::Proceed(None));
    };
    let hash = request_hash(method, path, body)?;
    if let Some(first) = replay(state, actor, &key, &hash).await? {
        return Ok(Begin::Replay(first));
    }
    Ok(Begin::Proceed(Some(Claim {
        actor: actor.to_owned(),
        key,
        hash,
    })))
}

impl Claim {
    /// The response to store in the create's own transaction.
    pub fn remember(
        &self,
        status: StatusCode,
        location: Option<String>,
        body: String,
        at: DateTime<Utc>,
    ) -> IdempotentResponse {
        IdempotentResponse {
            actor: self.actor.clone(),
            key: self.key.clone(),
            request_hash: self.hash,
            status: status.as_u16(),
            location,
            body,
            created_at: at,
        }
    }
}

/// The answer to a create the store refused with `err`: when it is a conflict and a concurrent
/// request with the same key got there first, that request's response; else the error.
pub async fn after_store_error(
    state: &AppState,
    claim: Option<&Claim>,
    err: StoreError,
) -> Result<Response, ApiError> {
    if let (StoreError::Conflict { .. }, Some(c)) = (&err, claim) {
        if let Some(first) = replay(state, &c.actor, &c.key, &c.hash).await? {
            return Ok(first);
        }
    }
    Err(store_error(err))
}

/// The stored response for `actor`'s `key` as an HTTP response, if there is one for this same
/// request; a 422 problem when the key was used for a different request.
pub async fn replay(
    state: &AppState,
    actor: &str,
    key: &str,
    request_hash: &[u8; 32],
) -> Result<Option<Response>, ApiError> {
    let Some(stored) = state
        .store
        .idempotent_response(actor, key)
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    if &stored.request_hash != request_hash {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!(
                "key {key:?} was already used for a different request; send a new key with a new request"
            ),
        ));
    }
    Ok(Some(to_response(stored)))
}

fn to_response(stored: IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        HeaderName::from_static(REPLAYED),
        HeaderValue::from_static("true"),
    );
    if let Some(location) = stored.location.and_then(|l| HeaderValue::try_from(l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (
                b"8e03978e-40d5-43e8-bc93-6894a57f9324",
                Some("8e03978e-40d5-43e8-bc93-6894a57f9324"),
            ),
            (b"\"8e03978e-40d5\"", Some("8e03978e-40d5")),
            (b"a", Some("a")),
            (b"", None),
            (b"\"\"", None),
            (b"with space", None),
            (b"tab\there", None),
            (b"\"unterminated", None),
            (b"\xc3\xa5ngstr\xc3\xb6m", None),
        ];
        for (raw, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, HeaderValue::from_bytes(raw).unwrap());
            let got = key(&headers).ok().flatten();
            assert_eq!(got.as_deref(), *want, "{:?}", String::from_utf8_lossy(raw));
        }
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(&long).unwrap());
        assert!(key(&headers).is_err());
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn the_same_request_hashes_the_same() {
        let a = request_hash("POST", "/v1/orgs", &serde_json::json!({"name": "A"})).unwrap();
        let b = request_hash("POST", "/v1/orgs", &serde_json::json!({"name": "A"})).unwrap();
        let c = request_hash("POST", "/v1/orgs", &serde_json::json!({"name": "B"})).unwrap();
        let d = request_hash("POST", "/v1/other", &serde_json::json!({"name": "A"})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
