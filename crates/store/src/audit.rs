//! The audit log (revisionslogg) and its signed tree heads: the `audit_entries` and
//! `audit_tree_heads` tables, whose columns are text exactly as `tillit_audit` hashes it.

use std::future::Future;

use chrono::{DateTime, Utc};
use tillit_audit::{AuditEntry, AuditEvent, GENESIS_HASH};

use crate::db::{query, Row, Tx};
use crate::{Store, StoreError};

/// A signed Merkle tree head (RFC 9162) over the audit log's first `tree_size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHeadRecord {
    /// Number of entries covered (seq 1..=tree_size).
    pub tree_size: u64,
    /// Merkle tree hash of those entries.
    pub root_hash: [u8; 32],
    /// When it was signed (microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// `kid` of the signing key.
    pub key_id: String,
    /// The signature, as produced by the audit crate.
    pub signature: Vec<u8>,
}

/// The audit log (revisionslogg) and its signed tree heads.
pub trait AuditRepo {
    /// Appends an entry for an event that changes nothing else in the store.
    fn append_audit(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send;

    /// Up to `limit` entries with `seq >= from_seq`, in seq order.
    fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// The entry with the highest seq, if any.
    fn audit_last(&self) -> impl Future<Output = Result<Option<AuditEntry>, StoreError>> + Send;

    /// The number of entries (= the highest seq, since seq has no gaps).
    fn audit_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The `hash` of entries 1..=upto in seq order: the Merkle leaf data of the log
    /// (leaf hash = SHA-256(0x00 || hash), see `tillit_audit::AuditEntry::leaf_hash`).
    fn audit_entry_hashes(
        &self,
        upto: u64,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>, StoreError>> + Send;

    /// Stores a signed tree head. [`StoreError::Conflict`] when one of that size exists.
    fn insert_tree_head(
        &self,
        head: TreeHeadRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The tree head with the largest tree size, if any.
    fn latest_tree_head(
        &self,
    ) -> impl Future<Output = Result<Option<TreeHeadRecord>, StoreError>> + Send;

    /// Every tree head, smallest tree size first.
    fn tree_heads(&self) -> impl Future<Output = Result<Vec<TreeHeadRecord>, StoreError>> + Send;

    /// The tree head of exactly this size, if any.
    fn tree_head_at_size(
        &self,
        tree_size: u64,
    ) -> impl Future<Output = Result<Option<TreeHeadRecord>, StoreError>> + Send;
}

const ENTRIES: &str = "audit_entries";
const ENTRY_COLS: &str = "seq, time, actor, org_id, action, object_id, details, prev_hash, hash";
const HEADS: &str = "audit_tree_heads";
const HEAD_COLS: &str = "tree_size, root_hash, timestamp, key_id, signature";

/// Decodes an entry as stored; it does NOT recompute the hash (verification is
/// `tillit_audit`'s job, and it must see what is really stored).
fn entry_from_row(row: &Row) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: row.count("seq")?,
        time: row.text_time("time")?,
        actor: row.text("actor")?,
        org_id: row.opt_text("org_id")?,
        action: row.text("action")?,
        object_id: row.opt_text("object_id")?,
        details: row.json("details")?,
        prev_hash: row.hex_hash("prev_hash")?,
        hash: row.hex_hash("hash")?,
    })
}

fn head_from_row(row: &Row) -> Result<TreeHeadRecord, StoreError> {
    Ok(TreeHeadRecord {
        tree_size: row.count("tree_size")?,
        root_hash: row.hex_hash("root_hash")?,
        timestamp: row.text_time("timestamp")?,
        key_id: row.text("key_id")?,
        signature: row.bytes("signature")?,
    })
}

/// Appends `event` as the next audit entry inside the caller's write transaction (which holds
/// the audit-append lock, see [`crate::db::Db::write`]).
pub(crate) async fn append_in(
    tx: &mut Tx,
    event: AuditEvent,
    at: DateTime<Utc>,
) -> Result<AuditEntry, StoreError> {
    let last = query(
        ENTRIES,
        "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(tx.on())
    .await?;
    let (prev_seq, prev_hash) = match last {
        None => (0, GENESIS_HASH),
        Some(row) => (row.count("seq")?, row.hex_hash("hash")?),
    };
    let entry = AuditEntry::next(prev_seq, prev_hash, event, at)?;
    query(
        ENTRIES,
        format!(
            "INSERT INTO audit_entries ({ENTRY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
    )
    .count(entry.seq)?
    .text(tillit_audit::format_time(&entry.time))
    .text(&entry.actor)
    .opt_text(entry.org_id.as_deref())
    .text(&entry.action)
    .opt_text(entry.object_id.as_deref())
    .text(tillit_audit::canonical_json(&entry.details))
    .text(hex::encode(entry.prev_hash))
    .text(hex::encode(entry.hash))
    .execute(tx.on())
    .await?;
    Ok(entry)
}

impl AuditRepo for Store {
    async fn append_audit(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        self.db
            .write(move |tx| Box::pin(append_in(tx, event, at)))
            .await
    }

    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let Ok(from) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        query(
            ENTRIES,
            format!("SELECT {ENTRY_COLS} FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2"),
        )
        .int(from)
        .int(i64::from(limit))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
    }

    async fn audit_last(&self) -> Result<Option<AuditEntry>, StoreError> {
        query(
            ENTRIES,
            format!("SELECT {ENTRY_COLS} FROM audit_entries ORDER BY seq DESC LIMIT 1"),
        )
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(entry_from_row)
        .transpose()
    }

    async fn audit_count(&self) -> Result<u64, StoreError> {
        query(ENTRIES, "SELECT COUNT(*) AS n FROM audit_entries")
            .fetch_one(self.db.read())
            .await?
            .count("n")
    }

    async fn audit_entry_hashes(&self, upto: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        query(
            ENTRIES,
            "SELECT hash FROM audit_entries WHERE seq <= $1 ORDER BY seq",
        )
        .int(i64::try_from(upto).unwrap_or(i64::MAX))
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| row.hex_hash("hash"))
        .collect()
    }

    async fn insert_tree_head(&self, head: TreeHeadRecord) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    query(
                        HEADS,
                        format!("INSERT INTO audit_tree_heads ({HEAD_COLS}) VALUES ($1, $2, $3, $4, $5)"),
                    )
                    .count(head.tree_size)?
                    .text(hex::encode(head.root_hash))
                    .text(tillit_audit::format_time(&head.timestamp))
                    .text(&head.key_id)
                    .bytes(head.signature)
                    .execute(tx.on())
                    .await
                    .map_err(|e| e.on_write("tree head"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn latest_tree_head(&self) -> Result<Option<TreeHeadRecord>, StoreError> {
        query(
            HEADS,
            format!("SELECT {HEAD_COLS} FROM audit_tree_heads ORDER BY tree_size DESC LIMIT 1"),
        )
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(head_from_row)
        .transpose()
    }

    async fn tree_heads(&self) -> Result<Vec<TreeHeadRecord>, StoreError> {
        query(
            HEADS,
            format!("SELECT {HEAD_COLS} FROM audit_tree_heads ORDER BY tree_size"),
        )
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(head_from_row)
        .collect()
    }

    async fn tree_head_at_size(
        &self,
        tree_size: u64,
    ) -> Result<Option<TreeHeadRecord>, StoreError> {
        let Ok(size) = i64::try_from(tree_size) else {
            return Ok(None);
        };
        query(
            HEADS,
            format!("SELECT {HEAD_COLS} FROM audit_tree_heads WHERE tree_size = $1"),
        )
        .int(size)
        .fetch_optional(self.db.read())
        .await?
        .as_ref()
        .map(head_from_row)
        .transpose()
    }
}
