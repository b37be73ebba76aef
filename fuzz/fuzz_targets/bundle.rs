//! Trust bundle and DIGG DSC trust list: inspect and open arbitrary text with
//! a fixed pinned key. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tillit_credential::bundle;
use tillit_crypto::{Algorithm, SigningKey, VerifyingKey};

fn pinned() -> &'static Vec<VerifyingKey> {
    static KEYS: OnceLock<Vec<VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        SigningKey::generate(Algorithm::Es256)
            .map(|k| vec![k.verifying_key()])
            .unwrap_or_default()
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
    let _ = bundle::inspect_bundle(text);
    let _ = bundle::open_bundle(text, pinned(), at);
    let _ = bundle::import_digg_trust_list(text, pinned(), at);
    let mut store = tillit_credential::trust::TrustStore::new();
    let _ = bundle::import_dsc_certificates(&mut store, text.lines(), None);
    if let Ok(content) = serde_json::from_str::<bundle::BundleContent>(text) {
        if let Ok(key) = SigningKey::generate(Algorithm::Es256) {
            if let Ok(signed) = bundle::build_bundle(&content, &key) {
                let _ = bundle::open_bundle(&signed, &[key.verifying_key()], at);
            }
        }
    }
});
