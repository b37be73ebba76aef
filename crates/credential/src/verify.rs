//! The one verification entry point: [`verify`] dispatches on the input's form
//! and returns the step-by-step [`VerificationReport`].
//!
//! - `HC1:` → EU DCC (HCERT): kid → DSC from the trust store, DSC key usage,
//!   `iat`/`exp` within the DSC's validity, DCC business rules.
//! - `TL1:` → Tillit QR attestation: kid → JWK/certificate from the trust
//!   store, the issuer's allowed types and validity, `exp`/`nbf`/`iat` (with
//!   [`crate::sdjwt::CLOCK_SKEW_SECONDS`] of tolerance, as for SD-JWT VC),
//!   the Token Status List entry, CertLogic rules for the type.
//! - `<jwt>~...` → SD-JWT VC ([`crate::sdjwt::verify_report`]).
//!
//! Steps that cannot be reached (an earlier step failed) or do not apply stay `null`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use tillit_certlogic::rule::{self, External, Rule, RuleOutcome, RuleType};

use crate::cose::{self, Sign1};
use crate::cwt::Claims;
use crate::error::CredentialError;
use crate::hcert;
use crate::qr::{self, Attestation, Prefix};
use crate::report::{Format, Step, VerificationReport, VerifyOptions};
use crate::trust::{TrustStore, TrustedKey};
use crate::{base45, sdjwt};

/// Verify one attestation given as text: `HC1:…`, `TL1:…` or an SD-JWT VC.
pub fn verify(input: &str, trust: &TrustStore, opts: &VerifyOptions) -> VerificationReport {
    let text = input.trim();
    if text.starts_with(Prefix::Hc1.as_str()) || text.starts_with(Prefix::Tl1.as_str()) {
        return verify_qr(text, trust, opts);
    }
    if looks_like_sd_jwt(text) {
        return sdjwt::verify_report(text, trust, opts);
    }
    let mut report = VerificationReport::new();
    let shown: String = text.chars().take(12).collect();
    report.fail(
        Step::Unprefix,
        format!(
            "unrecognised input starting {shown:?}: expected an HC1: (EU DCC) or TL1: (Tillit) QR text, \
             or an SD-JWT VC (header.payload.signature~...)"
        ),
    );
    report.finish()
}

/// A compact JWS or SD-JWT starts with a base64url JSON header (`eyJ`), which
/// Base45 (upper-case only) can never produce; an SD-JWT always has a `~`.
fn looks_like_sd_jwt(text: &str) -> bool {
    text.contains('~') || text.starts_with("eyJ")
}

/// Verify a `HC1:` or `TL1:` QR text.
pub fn verify_qr(input: &str, trust: &TrustStore, opts: &VerifyOptions) -> VerificationReport {
    let mut report = VerificationReport::new();
    run_qr(input, trust, opts, &mut report);
    report.finish()
}

fn run_qr(
    input: &str,
    trust: &TrustStore,
    opts: &VerifyOptions,
    report: &mut VerificationReport,
) -> Option<()> {
    let (prefix, text) = report.record(Step::Unprefix, qr::unprefix(input))?;
    report.format = Some(match prefix {
        Prefix::Hc1 => Format::Hcert,
        Prefix::Tl1 => Format::TillitQr,
    });
    let raw = report.record(
        Step::Base45,
        base45::decode(text).map_err(|e| CredentialError::malformed("Base45 text", e.to_string())),
    )?;
    let cose_bytes = if qr::looks_compressed(&raw) {
        report.record(Step::Decompress, qr::inflate(&raw))?
    } else if prefix == Prefix::Hc1 && raw.len() > qr::MAX_DECOMPRESSED {
        // The same bound as for inflated data: CBOR decoding is not free.
        report.fail(
            Step::Decompress,
            format!(
                "the uncompressed payload has {} bytes, more than the {} a QR code can hold",
                raw.len(),
                qr::MAX_DECOMPRESSED
            ),
        );
        return None;
    } else if prefix == Prefix::Hc1 {
        // HCERT: "Verifiers MUST check the presence of a valid ZLIB header - or proceed
        // without this step when absent": not applicable, stays null.
        raw
    } else {
        report.fail(
            Step::Decompress,
            "a TL1 payload must be zlib-compressed (it does not start with 0x78)",
        );
        return None;
    };
    let msg = report.record(
        Step::Cose,
        cose::decode_sign1(&cose_bytes).and_then(|m| check_envelope(&m).map(|()| m)),
    )?;
    let payload = msg.payload().ok()?;
    let claims = report.record(Step::Cbor, decode_claims(prefix, payload))?;
    let (claims, content) = claims;

    // Signature by a trusted key for the kid (HCERT: try every DSC with that kid).
    let Some(kid) = msg.kid() else {
        report.fail(
            Step::Signature,
            "the COSE message has no kid, so no signer key can be chosen",
        );
        return None;
    };
    let candidates = trust.keys_for_cose_kid(kid);
    if candidates.is_empty() {
        report.fail(
            Step::TrustedIssuer,
            format!(
                "no trusted key has kid {}; trust the signer (--cert) or load a trust bundle (--bundle)",
                hex::encode(kid)
            ),
        );
        return None;
    }
    let mut last_error = None;
    let signer = candidates
        .into_iter()
        .find(|k| match msg.verify(&k.key, &[]) {
            Ok(()) => true,
            Err(e) => {
                last_error = Some(e);
                false
            }
        });
    let Some(signer) = signer else {
        let err = last_error.map_or_else(
            || "no key verified the signature".to_string(),
            |e| e.to_string(),
        );
        report.fail(Step::Signature, err);
        return None;
    };
    report.pass(Step::Signature);
    report.claims = Json::Object(content.report_claims(&claims));

    match &content {
        Content::Hcert { dcc, json } => {
            report.record(
                Step::TrustedIssuer,
                check_hcert_issuer(signer, &claims, opts.at),
            );
            if let Some(cert) = &signer.certificate {
                report.record(Step::KeyUsage, hcert::check_key_usage(cert, dcc));
            }
            report.record(
                Step::Validity,
                hcert::check_validity(&claims, opts.at, signer.certificate.as_ref()),
            );
            let kinds = hcert::kinds(dcc);
            let types: Vec<&str> = kinds.iter().map(|k| k.rule_type()).collect();
            let issuer_country = claims.iss.clone();
            run_rules(
                report,
                trust,
                opts,
                &types,
                true,
                json,
                &claims,
                issuer_country,
                kid,
            );
        }
        Content::Tillit(att) => {
            report.record(Step::TrustedIssuer, check_tl1_issuer(signer, att, opts.at));
            report.record(Step::Validity, check_tl1_validity(&claims, opts.at));
            if let Some(status) = &att.status {
                match trust.check_status(signer.issuer.as_ref(), &status.uri, status.idx) {
                    Ok(Some(())) => report.pass(Step::Status),
                    Ok(None) => {}
                    Err(e) => report.fail(Step::Status, e.to_string()),
                }
            }
            let payload = report.claims.clone();
            let types = [att.attestation_type.as_str()];
            run_rules(
                report, trust, opts, &types, false, &payload, &claims, None, kid,
            );
        }
    }
    Some(())
}

/// The parts of the envelope the QR formats require besides a parseable COSE_Sign1.
fn check_envelope(msg: &Sign1) -> Result<(), CredentialError> {
    msg.algorithm()?;
    msg.payload()?;
    Ok(())
}

/// What the CWT carries, by format.
enum Content {
    /// The DCC as CBOR (for the kinds and key usage) and as JSON (for the report and the rules),
    /// converted once.
    Hcert {
        dcc: ciborium::Value,
        json: Json,
    },
    Tillit(Attestation),
}

impl Content {
    /// The claims for the report: HCERT as `{iss, iat, exp, hcert: <DCC>}`; TL1 in the shape of
    /// an SD-JWT VC (`iss`, `sub`, `iat`, `nbf`, `exp`, `vct`, the attested claims, `status`).
    fn report_claims(&self, claims: &Claims) -> Map<String, Json> {
        let mut out = Claims {
            extra: Vec::new(),
            ..claims.clone()
        }
        .to_json();
        match self {
            Content::Hcert { json, .. } => {
                out.insert("hcert".into(), json.clone());
            }
            Content::Tillit(att) => {
                out.insert("vct".into(), Json::String(att.attestation_type.clone()));
                for (k, v) in &att.claims {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
                if let Some(s) = &att.status {
                    out.insert("status".into(), s.to_json());
                }
            }
        }
        out
    }
}

fn decode_claims(prefix: Prefix, payload: &[u8]) -> Result<(Claims, Content), CredentialError> {
    let claims = Claims::from_cbor(payload)?;
    let content = match prefix {
        Prefix::Hc1 => {
            let dcc = hcert::dcc_payload(&claims)?.clone();
            // The DCC must map to JSON (text keys, no undefined values).
            let json = hcert::dcc_json(&claims)?;
            Content::Hcert { dcc, json }
        }
        Prefix::Tl1 => Content::Tillit(qr::attestation_from_claims(&claims)?),
    };
    Ok((claims, content))
}

/// HCERT: the issuer behind the DSC must be trusted at `at`, and its country must be the `iss` country.
fn check_hcert_issuer(
    key: &TrustedKey,
    claims: &Claims,
    at: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let Some(issuer) = &key.issuer else {
        return Ok(());
    };
    if let (Some(iss), Some(country)) = (&claims.iss, &issuer.country) {
        if !iss.eq_ignore_ascii_case(country) {
            return Err(CredentialError::UntrustedIssuer(format!(
                "the DCC says issuing country {iss:?} but was signed with a key of {} ({country})",
                issuer.id
            )));
        }
    }
    issuer.check(None, at)
}

/// TL1: `iss` must be the key's issuer, which must be trusted for the type at `at`.
fn check_tl1_issuer(
    key: &TrustedKey,
    att: &Attestation,
    at: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let Some(issuer) = &key.issuer else {
        return Ok(()); // a key trusted directly vouches for any issuer name and type
    };
    if att.issuer != issuer.id {
        return Err(CredentialError::UntrustedIssuer(format!(
            "the attestation says iss {:?} but was signed with a key of issuer {:?}",
            att.issuer, issuer.id
        )));
    }
    issuer.check(Some(&att.attestation_type), at)
}

/// A NumericDate as RFC 3339 for messages (the number itself when out of range).
pub(crate) fn fmt_time(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339())
}

/// TL1: `exp` is required; `exp`, `nbf` and `iat` are checked with the SD-JWT VC clock skew.
fn check_tl1_validity(claims: &Claims, at: DateTime<Utc>) -> Result<(), CredentialError> {
    let skew = sdjwt::CLOCK_SKEW_SECONDS;
    let now = at.timestamp();
    let exp = claims.exp.ok_or_else(|| {
        CredentialError::malformed("TL1 attestation", "exp (4) is missing; TL1 requires it")
    })?;
    if now > exp.saturating_add(skew) {
        return Err(CredentialError::Expired {
            expired_at: fmt_time(exp),
            at: at.to_rfc3339(),
        });
    }
    for from in [claims.nbf, claims.iat].into_iter().flatten() {
        if now < from.saturating_sub(skew) {
            return Err(CredentialError::NotYetValid {
                valid_from: fmt_time(from),
                at: at.to_rfc3339(),
            });
        }
    }
    Ok(())
}

/// CertLogic rules from the store that apply: for HCERT the acceptance rules of
/// the verifier's country (`opts.country`) and the invalidation rules of the
/// issuing country, for the DCC's kinds or `General`; for TL1 the rules whose
/// `CertificateType` is the attestation type (of `opts.country` when given).
/// No applicable rule leaves the step `null`; any rule not `passed` fails it.
#[allow(clippy::too_many_arguments)]
fn run_rules(
    report: &mut VerificationReport,
    trust: &TrustStore,
    opts: &VerifyOptions,
    types: &[&str],
    is_hcert: bool,
    payload: &Json,
    claims: &Claims,
    issuer_country: Option<String>,
    kid: &[u8],
) {
    let rules = trust.rules();
    let at = opts.at;
    let mut selected: Vec<&Rule> = Vec::new();
    for ty in types {
        let mut candidates: Vec<&Rule> = Vec::new();
        if is_hcert {
            if let Some(country) = &opts.country {
                candidates.extend(
                    rule::applicable(rules, country, ty, at)
                        .into_iter()
                        .filter(|r| r.rule_type == RuleType::Acceptance),
                );
            }
            if let Some(country) = &issuer_country {
                candidates.extend(
                    rule::applicable(rules, country, ty, at)
                        .into_iter()
                        .filter(|r| r.rule_type == RuleType::Invalidation),
                );
            }
        } else {
            candidates.extend(rules_for_type(rules, ty, opts));
        }
        for r in candidates {
            if !selected.iter().any(|s| std::ptr::eq(*s, r)) {
                selected.push(r);
            }
        }
    }
    if selected.is_empty() {
        return;
    }
    let to_offset = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.fixed_offset());
    let external = External {
        value_sets: trust.value_sets().clone(),
        validation_clock: at.fixed_offset(),
        country_code: opts.country.clone().unwrap_or_default(),
        exp: claims.exp.and_then(to_offset),
        iat: claims.iat.and_then(to_offset),
        issuer_country_code: issuer_country,
        kid: Some(tillit_crypto::b64::encode_std(kid)),
        region: None,
    }
    .to_value();
    match run_all(&selected, payload, &external) {
        Ok(()) => report.pass(Step::Rules),
        Err(failures) => report.fail(Step::Rules, failures),
    }
}

/// The rules for a Tillit credential type (a TL1 attestation type or an SD-JWT VC `vct`): those
/// whose `CertificateType` is the type, valid at `opts.at`, of `opts.country` when one is given,
/// and of each `Identifier` only the highest `Version` (as for HCERT).
pub(crate) fn rules_for_type<'a>(
    rules: &'a [Rule],
    ty: &str,
    opts: &VerifyOptions,
) -> Vec<&'a Rule> {
    rule::latest_versions(
        rules
            .iter()
            .filter(|r| {
                r.certificate_type == ty
                    && r.valid_from <= opts.at
                    && opts.at <= r.valid_to
                    && opts
                        .country
                        .as_ref()
                        .is_none_or(|c| r.country.eq_ignore_ascii_case(c))
            })
            .collect(),
    )
}

/// Runs each rule on `payload`; `Err` lists every rule that did not pass (a rule that does not
/// apply to the payload passes).
pub(crate) fn run_all(rules: &[&Rule], payload: &Json, external: &Json) -> Result<(), String> {
    let failures: Vec<String> = rules
        .iter()
        .filter_map(|r| match rule::run(r, payload, external) {
            Ok(RuleOutcome::Passed | RuleOutcome::NotApplicable { .. }) => None,
            Ok(outcome) => Some(format!("rule {} {}", r.identifier, outcome.as_str())),
            Err(e) => Some(format!("rule {} could not run: {e}", r.identifier)),
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
