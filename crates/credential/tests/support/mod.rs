//! Shared by the credential test binaries (`mod support;`): where the public vectors are.
#![allow(dead_code)]

use std::path::PathBuf;

/// `$TILLIT_TESTDATA/<sub>`, default `<workspace>/../shared/testdata/<sub>`; `None` (and a
/// "skipping" line) when that folder is absent.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("TILLIT_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
        });
    let dir = root.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipping: {} not found (set TILLIT_TESTDATA)",
            dir.display()
        );
        None
    }
}

/// Read and parse one JSON vector file.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*.json` file under `dir`, recursively, sorted.
pub fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
