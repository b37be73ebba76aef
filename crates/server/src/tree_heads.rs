//! The audit jobs. The sequencer gives committed audit entries their place in the log as soon as
//! the store signals them (PostgreSQL; on SQLite writes sequence themselves). The tree-head job
//! signs an RFC 9162 Merkle tree head over the audit log every `tree_head_entries` new entries,
//! or every `tree_head_seconds` when there are new entries, with the installation audit key, and
//! stores it; its root comes from the store's O(log n) Merkle nodes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tillit_audit::TreeHead;
use tillit_crypto::SigningKey;
use tillit_store::{AuditRepo, Scope, Store, StoreError, TreeHeadRecord};
use tokio::sync::watch;

use crate::keys::{KeyError, AUDIT_KEY_PURPOSE};
use crate::state::AppState;

/// Errors of tree-head signing.
#[derive(Debug, thiserror::Error)]
pub enum TreeHeadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot sign the tree head: {0}")]
    Sign(String),
}

/// Signs and stores the tree head over the first `tree_size` entries. When another process
/// stored one of that size first, returns the stored one.
pub async fn sign_tree_head(
    store: &Store,
    key: &SigningKey,
    tree_size: u64,
    now: DateTime<Utc>,
) -> Result<TreeHeadRecord, TreeHeadError> {
    let root = store.audit_root(tree_size).await?;
    let head = TreeHead::sign(tree_size, root, now, key)
        .map_err(|e| TreeHeadError::Sign(e.to_string()))?;
    let record = to_record(head);
    match store.insert_tree_head(record.clone()).await {
        Ok(()) => Ok(record),
        Err(StoreError::Conflict { .. }) => {
            Ok(store.tree_head_at_size(tree_size).await?.unwrap_or(record))
        }
        Err(e) => Err(e.into()),
    }
}

/// The store's row for a tree head.
pub fn to_record(head: TreeHead) -> TreeHeadRecord {
    TreeHeadRecord {
        tree_size: head.tree_size,
        root_hash: head.root_hash,
        timestamp: head.timestamp,
        key_id: head.key_id,
        signature: head.signature,
    }
}

/// The audit crate's tree head for a stored row.
pub fn from_record(record: TreeHeadRecord) -> TreeHead {
    TreeHead {
        tree_size: record.tree_size,
        root_hash: record.root_hash,
        timestamp: record.timestamp,
        key_id: record.key_id,
        signature: record.signature,
    }
}

/// Signs a tree head over the whole log when it has grown by at least `min_new` entries since
/// the latest one. Returns the new head, if any.
pub async fn sign_pending(
    state: &AppState,
    min_new: u64,
) -> Result<Option<TreeHeadRecord>, TreeHeadError> {
    sign_pending_spaced(state, min_new, chrono::Duration::zero()).await
}

/// [`sign_pending`], and only if the latest head (signed by any instance on the database) is at
/// least `min_age` old: several instances sign one head per interval between them.
async fn sign_pending_spaced(
    state: &AppState,
    min_new: u64,
    min_age: chrono::Duration,
) -> Result<Option<TreeHeadRecord>, TreeHeadError> {
    let count = state.store.audit_count().await?;
    let signed = state
        .store
        .latest_tree_head()
        .await?
        .map_or(0, |h| h.tree_size);
    if count == 0 || count <= signed || count - signed < min_new {
        return Ok(None);
    }
    let key = state
        .keys
        .active(Scope::Installation, AUDIT_KEY_PURPOSE)
        .await?
        .ok_or_else(|| TreeHeadError::Sign("no active audit key".into()))?;
    let root = state.store.audit_root(count).await?;
    let head = TreeHead::sign(count, root, Utc::now(), &key)
        .map_err(|e| TreeHeadError::Sign(e.to_string()))?;
    let record = to_record(head);
    // The decision is taken again under the store's lock: another instance may have signed
    // meanwhile.
    if !state
        .store
        .insert_tree_head_if(record.clone(), min_new, min_age)
        .await?
    {
        return Ok(None);
    }
    tracing::info!(tree_size = record.tree_size, "signed audit tree head");
    Ok(Some(record))
}

/// The job: runs until `shutdown` turns true, then signs what is pending and returns.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every_n = state.config.tree_head_entries.max(1);
    let period = Duration::from_secs(state.config.tree_head_seconds.max(1));
    let spacing =
        chrono::Duration::from_std(period.mul_f64(0.9)).unwrap_or(chrono::Duration::zero());
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // On the timer: a head unless any instance signed one within this interval (a little
        // slack for the ticks' jitter); on a count of new entries: whatever its age.
        let (min_new, min_age) = tokio::select! {
            _ = ticker.tick() => (1, spacing),
            _ = state.audit_written.notified() => (every_n, chrono::Duration::zero()),
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        if let Err(e) = sign_pending_spaced(&state, min_new, min_age).await {
            tracing::warn!(error = %e, "could not sign an audit tree head; will retry");
        }
    }
    if let Err(e) = sign_pending(&state, 1).await {
        tracing::warn!(error = %e, "could not sign the final audit tree head");
    }
}

/// How often the sequencer looks for pending entries that no signal announced (written by
/// another process on the same database).
const SEQUENCER_POLL: Duration = Duration::from_millis(500);

/// The sequencer job: runs [`Store::sequence_audit`] whenever a write of this process left
/// entries pending (within milliseconds of the commit) and every [`SEQUENCER_POLL`]; wakes the
/// tree-head job when it sequenced something. On shutdown it sequences what is pending.
pub async fn sequence(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let pending = state.store.audit_pending_signal();
    let mut ticker = tokio::time::interval(SEQUENCER_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = pending.notified() => {},
            _ = ticker.tick() => {},
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        match state.store.sequence_audit().await {
            Ok(0) => {}
            Ok(_) => state.audit_written.notify_one(),
            Err(e) => tracing::warn!(error = %e, "could not sequence audit entries; will retry"),
        }
    }
    if let Err(e) = state.store.sequence_audit().await {
        tracing::warn!(error = %e, "could not sequence the last audit entries");
    }
}
