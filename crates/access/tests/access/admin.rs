//! Delegated administration: who may assign which roles where, also across organisations.
use tillit_access::{ScopeKind, UserRoleAssignment, UserRoleRestriction};

use crate::support::{check, model, utc, Row};

// An IT co-operative (it-fællesskab) administers users for two municipalities; Ankeborg's own
// administrator may assign only within Ankeborg; the co-operative's administrator was given the
// right by Andeby to assign the caseworker role within Andeby and its schools.
const DOC: &str = r#"
classifications: [{ id: kommune }, { id: skole }]
it_systems: [{ id: sag, classification: kommune }]
rights:
  - { id: se-sag, it_system: sag, classification: kommune }
  - { id: rette-sag, it_system: sag, classification: kommune }
roles:
  - { id: sagsbehandler, classifications: [kommune], rights: [se-sag, rette-sag] }
  - { id: laerer, classifications: [skole], rights: [se-sag] }
  - { id: superbruger, classifications: [kommune], rights: [se-sag, rette-sag] }
organisations:
  - { id: ankeborg }
  - { id: andeby }
  - { id: andeby-skole, parent: andeby }
  - { id: andeby-skole-sfo, parent: andeby-skole }
  - { id: it-faellesskab }
persons: [{ id: p1 }, { id: p2 }, { id: p3 }, { id: p4 }, { id: p5 }]
users:
  - { id: ankeborg-admin, person: p1 }
  - { id: faellesskab-admin, person: p2 }
  - { id: andeby-bruger, person: p3 }
  - { id: root, person: p4 }
  - { id: tidligere-admin, person: p5, valid_to: "2025-01-01" }
assign_rights:
  - id: ar-ankeborg
    user: ankeborg-admin
    role: sagsbehandler
    restrictions: [{ kind: organisation, id: ankeborg }]
  - id: ar-andeby-delegeret
    user: faellesskab-admin
    role: sagsbehandler
    restrictions: [{ kind: organisation, id: andeby, include_children: true }]
    valid_from: "2025-01-01"
    valid_to: "2026-01-01"
  - id: ar-root
    user: root
    classification: kommune
  - id: ar-tidligere
    user: tidligere-admin
    role: sagsbehandler
  - id: ar-person
    user: ankeborg-admin
    role: laerer
    restrictions: [{ kind: person, id: p3 }]
"#;

/// (by, role, restrictions (kind, id, include_children), at, allowed, reason)
type Case = (
    &'static str,
    &'static str,
    Vec<(ScopeKind, &'static str, bool)>,
    &'static str,
    bool,
    &'static str,
);

fn proposal(
    user: &str,
    role: &str,
    by: &str,
    restrictions: &[(ScopeKind, &str, bool)],
) -> UserRoleAssignment {
    UserRoleAssignment {
        id: "ny".into(),
        user: user.into(),
        roles: vec![role.into()],
        restrictions: restrictions
            .iter()
            .map(|(kind, id, children)| UserRoleRestriction {
                kind: *kind,
                id: (*id).into(),
                include_children: *children,
                valid_from: None,
                valid_to: None,
            })
            .collect(),
        assigned_by: Some(by.into()),
        attestation: None,
        valid_from: None,
        valid_to: None,
    }
}

#[test]
fn who_may_assign_what_where() {
    use ScopeKind::*;
    let m = model(DOC);
    let org = |id: &'static str| (Organisation, id, false);
    let tree = |id: &'static str| (Organisation, id, true);
    // (by, role, restrictions, at, allowed, reason)
    let cases: Vec<Case> = vec![
        ("ankeborg-admin", "sagsbehandler", vec![org("ankeborg")], "2025-03-01", true, "by assign right ar-ankeborg"),
        ("ankeborg-admin", "sagsbehandler", vec![org("andeby")], "2025-03-01", false, "user ankeborg-admin may assign role sagsbehandler only within organisation ankeborg; the assignment asks for organisation andeby"),
        ("ankeborg-admin", "sagsbehandler", vec![], "2025-03-01", false, "the assignment asks for everywhere (no restrictions)"),
        ("ankeborg-admin", "sagsbehandler", vec![tree("ankeborg")], "2025-03-01", false, "only within organisation ankeborg;"),
        ("ankeborg-admin", "superbruger", vec![org("ankeborg")], "2025-03-01", false, "user ankeborg-admin holds no right to assign role superbruger"),
        // Cross-organisation delegation: the co-operative's administrator within Andeby's tree.
        ("faellesskab-admin", "sagsbehandler", vec![org("andeby")], "2025-03-01", true, "ar-andeby-delegeret"),
        ("faellesskab-admin", "sagsbehandler", vec![org("andeby-skole-sfo")], "2025-03-01", true, "ar-andeby-delegeret"),
        ("faellesskab-admin", "sagsbehandler", vec![tree("andeby-skole")], "2025-03-01", true, "ar-andeby-delegeret"),
        ("faellesskab-admin", "sagsbehandler", vec![org("andeby"), org("ankeborg")], "2025-03-01", false, "the assignment asks for organisation andeby, organisation ankeborg"),
        ("faellesskab-admin", "sagsbehandler", vec![org("it-faellesskab")], "2025-03-01", false, "only within organisation andeby and its sub-organisations"),
        ("faellesskab-admin", "sagsbehandler", vec![org("andeby")], "2024-12-31", false, "holds no right to assign role sagsbehandler"),
        ("faellesskab-admin", "sagsbehandler", vec![org("andeby")], "2026-01-01", false, "holds no right to assign role sagsbehandler"),
        // A classification-wide, unrestricted right.
        ("root", "superbruger", vec![], "2025-03-01", true, "ar-root"),
        ("root", "sagsbehandler", vec![tree("andeby")], "2025-03-01", true, "ar-root"),
        ("root", "laerer", vec![], "2025-03-01", false, "user root holds no right to assign role laerer"),
        // A user whose validity ended.
        ("tidligere-admin", "sagsbehandler", vec![org("ankeborg")], "2025-03-01", false, "user tidligere-admin, who makes the assignment, is not valid"),
        // Person restrictions.
        ("ankeborg-admin", "laerer", vec![(Person, "p3", false)], "2025-03-01", true, "ar-person"),
        ("ankeborg-admin", "laerer", vec![(Person, "p1", false)], "2025-03-01", false, "only within person p3; the assignment asks for person p1"),
        // References that do not exist.
        ("ankeborg-admin", "flyver", vec![org("ankeborg")], "2025-03-01", false, "roles names role \"flyver\", which does not exist"),
        ("ankeborg-admin", "sagsbehandler", vec![org("atlantis")], "2025-03-01", false, "restrictions names organisation \"atlantis\", which does not exist"),
        ("ankeborg-admin", "sagsbehandler", vec![(Person, "ankeborg", true)], "2025-03-01", false, "only an organisation can have"),
    ];
    for (i, (by, role, restrictions, at, allowed, reason)) in cases.into_iter().enumerate() {
        let c = m.check_assignment(&proposal("andeby-bruger", role, by, &restrictions), utc(at));
        assert_eq!(c.allowed, allowed, "case {i}: {:?}", c.reasons);
        assert!(
            c.reasons.join(" | ").contains(reason),
            "case {i}: {:?}",
            c.reasons
        );
    }
    // Nobody assigns to themselves, and somebody must make the assignment.
    let c = m.check_assignment(
        &proposal("root", "superbruger", "root", &[]),
        utc("2025-03-01"),
    );
    assert!(
        !c.allowed && c.reasons[0].contains("cannot assign roles to itself"),
        "{:?}",
        c.reasons
    );
    let mut p = proposal("andeby-bruger", "superbruger", "root", &[]);
    p.assigned_by = None;
    let c = m.check_assignment(&p, utc("2025-03-01"));
    assert!(
        !c.allowed
            && c.reasons
                .iter()
                .any(|r| r.contains("must name the user who makes it"))
    );
}

#[test]
fn a_delegated_assignment_decides_in_the_other_organisation() {
    let mut m = model(DOC);
    let mut p = proposal(
        "andeby-bruger",
        "sagsbehandler",
        "faellesskab-admin",
        &[(ScopeKind::Organisation, "andeby", true)],
    );
    p.valid_from = Some("2025-03-01".parse().unwrap());
    m.assign(&p, utc("2025-03-01")).unwrap();
    let rows = [
        Row {
            user: "andeby-bruger",
            right: "rette-sag",
            org: Some("andeby-skole-sfo"),
            allowed: true,
            reason: "within organisation andeby and its sub-organisations",
            assignment: Some("ny"),
            ..Row::default()
        },
        Row {
            user: "andeby-bruger",
            right: "rette-sag",
            org: Some("ankeborg"),
            reason: "the check's scope is organisation ankeborg",
            ..Row::default()
        },
    ];
    check(&m, &rows);
    // The export carries the new assignment.
    let d = m.to_document();
    assert!(d
        .assignments
        .iter()
        .any(|a| a.id == "ny" && a.assigned_by.as_deref() == Some("faellesskab-admin")));
    // Ending it before it started removes it.
    m.end_assignment("ny", utc("1999-01-01")).unwrap();
    assert!(m.to_document().assignments.is_empty());
    assert!(m.end_assignment("nope", utc("1999-01-01")).is_err());
}
