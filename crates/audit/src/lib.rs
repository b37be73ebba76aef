//! Tamper-evident audit log (revisionslogg): hash-chained entries, RFC 9162 Merkle trees with
//! inclusion and consistency proofs, signed tree heads, and the JSON-lines export.
//!
//! Pure: no I/O, no clock, no database. Times and keys are passed in.
//!
//! * [`AuditEntry::next`] makes the next entry of the hash chain; the store calls it inside the
//!   write transaction of the change it records.
//! * [`merkle`]: RFC 9162 §2.1 tree hash, inclusion and consistency proofs (generation and
//!   verification), the MTC draft's subtree proofs, and [`merkle::TreeBuilder`] for an
//!   incremental root. The leaf index of an entry is `seq - 1`.
//! * [`TreeHead`]: a signed statement of (tree size, root), made with the dedicated audit key.
//! * [`export`]: the JSON-lines export, its writer, its streaming verifier ([`verify_export`]),
//!   and [`verify_chain`] for the live database.
//!
//! # Entry hash
//!
//! Each [`AuditEntry`] carries `hash = SHA-256(E)` where `E`, the canonical encoding
//! ([`AuditEntry::canonical_encoding`]), is the concatenation of
//!
//! | part | encoding |
//! |---|---|
//! | tag | `str("tillit-audit-entry/v1")` |
//! | `seq` | 8 bytes, unsigned big-endian |
//! | `time` | `str(format_time(time))`: RFC 3339 UTC, exactly 6 fractional digits, `Z`, e.g. `2026-11-24T01:09:28.123456Z` |
//! | `actor` | `str(actor)` |
//! | `org_id` | `opt(org_id)` |
//! | `action` | `str(action)` |
//! | `object_id` | `opt(object_id)` |
//! | `details` | `str(JCS(details))`, JCS = RFC 8785 JSON canonicalisation |
//! | `prev_hash` | the 32 raw bytes |
//!
//! with `str(s) = u64_be(len(utf8(s))) || utf8(s)`, `opt(None) = 0x00`, `opt(Some(s)) = 0x01 || str(s)`.
//! A store may therefore keep every field as text (time via [`format_time`] / [`parse_time`], details
//! as any JSON text, hashes as hex) and reproduce the hash exactly: JCS makes the details' key order,
//! whitespace and number spelling irrelevant. [`AuditEntry::next`] refuses details with integers
//! beyond ±(2^53-1), which JCS cannot carry exactly.
//!
//! The entry's Merkle leaf ([`AuditEntry::leaf_data`]) is its 32-byte `hash`; the leaf hash is
//! `SHA-256(0x00 || hash)` per RFC 9162 §2.1.1.
//!
//! No personal data goes into an entry in clear: reference people through [`pseudonymise`].

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

mod entry;
mod error;
pub mod export;
mod jcs;
pub mod merkle;
mod pseudonym;
mod tree_head;

pub use entry::{
    format_time, parse_hash, parse_time, AuditEntry, AuditEvent, StoredEntry, ENTRY_ENCODING_TAG,
    GENESIS_HASH,
};
pub use error::AuditError;
pub use export::{verify_chain, verify_export, ChainVerifier, ExportSummary, Summary, Violation};
pub use pseudonym::pseudonymise;
pub use tree_head::{TreeHead, TREE_HEAD_CONTEXT};

/// RFC 8785 canonical JSON text of `value`, as hashed into entries.
pub fn canonical_json(value: &serde_json::Value) -> String {
    jcs::canonical(value)
}
