//! The EU DCC test data (dgc-testdata): every file under `dcc/`, verified as
//! `tillit verify` does — `PREFIX` with `TESTCTX.CERTIFICATE` trusted, at
//! `TESTCTX.VALIDATIONCLOCK` — and each `EXPECTED…` flag compared with the
//! matching pipeline step or check (meanings in `dcc/README.md`).

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use tillit_credential::cwt::{self, Claims};
use tillit_credential::report::{VerificationReport, VerifyOptions};
use tillit_credential::trust::TrustStore;
use tillit_credential::{base45, cose, hcert, qr, render, verify};

/// `EXPECTEDSCHEMAVALIDATION` needs the DCC JSON schema, which is not in the
/// test data and cannot be fetched offline; it is skipped for every file.
const SCHEMA_SKIP: &str = "no DCC JSON schema is available offline (not part of shared/testdata)";

/// Flags this test does not compare, each with its reason (dcc/README.md, "test cases"):
/// `EXPECTEDVALIDOBJECT` is JSON-schema validation (see [`SCHEMA_SKIP`]); `EXPECTEDENCODE`
/// is making CBOR from the JSON, byte-compared with the file's CBOR — an issuer-side step that
/// Tillit, which verifies DCCs and does not issue them, does not have.
const FLAG_SKIPS: &[(&str, &str)] = &[
    ("EXPECTEDVALIDOBJECT", SCHEMA_SKIP),
    (
        "EXPECTEDENCODE",
        "Tillit verifies DCCs but does not encode them from JSON (an issuer's step)",
    ),
];

fn parse_clock(s: &str) -> DateTime<Utc> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.with_timezone(&Utc);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return t.with_timezone(&Utc);
    }
    // No offset given: UTC, as the dgc-testdata harness assumes.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("clock {s:?}: {e}"))
        .and_utc()
}

/// Normalise a DCC JSON value for comparison: numbers as f64, date-time strings
/// as UTC seconds (CBOR may carry them tagged, JSON with another offset).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::String(s) => match DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        {
            Ok(t) => Value::String(
                t.with_timezone(&Utc)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            ),
            Err(_) => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), normalise(x))).collect())
        }
        other => other.clone(),
    }
}

fn same_json(a: &Value, b: &Value) -> bool {
    normalise(a) == normalise(b)
}

fn hex_field(case: &Value, name: &str) -> Option<Vec<u8>> {
    case[name].as_str().and_then(|h| hex::decode(h).ok())
}

/// The DCC JSON inside a COSE message, if every layer decodes.
fn dcc_of_cose(cose_bytes: &[u8]) -> Option<Value> {
    let msg = cose::decode_sign1(cose_bytes).ok()?;
    let claims = Claims::from_cbor(msg.payload().ok()?).ok()?;
    hcert::dcc_json(&claims).ok()
}

/// The DCC JSON of the whole chain from `PREFIX`.
fn dcc_of_prefix(prefix: &str) -> Option<Value> {
    let (_, cose_bytes) = qr::decode_container(prefix).ok()?;
    dcc_of_cose(&cose_bytes)
}

/// The `CBOR` field: the DCC alone, or (some countries) the whole CWT claims.
fn dcc_of_cbor_field(bytes: &[u8]) -> Option<Value> {
    let value = cwt::decode_cbor(bytes, "CBOR field").ok()?;
    match Claims::from_value(value.clone())
        .ok()
        .and_then(|c| hcert::dcc_json(&c).ok())
    {
        Some(dcc) => Some(dcc),
        None => cwt::cbor_to_json(&value).ok().filter(Value::is_object),
    }
}

/// What Tillit says for one flag; `None` when the file lacks what the flag needs.
fn actual(flag: &str, case: &Value, report: &VerificationReport) -> Option<bool> {
    let s = &report.steps;
    let prefix = case["PREFIX"].as_str()?;
    Some(match flag {
        "EXPECTEDUNPREFIX" => {
            let rest = qr::unprefix(prefix)
                .ok()
                .map(|(p, r)| (p == qr::Prefix::Hc1, r));
            let matches_field = case["BASE45"]
                .as_str()
                .is_none_or(|b| rest.is_some_and(|(_, r)| r == b));
            s.unprefix == Some(true) && rest.is_some_and(|(hc1, _)| hc1) && matches_field
        }
        "EXPECTEDB45DECODE" => {
            let b45 = case["BASE45"].as_str()?;
            let field = match (base45::decode(b45), hex_field(case, "COMPRESSED")) {
                (Ok(bytes), Some(z)) => bytes == z,
                (Ok(_), None) => true,
                (Err(_), _) => false,
            };
            // Where PREFIX carries this very text, the pipeline's base45 step must agree.
            field && (prefix != format!("HC1:{b45}") || s.base45 == Some(true))
        }
        "EXPECTEDCOMPRESSION" => {
            let z = hex_field(case, "COMPRESSED")?;
            let cose_field = hex_field(case, "COSE")?;
            let field = qr::inflate(&z).is_ok_and(|c| c == cose_field);
            // The pipeline inflates what starts with a zlib header and passes anything else
            // through (HCERT); its decompress step must agree where the field is zlib.
            field && s.decompress != Some(false)
        }
        "EXPECTEDDECODE" => {
            let decoded = dcc_of_prefix(prefix);
            let matches_json = match (&decoded, case.get("JSON")) {
                (Some(d), Some(j)) => same_json(d, j),
                (d, None) => d.is_some(),
                (None, _) => false,
            };
            let matches_cbor = match (hex_field(case, "CBOR"), &decoded) {
                (Some(c), Some(d)) => dcc_of_cbor_field(&c).is_some_and(|f| same_json(&f, d)),
                (None, d) => d.is_some(),
                (Some(_), None) => false,
            };
            s.cbor == Some(true) && matches_json && matches_cbor
        }
        "EXPECTEDVALIDJSON" => {
            let json = case.get("JSON")?;
            s.cbor == Some(true) && dcc_of_prefix(prefix).is_some_and(|d| same_json(&d, json))
        }
        "EXPECTEDVERIFY" => s.signature == Some(true),
        "EXPECTEDEXPIRATIONCHECK" => s.validity == Some(true),
        "EXPECTEDKEYUSAGE" => s.key_usage == Some(true),
        "EXPECTEDPICTUREDECODE" => {
            let b64 = case["2DCODE"].as_str()?;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|png| render::decode_png(&png).ok())
                .is_some_and(|text| text == prefix)
        }
        _ => return None,
    })
}

/// The field a compared flag needs, when the file lacks it.
fn missing_field(flag: &str, case: &Value) -> Option<String> {
    let needs: &[&str] = match flag {
        "EXPECTEDB45DECODE" => &["BASE45"],
        "EXPECTEDCOMPRESSION" => &["COMPRESSED", "COSE"],
        "EXPECTEDVALIDJSON" => &["JSON"],
        "EXPECTEDPICTUREDECODE" => &["2DCODE"],
        _ => &["PREFIX"],
    };
    needs
        .iter()
        .find(|field| case.get(**field).is_none())
        .map(|field| format!("the file has no {field} field to check it against"))
}

#[test]
fn dcc_test_data() {
    let Some(dir) = support::testdata("dcc") else {
        return;
    };
    let issues = tillit_testkit::dcc_known_issues(&dir);
    let mut counts: BTreeMap<&str, (u32, u32)> = BTreeMap::new(); // flag → (matched, known issue)
    let (mut files, mut schema_skipped) = (0, 0);
    let mut mismatches = Vec::new();
    let mut flag_skips: BTreeMap<String, u32> = BTreeMap::new();
    for path in support::json_files(&dir) {
        let rel = path.strip_prefix(&dir).unwrap().to_path_buf();
        let country = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .to_string();
        if country == "tests" {
            continue;
        }
        let set = path.file_stem().unwrap().to_str().unwrap().to_string();
        let case = support::read_json(&path);
        let Some(expected) = case["EXPECTEDRESULTS"].as_object() else {
            continue;
        };
        files += 1;

        let mut trust = TrustStore::new();
        if let Some(cert) = case["TESTCTX"]["CERTIFICATE"].as_str() {
            trust.add_certificate(tillit_crypto::x509::parse_certificate(cert.as_bytes()).unwrap());
        }
        // Every case names its clock; a verdict at "now" would drift with the calendar.
        let at = case["TESTCTX"]["VALIDATIONCLOCK"]
            .as_str()
            .map(parse_clock)
            .unwrap_or_else(|| panic!("{}: no TESTCTX.VALIDATIONCLOCK", rel.display()));
        let prefix = case["PREFIX"].as_str().unwrap_or_default();
        let report = verify::verify(prefix, &trust, &VerifyOptions::at(at));

        for (flag, want) in expected {
            let Some(want) = want.as_bool() else { continue };
            if flag == "EXPECTEDSCHEMAVALIDATION" {
                schema_skipped += 1;
                continue;
            }
            let Some(got) = actual(flag, &case, &report) else {
                // Every flag not compared is named with its reason; anything else fails.
                let reason = FLAG_SKIPS
                    .iter()
                    .find(|(f, _)| f == flag)
                    .map(|(_, why)| why.to_string())
                    .or_else(|| missing_field(flag, &case));
                match reason {
                    Some(why) => {
                        println!("skipped {} {flag}: {why}", rel.display());
                        *flag_skips.entry(flag.clone()).or_default() += 1;
                    }
                    None => mismatches.push(format!(
                        "{}: flag {flag} is neither compared nor skipped with a reason",
                        rel.display()
                    )),
                }
                continue;
            };
            let known = tillit_testkit::dcc_known_issue(&issues, flag, &country, &set);
            let entry = counts.entry(flag_name(flag)).or_default();
            if got == want {
                entry.0 += 1;
            } else if let Some(tillit_testkit::DccKnownIssue { reason, .. }) = known {
                entry.1 += 1;
                println!(
                    "known issue {}: {flag} expected {want}, got {got} ({reason})",
                    rel.display()
                );
            } else {
                mismatches.push(format!(
                    "{} ({}): {flag} expected {want}, got {got}; steps {:?}; errors {:?}",
                    rel.display(),
                    case["TESTCTX"]["DESCRIPTION"],
                    report.steps,
                    report.errors
                ));
            }
        }
    }
    for (flag, (ok, known)) in &counts {
        println!("{flag}: {ok} matched, {known} known issues skipped");
    }
    println!("EXPECTEDSCHEMAVALIDATION: {schema_skipped} skipped ({SCHEMA_SKIP})");
    for (flag, n) in &flag_skips {
        println!("{flag}: {n} skipped (reasons above)");
    }
    println!("{files} files");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(
        files >= 60,
        "expected the whole dcc folder, found {files} files"
    );
}

fn flag_name(flag: &str) -> &'static str {
    tillit_testkit::DCC_TEST_NAME_FLAGS
        .iter()
        .flat_map(|(_, f)| f.iter())
        .chain(["EXPECTEDUNPREFIX"].iter())
        .find(|f| **f == flag)
        .copied()
        .unwrap_or("other")
}

/// Tillit's QR zlib encoder (one fixed-Huffman block, chosen for speed) against what the
/// national issuers' encoders made of the same COSE messages: every re-compressed message
/// inflates back, and the total is within 10% of theirs.
#[test]
fn qr_encoder_compresses_dcc_messages_about_as_well_as_the_issuers() {
    let Some(dir) = support::testdata("dcc") else {
        return;
    };
    let (mut messages, mut theirs, mut ours) = (0, 0, 0);
    for path in support::json_files(&dir) {
        let case = support::read_json(&path);
        let (Some(compressed), Some(cose)) =
            (hex_field(&case, "COMPRESSED"), hex_field(&case, "COSE"))
        else {
            continue;
        };
        if qr::inflate(&compressed).ok().as_deref() != Some(&cose[..]) {
            continue; // a deliberately broken case
        }
        let mine = qr::deflate(&cose);
        assert_eq!(qr::inflate(&mine).unwrap(), cose, "{}", path.display());
        messages += 1;
        theirs += compressed.len();
        ours += mine.len();
    }
    println!("{messages} COSE messages: issuers' zlib {theirs} bytes, Tillit's {ours} bytes");
    assert!(
        messages >= 20,
        "expected the dcc folder's messages, found {messages}"
    );
    assert!(
        ours * 10 <= theirs * 11,
        "Tillit's encoder made {ours} bytes where the issuers made {theirs}"
    );
}
