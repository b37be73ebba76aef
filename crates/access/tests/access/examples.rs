//! The seed's four worked examples (Begrebsmodel til brugerstyring, Del D), decided as the seed
//! describes them.
use tillit_access::{Loa, ScopeKind, UserRoleAssignment, UserRoleRestriction};

use crate::support::{check, example, utc, Row};

const SUB: Option<Loa> = Some(Loa::Substantial);

#[test]
fn nurse_with_two_employments_only_the_rigshospitalet_user_may_prescribe() {
    let m = example("nurse-two-employments.yaml");
    let rows = [
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            loa: SUB,
            allowed: true,
            reason: "allowed: assignment tildeling-1 gives role sygeplejerske-ord",
            path: &["sygeplejerske-ord"],
            assignment: Some("tildeling-1"),
            ..Row::default()
        },
        Row {
            user: "riget",
            right: "patientjournal",
            org: Some("rigshospitalet"),
            loa: SUB,
            allowed: true,
            reason: "within organisation rigshospitalet",
            path: &["sygeplejerske-ord"],
            ..Row::default()
        },
        Row {
            user: "knoglen201",
            right: "patientjournal",
            org: Some("knoglen"),
            loa: SUB,
            allowed: true,
            reason: "allowed",
            path: &["sygeplejerske"],
            assignment: Some("tildeling-2"),
            ..Row::default()
        },
        // The Knoglen user has no prescription right anywhere, not even at Knoglen.
        Row {
            user: "knoglen201",
            right: "ordinationsret",
            org: Some("knoglen"),
            loa: SUB,
            reason: "no assignment of user knoglen201 grants right ordinationsret",
            ..Row::default()
        },
        Row {
            user: "knoglen201",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            loa: SUB,
            reason: "no assignment of user knoglen201 grants right ordinationsret",
            ..Row::default()
        },
        // Each user's roles apply only at its own employer.
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("knoglen"),
            loa: SUB,
            reason:
                "only within organisation rigshospitalet; the check's scope is organisation knoglen",
            ..Row::default()
        },
        Row {
            user: "knoglen201",
            right: "patientjournal",
            org: Some("rigshospitalet"),
            loa: SUB,
            reason: "only within organisation knoglen",
            ..Row::default()
        },
        // A restricted assignment allows nothing for a check without a scope.
        Row {
            user: "riget",
            right: "ordinationsret",
            loa: SUB,
            reason: "the check names no scope",
            ..Row::default()
        },
        // Sundhedsplatformen requires Substantial.
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            loa: Some(Loa::Low),
            reason: "requires a login at assurance level Substantial or higher; this login is Low",
            ..Row::default()
        },
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            reason: "the check gives no level",
            ..Row::default()
        },
        // Before the employment.
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            loa: SUB,
            at: "2023-12-31T12:00:00Z",
            reason: "assignment tildeling-1 is not valid at 2023-12-31T12:00:00Z",
            ..Row::default()
        },
        Row {
            user: "nobody",
            right: "ordinationsret",
            reason: "user \"nobody\" is unknown",
            ..Row::default()
        },
        Row {
            user: "riget",
            right: "flyve",
            reason: "right \"flyve\" is unknown",
            ..Row::default()
        },
        Row {
            user: "riget",
            right: "ordinationsret",
            org: Some("rigshospitalet"),
            loa: SUB,
            it_system: Some("cpr"),
            reason: "belongs to IT system sundhedsplatformen, not to cpr",
            ..Row::default()
        },
    ];
    check(&m, &rows);

    // Two users, one person.
    let d = m.to_document();
    let persons: Vec<_> = d
        .users
        .iter()
        .filter(|u| u.person.as_deref() == Some("jette-jensen"))
        .map(|u| u.id.as_str())
        .collect();
    assert_eq!(persons, ["riget", "knoglen201"]);

    // Effective rights, with their restrictions.
    let eff = m.effective_rights("riget", utc("2025-03-01")).unwrap();
    let names: Vec<_> = eff.iter().map(|e| e.right.as_str()).collect();
    assert_eq!(names, ["ordinationsret", "patientjournal"]);
    assert_eq!(eff[0].grants[0].restrictions[0].id, "rigshospitalet");
    assert_eq!(eff[0].required_loa, Some(Loa::Substantial));
    let eff = m.effective_rights("knoglen201", utc("2025-03-01")).unwrap();
    assert_eq!(
        eff.iter().map(|e| e.right.as_str()).collect::<Vec<_>>(),
        ["patientjournal"]
    );
    assert!(m
        .effective_rights("riget", utc("2023-06-01"))
        .unwrap()
        .is_empty());
    assert!(m.effective_rights("nobody", utc("2023-06-01")).is_err());
}

#[test]
fn auditor_restricted_to_two_institutions() {
    let m = example("auditor-two-institutions.json");
    let mut rows = Vec::new();
    for right in ["bogfoering", "budgettering"] {
        for (org, allowed, reason) in [
            ("sneglen", true, "within organisation sneglen"),
            ("solsikken", true, "within organisation solsikken"),
            ("maelkebotten", false, "only within organisation sneglen, organisation solsikken; the check's scope is organisation maelkebotten"),
            ("esbjerg", false, "the check's scope is organisation esbjerg"),
            ("revision-as", false, "the check's scope is organisation revision-as"),
            ("ukendt", false, "(unknown to the model)"),
        ] {
            rows.push(Row { user: "revison2345", right, org: Some(org), loa: SUB, allowed, reason, path: if allowed { &["revision"] } else { &[] }, ..Row::default() });
        }
    }
    rows.push(Row {
        user: "revison2345",
        right: "bogfoering",
        loa: SUB,
        reason: "the check names no scope",
        ..Row::default()
    });
    rows.push(Row {
        user: "revison2345",
        right: "bogfoering",
        scope: Some((ScopeKind::Person, "jens-jensen")),
        loa: SUB,
        reason: "the check's scope is person jens-jensen",
        ..Row::default()
    });
    check(&m, &rows);

    // The economy system requires a power of attorney; without the attestation it refuses.
    let mut d = m.to_document();
    d.assignments[0].attestation = None;
    let m2 = tillit_access::Model::load(&d).unwrap();
    check(&m2, &[Row { user: "revison2345", right: "bogfoering", org: Some("sneglen"), loa: SUB, reason: "IT system oekonomisystem requires assignments attested by at least power_of_attorney; assignment tildeling-1: the assignment has no attestation", ..Row::default() }]);
    // A weaker kind (a self-declaration) does not do either; a stronger one (digitally signed) does.
    for (kind, allowed) in [
        (tillit_access::AttestationKind::SelfDeclaration, false),
        (tillit_access::AttestationKind::Consent, false),
        (tillit_access::AttestationKind::DigitalSignature, true),
    ] {
        let mut d = m.to_document();
        d.attestations[0].kind = kind;
        let m3 = tillit_access::Model::load(&d).unwrap();
        check(
            &m3,
            &[Row {
                user: "revison2345",
                right: "bogfoering",
                org: Some("sneglen"),
                loa: SUB,
                allowed,
                reason: if allowed {
                    "allowed"
                } else {
                    "its attestation is of a weaker kind"
                },
                ..Row::default()
            }],
        );
    }
}

fn proposal(id: &str, user: &str, role: &str, org: &str, by: &str) -> UserRoleAssignment {
    UserRoleAssignment {
        id: id.into(),
        user: user.into(),
        roles: vec![role.into()],
        restrictions: vec![UserRoleRestriction {
            kind: ScopeKind::Organisation,
            id: org.into(),
            include_children: false,
            valid_from: None,
            valid_to: None,
        }],
        assigned_by: Some(by.into()),
        attestation: None,
        valid_from: None,
        valid_to: None,
    }
}

#[test]
fn payroll_role_shared_from_one_classification_into_another() {
    let mut m = example("payroll-role-shared.yaml");
    check(
        &m,
        &[
            Row {
                user: "lone-rh",
                right: "loenindberetning",
                org: Some("rigshospitalet"),
                at: "2025-03-03T09:00:00Z",
                allowed: true,
                reason: "role loenindberetter",
                path: &["loenindberetter"],
                ..Row::default()
            },
            Row {
                user: "lone-rh",
                right: "loenindberetning",
                org: Some("oes-org"),
                at: "2025-03-03T09:00:00Z",
                reason: "only within organisation rigshospitalet",
                ..Row::default()
            },
            Row {
                user: "lone-rh",
                right: "loenindberetning",
                org: Some("rigshospitalet"),
                at: "2025-01-15T09:00:00Z",
                reason: "assignment lone-loen is not valid",
                ..Row::default()
            },
        ],
    );
    // Sundhed's administrator may assign the shared role within the region, once it is shared…
    let cases = [
        ("2025-03-01", "loenindberetter", "rigshospitalet", true, "may assign role loenindberetter by assign right sundhed-admin-roles"),
        ("2025-03-01", "loenindberetter", "region-h", true, "sundhed-admin-roles"),
        // …not before the sharing agreement starts,
        ("2024-06-01", "loenindberetter", "rigshospitalet", false, "user sundhed-admin holds no right to assign role loenindberetter"),
        // not Økonomistyrelsen's own role,
        ("2025-03-01", "oes-xxx", "rigshospitalet", false, "user sundhed-admin holds no right to assign role oes-xxx"),
        // Sundhed's own role, yes,
        ("2025-03-01", "sundhed-xxx", "rigshospitalet", true, "sundhed-admin-roles"),
        // and only within the region.
        ("2025-03-01", "loenindberetter", "oes-org", false, "may assign role loenindberetter only within organisation region-h and its sub-organisations; the assignment asks for organisation oes-org"),
    ];
    for (at, role, org, allowed, reason) in cases {
        let c = m.check_assignment(
            &proposal("ny", "lone-rh", role, org, "sundhed-admin"),
            utc(at),
        );
        assert_eq!(c.allowed, allowed, "{at} {role} {org}: {:?}", c.reasons);
        assert!(
            c.reasons.join(" | ").contains(reason),
            "{at} {role} {org}: {:?}",
            c.reasons
        );
    }
    // Lone may not pass the role on: she holds no assign right.
    let c = m.check_assignment(
        &proposal(
            "ny",
            "sundhed-admin",
            "loenindberetter",
            "rigshospitalet",
            "lone-rh",
        ),
        utc("2025-03-01"),
    );
    assert!(
        !c.allowed
            && c.reasons[0].contains("user lone-rh holds no right to assign role loenindberetter"),
        "{:?}",
        c.reasons
    );

    // Making the assignment, then deciding through it.
    m.assign(
        &proposal(
            "sara-ny",
            "lone-rh",
            "sundhed-xxx",
            "region-h",
            "sundhed-admin",
        ),
        utc("2025-03-01"),
    )
    .unwrap();
    check(
        &m,
        &[Row {
            user: "lone-rh",
            right: "sundhed-indsigt",
            org: Some("region-h"),
            allowed: true,
            reason: "sara-ny",
            ..Row::default()
        }],
    );
    let again = m.assign(
        &proposal(
            "sara-ny",
            "lone-rh",
            "sundhed-xxx",
            "region-h",
            "sundhed-admin",
        ),
        utc("2025-03-01"),
    );
    assert!(
        matches!(again, Err(tillit_access::AccessError::AssignmentRefused { reasons }) if reasons[0].contains("already exists"))
    );
}

#[test]
fn hospital_role_inheritance() {
    let m = example("hospital-role-inheritance.yaml");
    let org = Some("hospital-org");
    let rows = [
        Row {
            user: "dr-hansen",
            right: "operationsplan",
            org,
            allowed: true,
            reason: "through hospitalslaege",
            path: &["hospitalslaege"],
            ..Row::default()
        },
        Row {
            user: "dr-hansen",
            right: "ordination",
            org,
            allowed: true,
            reason: "through hospitalslaege → laege",
            path: &["hospitalslaege", "laege"],
            ..Row::default()
        },
        Row {
            user: "dr-hansen",
            right: "journal-skriv",
            org,
            allowed: true,
            reason: "allowed",
            path: &["hospitalslaege", "laege"],
            ..Row::default()
        },
        Row {
            user: "dr-hansen",
            right: "intranet",
            org,
            allowed: true,
            reason: "hospitalslaege → laege → ansat",
            path: &["hospitalslaege", "laege", "ansat"],
            ..Row::default()
        },
        Row {
            user: "dr-hansen",
            right: "tidsregistrering",
            org,
            allowed: true,
            reason: "allowed",
            path: &["hospitalslaege", "laege", "ansat"],
            ..Row::default()
        },
        Row {
            user: "dr-hansen",
            right: "booking",
            org,
            reason: "no assignment of user dr-hansen grants right booking",
            ..Row::default()
        },
        Row {
            user: "sekretaer-sofie",
            right: "booking",
            org,
            allowed: true,
            reason: "allowed",
            path: &["sekretaer"],
            ..Row::default()
        },
        Row {
            user: "sekretaer-sofie",
            right: "intranet",
            org,
            allowed: true,
            reason: "allowed",
            path: &["sekretaer", "ansat"],
            ..Row::default()
        },
        Row {
            user: "sekretaer-sofie",
            right: "ordination",
            org,
            reason: "no assignment",
            ..Row::default()
        },
        Row {
            user: "sekretaer-sofie",
            right: "journal-laes",
            org,
            reason: "no assignment",
            ..Row::default()
        },
    ];
    check(&m, &rows);
    let eff = m.effective_rights("dr-hansen", utc("2025-06-01")).unwrap();
    let names: Vec<_> = eff.iter().map(|e| e.right.as_str()).collect();
    assert_eq!(
        names,
        [
            "intranet",
            "journal-laes",
            "journal-skriv",
            "operationsplan",
            "ordination",
            "tidsregistrering"
        ]
    );
}
