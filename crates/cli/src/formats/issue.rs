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
use tillit_card::{CardSpec, Lang, Validity};
use tillit_credential::qr::{self, Attestation};
use tillit_credential::sdjwt::{self, ClaimPath, IssueOptions, VcInput};
use tillit_crypto::{Jwk, SigningKey};

use super::common;

/// Pixels per QR module in `--png` images (a version-10 code becomes about 520 px wide).
const PNG_MODULE_PX: u32 = 8;
/// The resolution of `--card-png` (a card printer's).
const CARD_PNG_DPI: u32 = 300;

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

--card-pdf/--card-png draw the QR attestation (--format qr) as a printable ID-1 card
(85.60 × 53.98 mm; PNG at 300 dpi): the type's name (--card-title, default: --type), the
issuer's name (--card-issuer, default: --issuer), the holder fields, the validity and the
QR code, with the fixed labels in --card-lang (sv, da, nb, en). The holder fields are the
claims named by --card-field CLAIM[=LABEL] (repeatable, in order; `area.county` reaches
into an object); without it, every top-level claim that is a text, number or list of them
(at most 6).

Examples:
  tillit keys generate --out issuer.jwk
  tillit issue --key issuer.jwk --type https://ankeborg.se/vct/parking --claims permit.json \\
      --sd plate --valid-for 365d
  tillit issue --key issuer.jwk --type https://ankeborg.se/vct/parking --claims permit.json \\
      --format qr --png qr.png
  tillit issue --key issuer.jwk --type https://ankeborg.se/vct/parking --claims permit.json \\
      --format qr --card-pdf card.pdf --card-title Parkeringstillstånd \\
      --card-issuer 'Ankeborgs kommun' --card-lang sv --card-field name=Namn --card-field plate=Regnr";

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
    /// Also draw the QR attestation as a printable card (PDF, ID-1 page; needs --format qr).
    #[arg(long = "card-pdf", value_name = "FILE")]
    card_pdf: Option<PathBuf>,
    /// Also draw the QR attestation as a printable card (PNG, 300 dpi; needs --format qr).
    #[arg(long = "card-png", value_name = "FILE")]
    card_png: Option<PathBuf>,
    /// The card's title, the type's display name; default: --type.
    #[arg(long = "card-title", value_name = "TEXT")]
    card_title: Option<String>,
    /// The issuer's name on the card; default: --issuer (the issuer id).
    #[arg(long = "card-issuer", value_name = "NAME")]
    card_issuer: Option<String>,
    /// The language of the card's fixed labels (validity): sv, da, nb or en.
    #[arg(long = "card-lang", value_name = "LANG", default_value = "en", value_parser = parse_lang)]
    card_lang: Lang,
    /// A holder field on the card: a claim (a.b reaches into an object), optionally =LABEL. Repeatable.
    #[arg(long = "card-field", value_name = "CLAIM[=LABEL]")]
    card_fields: Vec<String>,
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
    let card = args.card_pdf.is_some() || args.card_png.is_some();
    if args.count > 1 && (args.png.is_some() || args.svg.is_some() || card) {
        bail!("--png/--svg/--card-pdf/--card-png draw one credential; they cannot be combined with --count");
    }
    if card && args.format != IssueFormat::Qr {
        bail!("--card-pdf/--card-png: a card carries the QR attestation; add --format qr");
    }
    let prepared = prepare(&args)?;
    // The card's fields are checked before anything is signed.
    let card_fields = if card {
        card_fields(&args.card_fields, &prepared)?
    } else {
        Vec::new()
    };
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
    if card {
        let from = Utc::now().date_naive();
        let until = (Utc::now() + prepared.valid_for).date_naive();
        let spec = CardSpec {
            title: args
                .card_title
                .clone()
                .unwrap_or_else(|| prepared.vct.clone()),
            issuer: args
                .card_issuer
                .clone()
                .unwrap_or_else(|| prepared.issuer.clone()),
            fields: card_fields,
            validity: Validity::new(from, until)?,
            lang: args.card_lang,
            qr_text: last,
        };
        if let Some(path) = &args.card_pdf {
            write_image(path, &tillit_card::render_pdf(std::slice::from_ref(&spec))?)?;
        }
        if let Some(path) = &args.card_png {
            write_image(path, &tillit_card::render_png(&spec, CARD_PNG_DPI)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse().map_err(|e: tillit_card::CardError| e.to_string())
}

/// The card's holder fields as (label, value): the claims `--card-field` names, else every
/// top-level claim that is a text, a number, a boolean or a list of them.
fn card_fields(chosen: &[String], prepared: &Prepared) -> anyhow::Result<Vec<(String, String)>> {
    let mut all = prepared.claims.clone();
    if let Some(sub) = &prepared.subject {
        all.insert("sub".into(), Value::String(sub.clone()));
    }
    let fields: Vec<(String, String)> = if chosen.is_empty() {
        all.iter()
            .filter_map(|(name, value)| shown(value).map(|v| (name.clone(), v)))
            .collect()
    } else {
        let mut fields = Vec::with_capacity(chosen.len());
        for choice in chosen {
            let (path, label) = choice
                .split_once('=')
                .unwrap_or((choice.as_str(), choice.as_str()));
            let mut value = all.get(path.split('.').next().unwrap_or_default());
            for part in path.split('.').skip(1) {
                value = value.and_then(|v| v.get(part));
            }
            let Some(value) = value else {
                bail!("--card-field {choice:?}: the claims have no {path:?}");
            };
            let Some(text) = shown(value) else {
                bail!("--card-field {choice:?}: {path:?} is an object; name one of its members, like {path}.name");
            };
            fields.push((label.to_string(), text));
        }
        fields
    };
    if fields.len() > tillit_card::MAX_FIELDS {
        bail!(
            "--card-pdf/--card-png: a card has room for {} holder fields, and the claims have {}; choose them with --card-field CLAIM[=LABEL]",
            tillit_card::MAX_FIELDS,
            fields.len()
        );
    }
    Ok(fields)
}

/// A claim as a card shows it: a text as it is, a number or boolean as JSON writes it, a list
/// of those joined with ", "; an object is not shown.
fn shown(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Array(_) => None,
                other => shown(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(", ")),
        Value::Null | Value::Object(_) => None,
    }
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
