//! Base45 (RFC 9285): decoding arbitrary text never panics, and every byte
//! string survives encode → decode unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_credential::base45;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(decoded) = base45::decode(text) {
            assert_eq!(
                base45::encode(&decoded),
                text,
                "decode accepted a non-canonical encoding"
            );
        }
    }
    let encoded = base45::encode(bytes);
    assert_eq!(
        base45::decode(&encoded).ok().as_deref(),
        Some(bytes),
        "encode/decode round trip"
    );
});
