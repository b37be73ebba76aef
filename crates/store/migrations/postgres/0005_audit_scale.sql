-- The audit log at scale (issue 12): entries commit with their change into audit_pending; the
-- sequencer (tillit_store::audit) gives them their place in audit_entries (seq, prev_hash,
-- hash) in batches, one sequencer at a time (a row lock on audit_sequencer), and stores the
-- hashes of the Merkle tree's complete subtrees, so that tree heads and proofs read O(log n)
-- nodes instead of every entry. Write transactions no longer lock audit_entries.

-- Audit entries committed with their change, not yet in the log. Oldest id first.
CREATE TABLE audit_pending (
    id         BIGSERIAL PRIMARY KEY,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    org_id     TEXT,
    action     TEXT NOT NULL,
    object_id  TEXT,
    details    TEXT NOT NULL
);

-- Complete subtrees of the log's RFC 9162 Merkle tree above the leaves: the node (level, idx)
-- is the hash of entries with seq in (idx * 2^level, (idx + 1) * 2^level]. The leaves
-- (level 0) are SHA-256(0x00 || audit_entries.hash) and are not stored twice.
CREATE TABLE audit_tree_nodes (
    level  INTEGER NOT NULL CHECK (level > 0 AND level < 64),
    idx    BIGINT NOT NULL CHECK (idx >= 0),
    hash   BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE FUNCTION audit_tree_nodes_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_tree_nodes is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_tree_nodes_append_only BEFORE UPDATE OR DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_tree_nodes_append_only();

-- The sequencer's one row, locked FOR UPDATE by the one sequencer at work. tree_size: how many
-- entries (seq 1..=tree_size) audit_tree_nodes covers. 0 here: the nodes of a log written
-- before this migration are built at start-up (Store::connect), in batches.
CREATE TABLE audit_sequencer (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size  BIGINT NOT NULL CHECK (tree_size >= 0)
);
INSERT INTO audit_sequencer (id, tree_size) VALUES (1, 0);
