//! OpenID4VCI key proofs (the credential endpoint's `proofs.jwt`, from any wallet): checking any
//! text never panics, and a proof that checks carries a public key and a nonce.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_credential::oid4vci::verify_proof;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(proof) = verify_proof(text, "https://issuer.example/orgs/1", 1_800_000_000) {
        assert!(proof.jwk.d.is_none());
        assert!(!proof.nonce.is_empty());
    }
});
