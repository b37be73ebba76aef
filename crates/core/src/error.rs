use thiserror::Error;

/// Errors of the core vocabulary: every one names the bad input and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// A country code that is not one of SE, DK, NO, FI, IS.
    #[error("unknown country {0:?}: expected one of SE, DK, NO, FI, IS")]
    UnknownCountry(String),
    /// An organisation number that does not match its country's format or check digit.
    #[error("invalid organisation number {value:?} for {country}: {reason}")]
    InvalidOrganisationNumber {
        /// The country whose format was applied.
        country: crate::Country,
        /// The input as given.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// An identifier that is not a UUID.
    #[error(
        "invalid {kind} {value:?}: expected a UUID such as 0190b7d6-8c4e-7a3b-9f00-123456789abc"
    )]
    InvalidId {
        /// Which identifier ("organisation id", ...).
        kind: &'static str,
        /// The input as given.
        value: String,
    },
    /// A level-of-assurance value that is in none of the known vocabularies.
    #[error("unknown level of assurance {0:?}: expected low, substantial or high, or an eIDAS, NSIS, Swedish or ID-porten value")]
    UnknownLoa(String),
    /// A page size outside the allowed range.
    #[error("invalid page limit {limit}: expected 1..={max}")]
    InvalidPageLimit {
        /// The requested limit.
        limit: u32,
        /// The largest allowed limit.
        max: u32,
    },
}
