//! Issuance (RFC 9901 §4): replace the chosen claims by digests, add decoys,
//! hide the order, sign.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};
use tillit_crypto::{jws, RandomPool, SigningKey};

use super::disclosure::{decoy_digest_from, salt_from, Disclosure, SD_ALG_SHA256};
use super::path::{ClaimPath, PathElement};
use crate::error::CredentialError;

/// How to issue.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Header `typ` (`dc+sd-jwt` for SD-JWT VC; `None` leaves it out).
    pub typ: Option<String>,
    /// Header `kid`; `None` uses the signing key's RFC 7638 thumbprint.
    pub kid: Option<String>,
    /// Header `x5c` (base64 DER, leaf first), for issuers with certificates.
    pub x5c: Option<Vec<String>>,
    /// How many decoy digests to add to each `_sd` array that holds real digests
    /// (RFC 9901 §4.2.5), drawn at random from this range.
    pub decoys: RangeInclusive<usize>,
}

impl Default for IssueOptions {
    fn default() -> Self {
        Self {
            typ: None,
            kid: None,
            x5c: None,
            decoys: 1..=3,
        }
    }
}

/// One disclosure the issuer made, and the claim it stands for.
#[derive(Debug, Clone)]
pub struct IssuedDisclosure {
    pub path: ClaimPath,
    pub disclosure: Disclosure,
}

/// An issued SD-JWT: the issuance form (`<JWT>~<D1>~…~<Dn>~`) and its parts.
#[derive(Debug, Clone)]
pub struct Issued {
    /// What the holder receives.
    pub sd_jwt: String,
    /// The issuer-signed JWT alone.
    pub issuer_jwt: String,
    pub disclosures: Vec<IssuedDisclosure>,
}

/// Issue an SD-JWT over `payload`, making the claims named by `selective` selectively disclosable.
///
/// A path inside a selectively disclosable claim makes a recursive disclosure
/// (the inner claim is hidden inside the outer claim's disclosure). Every path
/// must name a claim that exists. `_sd_alg` is always `sha-256`.
pub fn issue(
    payload: Map<String, Value>,
    selective: &[ClaimPath],
    key: &SigningKey,
    opts: &IssueOptions,
) -> Result<Issued, CredentialError> {
    payload.values().try_for_each(check_reserved)?;
    check_reserved_names(&payload)?;
    let mut state = Blinder {
        selective,
        matched: vec![false; selective.len()],
        disclosures: Vec::new(),
        opts,
        random: RandomPool::new(),
    };
    let mut path = Vec::new();
    let mut blinded = state.object(payload, &mut path)?;
    if let Some(i) = state.matched.iter().position(|m| !m) {
        let missing = selective
            .get(i)
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(CredentialError::InvalidInput(format!(
            "selectively disclosable claim {missing:?} is not in the claims"
        )));
    }
    blinded.insert("_sd_alg".into(), Value::String(SD_ALG_SHA256.into()));

    let mut header = Map::new();
    if let Some(typ) = &opts.typ {
        header.insert("typ".into(), Value::String(typ.clone()));
    }
    header.insert(
        "kid".into(),
        Value::String(opts.kid.clone().unwrap_or_else(|| key.kid())),
    );
    if let Some(x5c) = &opts.x5c {
        header.insert("x5c".into(), Value::from(x5c.clone()));
    }
    let body = serde_json::to_vec(&Value::Object(blinded))?;
    let issuer_jwt = jws::sign_compact(header, &body, key)?;
    let mut sd_jwt = issuer_jwt.clone();
    sd_jwt.push('~');
    for d in &state.disclosures {
        sd_jwt.push_str(d.disclosure.encoded());
        sd_jwt.push('~');
    }
    Ok(Issued {
        sd_jwt,
        issuer_jwt,
        disclosures: state.disclosures,
    })
}

/// The input claims must not already use SD-JWT's reserved names.
fn check_reserved(v: &Value) -> Result<(), CredentialError> {
    match v {
        Value::Object(map) => {
            check_reserved_names(map)?;
            map.values().try_for_each(check_reserved)
        }
        Value::Array(items) => items.iter().try_for_each(check_reserved),
        _ => Ok(()),
    }
}

fn check_reserved_names(map: &Map<String, Value>) -> Result<(), CredentialError> {
    match map
        .keys()
        .find(|k| *k == "_sd" || *k == "_sd_alg" || *k == "...")
    {
        Some(k) => Err(CredentialError::InvalidInput(format!(
            "claim name {k:?} is reserved by SD-JWT; rename the claim"
        ))),
        None => Ok(()),
    }
}

struct Blinder<'a> {
    selective: &'a [ClaimPath],
    matched: Vec<bool>,
    disclosures: Vec<IssuedDisclosure>,
    opts: &'a IssueOptions,
    /// Salts, decoys and shuffles of this issuance.
    random: RandomPool,
}

impl Blinder<'_> {
    /// Whether the concrete `path` is selectively disclosable; marks the patterns that named it.
    fn is_selective(&mut self, path: &[PathElement]) -> bool {
        let mut hit = false;
        for (i, p) in self.selective.iter().enumerate() {
            if p.matches(path) {
                hit = true;
                if let Some(m) = self.matched.get_mut(i) {
                    *m = true;
                }
            }
        }
        hit
    }

    fn value(&mut self, v: Value, path: &mut Vec<PathElement>) -> Result<Value, CredentialError> {
        match v {
            Value::Object(map) => Ok(Value::Object(self.object(map, path)?)),
            Value::Array(items) => self.array(items, path),
            other => Ok(other),
        }
    }

    fn object(
        &mut self,
        map: Map<String, Value>,
        path: &mut Vec<PathElement>,
    ) -> Result<Map<String, Value>, CredentialError> {
        let mut out = Map::new();
        let mut digests = Vec::new();
        for (k, v) in map {
            path.push(PathElement::Key(k.clone()));
            let result = self.value(v, path).and_then(|inner| {
                if self.is_selective(path) {
                    let d = Disclosure::with_salt(salt_from(&mut self.random), Some(&k), inner)?;
                    digests.push(d.digest().to_string());
                    self.disclosures.push(IssuedDisclosure {
                        path: ClaimPath(path.clone()),
                        disclosure: d,
                    });
                    Ok(None)
                } else {
                    Ok(Some(inner))
                }
            });
            path.pop();
            if let Some(inner) = result? {
                out.insert(k, inner);
            }
        }
        if !digests.is_empty() {
            let (lo, hi) = (*self.opts.decoys.start(), *self.opts.decoys.end());
            let count = if hi > lo {
                lo + self.random.below(hi - lo + 1)
            } else {
                lo
            };
            digests.extend((0..count).map(|_| decoy_digest_from(&mut self.random)));
            self.random.shuffle(&mut digests);
            out.insert("_sd".into(), Value::from(digests));
        }
        Ok(out)
    }

    fn array(
        &mut self,
        items: Vec<Value>,
        path: &mut Vec<PathElement>,
    ) -> Result<Value, CredentialError> {
        let mut out = Vec::with_capacity(items.len());
        for (pos, item) in items.into_iter().enumerate() {
            path.push(PathElement::Index(pos));
            let result = self.value(item, path).and_then(|inner| {
                if self.is_selective(path) {
                    let d = Disclosure::with_salt(salt_from(&mut self.random), None, inner)?;
                    let mut element = Map::new();
                    element.insert("...".into(), Value::String(d.digest().to_string()));
                    self.disclosures.push(IssuedDisclosure {
                        path: ClaimPath(path.clone()),
                        disclosure: d,
                    });
                    Ok(Value::Object(element))
                } else {
                    Ok(inner)
                }
            });
            path.pop();
            out.push(result?);
        }
        Ok(Value::Array(out))
    }
}
