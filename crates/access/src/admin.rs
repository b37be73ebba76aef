//! Changing the model: checking and making an assignment (delegated administration), adding
//! a rule (with the re-check of static separation of duties), ending an assignment.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::decide::describe_span;
use crate::document::{AccessRule, ScopeKind, SodMode, UserRoleAssignment};
use crate::error::{Problem, ProblemKind, Section};
use crate::model::{
    compile_assignment, AssignTarget, Compiler, Edge, Model, Restr, RuleRow, RuleSpec, Subject,
    NONE,
};
use crate::time::{micros, Span, Timestamp};
use crate::AccessError;

/// A user who holds (or would hold) two rights that a static separation-of-duties rule keeps
/// apart, and the assignments that give them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SodViolation {
    /// The rule.
    pub rule: String,
    /// The user.
    pub user: String,
    /// The two conflicting rights.
    pub rights: [String; 2],
    /// The assignments granting them (the same one twice when one assignment grants both).
    pub assignments: [String; 2],
    /// When the conflict starts (absent: from the beginning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// When it ends (absent: open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

impl SodViolation {
    /// The violation in plain English.
    pub fn describe(&self) -> String {
        let span =
            crate::ValidityPeriod::new(self.valid_from.map(|t| t.0), self.valid_to.map(|t| t.0))
                .map(|p| p.span())
                .unwrap_or(Span::ALWAYS);
        let by = if self.assignments[0] == self.assignments[1] {
            format!("assignment {}", self.assignments[0])
        } else {
            format!(
                "assignments {} and {}",
                self.assignments[0], self.assignments[1]
            )
        };
        format!(
            "rule {} (separation of duties) forbids one user to hold both {} and {}; user {} holds both through {by} ({})",
            self.rule,
            self.rights[0],
            self.rights[1],
            self.user,
            describe_span(span)
        )
    }
}

/// The outcome of [`Model::check_assignment`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignmentCheck {
    /// Whether the assignment may be made.
    pub allowed: bool,
    /// Why not (or, when allowed, which assign right allowed each role).
    pub reasons: Vec<String>,
    /// Static separation-of-duties rules it would break.
    pub violations: Vec<SodViolation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Existing(u32),
    Proposed,
}

impl Model {
    fn held(
        &self,
        rule: &RuleRow,
        u: u32,
        items: &[(Who, Span, &[Edge])],
    ) -> Vec<(u32, Span, Who)> {
        let user_span = self.users.row(u).map_or(Span::ALWAYS, |r| r.span);
        let mut out = Vec::new();
        for (who, span, edges) in items {
            let base = span.and(rule.span).and(user_span);
            if base.is_empty() {
                continue;
            }
            for e in *edges {
                let s1 = base.and(e.span);
                if s1.is_empty() {
                    continue;
                }
                for re in &rule.rights {
                    let s2 = s1.and(re.span);
                    if s2.is_empty() {
                        continue;
                    }
                    for g in self.grants(e.to, re.to) {
                        let s3 = s2.and(g.span);
                        if !s3.is_empty() {
                            out.push((re.to, s3, *who));
                        }
                    }
                }
            }
        }
        out
    }

    fn who_id(&self, w: Who, proposed: &str) -> String {
        match w {
            Who::Existing(a) => self.assignments.id(a).to_owned(),
            Who::Proposed => proposed.to_owned(),
        }
    }

    fn conflicts(
        &self,
        ri: u32,
        u: u32,
        held: &[(u32, Span, Who)],
        proposed: Option<&str>,
    ) -> Vec<SodViolation> {
        let mut out: Vec<SodViolation> = Vec::new();
        let mut seen: Vec<(u32, u32, Who, Who)> = Vec::new();
        for (i, a) in held.iter().enumerate() {
            for b in held.iter().skip(i + 1) {
                if a.0 == b.0 {
                    continue;
                }
                if proposed.is_some() && a.2 != Who::Proposed && b.2 != Who::Proposed {
                    continue;
                }
                let overlap = a.1.and(b.1);
                if overlap.is_empty() {
                    continue;
                }
                let (x, y) = if a.0 <= b.0 { (a, b) } else { (b, a) };
                // One report per pair of rights and pair of assignments.
                let key = (x.0, y.0, x.2, y.2);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let p = proposed.unwrap_or("");
                out.push(SodViolation {
                    rule: self.rules.id(ri).to_owned(),
                    user: self.users.id(u).to_owned(),
                    rights: [
                        self.rights.id(x.0).to_owned(),
                        self.rights.id(y.0).to_owned(),
                    ],
                    assignments: [self.who_id(x.2, p), self.who_id(y.2, p)],
                    valid_from: crate::model::from_of(overlap),
                    valid_to: crate::model::to_of(overlap),
                });
            }
        }
        out
    }

    fn existing_items(&self, u: u32) -> Vec<(Who, Span, &[Edge])> {
        self.by_user
            .get(u as usize)
            .map(|list| {
                list.iter()
                    .filter_map(|&a| {
                        let ar = self.assignments.row(a)?;
                        ar.live
                            .then(|| (Who::Existing(a), ar.span, ar.roles.of(&self.role_edges)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn rule_violations(&self, ri: u32) -> Vec<SodViolation> {
        let Some(rule) = self.rules.row(ri) else {
            return Vec::new();
        };
        if rule.spec != RuleSpec::Sod(SodMode::Static) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for u in 0..self.users.len() {
            let u = u32::try_from(u).unwrap_or(NONE);
            let items = self.existing_items(u);
            if items.is_empty() {
                continue;
            }
            let held = self.held(rule, u, &items);
            if held.len() < 2 {
                continue;
            }
            out.extend(self.conflicts(ri, u, &held, None));
        }
        out
    }

    /// Every static separation-of-duties violation in the model, at any time (a conflict that
    /// only starts in the future counts too). Empty after a successful [`Model::load`]; can
    /// be non-empty after [`Model::insert_rule`].
    pub fn sod_violations(&self) -> Vec<SodViolation> {
        (0..self.rules.len())
            .flat_map(|ri| self.rule_violations(u32::try_from(ri).unwrap_or(NONE)))
            .collect()
    }

    /// Whether `proposal` may be made at `at` by its `assigned_by`: every reference exists,
    /// the assigner is another user, valid at `at`, and holds — for every assigned role — a
    /// valid right to assign that role (directly or through a classification the role is owned
    /// by or shared into) whose restrictions cover the proposal's; and no static
    /// separation-of-duties rule would be broken.
    pub fn check_assignment(
        &self,
        proposal: &UserRoleAssignment,
        at: DateTime<Utc>,
    ) -> AssignmentCheck {
        let t = micros(at);
        let mut reasons = Vec::new();
        let mut tmp_roles = Vec::new();
        let mut tmp_restr = Vec::new();
        let mut c = Compiler::new(self);
        let row = compile_assignment(
            &mut c,
            proposal,
            &mut tmp_roles,
            &mut tmp_restr,
            &self.attestations.rows,
        );
        reasons.extend(c.problems.into_iter().map(|p| p.message));
        if self.assignments.get(&proposal.id).is_some() {
            reasons.push(format!(
                "an assignment with id {:?} already exists",
                proposal.id
            ));
        }
        let Some(by) = row.assigned_by else {
            reasons.push("an assignment must name the user who makes it (assigned_by)".into());
            return refused(reasons);
        };
        if !reasons.is_empty() {
            return refused(reasons);
        }
        let by_id = proposal.assigned_by.as_deref().unwrap_or("");
        let by_valid = self.users.row(by).is_some_and(|r| {
            r.span.contains(t)
                && match r.subject {
                    Subject::Person(p) => self.persons.row(p).is_some_and(|x| x.span.contains(t)),
                    Subject::System(s) => self.systems.row(s).is_some_and(|x| x.span.contains(t)),
                }
        });
        if !by_valid {
            reasons.push(format!(
                "user {by_id}, who makes the assignment, is not valid at {}",
                crate::time::rfc3339(at)
            ));
        }
        let mut granted = Vec::new();
        for e in &tmp_roles {
            match self.may_assign(by, e.to, &tmp_restr, t) {
                Ok(via) => granted.push(format!(
                    "user {by_id} may assign role {} by assign right {via}",
                    self.roles.id(e.to)
                )),
                Err(why) => reasons.push(why),
            }
        }
        let mut violations = Vec::new();
        let mut items = self.existing_items(row.user);
        items.push((Who::Proposed, row.span, &tmp_roles));
        for ri in 0..self.rules.len() {
            let ri = u32::try_from(ri).unwrap_or(NONE);
            let Some(rule) = self.rules.row(ri) else {
                continue;
            };
            if rule.spec != RuleSpec::Sod(SodMode::Static) {
                continue;
            }
            let held = self.held(rule, row.user, &items);
            violations.extend(self.conflicts(ri, row.user, &held, Some(&proposal.id)));
        }
        reasons.extend(violations.iter().map(SodViolation::describe));
        let allowed = reasons.is_empty();
        AssignmentCheck {
            allowed,
            reasons: if allowed { granted } else { reasons },
            violations,
        }
    }

    /// The id of an assign right of `by` that lets it assign `role` within `restrs` at `t`,
    /// or why none does.
    fn may_assign(&self, by: u32, role: u32, restrs: &[Restr], t: i64) -> Result<String, String> {
        let by_id = self.users.id(by);
        let role_id = self.roles.id(role);
        let role_row = self.roles.row(role);
        if !role_row.is_some_and(|r| r.span.contains(t)) {
            return Err(format!("role {role_id} is not valid at that time"));
        }
        let in_class = |k: u32| {
            role_row.is_some_and(|r| r.classes.iter().any(|e| e.to == k && e.span.contains(t)))
                && self.classes.row(k).is_some_and(|c| c.span.contains(t))
        };
        let mut scoped: Vec<String> = Vec::new();
        for &ai in self
            .assign_rights_by_user
            .get(by as usize)
            .map_or(&[][..], |v| v)
        {
            let Some(ar) = self.assign_rights.row(ai) else {
                continue;
            };
            if !ar.span.contains(t) {
                continue;
            }
            let fits = match ar.target {
                AssignTarget::Role(r) => r == role,
                AssignTarget::Class(k) => in_class(k),
            };
            if !fits {
                continue;
            }
            let granted = ar.restrictions.of(&self.restrictions);
            if self.covers(granted, restrs, t) {
                return Ok(self.assign_rights.id(ai).to_owned());
            }
            scoped.extend(
                granted
                    .iter()
                    .filter(|g| g.span.contains(t))
                    .map(|g| self.restr_text(g)),
            );
        }
        if scoped.is_empty() {
            return Err(format!(
                "user {by_id} holds no right to assign role {role_id}"
            ));
        }
        let asked = if restrs.is_empty() {
            "everywhere (no restrictions)".to_owned()
        } else {
            restrs
                .iter()
                .map(|x| self.restr_text(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(format!(
            "user {by_id} may assign role {role_id} only within {}; the assignment asks for {asked}",
            scoped.join(", ")
        ))
    }

    fn restr_text(&self, x: &Restr) -> String {
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
    }

    /// Whether the assign right's restrictions `granted` cover the assignment's `asked`.
    fn covers(&self, granted: &[Restr], asked: &[Restr], t: i64) -> bool {
        if granted.is_empty() {
            return true;
        }
        if asked.is_empty() {
            return false;
        }
        asked.iter().all(|n| {
            granted.iter().any(|g| {
                g.span.contains(t)
                    && g.kind == n.kind
                    && ((g.id == n.id && (g.include_children || !n.include_children))
                        || (g.kind == ScopeKind::Organisation
                            && g.include_children
                            && self.org_is_under(n.id, g.id, t)))
            })
        })
    }

    /// Checks `proposal` with [`Model::check_assignment`] and, if allowed, adds it.
    pub fn assign(
        &mut self,
        proposal: &UserRoleAssignment,
        at: DateTime<Utc>,
    ) -> Result<AssignmentCheck, AccessError> {
        let check = self.check_assignment(proposal, at);
        if !check.allowed {
            return Err(AccessError::AssignmentRefused {
                reasons: check.reasons,
            });
        }
        self.insert_assignment(proposal)?;
        Ok(check)
    }

    fn insert_assignment(&mut self, proposal: &UserRoleAssignment) -> Result<(), AccessError> {
        let mut tmp_roles = Vec::new();
        let mut tmp_restr = Vec::new();
        let mut c = Compiler::new(self);
        let mut row = compile_assignment(
            &mut c,
            proposal,
            &mut tmp_roles,
            &mut tmp_restr,
            &self.attestations.rows,
        );
        if !c.problems.is_empty() {
            return Err(AccessError::Invalid(c.problems));
        }
        row.roles.start = u32::try_from(self.role_edges.len()).unwrap_or(NONE);
        row.restrictions.start = u32::try_from(self.restrictions.len()).unwrap_or(NONE);
        self.role_edges.extend(tmp_roles);
        self.restrictions.extend(tmp_restr);
        if !self.assignments.add_id(&proposal.id) {
            return Err(AccessError::Invalid(vec![Problem::new(
                Section::Assignments,
                &proposal.id,
                ProblemKind::DuplicateId,
                format!("an assignment with id {:?} already exists", proposal.id),
            )]));
        }
        let idx = u32::try_from(self.assignments.rows.len()).unwrap_or(NONE);
        let user = row.user;
        if let Some(hot) = self.user_edges.get_mut(user as usize) {
            crate::model::push_hot(hot, idx, &row, &self.role_edges);
        }
        self.assignments.rows.push(row);
        if let Some(list) = self.by_user.get_mut(user as usize) {
            list.push(idx);
        }
        Ok(())
    }

    /// Ends assignment `id` at `at` (its validity is cut to end then); an assignment that had
    /// not started by `at` is removed.
    pub fn end_assignment(&mut self, id: &str, at: DateTime<Utc>) -> Result<(), AccessError> {
        let a = self
            .assignments
            .get(id)
            .ok_or_else(|| AccessError::Unknown {
                section: Section::Assignments,
                id: id.to_owned(),
            })?;
        let t = micros(at);
        let Some(row) = self.assignments.rows.get_mut(a as usize) else {
            return Ok(());
        };
        let user = row.user;
        if t <= row.span.from {
            row.live = false;
            if let Some(list) = self.by_user.get_mut(user as usize) {
                list.retain(|x| *x != a);
            }
            if let Some(hot) = self.user_edges.get_mut(user as usize) {
                hot.retain(|h| h.assignment != a);
            }
        } else {
            row.span.to = row.span.to.min(t);
            let span = row.span;
            if let Some(hot) = self.user_edges.get_mut(user as usize) {
                for h in hot.iter_mut().filter(|h| h.assignment == a) {
                    h.assignment_span = span;
                }
            }
        }
        Ok(())
    }

    /// Adds a rule. The rule is added even when existing assignments break it (a static
    /// separation-of-duties rule): those violations are returned, so they can be reported and
    /// resolved; decisions refuse the conflicting rights meanwhile.
    pub fn insert_rule(&mut self, rule: &AccessRule) -> Result<Vec<SodViolation>, AccessError> {
        let mut c = Compiler::new(self);
        let row = c.rule(rule);
        let mut problems = c.problems;
        if self.rules.get(&rule.id).is_some() {
            problems.push(Problem::new(
                Section::Rules,
                &rule.id,
                ProblemKind::DuplicateId,
                format!("a rule with id {:?} already exists", rule.id),
            ));
        }
        if !problems.is_empty() {
            return Err(AccessError::Invalid(problems));
        }
        let ri = u32::try_from(self.rules.rows.len()).unwrap_or(NONE);
        for e in &row.rights {
            if let Some(v) = self.rules_by_right.get_mut(e.to as usize) {
                v.push((ri, e.span));
            }
        }
        self.rules.add_id(&rule.id);
        self.rules.rows.push(row);
        Ok(self.rule_violations(ri))
    }
}

fn refused(reasons: Vec<String>) -> AssignmentCheck {
    AssignmentCheck {
        allowed: false,
        reasons,
        violations: Vec::new(),
    }
}
