-- The audit log at scale (issue 12): entries commit with their change into audit_pending; the
-- sequencer (tillit_store::audit) gives them their place in audit_entries (seq, prev_hash,
-- hash) in batches and stores the hashes of the Merkle tree's complete subtrees, so that tree
-- heads and proofs read O(log n) nodes instead of every entry.

-- Audit entries committed with their change, not yet in the log. Oldest id first.
CREATE TABLE audit_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    org_id     TEXT,
    action     TEXT NOT NULL,
    object_id  TEXT,
    details    TEXT NOT NULL
) STRICT;

-- Complete subtrees of the log's RFC 9162 Merkle tree above the leaves: the node (level, idx)
-- is the hash of entries with seq in (idx * 2^level, (idx + 1) * 2^level]. The leaves
-- (level 0) are SHA-256(0x00 || audit_entries.hash) and are not stored twice.
CREATE TABLE audit_tree_nodes (
    level  INTEGER NOT NULL CHECK (level > 0 AND level < 64),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hash   BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit_tree_nodes is append-only');
END;
CREATE TRIGGER audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'audit_tree_nodes is append-only');
END;

-- The sequencer's one row. tree_size: how many entries (seq 1..=tree_size) audit_tree_nodes
-- covers. 0 here: the nodes of a log written before this migration are built at start-up
-- (Store::connect), in batches.
CREATE TABLE audit_sequencer (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tree_size  INTEGER NOT NULL CHECK (tree_size >= 0)
) STRICT;
INSERT INTO audit_sequencer (id, tree_size) VALUES (1, 0);
