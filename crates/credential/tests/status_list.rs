//! Token Status List: every example of draft-ietf-oauth-status-list in
//! `../shared/testdata/status-list/`, read as published, plus round trips.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use serde_json::Value;
use tillit_credential::status_list::{allocate_random_index, StatusList, StatusListToken};
use tillit_crypto::{Algorithm, Jwk, SigningKey, VerifyingKey};

fn dir() -> Option<PathBuf> {
    support::testdata("status-list")
}

fn read(d: &Path, name: &str) -> String {
    std::fs::read_to_string(d.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The hex after "encoded:" (or the whole file), whitespace removed.
fn hex_block(text: &str) -> Vec<u8> {
    let body = text.split("encoded:").last().unwrap();
    let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).unwrap()
}

/// `byte_array = [0xb9, 0xa3]`
fn byte_array(text: &str) -> Option<Vec<u8>> {
    let line = text.lines().find(|l| l.starts_with("byte_array"))?;
    let inner = line.split('[').nth(1)?.split(']').next()?;
    Some(
        inner
            .split(',')
            .map(|h| u8::from_str_radix(h.trim().trim_start_matches("0x"), 16).unwrap())
            .collect(),
    )
}

/// The JSON object of a `_json` example; the long `lst` strings are wrapped over lines.
fn json_block(text: &str) -> Value {
    let body = &text[text.find('{').unwrap()..];
    let joined: String = body.lines().map(str::trim).collect::<Vec<_>>().join("");
    serde_json::from_str(&joined).unwrap()
}

/// The CBOR bytes of a `_diag` example: the hex column left of each `#`.
fn diag_bytes(text: &str) -> Vec<u8> {
    let mut hex_text = String::new();
    for line in text.lines() {
        let left = line.split('#').next().unwrap_or("");
        for token in left.split_whitespace() {
            hex_text.push_str(token);
        }
    }
    hex::decode(hex_text).unwrap()
}

/// The key the examples are signed with, as published in util.py.
fn example_key(d: &Path) -> VerifyingKey {
    let util = read(d, "util.py");
    let field = |name: &str| {
        let pat = format!("\"{name}\": \"");
        let start = util.find(&pat).unwrap() + pat.len();
        util[start..].split('"').next().unwrap().to_string()
    };
    let jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": field("kty"), "crv": field("crv"), "x": field("x"), "y": field("y")
    }))
    .unwrap();
    VerifyingKey::from_jwk(&jwk).unwrap()
}

#[test]
fn short_examples_decode_to_the_published_byte_arrays() {
    let Some(d) = dir() else { return };
    for (json_file, cbor_file, bits) in [
        (
            "status_list_encoding_json.md",
            "status_list_encoding_cbor.md",
            1u8,
        ),
        (
            "status_list_encoding2_json.md",
            "status_list_encoding2_cbor.md",
            2,
        ),
    ] {
        let text = read(&d, json_file);
        let expected = byte_array(&text).unwrap();
        let from_json = StatusList::from_json(&json_block(&text)).unwrap();
        assert_eq!(from_json.bits(), bits);
        assert_eq!(from_json.as_bytes(), &expected[..], "{json_file}");
        let ctext = read(&d, cbor_file);
        assert_eq!(byte_array(&ctext).unwrap(), expected);
        let from_cbor = StatusList::from_cbor(&hex_block(&ctext)).unwrap();
        assert_eq!(from_cbor, from_json, "{cbor_file}");
        // Our own encoding decodes back to the same list.
        assert_eq!(
            StatusList::from_json(&from_json.to_json().unwrap()).unwrap(),
            from_json
        );
        assert_eq!(
            StatusList::from_cbor(&from_json.to_cbor().unwrap()).unwrap(),
            from_json
        );
    }
}

#[test]
fn short_examples_hold_the_statuses_of_the_draft() {
    let Some(d) = dir() else { return };
    // draft §4.1: 1-bit list of 16 entries; 2-bit list of 12 entries.
    let one = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
    let two = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
    for (file, bits, statuses) in [
        ("status_list_encoding_json.md", 1u8, &one[..]),
        ("status_list_encoding2_json.md", 2, &two[..]),
    ] {
        let list = StatusList::from_json(&json_block(&read(&d, file))).unwrap();
        for (i, s) in statuses.iter().enumerate() {
            assert_eq!(list.get(i as u64), Some(*s), "{file} [{i}]");
        }
        let mut built = StatusList::new(bits, statuses.len() as u64).unwrap();
        for (i, s) in statuses.iter().enumerate() {
            built.set(i as u64, *s).unwrap();
        }
        assert_eq!(
            built.as_bytes(),
            list.as_bytes(),
            "{file}: building gives the same bytes"
        );
    }
}

#[test]
fn long_examples_hold_the_statuses_of_the_draft() {
    let Some(d) = dir() else { return };
    // draft, "Test vectors for Status List encoding": 2^20 entries, these set, all else VALID.
    let one: &[(u64, u8)] = &[
        (0, 1),
        (1993, 1),
        (25460, 1),
        (159495, 1),
        (495669, 1),
        (554353, 1),
        (645645, 1),
        (723232, 1),
        (854545, 1),
        (934534, 1),
        (1000345, 1),
    ];
    let two: &[(u64, u8)] = &[
        (0, 1),
        (1993, 2),
        (25460, 1),
        (159495, 3),
        (495669, 1),
        (554353, 1),
        (645645, 2),
        (723232, 1),
        (854545, 1),
        (934534, 2),
        (1000345, 3),
    ];
    let four: &[(u64, u8)] = &[
        (0, 1),
        (1993, 2),
        (35460, 3),
        (459495, 4),
        (595669, 5),
        (754353, 6),
        (845645, 7),
        (923232, 8),
        (924445, 9),
        (934534, 10),
        (1004534, 11),
        (1000345, 12),
        (1030203, 13),
        (1030204, 14),
        (1030205, 15),
    ];
    for (json_file, cbor_file, bits, set) in [
        (
            "status_list_encoding1_long_json.md",
            "status_list_encoding1_long_cbor.md",
            1u8,
            one,
        ),
        (
            "status_list_encoding2_long_json.md",
            "status_list_encoding2_long_cbor.md",
            2,
            two,
        ),
        (
            "status_list_encoding4_json.md",
            "status_list_encoding4_cbor.md",
            4,
            four,
        ),
    ] {
        let list = StatusList::from_json(&json_block(&read(&d, json_file))).unwrap();
        assert_eq!(list.bits(), bits);
        assert_eq!(list.len(), 1 << 20, "{json_file}");
        let from_cbor = StatusList::from_cbor(&hex_block(&read(&d, cbor_file))).unwrap();
        assert_eq!(from_cbor, list, "{cbor_file}");
        let mut expected = StatusList::new(bits, 1 << 20).unwrap();
        for (i, s) in set {
            expected.set(*i, *s).unwrap();
        }
        assert_eq!(expected.as_bytes(), list.as_bytes(), "{json_file}");
        for (i, s) in set {
            assert_eq!(list.get(*i), Some(*s));
        }
        assert_eq!(list.get(1 << 20), None);
    }
    // 8 bits: the draft sets 256 indexes to the values 0..=255, one each.
    let list =
        StatusList::from_json(&json_block(&read(&d, "status_list_encoding8_json.md"))).unwrap();
    let from_cbor =
        StatusList::from_cbor(&hex_block(&read(&d, "status_list_encoding8_cbor.md"))).unwrap();
    assert_eq!(from_cbor, list);
    assert_eq!(list.len(), 1 << 20);
    let mut nonzero: Vec<u8> = list
        .as_bytes()
        .iter()
        .copied()
        .filter(|b| *b != 0)
        .collect();
    nonzero.sort_unstable();
    assert_eq!(nonzero, (1..=255).collect::<Vec<u8>>());
    for (i, s) in [
        (233478u64, 0u8),
        (52451, 1),
        (576778, 2),
        (1199, 121),
        (19535, 255),
        (152133, 254),
    ] {
        assert_eq!(list.get(i), Some(s), "8-bit [{i}]");
    }
}

#[test]
fn diagnostic_dumps_match_the_hex_examples() {
    let Some(d) = dir() else { return };
    for (diag, hex_file) in [
        (
            "status_list_encoding_cbor_diag.md",
            "status_list_encoding_cbor.md",
        ),
        (
            "status_list_encoding2_cbor_diag.md",
            "status_list_encoding2_cbor.md",
        ),
        ("status_list_cwt_diag.md", "status_list_cwt.md"),
        ("referenced_token_cwt_diag.md", "referenced_token_cwt.md"),
    ] {
        assert_eq!(
            diag_bytes(&read(&d, diag)),
            hex_block(&read(&d, hex_file)),
            "{diag}"
        );
    }
}

#[test]
fn status_list_jwt_example_verifies() {
    let Some(d) = dir() else { return };
    let key = example_key(&d);
    let raw: String = read(&d, "status_list_jwt_raw.md")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let at = Utc.timestamp_opt(1686920170 + 60, 0).unwrap();
    let token = StatusListToken::verify_jwt(&raw, &[&key], at).unwrap();
    // The readable example shows the same header and claims.
    let readable = read(&d, "status_list_jwt.md");
    let (header_text, claims_text) = readable.split_once("\n.\n").unwrap();
    let header: Value = serde_json::from_str(header_text).unwrap();
    assert_eq!(header["typ"], "statuslist+jwt");
    let claims: Value = serde_json::from_str(claims_text).unwrap();
    assert_eq!(token.sub, claims["sub"]);
    assert_eq!(token.iat, claims["iat"].as_i64().unwrap());
    assert_eq!(token.exp, claims["exp"].as_i64());
    assert_eq!(token.ttl, claims["ttl"].as_u64());
    assert_eq!(
        token.list,
        StatusList::from_json(&claims["status_list"]).unwrap()
    );
    assert_eq!(token.list.get(0), Some(1));
    assert_eq!(token.list.get(1), Some(0));
    // Expired, altered and wrongly keyed tokens are rejected.
    assert!(StatusListToken::verify_jwt(
        &raw,
        &[&key],
        Utc.timestamp_opt(2291720170 + 3600, 0).unwrap()
    )
    .is_err());
    let other = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .verifying_key();
    assert!(StatusListToken::verify_jwt(&raw, &[&other], at).is_err());
    let mut altered = raw.clone();
    altered.insert(raw.find('.').unwrap() + 5, 'A');
    assert!(StatusListToken::verify_jwt(&altered, &[&key], at).is_err());
}

#[test]
fn status_list_cwt_examples_verify() {
    let Some(d) = dir() else { return };
    let key = example_key(&d);
    let cwt = hex_block(&read(&d, "status_list_cwt.md"));
    let at = Utc.timestamp_opt(1686920170 + 60, 0).unwrap();
    let token = StatusListToken::verify_cwt(&cwt, &[&key], at).unwrap();
    assert_eq!(token.sub, "https://example.com/statuslists/1");
    assert_eq!(token.ttl, Some(43200));
    let jwt_list =
        StatusList::from_json(&json_block(&read(&d, "status_list_encoding_json.md"))).unwrap();
    assert_eq!(token.list, jwt_list);
    let other = SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .verifying_key();
    assert!(StatusListToken::verify_cwt(&cwt, &[&other], at).is_err());

    // The referenced token carries status (65535) → status_list {idx, uri} and verifies with the same key.
    let referenced = hex_block(&read(&d, "referenced_token_cwt.md"));
    let sign1 = tillit_credential::cose::decode_sign1(&referenced).unwrap();
    sign1.verify(&key, &[]).unwrap();
    let claims: ciborium::Value = ciborium::from_reader(sign1.payload().unwrap()).unwrap();
    let status = claims
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_integer().map(i128::from) == Some(65535))
        .map(|(_, v)| v.clone())
        .unwrap();
    let list = status
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("status_list"))
        .unwrap()
        .1
        .clone();
    let get = |name: &str| {
        list.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("idx").as_integer().map(i128::from), Some(0));
    assert_eq!(
        get("uri").as_text(),
        Some("https://example.com/statuslists/1")
    );
    assert_eq!(
        token.list.get(0),
        Some(1),
        "the referenced token is revoked in the example list"
    );
}

#[test]
fn build_set_sign_and_verify_round_trip() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let at = Utc.timestamp_opt(1_780_000_000, 0).unwrap();
    for bits in [1u8, 2, 4, 8] {
        let mut list = StatusList::new(bits, 10_000).unwrap();
        let max = ((1u16 << bits) - 1) as u8;
        for (i, s) in [(0u64, 1u8), (9_999, max), (4_242, 1.min(max))] {
            list.set(i, s).unwrap();
        }
        assert!(
            list.set(10_000 * 8 / u64::from(bits), 1).is_err(),
            "outside"
        );
        if bits < 8 {
            assert!(
                list.set(1, max + 1).is_err(),
                "value too wide for {bits} bits"
            );
        }
        assert_eq!(list.get(9_999), Some(max));
        let token = StatusListToken {
            sub: "https://ankeborg.se/status/1".into(),
            iss: Some("https://ankeborg.se".into()),
            iat: at.timestamp() - 60,
            exp: Some(at.timestamp() + 86_400),
            ttl: Some(3600),
            list: list.clone(),
        };
        let jwt = token.sign_jwt(&key, None).unwrap();
        assert_eq!(
            StatusListToken::verify_jwt(&jwt, &[&key.verifying_key()], at).unwrap(),
            token
        );
        let cwt = token.sign_cwt(&key, None).unwrap();
        assert_eq!(
            StatusListToken::verify_cwt(&cwt, &[&key.verifying_key()], at).unwrap(),
            token
        );
    }
    for bad_bits in [0u8, 3, 5, 16] {
        assert!(StatusList::new(bad_bits, 8).is_err());
    }
    // Garbage never panics.
    for lst in ["", "!!!", "eNo", "AAAA"] {
        assert!(
            StatusList::decode_lst(1, lst).is_err()
                || StatusList::decode_lst(1, lst).unwrap().is_empty()
        );
    }
    assert!(StatusList::from_cbor(&[0xa2, 0x64]).is_err());
    assert!(StatusListToken::decode_cwt(&[0xd2, 0x84]).is_err());
}

#[test]
fn random_index_allocation() {
    let mut used = HashSet::new();
    for _ in 0..100 {
        let i = allocate_random_index(&used, 100).unwrap();
        assert!(i < 100 && used.insert(i));
    }
    assert!(allocate_random_index(&used, 100).is_err(), "full list");
    assert!(allocate_random_index(&HashSet::new(), 0).is_err());
    // Random: 20 draws from a large list are not sequential.
    let draws: Vec<u64> = (0..20)
        .map(|_| allocate_random_index(&HashSet::new(), 1 << 20).unwrap())
        .collect();
    assert!(draws.windows(2).any(|w| w[1] != w[0] + 1));
}
