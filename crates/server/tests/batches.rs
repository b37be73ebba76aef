//! Batch issuance over HTTP on SQLite and PostgreSQL: uploads in JSON lines and CSV with some bad
//! rows (each failed row with its reason), progress through the job, the results as JSON lines,
//! the register, the cards as one PDF (read back with `pdftotext` when it is installed), an
//! idempotent upload, and the 4xx answers to bad uploads.

mod common;

use std::time::{Duration, Instant};

use common::{backend_tests, Backend, TestServer};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

backend_tests!(
    a_batch_with_bad_rows_issues_the_good_ones_and_names_the_bad,
    a_csv_batch_issues_and_prints_its_cards,
    bad_uploads_are_problems_and_uploads_are_idempotent,
);

fn parking_type() -> Value {
    json!({
        "slug": "parking-permit",
        "definition": {
            "display": {"sv": "Parkeringstillstånd", "en": "Parking permit"},
            "claims_schema": {
                "type": "object",
                "required": ["plate", "zone"],
                "properties": {
                    "plate": {"type": "string", "title": "Registreringsnummer", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                    "zone": {"type": "string", "title": "Zon", "enum": ["A", "B", "C"]},
                    "holder": {"type": "string", "title": "Innehavare", "maxLength": 100},
                    "spaces": {"type": "integer", "minimum": 1}
                },
                "additionalProperties": false
            },
            "disclosable": ["holder"],
            "default_validity_days": 365,
            "formats": ["sd-jwt-vc", "qr"],
            "card_fields": ["plate", "zone", "holder"]
        }
    })
}

async fn setup(s: &TestServer) -> String {
    let r = s.create_org("Ankeborgs kommun", "DK", "29189846").await;
    assert_eq!(r.status(), 201);
    let org = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .post_json(&format!("/v1/orgs/{org}/types"), &parking_type())
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    org
}

async fn upload(
    s: &TestServer,
    path: &str,
    content_type: &str,
    body: String,
    key: Option<&str>,
) -> reqwest::Response {
    let mut r = s
        .client
        .post(s.url(path))
        .header(AUTHORIZATION, s.auth())
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    r.send().await.unwrap()
}

/// Polls the batch until its job is final.
async fn finished(s: &TestServer, org: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, batch) = s
            .get_json(&format!("/v1/orgs/{org}/attestations/batches/{id}"))
            .await;
        assert_eq!(status, 200, "{batch}");
        let state = batch["job"]["state"].as_str().unwrap().to_owned();
        if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
            return batch;
        }
        assert!(Instant::now() < deadline, "batch still {state}: {batch}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn results(s: &TestServer, org: &str, id: &str) -> Vec<Value> {
    let r = s
        .client
        .get(s.url(&format!("/v1/orgs/{org}/attestations/batches/{id}/results")))
        .header(AUTHORIZATION, s.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/x-ndjson");
    r.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn register_size(s: &TestServer, org: &str) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, page) = s
            .get_json(&format!("/v1/orgs/{org}/attestations?limit=500{q}"))
            .await;
        assert_eq!(status, 200);
        n += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return n,
        }
    }
}

async fn a_batch_with_bad_rows_issues_the_good_ones_and_names_the_bad(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s).await;
    // (line, None = issued, Some(part of the reason))
    let rows: &[(&str, Option<&str>)] = &[
        (
            r#"{"type":"parking-permit","claims":{"plate":"ABC12D","zone":"B","holder":"Kalle Anka"}}"#,
            None,
        ),
        (
            r#"{"claims":{"plate":"KVA33E","zone":"A","holder":"Kajsa Anka"}}"#,
            None,
        ),
        // An optional disclosable claim left out is issued: there is just nothing to disclose.
        (r#"{"claims":{"plate":"KVA33F","zone":"A"}}"#, None),
        (
            r#"{"type":"parking-permit","claims":{"plate":"abc","zone":"B"}}"#,
            Some("/claims/plate"),
        ),
        (
            r#"{"type":"parking-permit","claims":{"plate":"GUS77F","zone":"Q"}}"#,
            Some("/claims/zone"),
        ),
        (r#"not json"#, Some("not a batch line")),
        (
            r#"{"type":"fishing-licence","claims":{}}"#,
            Some("type fishing-licence not found"),
        ),
        (
            r#"{"type":"parking-permit","claims":{"plate":"DEF45G","zone":"C"},"colour":"red"}"#,
            Some("unknown field `colour`"),
        ),
        (
            r#"{"type":"parking-permit","claims":{"plate":"HIJ67K","zone":"C"},"valid_to":"2001-01-01T00:00:00Z"}"#,
            Some("valid_to"),
        ),
        (
            r#"{"type":"parking-permit","claims":{"plate":"LMN89P","zone":"A","holder":"Åsa Öberg"}}"#,
            None,
        ),
    ];
    let mut body = String::new();
    for (line, _) in rows {
        body.push_str(line);
        body.push('\n');
    }
    // Blank lines are not rows.
    body.push('\n');
    let path = format!("/v1/orgs/{org}/attestations/batches?type=parking-permit");
    let r = upload(&s, &path, "application/x-ndjson", body, None).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(location.ends_with(&id));
    assert_eq!(created["rows"], rows.len());
    assert_eq!(created["job"]["kind"], "batch.issue");
    assert_eq!(created["job"]["progress"]["total"], rows.len());

    let batch = finished(&s, &org, &id).await;
    let bad: Vec<(usize, &str)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, (_, e))| e.map(|e| (i + 1, e)))
        .collect();
    let good = rows.len() - bad.len();
    assert_eq!(batch["job"]["state"], "succeeded", "{batch}");
    assert_eq!(batch["job"]["progress"]["done"], rows.len());
    assert_eq!(batch["job"]["progress"]["failed"], bad.len(), "{batch}");
    let failed = batch["failed_rows"].as_array().unwrap();
    assert_eq!(failed.len(), bad.len(), "{batch}");
    for ((row, reason), got) in bad.iter().zip(failed) {
        assert_eq!(got["row"], *row);
        let text = got["error"].as_str().unwrap();
        assert!(
            text.contains(reason),
            "row {row}: {text:?} lacks {reason:?}"
        );
    }

    // Results: one line a row, in order; issued rows carry both formats and verify.
    let lines = results(&s, &org, &id).await;
    assert_eq!(lines.len(), rows.len());
    for (i, (line, (_, expect))) in lines.iter().zip(rows).enumerate() {
        assert_eq!(line["row"], i + 1);
        match expect {
            None => {
                assert!(line["qr"].as_str().unwrap().starts_with("TL1:"), "{line}");
                assert!(line["sd_jwt_vc"].as_str().unwrap().contains('~'));
            }
            Some(_) => assert!(line["error"].is_string(), "{line}"),
        }
    }
    let first_qr = lines[0]["qr"].as_str().unwrap();
    let report: Value = s
        .client
        .post(s.url("/v1/verify"))
        .json(&json!({ "credential": first_qr }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(register_size(&s, &org).await, good);

    // The jobs API shows the same job.
    let (status, jobs) = s.get_json(&format!("/v1/orgs/{org}/jobs")).await;
    assert_eq!(status, 200);
    assert!(jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["id"] == id.as_str()));
    let (status, job) = s.get_json(&format!("/v1/orgs/{org}/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(job["state"], "succeeded");
    s.stop().await;
}

async fn a_csv_batch_issues_and_prints_its_cards(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s).await;
    let csv = "\u{feff}plate,zone,holder,spaces\r\n\
               ABC12D,B,\"Anka, Kalle\",2\r\n\
               KVA33E,A,Kajsa Ånka,\r\n\
               bad,A,Nobody,1\r\n\
               GUS77F,C,\"Gustav \"\"Lucky\"\" Gås\",x\r\n\
               LMN89P,C,\"Øre\nÆbleby\",1\r\n";
    let path = format!("/v1/orgs/{org}/attestations/batches?type=parking-permit");
    let r = upload(&s, &path, "text/csv; charset=utf-8", csv.into(), None).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch = finished(&s, &org, &id).await;
    assert_eq!(batch["format"], "csv");
    assert_eq!(batch["rows"], 5);
    let failed: Vec<(u64, String)> = batch["failed_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["row"].as_u64().unwrap(),
                f["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, 3);
    assert!(failed[0].1.contains("/claims/plate"), "{failed:?}");
    assert_eq!(failed[1].0, 4);
    assert!(failed[1].1.contains("not an integer"), "{failed:?}");
    let lines = results(&s, &org, &id).await;
    assert_eq!(lines.len(), 5);

    // The cards: one PDF page per issued row.
    let cards = format!("/v1/orgs/{org}/attestations/batches/{id}/cards.pdf");
    let r = s
        .client
        .get(s.url(&cards))
        .header(AUTHORIZATION, s.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    match pdf_text(&pdf) {
        None => println!("skipping the PDF text check: pdftotext (poppler-utils) is not installed"),
        Some(text) => {
            for want in [
                "Parkeringstillstånd",
                "Ankeborgs kommun",
                "ABC12D",
                "Anka, Kalle",
                "Kajsa Ånka",
                "LMN89P",
                "Giltig till",
            ] {
                assert!(text.contains(want), "the cards lack {want:?}: {text}");
            }
            assert!(!text.contains("Nobody"), "a failed row has no card");
            assert_eq!(text.matches('\u{c}').count(), 3, "three pages: {text:?}");
        }
    }
    // Pages of cards, and their limits.
    let cases = [
        ("?from=2&count=1", 200),
        ("?from=99", 404),
        ("?count=1001", 422),
        ("?count=0", 422),
        ("?lang=fi", 422),
        ("?lang=en", 200),
    ];
    for (query, status) in cases {
        let r = s
            .client
            .get(s.url(&format!("{cards}{query}")))
            .header(AUTHORIZATION, s.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }
    s.stop().await;
}

/// The text of a PDF by `pdftotext`, or None when it is not installed.
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

async fn bad_uploads_are_problems_and_uploads_are_idempotent(backend: Backend) {
    let s = TestServer::start(backend).await;
    let org = setup(&s).await;
    let base = format!("/v1/orgs/{org}/attestations/batches");
    let good = r#"{"type":"parking-permit","claims":{"plate":"ABC12D","zone":"B","holder":"K"}}"#;
    let long = format!(
        r#"{{"type":"parking-permit","claims":{{"holder":"{}"}}}}"#,
        "x".repeat(70_000)
    );
    // (path, content type, body, status, part of the detail)
    let cases: Vec<(String, &str, String, u16, &str)> = vec![
        (
            base.clone(),
            "application/json",
            good.into(),
            415,
            "application/x-ndjson",
        ),
        (
            base.clone(),
            "text/csv",
            "plate,zone\nABC12D,B\n".into(),
            422,
            "?type=",
        ),
        (
            format!("{base}?type=nope"),
            "text/csv",
            "plate\nx\n".into(),
            404,
            "type nope",
        ),
        (
            format!("{base}?type=parking-permit"),
            "text/csv",
            "plate,plate\nx,y\n".into(),
            422,
            "twice",
        ),
        (
            base.clone(),
            "application/x-ndjson",
            "\n\n".into(),
            422,
            "no rows",
        ),
        (
            base.clone(),
            "application/x-ndjson",
            long,
            422,
            "longer than",
        ),
        (
            base.clone(),
            "application/x-ndjson",
            "\u{1}\u{2}".into(),
            202,
            "",
        ),
        (
            "/v1/orgs/00000000-0000-7000-8000-000000000000/attestations/batches".into(),
            "application/x-ndjson",
            good.into(),
            404,
            "organisation",
        ),
        (
            format!("{base}?colour=red"),
            "application/x-ndjson",
            good.into(),
            400,
            "",
        ),
    ];
    for (path, ct, body, status, detail) in cases {
        let r = upload(&s, &path, ct, body, None).await;
        assert_eq!(r.status(), status, "{path} {ct}");
        if status >= 400 {
            assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");
            let problem: Value = r.json().await.unwrap();
            let text = problem.to_string();
            assert!(text.contains(detail), "{path}: {text} lacks {detail:?}");
        }
    }
    // The same upload with the same key: the first batch again, nothing issued twice.
    let body = format!("{good}\n");
    let first = upload(
        &s,
        &base,
        "application/x-ndjson",
        body.clone(),
        Some("batch-1"),
    )
    .await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = upload(
        &s,
        &base,
        "application/x-ndjson",
        body.clone(),
        Some("batch-1"),
    )
    .await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = upload(
        &s,
        &base,
        "application/x-ndjson",
        format!("{good}\n{good}\n"),
        Some("batch-1"),
    )
    .await;
    assert_eq!(other.status(), 422, "a key reused for another upload");
    let id = first["id"].as_str().unwrap();
    finished(&s, &org, id).await;
    // The control-character upload above: one row, failed; plus this batch's one.
    assert_eq!(register_size(&s, &org).await, 1);
    let (status, _) = s
        .get_json(&format!("{base}/00000000-0000-7000-8000-000000000000"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.get_json(&format!("{base}/not-a-uuid")).await;
    assert_eq!(status, 422);
    s.stop().await;
}
