//! Base64url without padding (RFC 4648 §5), as JOSE uses it; and standard padded base64
//! (RFC 4648 §4), as X.509 (`x5c`, DCC certificates) and the DCC rules' `kid` use it.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::CryptoError;

/// Encodes as base64url without padding.
pub fn encode_url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes unpadded base64url. Padding, `+`/`/`, whitespace and non-canonical trailing bits
/// are rejected.
pub fn decode_url(s: &str) -> Result<Vec<u8>, CryptoError> {
    decode_url_named(s, "input")
}

/// Encodes as standard base64 with padding.
pub fn encode_std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes standard padded base64 (e.g. an HTTP Basic credential, RFC 7617).
pub fn decode_std(s: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD.decode(s).map_err(|e| CryptoError::InvalidBase64 {
        what: "input",
        reason: e.to_string(),
    })
}

pub(crate) fn decode_url_named(s: &str, what: &'static str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| CryptoError::InvalidBase64 {
            what,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        // (encoded, decoded) — RFC 4648 §10 vectors, url alphabet, no padding.
        let ok: &[(&str, &[u8])] = &[
            ("", b""),
            ("Zg", b"f"),
            ("Zm8", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg", b"foob"),
            ("Zm9vYmE", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("-_8", &[0xfb, 0xff]),
        ];
        for (enc, dec) in ok {
            assert_eq!(encode_url(dec), *enc);
            assert_eq!(decode_url(enc).unwrap(), *dec);
        }
        for bad in ["Zg==", "+/8", "Zm9v YmFy", "Z", "Zh", "é"] {
            assert!(decode_url(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
