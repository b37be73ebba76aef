//! Disclosures (RFC 9901 §4.2): `base64url(JSON [salt, name, value])` for an
//! object property, `base64url(JSON [salt, value])` for an array element, and
//! their digests `base64url(SHA-256(ASCII(disclosure)))` (§4.2.3).

use serde_json::Value;
use tillit_crypto::{b64, sha256, RandomPool};

use crate::error::CredentialError;

/// The only hash algorithm Tillit issues and accepts for `_sd_alg`.
pub const SD_ALG_SHA256: &str = "sha-256";

/// One disclosure, kept in the exact encoded form it arrived in: digests are
/// computed over that string, never over a re-serialisation (RFC 9901 §4.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Disclosure {
    encoded: String,
    salt: String,
    name: Option<String>,
    value: Value,
    digest: String,
}

/// base64url(SHA-256(ASCII bytes of `encoded`)).
pub fn digest_of(encoded: &str) -> String {
    b64::encode_url(&sha256(encoded.as_bytes()))
}

/// A fresh 128-bit salt, base64url encoded (RFC 9901 §9.3 asks for at least 128 bits).
pub fn new_salt() -> String {
    salt_from(&mut RandomPool::new())
}

/// A salt from `pool` (one issuance draws all its salts from one pool).
pub(crate) fn salt_from(pool: &mut RandomPool) -> String {
    b64::encode_url(&pool.bytes::<16>())
}

/// A decoy digest: the digest of a random value nobody can disclose (RFC 9901 §4.2.5).
pub fn decoy_digest() -> String {
    decoy_digest_from(&mut RandomPool::new())
}

pub(crate) fn decoy_digest_from(pool: &mut RandomPool) -> String {
    digest_of(&salt_from(pool))
}

impl Disclosure {
    /// A new disclosure with a fresh salt. `name: None` makes an array-element disclosure.
    pub fn new(name: Option<&str>, value: Value) -> Result<Self, CredentialError> {
        Self::with_salt(new_salt(), name, value)
    }

    /// A disclosure with a given salt (tests and known-answer vectors).
    pub fn with_salt(
        salt: String,
        name: Option<&str>,
        value: Value,
    ) -> Result<Self, CredentialError> {
        if let Some(n) = name {
            check_claim_name(n)?;
        }
        // `[salt, name, value]` or `[salt, value]` (RFC 9901 §4.2.1/§4.2.2); a tuple serialises
        // as a JSON array without copying the value.
        let json = match name {
            Some(n) => serde_json::to_string(&(&salt, n, &value))?,
            None => serde_json::to_string(&(&salt, &value))?,
        };
        let encoded = b64::encode_url(json.as_bytes());
        let digest = digest_of(&encoded);
        Ok(Self {
            encoded,
            salt,
            name: name.map(str::to_string),
            value,
            digest,
        })
    }

    /// Parse one disclosure as it appears between two `~`.
    pub fn parse(encoded: &str) -> Result<Self, CredentialError> {
        if encoded.is_empty() {
            return Err(CredentialError::Disclosure(
                "empty disclosure between two '~'".into(),
            ));
        }
        let bytes = b64::decode_url(encoded).map_err(|e| {
            CredentialError::Disclosure(format!("disclosure is not base64url: {e}"))
        })?;
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CredentialError::Disclosure(format!("disclosure is not JSON: {e}")))?;
        let Value::Array(mut items) = json else {
            return Err(CredentialError::Disclosure(
                "disclosure is not a JSON array".into(),
            ));
        };
        let (salt, name, value) = match items.len() {
            2 => {
                let value = items.pop().unwrap_or(Value::Null);
                let salt = items.pop().unwrap_or(Value::Null);
                (salt, None, value)
            }
            3 => {
                let value = items.pop().unwrap_or(Value::Null);
                let name = items.pop().unwrap_or(Value::Null);
                let salt = items.pop().unwrap_or(Value::Null);
                let Value::String(name) = name else {
                    return Err(CredentialError::Disclosure("disclosure claim name is not a string".into()));
                };
                check_claim_name(&name)?;
                (salt, Some(name), value)
            }
            n => {
                return Err(CredentialError::Disclosure(format!(
                    "disclosure array has {n} elements; it must have 2 (array element) or 3 (object property)"
                )))
            }
        };
        let Value::String(salt) = salt else {
            return Err(CredentialError::Disclosure(
                "disclosure salt is not a string".into(),
            ));
        };
        Ok(Self {
            encoded: encoded.to_string(),
            salt,
            name,
            value,
            digest: digest_of(encoded),
        })
    }

    /// The encoded form (what goes between the `~`).
    pub fn encoded(&self) -> &str {
        &self.encoded
    }
    pub fn salt(&self) -> &str {
        &self.salt
    }
    /// The claim name; `None` for an array element.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// Move the value out (leaving `null`), for the verifier that consumes the disclosures.
    pub(super) fn take_value(&mut self) -> Value {
        std::mem::take(&mut self.value)
    }
    /// base64url SHA-256 digest of [`Self::encoded`].
    pub fn digest(&self) -> &str {
        &self.digest
    }
    pub fn is_array_element(&self) -> bool {
        self.name.is_none()
    }
}

/// RFC 9901 §4.2.1: a disclosed claim name must not be `_sd` or `...`.
fn check_claim_name(name: &str) -> Result<(), CredentialError> {
    if name == "_sd" || name == "..." {
        return Err(CredentialError::Disclosure(format!(
            "claim name {name:?} is reserved by SD-JWT and cannot be disclosed"
        )));
    }
    Ok(())
}
