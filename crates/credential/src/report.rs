//! The step-by-step verification report shared by every format.
//!
//! Its JSON form is the contract of `tillit verify --format json` and of the
//! verify API: `{"valid", "format", "steps": {...}, "claims", "errors": [{"step","message"}]}`.
//! Each step is `true` (passed), `false` (failed) or `null` (not reached / not applicable).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which container the input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    /// EU Digital COVID Certificate, `HC1:` prefix.
    #[serde(rename = "hcert")]
    Hcert,
    /// Tillit's own offline QR attestation, `TL1:` prefix.
    #[serde(rename = "tillit-qr")]
    TillitQr,
    /// SD-JWT VC (`dc+sd-jwt`), issuance or presentation form.
    #[serde(rename = "sd-jwt-vc")]
    SdJwtVc,
}

/// The steps of the pipeline, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Unprefix,
    Base45,
    Decompress,
    Cose,
    Cbor,
    Signature,
    TrustedIssuer,
    KeyUsage,
    Validity,
    Status,
    Rules,
    HolderBinding,
}

/// Outcome per step: `Some(true)` passed, `Some(false)` failed, `None` not reached or not applicable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Steps {
    pub unprefix: Option<bool>,
    pub base45: Option<bool>,
    pub decompress: Option<bool>,
    pub cose: Option<bool>,
    pub cbor: Option<bool>,
    pub signature: Option<bool>,
    pub trusted_issuer: Option<bool>,
    pub key_usage: Option<bool>,
    pub validity: Option<bool>,
    pub status: Option<bool>,
    pub rules: Option<bool>,
    pub holder_binding: Option<bool>,
}

impl Steps {
    fn slot(&mut self, step: Step) -> &mut Option<bool> {
        match step {
            Step::Unprefix => &mut self.unprefix,
            Step::Base45 => &mut self.base45,
            Step::Decompress => &mut self.decompress,
            Step::Cose => &mut self.cose,
            Step::Cbor => &mut self.cbor,
            Step::Signature => &mut self.signature,
            Step::TrustedIssuer => &mut self.trusted_issuer,
            Step::KeyUsage => &mut self.key_usage,
            Step::Validity => &mut self.validity,
            Step::Status => &mut self.status,
            Step::Rules => &mut self.rules,
            Step::HolderBinding => &mut self.holder_binding,
        }
    }

    /// The recorded outcome of `step`.
    pub fn get(&self, step: Step) -> Option<bool> {
        let mut copy = self.clone();
        *copy.slot(step)
    }
}

/// One failed step and why, in words a verifier can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepError {
    pub step: Step,
    pub message: String,
}

/// The result of verifying one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationReport {
    pub valid: bool,
    pub format: Option<Format>,
    pub steps: Steps,
    pub claims: serde_json::Value,
    pub errors: Vec<StepError>,
}

impl Default for VerificationReport {
    fn default() -> Self {
        Self::new()
    }
}

impl VerificationReport {
    pub fn new() -> Self {
        Self {
            valid: false,
            format: None,
            steps: Steps::default(),
            claims: serde_json::Value::Object(serde_json::Map::new()),
            errors: Vec::new(),
        }
    }

    /// Record that `step` passed.
    pub fn pass(&mut self, step: Step) {
        *self.steps.slot(step) = Some(true);
    }

    /// Record that `step` failed, with a message for the verifier.
    pub fn fail(&mut self, step: Step, message: impl Into<String>) {
        *self.steps.slot(step) = Some(false);
        self.errors.push(StepError {
            step,
            message: message.into(),
        });
    }

    /// Record a step's outcome from a `Result`.
    pub fn record<T, E: std::fmt::Display>(
        &mut self,
        step: Step,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.pass(step);
                Some(value)
            }
            Err(err) => {
                self.fail(step, err.to_string());
                None
            }
        }
    }

    /// Close the report: valid when no step failed and the signature, the
    /// issuer's trust and the validity window were all checked and passed.
    pub fn finish(mut self) -> Self {
        let s = &self.steps;
        self.valid = self.errors.is_empty()
            && s.signature == Some(true)
            && s.trusted_issuer == Some(true)
            && s.validity == Some(true);
        self
    }
}

/// What the caller decides about a verification: the time, and the
/// holder-binding challenge for presentations.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The moment at which validity, status and rules are judged.
    pub at: DateTime<Utc>,
    /// Expected KB-JWT `aud` (SD-JWT VC presentations).
    pub audience: Option<String>,
    /// Expected KB-JWT `nonce` (SD-JWT VC presentations).
    pub nonce: Option<String>,
    /// Country of verification for CertLogic rules (`countryCode` external parameter).
    pub country: Option<String>,
}

impl VerifyOptions {
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            at,
            audience: None,
            nonce: None,
            country: None,
        }
    }
}
