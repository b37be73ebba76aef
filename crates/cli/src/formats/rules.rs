//! `tillit rules eval` and `tillit rules run`: CertLogic expressions and DCC business rules,
//! evaluated offline. Each prints one JSON line `{"result": …}`. `rules run` exits 0 when the
//! rule passed or does not apply, 1 when it failed or stayed open, as `verify` does for validity.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use serde_json::{json, Value};
use tillit_certlogic::rule::{self, Rule, RuleOutcome};

use super::common::read_json;

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
        /// Default: validation clock now, country code the rule's country, no value sets.
        #[arg(long, value_name = "FILE")]
        external: Option<PathBuf>,
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
        } => {
            let rule: Rule = serde_json::from_value(read_json(&rule, "--rule")?)
                .context("--rule is not a DCC rule (expected Identifier, Type, Country, Version, SchemaVersion, Engine, EngineVersion, CertificateType, Description, ValidFrom, ValidTo, AffectedFields, Logic)")?;
            let payload = read_json(&payload, "--payload")?;
            let external = match external {
                Some(path) => read_json(&path, "--external")?,
                None => json!({
                    "validationClock": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "countryCode": rule.country,
                    "valueSets": {},
                }),
            };
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

fn outcome_json(outcome: &RuleOutcome) -> Value {
    match outcome {
        RuleOutcome::Passed | RuleOutcome::Failed => json!({ "result": outcome.as_str() }),
        RuleOutcome::Open { reason } | RuleOutcome::NotApplicable { reason } => {
            json!({ "result": outcome.as_str(), "reason": reason })
        }
    }
}
