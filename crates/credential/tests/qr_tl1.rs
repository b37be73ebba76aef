//! Tillit's own QR attestation (`TL1:`): issue → PNG → decode → verify, and
//! the failures a verifier must report step by step. Python's view of the same
//! codes is in `qr_interop.rs`.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tillit_credential::qr::{self, Attestation, StatusReference};
use tillit_credential::report::{Format, VerificationReport, VerifyOptions};
use tillit_credential::status_list::StatusList;
use tillit_credential::trust::{TrustStore, TrustedIssuer};
use tillit_credential::{base45, cose, render, verify};
use tillit_crypto::{Algorithm, SigningKey};

const ISSUER: &str = "https://lansstyrelsen.example/jakt";
const TYPE: &str = "https://tillit.example/vct/jaktkort";
const STATUS_URI: &str = "https://lansstyrelsen.example/status/1";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-09-01T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn attestation() -> Attestation {
    let claims = json!({
        "given_name": "Åsa", "family_name": "Lindqvist", "birthdate": "1984-03-12",
        "licence_number": "JK-2026-004711", "valid_areas": ["Jämtland", "Härjedalen"], "level": 2
    });
    Attestation {
        issuer: ISSUER.into(),
        subject: Some("urn:tillit:person:4711".into()),
        attestation_type: TYPE.into(),
        claims: claims.as_object().unwrap().clone(),
        status: Some(StatusReference {
            idx: 7,
            uri: STATUS_URI.into(),
        }),
    }
}

fn issuer() -> TrustedIssuer {
    TrustedIssuer {
        allowed_types: vec![TYPE.into()],
        status_list_uris: vec![STATUS_URI.into()],
        ..TrustedIssuer::new(ISSUER, "Länsstyrelsen (test)")
    }
}

fn trust_for(key: &SigningKey, issuer: Option<TrustedIssuer>) -> TrustStore {
    let mut trust = TrustStore::new();
    trust
        .add_jwk(&key.verifying_key().to_jwk(), issuer)
        .unwrap();
    trust
}

fn verify_at(text: &str, trust: &TrustStore, at: DateTime<Utc>) -> VerificationReport {
    verify::verify(text, trust, &VerifyOptions::at(at))
}

#[test]
fn tl1_round_trip() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = SigningKey::generate(alg).unwrap();
        let text = qr::issue_qr(&attestation(), &key, now(), Duration::days(365)).unwrap();
        assert!(text.starts_with("TL1:"), "{text}");
        assert!(
            text.len() < 600,
            "a TL1 code should stay small, got {} characters",
            text.len()
        );

        // Render, read back, verify.
        let png = render::render_png(&text, 4).unwrap();
        let scanned = render::decode_png(&png).unwrap();
        assert_eq!(scanned, text);
        let mut trust = trust_for(&key, Some(issuer()));
        let mut list = StatusList::new(1, 64).unwrap();
        list.set(8, 1).unwrap(); // someone else's entry is revoked
        trust.set_status_list(STATUS_URI, list);
        let report = verify_at(&scanned, &trust, now() + Duration::days(30));
        assert!(report.valid, "{alg:?}: {report:?}");
        assert_eq!(report.format, Some(Format::TillitQr));
        let s = &report.steps;
        assert_eq!(
            [
                s.unprefix,
                s.base45,
                s.decompress,
                s.cose,
                s.cbor,
                s.signature,
                s.trusted_issuer,
                s.validity,
                s.status
            ],
            [Some(true); 9]
        );
        assert_eq!((s.key_usage, s.rules, s.holder_binding), (None, None, None));
        let c = &report.claims;
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["vct"], TYPE);
        assert_eq!(c["given_name"], "Åsa");
        assert_eq!(c["valid_areas"][1], "Härjedalen");
        assert_eq!(c["level"], 2);
        assert_eq!(c["status"]["status_list"]["idx"], 7);
        assert_eq!(c["exp"], (now() + Duration::days(365)).timestamp());

        let svg = render::render_svg(&text).unwrap();
        assert!(svg.starts_with("<svg"));
    }
}

/// `text` cut so that one Base45 character dangles. Space is a Base45 character but the verifier
/// trims the input, so the cut never ends on one (it would then shift to a whole group).
fn dangling_cut(text: &str) -> String {
    let body = text.len() - "TL1:".len();
    let mut end = text.len() - if body.is_multiple_of(3) { 2 } else { 1 };
    while text[..end].ends_with(' ') {
        end -= 3;
    }
    text[..end].to_string()
}

/// Each row: what is wrong, and the step that must fail (all earlier steps pass).
#[test]
fn tl1_failures_are_reported_at_their_step() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let text = qr::issue_qr(&attestation(), &key, now(), Duration::days(10)).unwrap();
    let trust = trust_for(&key, Some(issuer()));
    let later = now() + Duration::days(1);

    let (_, cose_bytes) = qr::decode_container(&text).unwrap();
    let uncompressed = format!("TL1:{}", base45::encode(&cose_bytes));
    let bad_cbor = {
        let signed = cose::sign1(
            b"\xff\x00",
            &key,
            Some(&cose::jwk_kid(&key.verifying_key())),
            &[],
        )
        .unwrap();
        qr::encode_container(qr::Prefix::Tl1, &signed)
    };
    let mut flipped = cose_bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01; // inside the signature
    let bad_sig = qr::encode_container(qr::Prefix::Tl1, &flipped);

    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let by_stranger = qr::issue_qr(&attestation(), &other, now(), Duration::days(10)).unwrap();
    let other_issuer = qr::issue_qr(
        &Attestation {
            issuer: "https://elsewhere.example".into(),
            ..attestation()
        },
        &key,
        now(),
        Duration::days(10),
    )
    .unwrap();
    let other_type = qr::issue_qr(
        &Attestation {
            attestation_type: "https://tillit.example/vct/fiskekort".into(),
            ..attestation()
        },
        &key,
        now(),
        Duration::days(10),
    )
    .unwrap();

    let cases: Vec<(&str, String, DateTime<Utc>, &str)> = vec![
        (
            "unknown prefix",
            text.replacen("TL1:", "TL2:", 1),
            later,
            "unprefix",
        ),
        (
            "lower-cased",
            text.to_lowercase().replacen("tl1:", "TL1:", 1),
            later,
            "base45",
        ),
        (
            "cut short",
            // Cut so that a single Base45 character dangles: a cut that leaves
            // a whole pair would decode and fail later, at decompression.
            dangling_cut(&text),
            later,
            "base45",
        ),
        ("not compressed", uncompressed, later, "decompress"),
        ("payload not CBOR claims", bad_cbor, later, "cbor"),
        ("signature flipped", bad_sig, later, "signature"),
        ("key not trusted", by_stranger, later, "trusted_issuer"),
        (
            "iss is not the key's issuer",
            other_issuer,
            later,
            "trusted_issuer",
        ),
        (
            "type not allowed for the issuer",
            other_type,
            later,
            "trusted_issuer",
        ),
        (
            "expired",
            text.clone(),
            now() + Duration::days(11),
            "validity",
        ),
        (
            "not yet valid",
            text.clone(),
            now() - Duration::hours(1),
            "validity",
        ),
    ];
    for (what, input, at, step) in cases {
        let report = verify_at(&input, &trust, at);
        assert!(!report.valid, "{what}: {report:?}");
        let failed: Vec<String> = report
            .errors
            .iter()
            .map(|e| {
                serde_json::to_value(e.step)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            failed.first().map(String::as_str),
            Some(step),
            "{what}: {report:?}"
        );
        assert!(report.errors.iter().all(|e| !e.message.is_empty()));
    }
}

#[test]
fn tl1_status_revoked_suspended_and_unknown_list() {
    let key = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let text = qr::issue_qr(&attestation(), &key, now(), Duration::days(10)).unwrap();
    let at = now() + Duration::hours(1);
    for (status, want) in [
        (Some(0u8), Some(true)),
        (Some(1), Some(false)),
        (Some(2), Some(false)),
        (None, None),
    ] {
        let mut trust = trust_for(&key, Some(issuer()));
        if let Some(status) = status {
            let mut list = StatusList::new(2, 16).unwrap();
            list.set(7, status).unwrap();
            trust.set_status_list(STATUS_URI, list);
        }
        let report = verify_at(&text, &trust, at);
        assert_eq!(report.steps.status, want, "status {status:?}: {report:?}");
        assert_eq!(report.valid, want != Some(false), "status {status:?}");
    }
}

#[test]
fn tl1_issue_refuses_bad_input() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut reserved = attestation();
    reserved.claims.insert("exp".into(), json!(1));
    assert!(qr::issue_qr(&reserved, &key, now(), Duration::days(1)).is_err());
    assert!(qr::issue_qr(&attestation(), &key, now(), Duration::zero()).is_err());
    // Only ES256 and EdDSA keys sign; ES384 is verify-only, so no such signing key exists.
    assert!(SigningKey::generate(Algorithm::Es384).is_err());
}

/// A directly trusted key (no issuer record) vouches for any issuer name and type.
#[test]
fn tl1_key_trusted_without_issuer_record() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let text = qr::issue_qr(&attestation(), &key, now(), Duration::days(10)).unwrap();
    let report = verify_at(&text, &trust_for(&key, None), now());
    assert!(report.valid, "{report:?}");
}

/// Random corruption of the QR text never panics and never verifies.
#[test]
fn tl1_mutations_never_verify() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let text = qr::issue_qr(&attestation(), &key, now(), Duration::days(10)).unwrap();
    let trust = trust_for(&key, Some(issuer()));
    let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
        .chars()
        .collect();
    let chars: Vec<char> = text.chars().collect();
    for i in 4..chars.len() {
        let mut changed = chars.clone();
        let pos = alphabet.iter().position(|c| *c == chars[i]).unwrap();
        changed[i] = alphabet[(pos + 1 + i % 44) % 45];
        let input: String = changed.into_iter().collect();
        assert!(!verify_at(&input, &trust, now()).valid, "change at {i}");
    }
}
