//! COSE_Sign1 (RFC 9052 §4.2) signing and verification over `coset` and
//! `tillit-crypto`.
//!
//! - Input may be tagged 18 (COSE_Sign1), untagged, or wrapped in the CWT tag
//!   61 as HCERT allows; any other tag is rejected.
//! - `alg` is read from the protected header (from the unprotected one only
//!   when the protected header has none, as RFC 9052 permits); it must name
//!   the algorithm of the verifying key, so a key is never used with another
//!   algorithm than its own.
//! - `kid` is read from the protected header, else from the unprotected one
//!   (HCERT: "Verifiers MUST accept both options"; the protected one wins).
//! - The Sig_structure is `["Signature1", protected, external_aad, payload]`,
//!   where an empty protected header map counts as the zero-length byte string
//!   (RFC 9052 §3: recipients accept both `h''` and `h'a0'`).
//! - A `crit` header parameter is rejected: Tillit understands no extension
//!   that a signer could mark critical.

use ciborium::Value;
use coset::{iana, AsCborValue, CoseSign, CoseSign1, Header, RegisteredLabelWithPrivate};
use tillit_crypto::{b64, Algorithm, SigningKey, VerifyingKey};

use crate::cwt::decode_cbor;
use crate::error::CredentialError;

/// The CBOR tag of a COSE_Sign1 message.
pub const TAG_SIGN1: u64 = 18;
/// The CBOR tag of a COSE_Sign (multi-signer) message.
pub const TAG_SIGN: u64 = 98;
/// The CBOR tag of a CWT (RFC 8392 §6).
pub const TAG_CWT: u64 = 61;

fn malformed(reason: impl Into<String>) -> CredentialError {
    CredentialError::malformed("COSE message", reason)
}

/// Remove an optional CWT tag and an optional `expected` tag; any other tag is an error.
fn untag(bytes: &[u8], expected: u64, name: &str) -> Result<Value, CredentialError> {
    let mut value = decode_cbor(bytes, "COSE message")?;
    if let Value::Tag(TAG_CWT, inner) = value {
        value = *inner;
    }
    match value {
        Value::Tag(tag, inner) if tag == expected => Ok(*inner),
        Value::Tag(tag, _) => Err(malformed(format!(
            "CBOR tag {tag} where {name} (tag {expected}) was expected"
        ))),
        other => Ok(other),
    }
}

/// A parsed, not yet verified COSE_Sign1 message.
#[derive(Debug, Clone)]
pub struct Sign1 {
    msg: CoseSign1,
}

/// Parse a COSE_Sign1 message (tagged 18, untagged, or inside a CWT tag 61).
pub fn decode_sign1(bytes: &[u8]) -> Result<Sign1, CredentialError> {
    let value = untag(bytes, TAG_SIGN1, "COSE_Sign1")?;
    let msg = CoseSign1::from_cbor_value(value)
        .map_err(|e| malformed(format!("not a COSE_Sign1 structure: {e}")))?;
    check_crit(&msg.protected.header)?;
    check_crit(&msg.unprotected)?;
    Ok(Sign1 { msg })
}

fn check_crit(h: &Header) -> Result<(), CredentialError> {
    if h.crit.is_empty() {
        Ok(())
    } else {
        Err(malformed(
            "the header marks parameters as critical (crit), which Tillit does not support",
        ))
    }
}

/// Map a COSE `alg` header value to a Tillit algorithm, rejecting anything else.
fn algorithm_of(alg: &coset::Algorithm) -> Result<Algorithm, CredentialError> {
    let id = match alg {
        RegisteredLabelWithPrivate::Assigned(a) => *a as i64,
        RegisteredLabelWithPrivate::PrivateUse(i) => *i,
        RegisteredLabelWithPrivate::Text(t) => {
            return Err(malformed(format!(
                "unsupported algorithm {t:?}; use ES256, ES384, ES512, EdDSA or PS256"
            )))
        }
    };
    Algorithm::from_cose_id(id).ok_or_else(|| {
        malformed(format!("unsupported COSE algorithm {id}; use ES256 (-7), ES384 (-35), ES512 (-36), EdDSA (-8) or PS256 (-37)"))
    })
}

/// The encoded protected header as it enters a Sig_structure: the bytes as
/// received, except that an empty map is the zero-length byte string.
fn protected_bytes(p: &coset::ProtectedHeader) -> Result<Vec<u8>, CredentialError> {
    if p.header.is_empty() {
        return Ok(Vec::new());
    }
    match &p.original_data {
        Some(bytes) => Ok(bytes.clone()),
        None => p
            .header
            .clone()
            .to_cbor_value()
            .map_err(|e| malformed(e.to_string()))
            .and_then(|v| crate::cwt::encode_cbor(&v)),
    }
}

fn sig_structure(context: &str, parts: Vec<Value>) -> Result<Vec<u8>, CredentialError> {
    let mut items = vec![Value::Text(context.to_string())];
    items.extend(parts);
    crate::cwt::encode_cbor(&Value::Array(items))
}

/// Check that `key` is for `alg` and that `sig` over `tbs` verifies.
fn check_signature(
    alg: Algorithm,
    key: &VerifyingKey,
    tbs: &[u8],
    sig: &[u8],
) -> Result<(), CredentialError> {
    if key.algorithm() != alg {
        return Err(CredentialError::BadSignature(format!(
            "the message says {} but the key is a {} key",
            alg.jose_name(),
            key.algorithm().jose_name()
        )));
    }
    key.verify(tbs, sig).map_err(|e| {
        CredentialError::BadSignature(format!("COSE {} signature: {e}", alg.jose_name()))
    })
}

impl Sign1 {
    /// The signature algorithm: protected `alg`, else unprotected `alg`.
    pub fn algorithm(&self) -> Result<Algorithm, CredentialError> {
        let alg = self
            .msg
            .protected
            .header
            .alg
            .as_ref()
            .or(self.msg.unprotected.alg.as_ref())
            .ok_or_else(|| malformed("no alg header parameter"))?;
        algorithm_of(alg)
    }

    /// The key identifier: protected `kid`, else unprotected `kid`.
    pub fn kid(&self) -> Option<&[u8]> {
        [
            &self.msg.protected.header.key_id,
            &self.msg.unprotected.key_id,
        ]
        .into_iter()
        .find(|k| !k.is_empty())
        .map(Vec::as_slice)
    }

    /// The payload (a detached payload is not supported: QR codes carry it).
    /// A text value of the protected header under integer `label` (e.g. 16, `typ`).
    pub fn protected_text(&self, label: i64) -> Option<&str> {
        self.msg
            .protected
            .header
            .rest
            .iter()
            .find(|(l, _)| *l == coset::Label::Int(label))
            .and_then(|(_, v)| v.as_text())
    }

    pub fn payload(&self) -> Result<&[u8], CredentialError> {
        self.msg.payload.as_deref().ok_or_else(|| {
            malformed("the payload is detached (nil); a QR attestation must carry it")
        })
    }

    /// The raw signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.msg.signature
    }

    /// The Sig_structure bytes that the signature covers.
    pub fn to_be_signed(&self, external_aad: &[u8]) -> Result<Vec<u8>, CredentialError> {
        sig_structure(
            "Signature1",
            vec![
                Value::Bytes(protected_bytes(&self.msg.protected)?),
                Value::Bytes(external_aad.to_vec()),
                Value::Bytes(self.payload()?.to_vec()),
            ],
        )
    }

    /// Verify the signature with `key`, whose algorithm must be the message's `alg`.
    pub fn verify(&self, key: &VerifyingKey, external_aad: &[u8]) -> Result<(), CredentialError> {
        let alg = self.algorithm()?;
        check_signature(
            alg,
            key,
            &self.to_be_signed(external_aad)?,
            &self.msg.signature,
        )
    }
}

/// The COSE `kid` Tillit uses for a JWK-held key: the first 8 bytes of its raw
/// RFC 7638 SHA-256 thumbprint (the same length as an HCERT DSC kid).
pub fn jwk_kid(key: &VerifyingKey) -> Vec<u8> {
    let mut kid = b64::decode_url(&key.thumbprint()).unwrap_or_default();
    kid.truncate(8);
    kid
}

/// Sign `payload` as a tagged COSE_Sign1 with `alg` (and `kid`, if given) in
/// the protected header. Signing supports ES256 and EdDSA keys.
pub fn sign1(
    payload: &[u8],
    key: &SigningKey,
    kid: Option<&[u8]>,
    external_aad: &[u8],
) -> Result<Vec<u8>, CredentialError> {
    let alg = match key.algorithm() {
        Algorithm::Es256 => iana::Algorithm::ES256,
        Algorithm::EdDsa => iana::Algorithm::EdDSA,
        other => {
            return Err(CredentialError::InvalidInput(format!(
                "QR attestations are signed with ES256 or EdDSA, not {}",
                other.jose_name()
            )))
        }
    };
    let mut header = coset::HeaderBuilder::new().algorithm(alg);
    if let Some(kid) = kid {
        header = header.key_id(kid.to_vec());
    }
    let protected = coset::ProtectedHeader {
        original_data: None,
        header: header.build(),
    };
    let mut msg = CoseSign1 {
        protected,
        payload: Some(payload.to_vec()),
        ..CoseSign1::default()
    };
    let tbs = Sign1 { msg: msg.clone() }.to_be_signed(external_aad)?;
    msg.signature = key.sign(&tbs)?;
    let value = msg.to_cbor_value().map_err(|e| malformed(e.to_string()))?;
    crate::cwt::encode_cbor(&Value::Tag(TAG_SIGN1, Box::new(value)))
}

/// Verify signer `index` of a COSE_Sign (multi-signer, tag 98 or untagged)
/// message with `key`; `alg` comes from that signer's headers.
pub fn verify_cose_sign(
    bytes: &[u8],
    index: usize,
    key: &VerifyingKey,
    external_aad: &[u8],
) -> Result<(), CredentialError> {
    let value = untag(bytes, TAG_SIGN, "COSE_Sign")?;
    let msg = CoseSign::from_cbor_value(value)
        .map_err(|e| malformed(format!("not a COSE_Sign structure: {e}")))?;
    check_crit(&msg.protected.header)?;
    let signer = msg
        .signatures
        .get(index)
        .ok_or_else(|| malformed(format!("there is no signer {index}")))?;
    check_crit(&signer.protected.header)?;
    let alg = signer
        .protected
        .header
        .alg
        .as_ref()
        .or(signer.unprotected.alg.as_ref())
        .ok_or_else(|| malformed("the signer has no alg header parameter"))?;
    let alg = algorithm_of(alg)?;
    let payload = msg
        .payload
        .as_deref()
        .ok_or_else(|| malformed("the payload is detached"))?;
    let tbs = sig_structure(
        "Signature",
        vec![
            Value::Bytes(protected_bytes(&msg.protected)?),
            Value::Bytes(protected_bytes(&signer.protected)?),
            Value::Bytes(external_aad.to_vec()),
            Value::Bytes(payload.to_vec()),
        ],
    )?;
    check_signature(alg, key, &tbs, &signer.signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_both_algorithms_and_tamper() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let vk = key.verifying_key();
            let kid = jwk_kid(&vk);
            let bytes = sign1(b"payload", &key, Some(&kid), b"").unwrap();
            let msg = decode_sign1(&bytes).unwrap();
            assert_eq!(msg.algorithm().unwrap(), alg);
            assert_eq!(msg.kid(), Some(kid.as_slice()));
            assert_eq!(msg.payload().unwrap(), b"payload");
            msg.verify(&vk, b"").unwrap();
            assert!(msg.verify(&vk, b"other aad").is_err());
            // flip every byte in turn: it must never verify and never panic
            for i in 0..bytes.len() {
                let mut t = bytes.clone();
                t[i] ^= 0x01;
                if let Ok(m) = decode_sign1(&t) {
                    assert!(m.verify(&vk, b"").is_err(), "{alg:?} byte {i}");
                }
            }
            // truncation
            for n in 0..bytes.len() {
                assert!(decode_sign1(&bytes[..n]).is_err());
            }
            // another key of the same algorithm, and a key of the other algorithm
            let other = SigningKey::generate(alg).unwrap().verifying_key();
            assert!(msg.verify(&other, b"").is_err());
            let other_alg = if alg == Algorithm::Es256 {
                Algorithm::EdDsa
            } else {
                Algorithm::Es256
            };
            let wrong = SigningKey::generate(other_alg).unwrap().verifying_key();
            assert!(msg.verify(&wrong, b"").is_err());
        }
    }

    #[test]
    fn tags() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let tagged = sign1(b"p", &key, None, b"").unwrap();
        assert_eq!(tagged[0], 0xd2);
        let untagged = tagged[1..].to_vec();
        let mut cwt = vec![0xd8, 61];
        cwt.extend_from_slice(&tagged);
        for ok in [&tagged, &untagged, &cwt] {
            decode_sign1(ok)
                .unwrap()
                .verify(&key.verifying_key(), b"")
                .unwrap();
        }
        let mut wrong = vec![0xd9, 0x03, 0xe6];
        wrong.extend_from_slice(&untagged);
        assert!(decode_sign1(&wrong).is_err());
    }
}
