//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};
use crate::{
    access_api, attestations, audit_api, batches, health, jobs, keys, login, oauth, oid4vci, oidc,
    orgs, scim, tokens_api, trust,
};

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
        attestations::create_type,
        attestations::list_types,
        attestations::get_type,
        attestations::type_metadata,
        attestations::issue,
        attestations::list_register,
        attestations::get_register,
        attestations::change_status,
        attestations::status_list,
        attestations::issuer_metadata,
        attestations::verify_online,
        trust::list,
        trust::bundle,
        trust::keys,
        batches::create,
        batches::get,
        batches::results,
        batches::cards,
        jobs::list,
        jobs::get,
        access_api::import,
        access_api::export,
        access_api::check,
        access_api::user_rights,
        access_api::violations,
        access_api::assign,
        access_api::end_assignment,
        tokens_api::create,
        tokens_api::list,
        tokens_api::revoke,
        oauth::register_client,
        oauth::list_clients,
        oauth::revoke_client,
        oauth::token,
        oauth::jwks,
        oauth::authorization_server_metadata,
        oauth::openid_configuration,
        login::create_account,
        login::login,
        login::session,
        login::logout,
        oidc::start,
        oidc::callback,
        scim::service_provider_config,
        scim::resource_types,
        scim::resource_type,
        scim::schemas,
        scim::schema,
        scim::search,
        scim::unknown,
        scim::list_users,
        scim::create_user,
        scim::get_user,
        scim::replace_user,
        scim::patch_user,
        scim::delete_user,
        scim::list_groups,
        scim::create_group,
        scim::get_group,
        scim::replace_group,
        scim::patch_group,
        scim::delete_group,
        keys::rotate_issuer_key,
        oid4vci::credential_issuer_metadata,
        oid4vci::authorization_server_metadata,
        oid4vci::create_offer,
        oid4vci::offer_qr_png,
        oid4vci::offer_qr_svg,
        oid4vci::credential_offer,
        oid4vci::token,
        oid4vci::nonce,
        oid4vci::credential,
    ),
    components(schemas(Problem, FieldError, scim::ScimErrorView)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "operations", description = "Health, readiness, metrics, API description"),
        (name = "organisations", description = "Organisations (tenants)"),
        (name = "attestations", description = "Attestation types, issuance, the register, revocation, status lists, issuer metadata, online verification"),
        (name = "trust", description = "The signed trust list and offline trust bundle this node publishes, and the keys that sign them"),
        (name = "audit", description = "Tamper-evident audit log: entries, signed tree heads, their public keys, proofs"),
        (name = "jobs", description = "Background jobs (retries with backoff, visible progress) and batch issuance: upload, progress, results, cards"),
        (name = "oid4vci", description = "OpenID for Verifiable Credential Issuance 1.0: credential issuer metadata, credential offers (pre-authorized code with a PIN), token, nonce and credential endpoints"),
        (name = "access", description = "Access management (the Danish user-management model): import/export, decisions, effective rights, separation of duties"),
        (name = "scim", description = "SCIM 2.0 provisioning (RFC 7643/7644): Users and Groups on the access model; errors are SCIM errors (application/scim+json)"),
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
                    .description(Some("An API token: an administrator token from `tillit admin bootstrap`, or a user's token from `POST /v1/tokens` or `tillit admin token --user`"))
                    .build(),
            ),
        );
    }
}

/// Operations that never touch the database (and so never answer 503).
const WITHOUT_DATABASE: &[&str] = &["/healthz", "/metrics", "/v1/openapi.json"];

/// Adds the answers that every operation of a kind can give, so that each operation documents
/// every status it can answer (checked by Schemathesis in CI): 503 where the database is used
/// (busy, unreachable or shutting down), 401 and 403 where a token is needed, 400 where a query
/// string is parsed, and 400, 413 and 415 where a JSON body is read. Operations keep their own, more specific descriptions.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        for (path, item) in openapi.paths.paths.iter_mut() {
            let uses_database = !WITHOUT_DATABASE.contains(&path.as_str());
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let has_query = operation.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    })
                });
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description).into());
                };
                if has_body {
                    add("400", "The body is not valid JSON");
                    add("413", "The body is larger than `body_limit`");
                    add("415", "The body is not `application/json`");
                }
                if has_query {
                    add(
                        "400",
                        "Malformed query string (a repeated or non-numeric parameter)",
                    );
                }
                if secured {
                    add("401", "No or invalid token");
                    add("403", "The token may not do this");
                }
                if uses_database {
                    add(
                        "503",
                        "The database is busy, unreachable or shutting down; retry later",
                    );
                }
            }
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}
