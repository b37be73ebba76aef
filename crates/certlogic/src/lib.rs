//! tillit-certlogic: the CertLogic rule language of the EU Digital COVID Certificate (DCC)
//! business rules, and the DCC rule envelope.
//!
//! CertLogic (specification 1.3.3, `../shared/testdata/certlogic/SPECIFICATION.md`) is a small
//! subset of JsonLogic with date-time operations. [`validate`] checks an expression's form;
//! [`evaluate`] validates and then evaluates it against a data document. Evaluation never panics:
//! an invalid expression or a type mismatch is a [`CertLogicError`]. [`rule`] evaluates a DCC rule
//! (*affärsregel*) against a certificate payload and the verifier's external parameters.
//!
//! Pure: no I/O and no wall clock; the validation clock is part of the input.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod datetime;
mod eval;
pub mod rule;
mod validate;

pub use datetime::{DateTime, TimeUnit};

/// The deepest nesting of arrays and operations an expression may have. Real rules stay far
/// below it; the limit keeps evaluation of hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// Everything that can go wrong when evaluating CertLogic or a DCC rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CertLogicError {
    /// The expression does not have the form the specification requires.
    #[error("invalid CertLogic expression at {0}")]
    InvalidExpression(ValidationError),
    /// A valid expression met data of the wrong type (e.g. `in` on a non-array).
    #[error("CertLogic evaluation failed: {0}")]
    Evaluation(String),
    /// A date(-time) string is not in an allowed format, or date arithmetic left the date range.
    #[error("CertLogic date-time error: {0}")]
    DateTime(String),
    /// The rule envelope is unusable (e.g. its `Logic` is missing).
    #[error("invalid DCC rule: {0}")]
    InvalidRule(String),
    /// The external parameters are unusable (e.g. `validationClock` missing or not a date-time).
    #[error("invalid external parameters: {0}")]
    InvalidExternal(String),
}

/// One reason an expression is malformed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidationError {
    /// JSON Pointer (RFC 6901) to the offending sub-expression; `""` is the whole expression.
    pub path: String,
    /// What is wrong, and what the specification expects instead.
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Checks the form of a CertLogic expression without evaluating it: known operations only, the
/// operand counts each allows, literal operands where the specification requires them (the
/// `plusTime` amount and unit, the `extractFromUVCI` index), well-formed `var` paths, no
/// non-integer numbers, no `null` or object literals, nesting at most [`MAX_DEPTH`].
/// An empty vector means the expression is valid.
pub fn validate(expr: &serde_json::Value) -> Vec<ValidationError> {
    validate::validate(expr)
}

/// Evaluates a CertLogic expression against a data document. The expression is validated first
/// (the first problem is returned as [`CertLogicError::InvalidExpression`]). Date-times in the
/// result are rendered as `YYYY-MM-DDTHH:MM:SS.mmmZ` strings.
pub fn evaluate(
    expr: &serde_json::Value,
    data: &serde_json::Value,
) -> Result<serde_json::Value, CertLogicError> {
    if let Some(first) = validate::validate(expr).into_iter().next() {
        return Err(CertLogicError::InvalidExpression(first));
    }
    eval::evaluate(expr, data)
}
