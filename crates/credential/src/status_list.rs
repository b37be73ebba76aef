//! IETF Token Status List (draft-ietf-oauth-status-list).
//!
//! A status list is a byte array holding one status per credential, `bits`
//! (1, 2, 4 or 8) per entry, packed least-significant bit first: entry `i`
//! lives in byte `i * bits / 8` at bit offset `(i * bits) % 8`. On the wire,
//! `lst` is the ZLIB (RFC 1950) DEFLATE compression of that array — base64url
//! without padding in JSON, a byte string in CBOR. A Status List Token wraps
//! it as a JWT (`typ: statuslist+jwt`) or as a CWT (COSE_Sign1, `type`
//! header `application/statuslist+cwt`, claim 65533).

use std::collections::HashSet;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tillit_crypto::{b64, jws, Algorithm, SigningKey, VerifyingKey};

use crate::error::CredentialError;

/// The credential is valid.
pub const STATUS_VALID: u8 = 0x00;
/// The credential is revoked (permanently).
pub const STATUS_INVALID: u8 = 0x01;
/// The credential is temporarily suspended.
pub const STATUS_SUSPENDED: u8 = 0x02;

/// `typ` of a Status List Token in JWT form.
pub const STATUS_LIST_JWT_TYP: &str = "statuslist+jwt";
/// COSE `type` (header 16) of a Status List Token in CWT form.
pub const STATUS_LIST_CWT_TYPE: &str = "application/statuslist+cwt";
/// CWT claim key of the status list (draft §5.2).
pub const CWT_CLAIM_STATUS_LIST: i64 = 65533;
/// CWT claim key of `ttl`.
pub const CWT_CLAIM_TTL: i64 = 65534;
/// CWT claim key of `status` in a referenced token.
pub const CWT_CLAIM_STATUS: i64 = 65535;

/// Largest decompressed list accepted (64 MiB = 512 Mi one-bit entries):
/// a bound against compression bombs, far above any real list.
pub const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// Algorithms accepted for Status List Tokens.
/// Algorithms accepted for status-list token signatures (the same JOSE/COSE policy as SD-JWT VC).
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] = crate::sdjwt::ALLOWED_ALGORITHMS;

fn err(m: impl Into<String>) -> CredentialError {
    CredentialError::StatusList(m.into())
}

/// A decoded status list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
    aggregation_uri: Option<String>,
}

fn check_bits(bits: u8) -> Result<(), CredentialError> {
    if matches!(bits, 1 | 2 | 4 | 8) {
        Ok(())
    } else {
        Err(err(format!("bits is {bits}; it must be 1, 2, 4 or 8")))
    }
}

impl StatusList {
    /// A list of `capacity` entries, all VALID. The byte array is rounded up to whole bytes.
    pub fn new(bits: u8, capacity: u64) -> Result<Self, CredentialError> {
        check_bits(bits)?;
        let nbytes = capacity
            .checked_mul(u64::from(bits))
            .map(|b| b.div_ceil(8))
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b <= MAX_LIST_BYTES)
            .ok_or_else(|| err(format!("a list of {capacity} entries is too large")))?;
        Ok(Self {
            bits,
            bytes: vec![0; nbytes],
            aggregation_uri: None,
        })
    }

    /// Wrap an existing byte array.
    pub fn from_bytes(bits: u8, bytes: Vec<u8>) -> Result<Self, CredentialError> {
        check_bits(bits)?;
        if bytes.len() > MAX_LIST_BYTES {
            return Err(err("status list is larger than 64 MiB"));
        }
        Ok(Self {
            bits,
            bytes,
            aggregation_uri: None,
        })
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn aggregation_uri(&self) -> Option<&str> {
        self.aggregation_uri.as_deref()
    }
    pub fn set_aggregation_uri(&mut self, uri: Option<String>) {
        self.aggregation_uri = uri;
    }

    /// Number of entries (whole byte array).
    pub fn len(&self) -> u64 {
        (self.bytes.len() as u64).saturating_mul(8) / u64::from(self.bits.max(1))
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn locate(&self, index: u64) -> Option<(usize, u32, u8)> {
        let bit = index.checked_mul(u64::from(self.bits))?;
        let byte = usize::try_from(bit / 8).ok()?;
        let shift = u32::try_from(bit % 8).ok()?;
        let mask = u8::try_from((1u16 << self.bits) - 1).ok()?;
        (byte < self.bytes.len()).then_some((byte, shift, mask))
    }

    /// The status at `index`, or `None` when the index lies outside the list.
    pub fn get(&self, index: u64) -> Option<u8> {
        let (byte, shift, mask) = self.locate(index)?;
        self.bytes.get(byte).map(|b| (b >> shift) & mask)
    }

    /// Set the status at `index` (must fit in `bits`).
    pub fn set(&mut self, index: u64, status: u8) -> Result<(), CredentialError> {
        let (byte, shift, mask) = self.locate(index).ok_or_else(|| {
            err(format!(
                "index {index} is outside the list ({} entries)",
                self.len()
            ))
        })?;
        if status & !mask != 0 {
            return Err(err(format!(
                "status {status} does not fit in {} bit(s)",
                self.bits
            )));
        }
        if let Some(b) = self.bytes.get_mut(byte) {
            *b = (*b & !(mask << shift)) | (status << shift);
        }
        Ok(())
    }

    /// ZLIB-compressed byte array (best compression, as the draft recommends).
    pub fn compress(&self) -> Result<Vec<u8>, CredentialError> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&self.bytes)
            .map_err(|e| err(format!("compressing: {e}")))?;
        enc.finish().map_err(|e| err(format!("compressing: {e}")))
    }

    /// Decompress a ZLIB `lst` byte string.
    pub fn decompress(bits: u8, compressed: &[u8]) -> Result<Self, CredentialError> {
        check_bits(bits)?;
        let mut out = Vec::new();
        let limit = u64::try_from(MAX_LIST_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        flate2::read::ZlibDecoder::new(compressed)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| err(format!("lst is not ZLIB/DEFLATE data: {e}")))?;
        if out.len() > MAX_LIST_BYTES {
            return Err(err("status list decompresses to more than 64 MiB"));
        }
        Ok(Self {
            bits,
            bytes: out,
            aggregation_uri: None,
        })
    }

    /// The `lst` string of the JSON form: base64url(zlib(bytes)).
    pub fn encode_lst(&self) -> Result<String, CredentialError> {
        Ok(b64::encode_url(&self.compress()?))
    }

    /// Parse the `lst` string of the JSON form.
    pub fn decode_lst(bits: u8, lst: &str) -> Result<Self, CredentialError> {
        let compressed =
            b64::decode_url(lst).map_err(|e| err(format!("lst is not base64url: {e}")))?;
        Self::decompress(bits, &compressed)
    }

    /// JSON form: `{"bits": …, "lst": "…", "aggregation_uri"?: "…"}`.
    pub fn to_json(&self) -> Result<Value, CredentialError> {
        let mut m = Map::new();
        m.insert("bits".into(), Value::from(self.bits));
        m.insert("lst".into(), Value::String(self.encode_lst()?));
        if let Some(uri) = &self.aggregation_uri {
            m.insert("aggregation_uri".into(), Value::String(uri.clone()));
        }
        Ok(Value::Object(m))
    }

    /// Parse the JSON form.
    pub fn from_json(v: &Value) -> Result<Self, CredentialError> {
        let obj = v
            .as_object()
            .ok_or_else(|| err("status_list is not a JSON object"))?;
        let bits = obj
            .get("bits")
            .and_then(Value::as_u64)
            .and_then(|b| u8::try_from(b).ok())
            .ok_or_else(|| err("bits is missing or not a small integer"))?;
        let lst = obj
            .get("lst")
            .and_then(Value::as_str)
            .ok_or_else(|| err("lst is missing or not a string"))?;
        let mut list = Self::decode_lst(bits, lst)?;
        list.aggregation_uri = match obj.get("aggregation_uri") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(err("aggregation_uri is not a string")),
        };
        Ok(list)
    }

    /// CBOR form as a value: `{"bits": uint, "lst": bstr, "aggregation_uri"?: tstr}`.
    pub fn to_cbor_value(&self) -> Result<ciborium::Value, CredentialError> {
        use ciborium::Value as C;
        let mut m = vec![
            (C::Text("bits".into()), C::Integer(self.bits.into())),
            (C::Text("lst".into()), C::Bytes(self.compress()?)),
        ];
        if let Some(uri) = &self.aggregation_uri {
            m.push((C::Text("aggregation_uri".into()), C::Text(uri.clone())));
        }
        Ok(C::Map(m))
    }

    /// CBOR form, encoded.
    pub fn to_cbor(&self) -> Result<Vec<u8>, CredentialError> {
        let mut out = Vec::new();
        ciborium::into_writer(&self.to_cbor_value()?, &mut out)
            .map_err(|e| err(format!("CBOR: {e}")))?;
        Ok(out)
    }

    /// Parse the CBOR form from a value.
    pub fn from_cbor_value(v: &ciborium::Value) -> Result<Self, CredentialError> {
        use ciborium::Value as C;
        let map = v
            .as_map()
            .ok_or_else(|| err("CBOR status list is not a map"))?;
        let field = |name: &str| {
            map.iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(_, v)| v)
        };
        let bits = field("bits")
            .and_then(C::as_integer)
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| err("bits is missing or not a small integer"))?;
        let lst = field("lst")
            .and_then(C::as_bytes)
            .ok_or_else(|| err("lst is missing or not a byte string"))?;
        let mut list = Self::decompress(bits, lst)?;
        list.aggregation_uri = match field("aggregation_uri") {
            None => None,
            Some(C::Text(s)) => Some(s.clone()),
            Some(_) => return Err(err("aggregation_uri is not a text string")),
        };
        Ok(list)
    }

    /// Parse the CBOR form.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, CredentialError> {
        let v: ciborium::Value =
            ciborium::from_reader(bytes).map_err(|e| err(format!("not CBOR: {e}")))?;
        Self::from_cbor_value(&v)
    }
}

/// The claims of a Status List Token (JWT or CWT form).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusListToken {
    /// The URI of this status list: referenced tokens point here (`status.status_list.uri`).
    pub sub: String,
    pub iss: Option<String>,
    pub iat: i64,
    pub exp: Option<i64>,
    /// Seconds a verifier may cache the list.
    pub ttl: Option<u64>,
    pub list: StatusList,
}

impl StatusListToken {
    /// Whether the token is usable at `at`: not expired, not issued in the future (5 minutes' skew).
    pub fn check_time(&self, at: DateTime<Utc>) -> Result<(), CredentialError> {
        let now = at.timestamp();
        let skew = crate::sdjwt::CLOCK_SKEW_SECONDS;
        if let Some(exp) = self.exp {
            if now > exp.saturating_add(skew) {
                return Err(err(format!(
                    "the status list token {} expired at {exp}; fetch a fresh one",
                    self.sub
                )));
            }
        }
        if now < self.iat.saturating_sub(skew) {
            return Err(err(format!(
                "the status list token {} is issued in the future ({})",
                self.sub, self.iat
            )));
        }
        Ok(())
    }

    /// Sign as a `statuslist+jwt`. `kid` defaults to the key's thumbprint.
    pub fn sign_jwt(&self, key: &SigningKey, kid: Option<&str>) -> Result<String, CredentialError> {
        let mut header = Map::new();
        header.insert(
            "kid".into(),
            Value::String(kid.map_or_else(|| key.kid(), str::to_string)),
        );
        header.insert("typ".into(), Value::String(STATUS_LIST_JWT_TYP.into()));
        let mut payload = Map::new();
        if let Some(iss) = &self.iss {
            payload.insert("iss".into(), Value::String(iss.clone()));
        }
        payload.insert("sub".into(), Value::String(self.sub.clone()));
        payload.insert("iat".into(), Value::from(self.iat));
        if let Some(exp) = self.exp {
            payload.insert("exp".into(), Value::from(exp));
        }
        if let Some(ttl) = self.ttl {
            payload.insert("ttl".into(), Value::from(ttl));
        }
        payload.insert("status_list".into(), self.list.to_json()?);
        let body = serde_json::to_vec(&Value::Object(payload))?;
        Ok(jws::sign_compact(header, &body, key)?)
    }

    /// Parse a `statuslist+jwt` without checking the signature (see [`Self::verify_jwt`]).
    pub fn decode_jwt(jwt: &str) -> Result<(Self, jws::CompactJws), CredentialError> {
        let jws =
            jws::decode_compact(jwt.trim()).map_err(|e| err(format!("not a compact JWS: {e}")))?;
        match jws.header.get("typ").and_then(Value::as_str) {
            Some(STATUS_LIST_JWT_TYP) => {}
            other => {
                return Err(err(format!(
                    "typ is {other:?}; a Status List Token has \"statuslist+jwt\""
                )))
            }
        }
        let payload = match serde_json::from_slice::<Value>(&jws.payload) {
            Ok(Value::Object(m)) => m,
            _ => return Err(err("payload is not a JSON object")),
        };
        let sub = payload
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| err("sub is missing"))?
            .to_string();
        let iat = payload
            .get("iat")
            .and_then(crate::sdjwt::numeric_date)
            .ok_or_else(|| err("iat is missing or not a number"))?;
        let exp = match payload.get("exp") {
            None => None,
            Some(v) => {
                Some(crate::sdjwt::numeric_date(v).ok_or_else(|| err("exp is not a number"))?)
            }
        };
        let ttl = match payload.get("ttl") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| err("ttl is not a non-negative integer"))?,
            ),
        };
        let iss = payload
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_string);
        let list = StatusList::from_json(
            payload
                .get("status_list")
                .ok_or_else(|| err("status_list is missing"))?,
        )?;
        Ok((
            Self {
                sub,
                iss,
                iat,
                exp,
                ttl,
                list,
            },
            jws,
        ))
    }

    /// Verify a `statuslist+jwt` with one of `keys` and check its time window at `at`.
    pub fn verify_jwt(
        jwt: &str,
        keys: &[&VerifyingKey],
        at: DateTime<Utc>,
    ) -> Result<Self, CredentialError> {
        let (token, jws) = Self::decode_jwt(jwt)?;
        let mut last = None;
        let ok = keys
            .iter()
            .any(|k| match jws.verify(k, &ALLOWED_ALGORITHMS) {
                Ok(()) => true,
                Err(e) => {
                    last = Some(e);
                    false
                }
            });
        if !ok {
            return Err(match last {
                Some(e) => err(format!(
                    "signature of the status list token {} does not verify: {e}",
                    token.sub
                )),
                None => err(format!(
                    "no key to verify the status list token {}",
                    token.sub
                )),
            });
        }
        token.check_time(at)?;
        Ok(token)
    }

    /// The CWT claims map (RFC 8392 keys: 1 iss, 2 sub, 4 exp, 6 iat; 65534 ttl; 65533 status_list).
    pub fn to_cwt_claims(&self) -> Result<ciborium::Value, CredentialError> {
        use ciborium::Value as C;
        let mut m = Vec::new();
        if let Some(iss) = &self.iss {
            m.push((C::Integer(1.into()), C::Text(iss.clone())));
        }
        m.push((C::Integer(2.into()), C::Text(self.sub.clone())));
        m.push((C::Integer(6.into()), C::Integer(self.iat.into())));
        if let Some(exp) = self.exp {
            m.push((C::Integer(4.into()), C::Integer(exp.into())));
        }
        if let Some(ttl) = self.ttl {
            m.push((C::Integer(CWT_CLAIM_TTL.into()), C::Integer(ttl.into())));
        }
        m.push((
            C::Integer(CWT_CLAIM_STATUS_LIST.into()),
            self.list.to_cbor_value()?,
        ));
        Ok(C::Map(m))
    }

    /// Read the CWT claims map.
    pub fn from_cwt_claims(claims: &ciborium::Value) -> Result<Self, CredentialError> {
        use ciborium::Value as C;
        let map = claims
            .as_map()
            .ok_or_else(|| err("CWT claims are not a map"))?;
        // A claim given twice would make the answer depend on which one is read.
        crate::cwt::check_unique_keys(map)?;
        let field = |key: i64| {
            map.iter()
                .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
                .map(|(_, v)| v)
        };
        let int = |key: i64, name: &str| -> Result<Option<i64>, CredentialError> {
            match field(key) {
                None => Ok(None),
                Some(v) => v
                    .as_integer()
                    .and_then(|i| i64::try_from(i).ok())
                    .map(Some)
                    .ok_or_else(|| err(format!("{name} is not an integer"))),
            }
        };
        let sub = field(2)
            .and_then(C::as_text)
            .ok_or_else(|| err("sub (2) is missing"))?
            .to_string();
        let iss = field(1).and_then(C::as_text).map(str::to_string);
        let iat = int(6, "iat")?.ok_or_else(|| err("iat (6) is missing"))?;
        let exp = int(4, "exp")?;
        let ttl = int(CWT_CLAIM_TTL, "ttl")?
            .map(|t| u64::try_from(t).map_err(|_| err("ttl is negative")))
            .transpose()?;
        let list = StatusList::from_cbor_value(
            field(CWT_CLAIM_STATUS_LIST).ok_or_else(|| err("status_list (65533) is missing"))?,
        )?;
        Ok(Self {
            sub,
            iss,
            iat,
            exp,
            ttl,
            list,
        })
    }
}

impl StatusListToken {
    /// Sign as a Status List Token in CWT form: COSE_Sign1 (tag 18) with `alg`,
    /// `kid` and `type` (16) = `application/statuslist+cwt` in the protected header.
    pub fn sign_cwt(
        &self,
        key: &SigningKey,
        kid: Option<&[u8]>,
    ) -> Result<Vec<u8>, CredentialError> {
        use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
        let alg = match key.algorithm() {
            Algorithm::Es256 => iana::Algorithm::ES256,
            Algorithm::EdDsa => iana::Algorithm::EdDSA,
            other => {
                return Err(err(format!(
                    "status list CWTs are signed with ES256 or EdDSA, not {}",
                    other.jose_name()
                )))
            }
        };
        let kid = kid.map_or_else(
            || crate::cose::jwk_kid(&key.verifying_key()),
            <[u8]>::to_vec,
        );
        let protected = HeaderBuilder::new()
            .algorithm(alg)
            .key_id(kid)
            .value(16, ciborium::Value::Text(STATUS_LIST_CWT_TYPE.into()))
            .build();
        let mut claims = Vec::new();
        ciborium::into_writer(&self.to_cwt_claims()?, &mut claims)
            .map_err(|e| err(format!("CBOR: {e}")))?;
        let msg = CoseSign1Builder::new()
            .protected(protected)
            .payload(claims)
            .try_create_signature(&[], |tbs| key.sign(tbs))?
            .build();
        msg.to_tagged_vec().map_err(|e| err(format!("COSE: {e}")))
    }

    /// Parse a Status List Token in CWT form without checking the signature. The COSE and CBOR
    /// are read as strictly as a QR payload's (nesting limit, no trailing bytes, unique keys).
    pub fn decode_cwt(bytes: &[u8]) -> Result<Self, CredentialError> {
        Self::from_sign1(&crate::cose::decode_sign1(bytes)?)
    }

    fn from_sign1(sign1: &crate::cose::Sign1) -> Result<Self, CredentialError> {
        let typ = sign1.protected_text(16);
        if typ != Some(STATUS_LIST_CWT_TYPE) {
            return Err(err(format!(
                "COSE type is {typ:?}; a Status List Token has \"{STATUS_LIST_CWT_TYPE}\""
            )));
        }
        let payload = sign1
            .payload()
            .map_err(|_| err("the status list CWT has no payload"))?;
        let claims = crate::cwt::decode_cbor(payload, "status list CWT claims")?;
        Self::from_cwt_claims(&claims)
    }

    /// Verify a Status List Token in CWT form with one of `keys` and check its time window at `at`.
    pub fn verify_cwt(
        bytes: &[u8],
        keys: &[&VerifyingKey],
        at: DateTime<Utc>,
    ) -> Result<Self, CredentialError> {
        let sign1 = crate::cose::decode_sign1(bytes)?;
        let token = Self::from_sign1(&sign1)?;
        let alg = sign1.algorithm()?;
        if !ALLOWED_ALGORITHMS.contains(&alg) {
            return Err(CredentialError::AlgorithmNotAllowed(alg.jose_name().into()));
        }
        if !keys.iter().any(|k| sign1.verify(k, &[]).is_ok()) {
            return Err(err(format!(
                "signature of the status list CWT {} does not verify with any key",
                token.sub
            )));
        }
        token.check_time(at)?;
        Ok(token)
    }
}

/// Draw a random free index in `0..capacity` for a new credential, so that
/// indexes do not reveal issuance order (draft §12.6 "Unlinkability").
///
/// Tries random draws first; when the list is nearly full, walks from a
/// random start to the next free index. Errors when every index is used.
pub fn allocate_random_index(used: &HashSet<u64>, capacity: u64) -> Result<u64, CredentialError> {
    if capacity == 0 || used.len() as u64 >= capacity && (0..capacity).all(|i| used.contains(&i)) {
        return Err(err(format!(
            "all {capacity} indexes of the status list are in use; start a new list"
        )));
    }
    let mut random = tillit_crypto::RandomPool::new();
    let cap = usize::try_from(capacity).unwrap_or(usize::MAX);
    let mut draw = || random.below(cap) as u64;
    for _ in 0..64 {
        let i = draw();
        if !used.contains(&i) {
            return Ok(i);
        }
    }
    let start = draw();
    (0..capacity)
        .map(|k| (start + k) % capacity)
        .find(|i| !used.contains(i))
        .ok_or_else(|| {
            err(format!(
                "all {capacity} indexes of the status list are in use; start a new list"
            ))
        })
}

/// A referenced token's `status.status_list` (Token Status List draft §6.1): entry `idx` of the
/// list at `uri`. The SD-JWT VC claim and the TL1 CBOR claim (65535) carry the same reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReference {
    pub idx: u64,
    pub uri: String,
}

impl StatusReference {
    /// `{"status_list": {"idx": …, "uri": …}}`
    pub fn to_json(&self) -> Value {
        let mut list = Map::new();
        list.insert("idx".into(), Value::from(self.idx));
        list.insert("uri".into(), Value::String(self.uri.clone()));
        let mut status = Map::new();
        status.insert("status_list".into(), Value::Object(list));
        Value::Object(status)
    }

    /// Read the reference from a `status` claim; `Ok(None)` when it has no `status_list`.
    pub fn from_status_claim(status: &Value) -> Result<Option<Self>, CredentialError> {
        let bad = |m: &str| CredentialError::StatusList(format!("status claim: {m}"));
        let obj = status.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let Some(list) = obj.get("status_list") else {
            return Ok(None);
        };
        let list = list
            .as_object()
            .ok_or_else(|| bad("status_list is not an object"))?;
        let idx = list
            .get("idx")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("idx is not a non-negative integer"))?;
        let uri = list
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("uri is not a string"))?;
        Ok(Some(Self {
            idx,
            uri: uri.to_string(),
        }))
    }
}
