//! `tillit trust inspect`: what a trust bundle holds, how old it is, and
//! whether it is signed by the pinned publisher key.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tillit_credential::bundle::{self, BundleContent, BundleIssuer};
use tillit_credential::status_list::StatusListToken;
use tillit_crypto::{jws, x509, VerifyingKey};

use super::common;
use super::verify::human_age;

#[derive(clap::Subcommand)]
pub enum TrustCommand {
    /// Show a trust bundle: issuers, keys, status lists, rules, value sets, iat/exp and age;
    /// with --key, whether it is signed by that key and usable now.
    ///
    /// Exit 0 when the bundle reads (and, with --key, is signed by the key and not expired), 1 otherwise.
    Inspect {
        /// The bundle file (compact JWS, `typ: tillit-trust+jwt`), or - for standard input.
        file: PathBuf,
        /// The publisher's key (JWK or X.509 certificate) to check the signature with.
        #[arg(long, value_name = "FILE")]
        key: Vec<PathBuf>,
        /// Judge age and expiry at this time (RFC 3339); default: now.
        #[arg(long, value_name = "RFC3339", value_parser = common::parse_time)]
        at: Option<DateTime<Utc>>,
    },
}

pub fn run(cmd: TrustCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TrustCommand::Inspect { file, key, at } => {
            let at = at.unwrap_or_else(Utc::now);
            let mut pins = Vec::new();
            for path in &key {
                for signer in common::load_signers(path, "--key")? {
                    pins.push(signer.verifying_key()?);
                }
            }
            let text = common::read_text(&file, "FILE")?;
            let content = bundle::inspect_bundle(&text).map_err(|e| {
                anyhow::anyhow!("{}: not a Tillit trust bundle: {e}", file.display())
            })?;
            let (report, ok) = inspect(&text, &content, &pins, at);
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn time(t: i64) -> Value {
    DateTime::<Utc>::from_timestamp(t, 0).map_or(json!(t), |d| json!(d.to_rfc3339()))
}

/// The JSON description, and whether the bundle is fine.
fn inspect(
    text: &str,
    content: &BundleContent,
    pins: &[VerifyingKey],
    at: DateTime<Utc>,
) -> (Value, bool) {
    let mut out = Map::new();
    out.insert("iss".into(), json!(content.iss));
    out.insert("iat".into(), time(content.iat));
    out.insert("exp".into(), time(content.exp));
    let age = chrono::Duration::seconds(at.timestamp().saturating_sub(content.iat));
    out.insert("age_seconds".into(), json!(age.num_seconds()));
    out.insert("age".into(), json!(human_age(age)));
    let expired = at.timestamp() > content.exp;
    out.insert("expired".into(), json!(expired));

    let mut ok = !expired;
    let signature = if pins.is_empty() {
        None
    } else {
        let signed = jws::decode_compact(text.trim())
            .map(|j| {
                pins.iter().any(|k| {
                    j.verify(k, &tillit_credential::bundle::ALLOWED_ALGORITHMS)
                        .is_ok()
                })
            })
            .unwrap_or(false);
        Some(signed)
    };
    out.insert("signature".into(), json!(signature));
    if !pins.is_empty() {
        match bundle::open_bundle(text, pins, at) {
            Ok(_) => {
                out.insert("usable".into(), json!(true));
            }
            Err(e) => {
                ok = false;
                out.insert("usable".into(), json!(false));
                out.insert("error".into(), json!(e.to_string()));
            }
        }
    }

    out.insert(
        "issuers".into(),
        Value::Array(content.issuers.iter().map(issuer_json).collect()),
    );
    let lists: Vec<Value> = content
        .status_lists
        .iter()
        .map(|(uri, jwt)| match StatusListToken::decode_jwt(jwt) {
            Ok((token, _)) => {
                let size = token.list.len();
                let not_valid = (0..size).filter(|i| token.list.get(*i).is_some_and(|s| s != 0)).count();
                json!({ "uri": uri, "sub": token.sub, "iat": time(token.iat), "exp": token.exp.map(time),
                        "bits": token.list.bits(), "size": size, "not_valid": not_valid })
            }
            Err(e) => json!({ "uri": uri, "error": e.to_string() }),
        })
        .collect();
    out.insert("status_lists".into(), Value::Array(lists));
    let rules: Vec<Value> = content
        .rules
        .iter()
        .map(|r| {
            let pick = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
            json!({ "Identifier": pick("Identifier"), "Type": pick("Type"), "Country": pick("Country"),
                    "Version": pick("Version"), "ValidFrom": pick("ValidFrom"), "ValidTo": pick("ValidTo") })
        })
        .collect();
    out.insert("rules".into(), Value::Array(rules));
    out.insert(
        "value_sets".into(),
        json!(content.value_sets.keys().collect::<Vec<_>>()),
    );
    (Value::Object(out), ok && signature != Some(false))
}

fn issuer_json(issuer: &BundleIssuer) -> Value {
    let keys: Vec<Value> = issuer
        .keys
        .iter()
        .map(|jwk| {
            let mut k = json!({
                "kid": jwk.kid, "kty": jwk.kty, "crv": jwk.crv, "alg": jwk.alg,
                "thumbprint": jwk.thumbprint().ok(),
            });
            if let Some(leaf) = jwk.x5c.as_ref().and_then(|c| c.first()) {
                k["certificate"] = match x509::parse_certificate(leaf.as_bytes()) {
                    Ok(c) => json!({
                        "subject": c.subject, "issuer": c.issuer,
                        "not_before": c.not_before.to_rfc3339(), "not_after": c.not_after.to_rfc3339(),
                        "cose_kid_hex": c.kid.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                        "extended_key_usages": c.extended_key_usages,
                    }),
                    Err(e) => json!({ "error": e.to_string() }),
                };
            }
            k
        })
        .collect();
    json!({
        "id": issuer.id, "name": issuer.name, "organisation": issuer.organisation, "country": issuer.country,
        "allowed_types": issuer.allowed_types, "status_lists": issuer.status_lists,
        "valid_from": issuer.valid_from.map(|t| t.to_rfc3339()),
        "valid_until": issuer.valid_until.map(|t| t.to_rfc3339()),
        "keys": keys,
    })
}
