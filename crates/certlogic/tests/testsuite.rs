//! Runs every file of the CertLogic test suite (`<testdata>/certlogic/*.json`) as the reference
//! runner (certlogic-js `src/test/run-testSuite.ts`) does: an assertion's own
//! `certLogicExpression` overrides its case's, and `"directive": "skip"` on a suite, a case or an
//! assertion skips it (the suite marks that way what the specification does not (yet) require,
//! e.g. the "patched" `reduce` that also sees the outer data).

use std::path::PathBuf;

use serde_json::Value;

fn testdata() -> Option<PathBuf> {
    tillit_testkit::testdata("certlogic")
}

/// Deep equality with numbers compared by value (`3` equals `3.0`), like chai's `deepEqual`.
fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

fn skipped(item: &Value) -> bool {
    item.get("directive").and_then(Value::as_str) == Some("skip")
}

#[test]
fn every_certlogic_test_suite_file_passes() {
    let Some(dir) = testdata() else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no test suite files in {}",
        dir.display()
    );

    let (mut total_passed, mut total_skipped, mut failures) = (0, 0, Vec::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let suite: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let (mut passed, mut skipped_here, mut count) = (0, 0, 0);
        for case in suite["cases"].as_array().unwrap() {
            let case_name = case["name"].as_str().unwrap_or("?");
            for (i, assertion) in case["assertions"].as_array().unwrap().iter().enumerate() {
                count += 1;
                if skipped(&suite) || skipped(case) || skipped(assertion) {
                    // Named, so a new skip in the suite shows in the output and in the count below.
                    println!(
                        "skipped by the suite's own directive: {name} / {case_name} #{}",
                        i + 1
                    );
                    skipped_here += 1;
                    continue;
                }
                let expr = assertion
                    .get("certLogicExpression")
                    .or_else(|| case.get("certLogicExpression"));
                let Some(expr) = expr else {
                    failures.push(format!(
                        "{name} / {case_name} #{}: no certLogicExpression",
                        i + 1
                    ));
                    continue;
                };
                let expected = &assertion["expected"];
                let label = assertion
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{}", i + 1), str::to_owned);
                match tillit_certlogic::evaluate(expr, &assertion["data"]) {
                    Ok(got) if deep_equal(&got, expected) => passed += 1,
                    Ok(got) => failures.push(format!(
                        "{name} / {case_name} / {label}: expected {expected}, got {got}"
                    )),
                    Err(e) => failures.push(format!(
                        "{name} / {case_name} / {label}: expected {expected}, got error {e}"
                    )),
                }
            }
        }
        println!(
            "{name}: {passed}/{count} passed, {skipped_here} skipped by the suite's directives"
        );
        total_passed += passed;
        total_skipped += skipped_here;
    }
    println!(
        "total: {total_passed} passed, {total_skipped} skipped by directive, {} failed",
        failures.len()
    );
    assert!(total_passed > 0);
    assert!(
        failures.is_empty(),
        "failing assertions:\n{}",
        failures.join("\n")
    );
}
