//! transparency-dev/merkle's `testdata/` (RFC 9162 inclusion and consistency proofs, and the
//! MTC draft's subtree proofs), read as they are from `$TILLIT_TESTDATA/merkle`.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use tillit_audit::merkle;

fn testdata() -> Option<PathBuf> {
    tillit_testkit::testdata("merkle")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v[key].as_str().unwrap())
        .unwrap()
}

/// The proof as 32-byte hashes; `None` when an element is not 32 bytes long, which our typed API
/// cannot even represent, so such a proof counts as rejected.
fn proof(v: &Value) -> Option<Vec<[u8; 32]>> {
    match &v["proof"] {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|p| {
                base64::engine::general_purpose::STANDARD
                    .decode(p.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .ok()
            })
            .collect(),
        other => panic!("unexpected proof {other}"),
    }
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap()
}

fn run(kind: &str, check: impl Fn(&Value) -> bool) -> (usize, usize) {
    let Some(dir) = testdata() else { return (0, 0) };
    let mut paths = Vec::new();
    files(&dir.join(kind), &mut paths);
    assert!(!paths.is_empty(), "no vectors under {kind}");
    let mut happy = 0;
    for path in &paths {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let ok = check(&v);
        assert_eq!(!ok, want_err, "{}: {}", path.display(), v["desc"]);
        if ok {
            happy += 1;
        }
    }
    println!(
        "{kind}: {} cases, {happy} accepted, {} rejected",
        paths.len(),
        paths.len() - happy
    );
    (paths.len(), happy)
}

#[test]
fn inclusion_vectors() {
    run("inclusion", |v| {
        let Some(p) = proof(v) else { return false };
        merkle::verify_inclusion(
            u(v, "leafIdx"),
            u(v, "treeSize"),
            &bytes(v, "leafHash"),
            &p,
            &bytes(v, "root"),
        )
        .is_ok()
    });
}

#[test]
fn consistency_vectors() {
    run("consistency", |v| {
        let Some(p) = proof(v) else { return false };
        merkle::verify_consistency(
            u(v, "size1"),
            u(v, "size2"),
            &bytes(v, "root1"),
            &bytes(v, "root2"),
            &p,
        )
        .is_ok()
    });
}

#[test]
fn subtree_inclusion_vectors() {
    run("subtreeinclusion", |v| {
        let Some(p) = proof(v) else { return false };
        merkle::verify_subtree_inclusion(
            u(v, "leafIdx"),
            u(v, "start"),
            u(v, "end"),
            &bytes(v, "leafHash"),
            &p,
            &bytes(v, "root"),
        )
        .is_ok()
    });
}

#[test]
fn subtree_consistency_vectors() {
    run("subtreeconsistency", |v| {
        let Some(p) = proof(v) else { return false };
        merkle::verify_subtree_consistency(
            u(v, "start"),
            u(v, "end"),
            u(v, "size"),
            &bytes(v, "root1"),
            &bytes(v, "root2"),
            &p,
        )
        .is_ok()
    });
}

/// The RFC 6962 / transparency-dev test leaves, which the accepted vectors are built from.
const TEST_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// Every complete node over the test leaves, as the store keeps them.
fn test_nodes() -> std::collections::HashMap<merkle::NodeId, [u8; 32]> {
    let mut nodes = std::collections::HashMap::new();
    let mut builder = merkle::TreeBuilder::new();
    for data in TEST_LEAVES {
        builder.push_leaf_hash_with(merkle::leaf_hash(data), |id, h| {
            nodes.insert(id, h);
        });
    }
    nodes
}

/// Runs `check` on every accepted vector of `kind` whose tree is over the test leaves (its
/// root is theirs); returns how many were checked.
fn regenerate(kind: &str, check: impl Fn(&Value, &mut merkle::NodeLookup<'_>)) -> usize {
    let Some(dir) = testdata() else { return 0 };
    let nodes = test_nodes();
    let leaves: Vec<[u8; 32]> = TEST_LEAVES.iter().map(|d| merkle::leaf_hash(d)).collect();
    let mut paths = Vec::new();
    files(&dir.join(kind), &mut paths);
    let mut checked = 0;
    for path in &paths {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let size_key = if kind == "inclusion" {
            "treeSize"
        } else {
            "size2"
        };
        let root_key = if kind == "inclusion" { "root" } else { "root2" };
        let size = u(&v, size_key);
        if v["wantErr"].as_bool().unwrap()
            || size > 8
            || bytes(&v, root_key) != merkle::root(&leaves[..size as usize])
        {
            continue;
        }
        let mut get = |id: merkle::NodeId| {
            nodes
                .get(&id)
                .copied()
                .ok_or_else(|| tillit_audit::AuditError::ProofRequest(format!("{id:?}")))
        };
        check(&v, &mut get);
        checked += 1;
    }
    println!("{kind}: {checked} accepted vectors regenerated from stored nodes");
    checked
}

#[test]
fn accepted_vectors_are_regenerated_from_stored_nodes() {
    let inclusion = regenerate("inclusion", |v, get| {
        let (index, size) = (u(v, "leafIdx"), u(v, "treeSize"));
        let got = merkle::inclusion_proof_from(index, size, get).unwrap();
        assert_eq!(Some(got), proof(v), "{}", v["desc"]);
        assert_eq!(
            merkle::root_from(size, get).unwrap().to_vec(),
            bytes(v, "root")
        );
    });
    let consistency = regenerate("consistency", |v, get| {
        let (m, n) = (u(v, "size1"), u(v, "size2"));
        let got = merkle::consistency_proof_from(m, n, get).unwrap();
        assert_eq!(Some(got), proof(v), "{}", v["desc"]);
        assert_eq!(
            merkle::root_from(m, get).unwrap().to_vec(),
            bytes(v, "root1")
        );
    });
    if testdata().is_some() {
        assert!(
            inclusion > 0 && consistency > 0,
            "no vector over the test leaves"
        );
    }
}
