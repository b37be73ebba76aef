//! Public vectors for the QR building blocks: Base45 (RFC 9285), COSE_Sign1
//! (cose-wg/Examples) and CWT (RFC 8392 appendix A).

mod support;

use tillit_credential::cwt::Claims;
use tillit_credential::{base45, cose};
use tillit_crypto::{b64, Jwk, VerifyingKey};

#[test]
fn base45_rfc9285() {
    let Some(dir) = support::testdata("base45") else {
        return;
    };
    let v = support::read_json(&dir.join("rfc9285.json"));
    let valid = v["valid"].as_array().unwrap();
    for case in valid {
        let text = case["text"].as_str().unwrap();
        let b45 = case["base45"].as_str().unwrap();
        assert_eq!(base45::encode(text.as_bytes()), b45, "encode {text:?}");
        assert_eq!(
            base45::decode(b45).unwrap(),
            text.as_bytes(),
            "decode {b45:?}"
        );
    }
    let invalid = v["invalid"].as_array().unwrap();
    for case in invalid {
        let b45 = case["base45"].as_str().unwrap();
        assert!(
            base45::decode(b45).is_err(),
            "{b45:?} must be rejected: {}",
            case["why"]
        );
    }
    println!(
        "base45: {} valid, {} invalid cases passed",
        valid.len(),
        invalid.len()
    );
}

/// A cose-wg/Examples key (`x`/`y`/`d` base64url, or `x_hex`/`y_hex`/`d_hex`) as a public JWK.
fn example_key(v: &serde_json::Value) -> Jwk {
    let member = |name: &str| -> Option<String> {
        if let Some(s) = v[name].as_str() {
            return Some(s.to_string());
        }
        v[format!("{name}_hex")]
            .as_str()
            .map(|h| b64::encode_url(&hex::decode(h).unwrap()))
    };
    Jwk {
        kty: v["kty"].as_str().unwrap().to_string(),
        crv: v["crv"].as_str().map(str::to_string),
        x: member("x"),
        y: member("y"),
        ..Jwk::default()
    }
}

/// Cases the COSE vector tests skip by name, and why.
const COSE_SKIPS: &[(&str, &str)] = &[
    (
        "eddsa-02.json",
        "Ed448: tillit-crypto supports Ed25519 only (RFC 8037 OKP Ed448 is not a Tillit algorithm)",
    ),
    (
        "eddsa-sig-02.json",
        "Ed448: tillit-crypto supports Ed25519 only",
    ),
];

/// Cases that pass in cose-wg/Examples but that Tillit rejects on purpose.
const COSE_REJECTED_BY_POLICY: &[(&str, &str)] = &[
    (
        "ecdsa-04.json",
        "ES512 with a P-256 key: Tillit binds each COSE alg to its curve (RFC 9053 §2.1 pairs ES512 with \
         P-521), so a header alg that differs from the key's is refused",
    ),
    ("ecdsa-sig-04.json", "ES512 with a P-256 key, as ecdsa-04"),
];

#[test]
fn cose_wg_examples() {
    let Some(dir) = support::testdata("cose") else {
        return;
    };
    let (mut passed, mut rejected, mut skipped, mut policy) = (0, 0, 0, 0);
    for sub in ["sign1-tests", "ecdsa-examples", "eddsa-examples"] {
        for path in support::json_files(&dir.join(sub)) {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if let Some((_, why)) = COSE_SKIPS.iter().find(|(n, _)| *n == name) {
                println!("skip {sub}/{name}: {why}");
                skipped += 1;
                continue;
            }
            let v = support::read_json(&path);
            let input = &v["input"];
            let fail = v["fail"].as_bool().unwrap_or(false);
            let cbor = hex::decode(v["output"]["cbor"].as_str().unwrap()).unwrap();
            let plaintext = input["plaintext"].as_str().unwrap().as_bytes();
            let results: Vec<Result<(), String>> = if let Some(sign0) = input.get("sign0") {
                let aad = sign0["external"]
                    .as_str()
                    .map(|h| hex::decode(h).unwrap())
                    .unwrap_or_default();
                let key = VerifyingKey::from_jwk(&example_key(&sign0["key"])).unwrap();
                vec![cose::decode_sign1(&cbor)
                    .and_then(|m| {
                        assert!(fail || m.payload().unwrap() == plaintext, "{name}: payload");
                        m.verify(&key, &aad)
                    })
                    .map_err(|e| e.to_string())]
            } else {
                let signers = input["sign"]["signers"].as_array().unwrap();
                signers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let key = VerifyingKey::from_jwk(&example_key(&s["key"])).unwrap();
                        cose::verify_cose_sign(&cbor, i, &key, &[]).map_err(|e| e.to_string())
                    })
                    .collect()
            };
            let all_ok = results.iter().all(Result::is_ok);
            if let Some((_, why)) = COSE_REJECTED_BY_POLICY.iter().find(|(n, _)| *n == name) {
                assert!(!all_ok, "{sub}/{name} should be refused: {why}");
                println!("refused by policy {sub}/{name}: {why}");
                policy += 1;
            } else if fail {
                assert!(!all_ok, "{sub}/{name} ({}) must be rejected", v["title"]);
                rejected += 1;
            } else {
                assert!(all_ok, "{sub}/{name} ({}): {results:?}", v["title"]);
                passed += 1;
            }
        }
    }
    println!("cose: {passed} verified, {rejected} rejected as expected, {policy} refused by policy, {skipped} skipped");
    assert!(passed >= 10 && rejected >= 6);
}

/// CWT examples of RFC 8392 appendix A: the claims of A.3 (signed) are
/// checked against the published plaintext after verifying the signature.
#[test]
fn rfc8392_cwt_examples() {
    let Some(dir) = support::testdata("cose/CWT") else {
        return;
    };
    // The claims every example carries (RFC 8392 A.1).
    let want = Claims {
        iss: Some("coap://as.example.com".into()),
        sub: Some("erikw".into()),
        aud: Some(vec!["coap://light.example.com".into()]),
        exp: Some(1_444_064_944),
        nbf: Some(1_443_944_944),
        iat: Some(1_443_944_944),
        cti: Some(vec![0x0b, 0x71]),
        extra: vec![],
    };
    // A.7 carries only a floating-point iat, 1443944944.5 (NumericDate seconds; fraction dropped).
    let float_iat = Claims {
        iat: Some(1_443_944_944),
        ..Claims::default()
    };
    let mut checked = 0;
    for path in support::json_files(&dir) {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let want = if name == "A_7.json" {
            &float_iat
        } else {
            &want
        };
        let v = support::read_json(&path);
        let input = &v["input"];
        let plaintext = hex::decode(input["plaintext_hex"].as_str().unwrap()).unwrap();
        // A.6 encrypts the signed CWT of A.3: its plaintext is a COSE_Sign1 around the claims.
        let plain_claims = match cose::decode_sign1(&plaintext) {
            Ok(inner) => inner.payload().unwrap().to_vec(),
            Err(_) => plaintext.clone(),
        };
        assert_eq!(
            &Claims::from_cbor(&plain_claims).unwrap(),
            want,
            "{name}: plaintext claims"
        );
        let cbor = hex::decode(v["output"]["cbor"].as_str().unwrap()).unwrap();
        if let Some(sign0) = input.get("sign0") {
            let key = VerifyingKey::from_jwk(&example_key(&sign0["key"])).unwrap();
            let msg = cose::decode_sign1(&cbor).unwrap();
            msg.verify(&key, &[]).unwrap();
            assert_eq!(
                &Claims::from_cbor(msg.payload().unwrap()).unwrap(),
                want,
                "{name}"
            );
            checked += 1;
        } else if input.get("mac0").is_some() {
            // COSE_Mac0 (tag 17): the payload is in the clear, so its claims are
            // decoded and compared; the HMAC tag itself is not checked, since Tillit
            // has no symmetric-key attestations.
            let value: ciborium::Value = ciborium::de::from_reader(cbor.as_slice()).unwrap();
            let ciborium::Value::Tag(17, inner) = value else {
                panic!("{name}: expected tag 17")
            };
            let ciborium::Value::Array(parts) = *inner else {
                panic!("{name}: expected an array")
            };
            let ciborium::Value::Bytes(payload) = &parts[2] else {
                panic!("{name}: payload")
            };
            assert_eq!(
                &Claims::from_cbor(payload).unwrap(),
                want,
                "{name}: MACed claims"
            );
            println!(
                "{name}: COSE_Mac0, claims decoded (MAC not checked: no symmetric keys in Tillit)"
            );
            checked += 1;
        } else {
            println!(
                "skip {name}: COSE_Encrypt0 (AES-CCM) is not decrypted — Tillit has no encrypted CWTs; \
                 only the published plaintext claims were decoded"
            );
        }
    }
    println!("cwt: {checked} examples decoded and checked");
    assert!(checked >= 3);
}

/// An uncompressed `HC1:` payload (allowed by HCERT) gets the same 64 KiB bound as an inflated
/// one, so a long line cannot make the CBOR step slow.
#[test]
fn an_oversized_uncompressed_hc1_payload_is_refused_at_decompress() {
    let trust = tillit_credential::trust::TrustStore::new();
    let opts = tillit_credential::report::VerifyOptions::at(chrono::Utc::now());
    let limit = tillit_credential::qr::MAX_DECOMPRESSED;
    for (len, refused) in [(1_000, false), (limit + 1, true)] {
        let text = format!("HC1:{}", base45::encode(&vec![0xa0; len]));
        let report = tillit_credential::verify::verify(&text, &trust, &opts);
        assert!(!report.valid);
        assert_eq!(
            report.steps.decompress,
            refused.then_some(false),
            "{len} bytes: {:?}",
            report.errors
        );
    }
}
