//! The declarative document: all-or-nothing import naming every offending entry, unknown
//! fields refused, JSON and YAML, export → import round trips, and the JSON Schema.
use tillit_access::{AccessError, Document, Model, ProblemKind, Section};

use crate::support::example_text;

const EXAMPLES: [&str; 4] = [
    "nurse-two-employments.yaml",
    "auditor-two-institutions.json",
    "payroll-role-shared.yaml",
    "hospital-role-inheritance.yaml",
];

fn problems(text: &str) -> Vec<(Section, String, ProblemKind, String)> {
    match Model::from_text(text) {
        Err(AccessError::Invalid(p)) => p
            .into_iter()
            .map(|p| (p.section, p.id, p.kind, p.message))
            .collect(),
        Err(e) => panic!("not refused as invalid: {e}"),
        Ok(_) => panic!("loaded"),
    }
}

#[test]
fn a_bad_document_is_refused_whole_with_every_problem_named() {
    let text = r#"
classifications: [{ id: k }, { id: k }]
it_systems: [{ id: s, classification: k }]
rights:
  - { id: r1, it_system: s, classification: k }
  - { id: r2, it_system: nowhere, classification: k }
  - { id: r3, it_system: s, classification: k, valid_from: "2025-02-01", valid_to: "2025-01-01" }
rules:
  - { id: rule-a, kind: amount_limit, rights: [r1] }
  - { id: rule-b, kind: time_window, first_working_days: 5, rights: [r1] }
  - { id: rule-c, kind: separation_of_duties, mode: static, rights: [r1, r1] }
  - { id: rule-d, kind: amount_limit, max_amount: 5, mode: static, rights: [r9] }
roles:
  - { id: a, classifications: [k], inherits: [b] }
  - { id: b, classifications: [k], inherits: [c] }
  - { id: c, classifications: [k], inherits: [a], rights: [r1] }
  - { id: d, classifications: [k], inherits: [d] }
  - { id: e, classifications: [], rights: [ghost] }
  - { id: f, classifications: [k], inherits: [a] }
organisations:
  - { id: o1, parent: o2 }
  - { id: o2, parent: o1 }
  - { id: o3, parent: o9 }
persons: [{ id: p }]
users:
  - { id: u, person: p }
  - { id: v, person: p, it_system: s }
  - { id: w }
assignments:
  - { id: x, user: u, roles: [a], assigned_by: u }
  - { id: y, user: nobody, roles: [zz], restrictions: [{ kind: person, id: o1, include_children: true }] }
attestations:
  - { id: t, issuer: { kind: organisation, id: nowhere }, kind: consent }
assign_rights:
  - { id: ar, user: u }
"#;
    let got = problems(text);
    let expect: &[(Section, &str, ProblemKind, &str)] = &[
        (
            Section::Classifications,
            "k",
            ProblemKind::DuplicateId,
            "used by more than one classification",
        ),
        (
            Section::Rights,
            "r2",
            ProblemKind::DanglingReference,
            "it_system names IT system \"nowhere\"",
        ),
        (
            Section::Rights,
            "r3",
            ProblemKind::InvalidField,
            "ends (2025-01-01T00:00:00Z) before it starts",
        ),
        (
            Section::Rules,
            "rule-a",
            ProblemKind::InvalidField,
            "needs max_amount",
        ),
        (
            Section::Rules,
            "rule-b",
            ProblemKind::InvalidField,
            "needs a calendar",
        ),
        (
            Section::Rules,
            "rule-c",
            ProblemKind::InvalidField,
            "names \"r1\" twice",
        ),
        (
            Section::Rules,
            "rule-d",
            ProblemKind::InvalidField,
            "mode does not belong to a rule of kind amount_limit",
        ),
        (
            Section::Rules,
            "rule-d",
            ProblemKind::DanglingReference,
            "right \"r9\"",
        ),
        (
            Section::Roles,
            "a",
            ProblemKind::Cycle,
            "role inheritance is circular",
        ),
        (Section::Roles, "b", ProblemKind::Cycle, "circular"),
        (Section::Roles, "c", ProblemKind::Cycle, "circular"),
        (Section::Roles, "d", ProblemKind::Cycle, "circular: d"),
        (
            Section::Roles,
            "e",
            ProblemKind::InvalidField,
            "owner classification",
        ),
        (
            Section::Roles,
            "e",
            ProblemKind::DanglingReference,
            "right \"ghost\"",
        ),
        (
            Section::Organisations,
            "o1",
            ProblemKind::Cycle,
            "organisation parents are circular",
        ),
        (Section::Organisations, "o2", ProblemKind::Cycle, "circular"),
        (
            Section::Organisations,
            "o3",
            ProblemKind::DanglingReference,
            "organisation \"o9\"",
        ),
        (
            Section::Users,
            "v",
            ProblemKind::InvalidField,
            "exactly one of person and it_system",
        ),
        (
            Section::Users,
            "w",
            ProblemKind::InvalidField,
            "exactly one of person and it_system",
        ),
        (
            Section::Assignments,
            "x",
            ProblemKind::InvalidField,
            "cannot assign roles to itself",
        ),
        (
            Section::Assignments,
            "y",
            ProblemKind::DanglingReference,
            "user names user \"nobody\"",
        ),
        (
            Section::Assignments,
            "y",
            ProblemKind::DanglingReference,
            "role \"zz\"",
        ),
        (
            Section::Assignments,
            "y",
            ProblemKind::DanglingReference,
            "restrictions names person \"o1\"",
        ),
        (
            Section::Assignments,
            "y",
            ProblemKind::InvalidField,
            "include_children",
        ),
        (
            Section::Attestations,
            "t",
            ProblemKind::DanglingReference,
            "issuer names organisation \"nowhere\"",
        ),
        (
            Section::AssignRights,
            "ar",
            ProblemKind::InvalidField,
            "exactly one of role and classification",
        ),
    ];
    for (section, id, kind, fragment) in expect {
        assert!(
            got.iter()
                .any(|(s, i, k, m)| s == section && i == id && k == kind && m.contains(fragment)),
            "missing {section:?}[{id}] {kind:?} {fragment:?} in\n{got:#?}"
        );
    }
    // f inherits from the cycle but is not on it.
    assert!(
        !got.iter()
            .any(|(s, i, _, _)| *s == Section::Roles && i == "f"),
        "{got:#?}"
    );
    // The error's text names the entries too.
    let e = Model::from_text(text).unwrap_err().to_string();
    assert!(
        e.contains("roles[a]: role inheritance is circular") && e.contains("problems"),
        "{e}"
    );
}

#[test]
fn unknown_fields_and_malformed_input_are_refused() {
    let cases = [
        "{\"roles\": [], \"groups\": []}",
        "{\"roles\": [{\"id\": \"a\", \"classifications\": [\"k\"], \"permissions\": []}]}",
        "roles:\n  - { id: a, classifications: [k], colour: red }\n",
        "assignments:\n  - { id: a, user: u, roles: [{ id: r, valid_until: \"2025-01-01\" }] }\n",
        "rules:\n  - { id: r, kind: ceiling, rights: [x] }\n",
        "rules:\n  - { id: r, kind: amount_limit, max_amount: -5, rights: [x] }\n",
        "rules:\n  - { id: r, kind: time_window, from_time: \"25:00\", rights: [x] }\n",
        "users:\n  - { id: u, person: p, valid_from: tomorrow }\n",
        "it_systems:\n  - { id: s, required_loa: medium }\n",
        "{ not json",
        "- a list\n- not a document\n",
        "organisations:\n  - { name: no id }\n",
    ];
    for text in cases {
        assert!(
            matches!(Model::from_text(text), Err(AccessError::Parse(_))),
            "{text}"
        );
    }
    // An empty document is a valid, empty model.
    assert!(Model::from_text("{}").is_ok());
    assert!(Model::from_text("").is_err() || Model::from_text("").is_ok());
}

#[test]
fn export_then_import_round_trips() {
    let mut texts: Vec<(String, String)> = EXAMPLES
        .iter()
        .map(|n| ((*n).to_owned(), example_text(n)))
        .collect();
    let generated = tillit_access::generate::generate(&tillit_access::generate::Params::SMALL);
    texts.push(("generated".into(), generated.to_json().unwrap()));
    for (name, text) in texts {
        let m = Model::from_text(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let exported = m.to_document();
        let json = exported.to_json().unwrap();
        let again = Model::from_text(&json).unwrap_or_else(|e| panic!("{name} re-import: {e}"));
        assert_eq!(again.to_document(), exported, "{name}");
        // The export is the document as written, up to normalisation (dates as timestamps,
        // plain references for edges without a period of their own).
        let original = Document::parse(&text).unwrap();
        assert_eq!(
            Model::load(&original).unwrap().to_document(),
            exported,
            "{name}"
        );
        assert_eq!(exported.roles.len(), original.roles.len(), "{name}");
        assert_eq!(
            exported.assignments.len(),
            original.assignments.len(),
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(&exported.assignments).unwrap(),
            serde_json::to_value(&normalise(&original).assignments).unwrap(),
            "{name}"
        );
    }
}

/// The original document through a JSON round trip of its own types (dates become timestamps).
fn normalise(d: &Document) -> Document {
    serde_json::from_str(&serde_json::to_string(d).unwrap()).unwrap()
}

#[test]
fn the_examples_and_an_export_validate_against_the_json_schema() {
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/access-document.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let mut docs: Vec<(String, serde_json::Value)> = Vec::new();
    for name in EXAMPLES {
        let text = example_text(name);
        let value: serde_json::Value = if name.ends_with(".json") {
            serde_json::from_str(&text).unwrap()
        } else {
            serde_norway::from_str(&text).unwrap()
        };
        docs.push((name.to_owned(), value));
        let exported = Model::from_text(&text).unwrap().to_document();
        docs.push((
            format!("{name} exported"),
            serde_json::to_value(&exported).unwrap(),
        ));
    }
    let generated = tillit_access::generate::generate(&tillit_access::generate::Params::SMALL);
    docs.push((
        "generated".into(),
        serde_json::to_value(&generated).unwrap(),
    ));
    for (name, value) in &docs {
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    // And the schema refuses what the loader refuses for its shape.
    let bad = [
        serde_json::json!({ "roles": [{ "id": "a", "classifications": ["k"], "colour": "red" }] }),
        serde_json::json!({ "groups": [] }),
        serde_json::json!({ "users": [{ "id": "u", "person": "p", "it_system": "s" }] }),
        serde_json::json!({ "rules": [{ "id": "r", "kind": "amount_limit", "rights": ["x"] }] }),
        serde_json::json!({ "rules": [{ "id": "r", "kind": "time_window", "first_working_days": 5, "rights": ["x"] }] }),
        serde_json::json!({ "rules": [{ "id": "r", "kind": "separation_of_duties", "mode": "static", "rights": ["x"] }] }),
        serde_json::json!({ "assignments": [{ "id": "a", "user": "u", "roles": [] }] }),
        serde_json::json!({ "assign_rights": [{ "id": "a", "user": "u", "role": "r", "classification": "k" }] }),
        serde_json::json!({ "it_systems": [{ "id": "s", "required_loa": "medium" }] }),
        serde_json::json!({ "persons": [{ "id": "p", "valid_from": "tomorrow" }] }),
    ];
    for value in bad {
        assert!(!validator.is_valid(&value), "{value}");
    }
}
