//! Public vectors for the QR building blocks: Base45 (RFC 9285), COSE_Sign1
//! (cose-wg/Examples) and CWT (RFC 8392 appendix A).

mod qr_support;

use tillit_credential::base45;

#[test]
fn base45_rfc9285() {
    let Some(dir) = qr_support::testdata("base45") else {
        return;
    };
    let v = qr_support::read_json(&dir.join("rfc9285.json"));
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
