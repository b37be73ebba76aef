//! Interop with the SD-JWT reference implementation (PyPI `sd-jwt` 0.10.4).
//!
//! Runs only with `TILLIT_INTEROP=1` and `pip install "sd-jwt==0.10.4"` done:
//! (a) the Python verifier accepts SD-JWT VCs Tillit issued and presented,
//! (b) Tillit verifies an SD-JWT VC + KB-JWT the Python library issued.

use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use serde_json::{json, Value};
use tillit_credential::report::VerifyOptions;
use tillit_credential::sdjwt::{
    self, issue_vc, present, ClaimPath, IssueOptions, KeyBindingInput, VcInput,
};
use tillit_credential::trust::TrustStore;
use tillit_crypto::{Algorithm, Jwk, SigningKey};

fn enabled() -> bool {
    tillit_testkit::interop_enabled("SD-JWT interop (needs python3 and pip sd-jwt==0.10.4)")
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/sdjwt/interop.py")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tillit-sdjwt-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn python(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 interop.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn reference_implementation_verifies_tillit_credentials() {
    if !enabled() {
        return;
    }
    let issuer = SigningKey::generate(Algorithm::Es256).unwrap();
    let holder = SigningKey::generate(Algorithm::Es256).unwrap();
    let now = Utc::now();
    let input = VcInput {
        vct: "https://ankeborg.se/vct/hunting-licence".into(),
        iss: "https://ankeborg.se".into(),
        iat: now,
        nbf: Some(now),
        exp: Some(now + chrono::Duration::days(30)),
        sub: None,
        holder_key: Some(holder.verifying_key().to_jwk()),
        status: None,
        claims: json!({"given_name": "Kalle", "family_name": "Anka",
                       "address": {"locality": "Ankeborg", "street_address": "Paradisäppelvägen 111"},
                       "licences": ["moose", "deer"]})
        .as_object()
        .unwrap()
        .clone(),
    };
    let sd: Vec<ClaimPath> = [
        "given_name",
        "family_name",
        "address",
        "address.street_address",
        "licences[]",
    ]
    .iter()
    .map(|p| ClaimPath::parse(p).unwrap())
    .collect();
    let issued = issue_vc(&input, &sd, &issuer, &IssueOptions::default()).unwrap();
    let jwk_file = scratch("issuer.jwk");
    std::fs::write(
        &jwk_file,
        serde_json::to_string(&issuer.verifying_key().to_jwk()).unwrap(),
    )
    .unwrap();

    // Issuance form, every claim.
    let sd_file = scratch("issuance.txt");
    std::fs::write(&sd_file, &issued.sd_jwt).unwrap();
    let out: Value = serde_json::from_str(&python(&[
        "verify",
        jwk_file.to_str().unwrap(),
        sd_file.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(out["given_name"], "Kalle");
    assert_eq!(out["address"]["street_address"], "Paradisäppelvägen 111");
    assert_eq!(out["licences"], json!(["moose", "deer"]));

    // Presentation with KB-JWT: some claims only.
    let kb = KeyBindingInput {
        key: &holder,
        audience: "https://python.example",
        nonce: "py-nonce",
        iat: now,
    };
    let shown = present(
        &issued.sd_jwt,
        &[
            ClaimPath::parse("given_name").unwrap(),
            ClaimPath::parse("licences[1]").unwrap(),
        ],
        Some(kb),
    )
    .unwrap();
    let p_file = scratch("presentation.txt");
    std::fs::write(&p_file, &shown).unwrap();
    let out: Value = serde_json::from_str(&python(&[
        "verify",
        jwk_file.to_str().unwrap(),
        p_file.to_str().unwrap(),
        "--aud",
        "https://python.example",
        "--nonce",
        "py-nonce",
    ]))
    .unwrap();
    assert_eq!(out["given_name"], "Kalle");
    assert!(out.get("family_name").is_none());
    assert_eq!(out["licences"], json!(["deer"]));
}

#[test]
fn tillit_verifies_reference_implementation_credentials() {
    if !enabled() {
        return;
    }
    let out_file = scratch("python-issued.json");
    python(&["issue", out_file.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    let jwk: Jwk = serde_json::from_value(v["issuer_jwk"].clone()).unwrap();
    let mut trust = TrustStore::new();
    trust.add_jwk(&jwk, None).unwrap();
    let opts = VerifyOptions {
        at: Utc::now(),
        audience: Some(v["aud"].as_str().unwrap().into()),
        nonce: Some(v["nonce"].as_str().unwrap().into()),
        country: None,
    };
    let report = sdjwt::verify_report(v["presentation"].as_str().unwrap(), &trust, &opts);
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.steps.holder_binding, Some(true));
    assert_eq!(report.claims["given_name"], "Kajsa");
    assert!(report.claims.get("family_name").is_none());
    assert_eq!(
        report.claims["address"],
        json!({"locality": "Ankeborg", "country": "SE"})
    );
    assert_eq!(report.claims["licences"], json!(["deer", "small-game"]));

    let all = sdjwt::verify_report(
        v["issuance"].as_str().unwrap(),
        &trust,
        &VerifyOptions::at(Utc::now()),
    );
    assert!(all.valid, "{:?}", all.errors);
    assert_eq!(all.claims["family_name"], "Anka");
    // A wrong nonce is caught on their credential too.
    let wrong = VerifyOptions {
        nonce: Some("other".into()),
        ..opts
    };
    assert!(!sdjwt::verify_report(v["presentation"].as_str().unwrap(), &trust, &wrong).valid);
}
