//! The QR pipeline: zlib, CBOR, COSE_Sign1, CWT and the TL1/HCERT payloads.
//! Arbitrary bytes go in as COSE bytes, as compressed data, wrapped in a valid
//! `TL1:`/`HC1:` container (so the fuzzer reaches CBOR and COSE through the
//! whole verifier), and as text after `HC1:`. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tillit_credential::qr::{self, Prefix};
use tillit_credential::report::VerifyOptions;
use tillit_credential::trust::TrustStore;
use tillit_credential::{cose, cwt};
use tillit_crypto::{Algorithm, SigningKey};

fn trust() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = TrustStore::new();
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            if let Ok(key) = SigningKey::generate(alg) {
                let _ = store.add_jwk(&key.verifying_key().to_jwk(), None);
            }
        }
        store
    })
}

fn opts() -> VerifyOptions {
    VerifyOptions::at(
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .unwrap_or_default(),
    )
}

fuzz_target!(|bytes: &[u8]| {
    // Raw COSE_Sign1 → CWT claims → TL1 attestation.
    if let Ok(msg) = cose::decode_sign1(bytes) {
        let _ = msg.algorithm();
        let _ = msg.kid();
        let _ = msg.to_be_signed(b"");
        for key in trust().keys() {
            let _ = msg.verify(&key.key, b"");
        }
        if let Ok(payload) = msg.payload() {
            if let Ok(claims) = cwt::Claims::from_cbor(payload) {
                let _ = qr::attestation_from_claims(&claims);
                let _ = claims.to_json();
            }
        }
    }
    if let Ok(claims) = cwt::Claims::from_cbor(bytes) {
        let _ = qr::attestation_from_claims(&claims);
    }
    let _ = qr::decompress(bytes);
    // The whole verifier, with the bytes as the COSE content of a well-formed container.
    for prefix in [Prefix::Tl1, Prefix::Hc1] {
        let text = qr::encode_container(prefix, bytes);
        let _ = tillit_credential::verify::verify(&text, trust(), &opts());
    }
    // Arbitrary text after the prefix.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = tillit_credential::verify::verify(&format!("HC1:{text}"), trust(), &opts());
        let _ = tillit_credential::verify::verify(&format!("TL1:{text}"), trust(), &opts());
        let _ = qr::decode_container(text);
    }
});
