//! EU Digital COVID Certificate (HCERT v1) specifics: the DCC payload in CWT
//! claim -260, the kinds of certificate it holds, and what a document signer
//! certificate (DSC) may sign.
//!
//! Key usage (eHealth Network, "DSC limitation"): a DSC may carry extended
//! key usage OIDs `1.3.6.1.4.1.1847.2021.1.1` (test), `.1.2` (vaccination)
//! and `.1.3` (recovery), also seen as `1.3.6.1.4.1.0.1847.2021.1.x`. A DSC
//! without an extended key usage extension may sign every kind. A DSC with the
//! extension may sign exactly the kinds whose OIDs it lists (RFC 5280
//! §4.2.1.12: a listed purpose set restricts the key), unless it lists
//! `anyExtendedKeyUsage`.
//!
//! Validity (HCERT §2.6): `iat` and `exp` are required; the DCC is valid from
//! `iat` to `exp` inclusive, and both must lie within the DSC's validity.

use chrono::{DateTime, Utc};
use ciborium::Value;
use tillit_crypto::x509::SignerCertificate;

use crate::cwt::{self, Claims, HCERT_CLAIM};
use crate::error::CredentialError;

/// The kinds of DCC entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DccKind {
    /// `t`: a test result.
    Test,
    /// `v`: a vaccination.
    Vaccination,
    /// `r`: a recovery.
    Recovery,
}

impl DccKind {
    /// The payload member holding entries of this kind.
    pub fn member(self) -> &'static str {
        match self {
            Self::Test => "t",
            Self::Vaccination => "v",
            Self::Recovery => "r",
        }
    }

    /// The `CertificateType` of DCC business rules.
    pub fn rule_type(self) -> &'static str {
        match self {
            Self::Test => "Test",
            Self::Vaccination => "Vaccination",
            Self::Recovery => "Recovery",
        }
    }

    /// The extended key usage OIDs that allow a DSC to sign this kind.
    pub fn oids(self) -> [&'static str; 2] {
        match self {
            Self::Test => ["1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"],
            Self::Vaccination => ["1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"],
            Self::Recovery => ["1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"],
        }
    }

    const ALL: [DccKind; 3] = [Self::Test, Self::Vaccination, Self::Recovery];
}

/// `anyExtendedKeyUsage` (RFC 5280 §4.2.1.12).
const ANY_EKU: &str = "2.5.29.37.0";

fn malformed(reason: impl Into<String>) -> CredentialError {
    CredentialError::malformed("HCERT payload", reason)
}

/// The DCC (`eu_dcc_v1`, member 1 of claim -260) of a CWT.
pub fn dcc_payload(claims: &Claims) -> Result<&Value, CredentialError> {
    let hcert = claims
        .extra_claim(HCERT_CLAIM)
        .ok_or_else(|| malformed("claim -260 (hcert) is missing; this is not an EU DCC"))?;
    let Value::Map(entries) = hcert else {
        return Err(malformed("claim -260 (hcert) is not a map"));
    };
    entries
        .iter()
        .find(|(k, _)| cwt::int_label(k) == Some(1))
        .map(|(_, v)| v)
        .ok_or_else(|| malformed("claim -260 has no eu_dcc_v1 (key 1)"))
}

/// The DCC as JSON, for the report and for business rules.
pub fn dcc_json(claims: &Claims) -> Result<serde_json::Value, CredentialError> {
    let dcc = dcc_payload(claims)?;
    if !matches!(dcc, Value::Map(_)) {
        return Err(malformed("eu_dcc_v1 is not a map"));
    }
    cwt::cbor_to_json(dcc)
}

/// The kinds of entry present in a DCC (a member `t`, `v` or `r` that is present).
pub fn kinds(dcc: &Value) -> Vec<DccKind> {
    DccKind::ALL
        .into_iter()
        .filter(|k| cwt::text_member(dcc, k.member()).is_some())
        .collect()
}

/// The kinds a DSC may sign, from its extended key usage OIDs.
pub fn allowed_kinds(extended_key_usages: &[String]) -> Vec<DccKind> {
    if extended_key_usages.is_empty() || extended_key_usages.iter().any(|o| o == ANY_EKU) {
        return DccKind::ALL.to_vec();
    }
    DccKind::ALL
        .into_iter()
        .filter(|k| {
            k.oids()
                .iter()
                .any(|oid| extended_key_usages.iter().any(|e| e == oid))
        })
        .collect()
}

/// Check that `cert` may sign every kind of entry in `dcc`.
pub fn check_key_usage(cert: &SignerCertificate, dcc: &Value) -> Result<(), CredentialError> {
    let present = kinds(dcc);
    if present.is_empty() {
        return Err(malformed(
            "the DCC holds no test (t), vaccination (v) or recovery (r) entry",
        ));
    }
    let allowed = allowed_kinds(&cert.extended_key_usages);
    let refused: Vec<&str> = present
        .iter()
        .filter(|k| !allowed.contains(k))
        .map(|k| k.rule_type())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(CredentialError::UntrustedIssuer(format!(
            "the signing certificate {} may not sign {} certificates (its extended key usages: {})",
            cert.subject,
            refused.join(" and ").to_lowercase(),
            cert.extended_key_usages.join(", ")
        )))
    }
}

use crate::verify::fmt_time;

/// HCERT validity at `at`: `iat` ≤ `at` ≤ `exp` (and `nbf` ≤ `at` if present); with a DSC,
/// also `not_before` ≤ `iat` and `exp` ≤ `not_after`.
pub fn check_validity(
    claims: &Claims,
    at: DateTime<Utc>,
    cert: Option<&SignerCertificate>,
) -> Result<(), CredentialError> {
    let now = at.timestamp();
    let iat = claims
        .iat
        .ok_or_else(|| malformed("iat (6) is missing; HCERT requires it"))?;
    let exp = claims
        .exp
        .ok_or_else(|| malformed("exp (4) is missing; HCERT requires it"))?;
    if now > exp {
        return Err(CredentialError::Expired {
            expired_at: fmt_time(exp),
            at: at.to_rfc3339(),
        });
    }
    for from in [Some(iat), claims.nbf].into_iter().flatten() {
        if now < from {
            return Err(CredentialError::NotYetValid {
                valid_from: fmt_time(from),
                at: at.to_rfc3339(),
            });
        }
    }
    if let Some(cert) = cert {
        if iat < cert.not_before.timestamp() {
            return Err(CredentialError::UntrustedIssuer(format!(
                "issued at {} before its signing certificate became valid ({})",
                fmt_time(iat),
                cert.not_before.to_rfc3339()
            )));
        }
        if exp > cert.not_after.timestamp() {
            return Err(CredentialError::UntrustedIssuer(format!(
                "valid until {} but its signing certificate expires at {}",
                fmt_time(exp),
                cert.not_after.to_rfc3339()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn allowed_kinds_table() {
        use DccKind::*;
        let cases: &[(&[&str], &[DccKind])] = &[
            (&[], &[Test, Vaccination, Recovery]),
            (&["1.3.6.1.4.1.1847.2021.1.1"], &[Test]),
            (&["1.3.6.1.4.1.0.1847.2021.1.2"], &[Vaccination]),
            (
                &["1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.1"],
                &[Test, Recovery],
            ),
            (&["2.23.136.1.1.14.2"], &[]),
            (
                &["1.3.6.1.5.5.7.3.2", "2.5.29.37.0"],
                &[Test, Vaccination, Recovery],
            ),
            (&["1.3.6.1.4.1.1847.2021.1.4"], &[]),
        ];
        for (ekus, want) in cases {
            assert_eq!(allowed_kinds(&s(ekus)), *want, "{ekus:?}");
        }
    }

    #[test]
    fn kinds_of_payload() {
        let dcc = Value::Map(vec![
            (Value::Text("ver".into()), Value::Text("1.3.0".into())),
            (Value::Text("v".into()), Value::Array(vec![])),
            (Value::Text("r".into()), Value::Array(vec![])),
        ]);
        assert_eq!(kinds(&dcc), vec![DccKind::Vaccination, DccKind::Recovery]);
    }

    #[test]
    fn validity_table() {
        let at = DateTime::<Utc>::from_timestamp(1000, 0).unwrap();
        let c = |iat: Option<i64>, exp: Option<i64>, nbf: Option<i64>| Claims {
            iat,
            exp,
            nbf,
            ..Claims::default()
        };
        let cases = [
            (c(Some(900), Some(1100), None), true),
            (c(Some(1000), Some(1000), None), true),
            (c(Some(1001), Some(1100), None), false),
            (c(Some(900), Some(999), None), false),
            (c(Some(900), Some(1100), Some(1001)), false),
            (c(None, Some(1100), None), false),
            (c(Some(900), None, None), false),
        ];
        for (claims, ok) in cases {
            assert_eq!(check_validity(&claims, at, None).is_ok(), ok, "{claims:?}");
        }
    }
}
