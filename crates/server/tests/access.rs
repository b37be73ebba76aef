//! Access management over HTTP, on both backends: the seed's four worked examples imported from
//! `crates/access/examples/` and decided over `POST /v1/access/check`; refused imports; per-object
//! separation of duties with recorded exercises; effective rights; export round trips;
//! idempotent imports; a model kept fresh when another instance imports; bad input → 4xx.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{backend_tests, Backend, TestServer};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use tillit_store::{AccessDocumentVersion, AccessRepo};

backend_tests!(
    the_four_worked_examples_decide_as_the_seed_describes,
    a_refused_import_names_every_bad_entry_and_changes_nothing,
    recorded_exercises_enforce_per_object_separation_of_duties,
    effective_rights_and_violations,
    export_round_trips_and_imports_are_idempotent,
    another_instance_s_import_is_picked_up_within_the_ttl,
    bad_input_is_a_4xx_problem,
    tillit_s_own_api_is_authorized_through_the_model,
    the_token_endpoint_issues_access_tokens_another_library_accepts,
    local_login_with_totp_rotated_sessions_levels_and_a_rate_limit,
    sign_in_through_a_real_openid_provider_maps_acr_to_the_level,
    delegated_administration_assigns_and_ends_single_assignments,
);

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../access/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn media_type(name: &str) -> &'static str {
    if name.ends_with(".json") {
        "application/json"
    } else {
        "application/yaml"
    }
}

/// POST a raw body with the admin token: status and JSON body.
async fn post_raw(s: &TestServer, path: &str, ct: &str, body: Vec<u8>) -> (u16, Value) {
    let r = s
        .client
        .post(s.url(path))
        .header(AUTHORIZATION, s.auth())
        .header(CONTENT_TYPE, ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })),
    )
}

async fn import(s: &TestServer, ct: &str, text: &str) -> (u16, Value) {
    post_raw(s, "/v1/access/import", ct, text.as_bytes().to_vec()).await
}

async fn import_ok(s: &TestServer, ct: &str, text: &str) -> u64 {
    let (status, body) = import(s, ct, text).await;
    assert_eq!(status, 201, "{}: import: {body}", s.backend);
    body["version"].as_u64().unwrap()
}

async fn check(s: &TestServer, body: Value) -> Value {
    let r = s.post_json("/v1/access/check", &body).await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{}: check {body}: {v}", s.backend);
    v
}

/// One row of a decision table: the check, whether it is allowed, a fragment of its reasons and,
/// when allowed, the inheritance path.
struct Row {
    check: Value,
    allowed: bool,
    reason: &'static str,
    path: &'static [&'static str],
}

fn row(check: Value, allowed: bool, reason: &'static str, path: &'static [&'static str]) -> Row {
    Row {
        check,
        allowed,
        reason,
        path,
    }
}

fn at_org(user: &str, right: &str, org: &str, loa: Option<&str>, at: &str) -> Value {
    let mut v = json!({"user": user, "right": right, "scope": {"kind": "organisation", "id": org}, "at": at});
    if let Some(l) = loa {
        v["loa"] = json!(l);
    }
    v
}

async fn run_table(s: &TestServer, name: &str, rows: &[Row]) {
    for (i, r) in rows.iter().enumerate() {
        let d = check(s, r.check.clone()).await;
        let reasons = d["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(" | ");
        let ctx = format!("{} {name} row {i} {}: {d}", s.backend, r.check);
        assert_eq!(d["allowed"], json!(r.allowed), "{ctx}");
        assert!(!reasons.is_empty(), "{ctx}: no reason");
        assert!(reasons.contains(r.reason), "{ctx}: lacks {:?}", r.reason);
        if r.allowed {
            let path: Vec<&str> = d["via"]["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            assert_eq!(path, r.path, "{ctx}");
            assert_eq!(d["via"]["role"], json!(r.path[0]), "{ctx}");
        } else {
            assert_eq!(d["via"], Value::Null, "{ctx}: a refusal with via");
        }
    }
}

const T: &str = "2025-06-02T10:00:00Z";

async fn the_four_worked_examples_decide_as_the_seed_describes(backend: Backend) {
    let s = TestServer::start(backend).await;
    let sub = Some("substantial");

    // Nurse with two employments: only the Rigshospitalet user may prescribe.
    let name = "nurse-two-employments.yaml";
    import_ok(&s, media_type(name), &example(name)).await;
    let rows = [
        row(
            at_org("riget", "ordinationsret", "rigshospitalet", sub, T),
            true,
            "allowed: assignment tildeling-1 gives role sygeplejerske-ord",
            &["sygeplejerske-ord"],
        ),
        row(
            at_org("knoglen201", "patientjournal", "knoglen", sub, T),
            true,
            "allowed",
            &["sygeplejerske"],
        ),
        row(
            at_org("knoglen201", "ordinationsret", "knoglen", sub, T),
            false,
            "no assignment of user knoglen201 grants right ordinationsret",
            &[],
        ),
        row(
            at_org("riget", "ordinationsret", "knoglen", sub, T),
            false,
            "only within organisation rigshospitalet; the check's scope is organisation knoglen",
            &[],
        ),
        row(
            json!({"user": "riget", "right": "ordinationsret", "loa": "substantial", "at": T}),
            false,
            "the check names no scope",
            &[],
        ),
        row(
            at_org("riget", "ordinationsret", "rigshospitalet", Some("low"), T),
            false,
            "requires a login at assurance level Substantial or higher; this login is Low",
            &[],
        ),
        row(
            at_org("riget", "ordinationsret", "rigshospitalet", None, T),
            false,
            "the check gives no level",
            &[],
        ),
        row(
            at_org(
                "riget",
                "ordinationsret",
                "rigshospitalet",
                sub,
                "2023-12-31T12:00:00Z",
            ),
            false,
            "assignment tildeling-1 is not valid at 2023-12-31T12:00:00Z",
            &[],
        ),
        row(
            json!({"user": "nobody", "right": "ordinationsret"}),
            false,
            "user \"nobody\" is unknown",
            &[],
        ),
        row(
            json!({"user": "riget", "right": "ordinationsret", "it_system": "cpr", "loa": "substantial", "scope": {"kind": "organisation", "id": "rigshospitalet"}, "at": T}),
            false,
            "belongs to IT system sundhedsplatformen, not to cpr",
            &[],
        ),
    ];
    run_table(&s, name, &rows).await;

    // Auditor restricted to two institutions (JSON).
    let name = "auditor-two-institutions.json";
    import_ok(&s, media_type(name), &example(name)).await;
    let mut rows = Vec::new();
    for right in ["bogfoering", "budgettering"] {
        rows.push(row(
            at_org("revison2345", right, "sneglen", sub, T),
            true,
            "within organisation sneglen",
            &["revision"],
        ));
        rows.push(row(
            at_org("revison2345", right, "solsikken", sub, T),
            true,
            "within organisation solsikken",
            &["revision"],
        ));
        rows.push(row(at_org("revison2345", right, "maelkebotten", sub, T), false, "only within organisation sneglen, organisation solsikken; the check's scope is organisation maelkebotten", &[]));
        rows.push(row(
            at_org("revison2345", right, "ukendt", sub, T),
            false,
            "(unknown to the model)",
            &[],
        ));
    }
    rows.push(row(json!({"user": "revison2345", "right": "bogfoering", "loa": "substantial", "scope": {"kind": "person", "id": "jens-jensen"}, "at": T}), false, "the check's scope is person jens-jensen", &[]));
    run_table(&s, name, &rows).await;
    // The previous example is no longer in force.
    let d = check(
        &s,
        at_org("riget", "ordinationsret", "rigshospitalet", sub, T),
    )
    .await;
    assert_eq!(d["allowed"], json!(false), "{d}");

    // A payroll role shared from one classification into another.
    let name = "payroll-role-shared.yaml";
    import_ok(&s, media_type(name), &example(name)).await;
    let rows = [
        row(
            at_org(
                "lone-rh",
                "loenindberetning",
                "rigshospitalet",
                None,
                "2025-03-03T09:00:00Z",
            ),
            true,
            "role loenindberetter",
            &["loenindberetter"],
        ),
        row(
            at_org(
                "lone-rh",
                "loenindberetning",
                "oes-org",
                None,
                "2025-03-03T09:00:00Z",
            ),
            false,
            "only within organisation rigshospitalet",
            &[],
        ),
        row(
            at_org(
                "lone-rh",
                "loenindberetning",
                "rigshospitalet",
                None,
                "2025-01-15T09:00:00Z",
            ),
            false,
            "assignment lone-loen is not valid",
            &[],
        ),
    ];
    run_table(&s, name, &rows).await;

    // Hospital role inheritance.
    let name = "hospital-role-inheritance.yaml";
    import_ok(&s, media_type(name), &example(name)).await;
    let org = "hospital-org";
    let rows = [
        row(
            at_org("dr-hansen", "operationsplan", org, None, T),
            true,
            "through hospitalslaege",
            &["hospitalslaege"],
        ),
        row(
            at_org("dr-hansen", "ordination", org, None, T),
            true,
            "through hospitalslaege → laege",
            &["hospitalslaege", "laege"],
        ),
        row(
            at_org("dr-hansen", "intranet", org, None, T),
            true,
            "hospitalslaege → laege → ansat",
            &["hospitalslaege", "laege", "ansat"],
        ),
        row(
            at_org("dr-hansen", "booking", org, None, T),
            false,
            "no assignment of user dr-hansen grants right booking",
            &[],
        ),
        row(
            at_org("sekretaer-sofie", "intranet", org, None, T),
            true,
            "allowed",
            &["sekretaer", "ansat"],
        ),
        row(
            at_org("sekretaer-sofie", "ordination", org, None, T),
            false,
            "no assignment",
            &[],
        ),
    ];
    run_table(&s, name, &rows).await;
    let (status, rights) = s
        .get_json("/v1/access/users/dr-hansen/rights?at=2025-06-01")
        .await;
    assert_eq!(status, 200, "{rights}");
    let names: Vec<&str> = rights["rights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["right"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "intranet",
            "journal-laes",
            "journal-skriv",
            "operationsplan",
            "ordination",
            "tidsregistrering"
        ]
    );
    s.stop().await;
}

const BROKEN: &str = r#"
classifications: [{ id: kommune }]
it_systems: [{ id: ydelse, classification: kommune }]
rights:
  - { id: tildele, it_system: ydelse, classification: kommune }
  - { id: godkende, it_system: ydelsessystem, classification: kommune }
roles:
  - { id: a, classifications: [kommune], inherits: [b], rights: [tildele] }
  - { id: b, classifications: [kommune], inherits: [a] }
users:
  - { id: anna }
assignments:
  - { id: x, user: anna, roles: [findes-ikke] }
"#;

async fn a_refused_import_names_every_bad_entry_and_changes_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let nurse = example("nurse-two-employments.yaml");
    assert_eq!(import_ok(&s, "application/yaml", &nurse).await, 1);
    let (_, before) = s.get_json("/v1/access/export").await;
    let (_, audit_before) = s.get_json("/v1/audit/entries?limit=200").await;

    let (status, problem) = import(&s, "application/yaml", BROKEN).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], json!("urn:tillit:problem:validation"));
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for bad in ["rights[godkende]", "roles[a]", "roles[b]", "assignments[x]"] {
        assert!(
            fields.contains(&bad),
            "{}: {bad} not named in {fields:?}",
            s.backend
        );
    }
    for good in ["rights[tildele]", "classifications[kommune]"] {
        assert!(!fields.contains(&good), "{good} named: {fields:?}");
    }
    // A static separation-of-duties violation refuses the document too.
    let sod = r#"
classifications: [{ id: k }]
it_systems: [{ id: s, classification: k }]
rights: [{ id: r1, it_system: s, classification: k }, { id: r2, it_system: s, classification: k }]
rules: [{ id: sod, kind: separation_of_duties, mode: static, rights: [r1, r2] }]
roles: [{ id: both, classifications: [k], rights: [r1, r2] }]
persons: [{ id: p }]
users: [{ id: u, person: p }]
assignments: [{ id: a1, user: u, roles: [both] }]
"#;
    let (status, problem) = import(&s, "application/yaml", sod).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == json!("assignments[a1]")),
        "{problem}"
    );

    // Nothing changed: the same document in force, no audit entry.
    let (_, after) = s.get_json("/v1/access/export").await;
    assert_eq!(before, after);
    let (_, audit_after) = s.get_json("/v1/audit/entries?limit=200").await;
    assert_eq!(audit_before, audit_after);
    let d = check(
        &s,
        at_org(
            "riget",
            "ordinationsret",
            "rigshospitalet",
            Some("substantial"),
            T,
        ),
    )
    .await;
    assert_eq!(d["allowed"], json!(true), "{d}");
    // The next import is version 2: the refused ones took no version.
    assert_eq!(import_ok(&s, "application/yaml", &nurse).await, 2);
    s.stop().await;
}

const SOD_OBJECT: &str = r#"
classifications: [{ id: kommune }]
it_systems: [{ id: ydelse, classification: kommune }]
rights:
  - { id: tildele-ydelse, it_system: ydelse, classification: kommune }
  - { id: godkende-ydelse, it_system: ydelse, classification: kommune }
rules:
  - { id: sod-obj, kind: separation_of_duties, mode: object, rights: [tildele-ydelse, godkende-ydelse] }
roles:
  - { id: begge, classifications: [kommune], rights: [tildele-ydelse, godkende-ydelse] }
persons: [{ id: p-anna }, { id: p-bo }]
users:
  - { id: anna, person: p-anna }
  - { id: anna-2, person: p-anna }
  - { id: bo, person: p-bo }
assignments:
  - { id: a1, user: anna, roles: [begge] }
  - { id: a2, user: anna-2, roles: [begge] }
  - { id: a3, user: bo, roles: [begge] }
"#;

async fn recorded_exercises_enforce_per_object_separation_of_duties(backend: Backend) {
    let s = TestServer::start(backend).await;
    import_ok(&s, "application/yaml", SOD_OBJECT).await;
    let c = |user: &str, right: &str, object: &str, record: bool| json!({"user": user, "right": right, "object": object, "record": record, "at": T});
    // Asking without recording records nothing: the conflicting right stays allowed.
    let d = check(&s, c("anna", "tildele-ydelse", "sag-17", false)).await;
    assert_eq!(
        (d["allowed"].clone(), d["recorded"].clone()),
        (json!(true), json!(false)),
        "{d}"
    );
    let d = check(&s, c("anna", "godkende-ydelse", "sag-17", false)).await;
    assert_eq!(d["allowed"], json!(true), "{d}");

    // Anna grants the benefit on case 17 and records it.
    let d = check(&s, c("anna", "tildele-ydelse", "sag-17", true)).await;
    assert_eq!(
        (d["allowed"].clone(), d["recorded"].clone()),
        (json!(true), json!(true)),
        "{d}"
    );
    let cases = [
        (
            c("anna", "godkende-ydelse", "sag-17", true),
            false,
            "user anna exercised tildele-ydelse on sag-17",
        ),
        (
            c("anna-2", "godkende-ydelse", "sag-17", true),
            false,
            "the same person as anna-2",
        ),
        (
            c("anna", "godkende-ydelse", "sag-18", false),
            true,
            "allowed",
        ),
        (c("bo", "godkende-ydelse", "sag-17", true), true, "allowed"),
        (
            json!({"user": "anna", "right": "godkende-ydelse", "at": T}),
            false,
            "the check must name the object",
        ),
    ];
    for (body, allowed, reason) in cases {
        let d = check(&s, body.clone()).await;
        assert_eq!(d["allowed"], json!(allowed), "{body}: {d}");
        assert!(d["reasons"].to_string().contains(reason), "{body}: {d}");
        assert_eq!(
            d["recorded"],
            json!(allowed && body["record"] == json!(true))
        );
    }
    // Bo's approval was recorded: now Bo may not also grant on case 17.
    let d = check(&s, c("bo", "tildele-ydelse", "sag-17", false)).await;
    assert_eq!(d["allowed"], json!(false), "{d}");

    // Each recorded exercise has its audit entry.
    let (_, entries) = s.get_json("/v1/audit/entries?limit=200").await;
    let exercised: Vec<&Value> = entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("access.exercise"))
        .collect();
    assert_eq!(exercised.len(), 2, "{entries}");
    assert_eq!(exercised[0]["object_id"], json!("sag-17"));

    // Concurrent recorders on one fresh object: per-object SoD still holds — at most one of
    // two conflicting rights gets recorded for the same person.
    let mut tasks = Vec::new();
    for (user, right) in [("anna", "tildele-ydelse"), ("anna-2", "godkende-ydelse")]
        .into_iter()
        .cycle()
        .take(8)
    {
        let client = s.client.clone();
        let url = s.url("/v1/access/check");
        let auth = s.auth();
        let body = c(user, right, "sag-99", true);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header(AUTHORIZATION, auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let d: Value = r.json().await.unwrap();
            (body["right"].clone(), d["recorded"] == json!(true))
        }));
    }
    let mut recorded_rights = std::collections::BTreeSet::new();
    for t in tasks {
        let (right, recorded) = t.await.unwrap();
        if recorded {
            recorded_rights.insert(right.to_string());
        }
    }
    assert_eq!(
        recorded_rights.len(),
        1,
        "both conflicting rights recorded: {recorded_rights:?}"
    );
    s.stop().await;
}

async fn effective_rights_and_violations(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (status, _) = s.get_json("/v1/access/violations").await;
    assert_eq!(status, 404);
    import_ok(
        &s,
        "application/yaml",
        &example("nurse-two-employments.yaml"),
    )
    .await;
    let (status, body) = s
        .get_json("/v1/access/users/riget/rights?at=2025-03-01T00:00:00Z")
        .await;
    assert_eq!(status, 200, "{body}");
    let rights = body["rights"].as_array().unwrap();
    let names: Vec<&str> = rights
        .iter()
        .map(|r| r["right"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ordinationsret", "patientjournal"]);
    assert_eq!(
        rights[0]["grants"][0]["restrictions"][0]["id"],
        json!("rigshospitalet")
    );
    assert_eq!(
        rights[0]["grants"][0]["restrictions"][0]["kind"],
        json!("organisation")
    );
    assert_eq!(rights[0]["required_loa"], json!("substantial"));
    let (status, body) = s
        .get_json("/v1/access/users/riget/rights?at=2023-06-01")
        .await;
    assert_eq!((status, body["rights"].clone()), (200, json!([])), "{body}");
    let (status, body) = s.get_json("/v1/access/users/nobody/rights").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s.get_json("/v1/access/users/riget/rights?at=tuesday").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], json!("at"));
    let (status, body) = s.get_json("/v1/access/violations").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].clone(), body["violations"].clone()),
        (json!(1), json!([]))
    );
    s.stop().await;
}

async fn export_round_trips_and_imports_are_idempotent(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (status, _) = s.get_json("/v1/access/export").await;
    assert_eq!(status, 404);
    let yaml = example("payroll-role-shared.yaml");
    import_ok(&s, "application/yaml", &yaml).await;
    let r = s
        .client
        .get(s.url("/v1/access/export"))
        .header(AUTHORIZATION, s.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    let first = r.text().await.unwrap();
    // The export is the same document as the YAML imported.
    let from_yaml = tillit_access::Document::from_yaml(&yaml).unwrap();
    assert_eq!(
        tillit_access::Document::from_json(&first).unwrap(),
        from_yaml
    );
    // Importing the export again gives the same document.
    assert_eq!(import_ok(&s, "application/json", &first).await, 2);
    let (_, again) = s.get_json("/v1/access/export").await;
    assert_eq!(again, serde_json::from_str::<Value>(&first).unwrap());

    // Idempotency-Key: a retry (even in the other syntax) gets the first response.
    let send = |ct: &'static str, body: String, key: &'static str| {
        s.client
            .post(s.url("/v1/access/import"))
            .header(AUTHORIZATION, s.auth())
            .header(CONTENT_TYPE, ct)
            .header("Idempotency-Key", key)
            .body(body)
            .send()
    };
    let r1 = send("application/yaml", yaml.clone(), "imp-1")
        .await
        .unwrap();
    assert_eq!(r1.status().as_u16(), 201);
    let b1: Value = r1.json().await.unwrap();
    assert_eq!(b1["version"], json!(3));
    let r2 = send("application/json", first.clone(), "imp-1")
        .await
        .unwrap();
    assert_eq!(r2.status().as_u16(), 201);
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    assert_eq!(r2.json::<Value>().await.unwrap(), b1);
    let other = example("nurse-two-employments.yaml");
    let r3 = send("application/yaml", other, "imp-1").await.unwrap();
    assert_eq!(r3.status().as_u16(), 422);
    // Still version 3 in force; the audit log names each version once.
    let (_, entries) = s.get_json("/v1/audit/entries?limit=200").await;
    let versions: Vec<&Value> = entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("access.import"))
        .map(|e| &e["object_id"])
        .collect();
    assert_eq!(versions, [&json!("1"), &json!("2"), &json!("3")]);
    s.stop().await;
}

async fn another_instance_s_import_is_picked_up_within_the_ttl(backend: Backend) {
    let s = TestServer::start(backend).await;
    import_ok(
        &s,
        "application/yaml",
        &example("nurse-two-employments.yaml"),
    )
    .await;
    let probe = at_org(
        "riget",
        "ordinationsret",
        "rigshospitalet",
        Some("substantial"),
        T,
    );
    assert_eq!(check(&s, probe.clone()).await["allowed"], json!(true));
    // Another instance on the same database imports a document without riget's assignment:
    // written straight into the store, past this server's cache.
    let mut doc =
        tillit_access::Document::from_yaml(&example("nurse-two-employments.yaml")).unwrap();
    doc.assignments.retain(|a| a.user != "riget");
    let store = &s.server.state.store;
    let version = store.latest_access_version().await.unwrap().unwrap() + 1;
    let event = tillit_audit::AuditEvent {
        actor: "system:other-instance".into(),
        org_id: None,
        action: "access.import".into(),
        object_id: Some(version.to_string()),
        details: json!({"version": version}),
    };
    store
        .import_access_document(
            AccessDocumentVersion {
                version,
                document: doc.to_json().unwrap(),
                imported_by: "system:other-instance".into(),
                imported_at: chrono::Utc::now(),
            },
            event,
            None,
        )
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let d = check(&s, probe.clone()).await;
        if d["allowed"] == json!(false) {
            break;
        }
        assert!(
            started.elapsed() < tillit_server::access::MODEL_TTL + Duration::from_secs(2),
            "{}: the new version was not picked up",
            s.backend
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

async fn bad_input_is_a_4xx_problem(backend: Backend) {
    let s = TestServer::start(backend).await;
    // Before any import.
    let r = s
        .post_json("/v1/access/check", &json!({"user": "u", "right": "r"}))
        .await;
    assert_eq!(r.status().as_u16(), 404);
    import_ok(
        &s,
        "application/yaml",
        &example("nurse-two-employments.yaml"),
    )
    .await;
    let checks = [
        (json!({"user": "riget"}), 422),
        (json!({"user": "riget", "right": "x", "colour": "red"}), 422),
        (json!({"user": "riget", "right": "x", "amount": -1}), 422),
        (
            json!({"user": "riget", "right": "x", "loa": "extreme"}),
            422,
        ),
        (
            json!({"user": "riget", "right": "x", "at": "yesterday"}),
            422,
        ),
        (
            json!({"user": "riget", "right": "x", "scope": {"kind": "planet", "id": "mars"}}),
            422,
        ),
        (json!({"user": "", "right": "x"}), 422),
        (json!({"user": "u".repeat(257), "right": "x"}), 422),
        (json!({"user": "riget", "right": "x", "object": ""}), 422),
        (json!(["not", "an", "object"]), 422),
    ];
    for (body, want) in checks {
        let r = s.post_json("/v1/access/check", &body).await;
        let status = r.status().as_u16();
        let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert_eq!(
            status,
            want,
            "{}: {body}: {}",
            s.backend,
            r.text().await.unwrap()
        );
        assert_eq!(ct, "application/problem+json");
    }
    let (status, _) = post_raw(
        &s,
        "/v1/access/check",
        "application/json",
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let raw_cases: [(&str, &[u8], u16); 6] = [
        ("text/plain", b"users: []", 415),
        ("application/json", b"\xff\xfe", 400),
        ("application/json", b"{\"users\": [", 422),
        ("application/yaml", b"users: [: :", 422),
        ("application/yaml", b"colours: [red]", 422),
        (
            "application/json",
            b"{\"users\": [{\"name\": \"no id\"}]}",
            422,
        ),
    ];
    for (ct, body, want) in raw_cases {
        let (status, problem) = post_raw(&s, "/v1/access/import", ct, body.to_vec()).await;
        assert_eq!(
            status,
            want,
            "{}: {ct} {:?}: {problem}",
            s.backend,
            String::from_utf8_lossy(body)
        );
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:tillit:problem:"),
            "{problem}"
        );
    }
    // Without a token.
    let r = s
        .client
        .post(s.url("/v1/access/check"))
        .json(&json!({"user": "riget", "right": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The document in force is still the first.
    let (_, entries) = s.get_json("/v1/audit/entries?limit=200").await;
    assert_eq!(
        entries["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == json!("access.import"))
            .count(),
        1
    );
    s.stop().await;
}

/// A request with a token: status and JSON body (or `{"raw": text}`).
async fn call(
    s: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut r = s
        .client
        .request(method, s.url(path))
        .header(AUTHORIZATION, format!("Bearer {token}"));
    if let Some(body) = body {
        r = r.json(body);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })),
    )
}

/// Issue 9 item 8: every handler authorizes through the access engine, in the built-in IT system
/// `tillit`, scoped to the organisation in the path; the bootstrap token stays unrestricted; audit
/// entries name the user.
#[allow(clippy::type_complexity)]
async fn tillit_s_own_api_is_authorized_through_the_model(backend: Backend) {
    use reqwest::Method;
    let s = TestServer::start(backend).await;
    let mut orgs = Vec::new();
    for (name, number) in [("Ankeborg", "10000001"), ("Gåseborg", "10000002")] {
        let r = s.create_org(name, "DK", number).await;
        assert_eq!(r.status(), 201);
        orgs.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (ankeborg, gaseborg) = (orgs[0].clone(), orgs[1].clone());
    let document = json!({
        "organisations": [{"id": ankeborg, "name": "Ankeborg"}, {"id": gaseborg, "name": "Gåseborg"}],
        "persons": [{"id": "p-clerk"}, {"id": "p-auditor"}, {"id": "p-admin"}, {"id": "p-none"}],
        "users": [{"id": "clerk", "person": "p-clerk"}, {"id": "auditor", "person": "p-auditor"},
                  {"id": "it-admin", "person": "p-admin"}, {"id": "nobody", "person": "p-none"}],
        "roles": [
            {"id": "issuer", "classifications": ["tillit"],
             "rights": ["type.manage", "attestation.issue", "attestation.read", "attestation.revoke", "org.read"]},
            {"id": "auditor", "classifications": ["tillit"], "rights": ["audit.read"]},
            {"id": "access-admin", "classifications": ["tillit"], "rights": ["access.manage", "access.read"]}
        ],
        "assignments": [
            {"id": "a1", "user": "clerk", "roles": ["issuer"],
             "restrictions": [{"kind": "organisation", "id": ankeborg}]},
            {"id": "a2", "user": "auditor", "roles": ["auditor"]},
            {"id": "a3", "user": "it-admin", "roles": ["access-admin"]}
        ]
    });
    import_ok(&s, "application/json", &document.to_string()).await;

    // The administrator makes a token for each user.
    let mut tokens = std::collections::HashMap::new();
    for user in ["clerk", "auditor", "it-admin", "nobody"] {
        let (status, body) = call(
            &s,
            &s.token,
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": format!("{user}'s token"), "user": user})),
        )
        .await;
        assert_eq!(status, 201, "{}: token for {user}: {body}", s.backend);
        assert_eq!(body["acts_as"], user);
        tokens.insert(user, body["secret"].as_str().unwrap().to_owned());
    }
    let type_body = json!({"slug": "permit", "definition": {
        "display": {"en": "Permit"},
        "claims_schema": {"type": "object", "properties": {"plate": {"type": "string"}}},
        "default_validity_days": 30, "formats": ["sd-jwt-vc"]}});
    let issue_body = json!({"type": "permit", "claims": {"plate": "ABC12D"}});
    let post = Method::POST;
    let get = Method::GET;
    // (user, method, path, body, expected status, a text the refusal must contain)
    let cases: Vec<(&str, Method, String, Option<Value>, u16, &str)> = vec![
        (
            "clerk",
            post.clone(),
            format!("/v1/orgs/{ankeborg}/types"),
            Some(type_body.clone()),
            201,
            "",
        ),
        (
            "clerk",
            post.clone(),
            format!("/v1/orgs/{gaseborg}/types"),
            Some(type_body.clone()),
            403,
            "may not type.manage in organisation",
        ),
        (
            "clerk",
            post.clone(),
            format!("/v1/orgs/{ankeborg}/attestations"),
            Some(issue_body.clone()),
            201,
            "",
        ),
        (
            "clerk",
            post.clone(),
            format!("/v1/orgs/{gaseborg}/attestations"),
            Some(issue_body.clone()),
            403,
            "attestation.issue",
        ),
        (
            "clerk",
            get.clone(),
            format!("/v1/orgs/{ankeborg}/attestations"),
            None,
            200,
            "",
        ),
        (
            "clerk",
            get.clone(),
            format!("/v1/orgs/{gaseborg}/attestations"),
            None,
            403,
            "attestation.read",
        ),
        (
            "clerk",
            get.clone(),
            format!("/v1/orgs/{ankeborg}"),
            None,
            200,
            "",
        ),
        (
            "clerk",
            get.clone(),
            format!("/v1/orgs/{gaseborg}"),
            None,
            403,
            "org.read",
        ),
        // Installation-wide actions: a restricted assignment never allows them.
        (
            "clerk",
            get.clone(),
            "/v1/orgs".into(),
            None,
            403,
            "installation-wide",
        ),
        (
            "clerk",
            post.clone(),
            "/v1/orgs".into(),
            Some(json!({"name": "X", "country": "DK", "organisation_number": "10000003"})),
            403,
            "org.manage",
        ),
        (
            "clerk",
            get.clone(),
            "/v1/audit/entries".into(),
            None,
            403,
            "audit.read",
        ),
        (
            "auditor",
            get.clone(),
            "/v1/audit/entries".into(),
            None,
            200,
            "",
        ),
        (
            "auditor",
            get.clone(),
            format!("/v1/orgs/{ankeborg}/attestations"),
            None,
            403,
            "attestation.read",
        ),
        (
            "nobody",
            get.clone(),
            format!("/v1/orgs/{ankeborg}/types"),
            None,
            403,
            "attestation.read",
        ),
        (
            "nobody",
            get.clone(),
            "/v1/access/export".into(),
            None,
            403,
            "access.read",
        ),
        (
            "nobody",
            post.clone(),
            "/v1/access/check".into(),
            Some(json!({"user": "clerk", "right": "org.read"})),
            403,
            "access.check",
        ),
        (
            "it-admin",
            get.clone(),
            "/v1/access/export".into(),
            None,
            200,
            "",
        ),
        ("it-admin", get.clone(), "/v1/tokens".into(), None, 200, ""),
        (
            "it-admin",
            post.clone(),
            "/v1/tokens".into(),
            Some(json!({"name": "more", "user": "clerk"})),
            201,
            "",
        ),
        (
            "it-admin",
            post.clone(),
            "/v1/tokens".into(),
            Some(json!({"name": "admin"})),
            403,
            "only an administrator token",
        ),
        (
            "it-admin",
            post.clone(),
            "/v1/tokens".into(),
            Some(json!({"name": "x", "user": "ghost"})),
            422,
            "not in the access model",
        ),
        (
            "clerk",
            post.clone(),
            "/v1/tokens".into(),
            Some(json!({"name": "x", "user": "clerk"})),
            403,
            "access.manage",
        ),
    ];
    for (user, method, path, body, want, text) in cases {
        let (status, got) = call(&s, &tokens[user], method.clone(), &path, body.as_ref()).await;
        let context = format!("{}: {user} {method} {path}", s.backend);
        assert_eq!(status, want, "{context}: {got}");
        if want >= 400 {
            let detail = got.to_string();
            assert!(detail.contains(text), "{context}: {detail} lacks {text:?}");
        }
    }

    // No secured operation of the API answers 2xx to a user the model gives nothing, whatever
    // the path (every documented operation, path parameters filled in, an empty JSON body).
    let (_, _, spec) = s.get_public("/v1/openapi.json").await;
    let mut secured = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            secured += 1;
            let concrete = path
                .replace("{org}", &ankeborg)
                .replace("{slug}", "permit")
                .replace("{tree_size}", "1")
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "0193a000-0000-7000-8000-000000000000"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method == Method::POST).then(|| json!({}));
            let (status, got) = call(
                &s,
                &tokens["nobody"],
                method.clone(),
                &concrete,
                body.as_ref(),
            )
            .await;
            assert!(
                !(200..300).contains(&status),
                "{}: nobody {method} {concrete}: {status} {got}",
                s.backend
            );
        }
    }
    assert!(
        secured >= 19,
        "{}: only {secured} secured operations documented",
        s.backend
    );

    // Audit entries name the user who acted.
    let (status, page) = s.get_json("/v1/audit/entries?limit=200").await;
    assert_eq!(status, 200);
    let actors: Vec<(&str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for action in ["attestation_type.create", "attestation.issue"] {
        assert!(
            actors.contains(&(action, "user:clerk")),
            "{}: {action} by user:clerk in {actors:?}",
            s.backend
        );
    }

    // A revoked token stops working at once in this process.
    let (status, list) = call(&s, &s.token, Method::GET, "/v1/tokens", None).await;
    assert_eq!(status, 200);
    let clerk_token = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "clerk's token")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        &s,
        &s.token,
        Method::POST,
        &format!("/v1/tokens/{clerk_token}/revoke"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &s,
        &tokens["clerk"],
        Method::GET,
        &format!("/v1/orgs/{ankeborg}"),
        None,
    )
    .await;
    assert_eq!(status, 401, "{}: revoked: {body}", s.backend);
    // Nobody revokes the token they are using by mistake.
    let bootstrap = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bootstrap")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(
        &s,
        &s.token,
        Method::POST,
        &format!("/v1/tokens/{bootstrap}/revoke"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{}: {body}", s.backend);
    // The administrator token is unrestricted and needs no model entry.
    let (status, _) = s
        .get_json(&format!("/v1/orgs/{gaseborg}/attestations"))
        .await;
    assert_eq!(status, 200);
    s.stop().await;
}

/// POST a form to the token endpoint, with an optional HTTP Basic credential.
async fn token_request(
    s: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = s.client.post(s.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap(), headers)
}

/// A client assertion (RFC 7523) signed by `key`.
fn assertion(key: &tillit_crypto::SigningKey, client: &str, aud: &str, jti: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = serde_json::Map::new();
    header.insert("kid".into(), json!(key.kid()));
    let claims =
        json!({"iss": client, "sub": client, "aud": aud, "jti": jti, "iat": now, "exp": now + 120});
    tillit_crypto::jws::sign_compact(header, claims.to_string().as_bytes(), key).unwrap()
}

/// Issue 9 item 6: client credentials (secret and private_key_jwt) → ES256 `at+jwt` access
/// tokens with sub, person / IT system, acr and the roles and rights for the audience with their
/// restrictions; Tillit's API accepts them; errors are RFC 6749 JSON; and a resource server
/// written on PyJWT accepts the token (with TILLIT_INTEROP=1).
#[allow(clippy::type_complexity)]
async fn the_token_endpoint_issues_access_tokens_another_library_accepts(backend: Backend) {
    let s = TestServer::start(backend).await;
    let r = s.create_org("Ankeborg", "DK", "10000001").await;
    let ankeborg = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.create_org("Gåseborg", "DK", "10000002").await;
    let gaseborg = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = json!({
        "classifications": [{"id": "kommune"}],
        "it_systems": [{"id": "sager", "name": "Ankeborg cases", "classification": "kommune"}],
        "rights": [{"id": "sag.læs", "it_system": "sager", "classification": "kommune"}],
        "organisations": [{"id": ankeborg}, {"id": gaseborg}],
        "users": [{"id": "sagssystem", "it_system": "sager"}],
        "roles": [
            {"id": "register-reader", "classifications": ["tillit"], "rights": ["attestation.read"]},
            {"id": "case-reader", "classifications": ["kommune"], "rights": ["sag.læs"]}
        ],
        "assignments": [
            {"id": "a1", "user": "sagssystem", "roles": ["register-reader"],
             "restrictions": [{"kind": "organisation", "id": ankeborg}]},
            {"id": "a2", "user": "sagssystem", "roles": ["case-reader"]}
        ]
    });
    import_ok(&s, "application/json", &document.to_string()).await;
    let (status, client) = call(&s, &s.token, reqwest::Method::POST, "/v1/clients",
        Some(&json!({"name": "Sagssystem", "user": "sagssystem", "client_id": "sagssystem", "loa": "substantial"}))).await;
    assert_eq!(status, 201, "{}: {client}", s.backend);
    let secret = client["client_secret"].as_str().unwrap().to_owned();

    let (status, metadata) = call(
        &s,
        &s.token,
        reqwest::Method::GET,
        "/.well-known/oauth-authorization-server",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let issuer = metadata["issuer"].as_str().unwrap().to_owned();
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/oauth/token"));

    // Client secret via HTTP Basic; audience tillit by default.
    let (status, body, headers) = token_request(
        &s,
        Some(("sagssystem", &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", s.backend);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let jws = tillit_crypto::jws::decode_compact(&access_token).unwrap();
    assert_eq!(jws.header["typ"], "at+jwt");
    let (_, _, jwks) = s.get_public("/oauth/jwks").await;
    let jwk: tillit_crypto::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == jws.header["kid"])
            .unwrap()
            .clone(),
    )
    .unwrap();
    jws.verify(
        &tillit_crypto::VerifyingKey::from_jwk(&jwk).unwrap(),
        &[tillit_crypto::Algorithm::Es256],
    )
    .unwrap();
    let claims: Value = serde_json::from_slice(&jws.payload).unwrap();
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["sub"], "sagssystem");
    assert_eq!(claims["aud"], "tillit");
    assert_eq!(claims["client_id"], "sagssystem");
    assert_eq!(claims["it_system"], "sager");
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["roles"], json!(["register-reader"]));
    assert_eq!(
        claims["rights"],
        json!([{"right": "attestation.read",
        "restrictions": [{"kind": "organisation", "id": ankeborg, "include_children": false}]}])
    );

    // Tillit's own API decides on the token's subject.
    let (status, body) = call(
        &s,
        &access_token,
        reqwest::Method::GET,
        &format!("/v1/orgs/{ankeborg}/attestations"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", s.backend);
    let (status, body) = call(
        &s,
        &access_token,
        reqwest::Method::GET,
        &format!("/v1/orgs/{gaseborg}/attestations"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{}: {body}", s.backend);
    // A token for another audience is not one for Tillit's API.
    let (status, body, _) = token_request(
        &s,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sagssystem"),
            ("client_secret", &secret),
            ("audience", "sager"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{}: {body}", s.backend);
    let sager_token = body["access_token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &tillit_crypto::jws::decode_compact(&sager_token)
            .unwrap()
            .payload,
    )
    .unwrap();
    assert_eq!(claims["aud"], "sager");
    assert_eq!(
        claims["rights"],
        json!([{"right": "sag.læs"}]),
        "unrestricted: no restrictions member"
    );
    let (status, _) = call(
        &s,
        &sager_token,
        reqwest::Method::GET,
        &format!("/v1/orgs/{ankeborg}/attestations"),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // private_key_jwt.
    let key = tillit_crypto::SigningKey::generate(tillit_crypto::Algorithm::Es256).unwrap();
    let jwks = json!({"keys": [key.verifying_key().to_jwk()]});
    let (status, body) = call(
        &s,
        &s.token,
        reqwest::Method::POST,
        "/v1/clients",
        Some(&json!({"name": "Keyed", "user": "sagssystem", "client_id": "keyed", "jwks": jwks})),
    )
    .await;
    assert_eq!(status, 201, "{}: {body}", s.backend);
    assert!(body.get("client_secret").is_none());
    let endpoint = format!("{issuer}/oauth/token");
    let good = assertion(&key, "keyed", &endpoint, "j1");
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let with_assertion = |a: String| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_assertion_type", jwt_bearer.to_string()),
            ("client_assertion", a),
        ]
    };
    let form = with_assertion(good.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body, _) = token_request(&s, None, &form).await;
    assert_eq!(status, 200, "{}: {body}", s.backend);

    // Errors: (basic, form, status, error)
    let other_key = tillit_crypto::SigningKey::generate(tillit_crypto::Algorithm::Es256).unwrap();
    let cases: Vec<(Option<(&str, &str)>, Vec<(&str, String)>, u16, &str)> = vec![
        (
            Some(("sagssystem", "wrong")),
            vec![("grant_type", "client_credentials".into())],
            401,
            "invalid_client",
        ),
        (
            Some(("nobody", &secret)),
            vec![("grant_type", "client_credentials".into())],
            401,
            "invalid_client",
        ),
        (
            Some(("sagssystem", &secret)),
            vec![("grant_type", "password".into())],
            400,
            "unsupported_grant_type",
        ),
        (
            Some(("sagssystem", &secret)),
            vec![],
            400,
            "invalid_request",
        ),
        (
            Some(("sagssystem", &secret)),
            vec![
                ("grant_type", "client_credentials".into()),
                ("scope", "org.manage".into()),
            ],
            400,
            "invalid_scope",
        ),
        (
            Some(("sagssystem", &secret)),
            vec![
                ("grant_type", "client_credentials".into()),
                ("audience", "nowhere".into()),
            ],
            400,
            "invalid_target",
        ),
        (
            Some(("sagssystem", &secret)),
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", "keyed".into()),
            ],
            400,
            "invalid_request",
        ),
        (
            None,
            vec![("grant_type", "client_credentials".into())],
            401,
            "invalid_client",
        ),
        (None, with_assertion(good.clone()), 401, "invalid_client"), // replayed jti
        (
            None,
            with_assertion(assertion(&key, "keyed", "https://elsewhere/token", "j2")),
            401,
            "invalid_client",
        ),
        (
            None,
            with_assertion(assertion(&other_key, "keyed", &endpoint, "j3")),
            401,
            "invalid_client",
        ),
        (
            None,
            with_assertion("not.a.jwt".into()),
            401,
            "invalid_client",
        ),
    ];
    for (basic, form, want, error) in cases {
        let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body, headers) = token_request(&s, basic, &form_ref).await;
        let context = format!("{}: {basic:?} {form:?}", s.backend);
        assert_eq!(status, want, "{context}: {body}");
        assert_eq!(body["error"], error, "{context}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{context}"
        );
        assert_eq!(headers["content-type"], "application/json", "{context}");
        if status == 401 && basic.is_some() {
            assert!(headers.contains_key("www-authenticate"), "{context}");
        }
    }
    let r = s
        .client
        .post(s.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    // An independent resource server (PyJWT) verifies the token from the metadata and JWKS.
    if tillit_testkit::interop_enabled("the PyJWT resource server (pip PyJWT[crypto]==2.10.1)") {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../interop/oauth/resource_server.py");
        let token = access_token.clone();
        let issuer = issuer.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg(script)
                .args([&issuer, "tillit", &token])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}: PyJWT: {}",
            s.backend,
            String::from_utf8_lossy(&out.stderr)
        );
        let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(claims["sub"], "sagssystem");
        assert_eq!(
            claims["acr"],
            "https://data.gov.dk/concept/core/nsis/loa/Substantial"
        );
        assert_eq!(claims["rights"][0]["right"], "attestation.read");
    }

    // A revoked client gets no more tokens.
    let (status, _) = call(
        &s,
        &s.token,
        reqwest::Method::POST,
        "/v1/clients/sagssystem/revoke",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body, _) = token_request(
        &s,
        Some(("sagssystem", &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{}",
        s.backend
    );
    s.stop().await;
}

/// A request with an optional session cookie and Origin: status, JSON body, headers.
async fn with_cookie(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = s.client.request(method, s.url(path));
    if let Some(c) = cookie {
        r = r.header(reqwest::header::COOKIE, format!("tillit_session={c}"));
    }
    if let Some(o) = origin {
        r = r.header(reqwest::header::ORIGIN, o);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
        headers,
    )
}

/// Logs in; the status, body and the session cookie's value.
async fn login(s: &TestServer, body: Value, old: Option<&str>) -> (u16, Value, Option<String>) {
    let (status, got, headers) = with_cookie(
        s,
        reqwest::Method::POST,
        "/v1/login",
        old,
        None,
        Some(&body),
    )
    .await;
    let cookie = headers
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    if let Some(c) = &cookie {
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(
                c.contains(attribute),
                "{}: cookie {c} lacks {attribute}",
                s.backend
            );
        }
    }
    let value = cookie.and_then(|c| {
        c.split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_owned())
    });
    (status, got, value)
}

/// Issue 9 item 6: local accounts with Argon2id and TOTP; sessions with new ids at each login,
/// ended by logout; the login's level decides (a right may require Substantial); cookie writes
/// only from this origin; five failures lock an account for a while (429, Retry-After).
async fn local_login_with_totp_rotated_sessions_levels_and_a_rate_limit(backend: Backend) {
    use reqwest::Method;
    let s = TestServer::start(backend).await;
    let r = s.create_org("Ankeborg", "DK", "10000001").await;
    let ankeborg = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = json!({
        // Tillit's own right, redefined to need a Substantial login.
        "rights": [{"id": "type.manage", "it_system": "tillit", "classification": "tillit",
                    "required_loa": "substantial"}],
        "organisations": [{"id": ankeborg}],
        "persons": [{"id": "p-kalle"}, {"id": "p-olle"}],
        "users": [{"id": "kalle", "person": "p-kalle"}, {"id": "olle", "person": "p-olle"}],
        "roles": [{"id": "issuer", "classifications": ["tillit"], "rights": ["type.manage", "attestation.read"]}],
        "assignments": [
            {"id": "a1", "user": "kalle", "roles": ["issuer"], "restrictions": [{"kind": "organisation", "id": ankeborg}]},
            {"id": "a2", "user": "olle", "roles": ["issuer"], "restrictions": [{"kind": "organisation", "id": ankeborg}]}
        ]
    });
    import_ok(&s, "application/json", &document.to_string()).await;
    let (status, kalle) = call(
        &s,
        &s.token,
        Method::POST,
        "/v1/accounts",
        Some(&json!({
        "username": "Kalle.Anka@ankeborg.se", "user": "kalle", "password": "kvack kvack kvack",
        "ial": "substantial", "totp": true})),
    )
    .await;
    assert_eq!(status, 201, "{}: {kalle}", s.backend);
    assert_eq!(kalle["username"], "kalle.anka@ankeborg.se");
    let uri = kalle["otpauth_uri"].as_str().unwrap();
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = tillit_crypto::totp::base32_decode(secret).unwrap();
    let code = |offset: i64| {
        let step = tillit_crypto::totp::step(chrono::Utc::now().timestamp()) + offset;
        format!("{:06}", tillit_crypto::totp::hotp(&secret, step as u64, 6))
    };
    let (status, body) = call(
        &s,
        &s.token,
        Method::POST,
        "/v1/accounts",
        Some(&json!({
        "username": "olle", "user": "olle", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(status, 201, "{}: {body}", s.backend);
    // (body, status): bad accounts.
    for (body, want) in [
        (
            json!({"username": "olle", "user": "olle", "password": "a long enough password"}),
            409,
        ),
        (
            json!({"username": "x", "user": "olle", "password": "a long enough password"}),
            422,
        ),
        (
            json!({"username": "short", "user": "olle", "password": "too short"}),
            422,
        ),
        (
            json!({"username": "ghost", "user": "ghost", "password": "a long enough password"}),
            422,
        ),
        (
            json!({"username": "level", "user": "olle", "password": "a long enough password", "ial": "extreme"}),
            422,
        ),
    ] {
        let (status, got) = call(&s, &s.token, Method::POST, "/v1/accounts", Some(&body)).await;
        assert_eq!(status, want, "{}: {body}: {got}", s.backend);
    }

    // Password only: Low.
    let (status, session, olle_cookie) = login(
        &s,
        json!({"username": "olle", "password": "a long enough password"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{}: {session}", s.backend);
    assert_eq!(
        (session["loa"].as_str(), session["aal"].as_str()),
        (Some("low"), Some("low"))
    );
    let olle_cookie = olle_cookie.unwrap();
    // TOTP missing or wrong: refused; right: Substantial; the same code again: refused.
    for body in [
        json!({"username": "kalle.anka@ankeborg.se", "password": "kvack kvack kvack"}),
        json!({"username": "kalle.anka@ankeborg.se", "password": "kvack kvack kvack", "totp": "000000"}),
    ] {
        let (status, got, _) = login(&s, body, None).await;
        assert_eq!(status, 401, "{}: {got}", s.backend);
    }
    let first_code = code(0);
    let (status, session, kalle_cookie) = login(&s, json!({"username": "KALLE.anka@ankeborg.se", "password": "kvack kvack kvack", "totp": first_code}), None).await;
    assert_eq!(status, 200, "{}: {session}", s.backend);
    assert_eq!(session["loa"], "substantial");
    assert_eq!(
        session["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    );
    let kalle_cookie = kalle_cookie.unwrap();
    let (status, got, _) = login(&s, json!({"username": "kalle.anka@ankeborg.se", "password": "kvack kvack kvack", "totp": first_code}), None).await;
    assert_eq!(status, 401, "{}: a replayed code: {got}", s.backend);

    // The session authenticates; the level decides; writes only from this origin.
    let origin = s.url("");
    let type_body = json!({"slug": "permit", "definition": {"display": {"en": "Permit"},
        "claims_schema": {"type": "object"}, "default_validity_days": 30, "formats": ["sd-jwt-vc"]}});
    let types = format!("/v1/orgs/{ankeborg}/types");
    let (status, got, _) = with_cookie(
        &s,
        Method::GET,
        "/v1/session",
        Some(&kalle_cookie),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, got["user"].as_str()),
        (200, Some("kalle")),
        "{}: {got}",
        s.backend
    );
    // (cookie, origin, status, text)
    let cases = [
        (&olle_cookie, Some(origin.as_str()), 403, "Substantial"),
        (&kalle_cookie, None, 403, "must come from this site"),
        (
            &kalle_cookie,
            Some("https://evil.example"),
            403,
            "must come from this site",
        ),
        (&kalle_cookie, Some(origin.as_str()), 201, ""),
    ];
    for (cookie, origin, want, text) in cases {
        let (status, got, _) = with_cookie(
            &s,
            Method::POST,
            &types,
            Some(cookie),
            origin,
            Some(&type_body),
        )
        .await;
        assert_eq!(status, want, "{}: {origin:?}: {got}", s.backend);
        assert!(
            got.to_string().contains(text),
            "{}: {got} lacks {text}",
            s.backend
        );
    }
    let (status, _, _) = with_cookie(&s, Method::GET, &types, Some(&olle_cookie), None, None).await;
    assert_eq!(status, 200, "{}: reading needs no level", s.backend);

    // A new login ends the session it came from; logout ends the session.
    let (status, _, olle_again) = login(
        &s,
        json!({"username": "olle", "password": "a long enough password"}),
        Some(&olle_cookie),
    )
    .await;
    assert_eq!(status, 200);
    let olle_again = olle_again.unwrap();
    assert_ne!(olle_again, olle_cookie, "a new id at every login");
    let (status, _, _) = with_cookie(
        &s,
        Method::GET,
        "/v1/session",
        Some(&olle_cookie),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401, "{}: the replaced session ended", s.backend);
    let (status, _, headers) = with_cookie(
        &s,
        Method::POST,
        "/v1/logout",
        Some(&kalle_cookie),
        Some(&origin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _, _) = with_cookie(
        &s,
        Method::GET,
        "/v1/session",
        Some(&kalle_cookie),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Five failures lock the account for a while, even for the right password.
    for _ in 0..5 {
        let (status, _, _) = login(
            &s,
            json!({"username": "olle", "password": "wrong password!"}),
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, got, headers) = with_cookie(
        &s,
        Method::POST,
        "/v1/login",
        None,
        None,
        Some(&json!({"username": "olle", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(status, 429, "{}: {got}", s.backend);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // An unknown name is refused like a wrong password.
    let (status, _, _) = login(
        &s,
        json!({"username": "nobody", "password": "whatever it is"}),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Logins are audited, failures included.
    let (_, page) = s.get_json("/v1/audit/entries?limit=200").await;
    let count = |action: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(count("login.success"), 3, "{}", s.backend);
    assert!(
        count("login.failure") >= 9,
        "{}: {}",
        s.backend,
        count("login.failure")
    );
    assert_eq!(count("logout"), 1);
    s.stop().await;
}

/// The OpenID provider of `interop/oidc` (node-oidc-provider) on a free loopback port.
struct Provider {
    child: std::process::Child,
}

impl Provider {
    fn port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn start(port: u16, redirect_uri: &str) -> Self {
        use std::io::BufRead;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc");
        let mut child = std::process::Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args([port.to_string().as_str(), redirect_uri])
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(
                std::fs::File::create(std::env::temp_dir().join(format!("tillit-op-{port}.log")))
                    .unwrap(),
            )
            .spawn()
            .expect("node runs (the interop packages: npm ci --prefix interop/oidc)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Keeps reading, so that the provider's later output never meets a closed pipe.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            lines.for_each(drop);
        });
        let line = rx.await.unwrap();
        assert_eq!(line.as_deref(), Some("ready"), "the provider did not start");
        Self { child }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows a sign-in from Tillit through the provider's scripted interaction (as `login` at
/// `acr`) back to Tillit; returns the last response's status and Location.
async fn browse(client: &reqwest::Client, start: String, login: &str, acr: &str) -> (u16, String) {
    let mut url = start;
    for _ in 0..12 {
        let r = client.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let Some(location) = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
        else {
            return (status, r.text().await.unwrap());
        };
        let base = url.split('/').take(3).collect::<Vec<_>>().join("/");
        let next = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        if !next.contains("/v1/login/oidc/") && !next.contains("127.0.0.1") {
            return (status, next);
        }
        url = if next.contains("/interaction/") {
            format!(
                "{next}?login={login}&acr={}",
                acr.replace(':', "%3A").replace('/', "%2F")
            )
        } else {
            next
        };
        if status == 303 && url.contains("/v1/session") {
            return (status, url);
        }
    }
    panic!("the sign-in did not come back to Tillit");
}

/// Issue 9 item 6: the code flow with PKCE against a real OpenID provider on loopback; the
/// id_token's acr becomes the session's level; an unknown person is refused or provisioned.
async fn sign_in_through_a_real_openid_provider_maps_acr_to_the_level(backend: Backend) {
    if !tillit_testkit::interop_enabled("the OpenID provider (npm ci --prefix interop/oidc)") {
        return;
    }
    let port = Provider::port();
    let issuer = format!("http://127.0.0.1:{port}");
    let provider = |id: &str, provision: bool| tillit_server::config::OidcProvider {
        id: id.into(),
        issuer: issuer.clone(),
        // The provider signs this client's id_tokens RS256, the others' ES256.
        client_id: if id == "broker" {
            "tillit-rs256"
        } else {
            "tillit"
        }
        .into(),
        client_secret: tillit_server::config::Secret::new("tillit-secret"),
        scopes: "openid profile".into(),
        acr_values: Some(
            ["High", "Substantial", "Low"]
                .map(|l| format!("https://data.gov.dk/concept/core/nsis/loa/{l}"))
                .join(" "),
        ),
        match_claim: "sub".into(),
        default_loa: tillit_core::Loa::Low,
        fal: tillit_core::Loa::High,
        provision,
    };
    let (strict, open, broker) = (
        provider("mitid", false),
        provider("open", true),
        provider("broker", false),
    );
    let s = TestServer::start_with(
        backend,
        move |c| c.oidc_providers = vec![strict, open, broker],
        axum::Router::new(),
    )
    .await;
    // One client registration at the provider serves the ES256 ids, another the RS256 one.
    let callbacks = format!(
        "{},{},{}",
        s.url("/v1/login/oidc/mitid/callback"),
        s.url("/v1/login/oidc/open/callback"),
        s.url("/v1/login/oidc/broker/callback")
    );
    let op = Provider::start(port, &callbacks).await;
    import_ok(
        &s,
        "application/json",
        &json!({
            "persons": [{"id": "p-kalle"}], "users": [{"id": "kalle", "person": "p-kalle"}]
        })
        .to_string(),
    )
    .await;
    let browser = || {
        common::http_client()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let nsis = |l: &str| format!("https://data.gov.dk/concept/core/nsis/loa/{l}");
    // (provider, login, acr, expected level); `broker` gets RS256-signed id_tokens.
    for (via, login, acr, want) in [
        ("mitid", "kalle", nsis("Substantial"), "substantial"),
        ("mitid", "kalle", nsis("High"), "high"),
        ("mitid", "kalle", "urn:unknown".to_string(), "low"),
        ("broker", "kalle", nsis("High"), "high"),
        ("broker", "kalle", nsis("Substantial"), "substantial"),
    ] {
        let client = browser();
        let start = s.url(&format!("/v1/login/oidc/{via}"));
        let (status, location) = browse(&client, start, login, &acr).await;
        assert_eq!(status, 303, "{}: {via}: {acr}: {location}", s.backend);
        assert!(
            location.ends_with("/v1/session"),
            "{}: {location}",
            s.backend
        );
        let session: Value = client
            .get(s.url("/v1/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["user"], "kalle", "{}: {session}", s.backend);
        assert_eq!(session["ial"], want, "{}: {acr}: {session}", s.backend);
        assert_eq!(session["loa"], want, "{}: {acr}: {session}", s.backend);
        assert_eq!(session["fal"], "high");
    }
    // A person the model does not know is refused by a provider that does not provision.
    let client = browser();
    let (status, body) = browse(
        &client,
        s.url("/v1/login/oidc/mitid"),
        "stranger",
        &nsis("Substantial"),
    )
    .await;
    assert_eq!(status, 403, "{}: {body}", s.backend);
    // A provider that provisions adds the person to the access model at the first sign-in.
    let client = browser();
    let (status, location) = browse(
        &client,
        s.url("/v1/login/oidc/open"),
        "stranger",
        &nsis("High"),
    )
    .await;
    assert_eq!(status, 303, "{}: {location}", s.backend);
    let session: Value = client
        .get(s.url("/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (session["user"].as_str(), session["loa"].as_str()),
        (Some("stranger"), Some("high")),
        "{}",
        s.backend
    );
    let (_, exported) = s.get_json("/v1/access/export").await;
    assert!(
        exported["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == "stranger"),
        "{}: {exported}",
        s.backend
    );
    assert!(
        exported["it_systems"].as_array().unwrap().is_empty(),
        "{}: the built-in system is not stored",
        s.backend
    );
    // A callback without the flow cookie, or with a forged state, is refused.
    let r = browser()
        .get(s.url("/v1/login/oidc/mitid/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = browser()
        .get(s.url("/v1/login/oidc/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = browser()
        .get(s.url("/v1/login/oidc/mitid?return_to=https://evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    drop(op);
    s.stop().await;
}

/// Issue 9 item 1: an assignment is made by another user who holds the right to assign those
/// roles in that scope — over the API, one assignment at a time, each a new document version.
async fn delegated_administration_assigns_and_ends_single_assignments(backend: Backend) {
    use reqwest::Method;
    let s = TestServer::start(backend).await;
    let document = json!({
        "classifications": [{"id": "sundhed"}],
        "it_systems": [{"id": "journal", "classification": "sundhed"}],
        "rights": [{"id": "journal.read", "it_system": "journal", "classification": "sundhed"}],
        "organisations": [{"id": "hospital"}, {"id": "other"}],
        "persons": [{"id": "p-admin"}, {"id": "p-nurse"}],
        "users": [{"id": "admin", "person": "p-admin"}, {"id": "nurse", "person": "p-nurse"}],
        "roles": [
            {"id": "sygeplejerske", "classifications": ["sundhed"], "rights": ["journal.read"]},
            {"id": "assigner", "classifications": ["tillit"], "rights": ["access.assign"]}
        ],
        "assignments": [{"id": "a0", "user": "admin", "roles": ["assigner"]}],
        "assign_rights": [{"id": "ar1", "user": "admin", "role": "sygeplejerske",
                           "restrictions": [{"kind": "organisation", "id": "hospital"}]}]
    });
    let first = import_ok(&s, "application/json", &document.to_string()).await;
    let (_, token) = call(
        &s,
        &s.token,
        Method::POST,
        "/v1/tokens",
        Some(&json!({"name": "admin", "user": "admin"})),
    )
    .await;
    let admin = token["secret"].as_str().unwrap().to_owned();
    let at_hospital = json!({"id": "a1", "user": "nurse", "roles": ["sygeplejerske"],
                             "restrictions": [{"kind": "organisation", "id": "hospital"}]});
    // (token, body, status, text)
    let cases = [
        (&admin, at_hospital.clone(), 201, ""),
        (&admin, at_hospital.clone(), 409, "exists"),
        (
            &admin,
            json!({"id": "a2", "user": "nurse", "roles": ["sygeplejerske"],
                        "restrictions": [{"kind": "organisation", "id": "other"}]}),
            403,
            "other",
        ),
        (
            &admin,
            json!({"id": "a3", "user": "nurse", "roles": ["sygeplejerske"]}),
            403,
            "",
        ),
        (
            &admin,
            json!({"id": "a4", "user": "nurse", "roles": ["sygeplejerske"], "assigned_by": "nurse",
                        "restrictions": [{"kind": "organisation", "id": "hospital"}]}),
            422,
            "assigned_by",
        ),
        (
            &admin,
            json!({"id": "a5", "user": "ghost", "roles": ["sygeplejerske"],
                        "restrictions": [{"kind": "organisation", "id": "hospital"}]}),
            403,
            "ghost",
        ),
        // An administrator token is unrestricted.
        (
            &s.token,
            json!({"id": "a6", "user": "nurse", "roles": ["sygeplejerske"],
                          "restrictions": [{"kind": "organisation", "id": "other"}]}),
            201,
            "",
        ),
    ];
    for (token, body, want, text) in cases {
        let (status, got) = call(
            &s,
            token,
            Method::POST,
            "/v1/access/assignments",
            Some(&body),
        )
        .await;
        assert_eq!(status, want, "{}: {body}: {got}", s.backend);
        assert!(
            got.to_string().contains(text),
            "{}: {got} lacks {text}",
            s.backend
        );
        if status == 201 {
            assert!(got["version"].as_u64().unwrap() > first);
        }
    }
    let decide = |scope: &'static str| {
        json!({"user": "nurse", "right": "journal.read",
        "scope": {"kind": "organisation", "id": scope}})
    };
    assert_eq!(
        check(&s, decide("hospital")).await["allowed"],
        true,
        "{}",
        s.backend
    );
    // Ending: the delegated admin may end what they could make; not the administrator's one.
    let (status, got) = call(
        &s,
        &admin,
        Method::POST,
        "/v1/access/assignments/a6/end",
        None,
    )
    .await;
    assert_eq!(status, 403, "{}: {got}", s.backend);
    let (status, got) = call(
        &s,
        &admin,
        Method::POST,
        "/v1/access/assignments/a1/end",
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{}: {got}", s.backend);
    assert_eq!(
        check(&s, decide("hospital")).await["allowed"],
        false,
        "{}",
        s.backend
    );
    let (status, _) = call(
        &s,
        &admin,
        Method::POST,
        "/v1/access/assignments/nope/end",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, exported) = s.get_json("/v1/access/export").await;
    let a1 = exported["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "a1")
        .unwrap()
        .clone();
    assert_eq!(a1["assigned_by"], "admin", "{}", s.backend);
    assert!(
        a1["valid_to"].is_string(),
        "{}: ended, not deleted: {a1}",
        s.backend
    );
    let (_, page) = s.get_json("/v1/audit/entries?limit=200").await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "access.assign" && e["actor"] == "user:admin"),
        "{}",
        s.backend
    );
    s.stop().await;
}
