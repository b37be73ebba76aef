use thiserror::Error;

/// Everything that can go wrong in the audit domain (revisionslogg).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditError {
    /// A required text field of an audit event is empty.
    #[error("audit event field `{0}` is empty: give the acting principal and a dotted action name such as `org.create`")]
    EmptyField(&'static str),
    /// The sequence number would overflow `u64`.
    #[error("audit sequence number overflows after {0}: the log is full")]
    SequenceOverflow(u64),
    /// `details` holds a number that JSON canonicalisation (RFC 8785) cannot represent exactly,
    /// or nests too deep.
    #[error("audit details are not storable: {0}")]
    DetailsNotIJson(String),
    /// A time outside the years 0000..=9999, which RFC 3339 cannot write.
    #[error("audit time {0} is outside the years 0000-9999 that RFC 3339 can write")]
    TimeOutOfRange(String),
    /// Text that should be an RFC 3339 UTC time with microseconds is not.
    #[error("`{0}` is not an RFC 3339 UTC time of the form 2026-01-31T12:00:00.000000Z")]
    InvalidTime(String),
    /// Text that should be a 32-byte lowercase hex hash is not.
    #[error("`{field}` is not a 32-byte hash in lowercase hex (64 characters): {reason}")]
    InvalidHash {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A Merkle proof was requested for arguments outside the tree.
    #[error("invalid Merkle proof request: {0}")]
    ProofRequest(String),
    /// A Merkle inclusion or consistency proof does not verify.
    #[error("Merkle proof does not verify: {0}")]
    ProofInvalid(String),
    /// A tree head signature could not be made or does not verify.
    #[error("tree head signature: {0}")]
    Signature(String),
    /// Input to the export writer that cannot produce a verifiable export.
    #[error("cannot write audit export: {0}")]
    Export(String),
}
