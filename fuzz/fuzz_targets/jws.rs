//! Compact JWS: decode arbitrary text, read `alg`, verify against fixed keys. Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tillit_crypto::{jws, Algorithm, SigningKey, VerifyingKey};

fn keys() -> &'static Vec<VerifyingKey> {
    static KEYS: OnceLock<Vec<VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [Algorithm::Es256, Algorithm::EdDsa]
            .into_iter()
            .filter_map(|alg| SigningKey::generate(alg).ok())
            .map(|k| k.verifying_key())
            .collect()
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(msg) = jws::decode_compact(text) {
        let _ = msg.algorithm();
        for key in keys() {
            let _ = msg.verify(key, &[Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa]);
        }
    }
    if let Ok(jwk) = serde_json::from_slice::<tillit_crypto::Jwk>(bytes) {
        let _ = jwk.thumbprint();
        let _ = VerifyingKey::from_jwk(&jwk);
        let _ = SigningKey::from_jwk(&jwk);
    }
});
