//! Interop of the QR container with independent Python libraries (`interop/cbor/check.py`:
//! its own Base45, Python's zlib, `cbor2`, pycose `cose` 0.9).
//!
//! Runs only with `TILLIT_INTEROP=1` and `pip install -r interop/cbor/requirements.txt` done:
//! for a table of attestations and both signing algorithms, Python decodes and verifies the
//! `TL1:` code Tillit issued; a code with a changed character is refused; a published `HC1:`
//! code decodes.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use tillit_credential::qr::{self, Attestation, StatusReference};
use tillit_crypto::{Algorithm, SigningKey};

fn enabled() -> bool {
    tillit_testkit::interop_enabled(
        "QR interop (needs python3 and pip -r interop/cbor/requirements.txt)",
    )
}

fn check(input: &str, jwk: Option<&str>) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/cbor/check.py");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("qr.txt");
    std::fs::write(&text, input).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(&text);
    if let Some(jwk) = jwk {
        let file = dir.path().join("issuer.jwk");
        std::fs::write(&file, jwk).unwrap();
        cmd.arg("--jwk").arg(file);
    }
    cmd.output().expect("python3 runs")
}

fn attestation(claims: Value, status: bool) -> Attestation {
    Attestation {
        issuer: "https://lansstyrelsen.example/jakt".into(),
        subject: Some("urn:tillit:person:4711".into()),
        attestation_type: "https://tillit.example/vct/jaktkort".into(),
        claims: claims.as_object().cloned().unwrap_or_default(),
        status: status.then(|| StatusReference {
            idx: 7,
            uri: "https://lansstyrelsen.example/status/1".into(),
        }),
    }
}

#[test]
fn python_decodes_and_verifies_tillit_tl1_codes() {
    if !enabled() {
        return;
    }
    let many: Map<String, Value> = (0..60)
        .map(|i| {
            (
                format!("field_{i}"),
                json!(format!("värde {i} för jaktkort")),
            )
        })
        .collect();
    let cases: Vec<(&str, Attestation)> = vec![
        (
            "a hunting licence",
            attestation(
                json!({"given_name": "Åsa", "family_name": "Lindqvist", "birthdate": "1984-03-12",
                       "licence_number": "JK-2026-004711", "valid_areas": ["Jämtland", "Härjedalen"], "level": 2}),
                true,
            ),
        ),
        ("no claims, no status", attestation(json!({}), false)),
        (
            "a large, repetitive payload (long matches in the zlib stream)",
            attestation(Value::Object(many), true),
        ),
        (
            "nested objects, numbers, booleans and null",
            attestation(
                json!({"a": {"b": {"c": [1, -2, 3.5, true, false, null]}}, "ok": true}),
                false,
            ),
        ),
    ];
    let now: DateTime<Utc> = Utc::now();
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = SigningKey::generate(alg).unwrap();
        let jwk = serde_json::to_string(&key.verifying_key().to_jwk()).unwrap();
        for (name, att) in &cases {
            let text = qr::issue_qr(att, &key, now, Duration::days(30)).unwrap();
            let out = check(&text, Some(&jwk));
            assert!(
                out.status.success(),
                "{alg:?}, {name}: Python refused Tillit's code:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // What Python read back is what was issued, not merely something that decodes.
            let stdout = String::from_utf8(out.stdout).unwrap();
            let summary: Value =
                serde_json::from_str(stdout.trim_end().trim_end_matches("OK")).unwrap();
            assert_eq!(summary["iss"], json!(att.issuer), "{alg:?}, {name}");
            assert_eq!(
                summary["type"],
                json!(att.attestation_type),
                "{alg:?}, {name}"
            );
            assert_eq!(
                summary["claims"],
                Value::Object(att.claims.clone()),
                "{alg:?}, {name}"
            );
            let status = att
                .status
                .as_ref()
                .map(|s| json!({"status_list": {"idx": s.idx, "uri": s.uri}}));
            assert_eq!(summary.get("status"), status.as_ref(), "{alg:?}, {name}");
            assert_eq!(
                summary["signature"], "verified with pycose",
                "{alg:?}, {name}"
            );

            // The last character carries the Adler-32 checksum: changing it must be noticed.
            let last = text.chars().last().unwrap();
            let changed = format!(
                "{}{}",
                &text[..text.len() - 1],
                if last == '0' { '1' } else { '0' }
            );
            let out = check(&changed, Some(&jwk));
            assert!(
                !out.status.success(),
                "{alg:?}, {name}: Python accepted a changed code"
            );
        }
    }
}

#[test]
fn python_decodes_a_published_hc1_code() {
    if !enabled() {
        return;
    }
    let Some(dir) = support::testdata("dcc/SE/2DCode/raw") else {
        return;
    };
    let case = support::read_json(&dir.join("1.json"));
    let out = check(case["PREFIX"].as_str().unwrap(), None);
    assert!(
        out.status.success(),
        "Python could not decode the published HC1 code:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
