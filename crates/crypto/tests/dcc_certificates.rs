//! Every signer certificate in the EU DCC test data (`TESTCTX.CERTIFICATE`) parses, its key
//! type is what the file's COSE `alg` needs, and where the COSE header names a `kid` it is the
//! first 8 bytes of SHA-256 over the certificate.

use std::path::PathBuf;

use ciborium::Value;
use tillit_crypto::x509::parse_certificate;
use tillit_crypto::Algorithm;

fn testdata() -> Option<PathBuf> {
    tillit_testkit::testdata("")
}

/// COSE header label 1 (alg) and 4 (kid) from a COSE_Sign1, protected header first.
fn cose_alg_and_kid(cose: &[u8]) -> (Option<i64>, Option<Vec<u8>>) {
    let Ok(mut value) = ciborium::from_reader::<Value, _>(cose) else {
        return (None, None);
    };
    while let Value::Tag(_, inner) = value {
        value = *inner;
    }
    let Value::Array(items) = value else {
        return (None, None);
    };
    let mut maps: Vec<Vec<(Value, Value)>> = Vec::new();
    if let Some(Value::Bytes(protected)) = items.first() {
        if let Ok(Value::Map(m)) = ciborium::from_reader::<Value, _>(protected.as_slice()) {
            maps.push(m);
        }
    }
    if let Some(Value::Map(m)) = items.get(1) {
        maps.push(m.clone());
    }
    let find = |label: i64| {
        maps.iter()
            .flat_map(|m| m.iter())
            .find(|(k, _)| {
                k.as_integer()
                    .is_some_and(|i| i128::from(i) == i128::from(label))
            })
            .map(|(_, v)| v.clone())
    };
    let alg = find(1)
        .and_then(|v| v.as_integer())
        .and_then(|i| i64::try_from(i).ok());
    let kid = find(4).and_then(|v| v.as_bytes().cloned());
    (alg, kid)
}

#[test]
fn dcc_signer_certificates() {
    let Some(root) = testdata() else {
        return;
    };
    let files = tillit_testkit::json_files(&root.join("dcc"));
    assert!(!files.is_empty(), "no DCC vectors under {}", root.display());

    let (mut parsed, mut alg_checked, mut kid_checked) = (0, 0, 0);
    for file in &files {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let Some(cert_b64) = doc["TESTCTX"]["CERTIFICATE"].as_str() else {
            continue;
        };
        let cert = parse_certificate(cert_b64.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: certificate does not parse: {e}"));
        parsed += 1;
        assert!(cert.not_before < cert.not_after, "{name}");
        assert!(
            !cert.subject.is_empty() && !cert.issuer.is_empty(),
            "{name}"
        );
        for oid in &cert.extended_key_usages {
            assert!(
                oid.split('.').all(|arc| arc.parse::<u64>().is_ok()),
                "{name}: {oid}"
            );
        }

        let cose = doc["COSE"].as_str().and_then(|h| hex::decode(h).ok());
        let Some(cose) = cose else { continue };
        let (alg, kid) = cose_alg_and_kid(&cose);
        let expect_verify = doc["EXPECTEDRESULTS"]["EXPECTEDVERIFY"].as_bool();
        if let Some(alg) = alg {
            let alg = Algorithm::from_cose_id(alg)
                .unwrap_or_else(|| panic!("{name}: COSE alg {alg} unknown"));
            assert_eq!(cert.key.algorithm(), alg, "{name}: key type vs COSE alg");
            alg_checked += 1;
        }
        // A kid is checked only where the file expects the signature to verify: the
        // negative cases deliberately pair a certificate with a foreign kid.
        if let (Some(kid), Some(true)) = (kid, expect_verify) {
            assert_eq!(kid, cert.kid, "{name}: COSE kid vs SHA-256(cert)[..8]");
            kid_checked += 1;
        }
    }
    println!("{parsed} certificates parsed, {alg_checked} alg checks, {kid_checked} kid checks");
    assert!(parsed > 0 && alg_checked > 0 && kid_checked > 0);
}

#[test]
fn pem_der_and_base64_forms_agree() {
    let Some(root) = testdata() else {
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("dcc/SE/2DCode/raw/1.json")).unwrap(),
    )
    .unwrap();
    let b64 = doc["TESTCTX"]["CERTIFICATE"].as_str().unwrap();
    let from_b64 = parse_certificate(b64.as_bytes()).unwrap();
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        wrapped.join("\n")
    );
    for (form, input) in [
        ("DER", from_b64.der.clone()),
        ("PEM", pem.into_bytes()),
        ("base64 with newlines", wrapped.join("\r\n").into_bytes()),
    ] {
        let cert = parse_certificate(&input).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(cert.der, from_b64.der, "{form}");
        assert_eq!(cert.kid, from_b64.kid, "{form}");
        assert_eq!(cert.key, from_b64.key, "{form}");
        assert_eq!(cert.subject, from_b64.subject, "{form}");
    }
    // Broken inputs are errors, never panics.
    let der = &from_b64.der;
    let broken: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated DER", der[..der.len() / 2].to_vec()),
        ("DER with trailing byte", [der.as_slice(), &[0]].concat()),
        ("bad base64", b"MII@@@".to_vec()),
        (
            "PEM without end",
            b"-----BEGIN CERTIFICATE-----\nMIIB".to_vec(),
        ),
        (
            "PEM key not cert",
            b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----".to_vec(),
        ),
        ("not UTF-8", vec![0xff, 0xfe, 0xfd]),
    ];
    for (why, input) in broken {
        assert!(parse_certificate(&input).is_err(), "{why}");
    }
    // Every truncation is an error; bit flips never panic (a flip inside the signature or
    // a string may still parse, since parsing does not check the issuer's signature).
    for len in 0..der.len() {
        assert!(
            parse_certificate(&der[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for i in 0..der.len() {
        for bit in [0x01u8, 0x80] {
            let mut flipped = der.clone();
            flipped[i] ^= bit;
            if let Ok(cert) = parse_certificate(&flipped) {
                assert_ne!(
                    cert.kid, from_b64.kid,
                    "a changed certificate has another kid"
                );
            }
        }
    }
}
