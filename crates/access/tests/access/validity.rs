//! Validity periods (virkningsperiode) on entities and on edges, evaluated at decision time.
use crate::support::{check, model, Row};

const DOC: &str = r#"
classifications: [{ id: k }]
it_systems:
  - { id: sys, classification: k }
  - { id: gammelt, classification: k, valid_to: "2025-01-01" }
rights:
  - { id: r-base, it_system: sys, classification: k }
  - { id: r-mid, it_system: sys, classification: k }
  - { id: r-edge, it_system: sys, classification: k }
  - { id: r-expired, it_system: sys, classification: k, valid_to: "2025-01-01" }
  - { id: r-old-system, it_system: gammelt, classification: k }
  - { id: r-ruled, it_system: sys, classification: k }
rules:
  - { id: ceiling-2026, kind: amount_limit, max_amount: 100, rights: [{ id: r-ruled, valid_from: "2026-01-01" }] }
roles:
  - id: base
    classifications: [k]
    rights: [r-base, r-expired, r-old-system, r-ruled, { id: r-edge, valid_from: "2025-03-01", valid_to: "2025-04-01" }]
  - id: mid
    classifications: [k]
    rights: [r-mid]
    inherits: [{ id: base, valid_to: "2025-05-01" }]
  - { id: top, classifications: [k], inherits: [mid] }
  - { id: retired, classifications: [k], rights: [r-base], valid_to: "2024-01-01" }
organisations:
  - { id: region }
  - { id: kommune, parent: { id: region, valid_to: "2025-09-01" } }
  - { id: skole, parent: kommune }
  - { id: lukket, parent: region, valid_to: "2025-02-01" }
persons: [{ id: p1 }, { id: p2, valid_to: "2025-02-01" }, { id: p3 }]
users:
  - { id: u1, person: p1 }
  - { id: u-gone, person: p1, valid_to: "2025-02-01" }
  - { id: u-dead-person, person: p2 }
  - { id: u-future, person: p1 }
  - { id: u-retired, person: p1 }
  - { id: u-region, person: p3 }
  - { id: u-edge, person: p3 }
  - { id: admin, person: p3 }
assignments:
  - { id: a-top, user: u1, roles: [top], assigned_by: admin }
  - { id: a-gone, user: u-gone, roles: [base], assigned_by: admin }
  - { id: a-dead, user: u-dead-person, roles: [base], assigned_by: admin }
  - { id: a-future, user: u-future, roles: [base], assigned_by: admin, valid_from: "2026-01-01" }
  - { id: a-retired, user: u-retired, roles: [retired], assigned_by: admin }
  - id: a-region
    user: u-region
    roles: [base]
    assigned_by: admin
    restrictions:
      - { kind: organisation, id: region, include_children: true }
  - id: a-edge
    user: u-edge
    roles: [base, { id: mid, valid_from: "2025-08-01" }]
    assigned_by: admin
    restrictions:
      - { kind: organisation, id: kommune, valid_to: "2025-06-01" }
"#;

#[test]
fn entities_and_edges_are_valid_only_in_their_periods() {
    let m = model(DOC);
    let rows = [
        // The inheritance edge mid → base expires 1 May 2025.
        Row { user: "u1", right: "r-base", at: "2025-04-30T12:00:00Z", allowed: true, reason: "through top → mid → base", path: &["top", "mid", "base"], ..Row::default() },
        Row { user: "u1", right: "r-base", at: "2025-05-01T12:00:00Z", reason: "the way it grants right r-base (top → mid → base) is valid only until 2025-05-01T00:00:00Z, not at 2025-05-01T12:00:00Z", ..Row::default() },
        Row { user: "u1", right: "r-mid", at: "2025-05-01T12:00:00Z", allowed: true, reason: "allowed", path: &["top", "mid"], ..Row::default() },
        // A role → right edge valid in March 2025 only.
        Row { user: "u1", right: "r-edge", at: "2025-03-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "u1", right: "r-edge", at: "2025-04-15T12:00:00Z", reason: "is valid only from 2025-03-01T00:00:00Z until 2025-04-01T00:00:00Z", ..Row::default() },
        // An expired right, an expired IT system.
        Row { user: "u1", right: "r-expired", at: "2025-03-15T12:00:00Z", reason: "right r-expired is not valid at 2025-03-15T12:00:00Z (valid until 2025-01-01T00:00:00Z)", ..Row::default() },
        Row { user: "u1", right: "r-old-system", at: "2025-03-15T12:00:00Z", reason: "IT system gammelt of right r-old-system is not valid", ..Row::default() },
        Row { user: "u1", right: "r-old-system", at: "2024-12-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        // A user that ended, a person that ended.
        Row { user: "u-gone", right: "r-base", at: "2025-01-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "u-gone", right: "r-base", at: "2025-03-15T12:00:00Z", reason: "user u-gone is not valid at 2025-03-15T12:00:00Z", ..Row::default() },
        Row { user: "u-dead-person", right: "r-base", at: "2025-03-15T12:00:00Z", reason: "person p2 of user u-dead-person is not valid", ..Row::default() },
        // A future assignment.
        Row { user: "u-future", right: "r-base", at: "2025-03-15T12:00:00Z", reason: "assignment a-future is not valid at 2025-03-15T12:00:00Z (valid from 2026-01-01T00:00:00Z)", ..Row::default() },
        Row { user: "u-future", right: "r-base", at: "2026-01-01T00:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        // A retired role grants nothing (it is dropped from the closure's periods).
        Row { user: "u-retired", right: "r-base", at: "2025-03-15T12:00:00Z", reason: "valid only until 2024-01-01T00:00:00Z", ..Row::default() },
        // A rule edge that starts later.
        Row { user: "u1", right: "r-ruled", at: "2025-04-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "u1", right: "r-ruled", at: "2026-04-15T12:00:00Z", reason: "no amount", ..Row::default() },
    ];
    check(&m, &rows);
}

#[test]
fn include_children_follows_parent_edges_valid_at_the_time() {
    let m = model(DOC);
    let at_in = "2025-03-15T12:00:00Z";
    let rows = [
        Row { user: "u-region", right: "r-base", org: Some("region"), at: at_in, allowed: true, reason: "within organisation region and its sub-organisations", ..Row::default() },
        Row { user: "u-region", right: "r-base", org: Some("kommune"), at: at_in, allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "u-region", right: "r-base", org: Some("skole"), at: at_in, allowed: true, reason: "allowed", ..Row::default() },
        // kommune leaves the region on 1 September 2025, taking skole with it.
        Row { user: "u-region", right: "r-base", org: Some("skole"), at: "2025-09-15T12:00:00Z", reason: "the check's scope is organisation skole", ..Row::default() },
        Row { user: "u-region", right: "r-base", org: Some("kommune"), at: "2025-09-15T12:00:00Z", reason: "the check's scope is organisation kommune", ..Row::default() },
        Row { user: "u-region", right: "r-base", org: Some("region"), at: "2025-09-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        // A closed organisation is no scope any more.
        Row { user: "u-region", right: "r-base", org: Some("lukket"), at: "2025-01-15T12:00:00Z", allowed: true, reason: "allowed", ..Row::default() },
        Row { user: "u-region", right: "r-base", org: Some("lukket"), at: "2025-03-15T12:00:00Z", reason: "the check's scope is organisation lukket", ..Row::default() },
        // Without include_children only the organisation itself; the restriction ends 1 June.
        Row { user: "u-edge", right: "r-base", org: Some("kommune"), at: at_in, allowed: true, reason: "within organisation kommune", ..Row::default() },
        Row { user: "u-edge", right: "r-base", org: Some("skole"), at: at_in, reason: "only within organisation kommune; the check's scope is organisation skole", ..Row::default() },
        Row { user: "u-edge", right: "r-base", org: Some("kommune"), at: "2025-07-15T12:00:00Z", reason: "assignment a-edge is restricted, but none of its restrictions is valid at 2025-07-15T12:00:00Z", ..Row::default() },
        // The assignment's second role edge starts 1 August (and by then no restriction is valid).
        Row { user: "u-edge", right: "r-mid", org: Some("kommune"), at: at_in, reason: "assignment a-edge gives role mid only from 2025-08-01T00:00:00Z, not at 2025-03-15T12:00:00Z", ..Row::default() },
    ];
    check(&m, &rows);
}
