//! `tillit verify`: check an attestation offline and print the step report.
//!
//! The checks themselves are `tillit_credential::verify::verify` (the one
//! pipeline); this module only builds the trust store from the command line,
//! reads the input and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tillit_credential::report::{VerificationReport, VerifyOptions};
use tillit_credential::trust::TrustStore;
use tillit_crypto::VerifyingKey;

use super::batch;
use super::common::{self, TrustedSigner};

const VERIFY_HELP: &str = "\
Trust:
  --cert FILE trusts one signer directly: an X.509 signer certificate (PEM, DER or
  base64 DER, like a DCC document signer certificate) or a JWK / JWK Set file (a private
  JWK from `tillit keys generate` is accepted; only its public part is used).

  --bundle FILE opens a signed Tillit trust bundle (issuers, keys, status lists, rules).
  The bundle's signer is pinned: its key comes from --bundle-key FILE (a JWK or a
  certificate; repeat the flag during a key rollover). Without --bundle-key, the --cert
  keys pin the bundle (and are trusted as signers too). A bundle that is not signed by a
  pinned key, or that has expired, is refused (exit 2).

Exit status: 0 valid, 1 not valid, 2 usage error (bad flag, unreadable file, bad bundle).
With --batch: 0 when every input is valid, 1 otherwise.

Examples:
  tillit verify --cert dsc.pem --at 2021-06-01T10:00:00Z 'HC1:NCF…'
  tillit verify --bundle trust.jws --bundle-key publisher.jwk --format text card.png
  tillit verify --cert issuer.jwk --aud https://verifier.example --nonce n-0S6 @presentation.txt
  tillit verify --cert issuer.jwk --batch codes.txt --threads 4 > reports.jsonl";

/// How the single report is printed.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// The JSON report: {"valid", "format", "steps", "claims", "errors"}.
    Json,
    /// One line per step (✓ passed, ✗ failed, – not checked) and the problems.
    Text,
}

/// `tillit verify`
#[derive(clap::Args, Debug)]
#[command(after_long_help = VERIFY_HELP)]
pub struct VerifyArgs {
    /// The attestation: the text itself (HC1:…, TL1:…, or an SD-JWT VC), @FILE for a
    /// text file, - for standard input, or the path of a PNG image with the QR code.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    input: Option<String>,
    /// Trust this signer: X.509 certificate (PEM, DER, base64 DER) or JWK file. Repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    certs: Vec<PathBuf>,
    /// A signed trust bundle (issuers, keys, status lists, rules); needs a pinned signer.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// The bundle publisher's key (JWK or certificate) that the bundle must be signed with.
    #[arg(long = "bundle-key", value_name = "FILE", requires = "bundle")]
    bundle_keys: Vec<PathBuf>,
    /// Judge validity, status and rules at this time (RFC 3339; no offset = UTC); default: now.
    #[arg(long, value_name = "RFC3339", value_parser = common::parse_time)]
    at: Option<DateTime<Utc>>,
    /// Expected audience of the holder's key-binding JWT (SD-JWT VC presentations).
    #[arg(long, value_name = "A", requires = "nonce")]
    aud: Option<String>,
    /// Expected nonce of the holder's key-binding JWT.
    #[arg(long, value_name = "N", requires = "aud")]
    nonce: Option<String>,
    /// Country of verification (ISO 3166 alpha-2) for the bundle's CertLogic acceptance rules.
    #[arg(long, value_name = "CC")]
    country: Option<String>,
    /// Output format of the report (--batch writes JSON lines: json only).
    #[arg(long, value_enum, default_value = "json")]
    format: OutputFormat,
    /// Verify every line of FILE (- for standard input): one JSON report per line, then a summary line.
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// Worker threads for --batch (default: the number of CPUs). Output keeps the input order.
    #[arg(long, value_name = "N", requires = "batch", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// What the command line trusts, and how old the bundle is.
pub struct Trust {
    pub store: TrustStore,
    pub from_bundle: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let at = args.at.unwrap_or_else(Utc::now);
    let trust = build_trust(&args, at)?;
    if trust.store.keys().is_empty() {
        eprintln!(
            "warning: nothing is trusted (no --cert, no --bundle): signatures cannot be checked"
        );
    }
    let opts = VerifyOptions {
        at,
        audience: args.aud.clone(),
        nonce: args.nonce.clone(),
        country: args.country.clone(),
    };
    if let Some(file) = &args.batch {
        if let OutputFormat::Text = args.format {
            anyhow::bail!(
                "--format text: --batch writes one JSON report per line; use --format json (the default)"
            );
        }
        let threads = match args.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        return batch::run(file, threads, &trust.store, &opts);
    }
    let input = common::resolve_input(args.input.as_deref().unwrap_or_default())?;
    let report = tillit_credential::verify::verify(&input, &trust.store, &opts);
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => print!("{}", render_text(&report, &trust, at)?),
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The trust store from `--bundle` (opened with the pinned keys) plus every `--cert`.
pub fn build_trust(args: &VerifyArgs, at: DateTime<Utc>) -> anyhow::Result<Trust> {
    let mut signers: Vec<TrustedSigner> = Vec::new();
    for path in &args.certs {
        signers.extend(common::load_signers(path, "--cert")?);
    }
    let (mut store, from_bundle) = match &args.bundle {
        None => (TrustStore::new(), false),
        Some(path) => {
            let pins: Vec<VerifyingKey> = if args.bundle_keys.is_empty() {
                signers
                    .iter()
                    .map(TrustedSigner::verifying_key)
                    .collect::<anyhow::Result<_>>()?
            } else {
                let mut pins = Vec::new();
                for key_path in &args.bundle_keys {
                    for signer in common::load_signers(key_path, "--bundle-key")? {
                        pins.push(signer.verifying_key()?);
                    }
                }
                pins
            };
            if pins.is_empty() {
                anyhow::bail!(
                    "--bundle: the bundle signer must be pinned; pass --bundle-key FILE (the publisher's JWK or certificate)"
                );
            }
            let text = common::read_text(path, "--bundle")?;
            let store = tillit_credential::bundle::open_bundle(&text, &pins, at)
                .with_context(|| format!("--bundle: cannot use {}", path.display()))?;
            (store, true)
        }
    };
    for signer in signers {
        match signer {
            TrustedSigner::Certificate(cert) => store.add_certificate(*cert),
            TrustedSigner::Jwk(jwk) => store
                .add_jwk(&jwk, None)
                .context("--cert: key not usable")?,
        }
    }
    Ok(Trust { store, from_bundle })
}

/// Words a verifier in the field understands, per step.
fn step_label(step: &str) -> &'static str {
    match step {
        "unprefix" => "QR prefix (HC1:/TL1:)",
        "base45" => "Base45 text",
        "decompress" => "Decompression",
        "cose" => "Signed envelope (COSE)",
        "cbor" => "Content (CBOR)",
        "signature" => "Signature",
        "trusted_issuer" => "Trusted issuer",
        "key_usage" => "Signer may sign this kind",
        "validity" => "Validity period",
        "status" => "Not revoked or suspended",
        "rules" => "Business rules",
        "holder_binding" => "Holder binding",
        _ => "Other check",
    }
}

/// The human-readable report: a verdict, one line per step, the problems, the claims.
pub fn render_text(
    report: &VerificationReport,
    trust: &Trust,
    at: DateTime<Utc>,
) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let json = serde_json::to_value(report)?;
    let mut out = String::new();
    let format = match json.get("format").and_then(Value::as_str) {
        Some("hcert") => "EU Digital COVID Certificate (HC1)",
        Some("tillit-qr") => "Tillit QR attestation (TL1)",
        Some("sd-jwt-vc") => "SD-JWT VC",
        _ => "unknown format",
    };
    let verdict = if report.valid { "VALID" } else { "NOT VALID" };
    writeln!(
        out,
        "{verdict} — {format}, checked at {}",
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    if let Some(Value::Object(steps)) = json.get("steps") {
        for (name, outcome) in steps {
            let (mark, word) = match outcome {
                Value::Bool(true) => ("✓", "ok"),
                Value::Bool(false) => ("✗", "FAILED"),
                _ => ("–", "not checked"),
            };
            writeln!(out, "  {mark} {:<28} {word}", step_label(name))?;
        }
    }
    if let Some(Value::Array(errors)) = json.get("errors") {
        if !errors.is_empty() {
            writeln!(out, "Problems:")?;
            for e in errors {
                let step = e.get("step").and_then(Value::as_str).unwrap_or_default();
                let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
                writeln!(out, "  ✗ {}: {message}", step_label(step))?;
            }
        }
    }
    if let Some(Value::Object(claims)) = json.get("claims") {
        if !claims.is_empty() {
            writeln!(out, "Claims:")?;
            for (k, v) in claims {
                let date = matches!(k.as_str(), "exp" | "nbf" | "iat")
                    .then(|| {
                        v.as_i64()
                            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                    })
                    .flatten();
                let shown = match (date, v) {
                    (Some(d), _) => d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    (None, Value::String(s)) => s.clone(),
                    (None, other) => other.to_string(),
                };
                writeln!(out, "  {k}: {shown}")?;
            }
        }
    }
    if trust.from_bundle {
        if let Some(age) = trust.store.age_at(at) {
            let expires = trust
                .store
                .expires_at()
                .map_or_else(|| "-".to_string(), |e| e.to_rfc3339());
            writeln!(
                out,
                "Trust bundle: {} old (expires {expires})",
                human_age(age)
            )?;
        }
    }
    Ok(out)
}

/// `3 h 12 min`, `2 d 4 h`, `45 s`.
pub fn human_age(age: chrono::Duration) -> String {
    let s = age.num_seconds();
    if s < 0 {
        return format!("{} s in the future", -s);
    }
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}
