//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};
use crate::{audit_api, health, orgs};

/// The API description served at `/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tillit API",
        description = "Tillit: a trust platform for Nordic public administration. Every error is an \
RFC 9457 problem document (`application/problem+json`). State-changing requests need \
`Authorization: Bearer <token>`.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        health::openapi_json,
        orgs::create,
        orgs::list,
        orgs::get,
        audit_api::entries,
        audit_api::latest_tree_head,
        audit_api::tree_head_at_size,
        audit_api::audit_keys,
        audit_api::inclusion_proof,
        audit_api::consistency_proof,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness, metrics, API description"),
        (name = "organisations", description = "Organisations (tenants)"),
        (name = "audit", description = "Tamper-evident audit log: entries, signed tree heads, their public keys, proofs"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token created by `tillit admin bootstrap`"))
                    .build(),
            ),
        );
    }
}
