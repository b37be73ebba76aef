//! Test support shared by the test binaries of every crate (a dev-dependency only; nothing in a
//! released binary depends on it): where the public test vectors are, and reading them.
//!
//! The vectors live outside the repository, in `../shared/testdata` beside the clone, or
//! wherever `TILLIT_TESTDATA` says. A user's own clone may not have them: then vector tests
//! print that they skip and pass. When `TILLIT_TESTDATA` is set (CI sets it), a missing folder
//! is a failure, so a wrong path or a renamed folder cannot turn the vector tests green with
//! no case run.
//!
//! [`served`] runs the real binary for the end-to-end tests of `crates/cli`.

pub mod served;

use std::path::{Path, PathBuf};

/// The variable naming the test-vector folder.
pub const TESTDATA_ENV: &str = "TILLIT_TESTDATA";

/// `$TILLIT_TESTDATA/<sub>`, or `<workspace>/../shared/testdata/<sub>` when the variable is not
/// set. `None` (after a "skipping" line) only when the variable is not set and the default
/// folder is absent; panics when the variable is set and the folder is missing.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    match std::env::var_os(TESTDATA_ENV).filter(|v| !v.is_empty()) {
        Some(root) => {
            let dir = PathBuf::from(root).join(sub);
            assert!(
                dir.is_dir(),
                "{TESTDATA_ENV} is set but {} is not a folder",
                dir.display()
            );
            Some(dir)
        }
        None => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/testdata")
                .join(sub);
            if dir.is_dir() {
                Some(dir)
            } else {
                println!("skipping: {} not found (set {TESTDATA_ENV})", dir.display());
                None
            }
        }
    }
}

/// Read and parse one JSON vector file; panics naming the file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*.json` file under `dir`, recursively, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                .path();
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

/// Whether the interoperability tests run (`TILLIT_INTEROP=1`); otherwise prints why they skip.
pub fn interop_enabled(what: &str) -> bool {
    if std::env::var("TILLIT_INTEROP").as_deref() == Ok("1") {
        true
    } else {
        println!("skipping: {what} runs only with TILLIT_INTEROP=1");
        false
    }
}

/// dgc-testdata's own test names (`dcc/tests/known_issues.csv`) → the flags each checks.
pub const DCC_TEST_NAME_FLAGS: &[(&str, &[&str])] = &[
    ("test_compression", &["EXPECTEDCOMPRESSION"]),
    ("test_cose_schema", &["EXPECTEDSCHEMAVALIDATION"]),
    ("test_cose_json", &["EXPECTEDDECODE"]),
    ("test_cbor_json", &["EXPECTEDVALIDJSON"]),
    ("test_cose_cbor", &["EXPECTEDDECODE"]),
    ("test_verification_check", &["EXPECTEDVERIFY"]),
    ("test_expiration_check", &["EXPECTEDEXPIRATIONCHECK"]),
    ("test_expected_key_usage", &["EXPECTEDKEYUSAGE"]),
    ("test_b45decode", &["EXPECTEDB45DECODE"]),
    ("test_un_prefix", &["EXPECTEDUNPREFIX"]),
    ("test_picture_decode", &["EXPECTEDPICTUREDECODE"]),
];

/// One row of `dcc/tests/known_issues.csv`, for one flag its test checks.
#[derive(Debug, Clone)]
pub struct DccKnownIssue {
    pub flag: String,
    pub country: String,
    /// The test set (file stem), or empty for every file of the country.
    pub set: String,
    pub reason: String,
}

/// The known issues of dgc-testdata under `dcc_dir` (empty when the file is absent).
pub fn dcc_known_issues(dcc_dir: &Path) -> Vec<DccKnownIssue> {
    let Ok(text) = std::fs::read_to_string(dcc_dir.join("tests/known_issues.csv")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.splitn(4, ',').collect();
        let [test, country, set, reason] = cols[..] else {
            continue;
        };
        for (name, flags) in DCC_TEST_NAME_FLAGS {
            if *name == test {
                out.extend(flags.iter().map(|flag| DccKnownIssue {
                    flag: flag.to_string(),
                    country: country.to_string(),
                    set: set.to_string(),
                    reason: reason.to_string(),
                }));
            }
        }
    }
    out
}

/// The known issue that excuses `flag` for the file of `country` and test set `set`, if any.
pub fn dcc_known_issue<'a>(
    issues: &'a [DccKnownIssue],
    flag: &str,
    country: &str,
    set: &str,
) -> Option<&'a DccKnownIssue> {
    issues.iter().find(|i| {
        i.flag == flag
            && i.country.eq_ignore_ascii_case(country)
            && (i.set.is_empty() || i.set == set)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, because it sets the process environment.
    #[test]
    fn a_set_but_missing_folder_fails_and_a_present_one_is_found() {
        let root = std::env::temp_dir();
        std::env::set_var(TESTDATA_ENV, &root);
        assert_eq!(testdata(""), Some(root.join("")));
        let missing = std::panic::catch_unwind(|| testdata("no-such-vector-folder-4711"));
        assert!(
            missing.is_err(),
            "a missing folder under a set variable must fail"
        );
        std::env::remove_var(TESTDATA_ENV);
    }
}
