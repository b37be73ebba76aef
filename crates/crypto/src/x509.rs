//! X.509 signer certificates: EU DCC Document Signer Certificates (DSC) and JOSE `x5c` entries.
//! Parsing only; chain building and trust decisions are made by the caller.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::{sha256, CryptoError, VerifyingKey};

const OID_EXTENDED_KEY_USAGE: &str = "2.5.29.37";
const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// A parsed signer certificate with the facts a verifier needs.
#[derive(Debug, Clone)]
pub struct SignerCertificate {
    /// The certificate's DER encoding.
    pub der: Vec<u8>,
    /// DCC key identifier: the first 8 bytes of SHA-256 over the DER certificate.
    pub kid: [u8; 8],
    /// The subject public key (EC P-256/384/521, Ed25519, or RSA for PS256).
    pub key: VerifyingKey,
    /// Extended key usage OIDs in dotted form, in certificate order; empty if the extension
    /// is absent. For DCC: `1.3.6.1.4.1.1847.2021.1.1` (test), `.2` (vaccination), `.3` (recovery).
    pub extended_key_usages: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Subject distinguished name (RFC 4514 style, e.g. `C=SE, O=..., CN=...`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
}

fn invalid(msg: impl Into<String>) -> CryptoError {
    CryptoError::InvalidCertificate(msg.into())
}

/// Parses one certificate given as PEM, binary DER, or base64 of the DER (as in the EU DCC
/// test data and in `x5c`). Whitespace inside base64 is ignored.
pub fn parse_certificate(input: &[u8]) -> Result<SignerCertificate, CryptoError> {
    let der = to_der(input)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|e| invalid(format!("not a DER X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(invalid(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        )));
    }
    let key = VerifyingKey::from_spki(cert.public_key())
        .map_err(|e| invalid(format!("unusable subject public key: {e}")))?;
    let extended_key_usages = extended_key_usages(&cert)?;
    let not_before = to_utc(cert.validity().not_before.timestamp(), "notBefore")?;
    let not_after = to_utc(cert.validity().not_after.timestamp(), "notAfter")?;
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let digest = sha256(&der);
    let mut kid = [0u8; 8];
    for (k, d) in kid.iter_mut().zip(digest.iter()) {
        *k = *d;
    }
    Ok(SignerCertificate {
        der,
        kid,
        key,
        extended_key_usages,
        not_before,
        not_after,
        subject,
        issuer,
    })
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // Binary DER is taken byte for byte (its last byte may well look like whitespace).
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(input.trim_ascii())
        .map_err(|_| invalid("input is neither DER (starts with 0x30), PEM, nor base64 text"))?;
    let body = match text.find(PEM_BEGIN) {
        Some(start) => {
            let after = text
                .get(start + PEM_BEGIN.len()..)
                .ok_or_else(|| invalid("truncated PEM"))?;
            let end = after
                .find(PEM_END)
                .ok_or_else(|| invalid(format!("PEM without {PEM_END}")))?;
            after.get(..end).ok_or_else(|| invalid("truncated PEM"))?
        }
        None if text.starts_with("-----") => {
            return Err(invalid(
                "PEM block is not a CERTIFICATE; give one -----BEGIN CERTIFICATE----- block",
            ))
        }
        None => text,
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| invalid(format!("certificate base64 is invalid: {e}")))
}

fn extended_key_usages(cert: &X509Certificate<'_>) -> Result<Vec<String>, CryptoError> {
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == OID_EXTENDED_KEY_USAGE)
    else {
        return Ok(Vec::new());
    };
    let (_, seq) = x509_parser::der_parser::parse_der(ext.value)
        .map_err(|e| invalid(format!("extended key usage is not DER: {e}")))?;
    let items = seq
        .as_sequence()
        .map_err(|_| invalid("extended key usage is not a SEQUENCE"))?;
    items
        .iter()
        .map(|item| {
            item.as_oid()
                .map(|oid| oid.to_id_string())
                .map_err(|_| invalid("extended key usage holds a non-OID"))
        })
        .collect()
}

fn to_utc(ts: i64, what: &str) -> Result<DateTime<Utc>, CryptoError> {
    DateTime::<Utc>::from_timestamp(ts, 0).ok_or_else(|| invalid(format!("{what} out of range")))
}
