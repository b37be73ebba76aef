//! `Idempotency-Key` on `POST /v1/orgs`, end to end over HTTP against the real server: a retry
//! gets the first response, a reuse for another request is refused, keys are per token, and
//! concurrent retries create one organisation.

mod common;

use common::{backend_tests, Backend, TestServer};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use serde_json::{json, Value};
use tillit_server::auth::create_super_admin_token;

backend_tests!(
    a_retried_create_gets_the_first_response,
    concurrent_retries_create_one_organisation,
);

/// What came back: status, `Location`, `Idempotent-Replayed`, body.
#[derive(Debug)]
struct Reply {
    status: u16,
    location: Option<String>,
    replayed: bool,
    body: String,
}

/// Requests this file sends beyond the shared helpers.
trait IdempotentCalls {
    async fn post(&self, token: &str, key: Option<&str>, body: &Value) -> Reply;
    async fn org_count(&self) -> usize;
    async fn audit_size(&self) -> usize;
}

impl IdempotentCalls for TestServer {
    async fn post(&self, token: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut req = self
            .client
            .post(self.url("/v1/orgs"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let r = req.send().await.unwrap();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (location, replayed) = (header(LOCATION.as_str()), header("idempotent-replayed"));
        Reply {
            status: r.status().as_u16(),
            location,
            replayed: replayed.as_deref() == Some("true"),
            body: r.text().await.unwrap(),
        }
    }

    async fn org_count(&self) -> usize {
        let (status, page) = self.get_json("/v1/orgs?limit=100").await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().len()
    }

    async fn audit_size(&self) -> usize {
        let (status, page) = self.get_json("/v1/audit/entries?limit=100").await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().len()
    }
}

/// (what is sent, key, body, expected status, replayed?, same body as the first response?)
type Row<'a> = (&'a str, Option<&'a str>, &'a Value, u16, bool, bool);

fn org(name: &str, number: &str) -> Value {
    json!({"name": name, "country": "SE", "organisation_number": number})
}

fn problem(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap()
}

async fn a_retried_create_gets_the_first_response(backend: Backend) {
    let s = TestServer::start(backend).await;
    let token = s.token.clone();
    let ankeborg = org("Ankeborgs kommun", "212000-0142");
    let key = "8e03978e-40d5-43e8-bc93-6894a57f9324";

    let first = s.post(&token, Some(key), &ankeborg).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(!first.replayed);
    let audit_after_first = s.audit_size().await;

    let quoted = format!("\"{key}\"");
    let long = "k".repeat(256);
    let other_body = org("Annat namn", "212000-0142");
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("the same key and body", Some(key), &ankeborg, 201, true, true),
        ("the key as a Structured Field string", Some(&quoted), &ankeborg, 201, true, true),
        ("the same key, another body", Some(key), &other_body, 422, false, false),
        ("no key: an ordinary create of an existing number", None, &ankeborg, 409, false, false),
        ("a new key for the same body: a new request", Some("another-key"), &ankeborg, 409, false, false),
        ("a malformed key", Some("has space"), &ankeborg, 400, false, false),
        ("an over-long key", Some(&long), &ankeborg, 400, false, false),
    ];
    for (what, key, body, status, replayed, same) in rows {
        let reply = s.post(&token, key, body).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_eq!(reply.replayed, replayed, "{what}");
        if same {
            assert_eq!(
                reply.body, first.body,
                "{what}: body differs from the first response"
            );
            assert_eq!(reply.location, first.location, "{what}: Location differs");
        } else {
            let p = problem(&reply);
            assert_eq!(p["status"], status, "{what}: {p}");
            if status == 422 {
                assert_eq!(p["errors"][0]["field"], "Idempotency-Key", "{what}: {p}");
            }
        }
    }
    assert_eq!(s.org_count().await, 1, "retries created organisations");
    assert_eq!(
        s.audit_size().await,
        audit_after_first,
        "retries wrote audit entries"
    );

    // Keys are per token: another token may use the same key for its own request.
    let other = create_super_admin_token(&s.server.state.store, "second", "test")
        .await
        .unwrap();
    // A Danish CVR number (any 8 digits) for another organisation.
    let andeby =
        json!({"name": "Andeby Kommune", "country": "DK", "organisation_number": "10000001"});
    let reply = s.post(&other, Some(key), &andeby).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(
        !reply.replayed,
        "another token's key replayed the first token's response"
    );
    assert_ne!(reply.body, first.body);
    assert_eq!(s.org_count().await, 2);
    s.stop().await;
}

async fn concurrent_retries_create_one_organisation(backend: Backend) {
    let s = std::sync::Arc::new(TestServer::start(backend).await);
    let body = org("Ankeborgs kommun", "212000-0142");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (s, body) = (s.clone(), body.clone());
        tasks.spawn(async move { s.post(&s.token, Some("race-1"), &body).await });
    }
    let replies: Vec<Reply> = tasks.join_all().await;
    assert!(
        replies.iter().all(|r| r.status == 201),
        "every retry succeeds: {replies:?}"
    );
    assert!(
        replies.iter().all(|r| r.body == replies[0].body),
        "one response for all: {replies:?}"
    );
    assert_eq!(
        replies.iter().filter(|r| !r.replayed).count(),
        1,
        "exactly one original: {replies:?}"
    );
    assert_eq!(s.org_count().await, 1);
    if let Ok(s) = std::sync::Arc::try_unwrap(s) {
        s.stop().await;
    }
}
