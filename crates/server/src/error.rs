//! The one API error type and its rendering as RFC 9457 problem details.
//!
//! Handlers return [`ApiError`]. Every other error response — axum's rejections (bad JSON, wrong
//! content type), the 404 fallback, 405 from the method router, 413 from the body limit, a
//! caught panic — is converted into a problem by [`problem_middleware`], so every error body the
//! API sends is `application/problem+json` rendered by [`Problem::into_response`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type` URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:tillit:problem:";

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type, e.g. `urn:tillit:problem:validation`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (also in the `X-Request-Id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation problems: which fields are wrong and why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer-like name of the field, e.g. `country`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts: try again after `retry_after` seconds (sent as `Retry-After`).
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    /// The detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation problem about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError::Validation {
            detail: format!("`{field}`: {message}"),
            errors: vec![FieldError { field, message }],
        }
    }

    /// Status code, problem slug and title.
    pub fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Validation { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The problem document for this error (without instance and request id).
    pub fn to_problem(&self) -> Problem {
        let (status, slug, title) = self.kind();
        let detail = match self {
            ApiError::Internal(_) => {
                Some("An unexpected error occurred; it has been logged with the request id.".into())
            }
            ApiError::MethodNotAllowed | ApiError::PayloadTooLarge => None,
            other => Some(other.to_string()),
        };
        let errors = match self {
            ApiError::Validation { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        Problem {
            type_: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            instance: None,
            request_id: None,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let mut response = self.to_problem().into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tillit\""),
            );
        }
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(ProblemRendered);
        response
    }
}

/// Marks a response whose body is already a problem document.
#[derive(Clone, Copy)]
struct ProblemRendered;

/// Largest body of a non-problem error response read to use as the problem's detail.
const MAX_DETAIL_BODY: usize = 4096;

/// Turns every error response into a problem document and fills in `instance` and
/// `request_id`. Must run inside the request-id layer.
/// Marks an error response that must reach the client as it is, not as a problem document
/// (the OAuth token endpoint's RFC 6749 §5.2 errors).
#[derive(Debug, Clone, Copy)]
pub struct PassThrough;

pub async fn problem_middleware(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let request_id = request
        .headers()
        .get(crate::app::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<PassThrough>().is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let already = parts.extensions.get::<ProblemRendered>().is_some();
    let bytes = axum::body::to_bytes(body, if already { usize::MAX } else { MAX_DETAIL_BODY })
        .await
        .unwrap_or_default();
    let mut problem: Problem = if already {
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(value) => problem_from_value(value, status),
            Err(_) => ApiError::Internal("unreadable problem body".into()).to_problem(),
        }
    } else {
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        error_for_status(status, text).to_problem()
    };
    let mut rendered =
        if path == crate::scim::PREFIX || path.starts_with(&format!("{}/", crate::scim::PREFIX)) {
            let detail = problem.detail.take().unwrap_or(problem.title);
            crate::scim::ScimError::new(status, None, detail).into_response()
        } else {
            problem.instance = Some(path);
            problem.request_id = request_id;
            problem.into_response()
        };
    // Keep headers such as `Allow` (405) and `WWW-Authenticate` (401).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

fn problem_from_value(value: serde_json::Value, status: StatusCode) -> Problem {
    let get = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let errors = value
        .get("errors")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(FieldError {
                        field: e.get("field")?.as_str()?.to_string(),
                        message: e.get("message")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Problem {
        type_: get("type").unwrap_or_else(|| format!("{PROBLEM_TYPE_PREFIX}internal")),
        title: get("title").unwrap_or_default(),
        status: status.as_u16(),
        detail: get("detail"),
        instance: None,
        request_id: None,
        errors,
    }
}

/// Maps an error response produced outside our handlers (axum rejections, fallbacks, layers) to
/// an [`ApiError`]; `text` is its plain-text body, used as detail for client errors.
fn error_for_status(status: StatusCode, text: String) -> ApiError {
    let detail = |default: &str| {
        if text.is_empty() {
            default.to_string()
        } else {
            text.clone()
        }
    };
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(detail("no such resource")),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(detail(
            "expected request with `Content-Type: application/json`",
        )),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Validation {
            detail: detail("the request body does not match the expected shape"),
            errors: Vec::new(),
        },
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(detail("missing or invalid token")),
        StatusCode::FORBIDDEN => ApiError::Forbidden(detail("not allowed")),
        StatusCode::CONFLICT => ApiError::Conflict(detail("conflict")),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(detail("try again later")),
        s if s.is_client_error() => ApiError::BadRequest(detail("the request is not valid")),
        // Never forward a server error body: it may hold internals.
        _ => ApiError::Internal(format!("{status} response without problem body")),
    }
}

/// Response for a caught panic: a plain 500 problem, no panic message, no stack trace.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = %message, "handler panicked");
    ApiError::Internal("handler panicked".into())
        .to_problem()
        .into_response()
}

/// The one mapping from store errors to problems: conflicts 409, missing rows 404, bad cursors
/// and page sizes 422/400, a database that is busy or shutting down 503 (retry); the rest is a
/// server fault (500, detail logged only).
pub(crate) fn store_error(err: tillit_store::StoreError) -> ApiError {
    use tillit_store::StoreError;
    match err {
        StoreError::Conflict { what, .. } => ApiError::Conflict(format!("{what} already exists")),
        StoreError::NotFound { what, id } => ApiError::NotFound(format!("{what} {id} not found")),
        StoreError::InvalidCursor(c) => ApiError::field(
            "cursor",
            format!("unknown cursor {c:?}: pass next_cursor unchanged"),
        ),
        StoreError::Core(e) => ApiError::BadRequest(e.to_string()),
        StoreError::Refused(why) => ApiError::Conflict(why),
        StoreError::Invalid(why) => ApiError::Validation {
            detail: why,
            errors: Vec::new(),
        },
        other if other.is_storage_full() => ApiError::Unavailable(
            "the database's disk is full: nothing was written; free disk space, then retry".into(),
        ),
        other if other.is_unavailable() => {
            ApiError::Unavailable("the database is busy or shutting down; try again".into())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// Key-service errors: a store error maps as [`store_error`] does (an unavailable database is a
/// 503, not a 500); the rest (a key that does not unseal, a bad stored JWK) is a server fault.
pub(crate) fn key_error(err: crate::keys::KeyError) -> ApiError {
    match err {
        crate::keys::KeyError::Store(e) => store_error(e),
        other => ApiError::Internal(other.to_string()),
    }
}
