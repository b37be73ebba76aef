//! RFC 9162 §2.1 Merkle trees: tree hash, inclusion and consistency proofs.

use crate::AuditError;

/// MTH of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    if let Ok(hash) = <&[u8; 32]>::try_from(data) {
        // An audit entry's leaf: no allocation.
        let mut buf = [0u8; 33];
        for (b, x) in buf.iter_mut().skip(1).zip(hash.iter()) {
            *b = *x;
        }
        return tillit_crypto::sha256(&buf);
    }
    let mut buf = Vec::with_capacity(1 + data.len());
    buf.push(0u8);
    buf.extend_from_slice(data);
    tillit_crypto::sha256(&buf)
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    if let (Ok(l), Ok(r)) = (<&[u8; 32]>::try_from(left), <&[u8; 32]>::try_from(right)) {
        let mut buf = [1u8; 65];
        for (b, x) in buf.iter_mut().skip(1).zip(l.iter().chain(r.iter())) {
            *b = *x;
        }
        return tillit_crypto::sha256(&buf);
    }
    let mut buf = Vec::with_capacity(1 + left.len() + right.len());
    buf.push(1u8);
    buf.extend_from_slice(left);
    buf.extend_from_slice(right);
    tillit_crypto::sha256(&buf)
}

/// The largest power of two strictly smaller than `n` (`n >= 2`), RFC 9162's `k`.
fn split_point(n: usize) -> usize {
    let mut k = 1usize;
    while k.checked_mul(2).is_some_and(|d| d < n) {
        k *= 2;
    }
    k
}

fn sub(leaves: &[[u8; 32]], from: usize, to: usize) -> &[[u8; 32]] {
    leaves.get(from..to).unwrap_or(&[])
}

/// MTH (RFC 9162 §2.1.1) over already hashed leaves.
pub fn root(leaf_hashes: &[[u8; 32]]) -> [u8; 32] {
    match leaf_hashes {
        [] => EMPTY_ROOT,
        [only] => *only,
        _ => {
            let k = split_point(leaf_hashes.len());
            let (left, right) = leaf_hashes.split_at(k);
            node_hash(&root(left), &root(right))
        }
    }
}

fn to_index(value: u64, what: &str) -> Result<usize, AuditError> {
    usize::try_from(value)
        .map_err(|_| AuditError::ProofRequest(format!("{what} {value} is too large")))
}

/// The inclusion proof PATH(m, D\[n\]) of RFC 9162 §2.1.3.1 for leaf `index` in the tree whose
/// leaves hash to `leaf_hashes`.
pub fn inclusion_proof(leaf_hashes: &[[u8; 32]], index: u64) -> Result<Vec<[u8; 32]>, AuditError> {
    let m = to_index(index, "leaf index")?;
    if m >= leaf_hashes.len() {
        return Err(AuditError::ProofRequest(format!(
            "leaf index {index} is not below the tree size {}",
            leaf_hashes.len()
        )));
    }
    let mut proof = Vec::new();
    path(m, leaf_hashes, &mut proof);
    Ok(proof)
}

fn path(m: usize, leaves: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, sub(leaves, 0, k), out);
        out.push(root(sub(leaves, k, n)));
    } else {
        path(m - k, sub(leaves, k, n), out);
        out.push(root(sub(leaves, 0, k)));
    }
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf_hash: &[u8],
    proof: &[[u8; 32]],
    root_hash: &[u8],
) -> Result<(), AuditError> {
    let fail = |why: &str| {
        Err(AuditError::ProofInvalid(format!(
            "inclusion of leaf {index} in tree of size {tree_size}: {why}"
        )))
    };
    if index >= tree_size {
        return fail("the leaf index is not below the tree size");
    }
    let Ok(mut r) = <[u8; 32]>::try_from(leaf_hash) else {
        return fail("the leaf hash is not 32 bytes");
    };
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    for p in proof {
        if sn == 0 {
            return fail("the proof is longer than the path to the root");
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail("the proof is shorter than the path to the root");
    }
    if r.as_slice() != root_hash {
        return fail("the computed root does not match");
    }
    Ok(())
}

/// The consistency proof PROOF(m, D\[n\]) of RFC 9162 §2.1.4.1 between the first `old_size`
/// leaves and all of `leaf_hashes`.
pub fn consistency_proof(
    leaf_hashes: &[[u8; 32]],
    old_size: u64,
) -> Result<Vec<[u8; 32]>, AuditError> {
    let m = to_index(old_size, "old tree size")?;
    if m == 0 || m > leaf_hashes.len() {
        return Err(AuditError::ProofRequest(format!(
            "old tree size {old_size} must be between 1 and the tree size {}",
            leaf_hashes.len()
        )));
    }
    let mut proof = Vec::new();
    subproof(m, leaf_hashes, true, &mut proof);
    Ok(proof)
}

fn subproof(m: usize, leaves: &[[u8; 32]], known: bool, out: &mut Vec<[u8; 32]>) {
    let n = leaves.len();
    if m == n {
        if !known {
            out.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, sub(leaves, 0, k), known, out);
        out.push(root(sub(leaves, k, n)));
    } else {
        subproof(m - k, sub(leaves, k, n), false, out);
        out.push(root(sub(leaves, 0, k)));
    }
}

/// Verifies a consistency proof with the algorithm of RFC 9162 §2.1.4.2. A proof from the empty
/// tree proves nothing and is rejected; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &[u8],
    new_root: &[u8],
    proof: &[[u8; 32]],
) -> Result<(), AuditError> {
    let fail = |why: &str| {
        Err(AuditError::ProofInvalid(format!(
            "consistency of tree size {old_size} with {new_size}: {why}"
        )))
    };
    if new_size < old_size {
        return fail("the old size is larger than the new size");
    }
    if old_size == 0 {
        return fail("a consistency proof from the empty tree proves nothing");
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail("equal sizes need an empty proof");
        }
        if old_root != new_root {
            return fail("equal sizes but different roots");
        }
        return Ok(());
    }
    if proof.is_empty() {
        return fail("the proof is empty");
    }
    let Ok(old_root32) = <[u8; 32]>::try_from(old_root) else {
        return fail("the old root is not 32 bytes");
    };
    let mut path: Vec<[u8; 32]> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root32);
    }
    path.extend_from_slice(proof);
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((first, rest)) = path.split_first() else {
        return fail("the proof is empty");
    };
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if sn == 0 {
            return fail("the proof is longer than the path to the root");
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail("the proof is shorter than the path to the root");
    }
    if fr.as_slice() != old_root {
        return fail("the computed old root does not match");
    }
    if sr.as_slice() != new_root {
        return fail("the computed new root does not match");
    }
    Ok(())
}

/// Whether `[start, end)` is a valid, non-empty subtree in the sense of the Merkle Tree
/// Certificates draft (draft-ietf-plants-merkle-tree-certs §4.1): `start < end` and `start` is a
/// multiple of the smallest power of two not below `end - start`.
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    if start >= end {
        return false;
    }
    let size = u128::from(end - start);
    let ceil = size.next_power_of_two();
    u128::from(start) % ceil == 0
}

/// The hash of subtree `[start, end)`: MTH of those leaves.
pub fn subtree_hash(
    leaf_hashes: &[[u8; 32]],
    start: u64,
    end: u64,
) -> Result<[u8; 32], AuditError> {
    let (s, e) = subtree_bounds(leaf_hashes.len(), start, end)?;
    Ok(root(sub(leaf_hashes, s, e)))
}

fn subtree_bounds(n: usize, start: u64, end: u64) -> Result<(usize, usize), AuditError> {
    if !is_valid_subtree(start, end) {
        return Err(AuditError::ProofRequest(format!(
            "[{start}, {end}) is not a valid subtree"
        )));
    }
    let s = to_index(start, "subtree start")?;
    let e = to_index(end, "subtree end")?;
    if e > n {
        return Err(AuditError::ProofRequest(format!(
            "subtree [{start}, {end}) extends beyond the tree size {n}"
        )));
    }
    Ok((s, e))
}

/// A subtree inclusion proof (MTC draft §4.3): the RFC 9162 inclusion proof of `index` within the
/// leaves of the subtree `[start, end)`.
pub fn subtree_inclusion_proof(
    leaf_hashes: &[[u8; 32]],
    index: u64,
    start: u64,
    end: u64,
) -> Result<Vec<[u8; 32]>, AuditError> {
    let (s, e) = subtree_bounds(leaf_hashes.len(), start, end)?;
    if index < start || index >= end {
        return Err(AuditError::ProofRequest(format!(
            "leaf {index} is outside the subtree [{start}, {end})"
        )));
    }
    inclusion_proof(sub(leaf_hashes, s, e), index - start)
}

/// Verifies a subtree inclusion proof (MTC draft §4.3.2) against the subtree hash.
pub fn verify_subtree_inclusion(
    index: u64,
    start: u64,
    end: u64,
    leaf_hash: &[u8],
    proof: &[[u8; 32]],
    subtree_root: &[u8],
) -> Result<(), AuditError> {
    if !is_valid_subtree(start, end) {
        return Err(AuditError::ProofInvalid(format!(
            "[{start}, {end}) is not a valid subtree"
        )));
    }
    if index < start || index >= end {
        return Err(AuditError::ProofInvalid(format!(
            "leaf {index} is outside the subtree [{start}, {end})"
        )));
    }
    verify_inclusion(index - start, end - start, leaf_hash, proof, subtree_root)
}

/// A subtree consistency proof SUBTREE_PROOF(start, end, D\[n\]) (MTC draft §4.4.1) showing that
/// subtree `[start, end)` is part of the tree of all `leaf_hashes`. For `start == 0` it equals the
/// RFC 9162 consistency proof from size `end`.
pub fn subtree_consistency_proof(
    leaf_hashes: &[[u8; 32]],
    start: u64,
    end: u64,
) -> Result<Vec<[u8; 32]>, AuditError> {
    let (s, e) = subtree_bounds(leaf_hashes.len(), start, end)?;
    let mut proof = Vec::new();
    subtree_subproof(s, e, leaf_hashes, true, &mut proof);
    Ok(proof)
}

fn subtree_subproof(
    start: usize,
    end: usize,
    leaves: &[[u8; 32]],
    known: bool,
    out: &mut Vec<[u8; 32]>,
) {
    let n = leaves.len();
    if start == 0 && end == n {
        if !known {
            out.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if end <= k {
        subtree_subproof(start, end, sub(leaves, 0, k), known, out);
        out.push(root(sub(leaves, k, n)));
    } else if start >= k {
        subtree_subproof(start - k, end - k, sub(leaves, k, n), known, out);
        out.push(root(sub(leaves, 0, k)));
    } else {
        // A valid subtree that straddles k starts at 0.
        subtree_subproof(0, end - k, sub(leaves, k, n), false, out);
        out.push(root(sub(leaves, 0, k)));
    }
}

/// Verifies a subtree consistency proof (MTC draft §4.4.3 and Appendix B): `subtree_root` is the
/// hash of `[start, end)` within the tree of size `tree_size` with root `root_hash`. An empty
/// subtree (`start == end <= tree_size`) is consistent exactly when its hash is [`EMPTY_ROOT`]
/// and the proof is empty.
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    tree_size: u64,
    subtree_root: &[u8],
    root_hash: &[u8],
    proof: &[[u8; 32]],
) -> Result<(), AuditError> {
    let fail = |why: &str| {
        Err(AuditError::ProofInvalid(format!(
            "consistency of subtree [{start}, {end}) with tree size {tree_size}: {why}"
        )))
    };
    if start == end && end <= tree_size {
        if !proof.is_empty() {
            return fail("an empty subtree needs an empty proof");
        }
        if subtree_root != EMPTY_ROOT {
            return fail("an empty subtree's hash must be the empty-tree hash");
        }
        return Ok(());
    }
    if !is_valid_subtree(start, end) || tree_size < end {
        return fail("not a valid subtree of this tree");
    }
    let mut fn_ = start;
    let mut sn = end - 1;
    let mut tn = tree_size - 1;
    if sn == tn {
        while fn_ != sn {
            fn_ >>= 1;
            sn >>= 1;
            tn >>= 1;
        }
    } else {
        while fn_ != sn && sn & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
            tn >>= 1;
        }
    }
    let mut rest = proof.iter();
    let (mut fr, mut sr) = if fn_ == sn {
        (subtree_root.to_vec(), subtree_root.to_vec())
    } else {
        match rest.next() {
            Some(first) => (first.to_vec(), first.to_vec()),
            None => return fail("the proof is empty"),
        }
    };
    for p in rest {
        if tn == 0 {
            return fail("the proof is longer than the path to the root");
        }
        if sn & 1 == 1 || sn == tn {
            if fn_ < sn {
                fr = node_hash(p, &fr).to_vec();
            }
            sr = node_hash(p, &sr).to_vec();
            while sn & 1 == 0 && sn != 0 {
                fn_ >>= 1;
                sn >>= 1;
                tn >>= 1;
            }
        } else {
            sr = node_hash(&sr, p).to_vec();
        }
        fn_ >>= 1;
        sn >>= 1;
        tn >>= 1;
    }
    if tn != 0 {
        return fail("the proof is shorter than the path to the root");
    }
    if fr != subtree_root {
        return fail("the computed subtree hash does not match");
    }
    if sr != root_hash {
        return fail("the computed root does not match");
    }
    Ok(())
}

/// Incremental MTH over a growing list of leaves, in O(log n) memory: the hashes of the perfect
/// subtrees along the right edge (a compact range from 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeBuilder {
    size: u64,
    /// (height, hash), heights strictly decreasing.
    peaks: Vec<(u32, [u8; 32])>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The builder of a tree of `size` leaves whose peaks — the nodes of
    /// [`nodes_for_root`]`(size)`, in that order — have the hashes `peaks`: resumes a tree from
    /// O(log n) stored nodes.
    pub fn from_peaks(size: u64, peaks: &[[u8; 32]]) -> Result<Self, AuditError> {
        let ids = nodes_for_root(size);
        if ids.len() != peaks.len() {
            return Err(AuditError::ProofRequest(format!(
                "a tree of size {size} has {} peaks, not {}",
                ids.len(),
                peaks.len()
            )));
        }
        Ok(Self {
            size,
            peaks: ids
                .iter()
                .map(|id| id.level)
                .zip(peaks.iter().copied())
                .collect(),
        })
    }

    /// Appends a leaf given its leaf hash.
    pub fn push_leaf_hash(&mut self, leaf_hash: [u8; 32]) {
        self.push_leaf_hash_with(leaf_hash, |_, _| {});
    }

    /// Appends a leaf and reports every node it completes: the leaf itself (level 0), then each
    /// new parent up to the new peak.
    pub fn push_leaf_hash_with(
        &mut self,
        leaf_hash: [u8; 32],
        mut completed: impl FnMut(NodeId, [u8; 32]),
    ) {
        let leaf = self.size;
        completed(
            NodeId {
                level: 0,
                index: leaf,
            },
            leaf_hash,
        );
        let mut node = (0u32, leaf_hash);
        while let Some(&(height, left)) = self.peaks.last() {
            if height != node.0 {
                break;
            }
            self.peaks.pop();
            node = (height + 1, node_hash(&left, &node.1));
            completed(
                NodeId {
                    level: node.0,
                    index: leaf >> node.0,
                },
                node.1,
            );
        }
        self.peaks.push(node);
        self.size = self.size.saturating_add(1);
    }

    /// MTH of the leaves so far.
    pub fn root(&self) -> [u8; 32] {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// A node of the Merkle tree: the root of the complete (perfect) subtree of `2^level` leaves
/// that starts at leaf `index · 2^level`. Level 0 nodes are the leaf hashes.
///
/// A store that keeps the hash of every complete node can answer the root of any tree size and
/// every inclusion and consistency proof from O(log n) node reads: [`nodes_for_root`],
/// [`nodes_for_inclusion`] and [`nodes_for_consistency`] say which nodes, and [`root_from`],
/// [`inclusion_proof_from`] and [`consistency_proof_from`] compute the result from them. The
/// results equal [`root`], [`inclusion_proof`] and [`consistency_proof`] over the full leaf list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0 = a leaf).
    pub level: u32,
    /// Position among the nodes of this level, from 0.
    pub index: u64,
}

impl NodeId {
    /// The first leaf index it covers.
    pub fn start(&self) -> u64 {
        self.index.checked_shl(self.level).unwrap_or(u64::MAX)
    }

    /// The number of leaves of a tree in which this node is complete: one past its last leaf.
    pub fn end(&self) -> u64 {
        self.index
            .checked_add(1)
            .and_then(|i| i.checked_shl(self.level))
            .unwrap_or(u64::MAX)
    }
}

/// Looks up a stored node hash; the computations below stop at the first error.
pub type NodeLookup<'a> = dyn FnMut(NodeId) -> Result<[u8; 32], AuditError> + 'a;

/// The largest power of two strictly smaller than `n` (`n >= 2`), RFC 9162's `k`, for u64.
fn split_point_u64(n: u64) -> u64 {
    match n {
        0..=2 => 1,
        _ => 1u64 << (63 - (n - 1).leading_zeros()),
    }
}

/// The complete subtrees that make up `[start, end)`, left to right (largest first for a
/// valid subtree in the sense of [`is_valid_subtree`]). For `[0, n)` these are the tree's
/// "peaks" (its compact range).
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let size = end - at;
        let level = (63 - size.leading_zeros()).min(at.trailing_zeros());
        out.push(NodeId {
            level,
            index: at >> level,
        });
        at += 1u64 << level;
    }
    out
}

/// MTH of the leaves `[start, end)` of a valid subtree, from the nodes of [`range_nodes`].
fn range_hash(start: u64, end: u64, get: &mut NodeLookup<'_>) -> Result<[u8; 32], AuditError> {
    let nodes = range_nodes(start, end);
    let mut iter = nodes.iter().rev();
    let Some(last) = iter.next() else {
        return Ok(EMPTY_ROOT);
    };
    let mut acc = get(*last)?;
    for node in iter {
        acc = node_hash(&get(*node)?, &acc);
    }
    Ok(acc)
}

/// MTH of the first `size` leaves, from stored nodes (the peaks of [`range_nodes`]`(0, size)`).
pub fn root_from(size: u64, get: &mut NodeLookup<'_>) -> Result<[u8; 32], AuditError> {
    range_hash(0, size, get)
}

/// [`inclusion_proof`] of leaf `index` in the tree of `size`, from stored nodes.
pub fn inclusion_proof_from(
    index: u64,
    size: u64,
    get: &mut NodeLookup<'_>,
) -> Result<Vec<[u8; 32]>, AuditError> {
    if index >= size {
        return Err(AuditError::ProofRequest(format!(
            "leaf index {index} is not below the tree size {size}"
        )));
    }
    let mut proof = Vec::new();
    path_from(index, 0, size, get, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[start:end]) with `m` relative to `start`.
fn path_from(
    m: u64,
    start: u64,
    end: u64,
    get: &mut NodeLookup<'_>,
    out: &mut Vec<[u8; 32]>,
) -> Result<(), AuditError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point_u64(n);
    if m < k {
        path_from(m, start, start + k, get, out)?;
        out.push(range_hash(start + k, end, get)?);
    } else {
        path_from(m - k, start + k, end, get, out)?;
        out.push(range_hash(start, start + k, get)?);
    }
    Ok(())
}

/// [`consistency_proof`] from the tree of `old_size` to the tree of `size`, from stored nodes.
pub fn consistency_proof_from(
    old_size: u64,
    size: u64,
    get: &mut NodeLookup<'_>,
) -> Result<Vec<[u8; 32]>, AuditError> {
    if old_size == 0 || old_size > size {
        return Err(AuditError::ProofRequest(format!(
            "old tree size {old_size} must be between 1 and the tree size {size}"
        )));
    }
    let mut proof = Vec::new();
    subproof_from(old_size, 0, size, true, get, &mut proof)?;
    Ok(proof)
}

/// SUBPROOF(m, D[start:end], known) with `m` relative to `start`.
fn subproof_from(
    m: u64,
    start: u64,
    end: u64,
    known: bool,
    get: &mut NodeLookup<'_>,
    out: &mut Vec<[u8; 32]>,
) -> Result<(), AuditError> {
    let n = end - start;
    if m == n {
        if !known {
            out.push(range_hash(start, end, get)?);
        }
        return Ok(());
    }
    let k = split_point_u64(n);
    if m <= k {
        subproof_from(m, start, start + k, known, get, out)?;
        out.push(range_hash(start + k, end, get)?);
    } else {
        subproof_from(m - k, start + k, end, false, get, out)?;
        out.push(range_hash(start, start + k, get)?);
    }
    Ok(())
}

/// Runs `compute` with a lookup that records every node asked for (answering zeros): the nodes
/// a computation needs, sorted, without duplicates.
fn recorded(
    compute: impl FnOnce(&mut NodeLookup<'_>) -> Result<(), AuditError>,
) -> Result<Vec<NodeId>, AuditError> {
    let mut seen = Vec::new();
    compute(&mut |id| {
        seen.push(id);
        Ok([0; 32])
    })?;
    seen.sort_unstable();
    seen.dedup();
    Ok(seen)
}

/// The nodes [`root_from`] reads for `size`: at most 64.
pub fn nodes_for_root(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// The nodes [`inclusion_proof_from`] reads: O(log n), at most about 2·64.
pub fn nodes_for_inclusion(index: u64, size: u64) -> Result<Vec<NodeId>, AuditError> {
    recorded(|get| inclusion_proof_from(index, size, get).map(drop))
}

/// The nodes [`consistency_proof_from`] reads: O(log n).
pub fn nodes_for_consistency(old_size: u64, size: u64) -> Result<Vec<NodeId>, AuditError> {
    recorded(|get| consistency_proof_from(old_size, size, get).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 64;

    fn leaves(n: u64) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// Proofs that must all be rejected: every element with bits flipped, truncated at either end,
    /// extended at either end.
    fn corruptions(proof: &[[u8; 32]]) -> Vec<(String, Vec<[u8; 32]>)> {
        let mut out = Vec::new();
        for i in 0..proof.len() {
            for bit in [0usize, 100, 255] {
                let mut p = proof.to_vec();
                p[i][bit / 8] ^= 1 << (bit % 8);
                out.push((format!("flip bit {bit} of element {i}"), p));
            }
        }
        if let Some((_, rest)) = proof.split_first() {
            out.push(("drop first".to_owned(), rest.to_vec()));
        }
        if let Some((_, rest)) = proof.split_last() {
            out.push(("drop last".to_owned(), rest.to_vec()));
        }
        let extra = leaf_hash(b"extra");
        let mut p = proof.to_vec();
        p.push(extra);
        out.push(("append".to_owned(), p));
        let mut p = vec![extra];
        p.extend_from_slice(proof);
        out.push(("prepend".to_owned(), p));
        if let Some(last) = proof.last() {
            let mut p = proof.to_vec();
            p.push(*last);
            out.push(("duplicate last".to_owned(), p));
        }
        out
    }

    fn roots() -> Vec<[u8; 32]> {
        let all = leaves(MAX);
        (0..=MAX as usize).map(|n| root(&all[..n])).collect()
    }

    #[test]
    fn known_roots() {
        // RFC 6962 / transparency-dev test leaves and their roots.
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let hashes: Vec<[u8; 32]> = data.iter().map(|d| leaf_hash(d)).collect();
        let want = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut builder = TreeBuilder::new();
        for n in 0..=8 {
            assert_eq!(hex::encode(root(&hashes[..n])), want[n], "size {n}");
            assert_eq!(hex::encode(builder.root()), want[n], "builder size {n}");
            if let Some(h) = hashes.get(n) {
                builder.push_leaf_hash(*h);
            }
        }
        assert_eq!(hex::encode(EMPTY_ROOT), want[0]);
    }

    #[test]
    fn builder_matches_root_for_every_size() {
        let all = leaves(MAX);
        let mut builder = TreeBuilder::new();
        for n in 0..=MAX as usize {
            assert_eq!(builder.size(), n as u64);
            assert_eq!(builder.root(), root(&all[..n]), "size {n}");
            if let Some(h) = all.get(n) {
                builder.push_leaf_hash(*h);
            }
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_every_corruption_fails() {
        let all = leaves(MAX);
        let roots = roots();
        for n in 1..=MAX {
            let tree = &all[..n as usize];
            let r = roots[n as usize];
            for i in 0..n {
                let leaf = all[i as usize];
                let proof = inclusion_proof(tree, i).unwrap();
                verify_inclusion(i, n, &leaf, &proof, &r)
                    .unwrap_or_else(|e| panic!("({i}, {n}): {e}"));
                for (what, bad) in corruptions(&proof) {
                    assert!(
                        verify_inclusion(i, n, &leaf, &bad, &r).is_err(),
                        "({i}, {n}) {what}"
                    );
                }
                let mut bad_leaf = leaf;
                bad_leaf[31] ^= 0x80;
                assert!(
                    verify_inclusion(i, n, &bad_leaf, &proof, &r).is_err(),
                    "({i}, {n}) leaf"
                );
                let mut bad_root = r;
                bad_root[0] ^= 1;
                assert!(
                    verify_inclusion(i, n, &leaf, &proof, &bad_root).is_err(),
                    "({i}, {n}) root"
                );
                let others = [i ^ 1, i.wrapping_sub(1), i + 1, n - 1 - i, 0, n - 1, i / 2];
                for j in others.into_iter().filter(|&j| j != i && j < n) {
                    assert!(
                        verify_inclusion(j, n, &leaf, &proof, &r).is_err(),
                        "({i}, {n}) as index {j}"
                    );
                    assert!(
                        verify_inclusion(j, n, &all[j as usize], &proof, &r).is_err(),
                        "({i}, {n}) as index {j} with its leaf"
                    );
                }
                let others = [n - 1, n + 1, n + 2, 2 * n, n / 2, n + 13];
                for m in others.into_iter().filter(|&m| m != n && i < m && m <= MAX) {
                    assert!(
                        verify_inclusion(i, m, &leaf, &proof, &roots[m as usize]).is_err(),
                        "({i}, {n}) against size {m}"
                    );
                }
                assert!(verify_inclusion(n, n, &leaf, &proof, &r).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_every_corruption_fails() {
        let all = leaves(MAX);
        let roots = roots();
        for n in 1..=MAX {
            let tree = &all[..n as usize];
            for m in 1..=n {
                let (rm, rn) = (roots[m as usize], roots[n as usize]);
                let proof = consistency_proof(tree, m).unwrap();
                assert_eq!(proof.is_empty(), m == n);
                verify_consistency(m, n, &rm, &rn, &proof)
                    .unwrap_or_else(|e| panic!("({m}, {n}): {e}"));
                for (what, bad) in corruptions(&proof) {
                    assert!(
                        verify_consistency(m, n, &rm, &rn, &bad).is_err(),
                        "({m}, {n}) {what}"
                    );
                }
                if m != n {
                    assert!(
                        verify_consistency(m, n, &rn, &rm, &proof).is_err(),
                        "({m}, {n}) swapped roots"
                    );
                }
                let mut bad = rm;
                bad[5] ^= 4;
                assert!(
                    verify_consistency(m, n, &bad, &rn, &proof).is_err(),
                    "({m}, {n}) old root"
                );
                let mut bad = rn;
                bad[5] ^= 4;
                assert!(
                    verify_consistency(m, n, &rm, &bad, &proof).is_err(),
                    "({m}, {n}) new root"
                );
                let others = [m - 1, m + 1, m + 2, 2 * m, m / 2, m + 13];
                for m2 in others
                    .into_iter()
                    .filter(|&m2| m2 != m && m2 >= 1 && m2 <= n)
                {
                    assert!(
                        verify_consistency(m2, n, &roots[m2 as usize], &rn, &proof).is_err(),
                        "({m}, {n}) as old size {m2}"
                    );
                }
                let others = [n - 1, n + 1, n + 2, 2 * n, n / 2, n + 13];
                for n2 in others
                    .into_iter()
                    .filter(|&n2| n2 != n && n2 >= m && n2 <= MAX)
                {
                    assert!(
                        verify_consistency(m, n2, &rm, &roots[n2 as usize], &proof).is_err(),
                        "({m}, {n}) as new size {n2}"
                    );
                }
                assert!(verify_consistency(0, n, &EMPTY_ROOT, &rn, &proof).is_err());
            }
        }
    }

    #[test]
    fn every_subtree_consistency_proof_verifies_and_corruptions_fail() {
        let all = leaves(MAX);
        // Subtree proofs go beyond RFC 9162; half the range keeps the test fast.
        for n in 1..=MAX / 2 {
            let tree = &all[..n as usize];
            let r = root(tree);
            for end in 1..=n {
                for start in (0..end).filter(|&s| is_valid_subtree(s, end)) {
                    let sub_root = subtree_hash(tree, start, end).unwrap();
                    assert_eq!(sub_root, root(&all[start as usize..end as usize]));
                    let proof = subtree_consistency_proof(tree, start, end).unwrap();
                    verify_subtree_consistency(start, end, n, &sub_root, &r, &proof)
                        .unwrap_or_else(|e| panic!("[{start}, {end}) in {n}: {e}"));
                    if start == 0 {
                        assert_eq!(
                            proof,
                            consistency_proof(tree, end).unwrap(),
                            "[0, {end}) in {n}"
                        );
                    }
                    for (what, bad) in corruptions(&proof) {
                        assert!(
                            verify_subtree_consistency(start, end, n, &sub_root, &r, &bad).is_err(),
                            "[{start}, {end}) in {n}: {what}"
                        );
                    }
                    let mut bad = sub_root;
                    bad[9] ^= 2;
                    assert!(verify_subtree_consistency(start, end, n, &bad, &r, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn every_subtree_inclusion_proof_verifies_and_corruptions_fail() {
        // A subtree inclusion proof depends only on the subtree, not on the tree around it.
        let all = leaves(MAX);
        for end in 1..=MAX {
            for start in (0..end).filter(|&s| is_valid_subtree(s, end)) {
                let sub_root = root(&all[start as usize..end as usize]);
                for i in start..end {
                    let leaf = all[i as usize];
                    let p = subtree_inclusion_proof(&all, i, start, end).unwrap();
                    verify_subtree_inclusion(i, start, end, &leaf, &p, &sub_root)
                        .unwrap_or_else(|e| panic!("{i} in [{start}, {end}): {e}"));
                    for (what, bad) in corruptions(&p) {
                        assert!(
                            verify_subtree_inclusion(i, start, end, &leaf, &bad, &sub_root)
                                .is_err(),
                            "{i} in [{start}, {end}): {what}"
                        );
                    }
                    let others = [i ^ 1, i.wrapping_sub(1), i + 1, start, end - 1];
                    for j in others
                        .into_iter()
                        .filter(|&j| j != i && (start..end).contains(&j))
                    {
                        assert!(
                            verify_subtree_inclusion(j, start, end, &leaf, &p, &sub_root).is_err()
                        );
                    }
                }
            }
        }
    }

    /// Every complete node of a tree of `n` leaves, as the sequencer stores them.
    fn all_nodes(all: &[[u8; 32]]) -> std::collections::HashMap<NodeId, [u8; 32]> {
        let mut nodes = std::collections::HashMap::new();
        let mut builder = TreeBuilder::new();
        for h in all {
            builder.push_leaf_hash_with(*h, |id, hash| {
                assert!(nodes.insert(id, hash).is_none(), "{id:?} twice");
            });
        }
        nodes
    }

    #[test]
    fn stored_nodes_are_the_complete_subtrees() {
        let all = leaves(MAX);
        let nodes = all_nodes(&all);
        // 2n - popcount(n) complete nodes in a tree of n leaves.
        assert_eq!(nodes.len() as u64, 2 * MAX - u64::from(MAX.count_ones()));
        for (id, hash) in &nodes {
            let leaves = &all[id.start() as usize..id.end() as usize];
            assert_eq!(leaves.len(), 1 << id.level, "{id:?}");
            assert_eq!(*hash, root(leaves), "{id:?}");
        }
    }

    #[test]
    fn proofs_from_nodes_equal_proofs_from_all_leaves() {
        // The nodes below size n are exactly those stored when the log had n entries.
        let all = leaves(MAX);
        let nodes = all_nodes(&all);
        for n in 0..=MAX {
            let tree = &all[..n as usize];
            let mut reads = 0usize;
            let mut get = |id: NodeId| {
                reads += 1;
                assert!(id.end() <= n, "size {n} read incomplete node {id:?}");
                nodes
                    .get(&id)
                    .copied()
                    .ok_or(AuditError::ProofRequest(format!("{id:?}")))
            };
            assert_eq!(root_from(n, &mut get).unwrap(), root(tree), "root {n}");
            for i in 0..n {
                assert_eq!(
                    inclusion_proof_from(i, n, &mut get).unwrap(),
                    inclusion_proof(tree, i).unwrap(),
                    "inclusion ({i}, {n})"
                );
                let ids = nodes_for_inclusion(i, n).unwrap();
                assert!(ids.len() <= 2 * 7, "({i}, {n}) reads {} nodes", ids.len());
            }
            for m in 1..=n {
                assert_eq!(
                    consistency_proof_from(m, n, &mut get).unwrap(),
                    consistency_proof(tree, m).unwrap(),
                    "consistency ({m}, {n})"
                );
            }
            assert!(inclusion_proof_from(n, n, &mut get).is_err());
            assert!(consistency_proof_from(0, n, &mut get).is_err());
            assert!(consistency_proof_from(n + 1, n, &mut get).is_err());
        }
    }

    #[test]
    fn proofs_from_nodes_at_large_sizes_read_few_nodes() {
        // Sizes far beyond any list we could build: only the node coordinates are computed.
        let cases: [(u64, u64, u64); 6] = [
            (0, 1, 1),
            (9_999_999, 10_000_000, 5_000_001),
            (123_456, 10_000_000, 9_999_999),
            (0, 1 << 40, 1 << 39),
            ((1 << 62) + 5, u64::MAX, (1 << 63) + 1),
            (u64::MAX - 1, u64::MAX, 1),
        ];
        for (index, size, old) in cases {
            let inc = nodes_for_inclusion(index, size).unwrap();
            let con = nodes_for_consistency(old, size).unwrap();
            let peaks = nodes_for_root(size);
            for ids in [&inc, &con, &peaks] {
                assert!(ids.len() <= 130, "({index}, {size}, {old}): {}", ids.len());
                assert!(ids.iter().all(|id| id.end() <= size));
            }
        }
    }

    #[test]
    fn builder_resumes_from_its_peaks() {
        let all = leaves(MAX);
        let nodes = all_nodes(&all);
        for n in 0..=MAX {
            let peaks: Vec<[u8; 32]> = nodes_for_root(n).iter().map(|id| nodes[id]).collect();
            let mut resumed = TreeBuilder::from_peaks(n, &peaks).unwrap();
            let mut fresh = TreeBuilder::new();
            for h in &all[..n as usize] {
                fresh.push_leaf_hash(*h);
            }
            assert_eq!(resumed, fresh, "size {n}");
            for h in &all[n as usize..] {
                resumed.push_leaf_hash_with(*h, |id, hash| assert_eq!(nodes[&id], hash));
            }
            assert_eq!(resumed.root(), root(&all));
            assert!(TreeBuilder::from_peaks(n, &[[0; 32]; 7]).is_err());
        }
    }

    #[test]
    fn proof_requests_outside_the_tree_are_errors() {
        let tree = leaves(5);
        assert!(inclusion_proof(&tree, 5).is_err());
        assert!(inclusion_proof(&[], 0).is_err());
        assert!(consistency_proof(&tree, 0).is_err());
        assert!(consistency_proof(&tree, 6).is_err());
        assert!(subtree_consistency_proof(&tree, 4, 8).is_err());
        assert!(subtree_consistency_proof(&tree, 1, 3).is_err());
        assert!(subtree_inclusion_proof(&tree, 3, 0, 2).is_err());
        assert!(!is_valid_subtree(1, u64::MAX));
        assert!(is_valid_subtree(0, u64::MAX));
    }
}
