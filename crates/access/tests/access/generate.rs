//! The generator the benchmark uses, at a small size.
use std::time::Instant;

use tillit_access::generate::{checks, generate, Params};
use tillit_access::Model;

use crate::support::utc;

#[test]
fn a_generated_model_loads_and_decides() {
    let d = generate(&Params::SMALL);
    assert_eq!(d.users.len(), Params::SMALL.users + 1);
    assert_eq!(d.roles.len(), Params::SMALL.roles);
    assert_eq!(d.rights.len(), Params::SMALL.rights);
    assert_eq!(d.assignments.len(), Params::SMALL.assignments);
    assert_eq!(generate(&Params::SMALL), d, "deterministic");
    let m = Model::load(&d).unwrap();
    let cs = checks(&d, 2_000, 1);
    let started = Instant::now();
    let decisions: Vec<_> = cs
        .iter()
        .map(|c| m.decide(c, utc("2025-06-02"), &[]))
        .collect();
    let elapsed = started.elapsed();
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    assert!(
        allowed > 200 && allowed < 1_800,
        "{allowed} of 2000 allowed"
    );
    assert!(decisions.iter().all(|d| !d.reasons.is_empty()));
    // Inheritance reaches depth 5.
    let longest = decisions
        .iter()
        .filter_map(|d| d.via.as_ref())
        .map(|v| v.path.len())
        .max()
        .unwrap_or(0);
    assert_eq!(longest, 5);
    // An unoptimised test build still decides in well under a millisecond on average.
    assert!(elapsed.as_micros() < 2_000 * 1_000, "{elapsed:?}");
    // Effective rights of a user with several assignments.
    let eff = m.effective_rights("u1", utc("2025-06-02")).unwrap();
    assert!(!eff.is_empty());
}
