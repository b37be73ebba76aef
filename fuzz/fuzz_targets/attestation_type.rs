//! An attestation type definition (`POST /v1/orgs/{org}/types`) and claims checked against its
//! JSON Schema (`POST /v1/orgs/{org}/attestations`): any input is refused or accepted, never a
//! panic. The input is split at the first NUL: definition, then claims.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_credential::service::TypeDefinition;

fuzz_target!(|bytes: &[u8]| {
    let (definition, claims) = match bytes.iter().position(|b| *b == 0) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &b"{}"[..]),
    };
    let Ok(def) = serde_json::from_slice::<TypeDefinition>(definition) else {
        return;
    };
    if def.check().is_err() {
        return;
    }
    if let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(claims) {
        let _ = def.check_claims(&claims);
    }
    let _ = def.disclosable_paths();
});
