//! Security headers on every response, checked over a table of routes: successes and errors,
//! with and without credentials, JSON, problem documents, Prometheus text and a status list
//! (which sets its own caching, kept). HSTS is absent on plain HTTP (its presence over TLS is in
//! `tls.rs`).

#[allow(unused_macros, unused_imports)] // not every helper of `common` is used here
mod common;

use common::{Backend, TestServer};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// One row: method, path, body, send the admin token?, expected status, expected Cache-Control
/// (`None`: no header).
struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    auth: bool,
    status: u16,
    cache: Option<&'static str>,
}

fn case(method: &'static str, path: impl Into<String>, auth: bool, status: u16) -> Case {
    Case {
        method,
        path: path.into(),
        body: None,
        auth,
        status,
        cache: auth.then_some("no-store"),
    }
}

fn check(c: &Case, status: u16, headers: &HeaderMap) {
    let what = format!("{} {} (auth {})", c.method, c.path, c.auth);
    assert_eq!(status, c.status, "{what}");
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        get("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        get("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(get("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(
        get("content-security-policy").as_deref(),
        Some(API_CSP),
        "{what}"
    );
    assert_eq!(
        get("strict-transport-security"),
        None,
        "{what}: HSTS without TLS"
    );
    assert_eq!(get("cache-control").as_deref(), c.cache, "{what}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let s = TestServer::start(Backend::Sqlite).await;
    // An organisation, a type and one attestation, for tenant routes and a status list.
    let r = s.create_org("Ankeborgs kommun", "DK", "12345678").await;
    assert_eq!(r.status(), 201);
    let org = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ty = json!({"slug": "permit", "definition": {
        "display": {"sv": "Tillstånd", "da": "Tilladelse", "nb": "Tillatelse", "en": "Permit"},
        "claims_schema": {"type": "object", "properties": {"zone": {"type": "string"}}},
        "disclosable": [], "default_validity_days": 30, "formats": ["sd-jwt-vc", "qr"],
        "card_fields": ["zone"]}});
    let r = s.post_json(&format!("/v1/orgs/{org}/types"), &ty).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = s
        .post_json(
            &format!("/v1/orgs/{org}/attestations"),
            &json!({"type": "permit", "claims": {"zone": "B"}}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let issued: Value = r.json().await.unwrap();
    let list = issued["status"]["uri"].as_str().unwrap();
    let list = format!("/statuslists/{}", list.rsplit('/').next().unwrap());

    let keep = |mut c: Case, cache: &'static str| {
        c.cache = Some(cache);
        c
    };
    let cases = vec![
        case("GET", "/healthz", false, 200),
        case("GET", "/readyz", false, 200),
        case("GET", "/metrics", false, 200),
        case("GET", "/v1/openapi.json", false, 200),
        case("GET", "/v1/orgs", true, 200),
        case("GET", "/v1/orgs", false, 401),
        case("GET", format!("/v1/orgs/{org}"), true, 200),
        case("GET", "/v1/orgs/not-a-uuid", true, 422),
        case("GET", format!("/v1/orgs/{org}/types"), true, 200),
        case("GET", format!("/v1/orgs/{org}/attestations"), true, 200),
        case("GET", "/v1/audit/tree-heads/latest", false, 200),
        case("GET", "/v1/audit/keys", true, 200),
        case("GET", "/no/such/route", false, 404),
        case("DELETE", "/v1/orgs", true, 405),
        Case {
            body: Some(json!({"name": ""})),
            ..case("POST", "/v1/orgs", true, 422)
        },
        // The status list chose its caching: kept, with or without credentials.
        keep(
            case("GET", list.clone(), false, 200),
            "public, max-age=0, must-revalidate",
        ),
        keep(
            case("GET", list, true, 200),
            "public, max-age=0, must-revalidate",
        ),
    ];
    for c in &cases {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
        let mut request = s.client.request(method, s.url(&c.path));
        if c.auth {
            request = request.header("authorization", s.auth());
        }
        if let Some(body) = &c.body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        check(c, response.status().as_u16(), response.headers());
    }
    s.stop().await;
}
