//! `tillit rules eval` and `tillit rules run`: CertLogic expressions and DCC business rules,
//! evaluated offline. Each prints one JSON line `{"result": …}`. `rules run` exits 0 when the
//! rule passed or does not apply, 1 when it failed or stayed open, as `verify` does for validity.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tillit_certlogic::rule::{self, Rule, RuleOutcome};

use super::common::{self, read_json};

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Evaluate a CertLogic expression against a data document; prints {"result": VALUE}.
    Eval {
        /// The CertLogic expression (JSON file, `-` for standard input).
        #[arg(long, value_name = "FILE")]
        logic: PathBuf,
        /// The data document the expression reads with `var` (JSON file, `-` for standard input).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// Run a DCC business rule against a certificate payload; prints
    /// {"result": "passed"|"failed"|"open"|"not-applicable"} (with a "reason" unless passed/failed);
    /// exit 0 when passed or not applicable, 1 when failed or open.
    Run {
        /// The rule envelope (`Identifier`, `Type`, `Country`, `Version`, …, `Logic`) as JSON.
        #[arg(long, value_name = "FILE")]
        rule: PathBuf,
        /// The DCC payload (the HCERT's `-260`/`1` object: `ver`, `nam`, `dob`, `v`|`t`|`r`).
        #[arg(long, value_name = "FILE")]
        payload: PathBuf,
        /// External parameters (`validationClock`, `countryCode`, `valueSets`, `exp`, `iat`, …).
        /// What the file leaves out (or all, without the file) defaults as without it: validation
        /// clock now (or --at), country code the rule's country, no value sets.
        #[arg(long, value_name = "FILE")]
        external: Option<PathBuf>,
        /// The validation clock (RFC 3339; no offset = UTC); default: the file's
        /// `validationClock`, else now. Given, it replaces the file's.
        #[arg(long, value_name = "RFC3339", value_parser = common::parse_time)]
        at: Option<DateTime<Utc>>,
    },
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    let output = match cmd {
        RulesCommand::Eval { logic, data } => {
            let logic = read_json(&logic, "--logic")?;
            let data = read_json(&data, "--data")?;
            let result = tillit_certlogic::evaluate(&logic, &data)?;
            json!({ "result": result })
        }
        RulesCommand::Run {
            rule,
            payload,
            external,
            at,
        } => {
            let rule: Rule = serde_json::from_value(read_json(&rule, "--rule")?)
                .context("--rule is not a DCC rule (expected Identifier, Type, Country, Version, SchemaVersion, Engine, EngineVersion, CertificateType, Description, ValidFrom, ValidTo, AffectedFields, Logic)")?;
            let payload = read_json(&payload, "--payload")?;
            let external = match external {
                Some(path) => match read_json(&path, "--external")? {
                    Value::Object(map) => map,
                    _ => anyhow::bail!(
                        "--external: {} must hold a JSON object of external parameters",
                        path.display()
                    ),
                },
                None => Map::new(),
            };
            let external = with_defaults(external, &rule, at);
            let outcome = rule::run(&rule, &payload, &external)?;
            println!("{}", outcome_json(&outcome));
            return Ok(match outcome {
                RuleOutcome::Passed | RuleOutcome::NotApplicable { .. } => ExitCode::SUCCESS,
                RuleOutcome::Failed | RuleOutcome::Open { .. } => ExitCode::from(1),
            });
        }
    };
    println!("{output}");
    Ok(ExitCode::SUCCESS)
}

/// The external parameters with what they leave out filled in, the same with or without
/// `--external`: `validationClock` = `at` (which replaces the file's) or now, `countryCode` = the
/// rule's country, `valueSets` = none. 892 of the 1,364 published EU business-rule tests carry no
/// `validationClock`.
fn with_defaults(
    mut external: Map<String, Value>,
    rule: &Rule,
    at: Option<DateTime<Utc>>,
) -> Value {
    let clock = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    match at {
        Some(at) => {
            external.insert("validationClock".into(), clock(at));
        }
        None => {
            external
                .entry("validationClock")
                .or_insert_with(|| clock(Utc::now()));
        }
    }
    external
        .entry("countryCode")
        .or_insert_with(|| Value::String(rule.country.clone()));
    external
        .entry("valueSets")
        .or_insert_with(|| Value::Object(Map::new()));
    Value::Object(external)
}

fn outcome_json(outcome: &RuleOutcome) -> Value {
    match outcome {
        RuleOutcome::Passed | RuleOutcome::Failed => json!({ "result": outcome.as_str() }),
        RuleOutcome::Open { reason } | RuleOutcome::NotApplicable { reason } => {
            json!({ "result": outcome.as_str(), "reason": reason })
        }
    }
}
