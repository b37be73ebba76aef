//! Separation of duties: static (at assignment, at import, re-checked when a rule is added, and
//! enforced at decision time) and per object (against recorded exercises).
use tillit_access::{
    AccessError, AccessRule, Document, Exercise, Model, ProblemKind, RuleKind, ScopeKind, SodMode,
    UserRoleAssignment,
};

use crate::support::{decide, model, utc, Row};

const BASE: &str = r#"
classifications: [{ id: kommune }]
it_systems: [{ id: ydelse, classification: kommune }]
rights:
  - { id: tildele-ydelse, it_system: ydelse, classification: kommune }
  - { id: godkende-ydelse, it_system: ydelse, classification: kommune }
  - { id: bestille, it_system: ydelse, classification: kommune }
  - { id: godkende-bestilling, it_system: ydelse, classification: kommune }
roles:
  - { id: sagsbehandler, classifications: [kommune], rights: [tildele-ydelse, bestille] }
  - { id: leder, classifications: [kommune], rights: [godkende-ydelse, godkende-bestilling] }
  - { id: teamleder, classifications: [kommune], inherits: [sagsbehandler], rights: [godkende-bestilling] }
organisations: [{ id: ankeborg }]
persons: [{ id: p-anna }, { id: p-bo }, { id: p-admin }]
users:
  - { id: anna, person: p-anna }
  - { id: anna-2, person: p-anna }
  - { id: bo, person: p-bo }
  - { id: admin, person: p-admin }
assignments:
  - { id: anna-sag, user: anna, roles: [sagsbehandler], assigned_by: admin }
  - { id: anna2-leder, user: anna-2, roles: [leder], assigned_by: admin }
  - { id: bo-leder, user: bo, roles: [leder], assigned_by: admin, valid_from: "2025-01-01", valid_to: "2025-07-01" }
assign_rights:
  - { id: admin-all, user: admin, classification: kommune }
"#;

fn with_rules(rules: &str) -> String {
    format!("{BASE}rules:\n{rules}\n")
}

fn sod_rule(id: &str, mode: SodMode, rights: [&str; 2]) -> AccessRule {
    AccessRule {
        id: id.into(),
        name: None,
        description: Some(
            "Tildele ydelse og Godkende ydelse må ikke udføres af samme bruger".into(),
        ),
        kind: RuleKind::SeparationOfDuties,
        max_amount: None,
        first_working_days: None,
        calendar: None,
        from_time: None,
        to_time: None,
        mode: Some(mode),
        rights: rights.iter().map(|r| (*r).into()).collect(),
        valid_from: None,
        valid_to: None,
    }
}

fn assignment(id: &str, user: &str, role: &str, from: Option<&str>) -> UserRoleAssignment {
    UserRoleAssignment {
        id: id.into(),
        user: user.into(),
        roles: vec![role.into()],
        restrictions: vec![],
        assigned_by: Some("admin".into()),
        attestation: None,
        valid_from: from.map(|f| f.parse().unwrap()),
        valid_to: None,
    }
}

#[test]
fn static_separation_is_checked_at_assignment() {
    let mut m = model(&with_rules("  - { id: sod, kind: separation_of_duties, mode: static, rights: [tildele-ydelse, godkende-ydelse] }"));
    // (proposal, at, allowed, reason)
    let cases = [
        (assignment("x1", "anna", "leder", None), "2025-03-01", false, "rule sod (separation of duties) forbids one user to hold both tildele-ydelse and godkende-ydelse; user anna holds both through assignments anna-sag and x1"),
        (assignment("x2", "bo", "sagsbehandler", None), "2025-03-01", false, "user bo holds both through assignments x2 and bo-leder (from 2025-01-01T00:00:00Z until 2025-07-01T00:00:00Z)"),
        // Bo's leader role ends 1 July: from then on he may become a caseworker.
        (assignment("x3", "bo", "sagsbehandler", Some("2025-07-01")), "2025-03-01", true, "by assign right admin-all"),
        // Another user of the same person is another user (the static rule is per user).
        (assignment("x4", "anna-2", "teamleder", None), "2025-03-01", false, "user anna-2 holds both"),
        (assignment("x5", "anna", "teamleder", None), "2025-03-01", true, "admin-all"),
    ];
    for (p, at, allowed, reason) in cases {
        let c = m.check_assignment(&p, utc(at));
        assert_eq!(c.allowed, allowed, "{}: {:?}", p.id, c.reasons);
        assert!(
            c.reasons.join(" | ").contains(reason),
            "{}: {:?}",
            p.id,
            c.reasons
        );
        assert_eq!(c.violations.is_empty(), allowed);
    }
    assert!(matches!(
        m.assign(&assignment("x1", "anna", "leder", None), utc("2025-03-01")),
        Err(AccessError::AssignmentRefused { .. })
    ));
    m.assign(
        &assignment("x3", "bo", "sagsbehandler", Some("2025-07-01")),
        utc("2025-03-01"),
    )
    .unwrap();
    assert!(m.sod_violations().is_empty());
}

#[test]
fn import_refuses_a_static_violation_naming_the_assignments() {
    let text = with_rules("  - { id: sod, kind: separation_of_duties, mode: static, rights: [tildele-ydelse, godkende-ydelse] }")
        + "  - { id: sod2, kind: separation_of_duties, mode: static, rights: [bestille, godkende-bestilling] }\n"
        + "" ;
    let mut d = Document::parse(&text).unwrap();
    d.assignments
        .push(assignment("anna-leder", "anna", "leder", None));
    d.assignments
        .push(assignment("bo-sag", "bo", "teamleder", Some("2025-06-01")));
    let Err(AccessError::Invalid(problems)) = Model::load(&d) else {
        panic!("loaded")
    };
    let named: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.id.as_str(), p.message.as_str()))
        .collect();
    assert!(
        problems
            .iter()
            .all(|p| p.kind == ProblemKind::SeparationOfDuties),
        "{named:?}"
    );
    for want in ["anna-sag", "anna-leder", "bo-sag", "bo-leder"] {
        assert!(
            named.iter().any(|(id, _)| *id == want),
            "{want} not named: {named:?}"
        );
    }
    // Anna breaks both rules; Bo the first only while both assignments run, and the second
    // through one assignment alone (team leaders both order and approve orders).
    assert!(named
        .iter()
        .any(|(_, m)| m.contains("rule sod2") && m.contains("user anna ")));
    assert!(named.iter().any(|(_, m)| m.contains("user bo ")
        && m.contains("from 2025-06-01T00:00:00Z until 2025-07-01T00:00:00Z")));
    assert!(named.iter().any(|(_, m)| m.contains("rule sod2")
        && m.contains("user bo holds both through assignment bo-sag (from 2025-06-01T00:00:00Z)")));
}

#[test]
fn adding_a_rule_rechecks_existing_assignments() {
    let mut d = Document::parse(BASE).unwrap();
    d.assignments
        .push(assignment("anna-leder", "anna", "leder", None));
    let mut m = Model::load(&d).unwrap();
    let allowed_before = decide(
        &m,
        &Row {
            user: "anna",
            right: "godkende-ydelse",
            ..Row::default()
        },
        &[],
    );
    assert!(allowed_before.allowed);
    let v = m
        .insert_rule(&sod_rule(
            "sod",
            SodMode::Static,
            ["tildele-ydelse", "godkende-ydelse"],
        ))
        .unwrap();
    let summary: Vec<_> = v
        .iter()
        .map(|x| (x.user.as_str(), x.assignments.clone()))
        .collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0].0, "anna");
    assert_eq!(
        summary[0].1,
        ["anna-sag".to_string(), "anna-leder".to_string()]
    );
    assert_eq!(m.sod_violations(), v);
    // While the violation stands, decisions refuse both rights.
    for right in ["godkende-ydelse", "tildele-ydelse"] {
        let d = decide(
            &m,
            &Row {
                user: "anna",
                right,
                ..Row::default()
            },
            &[],
        );
        assert!(
            !d.allowed
                && d.reasons
                    .join(" ")
                    .contains("forbids one user to hold both"),
            "{:?}",
            d.reasons
        );
    }
    // Unrelated rights stay allowed; Bo (leader only until July) is fine.
    assert!(
        decide(
            &m,
            &Row {
                user: "anna",
                right: "bestille",
                ..Row::default()
            },
            &[]
        )
        .allowed
    );
    // Ending the conflicting assignment resolves it.
    m.end_assignment("anna-leder", utc("2025-03-01")).unwrap();
    assert!(
        decide(
            &m,
            &Row {
                user: "anna",
                right: "tildele-ydelse",
                at: "2025-03-02T10:00:00Z",
                ..Row::default()
            },
            &[]
        )
        .allowed
    );
    // A rule naming an unknown right is refused whole.
    let bad = m.insert_rule(&sod_rule(
        "sod-x",
        SodMode::Static,
        ["tildele-ydelse", "flyve"],
    ));
    assert!(matches!(bad, Err(AccessError::Invalid(p)) if p[0].message.contains("\"flyve\"")));
    let dup = m.insert_rule(&sod_rule(
        "sod",
        SodMode::Object,
        ["tildele-ydelse", "godkende-ydelse"],
    ));
    assert!(matches!(dup, Err(AccessError::Invalid(p)) if p[0].kind == ProblemKind::DuplicateId));
}

#[test]
fn per_object_separation_uses_recorded_exercises() {
    let mut d = Document::parse(&with_rules("  - { id: sod-obj, kind: separation_of_duties, mode: object, rights: [tildele-ydelse, godkende-ydelse] }")).unwrap();
    d.assignments
        .push(assignment("anna-leder", "anna", "leder", None));
    let m = Model::load(&d).unwrap();
    let row = |user: &'static str, right: &'static str, object: Option<&'static str>| Row {
        user,
        right,
        object,
        ..Row::default()
    };

    // Anna grants the benefit on case 17 and records it.
    let d1 = decide(&m, &row("anna", "tildele-ydelse", Some("sag-17")), &[]);
    assert!(d1.allowed, "{:?}", d1.reasons);
    let ex: Exercise = d1.exercise.clone().unwrap();
    assert_eq!(
        (ex.user.as_str(), ex.person.as_deref(), ex.object.as_str()),
        ("anna", Some("p-anna"), "sag-17")
    );
    let log = vec![ex];

    // (user, right, object, allowed, reason)
    let cases = [
        ("anna", "godkende-ydelse", Some("sag-17"), false, "rule sod-obj (separation of duties per object) forbids one user to exercise both tildele-ydelse and godkende-ydelse on the same object; user anna exercised tildele-ydelse on sag-17"),
        // The same person through her other user is caught too.
        ("anna-2", "godkende-ydelse", Some("sag-17"), false, "user anna (the same person as anna-2) exercised tildele-ydelse on sag-17"),
        // Another object, another user, or the same right again: fine.
        ("anna", "godkende-ydelse", Some("sag-18"), true, "allowed"),
        ("bo", "godkende-ydelse", Some("sag-17"), true, "allowed"),
        ("anna", "tildele-ydelse", Some("sag-17"), true, "allowed"),
        // Without an object the rule cannot be checked: refused.
        ("anna", "godkende-ydelse", None, false, "the check must name the object"),
    ];
    for (user, right, object, allowed, reason) in cases {
        let r = Row {
            at: "2025-03-03T10:00:00Z",
            ..row(user, right, object)
        };
        let d = decide(&m, &r, &log);
        assert_eq!(
            d.allowed, allowed,
            "{user} {right} {object:?}: {:?}",
            d.reasons
        );
        assert!(
            d.reasons.join(" | ").contains(reason),
            "{user} {right}: {:?}",
            d.reasons
        );
        assert_eq!(d.exercise.is_some(), allowed && object.is_some());
    }
    // Asking to record without an object records nothing and says so.
    let mut req = row("bo", "godkende-bestilling", None).request();
    req.record = true;
    let d = m.decide(&req, utc("2025-01-02"), &[]);
    assert!(
        d.allowed
            && d.exercise.is_none()
            && d.reasons.iter().any(|r| r.contains("nothing was recorded"))
    );
    let _ = ScopeKind::Organisation;
}
