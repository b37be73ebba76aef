//! Decisions: may user U exercise right R (in IT system S) on scope X, for amount A, at time
//! T, with login level L, on object O? And: which rights does a user have at T?
//!
//! The semantics (issue 9):
//! - Only `user` and `right` are required.
//! - An assignment without restrictions applies everywhere; a restricted one only within its
//!   restrictions, so a check without a scope is not allowed by it.
//! - A missing `loa` satisfies no LoA requirement; a missing `amount` no amount rule; a
//!   missing `object` no per-object separation-of-duties rule.
//! - Every entity and edge on the way (user, its person or IT system, right, IT system,
//!   assignment, the assignment's role edge, every role and inheritance edge on the path, the
//!   role → right edge, restriction, rule, rule → right edge, organisation parent edges, the
//!   attestation) must be valid at T.
//! - Every refusal carries at least one reason in plain English.

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use tillit_core::Loa;

use crate::document::{Amount, AttestationKind, ScopeKind, SodMode, UserRoleRestriction};
use crate::model::{from_of, to_of, AssignmentRow, Edge, Grant, Model, Restr, RuleSpec, Subject};
use crate::time::{micros, nordic_local_time, rfc3339, Span, Timestamp};
use crate::AccessError;

/// What a check is about: an organisation, a person or an IT system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// What the id names.
    pub kind: ScopeKind,
    /// Its id.
    pub id: String,
}

/// One access check (the body of `POST /v1/access/check`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The user acting.
    pub user: String,
    /// The right to exercise.
    pub right: String,
    /// The IT system the right is exercised in; when given it must be the right's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub it_system: Option<String>,
    /// What the action is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The amount, for amount ceilings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// When; the caller's `now` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// The login's level of assurance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loa: Option<Loa>,
    /// The object acted on (a case, an invoice), for per-object separation of duties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Whether an allowed decision should be returned as an [`Exercise`] to record.
    #[serde(default)]
    pub record: bool,
}

impl CheckRequest {
    /// A check of `right` for `user`, nothing else given.
    pub fn new(user: impl Into<String>, right: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            right: right.into(),
            it_system: None,
            scope: None,
            amount: None,
            at: None,
            loa: None,
            object: None,
            record: false,
        }
    }

    /// With a scope.
    pub fn scope(mut self, kind: ScopeKind, id: impl Into<String>) -> Self {
        self.scope = Some(Scope {
            kind,
            id: id.into(),
        });
        self
    }

    /// With a time.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(Timestamp(at));
        self
    }

    /// With a login level.
    pub fn loa(mut self, loa: Loa) -> Self {
        self.loa = Some(loa);
        self
    }

    /// With an amount.
    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Some(amount);
        self
    }

    /// With an object, recording the exercise when `record`.
    pub fn object(mut self, object: impl Into<String>, record: bool) -> Self {
        self.object = Some(object.into());
        self.record = record;
        self
    }

    /// In an IT system.
    pub fn it_system(mut self, system: impl Into<String>) -> Self {
        self.it_system = Some(system.into());
        self
    }
}

/// Which assignment, role and inheritance path allowed a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Via {
    /// The assignment.
    pub assignment: String,
    /// The role it assigns.
    pub role: String,
    /// Role ids from the assigned role down to the role that holds the right directly.
    pub path: Vec<String>,
    /// The restriction the check's scope matched; `None` for an unrestricted assignment.
    pub restriction: Option<UserRoleRestriction>,
}

/// A recorded exercise of a right on an object: the data per-object separation of duties is
/// checked against. The crate keeps no state: the caller stores what [`Decision::exercise`]
/// returns and passes the object's exercises to later decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// The user who exercised the right.
    pub user: String,
    /// That user's person, if a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The right.
    pub right: String,
    /// The object.
    pub object: String,
    /// When.
    pub at: Timestamp,
}

/// The answer to a [`CheckRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the user may.
    pub allowed: bool,
    /// Why, in plain English; at least one for every refusal.
    pub reasons: Vec<String>,
    /// What allowed it.
    pub via: Option<Via>,
    /// The exercise to record, when allowed and asked to record with an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<Exercise>,
}

impl Decision {
    fn deny(reason: String) -> Self {
        Self {
            allowed: false,
            reasons: vec![reason],
            via: None,
            exercise: None,
        }
    }
}

/// One right a user has at a time, with every grant of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveRight {
    /// The right.
    pub right: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its IT system.
    pub it_system: String,
    /// The login level it needs (the higher of the right's and the IT system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_loa: Option<Loa>,
    /// The rules valid for it at the time (a decision may still refuse by them).
    pub rules: Vec<String>,
    /// How the user has it.
    pub grants: Vec<EffectiveGrant>,
}

/// One way a user has a right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveGrant {
    /// The assignment.
    pub assignment: String,
    /// The assigned role.
    pub role: String,
    /// From the assigned role to the role holding the right.
    pub path: Vec<String>,
    /// Where it applies; empty: everywhere.
    pub restrictions: Vec<UserRoleRestriction>,
}

/// Why one candidate grant did not allow.
enum Miss {
    AssignmentPeriod(u32),
    RoleEdge(u32, Edge),
    Path(u32, u32, Grant),
    NoScope(u32, u32),
    OutOfScope(u32, u32),
    NoValidRestriction(u32),
    Attestation(u32, AttestationKind, &'static str),
}

pub(crate) fn describe_span(s: Span) -> String {
    match (from_of(s), to_of(s)) {
        (None, None) => "always".into(),
        (Some(f), None) => format!("from {}", rfc3339(f.0)),
        (None, Some(t)) => format!("until {}", rfc3339(t.0)),
        (Some(f), Some(t)) => format!("from {} until {}", rfc3339(f.0), rfc3339(t.0)),
    }
}

impl Model {
    /// Decides a check. `now` is used when the check has no `at`; `exercises` are the recorded
    /// exercises on the check's object (others are ignored).
    pub fn decide(
        &self,
        req: &CheckRequest,
        now: DateTime<Utc>,
        exercises: &[Exercise],
    ) -> Decision {
        let at = req.at.map_or(now, |t| t.0);
        let t = micros(at);
        let when = When(at);
        let Some(u) = self.users.get(&req.user) else {
            return Decision::deny(format!("user {:?} is unknown", req.user));
        };
        let Some(r) = self.rights.get(&req.right) else {
            return Decision::deny(format!("right {:?} is unknown", req.right));
        };
        let (Some(user), Some(right)) = (self.users.row(u), self.rights.row(r)) else {
            return Decision::deny("the model is inconsistent".into());
        };
        let mut reasons = Vec::new();
        if !user.span.contains(t) {
            reasons.push(format!(
                "user {} is not valid at {when} (valid {})",
                req.user,
                describe_span(user.span)
            ));
        }
        match user.subject {
            Subject::Person(p) => {
                if let Some(pr) = self.persons.row(p) {
                    if !pr.span.contains(t) {
                        reasons.push(format!(
                            "person {} of user {} is not valid at {when}",
                            self.persons.id(p),
                            req.user
                        ));
                    }
                }
            }
            Subject::System(s) => {
                if let Some(sr) = self.systems.row(s) {
                    if !sr.span.contains(t) {
                        reasons.push(format!(
                            "IT system {} acting as user {} is not valid at {when}",
                            self.systems.id(s),
                            req.user
                        ));
                    }
                }
            }
        }
        if !right.span.contains(t) {
            reasons.push(format!(
                "right {} is not valid at {when} (valid {})",
                req.right,
                describe_span(right.span)
            ));
        }
        let system = self.systems.row(right.system);
        let system_id = self.systems.id(right.system);
        if let Some(sys) = system {
            if !sys.span.contains(t) {
                reasons.push(format!(
                    "IT system {system_id} of right {} is not valid at {when}",
                    req.right
                ));
            }
        }
        if let Some(s) = &req.it_system {
            if s != system_id {
                reasons.push(format!(
                    "right {} belongs to IT system {system_id}, not to {s}",
                    req.right
                ));
            }
        }
        let required = right.required_loa.max(system.and_then(|s| s.required_loa));
        if let Some(need) = required {
            match req.loa {
                None => reasons.push(format!(
                    "right {} requires a login at assurance level {need} or higher; the check gives no level",
                    req.right
                )),
                Some(have) if have < need => reasons.push(format!(
                    "right {} requires a login at assurance level {need} or higher; this login is {have}",
                    req.right
                )),
                Some(_) => {}
            }
        }

        // The grant.
        let scope = req
            .scope
            .as_ref()
            .map(|s| (s.kind, self.scope_index(s.kind, &s.id), s.id.as_str()));
        let required_attestation = system.and_then(|s| s.required_attestation);
        let mut misses = Vec::new();
        let found = self.find_grant(u, r, t, scope, required_attestation, &mut misses);
        if found.is_none() {
            if misses.is_empty() {
                reasons.push(format!(
                    "no assignment of user {} grants right {}",
                    req.user, req.right
                ));
            }
            for m in &misses {
                reasons.push(self.explain(m, req, &when, scope));
            }
        }

        // The rules.
        self.check_rules(u, r, t, at, req, exercises, &mut reasons);

        let allowed = reasons.is_empty() && found.is_some();
        let via = found
            .filter(|_| allowed)
            .map(|(a, role, grant, restr)| Via {
                assignment: self.assignments.id(a).to_owned(),
                role: self.roles.id(role).to_owned(),
                path: self.path_ids(grant.path),
                restriction: restr.map(|x| self.restriction_doc(&x)),
            });
        let mut exercise = None;
        if let Some(v) = &via {
            let path = v.path.join(" → ");
            let place = match &v.restriction {
                None => "everywhere (the assignment has no restrictions)".to_owned(),
                Some(x) => format!(
                    "within {} {}{}",
                    x.kind.as_str().replace('_', " "),
                    x.id,
                    if x.include_children {
                        " and its sub-organisations"
                    } else {
                        ""
                    }
                ),
            };
            reasons.push(format!(
                "allowed: assignment {} gives role {}, which grants right {} (through {path}), {place}",
                v.assignment, v.role, req.right
            ));
            if req.record {
                match &req.object {
                    Some(o) => {
                        exercise = Some(Exercise {
                            user: req.user.clone(),
                            person: self.person_of(u).map(str::to_owned),
                            right: req.right.clone(),
                            object: o.clone(),
                            at: Timestamp(at),
                        })
                    }
                    None => reasons.push("nothing was recorded: the check names no object".into()),
                }
            }
        }
        Decision {
            allowed,
            reasons,
            via,
            exercise,
        }
    }

    pub(crate) fn person_of(&self, u: u32) -> Option<&str> {
        match self.users.row(u)?.subject {
            Subject::Person(p) => Some(self.persons.id(p)),
            Subject::System(_) => None,
        }
    }

    pub(crate) fn scope_index(&self, kind: ScopeKind, id: &str) -> Option<u32> {
        match kind {
            ScopeKind::Organisation => self.orgs.get(id),
            ScopeKind::Person => self.persons.get(id),
            ScopeKind::ItSystem => self.systems.get(id),
        }
    }

    pub(crate) fn restriction_doc(&self, r: &Restr) -> UserRoleRestriction {
        UserRoleRestriction {
            kind: r.kind,
            id: self.scope_id(r.kind, r.id).to_owned(),
            include_children: r.include_children,
            valid_from: from_of(r.span),
            valid_to: to_of(r.span),
        }
    }

    /// The first grant of `r` to `u` valid at `t` whose restrictions admit the scope and whose
    /// attestation satisfies the IT system.
    #[allow(clippy::type_complexity)]
    fn find_grant(
        &self,
        u: u32,
        r: u32,
        t: i64,
        scope: Option<(ScopeKind, Option<u32>, &str)>,
        required_attestation: Option<AttestationKind>,
        misses: &mut Vec<Miss>,
    ) -> Option<(u32, u32, Grant, Option<Restr>)> {
        let hot = self.user_edges.get(u as usize)?;
        for h in hot {
            for (_, g) in self.granting(r, h.role) {
                let a = h.assignment;
                if !h.assignment_span.contains(t) {
                    misses.push(Miss::AssignmentPeriod(a));
                    continue;
                }
                if !h.edge_span.contains(t) {
                    misses.push(Miss::RoleEdge(
                        a,
                        Edge {
                            to: h.role,
                            span: h.edge_span,
                        },
                    ));
                    continue;
                }
                if !g.span.contains(t) {
                    misses.push(Miss::Path(a, h.role, *g));
                    continue;
                }
                let Some(ar) = self.assignments.row(a) else {
                    continue;
                };
                let restr = match self.admits(ar, t, scope) {
                    Admit::Everywhere => None,
                    Admit::Within(x) => Some(x),
                    Admit::NoScope => {
                        misses.push(Miss::NoScope(a, h.role));
                        continue;
                    }
                    Admit::Outside => {
                        misses.push(Miss::OutOfScope(a, h.role));
                        continue;
                    }
                    Admit::NoneValid => {
                        misses.push(Miss::NoValidRestriction(a));
                        continue;
                    }
                };
                if let Some(need) = required_attestation {
                    if let Some(why) = self.attestation_fails(ar, t, need) {
                        misses.push(Miss::Attestation(a, need, why));
                        continue;
                    }
                }
                return Some((a, h.role, *g, restr));
            }
        }
        None
    }

    fn attestation_fails(
        &self,
        ar: &AssignmentRow,
        t: i64,
        need: AttestationKind,
    ) -> Option<&'static str> {
        let Some(att) = ar.attestation.and_then(|x| self.attestations.row(x)) else {
            return Some("the assignment has no attestation");
        };
        if !att.span.contains(t) {
            return Some("its attestation is not valid at that time");
        }
        if att.kind < need {
            return Some("its attestation is of a weaker kind");
        }
        if att.user.is_some_and(|x| x != ar.user) {
            return Some("its attestation authenticates another user");
        }
        None
    }

    fn admits(
        &self,
        ar: &AssignmentRow,
        t: i64,
        scope: Option<(ScopeKind, Option<u32>, &str)>,
    ) -> Admit {
        let restrictions = ar.restrictions.of(&self.restrictions);
        if restrictions.is_empty() {
            return Admit::Everywhere;
        }
        let mut any_valid = false;
        for x in restrictions {
            if !x.span.contains(t) {
                continue;
            }
            any_valid = true;
            if let Some((kind, Some(id), _)) = scope {
                if self.restriction_matches(x, kind, id, t) {
                    return Admit::Within(*x);
                }
            }
        }
        match (any_valid, scope) {
            (false, _) => Admit::NoneValid,
            (true, None) => Admit::NoScope,
            (true, Some(_)) => Admit::Outside,
        }
    }

    /// Whether restriction `x` admits the scope `kind`/`id` at `t`.
    pub(crate) fn restriction_matches(&self, x: &Restr, kind: ScopeKind, id: u32, t: i64) -> bool {
        if x.kind != kind {
            return false;
        }
        if kind == ScopeKind::Organisation {
            let valid = |o: u32| self.orgs.row(o).is_some_and(|r| r.span.contains(t));
            if !valid(id) || !valid(x.id) {
                return false;
            }
            if x.id == id {
                return true;
            }
            return x.include_children && self.org_is_under(id, x.id, t);
        }
        x.id == id
    }

    /// Whether `org` is (transitively) a sub-organisation of `ancestor` at `t`, through parent
    /// edges and organisations all valid at `t`.
    pub(crate) fn org_is_under(&self, org: u32, ancestor: u32, t: i64) -> bool {
        let mut cur = org;
        for _ in 0..=self.orgs.len() {
            let Some(row) = self.orgs.row(cur) else {
                return false;
            };
            if !row.span.contains(t) {
                return false;
            }
            let Some(p) = row.parent else { return false };
            if !p.span.contains(t) {
                return false;
            }
            if p.to == ancestor {
                return true;
            }
            cur = p.to;
        }
        false
    }

    /// Whether `u` holds `r` at `t` by any valid assignment (any scope).
    pub(crate) fn holds(&self, u: u32, r: u32, t: i64) -> bool {
        let Some(hot) = self.user_edges.get(u as usize) else {
            return false;
        };
        hot.iter().any(|h| {
            h.assignment_span.contains(t)
                && h.edge_span.contains(t)
                && self
                    .granting(r, h.role)
                    .iter()
                    .any(|(_, g)| g.span.contains(t))
                && self.assignments.row(h.assignment).is_some_and(|ar| {
                    ar.restrictions.len == 0
                        || ar
                            .restrictions
                            .of(&self.restrictions)
                            .iter()
                            .any(|x| x.span.contains(t))
                })
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn check_rules(
        &self,
        u: u32,
        r: u32,
        t: i64,
        at: DateTime<Utc>,
        req: &CheckRequest,
        exercises: &[Exercise],
        reasons: &mut Vec<String>,
    ) {
        let Some(rules) = self.rules_by_right.get(r as usize) else {
            return;
        };
        for &(ri, espan) in rules {
            let Some(rule) = self.rules.row(ri) else {
                continue;
            };
            if !espan.contains(t) || !rule.span.contains(t) {
                continue;
            }
            let rid = self.rules.id(ri);
            match rule.spec {
                RuleSpec::Amount(max) => match req.amount {
                    None => reasons.push(format!(
                        "rule {rid} limits right {} to amounts up to {max}; the check gives no amount",
                        req.right
                    )),
                    Some(a) if a > max => reasons.push(format!(
                        "the amount {a} exceeds the ceiling {max} that rule {rid} sets for right {}",
                        req.right
                    )),
                    Some(_) => {}
                },
                RuleSpec::Window {
                    first_working_days,
                    calendar,
                    from,
                    to,
                } => {
                    let local = nordic_local_time(at);
                    let date = local.date();
                    if let Some(cal) = calendar {
                        let wd = cal.working_day_of_month(date);
                        match (first_working_days, wd) {
                            (_, None) => reasons.push(format!(
                                "rule {rid} allows right {} only on working days ({} calendar); {date} is not one",
                                req.right,
                                cal.code()
                            )),
                            (Some(nd), Some(k)) if k > nd => reasons.push(format!(
                                "rule {rid} allows right {} only on the first {nd} working days of the month ({} calendar); {date} is working day {k}",
                                req.right,
                                cal.code()
                            )),
                            _ => {}
                        }
                    }
                    let secs = local.time().num_seconds_from_midnight();
                    let inside = match (from, to) {
                        (Some(f), Some(e)) if f.seconds() <= e.seconds() => f.seconds() <= secs && secs < e.seconds(),
                        (Some(f), Some(e)) => secs >= f.seconds() || secs < e.seconds(),
                        (Some(f), None) => secs >= f.seconds(),
                        (None, Some(e)) => secs < e.seconds(),
                        (None, None) => true,
                    };
                    if !inside {
                        let window = match (from, to) {
                            (Some(f), Some(e)) => format!("from {f} to {e}"),
                            (Some(f), None) => format!("from {f}"),
                            (None, Some(e)) => format!("before {e}"),
                            (None, None) => String::new(),
                        };
                        reasons.push(format!(
                            "rule {rid} allows right {} only {window} local time (Europe/Copenhagen, Stockholm, Oslo); it is {}",
                            req.right,
                            local.format("%H:%M")
                        ));
                    }
                }
                RuleSpec::Sod(SodMode::Static) => {
                    for other in &rule.rights {
                        if other.to == r || !other.span.contains(t) {
                            continue;
                        }
                        if self.holds(u, other.to, t) {
                            reasons.push(format!(
                                "rule {rid} (separation of duties) forbids one user to hold both {} and {}; user {} holds both",
                                req.right,
                                self.rights.id(other.to),
                                req.user
                            ));
                        }
                    }
                }
                RuleSpec::Sod(SodMode::Object) => {
                    let Some(object) = &req.object else {
                        reasons.push(format!(
                            "rule {rid} (separation of duties per object) applies to right {}; the check must name the object",
                            req.right
                        ));
                        continue;
                    };
                    let person = self.person_of(u);
                    for e in exercises {
                        if &e.object != object || e.right == req.right {
                            continue;
                        }
                        let same = e.user == req.user || (person.is_some() && e.person.as_deref() == person);
                        if !same {
                            continue;
                        }
                        let conflicting = rule
                            .rights
                            .iter()
                            .any(|x| x.span.contains(t) && self.rights.id(x.to) == e.right);
                        if conflicting {
                            let who = if e.user == req.user {
                                format!("user {}", req.user)
                            } else {
                                format!("user {} (the same person as {})", e.user, req.user)
                            };
                            reasons.push(format!(
                                "rule {rid} (separation of duties per object) forbids one user to exercise both {} and {} on the same object; {who} exercised {} on {object} at {}",
                                e.right,
                                req.right,
                                e.right,
                                rfc3339(e.at.0)
                            ));
                        }
                    }
                }
            }
        }
    }

    fn explain(
        &self,
        m: &Miss,
        req: &CheckRequest,
        when: &When,
        scope: Option<(ScopeKind, Option<u32>, &str)>,
    ) -> String {
        let aid = |a: u32| self.assignments.id(a);
        let restr_list = |a: u32| -> String {
            let Some(ar) = self.assignments.row(a) else {
                return String::new();
            };
            let items: Vec<String> = ar
                .restrictions
                .of(&self.restrictions)
                .iter()
                .map(|x| {
                    format!(
                        "{} {}{}",
                        x.kind.as_str().replace('_', " "),
                        self.scope_id(x.kind, x.id),
                        if x.include_children {
                            " and its sub-organisations"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            items.join(", ")
        };
        match m {
            Miss::AssignmentPeriod(a) => {
                let span = self.assignments.row(*a).map_or(Span::ALWAYS, |r| r.span);
                format!(
                    "assignment {} is not valid at {when} (valid {})",
                    aid(*a),
                    describe_span(span)
                )
            }
            Miss::RoleEdge(a, e) => format!(
                "assignment {} gives role {} only {}, not at {when}",
                aid(*a),
                self.roles.id(e.to),
                describe_span(e.span)
            ),
            Miss::Path(a, role, g) => {
                let path = self.path_ids(g.path).join(" → ");
                format!(
                    "assignment {} gives role {}, but the way it grants right {} ({path}) is valid only {}, not at {when}",
                    aid(*a),
                    self.roles.id(*role),
                    req.right,
                    describe_span(g.span)
                )
            }
            Miss::NoScope(a, role) => format!(
                "assignment {} gives role {} only within {}; the check names no scope",
                aid(*a),
                self.roles.id(*role),
                restr_list(*a)
            ),
            Miss::OutOfScope(a, role) => {
                let (kind, known, id) = scope.unwrap_or((ScopeKind::Organisation, None, ""));
                format!(
                    "assignment {} gives role {} only within {}; the check's scope is {} {id}{}",
                    aid(*a),
                    self.roles.id(*role),
                    restr_list(*a),
                    kind.as_str().replace('_', " "),
                    if known.is_none() {
                        " (unknown to the model)"
                    } else {
                        ""
                    }
                )
            }
            Miss::NoValidRestriction(a) => format!(
                "assignment {} is restricted, but none of its restrictions is valid at {when}",
                aid(*a)
            ),
            Miss::Attestation(a, need, why) => {
                let sys = self
                    .rights
                    .get(&req.right)
                    .and_then(|r| self.rights.row(r))
                    .map_or("?", |r| self.systems.id(r.system));
                format!(
                    "IT system {sys} requires assignments attested by at least {}; assignment {}: {why}",
                    need.as_str(),
                    aid(*a)
                )
            }
        }
    }

    /// The rights `user` has at `at`, each with every grant and where it applies. A right
    /// listed here may still be refused by a decision (rules, login level, scope).
    pub fn effective_rights(
        &self,
        user: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<EffectiveRight>, AccessError> {
        let u = self.users.get(user).ok_or_else(|| AccessError::Unknown {
            section: crate::Section::Users,
            id: user.to_owned(),
        })?;
        let t = micros(at);
        let mut out: std::collections::BTreeMap<u32, EffectiveRight> =
            std::collections::BTreeMap::new();
        if !self.users.row(u).is_some_and(|r| r.span.contains(t)) {
            return Ok(Vec::new());
        }
        for &a in self.by_user.get(u as usize).map_or(&[][..], |v| v) {
            let Some(ar) = self.assignments.row(a) else {
                continue;
            };
            if !ar.live || !ar.span.contains(t) {
                continue;
            }
            let all = ar.restrictions.of(&self.restrictions);
            let valid: Vec<UserRoleRestriction> = all
                .iter()
                .filter(|x| x.span.contains(t))
                .map(|x| self.restriction_doc(x))
                .collect();
            if !all.is_empty() && valid.is_empty() {
                continue;
            }
            for edge in ar.roles.of(&self.role_edges) {
                if !edge.span.contains(t) {
                    continue;
                }
                for g in self.closure.get(edge.to as usize).map_or(&[][..], |c| c) {
                    if !g.span.contains(t) {
                        continue;
                    }
                    let Some(right) = self.rights.row(g.right) else {
                        continue;
                    };
                    let entry = out.entry(g.right).or_insert_with(|| EffectiveRight {
                        right: self.rights.id(g.right).to_owned(),
                        name: right.name.as_deref().map(str::to_owned),
                        it_system: self.systems.id(right.system).to_owned(),
                        required_loa: right
                            .required_loa
                            .max(self.systems.row(right.system).and_then(|s| s.required_loa)),
                        rules: self
                            .rules_by_right
                            .get(g.right as usize)
                            .map(|v| {
                                v.iter()
                                    .filter(|(ri, es)| {
                                        es.contains(t)
                                            && self
                                                .rules
                                                .row(*ri)
                                                .is_some_and(|r| r.span.contains(t))
                                    })
                                    .map(|(ri, _)| self.rules.id(*ri).to_owned())
                                    .collect()
                            })
                            .unwrap_or_default(),
                        grants: Vec::new(),
                    });
                    let grant = EffectiveGrant {
                        assignment: self.assignments.id(a).to_owned(),
                        role: self.roles.id(edge.to).to_owned(),
                        path: self.path_ids(g.path),
                        restrictions: valid.clone(),
                    };
                    if !entry.grants.contains(&grant) {
                        entry.grants.push(grant);
                    }
                }
            }
        }
        let mut v: Vec<EffectiveRight> = out.into_values().collect();
        v.sort_by(|a, b| a.right.cmp(&b.right));
        Ok(v)
    }
}

/// A time shown in a reason; formatted only when a reason is written.
struct When(DateTime<Utc>);

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

enum Admit {
    Everywhere,
    Within(Restr),
    NoScope,
    Outside,
    NoneValid,
}
