//! SD-JWT VC (IETF draft-ietf-oauth-sd-jwt-vc): `typ: dc+sd-jwt`, `vct`,
//! `iss`, `iat`, `nbf`, `exp`, `cnf.jwk`, `status.status_list{idx, uri}` on
//! top of SD-JWT, and the verifier that reports step by step.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use tillit_crypto::{x509, Jwk, SigningKey, VerifyingKey};

use super::core::{numeric_date, KeyBinding, KeyBindingCheck, SdJwt, CLOCK_SKEW_SECONDS};
use super::issue::{issue, IssueOptions, Issued};
use super::path::ClaimPath;
use crate::error::CredentialError;
use crate::report::{Format, Step, VerificationReport, VerifyOptions};
pub use crate::status_list::StatusReference;
use crate::trust::{TrustStore, TrustedIssuer, TrustedKey};

/// The media type Tillit issues (SD-JWT VC draft ≥ 06).
pub const TYP_DC_SD_JWT: &str = "dc+sd-jwt";
/// The media type of earlier drafts, still accepted when verifying (the draft asks verifiers to accept both during the transition).
pub const TYP_VC_SD_JWT: &str = "vc+sd-jwt";

/// Claims that the SD-JWT VC draft forbids to be selectively disclosable.
pub const NEVER_SELECTIVE: [&str; 7] =
    ["iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"];

/// What an issuer puts into an SD-JWT VC.
#[derive(Debug, Clone)]
pub struct VcInput {
    /// Verifiable credential type, e.g. `https://ankeborg.se/vct/parking-permit`.
    pub vct: String,
    pub iss: String,
    pub iat: DateTime<Utc>,
    pub nbf: Option<DateTime<Utc>>,
    pub exp: Option<DateTime<Utc>>,
    pub sub: Option<String>,
    /// The holder's public key, put into `cnf.jwk` (private members are dropped).
    pub holder_key: Option<Jwk>,
    pub status: Option<StatusReference>,
    /// The attestation's own claims (must not use the registered names above).
    pub claims: Map<String, Value>,
}

/// Issue an SD-JWT VC. `selective` names the selectively disclosable claims;
/// `iss`, `nbf`, `exp`, `cnf`, `vct` and `status` can never be.
pub fn issue_vc(
    input: &VcInput,
    selective: &[ClaimPath],
    key: &SigningKey,
    opts: &IssueOptions,
) -> Result<Issued, CredentialError> {
    for path in selective {
        if let Some(first) = path.first_key() {
            if NEVER_SELECTIVE.contains(&first) && path.0.len() == 1 {
                return Err(CredentialError::InvalidInput(format!(
                    "claim {first:?} cannot be selectively disclosable in an SD-JWT VC"
                )));
            }
            if NEVER_SELECTIVE.contains(&first) {
                return Err(CredentialError::InvalidInput(format!(
                    "claims inside {first:?} cannot be selectively disclosable in an SD-JWT VC"
                )));
            }
        }
    }
    let mut payload = Map::new();
    payload.insert("iss".into(), Value::String(input.iss.clone()));
    payload.insert("iat".into(), Value::from(input.iat.timestamp()));
    if let Some(nbf) = input.nbf {
        payload.insert("nbf".into(), Value::from(nbf.timestamp()));
    }
    if let Some(exp) = input.exp {
        payload.insert("exp".into(), Value::from(exp.timestamp()));
    }
    payload.insert("vct".into(), Value::String(input.vct.clone()));
    if let Some(sub) = &input.sub {
        payload.insert("sub".into(), Value::String(sub.clone()));
    }
    if let Some(holder) = &input.holder_key {
        let mut cnf = Map::new();
        cnf.insert("jwk".into(), serde_json::to_value(holder.to_public())?);
        payload.insert("cnf".into(), Value::Object(cnf));
    }
    if let Some(status) = &input.status {
        payload.insert("status".into(), status.to_json());
    }
    for (k, v) in &input.claims {
        if payload.contains_key(k) || NEVER_SELECTIVE.contains(&k.as_str()) {
            return Err(CredentialError::InvalidInput(format!(
                "claim {k:?} is set by the SD-JWT VC envelope; remove it from the attestation claims"
            )));
        }
        payload.insert(k.clone(), v.clone());
    }
    let mut opts = opts.clone();
    if opts.typ.is_none() {
        opts.typ = Some(TYP_DC_SD_JWT.into());
    }
    issue(payload, selective, key, &opts)
}

/// A verified SD-JWT VC.
#[derive(Debug, Clone)]
pub struct VerifiedVc {
    pub vct: String,
    pub iss: Option<String>,
    /// The disclosed claims (processed payload, without `_sd`/`_sd_alg`).
    pub claims: Map<String, Value>,
    /// The claims that were disclosed, by path.
    pub disclosed: Vec<ClaimPath>,
    /// The trust-list entry of the issuer, when the key came with one.
    pub issuer: Option<TrustedIssuer>,
    pub key_binding: Option<KeyBinding>,
    pub status: Option<StatusReference>,
}

/// Verify an SD-JWT VC (issuance form or presentation) and return the typed result.
///
/// Fails on the first problem (see [`verify_report`] for every step).
pub fn verify(
    input: &str,
    trust: &TrustStore,
    opts: &VerifyOptions,
) -> Result<VerifiedVc, CredentialError> {
    let (_, result) = run(input, trust, opts, Want::Typed);
    result
}

/// Verify an SD-JWT VC and report each step.
///
/// Steps: `signature` = issuer signature (allow-listed algorithm) and every
/// disclosure's digest; `trusted_issuer` = a key in the store for `kid`/`x5c`/`iss`
/// whose issuer may issue this `vct` at `opts.at`; `validity` = `exp`/`nbf`/`iat`
/// with [`CLOCK_SKEW_SECONDS`]; `status` = the referenced status list when the
/// store has it (null otherwise); `rules` = the store's CertLogic rules whose
/// `CertificateType` is the `vct` (of `opts.country` when set), null when none;
/// `holder_binding` = the KB-JWT when present, required when `opts.audience` or
/// `opts.nonce` is set.
pub fn verify_report(input: &str, trust: &TrustStore, opts: &VerifyOptions) -> VerificationReport {
    run(input, trust, opts, Want::Report).0
}

/// Which result the caller keeps: the claims go to that one only (no copy).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Report,
    Typed,
}

struct Run {
    report: VerificationReport,
    first_error: Option<CredentialError>,
}

impl Run {
    fn fail(&mut self, step: Step, err: CredentialError) {
        self.report.fail(step, err.to_string());
        if self.first_error.is_none() {
            self.first_error = Some(err);
        }
    }

    fn done(
        self,
        verified: Option<VerifiedVc>,
    ) -> (VerificationReport, Result<VerifiedVc, CredentialError>) {
        let report = self.report.finish();
        let result = match (self.first_error, verified) {
            (Some(e), _) => Err(e),
            (None, Some(v)) => Ok(v),
            (None, None) => Err(CredentialError::InvalidInput(
                "verification did not complete".into(),
            )),
        };
        (report, result)
    }
}

fn run(
    input: &str,
    trust: &TrustStore,
    opts: &VerifyOptions,
    want: Want,
) -> (VerificationReport, Result<VerifiedVc, CredentialError>) {
    let mut report = VerificationReport::new();
    report.format = Some(Format::SdJwtVc);
    let mut run = Run {
        report,
        first_error: None,
    };

    // Parse and check the envelope.
    let mut sd = match SdJwt::parse(input) {
        Ok(sd) => sd,
        Err(e) => {
            run.fail(Step::Signature, e);
            return run.done(None);
        }
    };
    match sd.header().get("typ").and_then(Value::as_str) {
        Some(TYP_DC_SD_JWT) | Some(TYP_VC_SD_JWT) => {}
        other => {
            run.fail(
                Step::Signature,
                CredentialError::malformed(
                    "SD-JWT VC",
                    format!("header typ is {other:?}; an SD-JWT VC has typ \"dc+sd-jwt\""),
                ),
            );
            return run.done(None);
        }
    }

    // Find the issuer's key.
    let candidates = match candidate_keys(&sd, trust) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            let kid = sd
                .header()
                .get("kid")
                .and_then(Value::as_str)
                .unwrap_or("-");
            let iss = sd
                .payload()
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or("-");
            run.fail(
                Step::TrustedIssuer,
                CredentialError::UntrustedIssuer(format!(
                    "no trusted key for kid {kid:?} or issuer {iss:?}; add the issuer's key (--cert) or a trust bundle (--bundle)"
                )),
            );
            return run.done(None);
        }
        Err(e) => {
            run.fail(Step::TrustedIssuer, e);
            return run.done(None);
        }
    };

    // Issuer signature.
    let mut signer: Option<&TrustedKey> = None;
    let mut last_err = None;
    for key in &candidates {
        match sd.verify_signature(&key.key) {
            Ok(()) => {
                signer = Some(key);
                break;
            }
            Err(e @ CredentialError::AlgorithmNotAllowed(_)) => {
                last_err = Some(e);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some(signer) = signer else {
        let err =
            last_err.unwrap_or_else(|| CredentialError::BadSignature("no key verified".into()));
        run.fail(Step::Signature, err);
        return run.done(None);
    };

    // Disclosures.
    let signed_registered = NEVER_SELECTIVE.map(|name| sd.payload().contains_key(name));
    let processed = match sd.process_in_place(want == Want::Typed) {
        Ok(p) => p,
        Err(e) => {
            run.fail(Step::Signature, e);
            return run.done(None);
        }
    };
    let claims = processed.claims;
    if let Err(e) = check_vc_claims(&signed_registered, &claims) {
        run.fail(Step::Signature, e);
        return run.done(None);
    }
    run.report.pass(Step::Signature);
    let vct = claims
        .get("vct")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string);

    // Trusted issuer.
    match check_issuer(signer, iss.as_deref(), &vct, opts.at) {
        Ok(()) => run.report.pass(Step::TrustedIssuer),
        Err(e) => run.fail(Step::TrustedIssuer, e),
    }

    // Validity window.
    match check_validity(&claims, opts.at) {
        Ok(()) => run.report.pass(Step::Validity),
        Err(e) => run.fail(Step::Validity, e),
    }

    // Status.
    let status = match claims
        .get("status")
        .map(StatusReference::from_status_claim)
        .transpose()
    {
        Ok(s) => s.flatten(),
        Err(e) => {
            run.fail(Step::Status, e);
            None
        }
    };
    if let Some(reference) = &status {
        match trust.check_status(signer.issuer.as_ref(), &reference.uri, reference.idx) {
            Ok(Some(())) => run.report.pass(Step::Status),
            Ok(None) => {}
            Err(e) => run.fail(Step::Status, e),
        }
    }

    // Rules.
    match check_rules(trust, opts, &vct, &claims) {
        Ok(Some(())) => run.report.pass(Step::Rules),
        Ok(None) => {}
        Err(e) => run.fail(Step::Rules, e),
    }

    // Holder binding.
    let required = opts.audience.is_some() || opts.nonce.is_some();
    let mut key_binding = None;
    if sd.kb_jwt().is_some() {
        let check = KeyBindingCheck {
            audience: opts.audience.as_deref(),
            nonce: opts.nonce.as_deref(),
            at: opts.at,
        };
        match holder_key(&claims).and_then(|k| sd.verify_key_binding(&k, &check)) {
            Ok(kb) => {
                run.report.pass(Step::HolderBinding);
                key_binding = Some(kb);
            }
            Err(e) => run.fail(Step::HolderBinding, e),
        }
    } else if required {
        run.fail(
            Step::HolderBinding,
            CredentialError::KeyBinding(
                "the verifier asked for key binding (audience/nonce) but the presentation has no KB-JWT".into(),
            ),
        );
    }

    if want == Want::Report {
        run.report.claims = Value::Object(claims);
        return run.done(None);
    }
    let verified = VerifiedVc {
        vct,
        iss,
        claims,
        disclosed: processed
            .revealed
            .into_iter()
            .map(|(_, p)| ClaimPath(p))
            .collect(),
        issuer: signer.issuer.clone(),
        key_binding,
        status,
    };
    run.done(Some(verified))
}

/// Issuer key lookup: header `kid` in the store; else the `x5c` leaf; else every key of `iss`;
/// and, when the header names no `kid`, the keys trusted directly (pinned, no issuer): the Python
/// reference implementation (PyPI `sd-jwt`) writes no `kid` unless asked to. A `kid` that names
/// no trusted key is not retried with the pinned keys: it names another key.
fn candidate_keys<'t>(
    sd: &SdJwt,
    trust: &'t TrustStore,
) -> Result<Vec<&'t TrustedKey>, CredentialError> {
    if let Some(kid) = sd.header().get("kid").and_then(Value::as_str) {
        let keys = trust.keys_for_jwt_kid(kid);
        if !keys.is_empty() {
            return Ok(keys);
        }
    }
    if let Some(leaf) = sd
        .header()
        .get("x5c")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let leaf = leaf.as_str().ok_or_else(|| {
            CredentialError::malformed("SD-JWT VC", "x5c entries must be base64 strings")
        })?;
        let cert = x509::parse_certificate(leaf.as_bytes())?;
        // A trusted certificate with the same DER holds the same key, so the
        // thumbprint finds it too.
        let keys = trust.keys_for_thumbprint(&cert.key.thumbprint());
        if !keys.is_empty() {
            return Ok(keys);
        }
    }
    let mut keys = sd
        .payload()
        .get("iss")
        .and_then(Value::as_str)
        .map(|iss| trust.keys_for_issuer(iss))
        .unwrap_or_default();
    if !sd.header().contains_key("kid") {
        keys.extend(trust.pinned_keys());
    }
    Ok(keys)
}

/// Envelope rules of the SD-JWT VC draft: `vct` present, registered claims not selectively disclosed.
///
/// `signed_registered[i]`: whether `NEVER_SELECTIVE[i]` is in the issuer-signed payload itself.
fn check_vc_claims(
    signed_registered: &[bool; NEVER_SELECTIVE.len()],
    claims: &Map<String, Value>,
) -> Result<(), CredentialError> {
    for (name, signed) in NEVER_SELECTIVE.iter().zip(signed_registered) {
        if !signed && claims.contains_key(*name) {
            return Err(CredentialError::Disclosure(format!(
                "claim {name:?} was selectively disclosed; the SD-JWT VC format forbids that"
            )));
        }
    }
    match claims.get("vct") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return Err(CredentialError::malformed(
                "SD-JWT VC",
                "no vct (credential type) claim",
            ))
        }
    }
    if let Some(iss) = claims.get("iss") {
        if !iss.is_string() {
            return Err(CredentialError::malformed(
                "SD-JWT VC",
                "iss is not a string",
            ));
        }
    }
    Ok(())
}

fn check_issuer(
    key: &TrustedKey,
    iss: Option<&str>,
    vct: &str,
    at: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let Some(issuer) = &key.issuer else {
        return Ok(()); // a key trusted directly (--cert) vouches for any issuer name and type
    };
    if let Some(iss) = iss {
        if iss != issuer.id {
            return Err(CredentialError::UntrustedIssuer(format!(
                "the credential says iss {iss:?} but was signed with a key of issuer {:?}",
                issuer.id
            )));
        }
    }
    issuer.check(Some(vct), at)
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, CredentialError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => numeric_date(v).map(Some).ok_or_else(|| {
            CredentialError::malformed("SD-JWT VC", format!("{name} is not a NumericDate"))
        }),
    }
}

use crate::verify::fmt_time;

/// `exp`, `nbf` and `iat` against `at`, each with [`CLOCK_SKEW_SECONDS`] of tolerance.
pub(crate) fn check_validity(
    claims: &Map<String, Value>,
    at: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let now = at.timestamp();
    if let Some(exp) = time_claim(claims, "exp")? {
        if now > exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(CredentialError::Expired {
                expired_at: fmt_time(exp),
                at: at.to_rfc3339(),
            });
        }
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = time_claim(claims, name)? {
            if now < t.saturating_sub(CLOCK_SKEW_SECONDS) {
                return Err(CredentialError::NotYetValid {
                    valid_from: fmt_time(t),
                    at: at.to_rfc3339(),
                });
            }
        }
    }
    Ok(())
}

/// CertLogic rules (DCC rule envelopes in the store) whose `CertificateType`
/// is the `vct`, valid at `opts.at`, of `opts.country` when given; run on the
/// disclosed claims. `Ok(None)`: no such rule.
fn check_rules(
    trust: &TrustStore,
    opts: &VerifyOptions,
    vct: &str,
    claims: &Map<String, Value>,
) -> Result<Option<()>, CredentialError> {
    use tillit_certlogic::rule::External;
    let selected = crate::verify::rules_for_type(trust.rules(), vct, opts);
    if selected.is_empty() {
        return Ok(None);
    }
    let at = opts.at;
    let time = |name: &str| {
        claims
            .get(name)
            .and_then(numeric_date)
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .map(|d| d.fixed_offset())
    };
    let external = External {
        value_sets: trust.value_sets().clone(),
        validation_clock: at.fixed_offset(),
        country_code: opts.country.clone().unwrap_or_default(),
        exp: time("exp"),
        iat: time("iat"),
        issuer_country_code: None,
        kid: None,
        region: None,
    }
    .to_value();
    let payload = Value::Object(claims.clone());
    crate::verify::run_all(&selected, &payload, &external)
        .map(Some)
        .map_err(|failures| CredentialError::Rules(format!("not met: {failures}")))
}

/// The holder key from `cnf.jwk`.
fn holder_key(claims: &Map<String, Value>) -> Result<VerifyingKey, CredentialError> {
    let jwk = claims
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .ok_or_else(|| {
            CredentialError::KeyBinding(
                "the credential has no cnf.jwk holder key to check the KB-JWT".into(),
            )
        })?;
    let jwk = Jwk::deserialize(jwk)
        .map_err(|e| CredentialError::KeyBinding(format!("cnf.jwk is not a JWK: {e}")))?;
    VerifyingKey::from_jwk(&jwk)
        .map_err(|e| CredentialError::KeyBinding(format!("cnf.jwk is not usable: {e}")))
}
