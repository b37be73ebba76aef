//! SD-JWT / SD-JWT VC: parse, process the disclosures and verify against a
//! fixed trust store, with and without a holder-binding challenge. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tillit_credential::report::VerifyOptions;
use tillit_credential::sdjwt::{self, SdJwt};
use tillit_credential::trust::TrustStore;
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

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let at = Utc
        .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    if let Ok(sd) = SdJwt::parse(text) {
        let _ = sd.sd_alg();
        let _ = sd.sd_hash();
        let _ = sd.process();
        for key in trust().keys() {
            let _ = sd.verify_signature(&key.key);
        }
    }
    let plain = VerifyOptions::at(at);
    let _ = sdjwt::verify_report(text, trust(), &plain);
    let challenge = VerifyOptions {
        audience: Some("https://verifier.example".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        ..VerifyOptions::at(at)
    };
    let _ = sdjwt::verify_report(text, trust(), &challenge);
    let _ = tillit_credential::verify::verify(text, trust(), &plain);
    let _ = sdjwt::disclosable_paths(text);
    let _ = sdjwt::ClaimPath::parse(text);
});
