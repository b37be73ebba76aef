//! Trust bundle: build → open with a pinned key; rejection of unpinned, expired
//! and altered bundles; DSC import from the DCC test data; DIGG dsc_trust_list.

mod support;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use tillit_credential::bundle::{
    build_bundle, import_digg_trust_list, import_dsc_certificates, inspect_bundle, open_bundle,
    BundleContent, BundleIssuer,
};
use tillit_credential::report::VerifyOptions;
use tillit_credential::sdjwt::{self, issue_vc, IssueOptions, StatusReference, VcInput};
use tillit_credential::status_list::{StatusList, StatusListToken};
use tillit_credential::trust::TrustStore;
use tillit_credential::CredentialError;
use tillit_crypto::{b64, x509, Algorithm, SigningKey};

const NOW: i64 = 1_780_000_000;
const ISS: &str = "https://ankeborg.se";
const VCT: &str = "https://ankeborg.se/vct/parking";
const LIST: &str = "https://ankeborg.se/status/1";

struct Keys {
    publisher: SigningKey,
    issuer: SigningKey,
}

fn content(k: &Keys, status_signer: &SigningKey, listed: bool) -> BundleContent {
    let mut list = StatusList::new(1, 256).unwrap();
    list.set(5, 1).unwrap();
    let token = StatusListToken {
        sub: LIST.into(),
        iss: Some(ISS.into()),
        iat: NOW - 3600,
        exp: Some(NOW + 86_400),
        ttl: Some(3600),
        list,
    };
    let mut status_lists = BTreeMap::new();
    status_lists.insert(
        LIST.to_string(),
        token.sign_jwt(status_signer, None).unwrap(),
    );
    BundleContent {
        iss: "https://trust.example.se".into(),
        iat: NOW - 7200,
        exp: NOW + 7 * 86_400,
        issuers: vec![BundleIssuer {
            id: ISS.into(),
            name: "Ankeborgs kommun".into(),
            organisation: Some("Ankeborgs kommun".into()),
            country: Some("SE".into()),
            keys: vec![k.issuer.verifying_key().to_jwk()],
            allowed_types: vec![VCT.into()],
            status_lists: if listed { vec![LIST.into()] } else { vec![] },
            valid_from: Some(Utc.timestamp_opt(NOW - 365 * 86_400, 0).unwrap()),
            valid_until: None,
        }],
        status_lists,
        rules: vec![rule_envelope(
            "GR-SE-0001",
            VCT,
            json!({"===": [{"var": "payload.plate"}, "ABC123"]}),
        )],
        value_sets: json!({"country-2-codes": {"SE": {}}})
            .as_object()
            .unwrap()
            .clone(),
    }
}

/// A DCC rule envelope (the format CertLogic rules travel in).
pub fn rule_envelope(id: &str, certificate_type: &str, logic: Value) -> Value {
    json!({
        "Identifier": id, "Type": "Acceptance", "Country": "SE", "Version": "1.0.0",
        "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
        "CertificateType": certificate_type, "Description": [{"lang": "en", "desc": "plate present"}],
        "ValidFrom": "2020-01-01T00:00:00Z", "ValidTo": "2099-01-01T00:00:00Z",
        "AffectedFields": ["plate"], "Logic": logic
    })
}

fn keys() -> Keys {
    Keys {
        publisher: SigningKey::generate(Algorithm::Es256).unwrap(),
        issuer: SigningKey::generate(Algorithm::Es256).unwrap(),
    }
}

fn at(s: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(s, 0).unwrap()
}

#[test]
fn bundle_round_trip_feeds_verification() {
    let k = keys();
    let bundle = build_bundle(&content(&k, &k.issuer, true), &k.publisher).unwrap();
    assert_eq!(
        inspect_bundle(&bundle).unwrap(),
        content(&k, &k.issuer, true).with_lists_of(&inspect_bundle(&bundle).unwrap())
    );
    let store = open_bundle(&bundle, &[k.publisher.verifying_key()], at(NOW)).unwrap();
    assert_eq!(store.issued_at(), Some(at(NOW - 7200)));
    assert_eq!(store.age_at(at(NOW)).unwrap().num_hours(), 2);
    assert_eq!(store.expires_at(), Some(at(NOW + 7 * 86_400)));
    assert_eq!(store.status_of(LIST, 5), Some(1));
    assert_eq!(store.status_of(LIST, 4), Some(0));
    assert_eq!(store.status_of("https://other/list", 0), None);
    assert_eq!(store.rules().len(), 1);
    assert!(store.value_sets().contains_key("country-2-codes"));
    assert_eq!(store.keys_for_jwt_kid(&k.issuer.kid()).len(), 1);
    assert_eq!(store.issuers()[0].country.as_deref(), Some("SE"));

    // An SD-JWT VC of that issuer verifies against the bundle; index 5 is revoked.
    for (idx, valid) in [(4u64, true), (5, false)] {
        let input = VcInput {
            vct: VCT.into(),
            iss: ISS.into(),
            iat: at(NOW - 60),
            nbf: None,
            exp: Some(at(NOW + 3600)),
            sub: None,
            holder_key: None,
            status: Some(StatusReference {
                idx,
                uri: LIST.into(),
            }),
            claims: json!({"plate": "ABC123"}).as_object().unwrap().clone(),
        };
        let sd = issue_vc(&input, &[], &k.issuer, &IssueOptions::default())
            .unwrap()
            .sd_jwt;
        let report = sdjwt::verify_report(&sd, &store, &VerifyOptions::at(at(NOW)));
        assert_eq!(report.valid, valid, "idx {idx}: {:?}", report.errors);
        assert_eq!(report.steps.status, Some(valid));
        assert_eq!(
            report.steps.rules,
            Some(true),
            "the plate rule ran and passed"
        );
    }
}

trait WithLists {
    fn with_lists_of(self, other: &BundleContent) -> BundleContent;
}
impl WithLists for BundleContent {
    /// ECDSA signatures differ per signing; compare everything else.
    fn with_lists_of(mut self, other: &BundleContent) -> BundleContent {
        self.status_lists = other.status_lists.clone();
        self
    }
}

#[test]
fn bundle_rejections() {
    let k = keys();
    let good = build_bundle(&content(&k, &k.issuer, true), &k.publisher).unwrap();
    let pinned = [k.publisher.verifying_key()];

    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let cases: Vec<(&str, String, Vec<tillit_crypto::VerifyingKey>, i64, &str)> = vec![
        (
            "signer not pinned",
            good.clone(),
            vec![stranger.verifying_key()],
            NOW,
            "pinned",
        ),
        ("nothing pinned", good.clone(), vec![], NOW, "pinned"),
        (
            "expired",
            good.clone(),
            pinned.to_vec(),
            NOW + 8 * 86_400,
            "expired",
        ),
        (
            "issued in the future",
            good.clone(),
            pinned.to_vec(),
            NOW - 86_400,
            "future",
        ),
        (
            "status list signed by a key of no issuer",
            build_bundle(&content(&k, &stranger, true), &k.publisher).unwrap(),
            pinned.to_vec(),
            NOW,
            "does not verify",
        ),
        (
            "status list no issuer publishes",
            build_bundle(&content(&k, &k.issuer, false), &k.publisher).unwrap(),
            pinned.to_vec(),
            NOW,
            "not published",
        ),
        (
            "altered payload",
            alter(&good),
            pinned.to_vec(),
            NOW,
            "pinned",
        ),
        ("not a JWS", "garbage".into(), pinned.to_vec(), NOW, "JWS"),
    ];
    for (name, bundle, pins, when, needle) in cases {
        let e = match open_bundle(&bundle, &pins, at(when)) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e,
        };
        assert!(e.to_string().contains(needle), "{name}: {e}");
    }
    // The expiry error says how old the bundle is.
    match open_bundle(&good, &pinned, at(NOW + 8 * 86_400)) {
        Err(CredentialError::BundleExpired { age_hours, .. }) => assert_eq!(age_hours, 8 * 24 + 2),
        other => panic!("{:?}", other.err()),
    }
}

fn alter(jws: &str) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&b64::decode_url(parts[1]).unwrap()).unwrap();
    payload["exp"] = json!(NOW + 1_000 * 86_400);
    format!(
        "{}.{}.{}",
        parts[0],
        b64::encode_url(&serde_json::to_vec(&payload).unwrap()),
        parts[2]
    )
}

fn dcc_certificates() -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for country in ["SE", "DK", "FI"] {
        let dir = support::testdata(&format!("dcc/{country}/2DCode/raw"))?;
        let files = support::json_files(&dir);
        let first = files
            .first()
            .unwrap_or_else(|| panic!("no vector in {}", dir.display()));
        let v = support::read_json(first);
        let c = v["TESTCTX"]["CERTIFICATE"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no TESTCTX.CERTIFICATE", first.display()));
        out.push((country.to_string(), c.to_string()));
    }
    Some(out)
}

#[test]
fn dsc_certificates_import() {
    let Some(certs) = dcc_certificates() else {
        return;
    };
    let mut store = TrustStore::new();
    let n =
        import_dsc_certificates(&mut store, certs.iter().map(|(_, c)| c.as_str()), None).unwrap();
    assert_eq!(n, certs.len());
    for (_, c) in &certs {
        let cert = x509::parse_certificate(c.as_bytes()).unwrap();
        let keys = store.keys_for_cose_kid(&cert.kid);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].certificate.as_ref().unwrap().der, cert.der);
    }
    assert!(import_dsc_certificates(&mut store, ["not a certificate"], None).is_err());
}

/// A DIGG-format list (RFC 7797 unencoded payload) built from the DCC test certificates.
fn digg_list(signer: &SigningKey, certs: &[(String, String)], iat: i64, exp: i64) -> String {
    let mut countries = serde_json::Map::new();
    for (country, c) in certs {
        let cert = x509::parse_certificate(c.as_bytes()).unwrap();
        let kid = base64_std(&cert.kid);
        let mut jwk = cert.key.to_jwk();
        jwk.kid = Some(kid.clone());
        jwk.x5c = Some(vec![c.clone()]);
        countries.insert(
            country.clone(),
            json!({"eku": {kid: cert.extended_key_usages}, "keys": [jwk]}),
        );
    }
    let payload = json!({"iss": "https://dgc.digg.se/trust-service", "id": "x", "iat": iat, "exp": exp,
                         "aud": "dgc-validators", "dsc_trust_list": countries});
    let header = json!({"b64": false, "typ": "JOSE", "alg": signer.algorithm().jose_name()});
    let h = b64::encode_url(&serde_json::to_vec(&header).unwrap());
    let p = serde_json::to_string(&payload).unwrap();
    let sig = signer.sign(format!("{h}.{p}").as_bytes()).unwrap();
    format!("{h}.{p}.{}", b64::encode_url(&sig))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn digg_dsc_trust_list_import() {
    let Some(certs) = dcc_certificates() else {
        return;
    };
    let signer = SigningKey::generate(Algorithm::Es256).unwrap();
    let list = digg_list(&signer, &certs, NOW - 60, NOW + 86_400);
    let store = import_digg_trust_list(&list, &[signer.verifying_key()], at(NOW)).unwrap();
    assert_eq!(store.keys().len(), certs.len());
    for (country, c) in &certs {
        let cert = x509::parse_certificate(c.as_bytes()).unwrap();
        let keys = store.keys_for_cose_kid(&cert.kid);
        assert_eq!(keys.len(), 1, "{country}");
        assert_eq!(
            keys[0].issuer.as_ref().unwrap().country.as_deref(),
            Some(country.as_str())
        );
    }
    assert_eq!(store.issued_at(), Some(at(NOW - 60)));
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    assert!(import_digg_trust_list(&list, &[stranger.verifying_key()], at(NOW)).is_err());
    assert!(matches!(
        import_digg_trust_list(&list, &[signer.verifying_key()], at(NOW + 2 * 86_400)),
        Err(CredentialError::BundleExpired { .. })
    ));
    let tampered = list.replacen("dgc-validators", "dgc-validatorz", 1);
    assert!(import_digg_trust_list(&tampered, &[signer.verifying_key()], at(NOW)).is_err());
}
