//! The DCC business rule envelope (*affärsregel*): a CertLogic expression with its identity,
//! scope and validity, as the EU DCC gateway distributes it, and its evaluation against a
//! certificate payload and the verifier's external parameters.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{datetime, CertLogicError};

/// Whether a rule accepts certificates (country of arrival) or invalidates them (issuer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleType {
    Acceptance,
    Invalidation,
}

/// One language's description of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    pub lang: String,
    pub desc: String,
}

/// A DCC business rule, with the JSON field names of the DCC rule schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(rename = "Identifier")]
    pub identifier: String,
    #[serde(rename = "Type")]
    pub rule_type: RuleType,
    /// ISO 3166-1 alpha-2 code of the country that publishes the rule.
    #[serde(rename = "Country")]
    pub country: String,
    /// Semantic version (`1.0.0`); the highest valid version of an identifier applies.
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "SchemaVersion")]
    pub schema_version: String,
    /// `CERTLOGIC` (compared case-insensitively).
    #[serde(rename = "Engine")]
    pub engine: String,
    #[serde(rename = "EngineVersion")]
    pub engine_version: String,
    /// `General`, `Test`, `Vaccination` or `Recovery`.
    #[serde(rename = "CertificateType")]
    pub certificate_type: String,
    #[serde(rename = "Description")]
    pub description: Vec<Description>,
    #[serde(rename = "ValidFrom")]
    pub valid_from: DateTime<Utc>,
    #[serde(rename = "ValidTo")]
    pub valid_to: DateTime<Utc>,
    #[serde(rename = "AffectedFields")]
    pub affected_fields: Vec<String>,
    #[serde(rename = "Logic")]
    pub logic: Value,
    #[serde(rename = "Region", default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The verifier's external parameters, as the rule's `external` data (camelCase JSON names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct External {
    /// Value sets by id, e.g. `"disease-agent-targeted"`: a rule tests `in` against their keys.
    #[serde(default)]
    pub value_sets: Map<String, Value>,
    /// The instant of validation, with the offset it was given in.
    pub validation_clock: DateTime<FixedOffset>,
    /// Country of the verifier (country of arrival).
    pub country_code: String,
    /// The certificate's expiry (CWT `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<DateTime<FixedOffset>>,
    /// The certificate's issuing time (CWT `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_country_code: Option<String>,
    /// Base64 key id of the signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl External {
    /// The JSON form a rule sees as `external`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The result of one rule for one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RuleOutcome {
    /// The logic evaluated to `true`.
    Passed,
    /// The logic evaluated to `false`.
    Failed,
    /// The rule could not be decided: the logic is invalid, failed to evaluate, returned a
    /// non-boolean, or the engine is not CertLogic. Treat as not passed.
    Open { reason: String },
    /// The validation clock lies outside `ValidFrom`..=`ValidTo`: the rule does not apply.
    NotApplicable { reason: String },
}

impl RuleOutcome {
    /// `"passed"`, `"failed"`, `"open"` or `"not-applicable"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleOutcome::Passed => "passed",
            RuleOutcome::Failed => "failed",
            RuleOutcome::Open { .. } => "open",
            RuleOutcome::NotApplicable { .. } => "not-applicable",
        }
    }
}

/// Reads `external.validationClock` with the CertLogic date-time parser.
fn validation_clock(external: &Value) -> Result<DateTime<Utc>, CertLogicError> {
    let text = external
        .get("validationClock")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            CertLogicError::InvalidExternal("\"validationClock\" must be a date-time string".into())
        })?;
    let instant = datetime::DateTime::parse(text)
        .map_err(|e| CertLogicError::InvalidExternal(format!("\"validationClock\": {e}")))?;
    DateTime::<Utc>::from_timestamp_millis(instant.millis()).ok_or_else(|| {
        CertLogicError::InvalidExternal("\"validationClock\" is out of range".into())
    })
}

/// Evaluates `rule` with the data `{"payload": payload, "external": external}`.
///
/// Errors are for unusable inputs (`external` not an object, `validationClock` missing or not a
/// date-time); everything about the rule's own logic is reported as an outcome.
pub fn run(rule: &Rule, payload: &Value, external: &Value) -> Result<RuleOutcome, CertLogicError> {
    if !external.is_object() {
        return Err(CertLogicError::InvalidExternal(
            "the external parameters must be a JSON object".into(),
        ));
    }
    let clock = validation_clock(external)?;
    if clock < rule.valid_from {
        return Ok(RuleOutcome::NotApplicable {
            reason: format!(
                "rule {} is valid from {}",
                rule.identifier,
                rule.valid_from.to_rfc3339()
            ),
        });
    }
    if clock > rule.valid_to {
        return Ok(RuleOutcome::NotApplicable {
            reason: format!(
                "rule {} was valid until {}",
                rule.identifier,
                rule.valid_to.to_rfc3339()
            ),
        });
    }
    if !rule.engine.eq_ignore_ascii_case("CERTLOGIC") {
        return Ok(RuleOutcome::Open {
            reason: format!("unsupported rule engine {:?}", rule.engine),
        });
    }
    let mut data = Map::new();
    data.insert("payload".to_owned(), payload.clone());
    data.insert("external".to_owned(), external.clone());
    Ok(match crate::evaluate(&rule.logic, &Value::Object(data)) {
        Ok(Value::Bool(true)) => RuleOutcome::Passed,
        Ok(Value::Bool(false)) => RuleOutcome::Failed,
        Ok(other) => RuleOutcome::Open {
            reason: format!("the logic evaluated to {other}, not a boolean"),
        },
        Err(e) => RuleOutcome::Open {
            reason: e.to_string(),
        },
    })
}

/// Compares semantic versions numerically part by part (`1.10.0` > `1.9.0`); non-numeric parts
/// compare as text.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| -> Vec<(u64, String)> {
        v.split(['.', '-', '+'])
            .map(|p| (p.parse().unwrap_or(0), p.to_owned()))
            .collect()
    };
    key(a).cmp(&key(b))
}

/// The rules that apply to a certificate of `certificate_type` checked in `country` at `at`:
/// those of that country (case-insensitive), of that type or `General`, valid at `at`
/// (`ValidFrom` ≤ `at` ≤ `ValidTo`), and of each `Identifier` only the highest such `Version`.
/// Returned in the order of `rules`.
pub fn applicable<'a>(
    rules: &'a [Rule],
    country: &str,
    certificate_type: &str,
    at: DateTime<Utc>,
) -> Vec<&'a Rule> {
    let candidates: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.country.eq_ignore_ascii_case(country))
        .filter(|r| {
            r.certificate_type.eq_ignore_ascii_case(certificate_type)
                || r.certificate_type.eq_ignore_ascii_case("General")
        })
        .filter(|r| r.valid_from <= at && at <= r.valid_to)
        .collect();
    latest_versions(candidates)
}

/// Of each `Identifier` among `candidates`, only the rule with the highest `Version`, in the order
/// of `candidates`.
pub fn latest_versions(candidates: Vec<&Rule>) -> Vec<&Rule> {
    let mut latest: HashMap<&str, &Rule> = HashMap::new();
    for rule in &candidates {
        let entry = latest.entry(rule.identifier.as_str()).or_insert(rule);
        if compare_versions(&rule.version, &entry.version).is_gt() {
            *entry = rule;
        }
    }
    candidates
        .into_iter()
        .filter(|r| {
            latest
                .get(r.identifier.as_str())
                .is_some_and(|best| std::ptr::eq(*best, *r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(
        identifier: &str,
        version: &str,
        certificate_type: &str,
        from: &str,
        to: &str,
        logic: Value,
    ) -> Rule {
        serde_json::from_value(json!({
            "Identifier": identifier, "Type": "Acceptance", "Country": "SE", "Version": version,
            "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
            "CertificateType": certificate_type,
            "Description": [{"lang": "en", "desc": "test rule"}],
            "ValidFrom": from, "ValidTo": to, "AffectedFields": ["v.0.dn", "v.0.sd"], "Logic": logic
        }))
        .unwrap()
    }

    fn external(clock: &str) -> Value {
        json!({"validationClock": clock, "countryCode": "SE",
               "valueSets": {"covid-19-lab-test-type": ["LP6464-4", "LP217198-3"]}})
    }

    #[test]
    fn run_table() {
        let complete = json!({"if": [{"var": "payload.v.0"}, {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]}, true]});
        let recent = json!({"not-after": [{"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
                                          {"plusTime": [{"var": "payload.v.0.dt"}, 270, "day"]}]});
        let lab = json!({"in": [{"var": "payload.t.0.tt"}, {"var": "external.valueSets.covid-19-lab-test-type"}]});
        let from = "2021-06-01T00:00:00Z";
        let to = "2030-06-01T00:00:00+02:00";
        let vaccinated = json!({"v": [{"dn": 2, "sd": 2, "dt": "2021-06-01"}]});
        let partial = json!({"v": [{"dn": 1, "sd": 2, "dt": "2021-06-01"}]});
        let tested = json!({"t": [{"tt": "LP6464-4"}]});
        let cases = [
            (
                complete.clone(),
                vaccinated.clone(),
                "2021-07-01T00:00:00Z",
                "passed",
            ),
            (
                complete.clone(),
                partial.clone(),
                "2021-07-01T00:00:00Z",
                "failed",
            ),
            (
                complete.clone(),
                json!({}),
                "2021-07-01T00:00:00Z",
                "passed",
            ),
            (
                complete.clone(),
                vaccinated.clone(),
                "2021-05-31T23:59:59Z",
                "not-applicable",
            ),
            (
                complete.clone(),
                vaccinated.clone(),
                "2030-05-31T22:00:00.001Z",
                "not-applicable",
            ),
            (
                complete,
                vaccinated.clone(),
                "2030-06-01T00:00:00+02:00",
                "passed",
            ),
            (
                recent.clone(),
                vaccinated.clone(),
                "2022-02-26T00:00:00Z",
                "passed",
            ),
            (
                recent.clone(),
                vaccinated.clone(),
                "2022-02-26T00:00:00.001Z",
                "failed",
            ),
            (recent, tested.clone(), "2021-07-01T00:00:00Z", "open"),
            (lab.clone(), tested, "2021-07-01T00:00:00Z", "passed"),
            (
                lab,
                json!({"t": [{"tt": "other"}]}),
                "2021-07-01T00:00:00Z",
                "failed",
            ),
            (
                json!({"var": "payload.v.0.dn"}),
                vaccinated.clone(),
                "2021-07-01T00:00:00Z",
                "open",
            ),
            (
                json!({"or": [true]}),
                vaccinated,
                "2021-07-01T00:00:00Z",
                "open",
            ),
        ];
        for (logic, payload, clock, expected) in cases {
            let r = rule(
                "GR-SE-0001",
                "1.0.0",
                "Vaccination",
                from,
                to,
                logic.clone(),
            );
            let outcome = run(&r, &payload, &external(clock)).unwrap();
            assert_eq!(
                outcome.as_str(),
                expected,
                "{logic} on {payload} at {clock}: {outcome:?}"
            );
        }
    }

    #[test]
    fn run_rejects_unusable_external_parameters() {
        let r = rule(
            "GR-SE-0001",
            "1.0.0",
            "General",
            "2021-06-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
            json!(true),
        );
        for external in [
            json!(null),
            json!({}),
            json!({"validationClock": 5}),
            json!({"validationClock": "yesterday"}),
        ] {
            assert!(
                matches!(
                    run(&r, &json!({}), &external),
                    Err(CertLogicError::InvalidExternal(_))
                ),
                "{external}"
            );
        }
        let mut other = r.clone();
        other.engine = "JSONLOGIC".into();
        assert_eq!(
            run(&other, &json!({}), &external("2022-01-01T00:00:00Z"))
                .unwrap()
                .as_str(),
            "open"
        );
    }

    #[test]
    fn external_serialises_with_dcc_names() {
        let value = external("2021-07-01T12:00:00+02:00");
        let parsed: External = serde_json::from_value(value).unwrap();
        let back = parsed.to_value();
        assert_eq!(back["validationClock"], json!("2021-07-01T12:00:00+02:00"));
        assert_eq!(back["countryCode"], json!("SE"));
        assert!(back["valueSets"]["covid-19-lab-test-type"].is_array());
    }

    #[test]
    fn applicable_picks_the_latest_valid_version() {
        let rules = vec![
            rule(
                "VR-SE-0001",
                "1.0.0",
                "Vaccination",
                "2021-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "VR-SE-0001",
                "1.10.0",
                "Vaccination",
                "2021-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "VR-SE-0001",
                "1.9.0",
                "Vaccination",
                "2021-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "VR-SE-0001",
                "2.0.0",
                "Vaccination",
                "2025-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "GR-SE-0001",
                "1.0.0",
                "General",
                "2021-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "TR-SE-0001",
                "1.0.0",
                "Test",
                "2021-01-01T00:00:00Z",
                "2030-01-01T00:00:00Z",
                json!(true),
            ),
            rule(
                "VR-SE-0002",
                "1.0.0",
                "Vaccination",
                "2021-01-01T00:00:00Z",
                "2022-01-01T00:00:00Z",
                json!(true),
            ),
        ];
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let ids = |picked: Vec<&Rule>| {
            picked
                .iter()
                .map(|r| format!("{}@{}", r.identifier, r.version))
                .collect::<Vec<_>>()
        };
        let cases = [
            (
                "SE",
                "Vaccination",
                "2021-06-01T00:00:00Z",
                vec!["VR-SE-0001@1.10.0", "GR-SE-0001@1.0.0", "VR-SE-0002@1.0.0"],
            ),
            (
                "se",
                "vaccination",
                "2026-06-01T00:00:00Z",
                vec!["VR-SE-0001@2.0.0", "GR-SE-0001@1.0.0"],
            ),
            (
                "SE",
                "Test",
                "2021-06-01T00:00:00Z",
                vec!["GR-SE-0001@1.0.0", "TR-SE-0001@1.0.0"],
            ),
            ("DK", "Vaccination", "2021-06-01T00:00:00Z", vec![]),
            ("SE", "Vaccination", "2020-06-01T00:00:00Z", vec![]),
        ];
        for (country, kind, when, expected) in cases {
            assert_eq!(
                ids(applicable(&rules, country, kind, at(when))),
                expected,
                "{country} {kind} {when}"
            );
        }
    }
}
