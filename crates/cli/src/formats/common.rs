//! What the offline format commands share: reading inputs and key files,
//! parsing times and durations. Every error here is a usage error (exit 2)
//! with a message that names the flag and the file.

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tillit_crypto::x509::{self, SignerCertificate};
use tillit_crypto::{Jwk, SigningKey, VerifyingKey};

/// The first bytes of every PNG file.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Read a whole file (`-` = standard input) as bytes; `flag` names the option in errors.
pub fn read_bytes(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// Read a whole file (`-` = standard input) as UTF-8 text.
pub fn read_text(path: &Path, flag: &str) -> anyhow::Result<String> {
    let bytes = read_bytes(path, flag)?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{flag}: {} is not UTF-8 text", path.display()))
}

/// Read a JSON file (`-` = standard input).
pub fn read_json(path: &Path, flag: &str) -> anyhow::Result<Value> {
    let text = read_text(path, flag)?;
    serde_json::from_str(&text)
        .with_context(|| format!("{flag}: {} is not valid JSON", path.display()))
}

/// Whether `bytes` is a PNG image.
pub fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(PNG_MAGIC)
}

/// Resolve a positional INPUT: `-` (standard input), `@FILE` (a text file or a
/// PNG), the path of an existing PNG file, else the text itself.
/// A PNG is decoded to the text of the QR code it shows.
pub fn resolve_input(input: &str) -> anyhow::Result<String> {
    if input == "-" {
        return text_or_png(read_bytes(Path::new("-"), "INPUT")?, "standard input");
    }
    if let Some(file) = input.strip_prefix('@') {
        return text_or_png(read_bytes(Path::new(file), "INPUT")?, file);
    }
    let path = Path::new(input);
    let looks_like_png_path = input.len() < 4096 && input.to_ascii_lowercase().ends_with(".png");
    if looks_like_png_path || (input.len() < 4096 && path.is_file()) {
        let bytes = read_bytes(path, "INPUT")?;
        if is_png(&bytes) {
            return text_or_png(bytes, input);
        }
        bail!("INPUT: {input} is a file but not a PNG image; pass a text file as @{input}");
    }
    Ok(input.trim().to_string())
}

fn text_or_png(bytes: Vec<u8>, what: &str) -> anyhow::Result<String> {
    if is_png(&bytes) {
        return decode_png(&bytes)
            .with_context(|| format!("INPUT: no readable QR code in the PNG image {what}"));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("INPUT: {what} is neither text nor a PNG image"))?;
    Ok(text.trim().to_string())
}

/// The text of the QR code in a PNG image (the credential crate's decoder).
pub fn decode_png(png: &[u8]) -> anyhow::Result<String> {
    Ok(tillit_credential::render::decode_png(png)?)
}

/// A signer the verifier trusts directly (`--cert`): a certificate or a JWK.
pub enum TrustedSigner {
    Certificate(Box<SignerCertificate>),
    Jwk(Box<Jwk>),
}

impl TrustedSigner {
    /// The public key.
    pub fn verifying_key(&self) -> anyhow::Result<VerifyingKey> {
        match self {
            Self::Certificate(cert) => Ok(cert.key.clone()),
            Self::Jwk(jwk) => Ok(VerifyingKey::from_jwk(&jwk.to_public())?),
        }
    }
}

/// Read a key or certificate file: an X.509 certificate (PEM, DER or base64 DER),
/// a JWK (public or private; only the public part is used) or a JWK Set.
pub fn load_signers(path: &Path, flag: &str) -> anyhow::Result<Vec<TrustedSigner>> {
    let bytes = read_bytes(path, flag)?;
    let text = std::str::from_utf8(&bytes)
        .map(str::trim)
        .unwrap_or_default();
    if text.starts_with('{') {
        let value: Value = serde_json::from_str(text)
            .with_context(|| format!("{flag}: {} is not valid JSON", path.display()))?;
        let jwks: Vec<Value> = match value.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            Some(_) => bail!(
                "{flag}: {}: \"keys\" must be an array of JWKs",
                path.display()
            ),
            None => vec![value],
        };
        let mut out = Vec::new();
        for (i, v) in jwks.into_iter().enumerate() {
            let jwk: Jwk = serde_json::from_value(v).with_context(|| {
                format!("{flag}: {}: key #{} is not a JWK", path.display(), i + 1)
            })?;
            VerifyingKey::from_jwk(&jwk.to_public()).with_context(|| {
                format!("{flag}: {}: key #{} is not usable", path.display(), i + 1)
            })?;
            out.push(TrustedSigner::Jwk(Box::new(jwk.to_public())));
        }
        if out.is_empty() {
            bail!("{flag}: {} holds no keys", path.display());
        }
        return Ok(out);
    }
    let cert = x509::parse_certificate(&bytes).with_context(|| {
        format!(
            "{flag}: {} is neither an X.509 certificate (PEM, DER, base64 DER) nor a JWK",
            path.display()
        )
    })?;
    Ok(vec![TrustedSigner::Certificate(Box::new(cert))])
}

/// Read a private JWK (as written by `tillit keys generate`).
pub fn load_signing_key(path: &Path, flag: &str) -> anyhow::Result<SigningKey> {
    let jwk = load_jwk(path, flag)?;
    if jwk.d.is_none() {
        bail!(
            "{flag}: {} is a public key; signing needs the private JWK (with \"d\")",
            path.display()
        );
    }
    SigningKey::from_jwk(&jwk)
        .with_context(|| format!("{flag}: {} is not a usable private key", path.display()))
}

/// Read one JWK file.
pub fn load_jwk(path: &Path, flag: &str) -> anyhow::Result<Jwk> {
    let value = read_json(path, flag)?;
    serde_json::from_value(value)
        .with_context(|| format!("{flag}: {} is not a JWK", path.display()))
}

/// Parse an RFC 3339 time (`2026-05-01T12:00:00Z`); an ISO 8601 offset without a colon
/// (`+0000`) and a time without offset (taken as UTC) are accepted too, as the EU DCC test
/// data's validation clocks use both.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|e| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc())
                .map_err(|_| e)
        })
        .map_err(|e| format!("{e}; expected RFC 3339, like 2026-05-01T12:00:00Z"))
}

/// Parse a duration: a number and a unit `s`, `m`, `h`, `d`, `w` or `y` (365 days), like `90d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, like 90d or 12h"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}; use s, m, h, d, w or y (like 90d)"
            ))
        }
    };
    let seconds = n
        .checked_mul(seconds_per_unit)
        .ok_or_else(|| format!("{s:?} is too long"))?;
    if seconds <= 0 {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Duration::try_seconds(seconds).ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("90s", Some(90)),
            ("15m", Some(900)),
            ("12h", Some(43_200)),
            ("30d", Some(2_592_000)),
            ("2w", Some(1_209_600)),
            ("1y", Some(31_536_000)),
            ("0d", None),
            ("12", None),
            ("d", None),
            ("5x", None),
            ("99999999999999999y", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_duration(input).ok().map(|d| d.num_seconds()),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2026-05-01T12:00:00Z").unwrap().timestamp(),
            1_777_636_800
        );
        assert_eq!(
            parse_time("2026-05-01T14:00:00+02:00").unwrap().timestamp(),
            1_777_636_800
        );
        assert_eq!(
            parse_time("2026-05-01T12:00:00+0000").unwrap().timestamp(),
            1_777_636_800
        );
        assert_eq!(
            parse_time("2026-05-01T12:00:00.250Z").unwrap().timestamp(),
            1_777_636_800
        );
        assert_eq!(
            parse_time("2026-05-01T12:00:00").unwrap().timestamp(),
            1_777_636_800
        );
        assert!(parse_time("2026-05-01").is_err());
    }
}
