//! zlib: Tillit's QR encoder and the strict inflater agree on every byte string
//! (encode → inflate gives the input back), and inflating arbitrary bytes never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tillit_credential::qr;

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() <= qr::MAX_DECOMPRESSED {
        let compressed = qr::deflate(bytes);
        assert_eq!(
            qr::inflate(&compressed).ok().as_deref(),
            Some(bytes),
            "deflate/inflate round trip"
        );
    }
    if let Ok(inflated) = qr::inflate(bytes) {
        assert!(inflated.len() <= qr::MAX_DECOMPRESSED);
    }
});
