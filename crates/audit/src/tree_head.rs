//! Signed tree heads (signerade trädhuvuden) over the audit log's Merkle tree.

use chrono::{DateTime, SubsecRound, Utc};
use tillit_crypto::{SigningKey, VerifyingKey};

use crate::{format_time, AuditError};

/// First line of a tree head's signing input.
pub const TREE_HEAD_CONTEXT: &str = "tillit-audit-tree-head/v1";

/// A signed statement that the log's first `tree_size` entries have Merkle root `root_hash`
/// (RFC 9162 §2.1.1 MTH over the entries' leaves).
///
/// The signature is over [`TreeHead::signing_input`], the UTF-8 text
///
/// ```text
/// tillit-audit-tree-head/v1\n
/// <tree_size, decimal>\n
/// <root_hash, 64 lowercase hex digits>\n
/// <timestamp, RFC 3339 UTC with 6 fractional digits and Z>\n
/// <key_id>\n
/// ```
///
/// made with the dedicated audit signing key whose RFC 7638 thumbprint is `key_id`. ECDSA
/// signatures are raw `r || s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of entries covered (entries with seq `1..=tree_size`).
    pub tree_size: u64,
    /// MTH of those entries' leaves.
    pub root_hash: [u8; 32],
    /// When the head was signed, truncated to microseconds.
    pub timestamp: DateTime<Utc>,
    /// RFC 7638 thumbprint of the signing key.
    pub key_id: String,
    /// Signature over [`TreeHead::signing_input`].
    pub signature: Vec<u8>,
}

impl TreeHead {
    /// Signs a tree head. `timestamp` is truncated to microseconds.
    pub fn sign(
        tree_size: u64,
        root_hash: [u8; 32],
        timestamp: DateTime<Utc>,
        key: &SigningKey,
    ) -> Result<TreeHead, AuditError> {
        let mut head = TreeHead {
            tree_size,
            root_hash,
            timestamp: timestamp.trunc_subsecs(6),
            key_id: key.kid(),
            signature: Vec::new(),
        };
        head.signature = key
            .sign(&head.signing_input())
            .map_err(|e| AuditError::Signature(e.to_string()))?;
        Ok(head)
    }

    /// The exact bytes that are signed; see the type's documentation.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_text(
            TREE_HEAD_CONTEXT,
            self.tree_size,
            &self.root_hash,
            &self.timestamp,
            &self.key_id,
            None,
        )
        .into_bytes()
    }

    /// Verifies the signature with `key`, whose thumbprint must be `key_id`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), AuditError> {
        check_signature(&self.key_id, &self.signing_input(), &self.signature, key)
    }

    /// Verifies the signature with the key among `trusted` whose thumbprint is `key_id`.
    pub fn verify_trusted(&self, trusted: &[VerifyingKey]) -> Result<(), AuditError> {
        self.verify(find_key(&self.key_id, trusted)?)
    }
}

pub(crate) fn signing_text(
    context: &str,
    tree_size: u64,
    root_hash: &[u8; 32],
    timestamp: &DateTime<Utc>,
    key_id: &str,
    head_sizes: Option<&[u64]>,
) -> String {
    let mut text = format!(
        "{context}\n{tree_size}\n{}\n{}\n{key_id}\n",
        hex::encode(root_hash),
        format_time(timestamp)
    );
    if let Some(sizes) = head_sizes {
        let list: Vec<String> = sizes.iter().map(u64::to_string).collect();
        text.push_str(&list.join(","));
        text.push('\n');
    }
    text
}

pub(crate) fn find_key<'k>(
    key_id: &str,
    trusted: &'k [VerifyingKey],
) -> Result<&'k VerifyingKey, AuditError> {
    trusted.iter().find(|k| k.thumbprint() == key_id).ok_or_else(|| {
        AuditError::Signature(format!(
            "signed by key `{key_id}`, which is not among the {} trusted audit key(s): pass the audit log's public key(s)",
            trusted.len()
        ))
    })
}

pub(crate) fn check_signature(
    key_id: &str,
    input: &[u8],
    signature: &[u8],
    key: &VerifyingKey,
) -> Result<(), AuditError> {
    if key.thumbprint() != key_id {
        return Err(AuditError::Signature(format!(
            "key id `{key_id}` does not name the given key `{}`",
            key.thumbprint()
        )));
    }
    key.verify(input, signature).map_err(|_| {
        AuditError::Signature(format!(
            "the signature by key `{key_id}` does not verify: the signed fields were altered"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tillit_crypto::Algorithm;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(1_234_567)
    }

    #[test]
    fn signing_input_is_the_documented_text() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let head = TreeHead::sign(7, [0xab; 32], t(), &key).unwrap();
        let want = format!(
            "tillit-audit-tree-head/v1\n7\n{}\n2026-11-24T02:00:00.001234Z\n{}\n",
            "ab".repeat(32),
            key.kid()
        );
        assert_eq!(String::from_utf8(head.signing_input()).unwrap(), want);
        assert_eq!(head.key_id, key.kid());
        key.verifying_key()
            .verify(want.as_bytes(), &head.signature)
            .unwrap();
    }

    #[test]
    fn sign_and_verify_for_each_algorithm_and_every_field_is_covered() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let other = SigningKey::generate(alg).unwrap();
            let head = TreeHead::sign(42, [9; 32], t(), &key).unwrap();
            head.verify(&key.verifying_key()).unwrap();
            head.verify_trusted(&[other.verifying_key(), key.verifying_key()])
                .unwrap();
            assert!(head.verify(&other.verifying_key()).is_err());
            assert!(head.verify_trusted(&[other.verifying_key()]).is_err());
            type Mutation = Box<dyn Fn(&mut TreeHead)>;
            let mutations: Vec<(&str, Mutation)> = vec![
                ("tree_size", Box::new(|h| h.tree_size += 1)),
                ("root_hash", Box::new(|h| h.root_hash[0] ^= 1)),
                (
                    "timestamp",
                    Box::new(|h| h.timestamp += chrono::Duration::microseconds(1)),
                ),
                ("signature", Box::new(|h| h.signature[3] ^= 0x10)),
                (
                    "signature cut",
                    Box::new(|h| {
                        h.signature.pop();
                    }),
                ),
            ];
            for (what, mutate) in mutations {
                let mut bad = head.clone();
                mutate(&mut bad);
                assert!(bad.verify(&key.verifying_key()).is_err(), "{alg:?} {what}");
            }
            let mut renamed = head.clone();
            renamed.key_id = other.kid();
            assert!(renamed.verify(&other.verifying_key()).is_err());
        }
    }
}
