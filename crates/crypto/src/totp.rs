//! TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA1, 6 digits and 30-second steps — what every
//! authenticator app (Google Authenticator, Microsoft Authenticator, FreeOTP) uses by default —
//! and the `otpauth://` URI they scan.

use crate::CryptoError;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;

/// Digits of a code.
pub const DIGITS: u32 = 6;

/// Steps either side of now that are accepted, for clock drift.
pub const DRIFT_STEPS: i64 = 1;

/// HOTP (RFC 4226 §5.3) of `counter` under `secret`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = aws_lc_rs::hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff)
        .unwrap_or(0);
    word % 10u32.pow(digits)
}

/// The step of a Unix time.
pub fn step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// Checks a 6-digit `code` at `unix_seconds` (± [`DRIFT_STEPS`]), refusing steps at or before
/// `last_used_step` (a code works once). Returns the step it matched.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let want: u32 = code.parse().ok()?;
    let now = step(unix_seconds);
    let mut matched = None;
    // Every candidate is computed, so the time taken does not say which one matched.
    for s in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        let Ok(counter) = u64::try_from(s) else {
            continue;
        };
        if hotp(secret, counter, DIGITS) == want && last_used_step.is_none_or(|last| s > last) {
            matched = matched.or(Some(s));
        }
    }
    matched
}

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let symbol = |v: u32| char::from(ALPHABET.get(v as usize).copied().unwrap_or(b'A'));
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol((buffer >> bits) & 31));
        }
    }
    if bits > 0 {
        out.push(symbol((buffer << (5 - bits)) & 31));
    }
    out
}

/// Decodes unpadded (or padded) RFC 4648 base32, case-insensitively.
pub fn base32_decode(text: &str) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => {
                return Err(CryptoError::InvalidBase64 {
                    what: "base32 secret",
                    reason: format!("{:?} is not a base32 character", char::from(c)),
                })
            }
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

/// The `otpauth://totp/…` URI (Key Uri Format) an authenticator app scans.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits), and RFC 4226 Appendix D (6 digits).
    #[test]
    fn rfc_vectors() {
        let secret = b"12345678901234567890";
        let totp8 = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (t, want) in totp8 {
            assert_eq!(hotp(secret, step(t) as u64, 8), want, "T={t}");
        }
        let hotp6 = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, want) in hotp6.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn verify_accepts_drift_once_and_refuses_the_rest() {
        let secret = b"12345678901234567890";
        let t = 1_111_111_111;
        let code = |s: i64| format!("{:06}", hotp(secret, s as u64, 6));
        let now = step(t);
        // (code, last used step, expected)
        let cases = [
            (code(now), None, Some(now)),
            (code(now - 1), None, Some(now - 1)),
            (code(now + 1), None, Some(now + 1)),
            (code(now - 2), None, None),
            (code(now), Some(now), None),
            (code(now + 1), Some(now), Some(now + 1)),
            ("12345".to_string(), None, None),
            ("abcdef".to_string(), None, None),
        ];
        for (c, last, want) in cases {
            assert_eq!(verify(secret, &c, t, last), want, "{c} last {last:?}");
        }
    }

    #[test]
    fn base32_round_trips_rfc4648_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
        ];
        for (raw, enc) in cases {
            assert_eq!(base32(raw), enc);
            assert_eq!(base32_decode(enc).unwrap(), raw);
            assert_eq!(base32_decode(&enc.to_lowercase()).unwrap(), raw);
        }
        assert!(base32_decode("MZ1").is_err());
    }

    #[test]
    fn otpauth_uri_is_what_apps_scan() {
        assert_eq!(
            otpauth_uri("Tillit Ankeborg", "kalle@ankeborg", b"foobar"),
            "otpauth://totp/Tillit%20Ankeborg:kalle%40ankeborg?secret=MZXW6YTBOI&issuer=Tillit%20Ankeborg&algorithm=SHA1&digits=6&period=30"
        );
    }
}
