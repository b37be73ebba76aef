//! The one error type of `tillit-credential`.
//!
//! Every message says what is wrong and, where it helps, what to do about it.
//! Both the QR and the SD-JWT parts add variants here with small edits.

use tillit_crypto::CryptoError;

/// Everything that can go wrong while issuing, presenting or verifying an attestation.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A cryptographic primitive failed (bad key, bad signature encoding, unknown algorithm).
    #[error("cryptography: {0}")]
    Crypto(#[from] CryptoError),

    /// The input is not in the expected shape (not base64url, not JSON, missing member, ...).
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// A JSON value could not be (de)serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The algorithm in a header is `none` or not on the allow-list.
    #[error("algorithm {0:?} is not allowed; use one of ES256, ES384, EdDSA")]
    AlgorithmNotAllowed(String),

    /// The signature does not verify with any candidate key.
    #[error("signature does not verify: {0}")]
    BadSignature(String),

    /// No key in the trust store matches the signer, or the issuer may not issue this type.
    #[error("issuer not trusted: {0}")]
    UntrustedIssuer(String),

    /// The attestation is past its `exp`.
    #[error("expired at {expired_at} (checked at {at}); ask the holder for a fresh attestation")]
    Expired { expired_at: String, at: String },

    /// The attestation's `nbf` (or `iat`) lies in the future.
    #[error("not valid before {valid_from} (checked at {at}); check the verifier's clock")]
    NotYetValid { valid_from: String, at: String },

    /// A selective disclosure is invalid (digest not in the payload, duplicate, name clash, ...).
    #[error("disclosure: {0}")]
    Disclosure(String),

    /// The key-binding JWT is missing, malformed or does not match.
    #[error("key binding: {0}")]
    KeyBinding(String),

    /// A Token Status List is invalid, or an index is out of range.
    #[error("status list: {0}")]
    StatusList(String),

    /// The trust bundle or trust list is invalid.
    #[error("trust bundle: {0}")]
    Bundle(String),

    /// The trust bundle is past its `exp`.
    #[error(
        "trust bundle expired at {expired_at} ({age_hours} h after it was issued at {issued_at}); download a fresh bundle"
    )]
    BundleExpired {
        issued_at: String,
        expired_at: String,
        age_hours: i64,
    },

    /// CertLogic business rules in the trust store were not met (or could not run).
    #[error("business rules: {0}")]
    Rules(String),

    /// An OpenID4VCI key proof is malformed or does not check.
    #[error("key proof: {0}")]
    KeyProof(String),

    /// The caller asked for something that cannot be done with these inputs.
    #[error("invalid request: {0}")]
    InvalidInput(String),
}

impl CredentialError {
    /// Shorthand for [`CredentialError::Malformed`].
    pub fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }
}
