//! End to end: the audit log's RFC 9162 proof endpoints, checked over HTTP with the audit crate's
//! own verifier (`tillit_audit::merkle::verify_*`, `TreeHead::verify`), so a wrong proof, root or
//! tree head from the server fails here.
//!
//! The real server runs on a free port, on SQLite and on PostgreSQL (`<test>::sqlite`,
//! `<test>::postgres`; see `common`), and signs a tree head after every audited write
//! (`tree_head_entries = 1`), so the test collects a signed head at every log size. Leaf hashes are recomputed from the entries served by `GET /v1/audit/entries` (canonical
//! encoding → SHA-256 → `SHA-256(0x00 || hash)`), never taken from the proof response.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{backend_tests, Backend, TestServer};
use serde_json::Value;
use tillit_audit::{merkle, parse_hash, parse_time, AuditEntry, TreeHead};
use tillit_crypto::VerifyingKey;
use tillit_store::Scope;

/// Entries in the log once the fixture is built: not a power of two, so the tree's right edge is
/// ragged.
const LOG_SIZE: u64 = 21;
/// How long to wait for the tree-head job before failing.
const POLL_LIMIT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(10);

backend_tests!(
    proofs_verify_with_the_audit_crate_against_signed_tree_heads,
    proof_requests_outside_the_log_are_problems_never_500,
);

/// A server that signs a tree head after every audited write (and, at start, over the entries
/// written while starting).
async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(
        backend,
        |c| {
            c.tree_head_entries = 1;
            c.tree_head_seconds = 3600;
        },
        axum::Router::new(),
    )
    .await
}

async fn create_org(s: &TestServer, i: u64) {
    // Any 8 digits are a valid Danish CVR number.
    let number = format!("{:08}", 20_000_000 + i);
    let r = s.create_org(&format!("Kommune {i}"), "DK", &number).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Every entry, read page by page (small pages, so the cursor is used), each checked: its hash is
/// recomputed from its fields, it links to its predecessor, seqs have no gaps.
async fn entries(s: &TestServer) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    let mut path = "/v1/audit/entries?limit=4".to_string();
    loop {
        let (status, page) = s.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            let entry = entry_from_json(item);
            assert_eq!(entry.seq, out.len() as u64 + 1, "{item}");
            let prev = out.last().map_or(tillit_audit::GENESIS_HASH, |e| e.hash);
            assert_eq!(entry.prev_hash, prev, "chain broken at {item}");
            out.push(entry);
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/audit/entries?limit=4&cursor={c}"),
            None => break,
        }
    }
    out
}

/// The latest signed tree head once it covers exactly `size` entries.
async fn wait_for_head(s: &TestServer, size: u64) -> TreeHead {
    let deadline = Instant::now() + POLL_LIMIT;
    loop {
        let (status, _, body) = s.get_public("/v1/audit/tree-heads/latest").await;
        if status == 200 {
            let head = head_from_json(&body);
            assert!(
                head.tree_size <= size,
                "a tree head of size {} appeared while the log has {size} entries",
                head.tree_size
            );
            if head.tree_size == size {
                return head;
            }
        } else {
            assert_eq!(status, 404, "{body}");
        }
        assert!(
            Instant::now() < deadline,
            "no tree head of size {size} within {POLL_LIMIT:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The audit key with this thumbprint, as anyone can fetch it: from the public JWK Set at
/// `/v1/audit/keys`, checked against the installation's key store.
async fn audit_key(s: &TestServer, kid: &str) -> VerifyingKey {
    let (status, _, body) = s.get_public("/v1/audit/keys").await;
    assert_eq!(status, 200, "{body}");
    let jwk = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("/v1/audit/keys has no key {kid}: {body}"));
    assert!(jwk.get("d").is_none(), "a private key was published");
    let key = VerifyingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let stored = s
        .server
        .state
        .keys
        .public(Scope::Installation, kid)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no installation key {kid}"));
    assert_eq!(
        key.to_jwk(),
        stored.to_jwk(),
        "published and stored key differ"
    );
    key
}

fn hash32(v: &Value) -> [u8; 32] {
    parse_hash(
        "hash",
        v.as_str().unwrap_or_else(|| panic!("not a hash: {v}")),
    )
    .unwrap()
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array().unwrap().iter().map(hash32).collect()
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// An entry as served, with its hash recomputed by the audit crate and compared.
fn entry_from_json(v: &Value) -> AuditEntry {
    let mut entry = AuditEntry {
        seq: v["seq"].as_u64().unwrap(),
        time: parse_time(v["time"].as_str().unwrap()).unwrap(),
        actor: v["actor"].as_str().unwrap().to_string(),
        org_id: opt_string(&v["org_id"]),
        action: v["action"].as_str().unwrap().to_string(),
        object_id: opt_string(&v["object_id"]),
        details: v["details"].clone(),
        prev_hash: hash32(&v["prev_hash"]),
        hash: [0; 32],
    };
    entry.hash = entry.compute_hash();
    assert_eq!(
        entry.hash,
        hash32(&v["hash"]),
        "served hash differs from the recomputed one: {v}"
    );
    entry
}

fn head_from_json(v: &Value) -> TreeHead {
    TreeHead {
        tree_size: v["tree_size"].as_u64().unwrap(),
        root_hash: hash32(&v["root_hash"]),
        timestamp: parse_time(v["timestamp"].as_str().unwrap()).unwrap(),
        key_id: v["key_id"].as_str().unwrap().to_string(),
        signature: tillit_crypto::b64::decode_url(v["signature"].as_str().unwrap()).unwrap(),
    }
}

/// Copies of `nodes`, each with one byte of one node flipped (a different byte per node).
fn tampered(nodes: &[[u8; 32]]) -> Vec<(String, Vec<[u8; 32]>)> {
    (0..nodes.len())
        .map(|i| {
            let mut bad = nodes.to_vec();
            let byte = (i * 7 + 3) % 32;
            bad[i][byte] ^= 0x40;
            (format!("node {i} byte {byte} flipped"), bad)
        })
        .collect()
}

fn flip(hash: [u8; 32]) -> [u8; 32] {
    let mut bad = hash;
    bad[17] ^= 0x01;
    bad
}

/// The log every positive check runs on: `LOG_SIZE` entries with a signed head at every size
/// from the first head on.
struct Fixture {
    server: TestServer,
    /// Leaf hashes recomputed from the served entries, index = seq - 1.
    leaves: Vec<[u8; 32]>,
    entries: Vec<AuditEntry>,
    /// Signed tree heads by size, as served by `/v1/audit/tree-heads/latest`.
    heads: BTreeMap<u64, TreeHead>,
}

impl Fixture {
    async fn build(backend: Backend) -> Self {
        let server = start(backend).await;
        let mut heads = BTreeMap::new();
        // Starting writes the audit key and the bootstrap token entries; the job signs them.
        let mut size = entries(&server).await.len() as u64;
        assert!((1..LOG_SIZE).contains(&size), "{size} entries at start");
        heads.insert(size, wait_for_head(&server, size).await);
        let mut i = 0;
        while size < LOG_SIZE {
            create_org(&server, i).await;
            i += 1;
            size = entries(&server).await.len() as u64;
            heads.insert(size, wait_for_head(&server, size).await);
        }
        assert_eq!(size, LOG_SIZE, "an org creation writes one entry");
        let entries = entries(&server).await;
        let leaves = entries.iter().map(AuditEntry::leaf_hash).collect();
        Self {
            server,
            leaves,
            entries,
            heads,
        }
    }

    /// The root a client trusts for `size`: the signed head's. Sizes below the first head (the
    /// server signs its first head over the entries written while starting) have no signed
    /// head; for those the root is recomputed from the entries with `merkle::root`.
    fn trusted_root(&self, size: u64) -> [u8; 32] {
        match self.heads.get(&size) {
            Some(head) => head.root_hash,
            None => {
                let first = *self.heads.keys().next().unwrap();
                assert!(size < first, "no signed head of size {size}");
                merkle::root(&self.leaves[..size as usize])
            }
        }
    }
}

/// (leaf index, tree size): first, last and middle leaves; sizes that are and are not powers of
/// two; lone right-edge leaves.
const INCLUSION: &[(u64, u64)] = &[
    (0, 1),
    (0, 2),
    (1, 2),
    (0, 3),
    (2, 3),
    (0, 4),
    (3, 4),
    (4, 5),
    (2, 5),
    (5, 7),
    (6, 7),
    (0, 8),
    (3, 8),
    (4, 8),
    (7, 8),
    (0, 13),
    (6, 13),
    (8, 13),
    (12, 13),
    (0, 16),
    (9, 16),
    (15, 16),
    (16, 17),
    (0, 20),
    (19, 20),
    (0, 21),
    (10, 21),
    (15, 21),
    (16, 21),
    (19, 21),
    (20, 21),
];

/// (old size, new size): powers of two and not, old = 1, equal sizes, old one below new.
const CONSISTENCY: &[(u64, u64)] = &[
    (1, 2),
    (1, 21),
    (2, 3),
    (2, 21),
    (3, 4),
    (3, 7),
    (4, 8),
    (4, 21),
    (5, 13),
    (6, 13),
    (7, 8),
    (8, 16),
    (8, 21),
    (13, 21),
    (15, 16),
    (16, 17),
    (16, 21),
    (17, 21),
    (20, 21),
    (5, 5),
    (16, 16),
    (21, 21),
];

async fn proofs_verify_with_the_audit_crate_against_signed_tree_heads(backend: Backend) {
    let f = Fixture::build(backend).await;
    let s = &f.server;

    // Tree heads: every size from the first head to LOG_SIZE, each signed by the installation
    // audit key (whose creation is itself in the log) over the root of exactly those entries.
    let first_head = *f.heads.keys().next().unwrap();
    assert_eq!(
        f.heads.keys().copied().collect::<Vec<_>>(),
        (first_head..=LOG_SIZE).collect::<Vec<_>>()
    );
    for (size, head) in &f.heads {
        let (status, _, by_size) = s.get_public(&format!("/v1/audit/tree-heads/{size}")).await;
        assert_eq!(status, 200, "tree head {size}: {by_size}");
        assert_eq!(
            &head_from_json(&by_size),
            head,
            "GET /v1/audit/tree-heads/{size} is not the head served as latest"
        );
        let key = audit_key(s, &head.key_id).await;
        assert_eq!(key.thumbprint(), head.key_id);
        head.verify(&key)
            .unwrap_or_else(|e| panic!("tree head {size}: {e}"));
        assert!(
            f.entries.iter().any(|e| e.action == "key.create"
                && e.object_id.as_deref() == Some(head.key_id.as_str())),
            "the audit key {} is not recorded in the log",
            head.key_id
        );
        assert_eq!(
            head.root_hash,
            merkle::root(&f.leaves[..*size as usize]),
            "tree head {size}: root is not the MTH of the served entries"
        );
        let mut bad = head.clone();
        bad.tree_size += 1;
        assert!(bad.verify(&key).is_err(), "tree head {size}: size changed");
        let mut bad = head.clone();
        bad.root_hash = flip(bad.root_hash);
        assert!(bad.verify(&key).is_err(), "tree head {size}: root changed");
        let mut bad = head.clone();
        bad.signature[5] ^= 0x02;
        assert!(
            bad.verify(&key).is_err(),
            "tree head {size}: signature changed"
        );
    }

    // Inclusion proofs.
    let mut nodes_checked = 0;
    for &(index, size) in INCLUSION {
        let context = format!("inclusion of leaf {index} in tree size {size}");
        let path = format!(
            "/v1/audit/proofs/inclusion?seq={}&tree_size={size}",
            index + 1
        );
        let (status, _, body) = s.get_public(&path).await;
        assert_eq!(status, 200, "{context}: {body}");
        let leaf = f.leaves[index as usize];
        let root = f.trusted_root(size);
        let proof = hashes(&body["audit_path"]);
        merkle::verify_inclusion(index, size, &leaf, &proof, &root)
            .unwrap_or_else(|e| panic!("{context}: {e}\n{body}"));
        assert_eq!(body["seq"], index + 1, "{context}");
        assert_eq!(body["leaf_index"], index, "{context}");
        assert_eq!(body["tree_size"], size, "{context}");
        assert_eq!(hash32(&body["leaf_hash"]), leaf, "{context}");
        assert_eq!(hash32(&body["root_hash"]), root, "{context}");
        // Not vacuous: any change to the proof, the leaf or the root fails.
        for (what, bad) in tampered(&proof) {
            assert!(
                merkle::verify_inclusion(index, size, &leaf, &bad, &root).is_err(),
                "{context}: {what} still verifies"
            );
            nodes_checked += 1;
        }
        assert!(
            merkle::verify_inclusion(index, size, &flip(leaf), &proof, &root).is_err(),
            "{context}: another leaf verifies"
        );
        assert!(
            merkle::verify_inclusion(index, size, &leaf, &proof, &flip(root)).is_err(),
            "{context}: another root verifies"
        );
        if let Some(&other) = f
            .leaves
            .get((index ^ 1) as usize)
            .filter(|_| index ^ 1 < size)
        {
            assert!(
                merkle::verify_inclusion(index, size, &other, &proof, &root).is_err(),
                "{context}: the sibling's leaf verifies"
            );
        }
        if size > 1 {
            let shorter = &proof[..proof.len() - 1];
            assert!(
                merkle::verify_inclusion(index, size, &leaf, shorter, &root).is_err(),
                "{context}: a cut proof verifies"
            );
        }
    }
    assert!(nodes_checked > 50, "only {nodes_checked} tampered nodes");

    // Consistency proofs: the table, then every pair of consecutive signed heads (what a
    // monitor that polls the latest head checks).
    let consecutive: Vec<(u64, u64)> = f
        .heads
        .keys()
        .zip(f.heads.keys().skip(1))
        .map(|(&a, &b)| (a, b))
        .collect();
    for &(old, new) in CONSISTENCY.iter().chain(&consecutive) {
        let context = format!("consistency of tree size {old} with {new}");
        let path = format!("/v1/audit/proofs/consistency?first={old}&second={new}");
        let (status, _, body) = s.get_public(&path).await;
        assert_eq!(status, 200, "{context}: {body}");
        let (old_root, new_root) = (f.trusted_root(old), f.trusted_root(new));
        let proof = hashes(&body["proof"]);
        merkle::verify_consistency(old, new, &old_root, &new_root, &proof)
            .unwrap_or_else(|e| panic!("{context}: {e}\n{body}"));
        assert_eq!(body["first"], old, "{context}");
        assert_eq!(body["second"], new, "{context}");
        assert_eq!(hash32(&body["first_root_hash"]), old_root, "{context}");
        assert_eq!(hash32(&body["second_root_hash"]), new_root, "{context}");
        assert_eq!(proof.is_empty(), old == new, "{context}");
        for (what, bad) in tampered(&proof) {
            assert!(
                merkle::verify_consistency(old, new, &old_root, &new_root, &bad).is_err(),
                "{context}: {what} still verifies"
            );
        }
        assert!(
            merkle::verify_consistency(old, new, &flip(old_root), &new_root, &proof).is_err(),
            "{context}: another old root verifies"
        );
        assert!(
            merkle::verify_consistency(old, new, &old_root, &flip(new_root), &proof).is_err(),
            "{context}: another new root verifies"
        );
    }
    f.server.stop().await;
}

/// What a request must get: (status, problem `type` slug, problem `title`); 200 rows are the valid
/// neighbours of the bad ones.
type Want = (u16, &'static str, &'static str);
/// (query, what it must get, the field a validation problem names)
type Row = (String, Want, Option<&'static str>);
const VALID: Want = (200, "", "");
const VALIDATION: Want = (422, "validation", "Invalid request");
const BAD_REQUEST: Want = (400, "bad-request", "Bad request");
const NOT_FOUND: Want = (404, "not-found", "Not found");

async fn proof_requests_outside_the_log_are_problems_never_500(backend: Backend) {
    let s = start(backend).await;
    for i in 0..3 {
        create_org(&s, i).await;
    }
    let n = entries(&s).await.len() as u64;
    wait_for_head(&s, n).await;
    let (beyond, max) = (n + 1, u64::MAX);
    let inclusion: Vec<Row> = vec![
        ("seq=0&tree_size=1".into(), VALIDATION, Some("seq")),
        ("seq=3&tree_size=2".into(), VALIDATION, Some("seq")),
        ("seq=3&tree_size=3".into(), VALID, None),
        ("seq=1&tree_size=0".into(), VALIDATION, Some("seq")),
        ("seq=0&tree_size=0".into(), VALIDATION, Some("seq")),
        (
            format!("seq=1&tree_size={beyond}"),
            VALIDATION,
            Some("tree_size"),
        ),
        (
            format!("seq={beyond}&tree_size={beyond}"),
            VALIDATION,
            Some("tree_size"),
        ),
        (
            format!("seq={n}&tree_size={max}"),
            VALIDATION,
            Some("tree_size"),
        ),
        (
            format!("seq={max}&tree_size={max}"),
            VALIDATION,
            Some("tree_size"),
        ),
        (format!("seq={max}&tree_size={n}"), VALIDATION, Some("seq")),
        (
            "seq=1&tree_size=18446744073709551616".into(),
            BAD_REQUEST,
            None,
        ),
        ("seq=-1&tree_size=2".into(), BAD_REQUEST, None),
        ("seq=x&tree_size=2".into(), BAD_REQUEST, None),
        ("seq=1".into(), BAD_REQUEST, None),
        ("tree_size=1".into(), BAD_REQUEST, None),
        (String::new(), BAD_REQUEST, None),
    ];
    let consistency: Vec<Row> = vec![
        ("first=0&second=2".into(), VALIDATION, Some("first")),
        ("first=0&second=0".into(), VALIDATION, Some("first")),
        ("first=3&second=2".into(), VALIDATION, Some("first")),
        (format!("first={n}&second=1"), VALIDATION, Some("first")),
        (format!("first=1&second={n}"), VALID, None),
        (
            format!("first=1&second={beyond}"),
            VALIDATION,
            Some("second"),
        ),
        (
            format!("first={beyond}&second={beyond}"),
            VALIDATION,
            Some("second"),
        ),
        (format!("first=1&second={max}"), VALIDATION, Some("second")),
        (
            format!("first={max}&second={max}"),
            VALIDATION,
            Some("second"),
        ),
        (format!("first={max}&second={n}"), VALIDATION, Some("first")),
        (
            "first=1&second=18446744073709551616".into(),
            BAD_REQUEST,
            None,
        ),
        ("first=a&second=2".into(), BAD_REQUEST, None),
        ("first=1".into(), BAD_REQUEST, None),
        ("second=2".into(), BAD_REQUEST, None),
    ];
    let tree_heads: Vec<Row> = vec![
        (n.to_string(), VALID, None),
        ("latest".into(), VALID, None),
        ("0".into(), VALIDATION, Some("tree_size")),
        ("-1".into(), VALIDATION, Some("tree_size")),
        ("x".into(), VALIDATION, Some("tree_size")),
        ("18446744073709551616".into(), VALIDATION, Some("tree_size")),
        (beyond.to_string(), NOT_FOUND, None),
        (max.to_string(), NOT_FOUND, None),
    ];
    let cases = inclusion
        .into_iter()
        .map(|(q, want, field)| (format!("/v1/audit/proofs/inclusion?{q}"), want, field))
        .chain(
            consistency
                .into_iter()
                .map(|(q, want, field)| (format!("/v1/audit/proofs/consistency?{q}"), want, field)),
        )
        .chain(
            tree_heads
                .into_iter()
                .map(|(size, want, field)| (format!("/v1/audit/tree-heads/{size}"), want, field)),
        );
    for (path, (status, slug, title), field) in cases {
        let (got, content_type, body) = s.get_public(&path).await;
        assert_eq!(got, status, "{path}: {body}");
        if status == 200 {
            continue;
        }
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert_eq!(
            body["type"],
            format!("urn:tillit:problem:{slug}"),
            "{path}: {body}"
        );
        assert_eq!(body["title"], title, "{path}: {body}");
        assert_eq!(body["status"], status, "{path}: {body}");
        assert_eq!(body["instance"], path.split('?').next().unwrap(), "{path}");
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
        }
    }
    s.stop().await;
}
