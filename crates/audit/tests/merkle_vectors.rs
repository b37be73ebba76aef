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
