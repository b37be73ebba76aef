//! X.509 signer certificates: PEM, DER or base64 DER. Nothing may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_crypto::x509;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(cert) = x509::parse_certificate(bytes) {
        let _ = cert.key.thumbprint();
        let _ = cert.key.to_jwk();
    }
});
