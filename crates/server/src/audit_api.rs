//! Audit log endpoints: entries, signed tree heads (the latest, or by size), the public keys that
//! sign them, inclusion and consistency proofs (RFC 9162, from the O(log n) Merkle nodes the store
//! keeps). Proofs, tree heads and keys hold only
//! hashes and public keys and are public, so that anyone can check the log; entries need a token.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tillit_audit::{format_time, AuditEntry};
use tillit_store::{AuditRepo, KeyRepo, Scope, TreeHeadRecord};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{authorize, Authenticated, Permission, Target};
use crate::error::{store_error, ApiError, Problem};
use crate::paging::SeqListParams;
use crate::state::AppState;

/// One audit entry. Hashes are lowercase hex.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// RFC 3339 UTC with microseconds.
    pub time: String,
    /// Who did it (token or system id, never a name).
    pub actor: String,
    pub org_id: Option<String>,
    /// Dotted action, e.g. `org.create`.
    pub action: String,
    pub object_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for EntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            time: format_time(&e.time),
            actor: e.actor,
            org_id: e.org_id,
            action: e.action,
            object_id: e.object_id,
            details: e.details,
            prev_hash: hex::encode(e.prev_hash),
            hash: hex::encode(e.hash),
        }
    }
}

/// One page of audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    pub items: Vec<EntryView>,
    /// Pass as `cursor` to continue; absent at the end of the log.
    pub next_cursor: Option<String>,
}

/// A signed tree head (RFC 9162 §4.10 content, Tillit's encoding).
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeHeadView {
    /// Number of entries covered (seq 1..=tree_size).
    pub tree_size: u64,
    /// Merkle tree hash, lowercase hex.
    pub root_hash: String,
    /// RFC 3339 UTC with microseconds.
    pub timestamp: String,
    /// RFC 7638 thumbprint of the installation audit key.
    pub key_id: String,
    /// Signature, base64url without padding.
    pub signature: String,
}

impl From<TreeHeadRecord> for TreeHeadView {
    fn from(h: TreeHeadRecord) -> Self {
        Self {
            tree_size: h.tree_size,
            root_hash: hex::encode(h.root_hash),
            timestamp: format_time(&h.timestamp),
            key_id: h.key_id,
            signature: tillit_crypto::b64::encode_url(&h.signature),
        }
    }
}

/// Query of the inclusion proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// Sequence number of the entry (leaf index = seq - 1).
    #[param(minimum = 1)]
    pub seq: u64,
    /// Size of the tree to prove inclusion in (usually a signed tree head's size).
    #[param(minimum = 1)]
    pub tree_size: u64,
}

/// An RFC 9162 inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// SHA-256(0x00 || entry hash), hex.
    pub leaf_hash: String,
    /// Root hash of the tree of `tree_size`, hex.
    pub root_hash: String,
    /// The audit path, hex, leaf to root.
    pub audit_path: Vec<String>,
}

/// Query of the consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older tree size (at least 1).
    #[param(minimum = 1)]
    pub first: u64,
    /// The newer tree size (at least `first`, at most the log size).
    #[param(minimum = 1)]
    pub second: u64,
}

/// An RFC 9162 consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Root hash of the first tree, hex.
    pub first_root_hash: String,
    /// Root hash of the second tree, hex.
    pub second_root_hash: String,
    /// The proof nodes, hex.
    pub proof: Vec<String>,
}

/// 422 when the log is shorter than `size`.
async fn check_size(state: &AppState, size: u64, field: &str) -> Result<(), ApiError> {
    let count = state.store.audit_count().await.map_err(store_error)?;
    if size > count {
        return Err(ApiError::field(
            field,
            format!("{size} is beyond the log size {count}"),
        ));
    }
    Ok(())
}

fn hexes(nodes: &[[u8; 32]]) -> Vec<String> {
    nodes.iter().map(hex::encode).collect()
}

/// List audit entries in sequence order.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit",
    params(SeqListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of entries", body = EntryPage),
        (status = 400, description = "Malformed query string (e.g. `limit=-1` or a non-numeric limit)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn entries(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<SeqListParams>,
) -> Result<Json<EntryPage>, ApiError> {
    authorize(
        &state,
        &principal,
        Permission::ReadAudit,
        Target::Installation,
    )
    .await?;
    let (page, from) = params.page_request()?;
    let limit = page.limit;
    let items = state
        .store
        .audit_entries(from, limit)
        .await
        .map_err(store_error)?;
    let next_cursor = match items.last() {
        Some(last) if items.len() == limit as usize => Some((last.seq + 1).to_string()),
        _ => None,
    };
    Ok(Json(EntryPage {
        items: items.into_iter().map(EntryView::from).collect(),
        next_cursor,
    }))
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/v1/audit/tree-heads/latest", tag = "audit",
    responses(
        (status = 200, description = "The signed tree head with the largest tree size", body = TreeHeadView),
        (status = 404, description = "No tree head has been signed yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn latest_tree_head(
    State(state): State<AppState>,
) -> Result<Json<TreeHeadView>, ApiError> {
    let head = state
        .store
        .latest_tree_head()
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound("no tree head has been signed yet".into()))?;
    Ok(Json(head.into()))
}

/// The signed tree head of one size, to check a consistency proof between two signed heads.
#[utoipa::path(get, path = "/v1/audit/tree-heads/{tree_size}", tag = "audit",
    params(("tree_size" = u64, Path, minimum = 1, description = "Number of entries the head covers")),
    responses(
        (status = 200, description = "The signed tree head of that size", body = TreeHeadView),
        (status = 404, description = "No tree head was signed at that size (heads are signed every `tree_head_entries` entries or `tree_head_seconds` seconds)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "tree_size is not a positive whole number", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn tree_head_at_size(
    State(state): State<AppState>,
    Path(tree_size): Path<String>,
) -> Result<Json<TreeHeadView>, ApiError> {
    let tree_size: u64 = tree_size
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| ApiError::field("tree_size", "must be a whole number from 1"))?;
    let head = state
        .store
        .tree_head_at_size(tree_size)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no tree head was signed at size {tree_size}; GET /v1/audit/tree-heads/latest has the newest"
            ))
        })?;
    Ok(Json(head.into()))
}

/// The public keys that sign tree heads, as a JWK Set (RFC 7517 §5).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditKeySet {
    /// Every audit key the installation has had, oldest first, retired ones included so that
    /// old tree heads still verify. Each JWK has `kid` (its RFC 7638 thumbprint, the tree
    /// head's `key_id`) and `alg`.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The installation's audit public keys, to verify signed tree heads without access to the
/// server's key store.
#[utoipa::path(get, path = "/v1/audit/keys", tag = "audit",
    responses(
        (status = 200, description = "The JWK Set of the audit keys", body = AuditKeySet),
    ))]
pub async fn audit_keys(State(state): State<AppState>) -> Result<Json<AuditKeySet>, ApiError> {
    let records = state
        .store
        .list_keys(Scope::Installation, crate::keys::AUDIT_KEY_PURPOSE)
        .await
        .map_err(store_error)?;
    Ok(Json(AuditKeySet {
        keys: records.into_iter().map(|r| r.public_jwk).collect(),
    }))
}

/// Inclusion proof of entry `seq` in the tree of size `tree_size`.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit",
    params(InclusionParams),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 400, description = "Missing or non-numeric parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "seq or tree_size outside the log", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    Query(params): Query<InclusionParams>,
) -> Result<Json<InclusionProof>, ApiError> {
    if params.seq == 0 || params.seq > params.tree_size {
        return Err(ApiError::field("seq", "must be between 1 and tree_size"));
    }
    check_size(&state, params.tree_size, "tree_size").await?;
    let index = params.seq - 1;
    let proof = state
        .store
        .audit_inclusion_proof(index, params.tree_size)
        .await
        .map_err(store_error)?;
    Ok(Json(InclusionProof {
        seq: params.seq,
        leaf_index: index,
        tree_size: params.tree_size,
        leaf_hash: hex::encode(proof.leaf_hash),
        root_hash: hex::encode(proof.root_hash),
        audit_path: hexes(&proof.path),
    }))
}

/// Consistency proof between the trees of sizes `first` and `second`.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit",
    params(ConsistencyParams),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Missing or non-numeric parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Sizes outside the log or out of order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    Query(params): Query<ConsistencyParams>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    if params.first == 0 || params.first > params.second {
        return Err(ApiError::field("first", "must be between 1 and second"));
    }
    check_size(&state, params.second, "second").await?;
    let proof = state
        .store
        .audit_consistency_proof(params.first, params.second)
        .await
        .map_err(store_error)?;
    Ok(Json(ConsistencyProof {
        first: params.first,
        second: params.second,
        first_root_hash: hex::encode(proof.old_root),
        second_root_hash: hex::encode(proof.root_hash),
        proof: hexes(&proof.proof),
    }))
}
