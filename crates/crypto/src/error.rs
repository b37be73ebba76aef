use thiserror::Error;

/// Everything that can go wrong in `tillit-crypto`. Messages say what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Input was not valid base64 / base64url.
    #[error("invalid base64url in {what}: {reason}; use unpadded base64url (RFC 4648 §5)")]
    InvalidBase64 { what: &'static str, reason: String },
    /// A key (JWK, SPKI, private key) was malformed or unsupported.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An algorithm name or id that Tillit does not accept.
    #[error("unsupported algorithm {0:?}; supported: ES256, ES384, ES512, EdDSA, PS256")]
    UnsupportedAlgorithm(String),
    /// The `none` algorithm was presented.
    #[error("alg \"none\" is never accepted: the token is unsigned")]
    AlgorithmNone,
    /// The algorithm is valid but not in the caller's allow-list.
    #[error("algorithm {alg} is not allowed here; allowed: {allowed}")]
    AlgorithmNotAllowed { alg: &'static str, allowed: String },
    /// The header's algorithm does not match the key's algorithm.
    #[error("algorithm mismatch: the token says {header} but the key is for {key}")]
    AlgorithmMismatch {
        header: &'static str,
        key: &'static str,
    },
    /// Operation not possible with this algorithm (e.g. signing with a verify-only algorithm).
    #[error("{alg} is verify-only in Tillit; sign with ES256 or EdDSA")]
    VerifyOnly { alg: &'static str },
    /// The signature did not verify.
    #[error("signature verification failed: the data was altered or signed by another key")]
    InvalidSignature,
    /// A compact JWS was malformed.
    #[error("malformed JWS: {0}")]
    MalformedJws(String),
    /// An X.509 certificate could not be used.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Sealed data could not be opened (wrong key, wrong associated data, or corrupted).
    #[error("cannot open sealed data: wrong key, wrong associated data, or the data is corrupted")]
    SealOpen,
    /// The underlying crypto library failed unexpectedly.
    #[error("crypto library failure during {0}")]
    Internal(&'static str),
}
