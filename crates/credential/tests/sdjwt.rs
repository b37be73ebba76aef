//! SD-JWT / SD-JWT VC: RFC 9901 §5 examples, issue → present → verify, and tampering tables.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use tillit_credential::report::{Step, VerifyOptions};
use tillit_credential::sdjwt::{
    self, digest_of, issue_vc, present, ClaimPath, Disclosure, IssueOptions, KeyBindingCheck,
    KeyBindingInput, SdJwt, StatusReference, VcInput,
};
use tillit_credential::status_list::StatusList;
use tillit_credential::trust::{TrustStore, TrustedIssuer};
use tillit_crypto::{b64, jws, Algorithm, Jwk, SigningKey, VerifyingKey};

// ---------------------------------------------------------------------------
// RFC 9901 §5.1 / §5.2 (line breaks of the RFC text removed)

const RFC_ISSUER_JWT: &str = concat!(
    "eyJhbGciOiAiRVMyNTYiLCAidHlwIjogImV4YW1wbGUrc2Qtand0In0.eyJfc2QiOiBb",
    "IkNyUWU3UzVrcUJBSHQtbk1ZWGdjNmJkdDJTSDVhVFkxc1VfTS1QZ2tqUEkiLCAiSnpZ",
    "akg0c3ZsaUgwUjNQeUVNZmVadTZKdDY5dTVxZWhabzdGN0VQWWxTRSIsICJQb3JGYnBL",
    "dVZ1Nnh5bUphZ3ZrRnNGWEFiUm9jMkpHbEFVQTJCQTRvN2NJIiwgIlRHZjRvTGJnd2Q1",
    "SlFhSHlLVlFaVTlVZEdFMHc1cnREc3JaemZVYW9tTG8iLCAiWFFfM2tQS3QxWHlYN0tB",
    "TmtxVlI2eVoyVmE1TnJQSXZQWWJ5TXZSS0JNTSIsICJYekZyendzY002R242Q0pEYzZ2",
    "Vks4QmtNbmZHOHZPU0tmcFBJWmRBZmRFIiwgImdiT3NJNEVkcTJ4Mkt3LXc1d1BFemFr",
    "b2I5aFYxY1JEMEFUTjNvUUw5Sk0iLCAianN1OXlWdWx3UVFsaEZsTV8zSmx6TWFTRnpn",
    "bGhRRzBEcGZheVF3TFVLNCJdLCAiaXNzIjogImh0dHBzOi8vaXNzdWVyLmV4YW1wbGUu",
    "Y29tIiwgImlhdCI6IDE2ODMwMDAwMDAsICJleHAiOiAxODgzMDAwMDAwLCAic3ViIjog",
    "InVzZXJfNDIiLCAibmF0aW9uYWxpdGllcyI6IFt7Ii4uLiI6ICJwRm5kamtaX1ZDem15",
    "VGE2VWpsWm8zZGgta284YUlLUWM5RGxHemhhVllvIn0sIHsiLi4uIjogIjdDZjZKa1B1",
    "ZHJ5M2xjYndIZ2VaOGtoQXYxVTFPU2xlclAwVmtCSnJXWjAifV0sICJfc2RfYWxnIjog",
    "InNoYS0yNTYiLCAiY25mIjogeyJqd2siOiB7Imt0eSI6ICJFQyIsICJjcnYiOiAiUC0y",
    "NTYiLCAieCI6ICJUQ0FFUjE5WnZ1M09IRjRqNFc0dmZTVm9ISVAxSUxpbERsczd2Q2VH",
    "ZW1jIiwgInkiOiAiWnhqaVdXYlpNUUdIVldLVlE0aGJTSWlyc1ZmdWVjQ0U2dDRqVDlG",
    "MkhaUSJ9fX0.MczwjBFGtzf-6WMT-hIvYbkb11NrV1WMO-jTijpMPNbswNzZ87wY2uHz",
    "-CXo6R04b7jYrpj9mNRAvVssXou1iw",
);

/// (digest, disclosure, contents) as listed in RFC 9901 §5.1.
const RFC_DISCLOSURES: &[(&str, &str, &str)] = &[
    ("jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4", "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd", r#"["2GLC42sKQveCfGfryNRN9w", "given_name", "John"]"#),
    ("TGf4oLbgwd5JQaHyKVQZU9UdGE0w5rtDsrZzfUaomLo", "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd", r#"["eluV5Og3gSNII8EYnsxA_A", "family_name", "Doe"]"#),
    ("JzYjH4svliH0R3PyEMfeZu6Jt69u5qehZo7F7EPYlSE", "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ", r#"["6Ij7tM-a5iVPGboS5tmvVA", "email", "johndoe@example.com"]"#),
    ("PorFbpKuVu6xymJagvkFsFXAbRoc2JGlAUA2BA4o7cI", "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgInBob25lX251bWJlciIsICIrMS0yMDItNTU1LTAxMDEiXQ", r#"["eI8ZWm9QnKPpNPeNenHdhQ", "phone_number", "+1-202-555-0101"]"#),
    ("XQ_3kPKt1XyX7KANkqVR6yZ2Va5NrPIvPYbyMvRKBMM", "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgInBob25lX251bWJlcl92ZXJpZmllZCIsIHRydWVd", r#"["Qg_O64zqAxe412a108iroA", "phone_number_verified", true]"#),
    ("XzFrzwscM6Gn6CJDc6vVK8BkMnfG8vOSKfpPIZdAfdE", "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0", r#"["AJx-095VPrpTtN4QMOqROA", "address", {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}]"#),
    ("gbOsI4Edq2x2Kw-w5wPEzakob9hV1cRD0ATN3oQL9JM", "WyJQYzMzSk0yTGNoY1VfbEhnZ3ZfdWZRIiwgImJpcnRoZGF0ZSIsICIxOTQwLTAxLTAxIl0", r#"["Pc33JM2LchcU_lHggv_ufQ", "birthdate", "1940-01-01"]"#),
    ("CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI", "WyJHMDJOU3JRZmpGWFE3SW8wOXN5YWpBIiwgInVwZGF0ZWRfYXQiLCAxNTcwMDAwMDAwXQ", r#"["G02NSrQfjFXQ7Io09syajA", "updated_at", 1570000000]"#),
    ("pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo", "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0", r#"["lklxF5jMYlGTPUovMNIvCA", "US"]"#),
    ("7Cf6JkPudry3lcbwHgeZ8khAv1U1OSlerP0VkBJrWZ0", "WyJuUHVvUW5rUkZxM0JJZUFtN0FuWEZBIiwgIkRFIl0", r#"["nPuoQnkRFq3BIeAm7AnXFA", "DE"]"#),
];

/// §5.2: disclosures of family_name, address, given_name, nationalities "US", then the KB-JWT.
const RFC_PRESENTED: [&str; 4] = [
    "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd",
    "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0",
    "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
    "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0",
];
const RFC_KB_JWT: &str = concat!(
    "eyJhbGciOiAiRVMyNTYiLCAidHlwIjogImtiK2p3dCJ9.eyJub25jZSI6ICIxMjM0NTY3ODkwIiwgImF1ZCI6ICJodH",
    "RwczovL3ZlcmlmaWVyLmV4YW1wbGUub3JnIiwgImlhdCI6IDE3NDg1MzcyNDQsICJzZF",
    "9oYXNoIjogIjBfQWYtMkItRWhMV1g1eWRoX3cyeHp3bU82aU02NkJfMlFDRWFuSTRmVV",
    "kifQ.T3SIus2OidNl41nmVkTZVCKKhOAX97aOldMyHFiYjHm261eLiJ1YiuONFiMN8Ql",
    "CmYzDlBLAdPvrXh52KaLgUQ",
);

/// The Issuer key of the RFC examples (RFC 9901 Appendix A.5).
fn rfc_issuer_key() -> VerifyingKey {
    let jwk: Jwk = serde_json::from_value(json!({"kty": "EC", "crv": "P-256",
        "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
        "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8"}))
    .unwrap();
    VerifyingKey::from_jwk(&jwk).unwrap()
}

fn rfc_issuance() -> String {
    let mut s = format!("{RFC_ISSUER_JWT}~");
    for (_, d, _) in RFC_DISCLOSURES {
        s.push_str(d);
        s.push('~');
    }
    s
}

fn rfc_presentation() -> String {
    format!("{RFC_ISSUER_JWT}~{}~{RFC_KB_JWT}", RFC_PRESENTED.join("~"))
}

#[test]
fn rfc9901_disclosures_and_digests_are_as_published() {
    for (digest, encoded, contents) in RFC_DISCLOSURES {
        let d = Disclosure::parse(encoded).unwrap();
        assert_eq!(d.digest(), *digest, "digest of {encoded}");
        assert_eq!(digest_of(encoded), *digest);
        let expected: Vec<Value> = serde_json::from_str(contents).unwrap();
        let mut got = vec![Value::String(d.salt().into())];
        if let Some(n) = d.name() {
            got.push(Value::String(n.into()));
        }
        got.push(d.value().clone());
        assert_eq!(got, expected, "contents of {encoded}");
    }
    // RFC 9901 §4.2.1 known answer: family_name "Möbius".
    let mobius = Disclosure::parse(
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
    )
    .unwrap();
    assert_eq!(
        mobius.digest(),
        "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    );
    assert_eq!(mobius.value(), &json!("Möbius"));
}

#[test]
fn rfc9901_issuance_verifies_and_reveals_the_input_claims() {
    let sd = SdJwt::parse(&rfc_issuance()).unwrap();
    sd.verify_signature(&rfc_issuer_key()).unwrap();
    assert_eq!(sd.disclosures().len(), 10);
    assert!(sd.kb_jwt().is_none());
    let processed = sd.process().unwrap();
    let claims = Value::Object(processed.claims);
    let expected = json!({
        "sub": "user_42", "given_name": "John", "family_name": "Doe", "email": "johndoe@example.com",
        "phone_number": "+1-202-555-0101", "phone_number_verified": true,
        "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"},
        "birthdate": "1940-01-01", "updated_at": 1570000000, "nationalities": ["US", "DE"],
        "iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000,
        "cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
                        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}}
    });
    assert_eq!(claims, expected);
    assert_eq!(processed.revealed.len(), 10);
}

#[test]
fn rfc9901_presentation_key_binding_verifies() {
    let sd = SdJwt::parse(&rfc_presentation()).unwrap();
    sd.verify_signature(&rfc_issuer_key()).unwrap();
    assert_eq!(sd.sd_hash(), "0_Af-2B-EhLWX5ydh_w2xzwmO6iM66B_2QCEanI4fUY");
    let processed = sd.process().unwrap();
    let expected = json!({
        "iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000, "sub": "user_42",
        "nationalities": ["US"],
        "cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
                        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}},
        "family_name": "Doe",
        "address": {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"},
        "given_name": "John"
    });
    assert_eq!(Value::Object(processed.claims.clone()), expected);
    let holder: Jwk = serde_json::from_value(processed.claims["cnf"]["jwk"].clone()).unwrap();
    let holder = VerifyingKey::from_jwk(&holder).unwrap();
    let at = Utc.timestamp_opt(1748537244, 0).unwrap();
    let check = KeyBindingCheck {
        audience: Some("https://verifier.example.org"),
        nonce: Some("1234567890"),
        at,
    };
    let kb = sd.verify_key_binding(&holder, &check).unwrap();
    assert_eq!(kb.nonce, "1234567890");
    // Wrong audience, wrong nonce, stale KB-JWT.
    let wrong_aud = KeyBindingCheck {
        audience: Some("https://other.example"),
        ..check.clone()
    };
    assert!(sd.verify_key_binding(&holder, &wrong_aud).is_err());
    let wrong_nonce = KeyBindingCheck {
        nonce: Some("x"),
        ..check.clone()
    };
    assert!(sd.verify_key_binding(&holder, &wrong_nonce).is_err());
    let late = KeyBindingCheck {
        at: Utc.timestamp_opt(1748537244 + 3600, 0).unwrap(),
        ..check.clone()
    };
    assert!(sd.verify_key_binding(&holder, &late).is_err());
    // Dropping a disclosure breaks sd_hash.
    let fewer = format!(
        "{RFC_ISSUER_JWT}~{}~{RFC_KB_JWT}",
        RFC_PRESENTED[..3].join("~")
    );
    let sd = SdJwt::parse(&fewer).unwrap();
    assert!(sd.verify_key_binding(&holder, &check).is_err());
}

// ---------------------------------------------------------------------------
// Tillit issue → present → verify

const VCT: &str = "https://ankeborg.se/vct/hunting-licence";
const ISS: &str = "https://ankeborg.se";
const STATUS_URI: &str = "https://ankeborg.se/status/1";

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).unwrap()
}
const NOW: i64 = 1_780_000_000;

struct Fixture {
    issuer: SigningKey,
    holder: SigningKey,
    trust: TrustStore,
}

fn fixture() -> Fixture {
    let issuer = SigningKey::generate(Algorithm::Es256).unwrap();
    let holder = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut trust = TrustStore::new();
    let mut ti = TrustedIssuer::new(ISS, "Ankeborgs kommun");
    ti.allowed_types = vec![VCT.into()];
    ti.status_list_uris = vec![STATUS_URI.into()];
    trust
        .add_jwk(&issuer.verifying_key().to_jwk(), Some(ti))
        .unwrap();
    let mut list = StatusList::new(2, 1024).unwrap();
    list.set(7, 1).unwrap();
    list.set(8, 2).unwrap();
    trust.set_status_list(STATUS_URI, list);
    Fixture {
        issuer,
        holder,
        trust,
    }
}

fn input(f: &Fixture) -> VcInput {
    let claims = json!({
        "given_name": "Kalle", "family_name": "Anka", "birthdate": "1934-06-09",
        "address": {"street_address": "Paradisäppelvägen 111", "locality": "Ankeborg", "country": "SE"},
        "licences": ["small-game", "moose", "deer"],
    });
    VcInput {
        vct: VCT.into(),
        iss: ISS.into(),
        iat: t(NOW - 86_400),
        nbf: Some(t(NOW - 86_400)),
        exp: Some(t(NOW + 365 * 86_400)),
        sub: None,
        holder_key: Some(f.holder.verifying_key().to_jwk()),
        status: Some(StatusReference {
            idx: 3,
            uri: STATUS_URI.into(),
        }),
        claims: claims.as_object().unwrap().clone(),
    }
}

fn paths(list: &[&str]) -> Vec<ClaimPath> {
    list.iter().map(|p| ClaimPath::parse(p).unwrap()).collect()
}

const SD: &[&str] = &[
    "given_name",
    "family_name",
    "birthdate",
    "address",
    "address.street_address",
    "address.locality",
    "licences[]",
];

fn issued(f: &Fixture, inp: &VcInput) -> String {
    issue_vc(inp, &paths(SD), &f.issuer, &IssueOptions::default())
        .unwrap()
        .sd_jwt
}

fn opts(aud: Option<&str>, nonce: Option<&str>) -> VerifyOptions {
    VerifyOptions {
        at: t(NOW),
        audience: aud.map(String::from),
        nonce: nonce.map(String::from),
        country: None,
    }
}

fn kb<'a>(f: &'a Fixture) -> KeyBindingInput<'a> {
    KeyBindingInput {
        key: &f.holder,
        audience: "https://polisen.se",
        nonce: "n-0S6_WzA2Mj",
        iat: t(NOW),
    }
}

#[test]
fn issue_present_verify_round_trip() {
    let f = fixture();
    let sd_jwt = issued(&f, &input(&f));
    // Everything selectively disclosable is hidden in the signed payload.
    let parsed = SdJwt::parse(&sd_jwt).unwrap();
    let payload = Value::Object(parsed.payload().clone());
    for hidden in ["given_name", "family_name", "birthdate", "address"] {
        assert!(payload.get(hidden).is_none(), "{hidden} in clear");
    }
    assert_eq!(payload["_sd_alg"], "sha-256");
    assert_eq!(parsed.header()["typ"], "dc+sd-jwt");
    assert!(payload["licences"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.get("...").is_some()));
    // decoys: more digests than real top-level disclosures (3 real + 1..=3 decoys)
    assert!(payload["_sd"].as_array().unwrap().len() >= 4);
    // salts are 128 bits
    for d in parsed.disclosures() {
        assert_eq!(b64::decode_url(d.salt()).unwrap().len(), 16);
    }

    let shown = present(
        &sd_jwt,
        &paths(&["given_name", "address.locality", "licences[1]"]),
        Some(kb(&f)),
    )
    .unwrap();
    let report = sdjwt::verify_report(
        &shown,
        &f.trust,
        &opts(Some("https://polisen.se"), Some("n-0S6_WzA2Mj")),
    );
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.steps.holder_binding, Some(true));
    assert_eq!(report.steps.status, Some(true));
    assert_eq!(report.steps.unprefix, None);
    let c = &report.claims;
    assert_eq!(c["given_name"], "Kalle");
    assert!(c.get("family_name").is_none());
    assert_eq!(
        c["address"],
        json!({"locality": "Ankeborg", "country": "SE"})
    );
    assert_eq!(c["licences"], json!(["moose"]));
    assert!(c.get("_sd").is_none() && c.get("_sd_alg").is_none());

    let typed = sdjwt::verify(
        &shown,
        &f.trust,
        &opts(Some("https://polisen.se"), Some("n-0S6_WzA2Mj")),
    )
    .unwrap();
    assert_eq!(typed.vct, VCT);
    assert_eq!(typed.issuer.unwrap().id, ISS);
    assert_eq!(
        typed.status,
        Some(StatusReference {
            idx: 3,
            uri: STATUS_URI.into()
        })
    );

    // The issuance form (all disclosures, no KB-JWT) verifies when no key binding is asked for.
    let report = sdjwt::verify_report(&sd_jwt, &f.trust, &opts(None, None));
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.steps.holder_binding, None);
    assert_eq!(
        report.claims["address"]["street_address"],
        "Paradisäppelvägen 111"
    );
    assert_eq!(
        report.claims["licences"],
        json!(["small-game", "moose", "deer"])
    );

    // EdDSA, the other algorithm Tillit signs with (ES384 is verify-only).
    {
        let alg = Algorithm::EdDsa;
        let mut f2 = fixture();
        f2.issuer = SigningKey::generate(alg).unwrap();
        f2.trust = TrustStore::new();
        f2.trust
            .add_jwk(&f2.issuer.verifying_key().to_jwk(), None)
            .unwrap();
        let s = issued(&f2, &input(&f2));
        let r = sdjwt::verify_report(&s, &f2.trust, &opts(None, None));
        assert!(r.valid, "{alg:?}: {:?}", r.errors);
    }
}

#[test]
fn issuer_rejects_bad_requests() {
    let f = fixture();
    let inp = input(&f);
    for bad in [
        &["vct"][..],
        &["iss"],
        &["status"],
        &["cnf"],
        &["exp"],
        &["nbf"],
        &["no_such_claim"],
        &["licences[9]"],
    ] {
        assert!(
            issue_vc(&inp, &paths(bad), &f.issuer, &IssueOptions::default()).is_err(),
            "{bad:?}"
        );
    }
    let mut reserved = input(&f);
    reserved.claims.insert("_sd".into(), json!([]));
    assert!(issue_vc(&reserved, &[], &f.issuer, &IssueOptions::default()).is_err());
    assert!(present(&issued(&f, &inp), &paths(&["no_such_claim"]), None).is_err());
}

// ---------------------------------------------------------------------------
// Tampering

fn sign_raw(header: Value, payload: &Value, key: &SigningKey) -> String {
    let Value::Object(h) = header else { panic!() };
    jws::sign_compact(h, &serde_json::to_vec(payload).unwrap(), key).unwrap()
}

fn unsigned(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.",
        b64::encode_url(&serde_json::to_vec(header).unwrap()),
        b64::encode_url(&serde_json::to_vec(payload).unwrap())
    )
}

fn base_payload(f: &Fixture) -> Map<String, Value> {
    json!({"iss": ISS, "iat": NOW - 10, "exp": NOW + 1000, "vct": VCT, "_sd_alg": "sha-256",
           "cnf": {"jwk": f.holder.verifying_key().to_jwk()}})
    .as_object()
    .unwrap()
    .clone()
}

fn hdr(f: &Fixture) -> Value {
    json!({"typ": "dc+sd-jwt", "kid": f.issuer.kid()})
}

#[test]
fn tampered_inputs_fail_at_the_right_step() {
    let f = fixture();
    let good = issued(&f, &input(&f));
    let given = Disclosure::new(Some("given_name"), json!("Kalle")).unwrap();
    let arr = Disclosure::new(None, json!("x")).unwrap();
    let sdname = Disclosure::with_salt("c2FsdA".into(), None, json!(1)).unwrap();
    let _ = sdname;

    let mut cases: Vec<(&str, String, Step, VerifyOptions)> = Vec::new();
    let o = || opts(None, None);

    // Issuer signature.
    let (jwt, rest) = good.split_once('~').unwrap();
    let mut sig_flip: Vec<char> = jwt.chars().collect();
    let last = sig_flip.len() - 3;
    sig_flip[last] = if sig_flip[last] == 'A' { 'B' } else { 'A' };
    cases.push((
        "signature altered",
        format!("{}~{rest}", sig_flip.iter().collect::<String>()),
        Step::Signature,
        o(),
    ));
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&b64::decode_url(parts[1]).unwrap()).unwrap();
    payload["vct"] = json!("https://evil.example/vct");
    cases.push((
        "payload altered",
        format!(
            "{}.{}.{}~{rest}",
            parts[0],
            b64::encode_url(&serde_json::to_vec(&payload).unwrap()),
            parts[2]
        ),
        Step::Signature,
        o(),
    ));
    let p = Value::Object(base_payload(&f));
    cases.push((
        "alg none",
        format!(
            "{}~",
            unsigned(
                &json!({"alg": "none", "typ": "dc+sd-jwt", "kid": f.issuer.kid()}),
                &p
            )
        ),
        Step::Signature,
        o(),
    ));
    cases.push((
        "alg HS256",
        format!(
            "{}AAAA~",
            unsigned(
                &json!({"alg": "HS256", "typ": "dc+sd-jwt", "kid": f.issuer.kid()}),
                &p
            )
        ),
        Step::Signature,
        o(),
    ));
    let p384 = SigningKey::generate(Algorithm::EdDsa).unwrap();
    cases.push((
        "signed by another key with the same kid",
        format!("{}~", sign_raw(hdr(&f), &p, &p384)),
        Step::Signature,
        o(),
    ));
    cases.push((
        "wrong typ",
        format!(
            "{}~",
            sign_raw(json!({"typ": "JWT", "kid": f.issuer.kid()}), &p, &f.issuer)
        ),
        Step::Signature,
        o(),
    ));
    cases.push((
        "no tilde",
        sign_raw(hdr(&f), &p, &f.issuer),
        Step::Signature,
        o(),
    ));

    // Disclosures.
    cases.push((
        "foreign disclosure",
        format!("{good}{}~", given.encoded()),
        Step::Signature,
        o(),
    ));
    let first = rest.split('~').next().unwrap();
    cases.push((
        "disclosure presented twice",
        format!("{good}{first}~"),
        Step::Signature,
        o(),
    ));
    cases.push((
        "empty disclosure",
        format!("{jwt}~~{rest}"),
        Step::Signature,
        o(),
    ));
    cases.push((
        "disclosure not base64url",
        format!("{good}!!!~"),
        Step::Signature,
        o(),
    ));

    let mut dup = base_payload(&f);
    dup.insert("_sd".into(), json!([given.digest(), given.digest()]));
    cases.push((
        "digest twice in the payload",
        format!(
            "{}~{}~",
            sign_raw(hdr(&f), &Value::Object(dup.clone()), &f.issuer),
            given.encoded()
        ),
        Step::Signature,
        o(),
    ));
    cases.push((
        "digest twice, undisclosed",
        format!("{}~", sign_raw(hdr(&f), &Value::Object(dup), &f.issuer)),
        Step::Signature,
        o(),
    ));
    let mut clash = base_payload(&f);
    clash.insert("given_name".into(), json!("Kajsa"));
    clash.insert("_sd".into(), json!([given.digest()]));
    cases.push((
        "disclosed name already present",
        format!(
            "{}~{}~",
            sign_raw(hdr(&f), &Value::Object(clash), &f.issuer),
            given.encoded()
        ),
        Step::Signature,
        o(),
    ));
    let mut wrong_kind = base_payload(&f);
    wrong_kind.insert("_sd".into(), json!([arr.digest()]));
    cases.push((
        "array disclosure in _sd",
        format!(
            "{}~{}~",
            sign_raw(hdr(&f), &Value::Object(wrong_kind), &f.issuer),
            arr.encoded()
        ),
        Step::Signature,
        o(),
    ));
    let mut wrong_kind2 = base_payload(&f);
    wrong_kind2.insert("list".into(), json!([{"...": given.digest()}]));
    cases.push((
        "object disclosure as array element",
        format!(
            "{}~{}~",
            sign_raw(hdr(&f), &Value::Object(wrong_kind2), &f.issuer),
            given.encoded()
        ),
        Step::Signature,
        o(),
    ));
    let reserved = b64::encode_url(br#"["c2FsdHNhbHQ", "_sd", ["x"]]"#);
    let mut res = base_payload(&f);
    res.insert("_sd".into(), json!([digest_of(&reserved)]));
    cases.push((
        "disclosure named _sd",
        format!(
            "{}~{reserved}~",
            sign_raw(hdr(&f), &Value::Object(res), &f.issuer)
        ),
        Step::Signature,
        o(),
    ));
    let dots = b64::encode_url(br#"["c2FsdHNhbHQ", "...", 1]"#);
    let mut res2 = base_payload(&f);
    res2.insert("_sd".into(), json!([digest_of(&dots)]));
    cases.push((
        "disclosure named ...",
        format!(
            "{}~{dots}~",
            sign_raw(hdr(&f), &Value::Object(res2), &f.issuer)
        ),
        Step::Signature,
        o(),
    ));
    let four = b64::encode_url(br#"["c2FsdHNhbHQ", "a", 1, 2]"#);
    cases.push((
        "disclosure with four elements",
        format!("{good}{four}~"),
        Step::Signature,
        o(),
    ));
    let vct_sd = Disclosure::new(Some("vct"), json!(VCT)).unwrap();
    let mut hidden_vct = base_payload(&f);
    hidden_vct.remove("vct");
    hidden_vct.insert("_sd".into(), json!([vct_sd.digest()]));
    cases.push((
        "vct selectively disclosed",
        format!(
            "{}~{}~",
            sign_raw(hdr(&f), &Value::Object(hidden_vct), &f.issuer),
            vct_sd.encoded()
        ),
        Step::Signature,
        o(),
    ));
    let mut bad_alg = base_payload(&f);
    bad_alg.insert("_sd_alg".into(), json!("md5"));
    cases.push((
        "_sd_alg md5",
        format!("{}~", sign_raw(hdr(&f), &Value::Object(bad_alg), &f.issuer)),
        Step::Signature,
        o(),
    ));

    // Trust.
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut p2 = base_payload(&f);
    p2.insert("iss".into(), json!("https://stranger.example"));
    cases.push((
        "unknown issuer",
        format!(
            "{}~",
            sign_raw(
                json!({"typ": "dc+sd-jwt", "kid": stranger.kid()}),
                &Value::Object(p2),
                &stranger
            )
        ),
        Step::TrustedIssuer,
        o(),
    ));
    let mut other_type = base_payload(&f);
    other_type.insert("vct".into(), json!("https://ankeborg.se/vct/other"));
    cases.push((
        "type not allowed for issuer",
        format!(
            "{}~",
            sign_raw(hdr(&f), &Value::Object(other_type), &f.issuer)
        ),
        Step::TrustedIssuer,
        o(),
    ));
    let mut other_iss = base_payload(&f);
    other_iss.insert("iss".into(), json!("https://someone-else.example"));
    cases.push((
        "iss differs from key's issuer",
        format!(
            "{}~",
            sign_raw(hdr(&f), &Value::Object(other_iss), &f.issuer)
        ),
        Step::TrustedIssuer,
        o(),
    ));

    // Validity.
    let mut expired = input(&f);
    expired.exp = Some(t(NOW - 301));
    cases.push(("expired", issued(&f, &expired), Step::Validity, o()));
    let mut future = input(&f);
    future.nbf = Some(t(NOW + 301));
    cases.push(("not yet valid", issued(&f, &future), Step::Validity, o()));
    let mut future_iat = input(&f);
    future_iat.iat = t(NOW + 3600);
    future_iat.nbf = None;
    cases.push((
        "issued in the future",
        issued(&f, &future_iat),
        Step::Validity,
        o(),
    ));

    // Status.
    let mut revoked = input(&f);
    revoked.status = Some(StatusReference {
        idx: 7,
        uri: STATUS_URI.into(),
    });
    cases.push(("revoked", issued(&f, &revoked), Step::Status, o()));
    let mut suspended = input(&f);
    suspended.status = Some(StatusReference {
        idx: 8,
        uri: STATUS_URI.into(),
    });
    cases.push(("suspended", issued(&f, &suspended), Step::Status, o()));
    let mut outside = input(&f);
    outside.status = Some(StatusReference {
        idx: 5000,
        uri: STATUS_URI.into(),
    });
    cases.push((
        "index outside the list",
        issued(&f, &outside),
        Step::Status,
        o(),
    ));
    let mut foreign_list = input(&f);
    foreign_list.status = Some(StatusReference {
        idx: 1,
        uri: "https://elsewhere.example/status".into(),
    });
    cases.push((
        "list not published by the issuer",
        issued(&f, &foreign_list),
        Step::Status,
        o(),
    ));

    // Key binding.
    let aud = "https://polisen.se";
    let nonce = "n-0S6_WzA2Mj";
    let want = || opts(Some(aud), Some(nonce));
    let all = paths(&["given_name"]);
    cases.push((
        "KB-JWT missing but required",
        present(&good, &all, None).unwrap(),
        Step::HolderBinding,
        want(),
    ));
    let wrong_aud = KeyBindingInput {
        audience: "https://evil.example",
        ..kb(&f)
    };
    cases.push((
        "KB-JWT wrong aud",
        present(&good, &all, Some(wrong_aud)).unwrap(),
        Step::HolderBinding,
        want(),
    ));
    let wrong_nonce = KeyBindingInput {
        nonce: "replayed",
        ..kb(&f)
    };
    cases.push((
        "KB-JWT wrong nonce",
        present(&good, &all, Some(wrong_nonce)).unwrap(),
        Step::HolderBinding,
        want(),
    ));
    let old = KeyBindingInput {
        iat: t(NOW - 3600),
        ..kb(&f)
    };
    cases.push((
        "KB-JWT too old",
        present(&good, &all, Some(old)).unwrap(),
        Step::HolderBinding,
        want(),
    ));
    let thief = SigningKey::generate(Algorithm::Es256).unwrap();
    let stolen = KeyBindingInput {
        key: &thief,
        ..kb(&f)
    };
    cases.push((
        "KB-JWT signed by someone else",
        present(&good, &all, Some(stolen)).unwrap(),
        Step::HolderBinding,
        want(),
    ));
    let shown = present(&good, &all, Some(kb(&f))).unwrap();
    let (prefix, kbjwt) = shown.rsplit_once('~').unwrap();
    let (before, _) = prefix.rsplit_once('~').unwrap();
    cases.push((
        "disclosure removed after KB-JWT",
        format!("{before}~{kbjwt}"),
        Step::HolderBinding,
        want(),
    ));
    let extra = present(&good, &paths(&["family_name"]), None).unwrap();
    let extra_d = extra.trim_end_matches('~').rsplit('~').next().unwrap();
    cases.push((
        "disclosure added after KB-JWT",
        format!("{prefix}~{extra_d}~{kbjwt}"),
        Step::HolderBinding,
        want(),
    ));
    let kb_parts: Vec<&str> = kbjwt.split('.').collect();
    let mut kb_header: Value =
        serde_json::from_slice(&b64::decode_url(kb_parts[0]).unwrap()).unwrap();
    kb_header["typ"] = json!("JWT");
    let kb_payload: Value = serde_json::from_slice(&b64::decode_url(kb_parts[1]).unwrap()).unwrap();
    let retyped = sign_raw(kb_header, &kb_payload, &f.holder);
    cases.push((
        "KB-JWT typ not kb+jwt",
        format!("{prefix}~{retyped}"),
        Step::HolderBinding,
        want(),
    ));
    let kb_none = unsigned(&json!({"alg": "none", "typ": "kb+jwt"}), &kb_payload);
    cases.push((
        "KB-JWT alg none",
        format!("{prefix}~{kb_none}"),
        Step::HolderBinding,
        want(),
    ));

    for (name, input, step, o) in &cases {
        let report = sdjwt::verify_report(input, &f.trust, o);
        assert!(!report.valid, "{name}: accepted");
        assert_eq!(
            report.steps.get(*step),
            Some(false),
            "{name}: {:?} / {:?}",
            report.steps,
            report.errors
        );
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.step == *step && !e.message.is_empty()),
            "{name}"
        );
        assert!(
            sdjwt::verify(input, &f.trust, o).is_err(),
            "{name}: typed API accepted"
        );
    }
    // The untouched credential passes with the same store.
    assert!(sdjwt::verify_report(&shown, &f.trust, &want()).valid);
}

/// A JWS header with no `kid` (the PyPI `sd-jwt` reference implementation's default output):
/// the issuer's keys by `iss`, then the keys trusted directly (pinned, no issuer) are tried. A
/// `kid` that names no trusted key is not retried with the pinned keys.
#[test]
fn a_signature_that_names_no_kid_is_checked_against_the_pinned_keys() {
    let f = fixture();
    let pinned_only = |keys: &[&SigningKey]| {
        let mut store = TrustStore::new();
        for k in keys {
            store.add_jwk(&k.verifying_key().to_jwk(), None).unwrap();
        }
        store
    };
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut python_style = base_payload(&f);
    python_style.insert("iss".into(), json!("https://example.com/issuer"));
    let python_style = Value::Object(python_style);
    let no_kid = json!({"typ": "dc+sd-jwt"});
    let signed = |header: &Value, payload: &Value, key: &SigningKey| {
        format!("{}~", sign_raw(header.clone(), payload, key))
    };
    let ankeborg = Value::Object(base_payload(&f));
    // (name, credential, store, valid, the step that fails)
    let cases: Vec<(&str, String, TrustStore, bool, Option<Step>)> = vec![
        (
            "no kid, unknown iss, the pinned key signed it",
            signed(&no_kid, &python_style, &f.issuer),
            pinned_only(&[&f.issuer]),
            true,
            None,
        ),
        (
            "no kid, two pinned keys, the second signed it",
            signed(&no_kid, &python_style, &f.issuer),
            pinned_only(&[&stranger, &f.issuer]),
            true,
            None,
        ),
        (
            "no kid, a pinned key that did not sign it",
            signed(&no_kid, &python_style, &stranger),
            pinned_only(&[&f.issuer]),
            false,
            Some(Step::Signature),
        ),
        (
            "no kid, iss of a listed issuer (by iss, as before)",
            signed(&no_kid, &ankeborg, &f.issuer),
            f.trust.clone(),
            true,
            None,
        ),
        (
            "no kid, unknown iss, only issuer-bound keys: not tried",
            signed(&no_kid, &python_style, &f.issuer),
            f.trust.clone(),
            false,
            Some(Step::TrustedIssuer),
        ),
        (
            "a kid that names no trusted key: the pinned key is not tried",
            signed(
                &json!({"typ": "dc+sd-jwt", "kid": "another-key"}),
                &python_style,
                &f.issuer,
            ),
            pinned_only(&[&f.issuer]),
            false,
            Some(Step::TrustedIssuer),
        ),
    ];
    for (name, input, store, valid, failed) in &cases {
        let report = sdjwt::verify_report(input, store, &opts(None, None));
        assert_eq!(report.valid, *valid, "{name}: {:?}", report.errors);
        if let Some(step) = failed {
            assert_eq!(
                report.steps.get(*step),
                Some(false),
                "{name}: {:?}",
                report.steps
            );
        } else {
            assert_eq!(report.steps.get(Step::Signature), Some(true), "{name}");
            assert_eq!(report.steps.get(Step::TrustedIssuer), Some(true), "{name}");
        }
    }
}

#[test]
fn business_rules_for_the_vct_run_on_disclosed_claims() {
    let rule = |id: &str, ty: &str, logic: Value| {
        json!({"Identifier": id, "Type": "Acceptance", "Country": "SE", "Version": "1.0.0",
               "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
               "CertificateType": ty, "Description": [], "ValidFrom": "2020-01-01T00:00:00Z",
               "ValidTo": "2099-01-01T00:00:00Z", "AffectedFields": [], "Logic": logic})
    };
    let family_is_anka = json!({"===": [{"var": "payload.family_name"}, "Anka"]});
    let version = |mut r: Value, v: &str| {
        r["Version"] = json!(v);
        r
    };
    let cases: &[(&str, Vec<Value>, Option<bool>)] = &[
        (
            "only the latest version of a rule runs (1.1.0 passes, 1.0.0 would fail)",
            vec![
                rule("R4", VCT, json!(false)),
                version(rule("R4", VCT, family_is_anka.clone()), "1.1.0"),
            ],
            Some(true),
        ),
        ("no rules", vec![], None),
        (
            "rule for another type",
            vec![rule("R1", "https://other/vct", json!(false))],
            None,
        ),
        (
            "passing rule",
            vec![rule("R2", VCT, family_is_anka.clone())],
            Some(true),
        ),
        (
            "failing rule",
            vec![rule(
                "R3",
                VCT,
                json!({"===": [{"var": "payload.family_name"}, "Pigg"]}),
            )],
            Some(false),
        ),
    ];
    for (name, rules, expected) in cases {
        let mut f = fixture();
        f.trust.set_rules(rules.clone()).unwrap();
        let sd = issued(&f, &input(&f));
        let shown = present(&sd, &paths(&["family_name"]), None).unwrap();
        let mut o = opts(None, None);
        o.country = Some("SE".into());
        let report = sdjwt::verify_report(&shown, &f.trust, &o);
        assert_eq!(report.steps.rules, *expected, "{name}: {:?}", report.errors);
        assert_eq!(report.valid, *expected != Some(false), "{name}");
    }
    // Something that is not a rule envelope is refused when the rules are loaded, naming it.
    let err = fixture()
        .trust
        .set_rules(vec![rule("R1", VCT, json!(true)), json!({"Logic": true})])
        .unwrap_err();
    assert!(
        err.to_string().contains("rule 2 is not a valid DCC rule"),
        "{err}"
    );
}

#[test]
fn arbitrary_garbage_never_panics() {
    let f = fixture();
    let good = issued(&f, &input(&f));
    let inputs = [
        "",
        "~",
        "~~~",
        "a.b.c~",
        "..~",
        "e30.e30.~",
        "e30.W10.~",
        &good[..good.len() / 2],
        "\u{0}~\u{1}",
    ];
    for i in inputs {
        let r = sdjwt::verify_report(i, &f.trust, &opts(None, None));
        assert!(!r.valid, "{i:?}");
    }
    // Every prefix of a real credential is handled.
    for cut in (0..good.len()).step_by(7) {
        let _ = sdjwt::verify_report(&good[..cut], &f.trust, &opts(None, None));
    }
}
