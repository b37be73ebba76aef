//! The router: routes, the layers every request passes through, and the route table that the
//! OpenAPI test checks.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, Method};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::{panic_response, problem_middleware, ApiError};
use crate::metrics::metrics_middleware;
use crate::state::AppState;
use crate::{
    access_api, attestations, audit_api, batches, health, jobs, keys, login, oauth, oid4vci, oidc,
    orgs, scim, tokens_api, trust,
};

/// Name of the request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Every route of the API: (method, path). The OpenAPI test checks that each one is documented.
#[derive(Default)]
pub struct RouteTable {
    router: Router<AppState>,
    /// Routes that stream their (large) request bodies and bound them themselves, outside
    /// `body_limit`.
    uploads: Router<AppState>,
    routes: Vec<(Method, &'static str)>,
}

impl RouteTable {
    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.routes.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    /// [`RouteTable::add`] for a route that streams its body (not subject to `body_limit`).
    fn upload(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.routes.push((method, path));
        self.uploads = self.uploads.route(path, handler);
        self
    }

    /// The (method, path) pairs, paths in OpenAPI form (`/v1/orgs/{id}`).
    pub fn routes(&self) -> &[(Method, &'static str)] {
        &self.routes
    }
}

fn route<H, T>(method: Method, handler: H) -> MethodRouter<AppState>
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let filter = match method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    };
    on(filter, handler)
}

/// The route table of the whole API.
pub fn route_table() -> RouteTable {
    let get = Method::GET;
    let post = Method::POST;
    RouteTable::default()
        .add(get.clone(), "/healthz", route(get.clone(), health::healthz))
        .add(get.clone(), "/readyz", route(get.clone(), health::readyz))
        .add(get.clone(), "/metrics", route(get.clone(), health::metrics))
        .add(
            get.clone(),
            "/v1/openapi.json",
            route(get.clone(), health::openapi_json),
        )
        .add(post.clone(), "/v1/orgs", route(post.clone(), orgs::create))
        .add(
            post.clone(),
            "/v1/tokens",
            route(post.clone(), tokens_api::create),
        )
        .add(
            get.clone(),
            "/v1/tokens",
            route(get.clone(), tokens_api::list),
        )
        .add(
            post.clone(),
            "/v1/tokens/{id}/revoke",
            route(post.clone(), tokens_api::revoke),
        )
        .add(
            post.clone(),
            "/v1/clients",
            route(post.clone(), oauth::register_client),
        )
        .add(
            get.clone(),
            "/v1/clients",
            route(get.clone(), oauth::list_clients),
        )
        .add(
            post.clone(),
            "/v1/clients/{client_id}/revoke",
            route(post.clone(), oauth::revoke_client),
        )
        .add(
            post.clone(),
            "/oauth/token",
            route(post.clone(), oauth::token),
        )
        .add(get.clone(), "/oauth/jwks", route(get.clone(), oauth::jwks))
        .add(
            post.clone(),
            "/v1/accounts",
            route(post.clone(), login::create_account),
        )
        .add(post.clone(), "/v1/login", route(post.clone(), login::login))
        .add(
            get.clone(),
            "/v1/session",
            route(get.clone(), login::session),
        )
        .add(
            post.clone(),
            "/v1/logout",
            route(post.clone(), login::logout),
        )
        .add(
            post.clone(),
            "/v1/access/assignments",
            route(post.clone(), access_api::assign),
        )
        .add(
            post.clone(),
            "/v1/access/assignments/{id}/end",
            route(post.clone(), access_api::end_assignment),
        )
        .add(
            get.clone(),
            "/v1/login/oidc/{provider}",
            route(get.clone(), oidc::start),
        )
        .add(
            get.clone(),
            "/v1/login/oidc/{provider}/callback",
            route(get.clone(), oidc::callback),
        )
        .add(
            get.clone(),
            "/.well-known/oauth-authorization-server",
            route(get.clone(), oauth::authorization_server_metadata),
        )
        .add(
            get.clone(),
            "/.well-known/openid-configuration",
            route(get.clone(), oauth::openid_configuration),
        )
        .add(get.clone(), "/v1/orgs", route(get.clone(), orgs::list))
        .add(get.clone(), "/v1/orgs/{id}", route(get.clone(), orgs::get))
        .add(
            get.clone(),
            "/v1/audit/entries",
            route(get.clone(), audit_api::entries),
        )
        .add(
            get.clone(),
            "/v1/audit/tree-heads/latest",
            route(get.clone(), audit_api::latest_tree_head),
        )
        .add(
            get.clone(),
            "/v1/audit/tree-heads/{tree_size}",
            route(get.clone(), audit_api::tree_head_at_size),
        )
        .add(
            get.clone(),
            "/v1/audit/keys",
            route(get.clone(), audit_api::audit_keys),
        )
        .add(
            get.clone(),
            "/v1/audit/proofs/inclusion",
            route(get.clone(), audit_api::inclusion_proof),
        )
        .add(
            get.clone(),
            "/v1/audit/proofs/consistency",
            route(get.clone(), audit_api::consistency_proof),
        )
        .add(
            post.clone(),
            "/v1/orgs/{org}/types",
            route(post.clone(), attestations::create_type),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/types",
            route(get.clone(), attestations::list_types),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/types/{slug}",
            route(get.clone(), attestations::get_type),
        )
        .add(
            get.clone(),
            "/vct/{org}/{slug}",
            route(get.clone(), attestations::type_metadata),
        )
        .add(
            post.clone(),
            "/v1/orgs/{org}/attestations",
            route(post.clone(), attestations::issue),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/attestations",
            route(get.clone(), attestations::list_register),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/attestations/{id}",
            route(get.clone(), attestations::get_register),
        )
        .add(
            post.clone(),
            "/v1/orgs/{org}/attestations/{id}/status",
            route(post.clone(), attestations::change_status),
        )
        .add(
            get.clone(),
            "/statuslists/{id}",
            route(get.clone(), attestations::status_list),
        )
        .add(
            get.clone(),
            "/.well-known/jwt-vc-issuer/orgs/{org}",
            route(get.clone(), attestations::issuer_metadata),
        )
        .add(
            post.clone(),
            "/v1/verify",
            route(post.clone(), attestations::verify_online),
        )
        .add(
            get.clone(),
            "/v1/trust/list",
            route(get.clone(), trust::list),
        )
        .add(
            get.clone(),
            "/v1/trust/bundle",
            route(get.clone(), trust::bundle),
        )
        .add(
            get.clone(),
            "/v1/trust/keys",
            route(get.clone(), trust::keys),
        )
        .upload(
            post.clone(),
            "/v1/orgs/{org}/attestations/batches",
            route(post.clone(), batches::create),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/attestations/batches/{id}",
            route(get.clone(), batches::get),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/attestations/batches/{id}/results",
            route(get.clone(), batches::results),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/attestations/batches/{id}/cards.pdf",
            route(get.clone(), batches::cards),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/jobs",
            route(get.clone(), jobs::list),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/jobs/{id}",
            route(get.clone(), jobs::get),
        )
        .add(
            post.clone(),
            "/v1/access/import",
            route(post.clone(), access_api::import),
        )
        .add(
            get.clone(),
            "/v1/access/export",
            route(get.clone(), access_api::export),
        )
        .add(
            post.clone(),
            "/v1/access/check",
            route(post.clone(), access_api::check),
        )
        .add(
            get.clone(),
            "/v1/access/users/{id}/rights",
            route(get.clone(), access_api::user_rights),
        )
        .add(
            get.clone(),
            "/v1/access/violations",
            route(get.clone(), access_api::violations),
        )
        // Issuer key rotation and OpenID4VCI (oid4vci.rs).
        .add(
            post.clone(),
            "/v1/orgs/{org}/keys/rotate",
            route(post.clone(), keys::rotate_issuer_key),
        )
        .add(
            get.clone(),
            "/.well-known/openid-credential-issuer/orgs/{org}",
            route(get.clone(), oid4vci::credential_issuer_metadata),
        )
        .add(
            get.clone(),
            "/.well-known/oauth-authorization-server/orgs/{org}",
            route(get.clone(), oid4vci::authorization_server_metadata),
        )
        .add(
            post.clone(),
            "/v1/orgs/{org}/credential-offers",
            route(post.clone(), oid4vci::create_offer),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/credential-offers/{id}/qr.png",
            route(get.clone(), oid4vci::offer_qr_png),
        )
        .add(
            get.clone(),
            "/v1/orgs/{org}/credential-offers/{id}/qr.svg",
            route(get.clone(), oid4vci::offer_qr_svg),
        )
        .add(
            get.clone(),
            "/orgs/{org}/oid4vci/offers/{id}",
            route(get.clone(), oid4vci::credential_offer),
        )
        .add(
            post.clone(),
            "/orgs/{org}/oid4vci/token",
            route(post.clone(), oid4vci::token),
        )
        .add(
            post.clone(),
            "/orgs/{org}/oid4vci/nonce",
            route(post.clone(), oid4vci::nonce),
        )
        .add(
            post.clone(),
            "/orgs/{org}/oid4vci/credential",
            route(post, oid4vci::credential),
        )
        // SCIM 2.0 provisioning (scim): discovery, Users, Groups.
        .add(
            Method::GET,
            "/scim/v2/ServiceProviderConfig",
            route(Method::GET, scim::service_provider_config),
        )
        .add(
            Method::GET,
            "/scim/v2/ResourceTypes",
            route(Method::GET, scim::resource_types),
        )
        .add(
            Method::GET,
            "/scim/v2/ResourceTypes/{id}",
            route(Method::GET, scim::resource_type),
        )
        .add(
            Method::GET,
            "/scim/v2/Schemas",
            route(Method::GET, scim::schemas),
        )
        .add(
            Method::GET,
            "/scim/v2/Schemas/{id}",
            route(Method::GET, scim::schema),
        )
        .add(
            Method::POST,
            "/scim/v2/.search",
            route(Method::POST, scim::search),
        )
        .add(
            Method::GET,
            "/scim/v2/{resource}",
            route(Method::GET, scim::unknown),
        )
        .add(
            Method::GET,
            "/scim/v2/Users",
            route(Method::GET, scim::list_users),
        )
        .add(
            Method::POST,
            "/scim/v2/Users",
            route(Method::POST, scim::create_user),
        )
        .add(
            Method::GET,
            "/scim/v2/Users/{id}",
            route(Method::GET, scim::get_user),
        )
        .add(
            Method::PUT,
            "/scim/v2/Users/{id}",
            route(Method::PUT, scim::replace_user),
        )
        .add(
            Method::PATCH,
            "/scim/v2/Users/{id}",
            route(Method::PATCH, scim::patch_user),
        )
        .add(
            Method::DELETE,
            "/scim/v2/Users/{id}",
            route(Method::DELETE, scim::delete_user),
        )
        .add(
            Method::GET,
            "/scim/v2/Groups",
            route(Method::GET, scim::list_groups),
        )
        .add(
            Method::POST,
            "/scim/v2/Groups",
            route(Method::POST, scim::create_group),
        )
        .add(
            Method::GET,
            "/scim/v2/Groups/{id}",
            route(Method::GET, scim::get_group),
        )
        .add(
            Method::PUT,
            "/scim/v2/Groups/{id}",
            route(Method::PUT, scim::replace_group),
        )
        .add(
            Method::PATCH,
            "/scim/v2/Groups/{id}",
            route(Method::PATCH, scim::patch_group),
        )
        .add(
            Method::DELETE,
            "/scim/v2/Groups/{id}",
            route(Method::DELETE, scim::delete_group),
        )
}

/// Builds the complete application: routes, fallback and layers.
pub fn build_router(state: AppState) -> Router {
    build_router_with(state, Router::new())
}

/// [`build_router`] with `extra` routes behind the same layers (tests use it to mount a route
/// that panics).
pub fn build_router_with(state: AppState, extra: Router<AppState>) -> Router {
    let body_limit = state.config.body_limit;
    let metrics = state.metrics.clone();
    let request_id = HeaderName::from_static(REQUEST_ID);
    let tls = state.config.tls_enabled();
    let table = route_table();
    table
        .router
        .merge(extra)
        .layer(
            ServiceBuilder::new()
                .layer(RequestBodyLimitLayer::new(body_limit))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .merge(table.uploads)
        .fallback(fallback)
        .with_state(state)
        // Innermost first: panics become problems, then error bodies become problems, then
        // metrics see the final status; request ids wrap everything, and the security headers
        // (`headers.rs`) go on every response, whatever made it.
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    tls,
                    crate::headers::security_headers,
                ))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(TraceLayer::new_for_http().make_span_with(make_span))
                .layer(axum::middleware::from_fn_with_state(
                    metrics,
                    metrics_middleware,
                ))
                .layer(axum::middleware::from_fn(problem_middleware))
                .layer(CatchPanicLayer::custom(panic_response)),
        )
}

fn make_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

async fn fallback() -> ApiError {
    ApiError::NotFound("no route for this path; see /v1/openapi.json".into())
}
