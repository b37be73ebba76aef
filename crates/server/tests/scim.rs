//! SCIM 2.0 provisioning (issue 9 item 7) over the real server on both backends: Users and
//! Groups, filters, paging, PATCH, ETags, SCIM errors, the mapping onto the access model
//! (deactivation ends assignments, groups carry role assignments), and — with TILLIT_INTEROP=1 —
//! PyPI `scim2-tester` against the running server.

mod common;

use std::collections::BTreeSet;

use common::{backend_tests, Backend, TestServer};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use reqwest::Method;
use serde_json::{json, Value};

backend_tests!(
    users_are_provisioned_filtered_patched_and_deactivated,
    groups_carry_role_assignments_to_their_members,
    discovery_and_scim_errors,
);

const SCIM: &str = "application/scim+json";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The base document: `hr` may provision, `nobody` may not; the IT system `journal` with the
/// right `read`, granted by the role `nurse`.
fn base_document() -> Value {
    json!({
        "classifications": [{"id": "health"}],
        "it_systems": [{"id": "journal", "classification": "health"}],
        "rights": [{"id": "read", "it_system": "journal", "classification": "health"},
                   {"id": "approve", "it_system": "journal", "classification": "health"}],
        "rules": [{"id": "sod", "kind": "separation_of_duties", "mode": "static", "rights": ["read", "approve"]}],
        "roles": [
            {"id": "provisioner", "classifications": ["tillit"], "rights": ["access.provision"]},
            {"id": "nurse", "classifications": ["health"], "rights": ["read"]},
            {"id": "approver", "classifications": ["health"], "rights": ["approve"]}
        ],
        "persons": [{"id": "p-hr"}, {"id": "p-nobody"}],
        "users": [{"id": "hr", "person": "p-hr"}, {"id": "nobody", "person": "p-nobody"}],
        "assignments": [{"id": "a-hr", "user": "hr", "roles": ["provisioner"]}]
    })
}

struct Scim {
    s: TestServer,
    hr: String,
    nobody: String,
}

impl Scim {
    async fn start(backend: Backend) -> Self {
        let s = TestServer::start(backend).await;
        let r = s
            .client
            .post(s.url("/v1/access/import"))
            .header(AUTHORIZATION, s.auth())
            .header(CONTENT_TYPE, "application/json")
            .body(base_document().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}: import", s.backend);
        let mut tokens = Vec::new();
        for user in ["hr", "nobody"] {
            let r = s
                .post_json("/v1/tokens", &json!({"name": user, "user": user}))
                .await;
            assert_eq!(r.status(), 201);
            let body: Value = r.json().await.unwrap();
            tokens.push(body["secret"].as_str().unwrap().to_owned());
        }
        let nobody = tokens.pop().unwrap();
        let hr = tokens.pop().unwrap();
        Self { s, hr, nobody }
    }

    /// A SCIM request as `hr`: status, headers and JSON body (Null when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call_as(&self.hr.clone(), method, path, body, headers)
            .await
    }

    async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut r = self
            .s
            .client
            .request(method, self.s.url(&format!("/scim/v2{path}")))
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(b) = body {
            r = r.header(CONTENT_TYPE, SCIM).body(b.to_string());
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}))
        };
        (status, h, v)
    }

    async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER], "userName": user_name});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, h, v) = self.call(Method::POST, "/Users", Some(&body), &[]).await;
        assert_eq!(status, 201, "{}: create {user_name}: {v}", self.s.backend);
        assert_eq!(h[CONTENT_TYPE], SCIM);
        assert_eq!(h[LOCATION].to_str().unwrap(), v["meta"]["location"]);
        assert_eq!(h[ETAG].to_str().unwrap(), v["meta"]["version"]);
        v
    }

    async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        let body = json!({"schemas": [PATCH], "Operations": ops});
        let (status, _, v) = self.call(Method::PATCH, path, Some(&body), &[]).await;
        (status, v)
    }

    async fn export(&self) -> Value {
        self.s.get_json("/v1/access/export").await.1
    }

    async fn allowed(&self, user: &str, right: &str) -> bool {
        let r = self
            .s
            .post_json("/v1/access/check", &json!({"user": user, "right": right}))
            .await;
        let v: Value = r.json().await.unwrap();
        v["allowed"].as_bool().unwrap_or_else(|| panic!("{v}"))
    }
}

fn assert_scim_error(v: &Value, status: u16, scim_type: Option<&str>, context: &str) {
    assert_eq!(v["schemas"], json!([ERROR]), "{context}: {v}");
    assert_eq!(v["status"], status.to_string(), "{context}: {v}");
    match scim_type {
        Some(t) => assert_eq!(v["scimType"], t, "{context}: {v}"),
        None => assert!(v.get("scimType").is_none(), "{context}: {v}"),
    }
    assert!(
        v["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{context}: {v}"
    );
}

fn names(list: &Value) -> BTreeSet<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["userName"]
                .as_str()
                .or(r["displayName"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn users_are_provisioned_filtered_patched_and_deactivated(backend: Backend) {
    let c = Scim::start(backend).await;
    let b = c.s.backend;
    let bj = c
        .create_user(
            "bjensen",
            json!({"displayName": "Barbara Jensen", "externalId": "e-1"}),
        )
        .await;
    let _js = c
        .create_user("jsmith", json!({"displayName": "John Smith"}))
        .await;
    let ak = c.create_user("akarlsen", json!({"active": false})).await;
    assert_eq!(bj["schemas"], json!([USER]));
    assert_eq!(bj["meta"]["resourceType"], "User");
    for field in ["created", "lastModified", "location", "version"] {
        assert!(bj["meta"][field].is_string(), "{b}: meta.{field}: {bj}");
    }
    assert_eq!(ak["active"], false);
    let bj_id = bj["id"].as_str().unwrap().to_owned();

    // The model has a user and a person per SCIM user; the inactive one is ended.
    let doc = c.export().await;
    let user = |id: &str| {
        doc["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(user(&bj_id)["person"], bj_id.as_str(), "{b}");
    assert_eq!(user(&bj_id)["name"], "bjensen");
    assert!(
        user(ak["id"].as_str().unwrap())["valid_to"].is_string(),
        "{b}: {doc}"
    );
    assert!(doc["persons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == bj_id.as_str() && p["name"] == "Barbara Jensen"));

    // Bad requests: SCIM errors with their scimType.
    let bad: Vec<(Value, u16, Option<&str>)> = vec![
        (json!({"userName": "BJENSEN"}), 409, Some("uniqueness")),
        (
            json!({"displayName": "no user name"}),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"userName": "x", "active": "maybe"}),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"schemas": [GROUP], "userName": "x"}),
            400,
            Some("invalidSyntax"),
        ),
        (json!(["not", "an", "object"]), 400, Some("invalidSyntax")),
    ];
    for (body, status, t) in bad {
        let (got, _, v) = c.call(Method::POST, "/Users", Some(&body), &[]).await;
        assert_eq!(got, status, "{b}: {body}: {v}");
        assert_scim_error(&v, status, t, &format!("{b}: {body}"));
    }
    let r =
        c.s.client
            .post(c.s.url("/scim/v2/Users"))
            .header(AUTHORIZATION, format!("Bearer {}", c.hr))
            .header(CONTENT_TYPE, "text/plain")
            .body("userName=x")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 415);
    let r =
        c.s.client
            .post(c.s.url("/scim/v2/Users"))
            .header(AUTHORIZATION, format!("Bearer {}", c.hr))
            .header(CONTENT_TYPE, SCIM)
            .body("{not json")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_scim_error(&r.json().await.unwrap(), 400, Some("invalidSyntax"), b);

    // Filters: (filter, the userNames it selects).
    let created = bj["meta"]["created"].as_str().unwrap();
    let filters: Vec<(String, Vec<&str>)> = vec![
        (r#"userName eq "BJensen""#.into(), vec!["bjensen"]),
        (
            r#"userName ne "bjensen""#.into(),
            vec!["jsmith", "akarlsen"],
        ),
        (r#"userName co "sm""#.into(), vec!["jsmith"]),
        (r#"userName sw "a""#.into(), vec!["akarlsen"]),
        (r#"userName ew "SEN""#.into(), vec!["bjensen", "akarlsen"]),
        ("displayName pr".into(), vec!["bjensen", "jsmith"]),
        ("active eq false".into(), vec!["akarlsen"]),
        (r#"externalId eq "e-1""#.into(), vec!["bjensen"]),
        (r#"externalId eq "E-1""#.into(), vec![]),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z""#.into(),
            vec!["bjensen", "jsmith", "akarlsen"],
        ),
        (r#"meta.created lt "2000-01-01T00:00:00Z""#.into(), vec![]),
        (format!(r#"meta.created le "{created}""#), vec!["bjensen"]),
        (
            format!(r#"meta.created ge "{created}""#),
            vec!["bjensen", "jsmith", "akarlsen"],
        ),
        (format!(r#"id eq "{bj_id}""#), vec!["bjensen"]),
        (
            r#"not (active eq false) and (userName sw "b" or userName sw "j")"#.into(),
            vec!["bjensen", "jsmith"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#.into(),
            vec!["jsmith"],
        ),
    ];
    for (filter, want) in &filters {
        let (status, h, v) = c
            .call(
                Method::GET,
                &format!("/Users?filter={}", enc(filter)),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200, "{b}: {filter}: {v}");
        assert_eq!(h[CONTENT_TYPE], SCIM);
        assert_eq!(names(&v), set(want), "{b}: {filter}");
        assert_eq!(v["totalResults"], want.len(), "{b}: {filter}");
    }
    for filter in [
        "userName eq",
        "userName xx \"a\"",
        "((userName pr)",
        "userName eq bjensen",
    ] {
        let (status, _, v) = c
            .call(
                Method::GET,
                &format!("/Users?filter={}", enc(filter)),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 400, "{b}: {filter}");
        assert_scim_error(&v, 400, Some("invalidFilter"), filter);
    }

    // Sorting and paging.
    let (_, _, v) = c
        .call(
            Method::GET,
            "/Users?sortBy=userName&startIndex=2&count=1",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (
            v["totalResults"].as_u64(),
            v["startIndex"].as_u64(),
            v["itemsPerPage"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{b}: {v}"
    );
    assert_eq!(v["Resources"][0]["userName"], "bjensen");
    let (_, _, v) = c
        .call(
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending",
            None,
            &[],
        )
        .await;
    let order: Vec<&str> = v["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["jsmith", "bjensen", "akarlsen"], "{b}");
    // attributes / excludedAttributes.
    let (_, _, v) = c
        .call(
            Method::GET,
            &format!("/Users/{bj_id}?attributes=userName"),
            None,
            &[],
        )
        .await;
    assert_eq!(v["userName"], "bjensen");
    assert!(
        v.get("displayName").is_none() && v["id"] == bj_id.as_str(),
        "{b}: {v}"
    );
    let (_, _, v) = c
        .call(
            Method::GET,
            "/Users?excludedAttributes=displayName,externalId",
            None,
            &[],
        )
        .await;
    assert!(v["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("displayName").is_none() && r["userName"].is_string()));

    // ETags: If-None-Match on read, If-Match on change.
    let path = format!("/Users/{bj_id}");
    let (_, h, current) = c.call(Method::GET, &path, None, &[]).await;
    let version = h[ETAG].to_str().unwrap().to_owned();
    assert_eq!(current["meta"]["version"], version.as_str());
    let (status, _, _) = c
        .call(
            Method::GET,
            &path,
            None,
            &[(IF_NONE_MATCH.as_str(), &version)],
        )
        .await;
    assert_eq!(status, 304, "{b}");
    let replacement =
        json!({"schemas": [USER], "userName": "bjensen", "displayName": "Babs Jensen"});
    let (status, _, v) = c
        .call(
            Method::PUT,
            &path,
            Some(&replacement),
            &[(IF_MATCH.as_str(), "W/\"stale\"")],
        )
        .await;
    assert_eq!(status, 412, "{b}: {v}");
    assert_scim_error(&v, 412, None, b);
    let (status, _, v) = c
        .call(
            Method::PUT,
            &path,
            Some(&replacement),
            &[(IF_MATCH.as_str(), &version)],
        )
        .await;
    assert_eq!(status, 200, "{b}: {v}");
    assert_eq!(v["displayName"], "Babs Jensen");
    assert!(v.get("externalId").is_none(), "{b}: PUT replaces: {v}");
    assert_ne!(v["meta"]["version"], version.as_str());
    assert_eq!(v["meta"]["created"], current["meta"]["created"]);
    // The old version no longer matches.
    let (status, _, _) = c
        .call(
            Method::DELETE,
            &path,
            None,
            &[(IF_MATCH.as_str(), &version)],
        )
        .await;
    assert_eq!(status, 412, "{b}");

    // PATCH: (operations, the attribute then checked, its value, or an error status/scimType).
    let cases: Vec<(Value, &str, Value)> = vec![
        (
            json!([{"op": "replace", "path": "displayName", "value": "B. Jensen"}]),
            "displayName",
            json!("B. Jensen"),
        ),
        (
            json!([{"op": "add", "path": "externalId", "value": "e-9"}]),
            "externalId",
            json!("e-9"),
        ),
        (
            json!([{"op": "remove", "path": "externalId"}]),
            "externalId",
            Value::Null,
        ),
        (
            json!([{"op": "Replace", "value": {"userName": "barbara", "displayName": "Barbara"}}]),
            "userName",
            json!("barbara"),
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": "JSMITH"}]),
            "error",
            json!([409, "uniqueness"]),
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "error",
            json!([400, "mutability"]),
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            "error",
            json!([400, "invalidValue"]),
        ),
        (json!([{"op": "remove"}]), "error", json!([400, "noTarget"])),
        (
            json!([{"op": "add", "path": "emails[type eq", "value": 1}]),
            "error",
            json!([400, "invalidPath"]),
        ),
        (
            json!([{"op": "jump", "path": "userName", "value": 1}]),
            "error",
            json!([400, "invalidSyntax"]),
        ),
    ];
    for (ops, attr, want) in cases {
        let (status, v) = c.patch(&path, ops.clone()).await;
        if attr == "error" {
            assert_eq!(status, want[0], "{b}: {ops}: {v}");
            assert_scim_error(&v, status, want[1].as_str(), &ops.to_string());
        } else {
            assert_eq!(status, 200, "{b}: {ops}: {v}");
            assert_eq!(
                v.get(attr).cloned().unwrap_or(Value::Null),
                want,
                "{b}: {ops}"
            );
            let (_, _, again) = c.call(Method::GET, &path, None, &[]).await;
            assert_eq!(
                again.get(attr).cloned().unwrap_or(Value::Null),
                want,
                "{b}: {ops} read back"
            );
        }
    }

    // Deactivation ends the user in the model (history kept), and reactivation reopens it.
    let (status, v) = c
        .patch(
            &path,
            json!([{"op": "replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!((status, &v["active"]), (200, &json!(false)), "{b}: {v}");
    let doc = c.export().await;
    let ended = doc["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bj_id.as_str())
        .unwrap();
    assert!(ended["valid_to"].is_string(), "{b}: {ended}");
    let (status, v) = c
        .patch(
            &path,
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!((status, &v["active"]), (200, &json!(true)), "{b}: {v}");

    // DELETE: 204, then a SCIM 404; the model keeps the ended user.
    let (status, _, _) = c.call(Method::DELETE, &path, None, &[]).await;
    assert_eq!(status, 204, "{b}");
    let (status, _, v) = c.call(Method::GET, &path, None, &[]).await;
    assert_eq!(status, 404);
    assert_scim_error(&v, 404, None, b);
    let (status, _, _) = c.call(Method::DELETE, &path, None, &[]).await;
    assert_eq!(status, 404);
    let (_, _, v) = c.call(Method::GET, "/Users", None, &[]).await;
    assert_eq!(names(&v), set(&["jsmith", "akarlsen"]), "{b}");
    let doc = c.export().await;
    let kept = doc["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bj_id.as_str())
        .unwrap();
    assert!(kept["valid_to"].is_string(), "{b}: {kept}");
    // The userName is free again.
    c.create_user("bjensen", json!({})).await;

    // Authorization: a token without access.provision, or none.
    let (status, _, v) = c
        .call_as(&c.nobody.clone(), Method::GET, "/Users", None, &[])
        .await;
    assert_eq!(status, 403, "{b}: {v}");
    assert_scim_error(&v, 403, None, b);
    let r =
        c.s.client
            .get(c.s.url("/scim/v2/Users"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_scim_error(&r.json().await.unwrap(), 401, None, b);

    // Each change is a document version with its audit entry, naming the provisioning user.
    let (_, page) = c.s.get_json("/v1/audit/entries?limit=200").await;
    let actions: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .filter(|(a, _)| a.starts_with("scim."))
        .collect();
    for action in [
        "scim.user.create",
        "scim.user.replace",
        "scim.user.patch",
        "scim.user.delete",
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, actor)| a == action && actor == "user:hr"),
            "{b}: {action} in {actions:?}"
        );
    }
    c.s.stop().await;
}

async fn groups_carry_role_assignments_to_their_members(backend: Backend) {
    let c = Scim::start(backend).await;
    let b = c.s.backend;
    let u1 = c.create_user("u1", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u2 = c.create_user("u2", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u3 = c.create_user("u3", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"schemas": [GROUP], "displayName": "Nurses", "members": [{"value": u1}]});
    let (status, _, g) = c.call(Method::POST, "/Groups", Some(&body), &[]).await;
    assert_eq!(status, 201, "{b}: {g}");
    assert_eq!(g["members"][0]["value"], u1.as_str());
    assert_eq!(
        g["members"][0]["$ref"],
        c.s.url(&format!("/scim/v2/Users/{u1}"))
    );
    let gid = g["id"].as_str().unwrap().to_owned();
    let gpath = format!("/Groups/{gid}");
    // Until an administrator gives the group roles, membership grants nothing.
    assert!(!c.allowed(&u1, "read").await, "{b}");
    let bad =
        json!({"schemas": [GROUP], "displayName": "X", "members": [{"value": "no-such-user"}]});
    let (status, _, v) = c.call(Method::POST, "/Groups", Some(&bad), &[]).await;
    assert_eq!(status, 400, "{b}: {v}");
    assert_scim_error(&v, 400, Some("invalidValue"), b);

    // The access administrator maps the group to the role `nurse` in the document.
    let mut doc = c.export().await;
    doc["provisioning"]["groups"][0]["roles"] = json!(["nurse"]);
    let r =
        c.s.client
            .post(c.s.url("/v1/access/import"))
            .header(AUTHORIZATION, c.s.auth())
            .header(CONTENT_TYPE, "application/json")
            .body(doc.to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201, "{b}: {}", r.text().await.unwrap());

    // The next change brings the assignments in step: every member holds the role.
    let (status, v) = c
        .patch(
            &gpath,
            json!([{"op": "add", "path": "members", "value": [{"value": u2}]}]),
        )
        .await;
    assert_eq!(status, 200, "{b}: {v}");
    // (user, allowed) after each step.
    let expect = |pairs: &[(&str, bool)]| {
        pairs
            .iter()
            .map(|(u, a)| ((*u).to_owned(), *a))
            .collect::<Vec<_>>()
    };
    let cr = &c;
    let decide = |users: Vec<(String, bool)>| async move {
        let mut got = Vec::new();
        for (u, _) in &users {
            got.push((u.clone(), cr.allowed(u, "read").await));
        }
        got
    };
    let want = expect(&[
        (u1.as_str(), true),
        (u2.as_str(), true),
        (u3.as_str(), false),
    ]);
    assert_eq!(decide(want.clone()).await, want, "{b}: after adding u2");

    // Leaving the group ends the assignment (kept, with its end); the others keep theirs.
    let (status, v) = c
        .patch(
            &gpath,
            json!([{"op": "remove", "path": format!("members[value eq \"{u1}\"]")}]),
        )
        .await;
    assert_eq!(status, 200, "{b}: {v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 1, "{b}: {v}");
    let want = expect(&[(u1.as_str(), false), (u2.as_str(), true)]);
    assert_eq!(decide(want.clone()).await, want, "{b}: after u1 left");
    let doc = c.export().await;
    let of = |user: &str| {
        doc["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["user"] == user)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&u1).len(), 1, "{b}: {doc}");
    assert!(
        of(&u1)[0]["valid_to"].is_string(),
        "{b}: history kept: {doc}"
    );
    assert_eq!(of(&u1)[0]["roles"], json!(["nurse"]));
    assert_eq!(of(&u1)[0]["assigned_by"], "hr", "{b}");

    // Deactivating a member ends its assignment; reactivating gives it a new one.
    let (status, _) = c
        .patch(
            &format!("/Users/{u2}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!c.allowed(&u2, "read").await, "{b}: deactivated");
    let (status, _) = c
        .patch(
            &format!("/Users/{u2}"),
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(status, 200);
    assert!(c.allowed(&u2, "read").await, "{b}: reactivated");

    // Filters on groups.
    for (filter, want) in [
        (format!("members[value eq \"{u2}\"]"), vec!["Nurses"]),
        (format!("members[value eq \"{u1}\"]"), vec![]),
        ("displayName eq \"nurses\"".to_string(), vec!["Nurses"]),
        ("members pr".to_string(), vec!["Nurses"]),
    ] {
        let (status, _, v) = c
            .call(
                Method::GET,
                &format!("/Groups?filter={}", enc(&filter)),
                None,
                &[],
            )
            .await;
        assert_eq!(status, 200, "{b}: {filter}: {v}");
        assert_eq!(names(&v), set(&want), "{b}: {filter}");
    }

    // A member whose other roles conflict (static separation of duties) is refused with the
    // model's reason, and nothing changes.
    let mut doc = c.export().await;
    doc["assignments"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "a-u3", "user": u3, "roles": ["approver"]}));
    let r =
        c.s.client
            .post(c.s.url("/v1/access/import"))
            .header(AUTHORIZATION, c.s.auth())
            .header(CONTENT_TYPE, "application/json")
            .body(doc.to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let (status, v) = c
        .patch(
            &gpath,
            json!([{"op": "add", "path": "members", "value": [{"value": u3}]}]),
        )
        .await;
    assert_eq!(status, 400, "{b}: {v}");
    assert!(v["detail"].as_str().unwrap().contains("sod"), "{b}: {v}");
    let (_, _, g) = c.call(Method::GET, &gpath, None, &[]).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 1, "{b}: {g}");

    // Concurrent changes: neither is lost (each a new version over the one it read).
    let more: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(
                c.create_user(&format!("m{i}"), json!({})).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    };
    let results = futures_util::future::join_all(more.iter().map(|m| {
        c.patch(
            &gpath,
            json!([{"op": "add", "path": "members", "value": [{"value": m}]}]),
        )
    }))
    .await;
    for (status, v) in &results {
        assert_eq!(*status, 200, "{b}: {v}");
    }
    let (_, _, g) = c.call(Method::GET, &gpath, None, &[]).await;
    let members: BTreeSet<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    for m in &more {
        assert!(members.contains(m.as_str()), "{b}: {m} lost: {g}");
    }
    for m in &more {
        assert!(c.allowed(m, "read").await, "{b}: {m}");
    }

    // Deleting the group ends every member's assignment.
    let (status, _, _) = c.call(Method::DELETE, &gpath, None, &[]).await;
    assert_eq!(status, 204);
    assert!(!c.allowed(&u2, "read").await, "{b}");
    let (status, _, v) = c.call(Method::GET, &gpath, None, &[]).await;
    assert_eq!(status, 404);
    assert_scim_error(&v, 404, None, b);
    c.s.stop().await;
}

async fn discovery_and_scim_errors(backend: Backend) {
    let c = Scim::start(backend).await;
    let b = c.s.backend;
    let (status, h, spc) = c
        .call(Method::GET, "/ServiceProviderConfig", None, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(h[CONTENT_TYPE], SCIM);
    for (feature, supported) in [
        ("patch", true),
        ("filter", true),
        ("sort", true),
        ("etag", true),
        ("bulk", false),
        ("changePassword", false),
    ] {
        assert_eq!(spc[feature]["supported"], supported, "{b}: {feature}");
    }
    let (_, _, types) = c.call(Method::GET, "/ResourceTypes", None, &[]).await;
    let ids: BTreeSet<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["User", "Group"]));
    let (_, _, schemas) = c.call(Method::GET, "/Schemas", None, &[]).await;
    let names: BTreeSet<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for n in [
        "User",
        "Group",
        "ResourceType",
        "ServiceProviderConfig",
        "Schema",
    ] {
        assert!(names.contains(n), "{b}: {n}");
    }
    // (path, status) of reads that must answer with a SCIM error.
    for (path, status) in [
        (format!("/Schemas/{USER}"), 200),
        ("/ResourceTypes/Group".to_string(), 200),
        ("/Schemas/urn:nope".to_string(), 404),
        ("/ResourceTypes/Nope".to_string(), 404),
        ("/0193a000-0000-7000-8000-000000000000".to_string(), 404),
        ("/Users/no-such-id".to_string(), 404),
        ("/Groups/no-such-id".to_string(), 404),
    ] {
        let (got, h, v) = c.call(Method::GET, &path, None, &[]).await;
        assert_eq!(got, status, "{b}: {path}: {v}");
        assert_eq!(h[CONTENT_TYPE], SCIM, "{b}: {path}");
        if status == 404 {
            assert_scim_error(&v, 404, None, &path);
        }
    }
    let (status, _, v) = c
        .call(Method::POST, "/.search", Some(&json!({})), &[])
        .await;
    assert_eq!(status, 501);
    assert_scim_error(&v, 501, None, b);
    // Errors made outside the SCIM handlers (a wrong method, a body over the limit) are SCIM
    // errors too, so that a SCIM client can read them.
    let big = json!({"schemas": [USER], "userName": "big", "title": "x".repeat(2 * 1024 * 1024)});
    for (method, path, body, want) in [
        (Method::POST, "/ServiceProviderConfig", json!({}), 405),
        (Method::POST, "/Users", big, 413),
    ] {
        let (status, h, v) = c.call(method, path, Some(&body), &[]).await;
        assert_eq!(status, want, "{b}: {path}: {v}");
        assert_eq!(h[CONTENT_TYPE], SCIM, "{b}: {path}");
        assert_scim_error(&v, want, None, path);
    }
    c.s.stop().await;
}

/// PyPI `scim2-tester` (pinned in interop/scim/requirements.txt) against the running server:
/// every check passes; the ones it skips are for features ServiceProviderConfig says are not
/// supported (interop/scim/check.py prints each with its reason).
#[tokio::test]
async fn scim2_tester_passes() {
    if !tillit_testkit::interop_enabled(
        "scim2-tester (pip install -r interop/scim/requirements.txt)",
    ) {
        return;
    }
    let c = Scim::start(Backend::Sqlite).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/scim/check.py");
    let (url, token) = (c.s.url("/scim/v2"), c.hr.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(url)
            .arg(token)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scim2-tester failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("scim2-tester: 0 errors"), "{stdout}");
    c.s.stop().await;
}
