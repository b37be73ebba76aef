//! CBOR Web Token claims (RFC 8392) and the CBOR ⇄ JSON mapping used for the
//! report and for the DCC payload.
//!
//! Registered claims: `iss` 1, `sub` 2, `aud` 3, `exp` 4, `nbf` 5, `iat` 6,
//! `cti` 7. Everything else (the HCERT claim -260, Tillit's -65537, the status
//! claim 65535) is kept in [`Claims::extra`] in wire order.

use ciborium::Value;

use crate::error::CredentialError;

/// CWT claim key of the HCERT container (`hcert`, EU DCC).
pub const HCERT_CLAIM: i64 = -260;

/// The claims of one CWT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// `aud`: one text string, or an array of them.
    pub aud: Option<Vec<String>>,
    /// NumericDate seconds.
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub cti: Option<Vec<u8>>,
    /// Every other claim, in the order it came.
    pub extra: Vec<(Value, Value)>,
}

fn malformed(reason: impl Into<String>) -> CredentialError {
    CredentialError::malformed("CWT claims", reason)
}

/// The integer value of a CBOR label, if it is an integer that fits `i64`.
pub fn int_label(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

/// The value of a non-negative integer, if it fits `u64`.
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

/// The member of a CBOR map with the text key `key`.
pub fn text_member<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// A NumericDate: an integer or a float (fraction dropped). HCERT asks decoders
/// to be permissive, so a leading tag 1 (which RFC 8392 says to omit) is tolerated.
fn numeric_date(name: &str, v: &Value) -> Result<i64, CredentialError> {
    match v {
        Value::Integer(i) => {
            i64::try_from(i128::from(*i)).map_err(|_| malformed(format!("{name} is out of range")))
        }
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => {
            // Bounded above, so the cast is exact in its integral part.
            #[allow(clippy::cast_possible_truncation)]
            Ok(f.trunc() as i64)
        }
        Value::Tag(1, inner) => numeric_date(name, inner),
        _ => Err(malformed(format!(
            "{name} must be a NumericDate (seconds since the epoch)"
        ))),
    }
}

fn text(name: &str, v: &Value) -> Result<String, CredentialError> {
    match v {
        Value::Text(t) => Ok(t.clone()),
        _ => Err(malformed(format!("{name} must be a text string"))),
    }
}

impl Claims {
    /// Decode a CWT claims set (the COSE payload). Duplicate keys are rejected.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, CredentialError> {
        let value = decode_cbor(bytes, "CWT claims")?;
        Self::from_value(value)
    }

    /// Decode an already parsed claims map.
    pub fn from_value(value: Value) -> Result<Self, CredentialError> {
        let Value::Map(entries) = value else {
            return Err(malformed("the payload is not a CBOR map"));
        };
        check_unique_keys(&entries)?;
        let mut c = Claims::default();
        for (k, v) in entries {
            match int_label(&k) {
                Some(1) => c.iss = Some(text("iss (1)", &v)?),
                Some(2) => c.sub = Some(text("sub (2)", &v)?),
                Some(3) => {
                    c.aud = Some(match &v {
                        Value::Text(t) => vec![t.clone()],
                        Value::Array(items) => items
                            .iter()
                            .map(|i| text("aud (3)", i))
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => return Err(malformed("aud (3) must be text or an array of text")),
                    })
                }
                Some(4) => c.exp = Some(numeric_date("exp (4)", &v)?),
                Some(5) => c.nbf = Some(numeric_date("nbf (5)", &v)?),
                Some(6) => c.iat = Some(numeric_date("iat (6)", &v)?),
                Some(7) => match v {
                    Value::Bytes(b) => c.cti = Some(b),
                    _ => return Err(malformed("cti (7) must be a byte string")),
                },
                _ => c.extra.push((k, v)),
            }
        }
        Ok(c)
    }

    /// The value of a claim outside the registered ones, by integer key.
    pub fn extra_claim(&self, key: i64) -> Option<&Value> {
        self.extra
            .iter()
            .find(|(k, _)| int_label(k) == Some(key))
            .map(|(_, v)| v)
    }

    /// Encode as a CBOR map, registered claims first, in key order.
    pub fn to_value(&self) -> Value {
        let mut m: Vec<(Value, Value)> = Vec::new();
        if let Some(v) = &self.iss {
            m.push((Value::from(1), Value::Text(v.clone())));
        }
        if let Some(v) = &self.sub {
            m.push((Value::from(2), Value::Text(v.clone())));
        }
        if let Some(v) = &self.aud {
            let aud = match v.as_slice() {
                [one] => Value::Text(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::Text).collect()),
            };
            m.push((Value::from(3), aud));
        }
        for (key, v) in [(4, self.exp), (5, self.nbf), (6, self.iat)] {
            if let Some(t) = v {
                m.push((Value::from(key), Value::from(t)));
            }
        }
        if let Some(v) = &self.cti {
            m.push((Value::from(7), Value::Bytes(v.clone())));
        }
        m.extend(self.extra.iter().cloned());
        Value::Map(m)
    }

    /// Encode to CBOR bytes.
    pub fn to_cbor(&self) -> Result<Vec<u8>, CredentialError> {
        encode_cbor(&self.to_value())
    }

    /// The claims as JSON for the report: registered claims by name, the
    /// rest by their key as text (`"-260"`), CBOR values mapped by [`cbor_to_json`].
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        if let Some(v) = &self.iss {
            out.insert("iss".into(), v.clone().into());
        }
        if let Some(v) = &self.sub {
            out.insert("sub".into(), v.clone().into());
        }
        if let Some(v) = &self.aud {
            out.insert("aud".into(), v.clone().into());
        }
        for (name, v) in [("exp", self.exp), ("nbf", self.nbf), ("iat", self.iat)] {
            if let Some(t) = v {
                out.insert(name.into(), t.into());
            }
        }
        if let Some(v) = &self.cti {
            out.insert("cti".into(), hex::encode(v).into());
        }
        for (k, v) in &self.extra {
            let key = match k {
                Value::Text(t) => t.clone(),
                other => int_label(other).map_or_else(|| "?".to_string(), |i| i.to_string()),
            };
            let value = cbor_to_json(v).unwrap_or(serde_json::Value::Null);
            out.insert(key, value);
        }
        out
    }
}

/// Reject a map with the same key twice (RFC 8949 §5.6: such a map is not valid here).
///
/// Small maps (every map of a real credential) are compared pairwise, without allocating; larger
/// ones by their keys' CBOR encoding, sorted, so a map of many keys on untrusted input costs
/// `n log n`, not `n²`.
pub fn check_unique_keys(entries: &[(Value, Value)]) -> Result<(), CredentialError> {
    const PAIRWISE_UP_TO: usize = 32;
    if entries.len() <= PAIRWISE_UP_TO {
        for (i, (k, _)) in entries.iter().enumerate() {
            if entries.iter().skip(i + 1).any(|(other, _)| other == k) {
                return Err(malformed(format!("the key {k:?} appears twice in a map")));
            }
        }
        return Ok(());
    }
    let mut encoded = entries
        .iter()
        .map(|(k, _)| encode_cbor(k).map(|bytes| (bytes, k)))
        .collect::<Result<Vec<_>, _>>()?;
    encoded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    match encoded
        .windows(2)
        .find(|pair| matches!(pair, [a, b] if a.0 == b.0))
    {
        Some([(_, k), _]) => Err(malformed(format!("the key {k:?} appears twice in a map"))),
        _ => Ok(()),
    }
}

/// Parse one CBOR data item that must fill `bytes` exactly.
pub fn decode_cbor(bytes: &[u8], what: &'static str) -> Result<Value, CredentialError> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 64)
        .map_err(|e| CredentialError::malformed(what, format!("not valid CBOR: {e}")))?;
    if !reader.is_empty() {
        return Err(CredentialError::malformed(
            what,
            format!("{} bytes follow the CBOR data item", reader.len()),
        ));
    }
    Ok(value)
}

/// Serialise a CBOR value.
pub fn encode_cbor(value: &Value) -> Result<Vec<u8>, CredentialError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|e| CredentialError::malformed("CBOR value", e.to_string()))?;
    Ok(out)
}

/// Map CBOR to JSON the way HCERT payloads need it: text-keyed maps become
/// objects, integers and floats numbers, tags are unwrapped (a tagged date
/// string becomes the string), byte strings become lower-case hex.
/// Maps with non-text keys become objects keyed by the key's integer text.
pub fn cbor_to_json(v: &Value) -> Result<serde_json::Value, CredentialError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(i) => {
            let n = i128::from(*i);
            if let Ok(u) = u64::try_from(n) {
                J::from(u)
            } else if let Ok(s) = i64::try_from(n) {
                J::from(s)
            } else {
                return Err(malformed("an integer does not fit 64 bits"));
            }
        }
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Text(t) => J::String(t.clone()),
        Value::Bytes(b) => J::String(hex::encode(b)),
        Value::Tag(_, inner) => cbor_to_json(inner)?,
        Value::Array(items) => J::Array(items.iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            check_unique_keys(entries)?;
            let mut m = serde_json::Map::new();
            for (k, val) in entries {
                let key = match k {
                    Value::Text(t) => t.clone(),
                    other => match int_label(other) {
                        Some(i) => i.to_string(),
                        None => return Err(malformed("a map key is neither text nor an integer")),
                    },
                };
                m.insert(key, cbor_to_json(val)?);
            }
            J::Object(m)
        }
        _ => {
            return Err(malformed(
                "unsupported CBOR value (undefined or simple value)",
            ))
        }
    })
}

/// Map JSON to CBOR: objects → text-keyed maps, integers → integers, other
/// numbers → floats.
pub fn json_to_cbor(v: &serde_json::Value) -> Result<Value, CredentialError> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(f) = n.as_f64() {
                Value::Float(f)
            } else {
                return Err(malformed("a JSON number cannot be represented in CBOR"));
            }
        }
        J::String(s) => Value::Text(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(json_to_cbor).collect::<Result<_, _>>()?),
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, val)| Ok((Value::Text(k.clone()), json_to_cbor(val)?)))
                .collect::<Result<_, CredentialError>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip() {
        let c = Claims {
            iss: Some("https://issuer.example".into()),
            sub: Some("alice".into()),
            aud: Some(vec!["a".into(), "b".into()]),
            exp: Some(2_000_000_000),
            nbf: Some(1_000_000_000),
            iat: Some(1_000_000_000),
            cti: Some(vec![1, 2]),
            extra: vec![(Value::from(-260), Value::Map(vec![]))],
        };
        assert_eq!(Claims::from_cbor(&c.to_cbor().unwrap()).unwrap(), c);
    }

    #[test]
    fn rejects_bad_claims() {
        let cases: &[(&str, Value)] = &[
            ("not a map", Value::Array(vec![])),
            (
                "iss not text",
                Value::Map(vec![(Value::from(1), Value::from(5))]),
            ),
            (
                "exp text",
                Value::Map(vec![(Value::from(4), Value::Text("x".into()))]),
            ),
            (
                "duplicate",
                Value::Map(vec![
                    (Value::from(6), Value::from(1)),
                    (Value::from(6), Value::from(2)),
                ]),
            ),
            (
                "cti text",
                Value::Map(vec![(Value::from(7), Value::Text("x".into()))]),
            ),
        ];
        for (name, v) in cases {
            let bytes = encode_cbor(v).unwrap();
            assert!(Claims::from_cbor(&bytes).is_err(), "{name}");
        }
        // trailing bytes after the map
        let mut bytes = encode_cbor(&Value::Map(vec![])).unwrap();
        bytes.push(0);
        assert!(Claims::from_cbor(&bytes).is_err());
    }

    #[test]
    fn float_and_tagged_dates_are_tolerated() {
        let v = Value::Map(vec![
            (Value::from(4), Value::Float(1_700_000_000.5)),
            (
                Value::from(6),
                Value::Tag(1, Box::new(Value::from(1_600_000_000))),
            ),
        ]);
        let c = Claims::from_value(v).unwrap();
        assert_eq!((c.exp, c.iat), (Some(1_700_000_000), Some(1_600_000_000)));
    }

    #[test]
    fn duplicate_keys_are_found_in_maps_of_any_size() {
        let key = |i: i64| (Value::Integer(i.into()), Value::Null);
        let many: Vec<(Value, Value)> = (0..50_000).map(key).collect();
        assert!(check_unique_keys(&many).is_ok());
        type Entries = Vec<(Value, Value)>;
        let cases: Vec<(&str, Entries, bool)> = vec![
            ("empty", vec![], true),
            (
                "int and text 1 differ",
                vec![key(1), (Value::Text("1".into()), Value::Null)],
                true,
            ),
            ("same int", vec![key(1), key(2), key(1)], false),
            (
                "same text",
                vec![
                    (Value::Text("a".into()), Value::Null),
                    (Value::Text("a".into()), Value::Bool(true)),
                ],
                false,
            ),
            (
                "last of many repeats the first",
                [many.clone(), vec![key(0)]].concat(),
                false,
            ),
        ];
        for (name, entries, unique) in cases {
            assert_eq!(check_unique_keys(&entries).is_ok(), unique, "{name}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut bytes = vec![0x81u8; 10_000];
        bytes.push(0x00);
        assert!(decode_cbor(&bytes, "test").is_err());
    }
}
