//! `tillit status decode`: read a Token Status List in any of its forms and
//! print its entries as JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{json, Map, Value};
use tillit_credential::cose;
use tillit_credential::cwt;
use tillit_credential::status_list::{StatusList, StatusListToken};
use tillit_crypto::VerifyingKey;

use super::common;

#[derive(clap::Subcommand)]
pub enum StatusCommand {
    /// Decode a status list: a statuslist+jwt, a CWT (hex, base64url or a binary file),
    /// the JSON or CBOR `{"bits", "lst"}` object, or a bare `lst` with --bits.
    ///
    /// Prints {"form", "sub", "iss", "iat", "exp", "ttl", "signature", "bits", "size",
    /// "counts", "statuses"}; "statuses" holds one number per entry (0 VALID, 1 INVALID,
    /// 2 SUSPENDED). Exit 1 when --key is given and the signature does not verify.
    Decode {
        /// The status list: the text itself, @FILE, or - for standard input.
        input: String,
        /// Entry size for a bare base64url `lst` (1, 2, 4 or 8).
        #[arg(long, value_name = "N")]
        bits: Option<u8>,
        /// Check the token's signature with this key (JWK or X.509 certificate).
        #[arg(long, value_name = "FILE")]
        key: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: StatusCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StatusCommand::Decode { input, bits, key } => {
            let keys = match &key {
                None => Vec::new(),
                Some(path) => common::load_signers(path, "--key")?
                    .iter()
                    .map(common::TrustedSigner::verifying_key)
                    .collect::<anyhow::Result<Vec<_>>>()?,
            };
            let bytes = read_input(&input)?;
            let decoded = decode(&bytes, bits, &keys)?;
            println!("{}", serde_json::to_string_pretty(&decoded.json)?);
            Ok(if decoded.signature == Some(false) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    if input == "-" {
        return common::read_bytes(Path::new("-"), "INPUT");
    }
    if let Some(file) = input.strip_prefix('@') {
        return common::read_bytes(Path::new(file), "INPUT");
    }
    Ok(input.as_bytes().to_vec())
}

struct Decoded {
    json: Value,
    signature: Option<bool>,
}

/// Which form `bytes` is in, and its content.
fn decode(bytes: &[u8], bits: Option<u8>, keys: &[VerifyingKey]) -> anyhow::Result<Decoded> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if let (Some(bits), Some(lst)) = (bits, text) {
        let list = StatusList::decode_lst(bits, lst).context("INPUT: not a base64url lst")?;
        return Ok(Decoded {
            json: describe("lst", None, None, &list),
            signature: None,
        });
    }
    match text {
        Some(t) if t.starts_with('{') => {
            let value: Value = serde_json::from_str(t).context("INPUT: not valid JSON")?;
            let list_json = value.get("status_list").unwrap_or(&value);
            let list =
                StatusList::from_json(list_json).context("INPUT: not a status list JSON object")?;
            Ok(Decoded {
                json: describe("json", None, None, &list),
                signature: None,
            })
        }
        Some(t) => {
            // A compact JWT, hex or base64url never holds whitespace: line breaks are wrapping.
            let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.split('.').count() == 3 && compact.starts_with("ey") {
                return decode_jwt(&compact, keys);
            }
            let raw = hex::decode(&compact)
                .ok()
                .filter(|bytes| !bytes.is_empty())
                .or_else(|| tillit_crypto::b64::decode_url(compact.trim_end_matches('=')).ok())
                .context(
                    "INPUT: not a statuslist+jwt, JSON, hex or base64url CBOR; for a bare lst pass --bits",
                )?;
            decode_cbor(&raw, keys)
        }
        None => decode_cbor(bytes, keys),
    }
}

fn decode_jwt(jwt: &str, keys: &[VerifyingKey]) -> anyhow::Result<Decoded> {
    let (token, jws) = StatusListToken::decode_jwt(jwt).context("INPUT: not a statuslist+jwt")?;
    let signature = (!keys.is_empty()).then(|| {
        keys.iter().any(|k| {
            jws.verify(k, &tillit_credential::status_list::ALLOWED_ALGORITHMS)
                .is_ok()
        })
    });
    let json = describe("statuslist+jwt", Some(&token), signature, &token.list);
    Ok(Decoded { json, signature })
}

/// A status list CWT (COSE_Sign1), or the bare CBOR `{"bits", "lst"}` map.
fn decode_cbor(raw: &[u8], keys: &[VerifyingKey]) -> anyhow::Result<Decoded> {
    if let Ok(sign1) = cose::decode_sign1(raw) {
        let payload = sign1
            .payload()
            .context("INPUT: COSE_Sign1 without payload")?;
        let claims = cwt::decode_cbor(payload, "status list CWT claims")?;
        let token =
            StatusListToken::from_cwt_claims(&claims).context("INPUT: not a status list CWT")?;
        let signature =
            (!keys.is_empty()).then(|| keys.iter().any(|k| sign1.verify(k, b"").is_ok()));
        let json = describe("statuslist+cwt", Some(&token), signature, &token.list);
        return Ok(Decoded { json, signature });
    }
    let list = StatusList::from_cbor(raw)
        .context("INPUT: neither a status list CWT nor a CBOR status list")?;
    Ok(Decoded {
        json: describe("cbor", None, None, &list),
        signature: None,
    })
}

/// Name of a status value (draft §7.1).
fn status_name(v: u8) -> String {
    match v {
        0 => "VALID".into(),
        1 => "INVALID".into(),
        2 => "SUSPENDED".into(),
        other => format!("0x{other:02X}"),
    }
}

fn describe(
    form: &str,
    token: Option<&StatusListToken>,
    signature: Option<bool>,
    list: &StatusList,
) -> Value {
    let size = list.len();
    let statuses: Vec<u8> = (0..size).filter_map(|i| list.get(i)).collect();
    let mut counts = Map::new();
    for s in &statuses {
        let name = status_name(*s);
        let n = counts.get(&name).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(name, json!(n + 1));
    }
    let mut out = Map::new();
    out.insert("form".into(), json!(form));
    if let Some(t) = token {
        out.insert("sub".into(), json!(t.sub));
        out.insert("iss".into(), json!(t.iss));
        out.insert("iat".into(), json!(t.iat));
        out.insert("exp".into(), json!(t.exp));
        out.insert("ttl".into(), json!(t.ttl));
        out.insert("signature".into(), json!(signature));
    }
    out.insert("bits".into(), json!(list.bits()));
    if let Some(uri) = list.aggregation_uri() {
        out.insert("aggregation_uri".into(), json!(uri));
    }
    out.insert("size".into(), json!(size));
    out.insert("counts".into(), Value::Object(counts));
    out.insert("statuses".into(), json!(statuses));
    Value::Object(out)
}
