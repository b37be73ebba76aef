//! The HTTP-level tests of tillit-server's API: every test boots the real server on a free port
//! and talks to it over HTTP, once on SQLite and once on PostgreSQL (`<test>::sqlite`,
//! `<test>::postgres`; see `common`).

mod common;

use axum::routing::get;
use common::{backend_tests, Backend, TestServer};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use tillit_server::AppState;

/// Body limit of test servers: small, so that 413 is cheap to provoke.
const BODY_LIMIT: usize = 4096;

async fn boom() -> &'static str {
    panic!("boom: secret internal detail")
}

/// A test server with the small body limit, no tree-head signing during a test, and the
/// `/test/panic` route.
async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(
        backend,
        |c| {
            c.body_limit = BODY_LIMIT;
            c.tree_head_entries = 1000;
            c.tree_head_seconds = 3600;
        },
        axum::Router::<AppState>::new().route("/test/panic", get(boom)),
    )
    .await
}

backend_tests!(
    every_error_is_a_problem,
    validation_names_the_wrong_fields_and_conflicts_are_409,
    forbidden_for_a_token_without_rights,
    orgs_create_get_list_paginate,
    request_id_is_echoed_or_generated,
    health_ready_metrics,
);

/// Valid Danish CVR numbers are any 8 digits; handy for many distinct organisations.
fn cvr(i: u32) -> String {
    format!("{:08}", 10_000_000 + i)
}

#[allow(clippy::type_complexity)]
async fn every_error_is_a_problem(backend: Backend) {
    let s = start(backend).await;
    let auth = s.auth();
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(BODY_LIMIT * 2));
    let json_ct = "application/json";
    // (method, path, content type, body, authorization, expected status, expected problem slug)
    let cases: Vec<(Method, &str, Option<&str>, String, Option<&str>, u16, &str)> = vec![
        (
            Method::GET,
            "/no/such/route",
            None,
            String::new(),
            None,
            404,
            "not-found",
        ),
        (
            Method::DELETE,
            "/v1/orgs",
            None,
            String::new(),
            Some(&auth),
            405,
            "method-not-allowed",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            big,
            Some(&auth),
            413,
            "payload-too-large",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some("text/plain"),
            "{}".into(),
            Some(&auth),
            415,
            "unsupported-media-type",
        ),
        (
            Method::POST,
            "/v1/orgs",
            None,
            "{}".into(),
            Some(&auth),
            415,
            "unsupported-media-type",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            "{not json".into(),
            Some(&auth),
            400,
            "bad-request",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            r#"{"name":1}"#.into(),
            Some(&auth),
            422,
            "validation",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            r#"{"name":"A","country":"DE","organisation_number":"1"}"#.into(),
            Some(&auth),
            422,
            "validation",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            "{}".into(),
            None,
            401,
            "unauthorized",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            "{}".into(),
            Some("Bearer tillit_wrong"),
            401,
            "unauthorized",
        ),
        (
            Method::POST,
            "/v1/orgs",
            Some(json_ct),
            "{}".into(),
            Some("Basic YTpi"),
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/orgs",
            None,
            String::new(),
            None,
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/orgs?limit=0",
            None,
            String::new(),
            Some(&auth),
            422,
            "validation",
        ),
        (
            Method::GET,
            "/v1/orgs?limit=abc",
            None,
            String::new(),
            Some(&auth),
            400,
            "bad-request",
        ),
        (
            Method::GET,
            "/v1/orgs/not-a-uuid",
            None,
            String::new(),
            Some(&auth),
            422,
            "validation",
        ),
        (
            Method::GET,
            "/v1/orgs/0190b7d6-8c4e-7a3b-9f00-123456789abc",
            None,
            String::new(),
            Some(&auth),
            404,
            "not-found",
        ),
        (
            Method::GET,
            "/test/panic",
            None,
            String::new(),
            None,
            500,
            "internal",
        ),
        (
            Method::GET,
            "/v1/audit/proofs/inclusion?seq=1",
            None,
            String::new(),
            None,
            400,
            "bad-request",
        ),
        (
            Method::GET,
            "/v1/audit/proofs/inclusion?seq=5&tree_size=2",
            None,
            String::new(),
            None,
            422,
            "validation",
        ),
        (
            Method::GET,
            "/v1/audit/proofs/consistency?first=3&second=1",
            None,
            String::new(),
            None,
            422,
            "validation",
        ),
    ];
    for (i, (method, path, ct, body, authz, status, slug)) in cases.into_iter().enumerate() {
        let mut headers = HeaderMap::new();
        if let Some(ct) = ct {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        if let Some(a) = authz {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        let r = s
            .client
            .request(method.clone(), s.url(path))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        let context = format!("case {i}: {method} {path}");
        assert_eq!(r.status().as_u16(), status, "{context}");
        assert_eq!(
            r.headers()[CONTENT_TYPE].to_str().unwrap(),
            "application/problem+json",
            "{context}"
        );
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("secret internal detail"),
            "{context}: {text}"
        );
        assert!(!text.contains("panicked"), "{context}: {text}");
        let p: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            p["type"],
            format!("urn:tillit:problem:{slug}"),
            "{context}: {p}"
        );
        assert_eq!(p["status"], status, "{context}");
        assert!(
            p["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{context}"
        );
        assert_eq!(p["instance"], path.split('?').next().unwrap(), "{context}");
        assert_eq!(p["request_id"], request_id.as_str(), "{context}");
    }
    s.stop().await;
}

async fn validation_names_the_wrong_fields_and_conflicts_are_409(backend: Backend) {
    let s = start(backend).await;
    // (body, wrong fields)
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"name": "", "country": "SE", "organisation_number": "212000-0142"}),
            vec!["name"],
        ),
        (
            json!({"name": "A", "country": "se", "organisation_number": "212000-0142"}),
            vec!["country"],
        ),
        (
            json!({"name": "A", "country": "SE", "organisation_number": "212000-0143"}),
            vec!["organisation_number"],
        ),
        (
            json!({"name": " ", "country": "XX", "organisation_number": "1"}),
            vec!["name", "country"],
        ),
        (
            json!({"name": "x".repeat(201), "country": "NO", "organisation_number": "abc"}),
            vec!["name", "organisation_number"],
        ), // PostgreSQL cannot store NUL in text: refused as input on both backends, never a 500.
        (
            json!({"name": "Ankeborg\u{0}", "country": "SE", "organisation_number": "212000-0142"}),
            vec!["name"],
        ),
        (
            json!({"name": "Anke\nborg", "country": "SE", "organisation_number": "212000-0142"}),
            vec!["name"],
        ),
    ];
    for (body, fields) in cases {
        let r = s.post_json("/v1/orgs", &body).await;
        assert_eq!(r.status(), 422, "{body}");
        let p: Value = r.json().await.unwrap();
        let got: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{body}: {p}");
    }
    let r = s.create_org("Ankeborgs kommun", "SE", "212000-0142").await;
    assert_eq!(r.status(), 201);
    let r = s.create_org("Ankeborg again", "SE", "2120000142").await;
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:tillit:problem:conflict");
    s.stop().await;
}

async fn forbidden_for_a_token_without_rights(backend: Backend) {
    use tillit_store::ApiTokenRepo;
    let s = start(backend).await;
    let secret = "tillit_limited-token-for-tests";
    s.server
        .state
        .store
        .create_api_token(
            tillit_store::NewApiToken {
                id: tillit_core::ApiTokenId::new(),
                org_id: None,
                name: "limited".into(),
                token_hash: tillit_server::auth::hash_token(secret),
                scope: "user:limited".into(),
            },
            tillit_audit::AuditEvent {
                actor: "test".into(),
                org_id: None,
                action: "token.create".into(),
                object_id: None,
                details: json!({}),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let r = s
        .client
        .post(s.url("/v1/orgs"))
        .bearer_auth(secret)
        .json(&json!({"name": "A", "country": "DK", "organisation_number": "12345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:tillit:problem:forbidden");
    s.stop().await;
}

async fn orgs_create_get_list_paginate(backend: Backend) {
    let s = start(backend).await;
    let r = s.create_org("Ankeborgs kommun", "SE", "212000 0142").await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Ankeborgs kommun");
    assert_eq!(created["country"], "SE");
    assert_eq!(created["organisation_number"], "212000-0142");
    assert_eq!(
        location,
        format!("/v1/orgs/{}", created["id"].as_str().unwrap())
    );
    let (status, got) = s.get_json(&location).await;
    assert_eq!(status, 200);
    assert_eq!(got, created);

    let mut ids = vec![created["id"].as_str().unwrap().to_string()];
    for i in 0..6 {
        let r = s.create_org(&format!("Kommune {i}"), "DK", &cvr(i)).await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    // Walk the list 3 at a time: every org once, in creation order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?limit=3&cursor={c}"),
            None => "/v1/orgs?limit=3".to_string(),
        };
        let (status, page) = s.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ids);
    assert!(pages >= 3);
    s.stop().await;
}

async fn request_id_is_echoed_or_generated(backend: Backend) {
    let s = start(backend).await;
    for path in ["/healthz", "/no/such/route"] {
        let r = s
            .client
            .get(s.url(path))
            .header("x-request-id", "my-trace-42")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "my-trace-42", "{path}");
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let generated = r.headers()["x-request-id"].to_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(generated).is_ok(),
            "{path}: {generated}"
        );
    }
    s.stop().await;
}

async fn health_ready_metrics(backend: Backend) {
    let s = start(backend).await;
    for path in ["/healthz", "/readyz"] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "ok");
    }
    let _ = s.client.get(s.url("/nowhere")).send().await.unwrap();
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for expected in [
        "tillit_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "tillit_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1",
        "tillit_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "tillit_http_request_duration_seconds_count{route=\"/healthz\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing {expected} in\n{text}"
        );
    }
    // Readiness follows the database: closed pool → 503 problem.
    s.server.state.store.close().await;
    let r = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:tillit:problem:unavailable");
    s.stop().await;
}

fn snapshot_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json")
}

/// Backend-independent (the document comes from the code), so SQLite only.
#[tokio::test]
async fn openapi_matches_snapshot_and_documents_every_route() {
    let s = start(Backend::Sqlite).await;
    let r = s
        .client
        .get(s.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every route of the router has an operation in the document, and vice versa.
    let table = tillit_server::app::route_table();
    let mut routed = Vec::new();
    for (method, path) in table.routes() {
        let op = &doc["paths"][*path][method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is not documented in the OpenAPI document"
        );
        routed.push((method.as_str().to_ascii_lowercase(), path.to_string()));
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                routed.contains(&(method.clone(), path.clone())),
                "documented {method} {path} has no route"
            );
        }
    }
    // Snapshot: regenerate with UPDATE_SNAPSHOTS=1 and review the diff.
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = snapshot_path();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let before = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, &pretty).unwrap();
        // Comparing with what was just written could not fail: say whether it changed instead.
        assert_eq!(
            before,
            pretty,
            "snapshot {} updated: review the diff and run again without UPDATE_SNAPSHOTS",
            path.display()
        );
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert!(
        expected == pretty,
        "OpenAPI document differs from {}; run with UPDATE_SNAPSHOTS=1 and review the diff",
        path.display()
    );
    s.stop().await;
}
