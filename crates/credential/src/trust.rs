//! The verifier's trust store: which keys are trusted, for which issuers, and
//! the current status lists, CertLogic rules and value sets that came with them.
//!
//! A [`TrustStore`] is built by hand (`add_jwk`, `add_certificate`) or opened
//! from a signed offline bundle ([`crate::bundle::open_bundle`]). It is plain
//! data: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tillit_crypto::{x509::SignerCertificate, Jwk, VerifyingKey};

use crate::error::CredentialError;
use crate::status_list::StatusList;

/// An issuer listed in a trust list (utfärdare / udsteder).
#[derive(Clone, Debug, PartialEq)]
pub struct TrustedIssuer {
    /// The issuer identifier, as it appears in `iss` (usually an HTTPS URL).
    pub id: String,
    /// Display name.
    pub name: String,
    pub organisation: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Attestation types (`vct`, or the QR type) this issuer may issue; empty = any type.
    pub allowed_types: Vec<String>,
    /// Status list URIs this issuer publishes.
    pub status_list_uris: Vec<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl TrustedIssuer {
    /// An issuer with only an id and a name; everything else open.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            organisation: None,
            country: None,
            allowed_types: Vec::new(),
            status_list_uris: Vec::new(),
            valid_from: None,
            valid_until: None,
        }
    }

    /// Whether this issuer may issue attestations of type `ty` (empty list = any type).
    pub fn allows_type(&self, ty: &str) -> bool {
        self.allowed_types.is_empty() || self.allowed_types.iter().any(|t| t == ty)
    }

    /// Whether the issuer's validity window covers `at`.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| at >= from)
            && self.valid_until.is_none_or(|until| at <= until)
    }

    /// Checks type and validity together; the error says which failed.
    pub fn check(&self, ty: Option<&str>, at: DateTime<Utc>) -> Result<(), CredentialError> {
        if !self.is_valid_at(at) {
            return Err(CredentialError::UntrustedIssuer(format!(
                "issuer {} is not trusted at {} (trusted from {} until {})",
                self.id,
                at.to_rfc3339(),
                self.valid_from.map_or("-".to_string(), |t| t.to_rfc3339()),
                self.valid_until.map_or("-".to_string(), |t| t.to_rfc3339()),
            )));
        }
        if let Some(ty) = ty {
            if !self.allows_type(ty) {
                return Err(CredentialError::UntrustedIssuer(format!(
                    "issuer {} may not issue type {ty:?} (allowed: {})",
                    self.id,
                    self.allowed_types.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// One trusted verification key, with how signers refer to it.
#[derive(Clone)]
pub struct TrustedKey {
    /// COSE kid: DSC → SHA-256(DER)[..8]; JWK → first 8 bytes of the raw SHA-256 RFC 7638 thumbprint.
    pub cose_kid: Vec<u8>,
    /// JWS kid: the JWK's `kid`, else the RFC 7638 thumbprint (base64url).
    pub jwt_kid: Option<String>,
    pub key: VerifyingKey,
    pub certificate: Option<SignerCertificate>,
    pub issuer: Option<TrustedIssuer>,
}

/// What a verifier trusts, and the current revocation and rule data.
///
/// Key lookups by JWS kid, thumbprint, COSE kid and issuer are map lookups:
/// the indexes below are built once, when a key is added, so that verifying
/// a credential never recomputes thumbprints or scans the whole key list.
#[derive(Clone, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    /// JWS kid or RFC 7638 thumbprint → positions in `keys`, ascending.
    by_jwt_kid: HashMap<String, Vec<usize>>,
    /// RFC 7638 thumbprint → positions in `keys`, ascending.
    by_thumbprint: HashMap<String, Vec<usize>>,
    /// COSE kid → positions in `keys`, ascending.
    by_cose_kid: HashMap<Vec<u8>, Vec<usize>>,
    /// Issuer id → positions in `keys`, ascending.
    by_issuer: HashMap<String, Vec<usize>>,
    /// Positions of the keys trusted directly, with no issuer (`--cert`), ascending.
    pinned: Vec<usize>,
    status_lists: BTreeMap<String, StatusList>,
    rules: Vec<tillit_certlogic::rule::Rule>,
    value_sets: serde_json::Map<String, serde_json::Value>,
    issued_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// Record position `at` under `name` (positions are added in ascending order, once each).
fn index<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Vec<usize>>, name: K, at: usize) {
    let list = map.entry(name).or_default();
    if list.last() != Some(&at) {
        list.push(at);
    }
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `key`. Every key is added through here, which keeps the lookup indexes complete.
    pub fn add_key(&mut self, key: TrustedKey) {
        let at = self.keys.len();
        let thumbprint = key.key.thumbprint();
        if let Some(kid) = &key.jwt_kid {
            index(&mut self.by_jwt_kid, kid.clone(), at);
        }
        index(&mut self.by_jwt_kid, thumbprint.clone(), at);
        index(&mut self.by_thumbprint, thumbprint, at);
        index(&mut self.by_cose_kid, key.cose_kid.clone(), at);
        match &key.issuer {
            Some(issuer) => index(&mut self.by_issuer, issuer.id.clone(), at),
            None => self.pinned.push(at),
        }
        self.keys.push(key);
    }

    /// The keys at the indexed positions `at`.
    fn at<'s>(&'s self, at: Option<&Vec<usize>>) -> Vec<&'s TrustedKey> {
        at.map_or_else(Vec::new, |list| {
            list.iter().filter_map(|&i| self.keys.get(i)).collect()
        })
    }

    /// Trust a DCC signer certificate directly (no issuer metadata); `cose_kid` = `cert.kid`.
    pub fn add_certificate(&mut self, cert: SignerCertificate) {
        self.add_certificate_for(cert, None);
    }

    /// Trust a signer certificate on behalf of `issuer`.
    pub fn add_certificate_for(&mut self, cert: SignerCertificate, issuer: Option<TrustedIssuer>) {
        let key = cert.key.clone();
        let thumbprint = key.thumbprint();
        self.add_key(TrustedKey {
            cose_kid: cert.kid.to_vec(),
            jwt_kid: Some(thumbprint),
            key,
            certificate: Some(cert),
            issuer,
        });
    }

    /// Trust a public JWK (a private one is reduced to its public part).
    ///
    /// When the JWK carries `x5c`, the leaf certificate defines the key (so RSA
    /// DSCs work too) and the COSE kid is the DCC one, SHA-256(DER)[..8]; if the
    /// JWK also has key members they must match the certificate.
    pub fn add_jwk(
        &mut self,
        jwk: &Jwk,
        issuer: Option<TrustedIssuer>,
    ) -> Result<(), CredentialError> {
        let public = jwk.to_public();
        if let Some(leaf) = public.x5c.as_ref().and_then(|chain| chain.first()) {
            let cert = tillit_crypto::x509::parse_certificate(leaf.as_bytes())?;
            let thumbprint = cert.key.thumbprint();
            if public.x.is_some() {
                let own = VerifyingKey::from_jwk(&Jwk {
                    x5c: None,
                    ..public.clone()
                })?;
                if own.thumbprint() != thumbprint {
                    return Err(CredentialError::UntrustedIssuer(format!(
                        "the x5c certificate of key {} holds a different key than the JWK",
                        public.kid.as_deref().unwrap_or(&thumbprint)
                    )));
                }
            }
            self.add_key(TrustedKey {
                cose_kid: cert.kid.to_vec(),
                jwt_kid: Some(public.kid.clone().unwrap_or(thumbprint)),
                key: cert.key.clone(),
                certificate: Some(cert),
                issuer,
            });
            return Ok(());
        }
        let key = VerifyingKey::from_jwk(&public)?;
        let thumbprint = key.thumbprint();
        self.add_key(TrustedKey {
            cose_kid: crate::cose::jwk_kid(&key),
            jwt_kid: Some(public.kid.clone().unwrap_or(thumbprint)),
            key,
            certificate: None,
            issuer,
        });
        Ok(())
    }

    /// Keys whose COSE kid equals `kid`.
    pub fn keys_for_cose_kid(&self, kid: &[u8]) -> Vec<&TrustedKey> {
        self.at(self.by_cose_kid.get(kid))
    }

    /// Keys whose JWS kid equals `kid`, or whose RFC 7638 thumbprint does.
    pub fn keys_for_jwt_kid(&self, kid: &str) -> Vec<&TrustedKey> {
        self.at(self.by_jwt_kid.get(kid))
    }

    /// Keys whose RFC 7638 thumbprint equals `thumbprint`.
    pub fn keys_for_thumbprint(&self, thumbprint: &str) -> Vec<&TrustedKey> {
        self.at(self.by_thumbprint.get(thumbprint))
    }

    /// Keys that belong to the issuer with id `iss`.
    pub fn keys_for_issuer(&self, iss: &str) -> Vec<&TrustedKey> {
        self.at(self.by_issuer.get(iss))
    }

    /// The keys trusted directly, with no issuer metadata (a `--cert` key or certificate): they
    /// vouch for any issuer name, so a signature that names no key may be checked against them.
    pub fn pinned_keys(&self) -> Vec<&TrustedKey> {
        self.at(Some(&self.pinned))
    }

    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The distinct issuers named by the trusted keys.
    pub fn issuers(&self) -> Vec<&TrustedIssuer> {
        let mut out: Vec<&TrustedIssuer> = Vec::new();
        for issuer in self.keys.iter().filter_map(|k| k.issuer.as_ref()) {
            if !out.iter().any(|i| i.id == issuer.id) {
                out.push(issuer);
            }
        }
        out
    }

    /// Store the current status list published at `uri`.
    pub fn set_status_list(&mut self, uri: impl Into<String>, list: StatusList) {
        self.status_lists.insert(uri.into(), list);
    }

    /// The status of entry `index` of the list at `uri`, for a credential signed by `issuer`:
    /// `Ok(Some(()))` VALID, `Ok(None)` the list is not in this store (status unknown offline),
    /// `Err` revoked, suspended, out of range, or a list the issuer does not publish.
    pub fn check_status(
        &self,
        issuer: Option<&TrustedIssuer>,
        uri: &str,
        index: u64,
    ) -> Result<Option<()>, CredentialError> {
        use crate::status_list::{STATUS_INVALID, STATUS_SUSPENDED, STATUS_VALID};
        if let Some(issuer) = issuer {
            if !issuer.status_list_uris.is_empty()
                && !issuer.status_list_uris.iter().any(|u| u == uri)
            {
                return Err(CredentialError::StatusList(format!(
                    "status list {uri} is not one the issuer {} publishes",
                    issuer.id
                )));
            }
        }
        let Some(list) = self.status_list(uri) else {
            return Ok(None);
        };
        match list.get(index) {
            None => Err(CredentialError::StatusList(format!(
                "index {index} is outside the status list {uri} ({} entries)",
                list.len()
            ))),
            Some(STATUS_VALID) => Ok(Some(())),
            Some(STATUS_INVALID) => Err(CredentialError::StatusList(
                "the credential is revoked (status INVALID)".into(),
            )),
            Some(STATUS_SUSPENDED) => Err(CredentialError::StatusList(
                "the credential is suspended (status SUSPENDED)".into(),
            )),
            Some(other) => Err(CredentialError::StatusList(format!(
                "the credential has status 0x{other:02x}, which is not VALID"
            ))),
        }
    }

    /// The status list published at `uri`, if the store has it.
    pub fn status_list(&self, uri: &str) -> Option<&StatusList> {
        self.status_lists.get(uri)
    }

    /// The URIs of all status lists in the store.
    pub fn status_list_uris(&self) -> impl Iterator<Item = &str> {
        self.status_lists.keys().map(String::as_str)
    }

    /// The status value at `index` of the list at `uri`.
    ///
    /// `None`: that list is not in the store, or the index is outside it.
    pub fn status_of(&self, uri: &str, index: u64) -> Option<u8> {
        self.status_lists.get(uri).and_then(|list| list.get(index))
    }

    /// Sets the CertLogic rules from their DCC JSON envelopes, parsed once here rather than at
    /// every verification. A value that is not a DCC rule is an error naming its position.
    pub fn set_rules(&mut self, rules: Vec<serde_json::Value>) -> Result<(), CredentialError> {
        self.rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                serde_json::from_value(value).map_err(|e| {
                    CredentialError::Rules(format!("rule {} is not a valid DCC rule: {e}", i + 1))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// The CertLogic rules (DCC rule envelopes).
    pub fn rules(&self) -> &[tillit_certlogic::rule::Rule] {
        &self.rules
    }

    pub fn set_value_sets(&mut self, value_sets: serde_json::Map<String, serde_json::Value>) {
        self.value_sets = value_sets;
    }

    pub fn value_sets(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.value_sets
    }

    /// Record when the bundle this store came from was issued and when it expires.
    pub fn set_validity(
        &mut self,
        issued_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    ) {
        self.issued_at = issued_at;
        self.expires_at = expires_at;
    }

    /// The bundle's `iat` (for "bundle age").
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        self.issued_at
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Age of the bundle at `at`, when the store came from a bundle.
    pub fn age_at(&self, at: DateTime<Utc>) -> Option<chrono::Duration> {
        self.issued_at.map(|iat| at - iat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillit_crypto::{Algorithm, SigningKey};

    /// The indexes answer exactly what a scan of the key list would, in insertion order.
    #[test]
    fn indexed_lookups_match_a_scan() {
        let keys: Vec<VerifyingKey> = (0..3)
            .map(|_| {
                SigningKey::generate(Algorithm::Es256)
                    .unwrap()
                    .verifying_key()
            })
            .collect();
        let thumb: Vec<String> = keys.iter().map(VerifyingKey::thumbprint).collect();
        let mut store = TrustStore::new();
        // 0: explicit kid "k1"; 1: kid = key 0's thumbprint; 2: no kid (thumbprint), issuer "iss-a".
        let jwk = |i: usize, kid: Option<&str>| Jwk {
            kid: kid.map(str::to_string),
            ..keys[i].to_jwk()
        };
        store.add_jwk(&jwk(0, Some("k1")), None).unwrap();
        store.add_jwk(&jwk(1, Some(&thumb[0])), None).unwrap();
        store
            .add_jwk(&jwk(2, None), Some(TrustedIssuer::new("iss-a", "A")))
            .unwrap();
        let scan = |kid: &str| -> Vec<String> {
            store
                .keys()
                .iter()
                .filter(|k| k.jwt_kid.as_deref() == Some(kid) || k.key.thumbprint() == kid)
                .map(|k| k.key.thumbprint())
                .collect()
        };
        let found = |list: Vec<&TrustedKey>| -> Vec<String> {
            list.iter().map(|k| k.key.thumbprint()).collect()
        };
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("k1", vec![thumb[0].clone()]),
            (&thumb[0], vec![thumb[0].clone(), thumb[1].clone()]),
            (&thumb[1], vec![thumb[1].clone()]),
            (&thumb[2], vec![thumb[2].clone()]),
            ("unknown", vec![]),
        ];
        for (kid, expected) in &cases {
            assert_eq!(found(store.keys_for_jwt_kid(kid)), *expected, "{kid}");
            assert_eq!(scan(kid), *expected, "scan {kid}");
        }
        for (i, t) in thumb.iter().enumerate() {
            assert_eq!(found(store.keys_for_thumbprint(t)), vec![t.clone()]);
            let cose = store.keys().get(i).unwrap().cose_kid.clone();
            assert_eq!(found(store.keys_for_cose_kid(&cose)), vec![t.clone()]);
        }
        assert_eq!(
            found(store.keys_for_issuer("iss-a")),
            vec![thumb[2].clone()]
        );
        assert!(store.keys_for_issuer("iss-b").is_empty());
        assert_eq!(
            found(store.pinned_keys()),
            vec![thumb[0].clone(), thumb[1].clone()],
            "the keys without an issuer"
        );
        assert!(store.keys_for_cose_kid(b"nope").is_empty());
    }
}
