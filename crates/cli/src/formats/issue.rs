//! `tillit issue`: sign an attestation offline as an SD-JWT VC or a `TL1:` QR
//! text, optionally drawn as a QR image. The credential is the last line of
//! standard output.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use chrono::{Duration, Utc};
use serde_json::{json, Map, Value};
use tillit_credential::qr::{self, Attestation};
use tillit_credential::sdjwt::{self, ClaimPath, IssueOptions, VcInput};
use tillit_crypto::{Jwk, SigningKey};

use super::common;

/// Pixels per QR module in `--png` images (a version-10 code becomes about 520 px wide).
const PNG_MODULE_PX: u32 = 8;

const ISSUE_HELP: &str = "\
The claims file is a JSON object with the attestation's own claims. A top-level string
\"sub\" becomes the subject. The envelope claims (iss, iat, nbf, exp, vct, cnf, status)
are set by Tillit.

--issuer defaults to the key's RFC 9278 thumbprint URI
(urn:ietf:params:oauth:jwk-thumbprint:sha-256:<thumbprint>), which verifies against the
key itself (`tillit verify --cert key.jwk`); in a trust bundle use the issuer id listed there.

--sd paths: `address.locality`, `nationalities[0]`, `degrees[].type` (SD-JWT VC only).

--count N signs N credentials (one per line) and writes the issuance rate to standard
error as {\"issued\", \"seconds\", \"per_second\"}: a whole-process issuance benchmark.

Examples:
  tillit keys generate --out issuer.jwk
  tillit issue --key issuer.jwk --type https://ankeborg.se/vct/parking --claims permit.json \\
      --sd plate --valid-for 365d
  tillit issue --key issuer.jwk --type https://ankeborg.se/vct/parking --claims permit.json \\
      --format qr --png card.png";

/// The credential format to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IssueFormat {
    /// SD-JWT VC (`dc+sd-jwt`), for EU wallets.
    #[value(name = "sd-jwt-vc")]
    SdJwtVc,
    /// Offline QR text `TL1:` (CWT in COSE_Sign1, zlib, Base45).
    Qr,
}

/// `tillit issue`
#[derive(clap::Args, Debug)]
#[command(after_long_help = ISSUE_HELP)]
pub struct IssueArgs {
    /// The issuer's private JWK (from `tillit keys generate`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The attestation type (the SD-JWT VC `vct`), e.g. https://ankeborg.se/vct/parking.
    #[arg(long = "type", value_name = "VCT")]
    vct: String,
    /// The claims as a JSON object (- for standard input).
    #[arg(long, value_name = "FILE")]
    claims: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "sd-jwt-vc")]
    format: IssueFormat,
    /// Make this claim selectively disclosable (SD-JWT VC). Repeatable.
    #[arg(long = "sd", value_name = "CLAIM")]
    sd: Vec<String>,
    /// The holder's key (JWK, public or private) to bind the credential to (`cnf.jwk`; SD-JWT VC).
    #[arg(long = "holder-key", value_name = "FILE")]
    holder_key: Option<PathBuf>,
    /// How long the credential is valid, like 90d, 12h, 1y.
    #[arg(long = "valid-for", value_name = "DURATION", default_value = "365d", value_parser = common::parse_duration)]
    valid_for: Duration,
    /// The issuer identifier (`iss`); default: the key's JWK thumbprint URI.
    #[arg(long, value_name = "ID")]
    issuer: Option<String>,
    /// Also write the QR code as a PNG image.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Also write the QR code as an SVG image.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Issue this many credentials (one per line) and report the rate on standard error.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
}

/// Everything needed to sign, checked once.
struct Prepared {
    key: SigningKey,
    format: IssueFormat,
    vct: String,
    issuer: String,
    subject: Option<String>,
    claims: Map<String, Value>,
    selective: Vec<ClaimPath>,
    holder: Option<Jwk>,
    valid_for: Duration,
}

pub fn run(args: IssueArgs) -> anyhow::Result<ExitCode> {
    if args.count > 1 && (args.png.is_some() || args.svg.is_some()) {
        bail!("--png/--svg draw one credential; they cannot be combined with --count");
    }
    let prepared = prepare(&args)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let start = Instant::now();
    let mut last = String::new();
    for _ in 0..args.count {
        last = prepared.issue_one()?;
        out.write_all(last.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let seconds = start.elapsed().as_secs_f64();
    if args.count > 1 {
        let per_second = if seconds > 0.0 {
            args.count as f64 / seconds
        } else {
            0.0
        };
        eprintln!(
            "{}",
            json!({ "issued": args.count, "seconds": (seconds * 1e6).round() / 1e6, "per_second": per_second.round() })
        );
    }
    if let Some(path) = &args.png {
        write_image(
            path,
            &tillit_credential::render::render_png(&last, PNG_MODULE_PX)?,
        )?;
    }
    if let Some(path) = &args.svg {
        write_image(
            path,
            tillit_credential::render::render_svg(&last)?.as_bytes(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn prepare(args: &IssueArgs) -> anyhow::Result<Prepared> {
    let key = common::load_signing_key(&args.key, "--key")?;
    let mut claims = match common::read_json(&args.claims, "--claims")? {
        Value::Object(map) => map,
        _ => bail!(
            "--claims: {} must hold a JSON object of claims",
            args.claims.display()
        ),
    };
    let subject = match claims.get("sub") {
        Some(Value::String(_)) => claims
            .remove("sub")
            .and_then(|v| v.as_str().map(str::to_string)),
        Some(_) => bail!("--claims: \"sub\" must be a string"),
        None => None,
    };
    if args.format == IssueFormat::Qr {
        if !args.sd.is_empty() {
            bail!("--sd: selective disclosure exists only in SD-JWT VC; a QR attestation shows all its claims");
        }
        if args.holder_key.is_some() {
            bail!("--holder-key: holder binding exists only in SD-JWT VC (--format sd-jwt-vc)");
        }
    }
    let selective = args
        .sd
        .iter()
        .map(|s| ClaimPath::parse(s).with_context(|| format!("--sd {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let holder = match &args.holder_key {
        None => None,
        Some(path) => {
            let jwk = common::load_jwk(path, "--holder-key")?.to_public();
            tillit_crypto::VerifyingKey::from_jwk(&jwk)
                .with_context(|| format!("--holder-key: {} is not a usable key", path.display()))?;
            Some(jwk)
        }
    };
    let issuer = match &args.issuer {
        Some(id) => id.clone(),
        None => format!("urn:ietf:params:oauth:jwk-thumbprint:sha-256:{}", key.kid()),
    };
    let prepared = Prepared {
        key,
        format: args.format,
        vct: args.vct.clone(),
        issuer,
        subject,
        claims,
        selective,
        holder,
        valid_for: args.valid_for,
    };
    Ok(prepared)
}

impl Prepared {
    fn issue_one(&self) -> anyhow::Result<String> {
        let now = Utc::now();
        match self.format {
            IssueFormat::Qr => {
                let attestation = Attestation {
                    issuer: self.issuer.clone(),
                    subject: self.subject.clone(),
                    attestation_type: self.vct.clone(),
                    claims: self.claims.clone(),
                    status: None,
                };
                Ok(qr::issue_qr(&attestation, &self.key, now, self.valid_for)?)
            }
            IssueFormat::SdJwtVc => {
                let exp = now
                    .checked_add_signed(self.valid_for)
                    .ok_or_else(|| anyhow::anyhow!("--valid-for is too long"))?;
                let input = VcInput {
                    vct: self.vct.clone(),
                    iss: self.issuer.clone(),
                    iat: now,
                    nbf: Some(now),
                    exp: Some(exp),
                    sub: self.subject.clone(),
                    holder_key: self.holder.clone(),
                    status: None,
                    claims: self.claims.clone(),
                };
                let issued =
                    sdjwt::issue_vc(&input, &self.selective, &self.key, &IssueOptions::default())?;
                Ok(issued.sd_jwt)
            }
        }
    }
}

/// Writes the whole image next to `path` and renames it into place, so an existing file is
/// replaced only by a complete one.
fn write_image(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let written = std::fs::write(&partial, data).and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}
