use chrono::{DateTime, Utc};
use tillit_access::{Amount, CheckRequest, Decision, Exercise, Loa, Model, ScopeKind, Timestamp};

pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse::<Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .0
}

pub fn example_text(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn example(name: &str) -> Model {
    Model::from_text(&example_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn model(yaml: &str) -> Model {
    Model::from_text(yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// One row of a decision table. `reason` must occur in the joined reasons.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub user: &'static str,
    pub right: &'static str,
    /// Shorthand for an organisation scope.
    pub org: Option<&'static str>,
    pub scope: Option<(ScopeKind, &'static str)>,
    pub it_system: Option<&'static str>,
    pub at: &'static str,
    pub loa: Option<Loa>,
    pub amount: Option<f64>,
    pub object: Option<&'static str>,
    pub allowed: bool,
    pub reason: &'static str,
    pub path: &'static [&'static str],
    pub assignment: Option<&'static str>,
}

impl Row {
    pub fn request(&self) -> CheckRequest {
        let mut r = CheckRequest::new(self.user, self.right).at(utc(if self.at.is_empty() {
            "2025-06-02T10:00:00Z"
        } else {
            self.at
        }));
        if let Some(o) = self.org {
            r = r.scope(ScopeKind::Organisation, o);
        }
        if let Some((k, id)) = self.scope {
            r = r.scope(k, id);
        }
        if let Some(s) = self.it_system {
            r = r.it_system(s);
        }
        if let Some(l) = self.loa {
            r = r.loa(l);
        }
        if let Some(a) = self.amount {
            r = r.amount(Amount::new(a).unwrap());
        }
        if let Some(o) = self.object {
            r = r.object(o, true);
        }
        r
    }
}

pub fn decide(m: &Model, row: &Row, exercises: &[Exercise]) -> Decision {
    m.decide(&row.request(), utc("2000-01-01"), exercises)
}

/// Runs every row and asserts allowed, a reason fragment, and the path and assignment when given.
pub fn check(m: &Model, rows: &[Row]) {
    for (i, row) in rows.iter().enumerate() {
        let d = decide(m, row, &[]);
        let reasons = d.reasons.join(" | ");
        assert_eq!(d.allowed, row.allowed, "row {i} {row:?}: {reasons}");
        assert!(
            !d.reasons.is_empty(),
            "row {i}: a decision without a reason"
        );
        assert!(
            reasons.contains(row.reason),
            "row {i} {row:?}: reasons {reasons:?} lack {:?}",
            row.reason
        );
        if !row.path.is_empty() {
            let via = d.via.as_ref().unwrap_or_else(|| panic!("row {i}: no via"));
            assert_eq!(via.path, row.path, "row {i}");
            assert_eq!(via.role, row.path[0], "row {i}");
        }
        if let Some(a) = row.assignment {
            assert_eq!(
                d.via.as_ref().map(|v| v.assignment.as_str()),
                Some(a),
                "row {i}"
            );
        }
        if !d.allowed {
            assert!(d.via.is_none(), "row {i}: a refusal with via");
        }
    }
}
