//! Compact JWS (RFC 7515 §7.1). JSON serialization is not supported.

use serde_json::{Map, Value};

use crate::b64::{self, decode_url_named};
use crate::{Algorithm, CryptoError, SigningKey, VerifyingKey};

/// Signs `payload` as a compact JWS. `alg` is set from the key; other header members are kept
/// as given (in the given order).
pub fn sign_compact(
    mut header: Map<String, Value>,
    payload: &[u8],
    key: &SigningKey,
) -> Result<String, CryptoError> {
    header.insert(
        "alg".to_owned(),
        Value::String(key.algorithm().jose_name().to_owned()),
    );
    let header_json = serde_json::to_vec(&header)
        .map_err(|_| CryptoError::Internal("JWS header serialisation"))?;
    let mut out = b64::encode_url(&header_json);
    out.push('.');
    out.push_str(&b64::encode_url(payload));
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64::encode_url(&signature));
    Ok(out)
}

/// A decoded, not yet verified, compact JWS.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactJws {
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

fn malformed(msg: impl Into<String>) -> CryptoError {
    CryptoError::MalformedJws(msg.into())
}

/// Parses a compact JWS without verifying it: exactly three base64url parts, the first a JSON
/// object.
pub fn decode_compact(s: &str) -> Result<CompactJws, CryptoError> {
    let mut parts = s.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(format!(
            "expected 3 dot-separated parts, got {}",
            s.split('.').count()
        )));
    };
    let header_bytes = decode_url_named(h, "JWS header")?;
    let header = match serde_json::from_slice::<Value>(&header_bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(malformed("the header is not a JSON object")),
        Err(e) => return Err(malformed(format!("the header is not JSON: {e}"))),
    };
    let payload = decode_url_named(p, "JWS payload")?;
    let signature = decode_url_named(sig, "JWS signature")?;
    let signing_input = s
        .get(..h.len() + 1 + p.len())
        .ok_or_else(|| malformed("signing input out of range"))?
        .to_owned();
    Ok(CompactJws {
        header,
        payload,
        signing_input,
        signature,
    })
}

impl CompactJws {
    /// The header's `alg`. Rejects a missing `alg`, `none`, and any algorithm Tillit does not know.
    pub fn algorithm(&self) -> Result<Algorithm, CryptoError> {
        match self.header.get("alg") {
            Some(Value::String(name)) if name == "none" => Err(CryptoError::AlgorithmNone),
            Some(Value::String(name)) => Algorithm::from_jose_name(name)
                .ok_or_else(|| CryptoError::UnsupportedAlgorithm(name.clone())),
            Some(_) => Err(malformed("\"alg\" is not a string")),
            None => Err(malformed("the header has no \"alg\"")),
        }
    }

    /// Verifies the signature with `key`. The header's `alg` must be in `allowed` and equal to
    /// the key's algorithm. A `crit` header is rejected: Tillit understands no JWS extensions.
    pub fn verify(&self, key: &VerifyingKey, allowed: &[Algorithm]) -> Result<(), CryptoError> {
        let alg = self.algorithm()?;
        if !allowed.contains(&alg) {
            return Err(CryptoError::AlgorithmNotAllowed {
                alg: alg.jose_name(),
                allowed: allowed
                    .iter()
                    .map(|a| a.jose_name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if alg != key.algorithm() {
            return Err(CryptoError::AlgorithmMismatch {
                header: alg.jose_name(),
                key: key.algorithm().jose_name(),
            });
        }
        if self.header.contains_key("crit") {
            return Err(malformed(
                "\"crit\" extensions are not supported; remove the crit header member",
            ));
        }
        key.verify(self.signing_input.as_bytes(), &self.signature)
    }
}
