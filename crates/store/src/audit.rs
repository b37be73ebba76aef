//! The audit log (revisionslogg) and its signed tree heads: the `audit_entries` and
//! `audit_tree_heads` tables, whose columns are text exactly as `tillit_audit` hashes it; the
//! entries not yet sequenced (`audit_pending`); the Merkle tree's complete subtrees
//! (`audit_tree_nodes`); and the sequencer that moves the first into the log and grows the tree.
//!
//! # How an entry gets its place
//! 1. An audited write inserts its event into `audit_pending` inside its own transaction
//!    ([`append_in`]): it commits with the change or not at all, and takes no lock that other
//!    writers wait for.
//! 2. The sequencer ([`sequence_in`], run by [`Store::sequence_audit`]) takes the sequencer lock
//!    ([`Tx::lock_audit_sequencer`]: one sequencer at a time across processes), reads a batch of
//!    pending rows oldest id first, makes each the next entry with `AuditEntry::next` (seq,
//!    prev_hash, hash exactly as before), inserts them into `audit_entries`, deletes exactly
//!    those pending rows, and stores every Merkle node the new leaves complete — all in one
//!    transaction. A pending row is therefore sequenced exactly once.
//! 3. On SQLite every write transaction already excludes all other writers (`BEGIN IMMEDIATE`),
//!    so [`append_in`] runs the sequencer inside it: the entry is in the log when the write
//!    commits, and no second fsync is paid. On PostgreSQL the server's background task runs it
//!    as soon as [`Store::audit_pending_signal`] fires, and every read of the log runs it first,
//!    so readers see every entry committed before their read.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tillit_audit::merkle::{self, NodeId, TreeBuilder};
use tillit_audit::{AuditEntry, AuditError, AuditEvent, StoredEntry, GENESIS_HASH};
use tokio::sync::Notify;

use crate::db::{query, Db, On, Row, Tx};
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

/// An inclusion proof with the hashes it is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProofRecord {
    /// The entry's leaf hash, SHA-256(0x00 || hash).
    pub leaf_hash: [u8; 32],
    /// The root of the tree of that size.
    pub root_hash: [u8; 32],
    /// The audit path, leaf to root.
    pub path: Vec<[u8; 32]>,
}

/// A consistency proof with the two roots it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProofRecord {
    /// The root of the older tree.
    pub old_root: [u8; 32],
    /// The root of the newer tree.
    pub root_hash: [u8; 32],
    /// The proof nodes.
    pub proof: Vec<[u8; 32]>,
}

/// The audit log (revisionslogg) and its signed tree heads. Every read of the log first
/// sequences what is pending ([`Store::sequence_audit`]), so it sees every entry committed
/// before it began.
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

    /// The Merkle root of the first `tree_size` entries, from O(log n) stored nodes.
    /// [`StoreError::Audit`] when the log is shorter.
    fn audit_root(
        &self,
        tree_size: u64,
    ) -> impl Future<Output = Result<[u8; 32], StoreError>> + Send;

    /// The RFC 9162 inclusion proof of the entry at leaf `index` (seq - 1) in the tree of
    /// `tree_size`, from O(log n) stored nodes.
    fn audit_inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> impl Future<Output = Result<InclusionProofRecord, StoreError>> + Send;

    /// The RFC 9162 consistency proof from the tree of `old_size` to the tree of `tree_size`,
    /// from O(log n) stored nodes.
    fn audit_consistency_proof(
        &self,
        old_size: u64,
        tree_size: u64,
    ) -> impl Future<Output = Result<ConsistencyProofRecord, StoreError>> + Send;

    /// Stores a signed tree head. [`StoreError::Conflict`] when one of that size exists.
    fn insert_tree_head(
        &self,
        head: TreeHeadRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `head` only if, under the sequencer lock (one decision at a time, also across
    /// processes on one database), the latest stored head covers at least `min_new` fewer
    /// entries and was signed at least `min_age` before `head` — so that several instances on
    /// one database sign one head per interval, not one each. Returns whether it was stored.
    fn insert_tree_head_if(
        &self,
        head: TreeHeadRecord,
        min_new: u64,
        min_age: chrono::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

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

const PENDING: &str = "audit_pending";
const PENDING_COLS: &str = "time, actor, org_id, action, object_id, details";
const NODES: &str = "audit_tree_nodes";
const SEQUENCER: &str = "audit_sequencer";

/// Entries per page of [`Store::for_each_stored_audit_entry`].
const STORED_PAGE: u64 = 20_000;
/// Nodes per page of [`Store::check_audit_nodes`].
const NODE_PAGE: u64 = 10_000;
/// Pending entries one sequencer transaction integrates at most.
const SEQUENCE_BATCH: usize = 1000;
/// Rows per multi-row INSERT or per IN list (at most 9 values a row: well below either
/// engine's limit on placeholders).
const CHUNK: usize = 100;
/// Entries whose tree nodes one transaction builds when a log written before the node table
/// is brought up to date (`Store::connect`).
const BUILD_BATCH: u64 = 100_000;

/// Commits `event` with the caller's write transaction: it goes to `audit_pending` and gets its
/// place in the log from the sequencer — within this transaction where the transaction excludes
/// all other writers anyway (SQLite), else after the commit. Checks the event first, so that a
/// change whose entry could not be sequenced is refused instead.
pub(crate) async fn append_in(
    tx: &mut Tx,
    event: AuditEvent,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_pending(tx, event, at).await?;
    if tx.excludes_other_writers() {
        sequence_all_in(tx).await?;
    } else {
        tx.left_audit_pending();
    }
    Ok(())
}

/// Inserts the checked event into `audit_pending`; its pending id.
async fn insert_pending(
    tx: &mut Tx,
    event: AuditEvent,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    event.check(&at)?;
    query(
        PENDING,
        format!("INSERT INTO audit_pending ({PENDING_COLS}) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"),
    )
    .text(tillit_audit::format_time(&at))
    .text(&event.actor)
    .opt_text(event.org_id.as_deref())
    .text(&event.action)
    .opt_text(event.object_id.as_deref())
    .text(tillit_audit::canonical_json(&event.details))
    .fetch_one(tx.on())
    .await?
    .int("id")
}

/// Where the tree's reads run: the read pool, or a transaction.
enum Src<'a> {
    Read(&'a Db),
    Tx(&'a mut Tx),
}

impl Src<'_> {
    fn on(&mut self) -> On<'_> {
        match self {
            Src::Read(db) => db.read(),
            Src::Tx(tx) => tx.on(),
        }
    }
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The hashes of `ids`: leaves from `audit_entries`, the rest from `audit_tree_nodes`.
/// [`StoreError::Corrupt`] when one is missing.
async fn fetch_nodes(
    src: &mut Src<'_>,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, [u8; 32]>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    let (leaves, inner): (Vec<NodeId>, Vec<NodeId>) = ids.iter().partition(|id| id.level == 0);
    for chunk in leaves.chunks(CHUNK) {
        let mut q = query(
            ENTRIES,
            format!(
                "SELECT seq, hash FROM audit_entries WHERE seq IN ({})",
                placeholders(1, chunk.len())
            ),
        );
        for id in chunk {
            q = q.count(id.index.saturating_add(1))?;
        }
        for row in q.fetch_all(src.on()).await? {
            let seq = row.count("seq")?;
            let index = seq
                .checked_sub(1)
                .ok_or_else(|| StoreError::corrupt(ENTRIES, "seq 0"))?;
            out.insert(
                NodeId { level: 0, index },
                merkle::leaf_hash(&row.hex_hash("hash")?),
            );
        }
    }
    for chunk in inner.chunks(CHUNK) {
        let cond = (0..chunk.len())
            .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut q = query(
            NODES,
            format!("SELECT level, idx, hash FROM audit_tree_nodes WHERE {cond}"),
        );
        for id in chunk {
            q = q.int32(level_i32(id.level)?).count(id.index)?;
        }
        for row in q.fetch_all(src.on()).await? {
            let level = u32::try_from(row.int32("level")?)
                .map_err(|_| StoreError::corrupt(NODES, "negative level"))?;
            out.insert(
                NodeId {
                    level,
                    index: row.count("idx")?,
                },
                row.hash32("hash")?,
            );
        }
    }
    if let Some(missing) = ids.iter().find(|id| !out.contains_key(id)) {
        return Err(StoreError::corrupt(
            NODES,
            format!(
                "the Merkle node at level {}, index {} is missing",
                missing.level, missing.index
            ),
        ));
    }
    Ok(out)
}

/// The first of the nodes `above` (level `level`, indexes `lo..hi`) that is missing or is not
/// the hash of its two children in `below` (level − 1, indexes `2·lo..2·hi`, all present).
fn first_wrong_node(
    level: u32,
    lo: u64,
    hi: u64,
    above: &[(u64, [u8; 32])],
    below: &[(u64, [u8; 32])],
) -> Option<String> {
    let child = |i: u64| {
        let at = usize::try_from(i - 2 * lo).ok()?;
        below.get(at).filter(|(idx, _)| *idx == i).map(|(_, h)| h)
    };
    for (n, idx) in (lo..hi).enumerate() {
        let Some((stored_idx, stored)) = above.get(n).filter(|(i, _)| *i == idx) else {
            return Some(format!(
                "the Merkle node at level {level}, index {idx} is missing"
            ));
        };
        let (Some(left), Some(right)) = (child(2 * idx), child(2 * idx + 1)) else {
            return Some(format!(
                "a child of the Merkle node at level {level}, index {stored_idx} is missing"
            ));
        };
        if merkle::node_hash(left, right) != *stored {
            return Some(format!(
                "the Merkle node at level {level}, index {idx} is not the hash of its children: \
                 the node table was altered (proofs through it would not verify)"
            ));
        }
    }
    None
}

fn level_i32(level: u32) -> Result<i32, StoreError> {
    i32::try_from(level).map_err(|_| StoreError::corrupt(NODES, format!("level {level}")))
}

/// A lookup over fetched nodes for the pure computations of `tillit_audit::merkle`.
fn lookup(
    nodes: &HashMap<NodeId, [u8; 32]>,
) -> impl FnMut(NodeId) -> Result<[u8; 32], AuditError> + '_ {
    |id| {
        nodes.get(&id).copied().ok_or_else(|| {
            AuditError::ProofRequest(format!("node ({}, {}) was not read", id.level, id.index))
        })
    }
}

/// Number of entries the stored nodes cover.
async fn tree_size(src: &mut Src<'_>) -> Result<u64, StoreError> {
    query(
        SEQUENCER,
        "SELECT tree_size FROM audit_sequencer WHERE id = 1",
    )
    .fetch_one(src.on())
    .await?
    .count("tree_size")
}

/// (seq, hash) of the last entry; (0, genesis) for an empty log.
async fn last_entry(src: &mut Src<'_>) -> Result<(u64, [u8; 32]), StoreError> {
    let last = query(
        ENTRIES,
        "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(src.on())
    .await?;
    Ok(match last {
        None => (0, GENESIS_HASH),
        Some(row) => (row.count("seq")?, row.hex_hash("hash")?),
    })
}

/// The tree of the first `size` entries, resumed from its O(log n) peaks.
async fn load_builder(src: &mut Src<'_>, size: u64) -> Result<TreeBuilder, StoreError> {
    let ids = merkle::nodes_for_root(size);
    let nodes = fetch_nodes(src, &ids).await?;
    let peaks: Vec<[u8; 32]> = ids.iter().filter_map(|id| nodes.get(id).copied()).collect();
    Ok(TreeBuilder::from_peaks(size, &peaks)?)
}

/// Inserts Merkle nodes (level ≥ 1).
async fn insert_nodes(tx: &mut Tx, nodes: &[(NodeId, [u8; 32])]) -> Result<(), StoreError> {
    for chunk in nodes.chunks(CHUNK) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = query(
            NODES,
            format!("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES {values}"),
        );
        for (id, hash) in chunk {
            q = q
                .int32(level_i32(id.level)?)
                .count(id.index)?
                .bytes(hash.to_vec());
        }
        q.execute(tx.on()).await?;
    }
    Ok(())
}

async fn set_tree_size(tx: &mut Tx, size: u64) -> Result<(), StoreError> {
    query(
        SEQUENCER,
        "UPDATE audit_sequencer SET tree_size = $1 WHERE id = 1",
    )
    .count(size)?
    .execute(tx.on())
    .await?;
    Ok(())
}

/// Builds the nodes of entries `tree_size+1 ..= upto` from their stored hashes (a log written
/// before the node table, or one whose nodes lag): at most `limit` entries. The caller holds
/// the sequencer lock. Returns the new tree size.
async fn build_nodes_in(tx: &mut Tx, upto: u64, limit: u64) -> Result<u64, StoreError> {
    let from = tree_size(&mut Src::Tx(tx)).await?;
    let upto = upto.min(from.saturating_add(limit));
    if from >= upto {
        return Ok(from);
    }
    let mut builder = load_builder(&mut Src::Tx(tx), from).await?;
    let mut nodes = Vec::new();
    while builder.size() < upto {
        let page = query(
            ENTRIES,
            "SELECT seq, hash FROM audit_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 10000",
        )
        .count(builder.size())?
        .count(upto)?
        .fetch_all(tx.on())
        .await?;
        if page.is_empty() {
            return Err(StoreError::corrupt(
                ENTRIES,
                format!("entries after seq {} are missing", builder.size()),
            ));
        }
        for row in &page {
            let seq = row.count("seq")?;
            if seq != builder.size().saturating_add(1) {
                return Err(StoreError::corrupt(
                    ENTRIES,
                    format!(
                        "seq {seq} follows seq {}: the log has a gap",
                        builder.size()
                    ),
                ));
            }
            builder.push_leaf_hash_with(merkle::leaf_hash(&row.hex_hash("hash")?), |id, h| {
                if id.level > 0 {
                    nodes.push((id, h));
                }
            });
        }
        insert_nodes(tx, &nodes).await?;
        nodes.clear();
    }
    set_tree_size(tx, upto).await?;
    Ok(upto)
}

/// One pending row, decoded.
fn pending_from_row(row: &Row) -> Result<(i64, AuditEvent, DateTime<Utc>), StoreError> {
    Ok((
        row.int("id")?,
        AuditEvent {
            actor: row.text("actor")?,
            org_id: row.opt_text("org_id")?,
            action: row.text("action")?,
            object_id: row.opt_text("object_id")?,
            details: row.json("details")?,
        },
        row.text_time("time")?,
    ))
}

/// The sequencer's step, inside a transaction that holds the sequencer lock: integrates up to
/// [`SEQUENCE_BATCH`] pending entries, oldest id first, into the log and the tree. Returns each
/// integrated entry with its pending id, in seq order.
pub(crate) async fn sequence_in(tx: &mut Tx) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
    let (mut seq, mut prev) = last_entry(&mut Src::Tx(tx)).await?;
    // Normally a no-op: the nodes cover every entry.
    while build_nodes_in(tx, seq, BUILD_BATCH).await? < seq {}
    let rows = query(
        PENDING,
        format!("SELECT id, {PENDING_COLS} FROM audit_pending ORDER BY id LIMIT $1"),
    )
    .count(SEQUENCE_BATCH as u64)?
    .fetch_all(tx.on())
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut builder = load_builder(&mut Src::Tx(tx), seq).await?;
    let mut done = Vec::with_capacity(rows.len());
    let mut nodes = Vec::with_capacity(rows.len());
    for row in &rows {
        let (id, event, time) = pending_from_row(row)?;
        let entry = AuditEntry::next(seq, prev, event, time)
            .map_err(|e| StoreError::corrupt(PENDING, format!("pending entry {id}: {e}")))?;
        (seq, prev) = (entry.seq, entry.hash);
        builder.push_leaf_hash_with(entry.leaf_hash(), |id, h| {
            if id.level > 0 {
                nodes.push((id, h));
            }
        });
        done.push((id, entry));
    }
    for chunk in done.chunks(CHUNK) {
        let values = (0..chunk.len())
            .map(|i| format!("({})", placeholders(9 * i + 1, 9)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = query(
            ENTRIES,
            format!("INSERT INTO audit_entries ({ENTRY_COLS}) VALUES {values}"),
        );
        for (_, e) in chunk {
            q = q
                .count(e.seq)?
                .text(tillit_audit::format_time(&e.time))
                .text(&e.actor)
                .opt_text(e.org_id.as_deref())
                .text(&e.action)
                .opt_text(e.object_id.as_deref())
                .text(tillit_audit::canonical_json(&e.details))
                .text(hex::encode(e.prev_hash))
                .text(hex::encode(e.hash));
        }
        q.execute(tx.on()).await?;
        // Exactly the rows read: an id in between that committed meanwhile stays pending.
        let mut del = query(
            PENDING,
            format!(
                "DELETE FROM audit_pending WHERE id IN ({})",
                placeholders(1, chunk.len())
            ),
        );
        for (id, _) in chunk {
            del = del.int(*id);
        }
        let deleted = del.execute(tx.on()).await?;
        if deleted != chunk.len() as u64 {
            return Err(StoreError::corrupt(
                PENDING,
                format!("{deleted} of {} sequenced rows were deleted: is a second sequencer running without the lock?", chunk.len()),
            ));
        }
    }
    insert_nodes(tx, &nodes).await?;
    set_tree_size(tx, builder.size()).await?;
    Ok(done)
}

/// Sequences until nothing is pending, inside a transaction that holds the sequencer lock.
async fn sequence_all_in(tx: &mut Tx) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
    let mut all = Vec::new();
    loop {
        let done = sequence_in(tx).await?;
        let more = done.len() == SEQUENCE_BATCH;
        all.extend(done);
        if !more {
            return Ok(all);
        }
    }
}

/// Whether any entry is pending (a cheap read).
async fn any_pending(db: &Db) -> Result<bool, StoreError> {
    Ok(query(
        PENDING,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM audit_pending LIMIT 1) AS p",
    )
    .fetch_one(db.read())
    .await?
    .count("n")?
        > 0)
}

impl Store {
    /// Runs the sequencer until every entry committed before the call has its place in the log
    /// and the tree: batches of at most 1000, each in its own short transaction that holds the
    /// sequencer lock (one sequencer at a time, also across processes on one PostgreSQL).
    /// Returns how many entries it sequenced (entries that another process sequenced meanwhile
    /// are not counted). Cheap when nothing is pending: one read.
    pub async fn sequence_audit(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        while any_pending(&self.db).await? {
            let n = self
                .db
                .write(|tx| {
                    Box::pin(async move {
                        tx.lock_audit_sequencer().await?;
                        Ok(sequence_in(tx).await?.len())
                    })
                })
                .await?;
            total = total.saturating_add(n as u64);
            if n < SEQUENCE_BATCH {
                break;
            }
        }
        Ok(total)
    }

    /// Feeds every entry of the log, in seq order, to `each` as stored — its columns' text
    /// borrowed from the row ([`StoredEntry`]), nothing decoded — reading pages of
    /// [`STORED_PAGE`] rows; first sequences what is pending. Stops at the first error of
    /// `each`. Returns how many entries were fed. This is what `tillit audit verify` reads the
    /// log with: no allocation and no JSON parsing per entry.
    pub async fn for_each_stored_audit_entry<E: From<StoreError>>(
        &self,
        mut each: impl FnMut(&StoredEntry<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.sequence_audit().await?;
        let mut from = 1i64;
        let mut count = 0u64;
        loop {
            let rows = query(
                ENTRIES,
                format!(
                    "SELECT {ENTRY_COLS} FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2"
                ),
            )
            .int(from)
            .count(STORED_PAGE)?
            .fetch_all(self.db.read())
            .await?;
            for row in &rows {
                let seq = row.int_at(0)?;
                let entry = StoredEntry {
                    seq: u64::try_from(seq)
                        .map_err(|_| StoreError::corrupt(ENTRIES, format!("seq {seq}")))?,
                    time: row.str_at(1)?,
                    actor: row.str_at(2)?,
                    org_id: row.opt_str_at(3)?,
                    action: row.str_at(4)?,
                    object_id: row.opt_str_at(5)?,
                    details: row.str_at(6)?,
                    prev_hash: row.str_at(7)?,
                    hash: row.str_at(8)?,
                };
                each(&entry)?;
                count += 1;
                from = seq.saturating_add(1);
            }
            if (rows.len() as u64) < STORED_PAGE {
                return Ok(count);
            }
        }
    }

    /// Checks every stored Merkle node of the first `tree_size` entries against the entries
    /// (`tillit audit verify`, after the entries themselves verified): level 1 against the
    /// entries' leaf hashes, each higher level against the level below, a page of
    /// [`NODE_PAGE`] nodes at a time; a missing node is found too. `None` when all match, else
    /// what is wrong with the first bad node. A node off every root's path (inside a peak) would
    /// otherwise be found only by a failing proof. Nodes of entries after `tree_size` are not
    /// looked at: a running server (or another instance) may be adding them meanwhile.
    pub async fn check_audit_nodes(&self, tree_size: u64) -> Result<Option<String>, StoreError> {
        let mut level = 1u32;
        while level < 64 && tree_size >> level > 0 {
            let count = tree_size >> level;
            let mut lo = 0u64;
            while lo < count {
                let hi = count.min(lo + NODE_PAGE);
                let above = self.node_page(level, lo, hi).await?;
                let below = if level == 1 {
                    self.leaf_page(2 * lo, 2 * hi).await?
                } else {
                    self.node_page(level - 1, 2 * lo, 2 * hi).await?
                };
                if let Some(wrong) = first_wrong_node(level, lo, hi, &above, &below) {
                    return Ok(Some(wrong));
                }
                lo = hi;
            }
            level += 1;
        }
        Ok(None)
    }

    /// (index, hash) of the stored nodes of `level` with index in `lo..hi`, by index.
    async fn node_page(
        &self,
        level: u32,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        query(
            NODES,
            "SELECT idx, hash FROM audit_tree_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 \
             ORDER BY idx",
        )
        .int32(level_i32(level)?)
        .count(lo)?
        .count(hi)?
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| Ok((row.count("idx")?, row.hash32("hash")?)))
        .collect()
    }

    /// (leaf index, leaf hash) of the entries with leaf index in `lo..hi` (seq = index + 1).
    async fn leaf_page(&self, lo: u64, hi: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        query(
            ENTRIES,
            "SELECT seq, hash FROM audit_entries WHERE seq > $1 AND seq <= $2 ORDER BY seq",
        )
        .count(lo)?
        .count(hi)?
        .fetch_all(self.db.read())
        .await?
        .iter()
        .map(|row| {
            let seq = row.count("seq")?;
            Ok((
                seq.saturating_sub(1),
                merkle::leaf_hash(&row.hex_hash("hash")?),
            ))
        })
        .collect()
    }

    /// Notified after every commit that left audit entries pending: the server's sequencer
    /// task waits on it.
    pub fn audit_pending_signal(&self) -> Arc<Notify> {
        self.db.audit_pending().clone()
    }

    /// Brings the tree up to the log — builds the nodes of entries written before the node
    /// table existed (a log migrated from an earlier release) — in transactions of 100,000
    /// entries, logging progress; then sequences what is pending (e.g. left by a process that
    /// stopped between a commit and its sequencing). Run by [`Store::connect`].
    pub(crate) async fn catch_up_audit(&self) -> Result<(), StoreError> {
        loop {
            let (size, last) = self
                .db
                .write(|tx| {
                    Box::pin(async move {
                        tx.lock_audit_sequencer().await?;
                        let (last, _) = last_entry(&mut Src::Tx(tx)).await?;
                        Ok((build_nodes_in(tx, last, BUILD_BATCH).await?, last))
                    })
                })
                .await?;
            if size >= last {
                break;
            }
            tracing::info!(
                built = size,
                entries = last,
                "building the audit log's Merkle tree nodes"
            );
        }
        self.sequence_audit().await?;
        Ok(())
    }

    async fn tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, [u8; 32]>, StoreError> {
        fetch_nodes(&mut Src::Read(&self.db), ids).await
    }

    /// [`StoreError::Audit`] when the stored tree is smaller than `size`.
    async fn check_tree_size(&self, size: u64) -> Result<(), StoreError> {
        let have = tree_size(&mut Src::Read(&self.db)).await?;
        if size > have {
            self.sequence_audit().await?;
            let have = tree_size(&mut Src::Read(&self.db)).await?;
            if size > have {
                return Err(AuditError::ProofRequest(format!(
                    "tree size {size} is beyond the log size {have}"
                ))
                .into());
            }
        }
        Ok(())
    }
}

impl AuditRepo for Store {
    async fn append_audit(
        &self,
        event: AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<AuditEntry, StoreError> {
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let id = insert_pending(tx, event, at).await?;
                    tx.lock_audit_sequencer().await?;
                    loop {
                        let done = sequence_in(tx).await?;
                        if done.is_empty() {
                            return Err(StoreError::corrupt(
                                PENDING,
                                format!("pending entry {id} was not sequenced"),
                            ));
                        }
                        if let Some((_, entry)) = done.into_iter().find(|(p, _)| *p == id) {
                            return Ok(entry);
                        }
                    }
                })
            })
            .await
    }

    async fn audit_entries(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.sequence_audit().await?;
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
        self.sequence_audit().await?;
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
        self.sequence_audit().await?;
        // The highest seq (an index lookup), not COUNT(*) (a scan of millions of rows).
        Ok(last_entry(&mut Src::Read(&self.db)).await?.0)
    }

    async fn audit_entry_hashes(&self, upto: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        self.sequence_audit().await?;
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

    async fn audit_root(&self, tree_size: u64) -> Result<[u8; 32], StoreError> {
        self.check_tree_size(tree_size).await?;
        let nodes = self.tree_nodes(&merkle::nodes_for_root(tree_size)).await?;
        let root = merkle::root_from(tree_size, &mut lookup(&nodes))?;
        Ok(root)
    }

    async fn audit_inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProofRecord, StoreError> {
        self.check_tree_size(tree_size).await?;
        let leaf = NodeId { level: 0, index };
        let mut ids = merkle::nodes_for_inclusion(index, tree_size)?;
        ids.extend(merkle::nodes_for_root(tree_size));
        ids.push(leaf);
        ids.sort_unstable();
        ids.dedup();
        let nodes = self.tree_nodes(&ids).await?;
        let mut get = lookup(&nodes);
        Ok(InclusionProofRecord {
            leaf_hash: get(leaf)?,
            root_hash: merkle::root_from(tree_size, &mut get)?,
            path: merkle::inclusion_proof_from(index, tree_size, &mut get)?,
        })
    }

    async fn audit_consistency_proof(
        &self,
        old_size: u64,
        tree_size: u64,
    ) -> Result<ConsistencyProofRecord, StoreError> {
        self.check_tree_size(tree_size).await?;
        let mut ids = merkle::nodes_for_consistency(old_size, tree_size)?;
        ids.extend(merkle::nodes_for_root(tree_size));
        ids.extend(merkle::nodes_for_root(old_size));
        ids.sort_unstable();
        ids.dedup();
        let nodes = self.tree_nodes(&ids).await?;
        let mut get = lookup(&nodes);
        Ok(ConsistencyProofRecord {
            old_root: merkle::root_from(old_size, &mut get)?,
            root_hash: merkle::root_from(tree_size, &mut get)?,
            proof: merkle::consistency_proof_from(old_size, tree_size, &mut get)?,
        })
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

    async fn insert_tree_head_if(
        &self,
        head: TreeHeadRecord,
        min_new: u64,
        min_age: chrono::Duration,
    ) -> Result<bool, StoreError> {
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    tx.lock_audit_sequencer().await?;
                    let latest = query(
                        HEADS,
                        format!("SELECT {HEAD_COLS} FROM audit_tree_heads ORDER BY tree_size DESC LIMIT 1"),
                    )
                    .fetch_optional(tx.on())
                    .await?
                    .as_ref()
                    .map(head_from_row)
                    .transpose()?;
                    if let Some(latest) = latest {
                        let grown = head.tree_size.saturating_sub(latest.tree_size);
                        if head.tree_size <= latest.tree_size
                            || grown < min_new
                            || head.timestamp - latest.timestamp < min_age
                        {
                            return Ok(false);
                        }
                    }
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
                    Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_checked_against_its_children() {
        let leaves: Vec<(u64, [u8; 32])> = (0..4u8).map(|i| (u64::from(i), [i; 32])).collect();
        let good = |i: usize| merkle::node_hash(&leaves[2 * i].1, &leaves[2 * i + 1].1);
        let both = vec![(0, good(0)), (1, good(1))];
        // (nodes of level 1, leaves, the complaint expected)
        type Nodes = Vec<(u64, [u8; 32])>;
        let cases: Vec<(Nodes, Nodes, Option<&str>)> = vec![
            (both.clone(), leaves.clone(), None),
            (
                vec![(0, good(0)), (1, [9; 32])],
                leaves.clone(),
                Some("index 1 is not the hash"),
            ),
            (
                vec![(0, good(0))],
                leaves.clone(),
                Some("index 1 is missing"),
            ),
            (
                vec![(1, good(1))],
                leaves.clone(),
                Some("index 0 is missing"),
            ),
            (
                both.clone(),
                leaves[..3].to_vec(),
                Some("a child of the Merkle node at level 1, index 1"),
            ),
            (
                both,
                vec![leaves[1], leaves[0], leaves[2], leaves[3]],
                Some("a child"),
            ),
        ];
        for (i, (above, below, want)) in cases.into_iter().enumerate() {
            let got = first_wrong_node(1, 0, 2, &above, &below);
            match want {
                None => assert_eq!(got, None, "case {i}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "case {i}: {got:?}"
                ),
            }
        }
    }
}
