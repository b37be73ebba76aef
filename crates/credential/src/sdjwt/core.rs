//! The SD-JWT container (RFC 9901): parsing `<JWT>~<D1>~…~<Dn>~[<KB-JWT>]`,
//! processing disclosures into the claims they reveal (§7.1), and the
//! Key Binding JWT (§4.3, §7.3).

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tillit_crypto::jws::{self, CompactJws};
use tillit_crypto::{Algorithm, SigningKey, VerifyingKey};

use super::disclosure::{digest_of, Disclosure, SD_ALG_SHA256};
use super::path::PathElement;
use crate::error::CredentialError;

/// Signature algorithms accepted for issuer-signed JWTs and KB-JWTs. `none`
/// and everything else (HS*, RS*, PS*, ES512) are rejected.
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa];

/// Tolerance for clocks that are slightly off, applied to `exp`, `nbf`, `iat`
/// and the KB-JWT `iat`: 5 minutes, the usual JWT default. Police phones in a
/// forest are not always NTP-synchronised; five minutes does not matter for
/// attestations that live for days or years.
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// How old a KB-JWT may be (its `iat` before the verification time) before the
/// presentation counts as replayed: 5 minutes (plus [`CLOCK_SKEW_SECONDS`]).
pub const KB_MAX_AGE_SECONDS: i64 = 300;

/// The `typ` of a Key Binding JWT.
pub const KB_JWT_TYP: &str = "kb+jwt";

/// Deepest nesting of objects, arrays and recursive disclosures processed.
const MAX_DEPTH: usize = 64;

/// A parsed (not yet verified) SD-JWT or SD-JWT+KB.
#[derive(Debug, Clone)]
pub struct SdJwt {
    /// The whole (trimmed) input: `<issuer JWT>~<disclosures>~[<KB-JWT>]`.
    input: String,
    /// Length of the issuer-signed JWT at the start of `input`.
    issuer_jwt_len: usize,
    /// Length of the part up to and including the last `~` (input to `sd_hash`);
    /// the KB-JWT, if any, is the rest.
    hashed_len: usize,
    jws: CompactJws,
    payload: Map<String, Value>,
    disclosures: Vec<Disclosure>,
}

/// The claims an SD-JWT reveals, and which disclosure revealed which claim.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The processed payload: disclosed claims in place, `_sd`, `_sd_alg` and undisclosed digests gone.
    pub claims: Map<String, Value>,
    /// `(index into the disclosures, concrete path of the claim it revealed)`.
    pub revealed: Vec<(usize, Vec<PathElement>)>,
}

/// The verified content of a Key Binding JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBinding {
    pub aud: String,
    pub nonce: String,
    pub iat: i64,
    pub sd_hash: String,
}

/// What the verifier expects of a KB-JWT.
#[derive(Debug, Clone)]
pub struct KeyBindingCheck<'a> {
    /// Expected `aud`; `None` = any (the claim must still be present).
    pub audience: Option<&'a str>,
    /// Expected `nonce`; `None` = any (the claim must still be present).
    pub nonce: Option<&'a str>,
    pub at: DateTime<Utc>,
}

fn malformed(reason: impl Into<String>) -> CredentialError {
    CredentialError::malformed("SD-JWT", reason)
}

impl SdJwt {
    /// Split and decode; checks the shape, verifies nothing.
    pub fn parse(input: &str) -> Result<Self, CredentialError> {
        let input = input.trim();
        let last_tilde = input.rfind('~').ok_or_else(|| {
            malformed("no '~' found; an SD-JWT is <issuer JWT>~<disclosures>~[<KB-JWT>]")
        })?;
        let hashed_part = input.get(..=last_tilde).unwrap_or_default();
        let mut parts = hashed_part.split('~');
        let issuer_jwt = parts.next().unwrap_or_default();
        // `split` yields one empty string after the final '~'.
        let encoded: Vec<&str> = parts.collect();
        let encoded = encoded
            .split_last()
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let disclosures = encoded
            .iter()
            .map(|d| Disclosure::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let jws = jws::decode_compact(issuer_jwt)
            .map_err(|e| malformed(format!("the issuer-signed JWT is not a compact JWS: {e}")))?;
        let payload = match serde_json::from_slice::<Value>(&jws.payload) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(malformed(
                    "the issuer-signed JWT payload is not a JSON object",
                ))
            }
            Err(e) => {
                return Err(malformed(format!(
                    "the issuer-signed JWT payload is not JSON: {e}"
                )))
            }
        };
        Ok(Self {
            input: input.to_string(),
            issuer_jwt_len: issuer_jwt.len(),
            hashed_len: hashed_part.len(),
            jws,
            payload,
            disclosures,
        })
    }

    /// The issuer-signed JWT (compact form).
    pub fn issuer_jwt(&self) -> &str {
        self.input.get(..self.issuer_jwt_len).unwrap_or_default()
    }
    pub fn header(&self) -> &Map<String, Value> {
        &self.jws.header
    }
    /// The issuer-signed payload as signed (with `_sd` digests).
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }
    pub fn jws(&self) -> &CompactJws {
        &self.jws
    }
    pub fn disclosures(&self) -> &[Disclosure] {
        &self.disclosures
    }
    pub fn kb_jwt(&self) -> Option<&str> {
        self.input
            .get(self.hashed_len..)
            .filter(|kb| !kb.is_empty())
    }

    /// The presentation up to and including the last `~` (input to `sd_hash`).
    fn hashed_part(&self) -> &str {
        self.input.get(..self.hashed_len).unwrap_or_default()
    }

    /// `_sd_alg`, defaulting to `sha-256`; any other value is rejected (Tillit supports only SHA-256).
    pub fn sd_alg(&self) -> Result<&str, CredentialError> {
        match self.payload.get("_sd_alg") {
            None => Ok(SD_ALG_SHA256),
            Some(Value::String(s)) if s == SD_ALG_SHA256 => Ok(SD_ALG_SHA256),
            Some(other) => Err(CredentialError::Disclosure(format!(
                "_sd_alg {other} is not supported; only \"sha-256\" is"
            ))),
        }
    }

    /// `sd_hash` for this presentation: the digest over everything up to and including the last `~`.
    pub fn sd_hash(&self) -> String {
        digest_of(self.hashed_part())
    }

    /// Verify the issuer signature with `key` (algorithm allow-listed, `none` rejected).
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), CredentialError> {
        check_algorithm(&self.jws)?;
        self.jws
            .verify(key, &ALLOWED_ALGORITHMS)
            .map_err(|e| CredentialError::BadSignature(e.to_string()))
    }

    /// RFC 9901 §7.1 steps 3–5: check every disclosure against the digests and rebuild the claims.
    pub fn process(&self) -> Result<Processed, CredentialError> {
        self.sd_alg()?;
        let values = self.disclosures.iter().map(|d| d.value().clone()).collect();
        process_claims(self.payload.clone(), &self.disclosures, values, true)
    }

    /// [`Self::process`], moving the payload and the disclosed values into the
    /// result instead of copying them: the verifier's path. Afterwards
    /// [`Self::payload`] and [`Self::disclosures`] are empty; the KB-JWT and
    /// `sd_hash` are untouched. With `paths: false`, `revealed` is left empty.
    pub(crate) fn process_in_place(&mut self, paths: bool) -> Result<Processed, CredentialError> {
        self.sd_alg()?;
        let payload = std::mem::take(&mut self.payload);
        let mut disclosures = std::mem::take(&mut self.disclosures);
        let values = disclosures.iter_mut().map(Disclosure::take_value).collect();
        process_claims(payload, &disclosures, values, paths)
    }

    /// Verify the KB-JWT against the holder key (RFC 9901 §7.3).
    pub fn verify_key_binding(
        &self,
        holder: &VerifyingKey,
        check: &KeyBindingCheck<'_>,
    ) -> Result<KeyBinding, CredentialError> {
        let kb_err = |m: String| CredentialError::KeyBinding(m);
        let kb = self
            .kb_jwt()
            .ok_or_else(|| kb_err("no Key Binding JWT after the last '~'".into()))?;
        let jws = jws::decode_compact(kb)
            .map_err(|e| kb_err(format!("the KB-JWT is not a compact JWS: {e}")))?;
        match jws.header.get("typ").and_then(Value::as_str) {
            Some(KB_JWT_TYP) => {}
            Some(other) => {
                return Err(kb_err(format!(
                    "KB-JWT typ is {other:?}; it must be \"kb+jwt\""
                )))
            }
            None => return Err(kb_err("KB-JWT has no typ; it must be \"kb+jwt\"".into())),
        }
        check_algorithm(&jws).map_err(|e| kb_err(e.to_string()))?;
        jws.verify(holder, &ALLOWED_ALGORITHMS).map_err(|e| {
            kb_err(format!(
                "KB-JWT signature does not verify with the holder key in cnf: {e}"
            ))
        })?;
        let payload = match serde_json::from_slice::<Value>(&jws.payload) {
            Ok(Value::Object(map)) => map,
            _ => return Err(kb_err("KB-JWT payload is not a JSON object".into())),
        };
        let string = |name: &str| -> Result<String, CredentialError> {
            payload
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| kb_err(format!("KB-JWT has no string claim {name:?}")))
        };
        let aud = string("aud")?;
        let nonce = string("nonce")?;
        let sd_hash = string("sd_hash")?;
        let iat = payload
            .get("iat")
            .and_then(numeric_date)
            .ok_or_else(|| kb_err("KB-JWT has no numeric iat".into()))?;
        let now = check.at.timestamp();
        if iat > now.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(kb_err(format!(
                "KB-JWT iat {iat} lies in the future (verification time {now})"
            )));
        }
        if iat < now.saturating_sub(KB_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS) {
            return Err(kb_err(format!(
                "KB-JWT was made at {iat}, more than {KB_MAX_AGE_SECONDS} s before {now}; ask the holder for a fresh presentation"
            )));
        }
        if let Some(expected) = check.audience {
            if aud != expected {
                return Err(kb_err(format!(
                    "KB-JWT aud is {aud:?}, expected {expected:?}"
                )));
            }
        }
        if let Some(expected) = check.nonce {
            if nonce != expected {
                return Err(kb_err(format!(
                    "KB-JWT nonce is {nonce:?}, expected {expected:?}"
                )));
            }
        }
        self.sd_alg()?;
        let expected_hash = self.sd_hash();
        if sd_hash != expected_hash {
            return Err(kb_err(
                "KB-JWT sd_hash does not match this presentation (disclosures were added, removed or changed)".into(),
            ));
        }
        Ok(KeyBinding {
            aud,
            nonce,
            iat,
            sd_hash,
        })
    }
}

/// Reject `alg: none` and algorithms outside the allow-list before any key is touched.
fn check_algorithm(jws: &CompactJws) -> Result<(), CredentialError> {
    let name = jws.header.get("alg").and_then(Value::as_str).unwrap_or("");
    match Algorithm::from_jose_name(name) {
        Some(alg) if ALLOWED_ALGORITHMS.contains(&alg) => Ok(()),
        _ => Err(CredentialError::AlgorithmNotAllowed(name.to_string())),
    }
}

/// A JWT NumericDate (seconds; fractions are truncated).
pub fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })
}

/// Sign a KB-JWT for the presentation `hashed_part` (everything up to and including the last `~`).
pub fn sign_key_binding(
    hashed_part: &str,
    holder: &SigningKey,
    aud: &str,
    nonce: &str,
    iat: DateTime<Utc>,
) -> Result<String, CredentialError> {
    let mut header = Map::new();
    header.insert("typ".into(), Value::String(KB_JWT_TYP.into()));
    let mut payload = Map::new();
    payload.insert("iat".into(), Value::from(iat.timestamp()));
    payload.insert("aud".into(), Value::String(aud.into()));
    payload.insert("nonce".into(), Value::String(nonce.into()));
    payload.insert("sd_hash".into(), Value::String(digest_of(hashed_part)));
    let body = serde_json::to_vec(&Value::Object(payload))?;
    Ok(jws::sign_compact(header, &body, holder)?)
}

/// Rebuild the claims of `payload` from the `disclosures` (whose values, in
/// the same order, are `values`), in place. `paths`: record which path each
/// disclosure revealed.
fn process_claims(
    mut claims: Map<String, Value>,
    disclosures: &[Disclosure],
    values: Vec<Value>,
    paths: bool,
) -> Result<Processed, CredentialError> {
    let mut digests: HashMap<Cow<'_, str>, Slot> = HashMap::with_capacity(disclosures.len() * 2);
    for (i, d) in disclosures.iter().enumerate() {
        let slot = Slot {
            disclosure: Some(i),
            seen: false,
        };
        if digests.insert(Cow::Borrowed(d.digest()), slot).is_some() {
            return Err(CredentialError::Disclosure(format!(
                "disclosure {} is presented more than once",
                d.encoded()
            )));
        }
    }
    let mut walker = Walker {
        disclosures,
        values: values.into_iter().map(Some).collect(),
        digests,
        used: vec![false; disclosures.len()],
        paths,
        revealed: Vec::new(),
    };
    let mut path = Vec::new();
    walker.object(&mut claims, &mut path, 0)?;
    claims.remove("_sd_alg");
    if let Some(i) = walker.used.iter().position(|used| !used) {
        let d = disclosures
            .get(i)
            .map(Disclosure::encoded)
            .unwrap_or_default();
        return Err(CredentialError::Disclosure(format!(
            "disclosure {d} does not match any digest in the issuer-signed JWT"
        )));
    }
    Ok(Processed {
        claims,
        revealed: walker.revealed,
    })
}

/// What is known about one digest value.
struct Slot {
    /// The disclosure with this digest, if one was presented.
    disclosure: Option<usize>,
    /// Whether the digest was met in the payload (or in a disclosed value).
    seen: bool,
}

/// Walks the claims, removing `_sd` and undisclosed digests and putting
/// disclosed values in place.
struct Walker<'a> {
    disclosures: &'a [Disclosure],
    /// Each disclosure's value, until it is put in place.
    values: Vec<Option<Value>>,
    /// Every digest of a presented disclosure, and every digest met so far in
    /// `_sd` arrays and `...` elements, disclosed or not.
    digests: HashMap<Cow<'a, str>, Slot>,
    used: Vec<bool>,
    /// Whether to keep track of the path (for `revealed`).
    paths: bool,
    revealed: Vec<(usize, Vec<PathElement>)>,
}

impl<'a> Walker<'a> {
    fn note_digest(&mut self, digest: String) -> Result<Option<usize>, CredentialError> {
        match self.digests.entry(Cow::Owned(digest)) {
            Entry::Occupied(mut entry) => {
                if entry.get().seen {
                    return Err(CredentialError::Disclosure(format!(
                        "digest {} appears more than once in the SD-JWT",
                        entry.key()
                    )));
                }
                let slot = entry.get_mut();
                slot.seen = true;
                let found = slot.disclosure;
                if let Some(used) = found.and_then(|i| self.used.get_mut(i)) {
                    *used = true;
                }
                Ok(found)
            }
            Entry::Vacant(entry) => {
                entry.insert(Slot {
                    disclosure: None,
                    seen: true,
                });
                Ok(None)
            }
        }
    }

    /// The value of disclosure `i`, moved out (each disclosure is used at most once).
    fn take_value(&mut self, i: usize) -> Value {
        self.values
            .get_mut(i)
            .and_then(Option::take)
            .unwrap_or(Value::Null)
    }

    fn push(&self, path: &mut Vec<PathElement>, element: impl FnOnce() -> PathElement) {
        if self.paths {
            path.push(element());
        }
    }

    fn pop(&self, path: &mut Vec<PathElement>) {
        if self.paths {
            path.pop();
        }
    }

    fn reveal(&mut self, i: usize, path: &[PathElement]) {
        if self.paths {
            self.revealed.push((i, path.to_vec()));
        }
    }

    fn value(
        &mut self,
        v: &mut Value,
        path: &mut Vec<PathElement>,
        depth: usize,
    ) -> Result<(), CredentialError> {
        if depth > MAX_DEPTH {
            return Err(CredentialError::Disclosure(format!(
                "claims nest deeper than {MAX_DEPTH} levels"
            )));
        }
        match v {
            Value::Object(map) => self.object(map, path, depth + 1),
            Value::Array(items) => self.array(items, path, depth + 1),
            _ => Ok(()),
        }
    }

    fn object(
        &mut self,
        map: &mut Map<String, Value>,
        path: &mut Vec<PathElement>,
        depth: usize,
    ) -> Result<(), CredentialError> {
        let sd = map.shift_remove("_sd");
        for (k, v) in map.iter_mut() {
            if matches!(v, Value::Object(_) | Value::Array(_)) {
                self.push(path, || PathElement::Key(k.clone()));
                let processed = self.value(v, path, depth);
                self.pop(path);
                processed?;
            } else {
                // A scalar reveals nothing; only its depth is checked.
                self.value(v, path, depth)?;
            }
        }
        let Some(sd) = sd else {
            return Ok(());
        };
        let Value::Array(digests) = sd else {
            return Err(CredentialError::Disclosure("_sd is not an array".into()));
        };
        for digest in digests {
            let Value::String(digest) = digest else {
                return Err(CredentialError::Disclosure(
                    "_sd contains a value that is not a string".into(),
                ));
            };
            let Some(i) = self.note_digest(digest)? else {
                continue; // undisclosed claim or decoy
            };
            let disclosures = self.disclosures;
            let Some(d) = disclosures.get(i) else {
                continue;
            };
            let Some(name) = d.name() else {
                return Err(CredentialError::Disclosure(format!(
                    "disclosure {} is an array element but its digest is in an _sd object list",
                    d.encoded()
                )));
            };
            if map.contains_key(name) {
                return Err(CredentialError::Disclosure(format!(
                    "claim {name:?} is disclosed but already present at the same level"
                )));
            }
            self.push(path, || PathElement::Key(name.to_string()));
            let mut value = self.take_value(i);
            let processed = self.value(&mut value, path, depth);
            if processed.is_ok() {
                self.reveal(i, path);
            }
            self.pop(path);
            processed?;
            map.insert(name.to_string(), value);
        }
        Ok(())
    }

    fn array(
        &mut self,
        items: &mut Vec<Value>,
        path: &mut Vec<PathElement>,
        depth: usize,
    ) -> Result<(), CredentialError> {
        let all = std::mem::take(items);
        items.reserve(all.len());
        for (pos, item) in all.into_iter().enumerate() {
            self.push(path, || PathElement::Index(pos));
            let result = self.array_item(item, path, depth);
            self.pop(path);
            if let Some(v) = result? {
                items.push(v);
            }
        }
        Ok(())
    }

    fn array_item(
        &mut self,
        item: Value,
        path: &mut Vec<PathElement>,
        depth: usize,
    ) -> Result<Option<Value>, CredentialError> {
        let digest = match item {
            Value::Object(mut map) if map.len() == 1 && map.contains_key("...") => {
                map.remove("...").unwrap_or(Value::Null)
            }
            mut other => {
                self.value(&mut other, path, depth)?;
                return Ok(Some(other));
            }
        };
        let Value::String(digest) = digest else {
            return Err(CredentialError::Disclosure(
                "an array element's \"...\" is not a string digest".into(),
            ));
        };
        let Some(i) = self.note_digest(digest)? else {
            return Ok(None); // undisclosed element or decoy: removed
        };
        let disclosures = self.disclosures;
        let Some(d) = disclosures.get(i) else {
            return Ok(None);
        };
        if let Some(name) = d.name() {
            return Err(CredentialError::Disclosure(format!(
                "disclosure for claim {name:?} is an object property but its digest is an array element"
            )));
        }
        let mut value = self.take_value(i);
        self.value(&mut value, path, depth)?;
        self.reveal(i, path);
        Ok(Some(value))
    }
}
