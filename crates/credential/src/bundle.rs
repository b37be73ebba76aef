//! Trust list / offline bundle, and imports of DCC signer certificates and
//! the Swedish DIGG `dsc_trust_list`.
//!
//! # Tillit trust bundle
//!
//! A compact JWS with header `typ: tillit-trust+jwt` (and `alg`, `kid`),
//! signed by the bundle publisher whose key verifiers pin. Payload:
//!
//! ```json
//! { "iss": "https://trust.example.se", "iat": 1767225600, "exp": 1767830400,
//!   "issuers": [ { "id": "https://ankeborg.se", "name": "Ankeborgs kommun",
//!                  "organisation": "Ankeborgs kommun", "country": "SE",
//!                  "keys": [ { "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "x5c": ["…"] } ],
//!                  "allowed_types": ["https://ankeborg.se/vct/parking"],
//!                  "status_lists": ["https://ankeborg.se/status/1"],
//!                  "valid_from": "2026-01-01T00:00:00Z", "valid_until": null } ],
//!   "status_lists": { "https://ankeborg.se/status/1": "<statuslist+jwt>" },
//!   "rules": [ <DCC CertLogic rule envelopes> ],
//!   "value_sets": { "<id>": <value set> } }
//! ```
//!
//! Every status list must be published by an issuer of the bundle (its URI in
//! that issuer's `status_lists`) and is verified with that issuer's keys.
//!
//! # DIGG DSC trust list
//!
//! github diggsweden/dgc-trust `specifications/trust-list.md`: a JWS with
//! unencoded payload (RFC 7797, `b64: false`, `typ: JOSE`, signer in `x5c`)
//! whose payload has `iss`, `iat`, `exp` and `dsc_trust_list: {CC: {eku: {kid: [oid…]},
//! keys: [JWK with kid and x5c]}}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tillit_crypto::{b64, jws, x509, Algorithm, Jwk, SigningKey, VerifyingKey};

use crate::error::CredentialError;
use crate::status_list::StatusListToken;
use crate::trust::{TrustStore, TrustedIssuer};

/// `typ` of a Tillit trust bundle.
pub const BUNDLE_TYP: &str = "tillit-trust+jwt";

/// Algorithms accepted for bundle and trust-list signatures (DIGG lists may be PS256-signed).
pub const ALLOWED_ALGORITHMS: [Algorithm; 6] = Algorithm::ALL;

fn err(m: impl Into<String>) -> CredentialError {
    CredentialError::Bundle(m.into())
}

/// One issuer entry of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleIssuer {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Public JWKs, optionally with `x5c` (the certificate then defines the key and its COSE kid).
    pub keys: Vec<Jwk>,
    #[serde(default)]
    pub allowed_types: Vec<String>,
    #[serde(default)]
    pub status_lists: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

impl BundleIssuer {
    /// The issuer as a trust store knows it (its keys are added separately).
    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer {
            id: self.id.clone(),
            name: self.name.clone(),
            organisation: self.organisation.clone(),
            country: self.country.clone(),
            allowed_types: self.allowed_types.clone(),
            status_list_uris: self.status_lists.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        }
    }
}

/// The payload of a trust bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BundleContent {
    /// Who publishes the bundle.
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    #[serde(default)]
    pub issuers: Vec<BundleIssuer>,
    /// Current status lists by URI, each a signed `statuslist+jwt`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_lists: BTreeMap<String, String>,
    /// CertLogic rule envelopes (DCC business rules JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub value_sets: Map<String, Value>,
}

/// Sign a bundle with the publisher key (`kid` = the key's thumbprint).
pub fn build_bundle(content: &BundleContent, key: &SigningKey) -> Result<String, CredentialError> {
    if content.exp <= content.iat {
        return Err(CredentialError::InvalidInput(
            "bundle exp must be after iat".into(),
        ));
    }
    let mut header = Map::new();
    header.insert("typ".into(), Value::String(BUNDLE_TYP.into()));
    header.insert("kid".into(), Value::String(key.kid()));
    let body = serde_json::to_vec(content)?;
    Ok(jws::sign_compact(header, &body, key)?)
}

/// Read a bundle without verifying it (for `tillit trust inspect`).
pub fn inspect_bundle(bundle: &str) -> Result<BundleContent, CredentialError> {
    content_of(&decode_bundle(bundle)?)
}

/// The compact JWS of a bundle, with the bundle's `typ`; not verified.
fn decode_bundle(bundle: &str) -> Result<jws::CompactJws, CredentialError> {
    let jws =
        jws::decode_compact(bundle.trim()).map_err(|e| err(format!("not a compact JWS: {e}")))?;
    match jws.header.get("typ").and_then(Value::as_str) {
        Some(BUNDLE_TYP) => Ok(jws),
        other => Err(err(format!(
            "typ is {other:?}; a Tillit trust bundle has \"{BUNDLE_TYP}\""
        ))),
    }
}

fn content_of(jws: &jws::CompactJws) -> Result<BundleContent, CredentialError> {
    serde_json::from_slice(&jws.payload).map_err(|e| err(format!("bundle payload: {e}")))
}

fn to_time(t: i64) -> Result<DateTime<Utc>, CredentialError> {
    DateTime::<Utc>::from_timestamp(t, 0).ok_or_else(|| err(format!("time {t} is out of range")))
}

/// Check the signer against the pinned keys.
fn verify_pinned(
    jws: &jws::CompactJws,
    pinned: &[VerifyingKey],
    what: &str,
) -> Result<(), CredentialError> {
    if pinned.is_empty() {
        return Err(err(format!(
            "no pinned key to check the {what} signature; configure the publisher's key"
        )));
    }
    jws.algorithm().map_err(|e| err(format!("{what}: {e}")))?;
    if pinned
        .iter()
        .any(|k| jws.verify(k, &ALLOWED_ALGORITHMS).is_ok())
    {
        Ok(())
    } else {
        Err(err(format!(
            "the {what} is not signed by a pinned key (or it was altered)"
        )))
    }
}

/// Time window of a signed list: not issued in the future, not expired.
fn check_window(iat: i64, exp: i64, at: DateTime<Utc>, what: &str) -> Result<(), CredentialError> {
    let now = at.timestamp();
    let skew = crate::sdjwt::CLOCK_SKEW_SECONDS;
    if now < iat.saturating_sub(skew) {
        return Err(err(format!(
            "the {what} is issued in the future ({}); check the clock",
            to_time(iat)?.to_rfc3339()
        )));
    }
    if now > exp {
        return Err(CredentialError::BundleExpired {
            issued_at: to_time(iat)?.to_rfc3339(),
            expired_at: to_time(exp)?.to_rfc3339(),
            age_hours: (now - iat) / 3600,
        });
    }
    Ok(())
}

/// Verify a bundle signed by one of `pinned`, valid at `at`, and turn it into a trust store.
///
/// The store's `issued_at` gives the bundle's age. Every status list in the
/// bundle is verified with the keys of the issuer that publishes it.
pub fn open_bundle(
    bundle: &str,
    pinned: &[VerifyingKey],
    at: DateTime<Utc>,
) -> Result<TrustStore, CredentialError> {
    let jws = decode_bundle(bundle)?;
    verify_pinned(&jws, pinned, "trust bundle")?;
    let content = content_of(&jws)?;
    check_window(content.iat, content.exp, at, "trust bundle")?;

    let mut store = TrustStore::new();
    for issuer in &content.issuers {
        let trusted = issuer.trusted();
        for jwk in &issuer.keys {
            store
                .add_jwk(jwk, Some(trusted.clone()))
                .map_err(|e| err(format!("key of issuer {}: {e}", issuer.id)))?;
        }
    }
    for (uri, jwt) in &content.status_lists {
        let publisher = content
            .issuers
            .iter()
            .find(|i| i.status_lists.contains(uri))
            .ok_or_else(|| {
                err(format!(
                    "status list {uri} is not published by any issuer in the bundle"
                ))
            })?;
        let keys: Vec<&VerifyingKey> = store
            .keys_for_issuer(&publisher.id)
            .into_iter()
            .map(|k| &k.key)
            .collect();
        let token = StatusListToken::verify_jwt(jwt, &keys, at)
            .map_err(|e| err(format!("status list {uri} of issuer {}: {e}", publisher.id)))?;
        if token.sub != *uri {
            return Err(err(format!(
                "status list filed under {uri} says sub {}",
                token.sub
            )));
        }
        store.set_status_list(uri.clone(), token.list);
    }
    store.set_rules(content.rules)?;
    store.set_value_sets(content.value_sets);
    store.set_validity(Some(to_time(content.iat)?), Some(to_time(content.exp)?));
    Ok(store)
}

/// Trust DCC signer certificates (each base64 DER, DER or PEM) directly; returns how many were added.
pub fn import_dsc_certificates<'a>(
    store: &mut TrustStore,
    certificates: impl IntoIterator<Item = &'a str>,
    issuer: Option<TrustedIssuer>,
) -> Result<usize, CredentialError> {
    let mut n = 0;
    for (i, c) in certificates.into_iter().enumerate() {
        let cert = x509::parse_certificate(c.trim().as_bytes())
            .map_err(|e| err(format!("certificate #{}: {e}", i + 1)))?;
        store.add_certificate_for(cert, issuer.clone());
        n += 1;
    }
    Ok(n)
}

/// A JWS in compact form whose payload may be unencoded (RFC 7797 `b64: false`).
fn decode_maybe_unencoded(input: &str) -> Result<jws::CompactJws, CredentialError> {
    let input = input.trim();
    let first = input.find('.').ok_or_else(|| err("not a JWS: no '.'"))?;
    let last = input.rfind('.').ok_or_else(|| err("not a JWS: no '.'"))?;
    if first == last {
        return Err(err("not a JWS: it needs three parts"));
    }
    let header_b64 = input.get(..first).unwrap_or_default();
    let middle = input.get(first + 1..last).unwrap_or_default();
    let sig_b64 = input.get(last + 1..).unwrap_or_default();
    let header_bytes = b64::decode_url(header_b64).map_err(|e| err(format!("JWS header: {e}")))?;
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|e| err(format!("JWS header is not a JSON object: {e}")))?;
    let signature = b64::decode_url(sig_b64).map_err(|e| err(format!("JWS signature: {e}")))?;
    let unencoded = header.get("b64") == Some(&Value::Bool(false));
    let payload = if unencoded {
        middle.as_bytes().to_vec()
    } else {
        b64::decode_url(middle).map_err(|e| err(format!("JWS payload: {e}")))?
    };
    Ok(jws::CompactJws {
        header,
        payload,
        signing_input: format!("{header_b64}.{middle}"),
        signature,
    })
}

/// Import the Swedish DIGG DSC trust list (a JWS signed by a pinned key, valid at `at`).
///
/// Each country's keys become trusted DSCs (issuer id and country = the ISO
/// 3166 code); a key with `x5c` is taken from its certificate (which also gives
/// the DCC kid and the extended key usages), a key without from the JWK.
pub fn import_digg_trust_list(
    list: &str,
    pinned: &[VerifyingKey],
    at: DateTime<Utc>,
) -> Result<TrustStore, CredentialError> {
    let jws = decode_maybe_unencoded(list)?;
    verify_pinned(&jws, pinned, "DSC trust list")?;
    let payload: Map<String, Value> = serde_json::from_slice(&jws.payload)
        .map_err(|e| err(format!("DSC trust list payload: {e}")))?;
    let int = |name: &str| {
        payload
            .get(name)
            .and_then(crate::sdjwt::numeric_date)
            .ok_or_else(|| err(format!("DSC trust list has no numeric {name}")))
    };
    let (iat, exp) = (int("iat")?, int("exp")?);
    check_window(iat, exp, at, "DSC trust list")?;
    let countries = payload
        .get("dsc_trust_list")
        .and_then(Value::as_object)
        .ok_or_else(|| err("DSC trust list has no dsc_trust_list object"))?;
    let mut store = TrustStore::new();
    for (country, entry) in countries {
        let issuer = TrustedIssuer {
            country: Some(country.clone()),
            ..TrustedIssuer::new(
                country.clone(),
                format!("DCC document signers of {country}"),
            )
        };
        let keys = entry
            .get("keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for key in keys {
            let jwk: Jwk = serde_json::from_value(key.clone())
                .map_err(|e| err(format!("{country}: a key is not a JWK: {e}")))?;
            match jwk.x5c.as_ref().and_then(|c| c.first()) {
                Some(leaf) => {
                    let cert = x509::parse_certificate(leaf.as_bytes()).map_err(|e| {
                        err(format!("{country}: certificate of key {:?}: {e}", jwk.kid))
                    })?;
                    store.add_certificate_for(cert, Some(issuer.clone()));
                }
                None => store
                    .add_jwk(&jwk, Some(issuer.clone()))
                    .map_err(|e| err(format!("{country}: key {:?}: {e}", jwk.kid)))?,
            }
        }
    }
    store.set_validity(Some(to_time(iat)?), Some(to_time(exp)?));
    Ok(store)
}
