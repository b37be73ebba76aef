//! The QR text containers: `PREFIX:` + Base45(zlib(COSE_Sign1(CWT))).
//!
//! - `HC1:` is the EU Digital COVID Certificate (HCERT); its CWT carries the
//!   DCC in claim -260 (see [`crate::hcert`]).
//! - `TL1:` is Tillit's own offline attestation (intyg / attest); its claim
//!   layout is documented as CDDL in `docs/tillit-qr.md` and implemented here.
//!
//! Both go through the same steps, each a function here so that the
//! verification pipeline can report them one by one.

use chrono::{DateTime, Duration, Utc};
use ciborium::Value;
use tillit_crypto::SigningKey;

use crate::base45;
use crate::cose;
use crate::cwt::{self, Claims};
use crate::error::CredentialError;

/// The context identifiers Tillit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `HC1:` — EU DCC (HCERT v1).
    Hc1,
    /// `TL1:` — Tillit offline attestation, layout v1.
    Tl1,
}

impl Prefix {
    /// The prefix text including the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hc1 => "HC1:",
            Self::Tl1 => "TL1:",
        }
    }
}

/// The largest decompressed payload accepted. A QR code holds at most 2953
/// bytes, so anything near this limit is a decompression bomb, not an attestation.
pub const MAX_DECOMPRESSED: usize = 64 * 1024;

/// Split `input` (surrounding whitespace ignored) into its prefix and the Base45 text.
pub fn unprefix(input: &str) -> Result<(Prefix, &str), CredentialError> {
    let input = input.trim();
    for prefix in [Prefix::Hc1, Prefix::Tl1] {
        if let Some(rest) = input.strip_prefix(prefix.as_str()) {
            return Ok((prefix, rest));
        }
    }
    let shown: String = input.chars().take(4).collect();
    Err(CredentialError::malformed(
        "QR text",
        format!(
            "unknown context prefix {shown:?}; expected HC1: (EU DCC) or TL1: (Tillit attestation)"
        ),
    ))
}

/// zlib-compress (RFC 1950) with the small-payload encoder of [`crate::deflate`]: on a few
/// hundred bytes of CBOR a general-purpose compressor costs more than the signature
/// (docs/benchmarks.md).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    crate::deflate::zlib_compress(data)
}

/// Strict zlib decompression: the stream must be a whole, valid zlib stream
/// (header, deflate data, Adler-32) and inflate to at most [`MAX_DECOMPRESSED`] bytes.
///
/// zlib-rs rather than miniz_oxide: it decodes fixed-Huffman blocks (what
/// [`crate::deflate`] writes) from static tables, where miniz_oxide rebuilds them per stream,
/// which cost ~3% of a whole TL1 verification.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, CredentialError> {
    thread_local! {
        // Allocated once per thread and reset per stream; the 32 KiB window is only allocated
        // when an output does not fit the buffer in one call.
        static INFLATER: std::cell::RefCell<zlib_rs::Inflate> =
            std::cell::RefCell::new(zlib_rs::Inflate::new(true, 15));
    }
    INFLATER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut inflater) => {
            inflater.reset(true);
            inflate_with(&mut inflater, data)
        }
        Err(_) => inflate_with(&mut zlib_rs::Inflate::new(true, 15), data),
    })
}

fn inflate_with(inflater: &mut zlib_rs::Inflate, data: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let damaged = |what: String| {
        CredentialError::malformed("zlib data", format!("{what}; the QR payload is damaged"))
    };
    let bomb = || {
        CredentialError::malformed(
            "zlib data",
            format!("inflates to more than {MAX_DECOMPRESSED} bytes; refusing a likely decompression bomb"),
        )
    };
    // One byte past the limit tells a bomb apart from a payload of exactly the limit.
    let mut out = vec![0u8; (data.len() * 4).clamp(256, MAX_DECOMPRESSED + 1)];
    loop {
        let read = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let written = usize::try_from(inflater.total_out()).unwrap_or(usize::MAX);
        let input = data.get(read..).unwrap_or_default();
        let output = out.get_mut(written..).unwrap_or_default();
        match inflater.decompress(input, output, zlib_rs::InflateFlush::Finish) {
            Ok(zlib_rs::Status::StreamEnd) => break,
            Ok(_) => {}
            Err(e) => {
                let reason = inflater.error_message().unwrap_or(e.as_str());
                return Err(damaged(reason.to_string()));
            }
        }
        // Not at the end of the stream: either the output buffer is full, or the input ran out.
        if inflater.total_out() < out.len() as u64 {
            return Err(damaged("the zlib stream ends early".into()));
        }
        if out.len() > MAX_DECOMPRESSED {
            return Err(bomb());
        }
        out.resize((out.len() * 2).min(MAX_DECOMPRESSED + 1), 0);
    }
    let written = usize::try_from(inflater.total_out()).unwrap_or(usize::MAX);
    if written > MAX_DECOMPRESSED {
        return Err(bomb());
    }
    if inflater.total_in() != data.len() as u64 {
        return Err(CredentialError::malformed(
            "zlib data",
            "trailing bytes after the zlib stream",
        ));
    }
    out.truncate(written);
    Ok(out)
}

/// Whether `data` starts like a zlib stream (CMF 0x78: deflate with a 32 KiB window).
pub fn looks_compressed(data: &[u8]) -> bool {
    data.first() == Some(&0x78)
}

/// The decompression step as HCERT has verifiers do it: inflate when the data
/// starts with a zlib header, otherwise take it as uncompressed COSE.
/// Returns the COSE bytes and whether they were compressed.
pub fn decompress(data: &[u8]) -> Result<(Vec<u8>, bool), CredentialError> {
    if looks_compressed(data) {
        inflate(data).map(|v| (v, true))
    } else {
        Ok((data.to_vec(), false))
    }
}

/// Wrap signed COSE bytes in the QR text container: `prefix` + Base45(zlib(cose)).
pub fn encode_container(prefix: Prefix, cose_bytes: &[u8]) -> String {
    let mut out = String::from(prefix.as_str());
    out.push_str(&base45::encode(&deflate(cose_bytes)));
    out
}

/// Undo [`encode_container`] without verifying anything: the prefix and the COSE bytes.
pub fn decode_container(input: &str) -> Result<(Prefix, Vec<u8>), CredentialError> {
    let (prefix, text) = unprefix(input)?;
    let raw = base45::decode(text)
        .map_err(|e| CredentialError::malformed("Base45 text", e.to_string()))?;
    let (cose_bytes, _) = decompress(&raw)?;
    Ok((prefix, cose_bytes))
}

/// CWT claim key of the Tillit attestation (private-use range, RFC 8392 §9.1).
pub const TL1_CLAIM: i64 = -65537;
/// CWT claim key of the Token Status List reference (`status`, draft-ietf-oauth-status-list).
pub const STATUS_CLAIM: i64 = crate::status_list::CWT_CLAIM_STATUS;

/// Attested claim names that TL1 refuses, because the verifier shows the
/// attested claims next to the envelope's claims (as an SD-JWT VC does).
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss", "sub", "aud", "exp", "nbf", "iat", "cti", "vct", "status", "cnf",
];

pub use crate::status_list::StatusReference;

/// What a `TL1:` attestation says, besides the CWT time claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    /// The issuer identifier (`iss`), as listed in the trust list.
    pub issuer: String,
    /// The subject (`sub`), if the attestation names one.
    pub subject: Option<String>,
    /// The attestation type, like an SD-JWT VC `vct` (e.g. `https://example.se/jaktkort`).
    pub attestation_type: String,
    /// The attested claims as a JSON object (values must be representable in CBOR).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Where the issuer publishes this attestation's revocation status.
    pub status: Option<StatusReference>,
}

/// Issue a `TL1:` QR text: CWT (`iss`, `sub`, `iat`, `nbf`, `exp`, attestation, status)
/// → COSE_Sign1 (ES256 or EdDSA, `alg` and `kid` protected) → zlib → Base45 → `TL1:`.
/// `kid` is the first 8 bytes of the key's RFC 7638 thumbprint, as the trust store expects.
pub fn issue_qr(
    attestation: &Attestation,
    key: &SigningKey,
    now: DateTime<Utc>,
    validity: Duration,
) -> Result<String, CredentialError> {
    if validity <= Duration::zero() {
        return Err(CredentialError::InvalidInput(format!(
            "validity must be positive, got {} s",
            validity.num_seconds()
        )));
    }
    if let Some(name) = attestation
        .claims
        .keys()
        .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
    {
        return Err(CredentialError::InvalidInput(format!(
            "claim name {name:?} is reserved in TL1 (it would clash with the envelope's {RESERVED_CLAIMS:?})"
        )));
    }
    if attestation.attestation_type.is_empty() {
        return Err(CredentialError::InvalidInput(
            "the attestation type must not be empty".into(),
        ));
    }
    let exp = now
        .checked_add_signed(validity)
        .ok_or_else(|| CredentialError::InvalidInput("now + validity is out of range".into()))?;
    let mut claims = Claims {
        iss: Some(attestation.issuer.clone()),
        sub: attestation.subject.clone(),
        iat: Some(now.timestamp()),
        nbf: Some(now.timestamp()),
        exp: Some(exp.timestamp()),
        ..Claims::default()
    };
    claims
        .extra
        .push((Value::from(TL1_CLAIM), attestation_to_cbor(attestation)?));
    if let Some(status) = &attestation.status {
        claims
            .extra
            .push((Value::from(STATUS_CLAIM), status_to_cbor(status)));
    }
    let payload = claims.to_cbor()?;
    let kid = cose::jwk_kid(&key.verifying_key());
    let signed = cose::sign1(&payload, key, Some(&kid), &[])?;
    Ok(encode_container(Prefix::Tl1, &signed))
}

fn attestation_to_cbor(a: &Attestation) -> Result<Value, CredentialError> {
    let claims = cwt::json_to_cbor(&serde_json::Value::Object(a.claims.clone()))?;
    Ok(Value::Map(vec![
        (Value::from(1), Value::Text(a.attestation_type.clone())),
        (Value::from(2), claims),
    ]))
}

fn status_to_cbor(s: &StatusReference) -> Value {
    Value::Map(vec![(
        Value::Text("status_list".into()),
        Value::Map(vec![
            (Value::Text("idx".into()), Value::from(s.idx)),
            (Value::Text("uri".into()), Value::Text(s.uri.clone())),
        ]),
    )])
}

/// Read the Tillit attestation out of verified CWT claims (TL1 layout v1).
pub fn attestation_from_claims(claims: &Claims) -> Result<Attestation, CredentialError> {
    let bad = |reason: &str| CredentialError::malformed("TL1 attestation", reason.to_string());
    let issuer = claims
        .iss
        .clone()
        .ok_or_else(|| bad("the iss claim (1) is missing"))?;
    let body = claims
        .extra_claim(TL1_CLAIM)
        .ok_or_else(|| bad("claim -65537 (the attestation) is missing"))?;
    let Value::Map(entries) = body else {
        return Err(bad("claim -65537 must be a map"));
    };
    let mut attestation_type = None;
    let mut attested = None;
    for (k, v) in entries {
        match (cwt::int_label(k), v) {
            (Some(1), Value::Text(t)) => attestation_type = Some(t.clone()),
            (Some(2), Value::Map(_)) => attested = Some(cwt::cbor_to_json(v)?),
            (Some(1 | 2), _) => return Err(bad("type (1) must be text and claims (2) a map")),
            _ => {} // unknown members are ignored, so that later versions can add some
        }
    }
    let attestation_type = attestation_type.ok_or_else(|| bad("the type (1) is missing"))?;
    let Some(serde_json::Value::Object(claims_json)) = attested else {
        return Err(bad("the claims map (2) is missing or has non-text keys"));
    };
    let status = match claims.extra_claim(STATUS_CLAIM) {
        None => None,
        Some(v) => Some(status_from_cbor(v)?),
    };
    Ok(Attestation {
        issuer,
        subject: claims.sub.clone(),
        attestation_type,
        claims: claims_json,
        status,
    })
}

fn status_from_cbor(v: &Value) -> Result<StatusReference, CredentialError> {
    let bad = || {
        CredentialError::malformed(
            "status claim (65535)",
            "expected {\"status_list\": {\"idx\": uint, \"uri\": text}}".to_string(),
        )
    };
    let list = cwt::text_member(v, "status_list").ok_or_else(bad)?;
    let idx = cwt::text_member(list, "idx")
        .and_then(cwt::as_u64)
        .ok_or_else(bad)?;
    let uri = match cwt::text_member(list, "uri") {
        Some(Value::Text(t)) => t.clone(),
        _ => return Err(bad()),
    };
    Ok(StatusReference { idx, uri })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprefix_table() {
        let cases: &[(&str, Option<(Prefix, &str)>)] = &[
            ("HC1:ABC", Some((Prefix::Hc1, "ABC"))),
            ("TL1:", Some((Prefix::Tl1, ""))),
            ("  TL1:X \n", Some((Prefix::Tl1, "X"))),
            ("HC2:ABC", None),
            ("HL0:ABC", None),
            ("hc1:ABC", None),
            ("ABC", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(unprefix(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn zlib_round_trip_and_rejections() {
        let data = b"a COSE_Sign1 would be here".repeat(10);
        let z = deflate(&data);
        assert!(looks_compressed(&z));
        assert_eq!(inflate(&z).unwrap(), data);
        // truncated, bit-flipped, trailing garbage
        assert!(inflate(&z[..z.len() - 3]).is_err());
        let mut flipped = z.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(inflate(&flipped).is_err());
        let mut trailing = z.clone();
        trailing.push(0);
        assert!(inflate(&trailing).is_err());
        // uncompressed COSE passes through
        assert_eq!(
            decompress(&[0xd2, 0x84]).unwrap(),
            (vec![0xd2, 0x84], false)
        );
    }

    #[test]
    fn inflate_refuses_a_bomb() {
        let bomb = deflate(&vec![0u8; MAX_DECOMPRESSED + 1]);
        assert!(bomb.len() < 1000);
        assert!(inflate(&bomb).is_err());
        assert!(inflate(&deflate(&vec![0u8; MAX_DECOMPRESSED])).is_ok());
    }
}
