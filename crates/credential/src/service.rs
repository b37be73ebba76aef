//! The attestation service's domain rules, without I/O: what an attestation type is, how a
//! holder's claims are checked against it, and the lifecycle of an issued attestation (valid,
//! suspended, revoked) with its Token Status List value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::CredentialError;
use crate::sdjwt::ClaimPath;

/// Longest accepted type slug, in bytes.
const MAX_SLUG: usize = 64;
/// Longest default validity, in days (ten years).
const MAX_VALIDITY_DAYS: u32 = 3_660;

/// Display names of a type in the four languages of Tillit (sv, da, nb, en).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DisplayNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub da: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

/// The formats an attestation type can be issued in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueFormat {
    /// SD-JWT VC (`dc+sd-jwt`) for EU wallets.
    SdJwtVc,
    /// The offline `TL1:` QR code.
    Qr,
}

/// Information classification (informationsklassning, seed 001): 1 (low) to 4 (very high) for
/// each of confidentiality, integrity, availability and traceability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    pub confidentiality: u8,
    pub integrity: u8,
    pub availability: u8,
    pub traceability: u8,
}

impl Default for Classification {
    fn default() -> Self {
        Self {
            confidentiality: 2,
            integrity: 3,
            availability: 2,
            traceability: 3,
        }
    }
}

/// An attestation type (intygstyp) as an issuer defines it. A new version of a type never
/// changes what was issued under an older one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeDefinition {
    /// Display names (at least one).
    pub display: DisplayNames,
    /// JSON Schema (2020-12) of the claims; enforced at issuance.
    pub claims_schema: Value,
    /// Top-level claims that are selectively disclosable in the SD-JWT VC.
    #[serde(default)]
    pub disclosable: Vec<String>,
    /// How long an attestation is valid when the request does not say, in days.
    pub default_validity_days: u32,
    /// Which formats an issuance produces (at least one).
    pub formats: Vec<IssueFormat>,
    /// Claims printed on the card, in order (default: none).
    #[serde(default)]
    pub card_fields: Vec<String>,
    /// The information classification.
    #[serde(default)]
    pub classification: Classification,
}

/// One problem with a request, named by its field (a JSON pointer into the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a type's slug: 1–64 of `a-z`, `0-9` and `-`, starting with a letter (it becomes part of
/// the `vct` URL).
pub fn check_slug(slug: &str) -> Result<(), FieldProblem> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(problem(
            "/slug",
            format!("must be 1-{MAX_SLUG} of a-z, 0-9 and -, starting with a letter"),
        ))
    }
}

impl TypeDefinition {
    /// Every problem with the definition: no display name, a claims schema that does not
    /// compile or does not describe an object, disclosable or card claims the schema does not
    /// name, reserved claim names, a validity out of range, no format, a classification out of
    /// 1–4.
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let d = &self.display;
        let names = [&d.sv, &d.da, &d.nb, &d.en];
        if names.iter().all(|n| n.as_deref().is_none_or(str::is_empty)) {
            problems.push(problem("/display", "give at least one display name"));
        }
        if let Err(e) = jsonschema::draft202012::new(&self.claims_schema) {
            problems.push(problem(
                "/claims_schema",
                format!("not a valid JSON Schema: {e}"),
            ));
        }
        if self.claims_schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(problem(
                "/claims_schema/type",
                "the claims schema must describe an object (\"type\": \"object\")",
            ));
        }
        let known: Vec<&str> = self
            .claims_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for name in &known {
            if RESERVED.contains(name) {
                problems.push(problem(
                    format!("/claims_schema/properties/{name}"),
                    format!("{name:?} is set by Tillit; choose another claim name"),
                ));
            }
        }
        for (list, field) in [
            (&self.disclosable, "disclosable"),
            (&self.card_fields, "card_fields"),
        ] {
            for (i, name) in list.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    problems.push(problem(
                        format!("/{field}/{i}"),
                        format!("{name:?} is not a property of the claims schema"),
                    ));
                }
            }
        }
        if self.default_validity_days == 0 || self.default_validity_days > MAX_VALIDITY_DAYS {
            problems.push(problem(
                "/default_validity_days",
                format!("must be 1 to {MAX_VALIDITY_DAYS} days"),
            ));
        }
        if self.formats.is_empty() {
            problems.push(problem("/formats", "give at least one format"));
        }
        let c = self.classification;
        for (value, name) in [
            (c.confidentiality, "confidentiality"),
            (c.integrity, "integrity"),
            (c.availability, "availability"),
            (c.traceability, "traceability"),
        ] {
            if !(1..=4).contains(&value) {
                problems.push(problem(format!("/classification/{name}"), "must be 1 to 4"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Checks a holder's claims against the type's schema; every violation is named by its JSON
    /// pointer under `/claims`.
    pub fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), Vec<FieldProblem>> {
        let validator = jsonschema::draft202012::new(&self.claims_schema).map_err(|e| {
            vec![problem(
                "/claims",
                format!("the type's claims schema does not compile: {e}"),
            )]
        })?;
        let instance = Value::Object(claims.clone());
        let problems: Vec<FieldProblem> = validator
            .iter_errors(&instance)
            .map(|e| problem(format!("/claims{}", e.instance_path()), e.to_string()))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The disclosable claims as SD-JWT claim paths.
    pub fn disclosable_paths(&self) -> Result<Vec<ClaimPath>, CredentialError> {
        self.disclosable
            .iter()
            .map(|n| ClaimPath::parse(n))
            .collect()
    }

    /// The disclosable claims that `claims` holds: an optional disclosable claim that an
    /// attestation leaves out is simply not there to disclose.
    pub fn disclosable_paths_in(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Vec<ClaimPath>, CredentialError> {
        let claims = Value::Object(claims.clone());
        Ok(self
            .disclosable_paths()?
            .into_iter()
            .filter(|p| p.is_present_in(&claims))
            .collect())
    }

    /// The display name in `lang` (sv, da, nb, en), else the first one given.
    pub fn display_name(&self, lang: &str) -> &str {
        let d = &self.display;
        let preferred = match lang {
            "sv" => &d.sv,
            "da" => &d.da,
            "nb" => &d.nb,
            _ => &d.en,
        };
        preferred
            .as_deref()
            .or(d.sv.as_deref())
            .or(d.da.as_deref())
            .or(d.nb.as_deref())
            .or(d.en.as_deref())
            .unwrap_or("")
    }
}

/// Claim names Tillit sets in the credential envelope.
const RESERVED: &[&str] = &[
    "iss", "sub", "iat", "nbf", "exp", "cnf", "vct", "status", "_sd", "_sd_alg", "jti",
];

/// The status of an issued attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationStatus {
    Valid,
    Suspended,
    Revoked,
}

/// A change of status an issuer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusChange {
    Revoke,
    Suspend,
    Reinstate,
}

impl AttestationStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "valid" => Some(Self::Valid),
            "suspended" => Some(Self::Suspended),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }

    /// The Token Status List value: 0x00 VALID, 0x01 INVALID, 0x02 SUSPENDED.
    pub fn list_value(self) -> u8 {
        match self {
            Self::Valid => 0,
            Self::Revoked => 1,
            Self::Suspended => 2,
        }
    }

    /// The status after `change`: revocation is final; only a valid attestation can be
    /// suspended and only a suspended one reinstated. Revoking a revoked one, suspending a
    /// suspended one, reinstating a valid one: no change (idempotent retries).
    pub fn apply(self, change: StatusChange) -> Result<Self, String> {
        use AttestationStatus::*;
        match (self, change) {
            (Revoked, StatusChange::Revoke) => Ok(Revoked),
            (Revoked, _) => Err("the attestation is revoked; revocation is final".into()),
            (_, StatusChange::Revoke) => Ok(Revoked),
            (Valid | Suspended, StatusChange::Suspend) => Ok(Suspended),
            (Valid | Suspended, StatusChange::Reinstate) => Ok(Valid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parking() -> TypeDefinition {
        serde_json::from_value(json!({
            "display": {"sv": "Parkeringstillstånd", "en": "Parking permit"},
            "claims_schema": {
                "type": "object",
                "required": ["plate", "zone"],
                "properties": {
                    "plate": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{2}[0-9A-Z]$"},
                    "zone": {"type": "string", "enum": ["A", "B", "C"]},
                    "holder": {"type": "string"}
                },
                "additionalProperties": false
            },
            "disclosable": ["holder"],
            "default_validity_days": 365,
            "formats": ["sd-jwt-vc", "qr"]
        }))
        .unwrap()
    }

    #[test]
    fn definitions_are_checked_field_by_field() {
        assert_eq!(parking().check(), Ok(()));
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"display": {}}), vec!["/display"]),
            (
                json!({"claims_schema": {"type": "array"}, "disclosable": []}),
                vec!["/claims_schema/type"],
            ),
            (json!({"disclosable": ["nope"]}), vec!["/disclosable/0"]),
            (
                json!({"card_fields": ["plate", "x"]}),
                vec!["/card_fields/1"],
            ),
            (
                json!({"default_validity_days": 0}),
                vec!["/default_validity_days"],
            ),
            (json!({"formats": []}), vec!["/formats"]),
            (
                json!({"classification": {"confidentiality": 5, "integrity": 0, "availability": 1, "traceability": 4}}),
                vec![
                    "/classification/confidentiality",
                    "/classification/integrity",
                ],
            ),
            (
                json!({"claims_schema": {"type": "object", "properties": {"exp": {}}}, "disclosable": []}),
                vec!["/claims_schema/properties/exp"],
            ),
        ];
        for (change, fields) in cases {
            let mut v = serde_json::to_value(parking()).unwrap();
            for (k, val) in change.as_object().unwrap() {
                v[k] = val.clone();
            }
            let def: TypeDefinition = serde_json::from_value(v).unwrap();
            let got: Vec<String> = def
                .check()
                .unwrap_err()
                .into_iter()
                .map(|p| p.field)
                .collect();
            assert_eq!(got, fields, "{change}");
        }
    }

    #[test]
    fn claims_are_checked_against_the_schema() {
        let def = parking();
        let ok = json!({"plate": "ABC12D", "zone": "A", "holder": "Kalle Anka"});
        assert_eq!(def.check_claims(ok.as_object().unwrap()), Ok(()));
        let cases = [
            (json!({"zone": "A"}), "/claims"),
            (json!({"plate": "abc", "zone": "A"}), "/claims/plate"),
            (json!({"plate": "ABC12D", "zone": "Q"}), "/claims/zone"),
            (json!({"plate": "ABC12D", "zone": "A", "x": 1}), "/claims"),
        ];
        for (claims, field) in cases {
            let problems = def.check_claims(claims.as_object().unwrap()).unwrap_err();
            assert!(
                problems.iter().any(|p| p.field == field),
                "{claims}: {problems:?}"
            );
        }
    }

    #[test]
    fn slugs() {
        for ok in ["parking-permit", "p", "hunting-licence-2"] {
            assert_eq!(check_slug(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Parking", "1abc", "a b", "å", &"a".repeat(65)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifecycle() {
        use AttestationStatus::*;
        use StatusChange::*;
        let cases = [
            (Valid, Revoke, Ok(Revoked)),
            (Valid, Suspend, Ok(Suspended)),
            (Valid, Reinstate, Ok(Valid)),
            (Suspended, Reinstate, Ok(Valid)),
            (Suspended, Revoke, Ok(Revoked)),
            (Suspended, Suspend, Ok(Suspended)),
            (Revoked, Revoke, Ok(Revoked)),
            (Revoked, Reinstate, Err(())),
            (Revoked, Suspend, Err(())),
        ];
        for (from, change, to) in cases {
            assert_eq!(
                from.apply(change).map_err(|_| ()),
                to,
                "{from:?} {change:?}"
            );
        }
        assert_eq!(
            [Valid, Revoked, Suspended].map(AttestationStatus::list_value),
            [0, 1, 2]
        );
        assert_eq!(parking().display_name("da"), "Parkeringstillstånd");
        assert_eq!(parking().display_name("en"), "Parking permit");
    }
}
