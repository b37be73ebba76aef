//! Operational endpoints: liveness, readiness, metrics and the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, Problem};
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// Health or readiness status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// Always `ok` when the answer is 200.
    pub status: String,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server is alive", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// How long `/readyz` waits for a write transaction to begin before it reports not ready.
const READY_WRITE_BOUND: Duration = Duration::from_secs(2);

/// Readiness: the database answers reads, and a write transaction can begin within 2 s on a
/// writable database (a server whose writes are stuck is not ready, though it still reads).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The server can serve requests, reads and writes", body = Status),
        (status = 503, description = "The database does not answer, or cannot take writes now (the detail says which)", body = Problem,
         content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database does not answer: {e}")))?;
    state
        .store
        .check_writable(READY_WRITE_BOUND)
        .await
        .map_err(|e| ApiError::Unavailable(format!("not ready for writes: {e}")))?;
    Ok(Json(Status {
        status: "ok".into(),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
               content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
               body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
