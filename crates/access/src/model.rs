//! The compiled, indexed model: built from a [`Document`] in one pass that checks every
//! reference, period, cycle and static separation-of-duties rule, and writes back to one.
//!
//! Ids are interned to `u32` per section. Indexes built at load: assignments by user, assign
//! rights by user, rules by right, and for every role the closure of the rights it grants
//! through inheritance, each with the inheritance path and the period in which that whole path
//! is valid (the intersection of every role's and edge's virkningsperiode on it).

use std::collections::{HashMap, VecDeque};

use tillit_core::Loa;

use crate::calendar::Calendar;
use crate::document::{
    self as doc, Amount, AttestationKind, Document, IssuerKind, Ref, RuleKind, ScopeKind, SodMode,
};
use crate::error::{Problem, ProblemKind, Section};
use crate::time::{Span, TimeOfDay, Timestamp, ValidityPeriod};
use crate::AccessError;

pub(crate) const NONE: u32 = u32::MAX;

/// One section's rows with their interned ids.
#[derive(Debug, Clone)]
pub(crate) struct Table<T> {
    pub(crate) ids: Vec<Box<str>>,
    pub(crate) index: HashMap<Box<str>, u32>,
    pub(crate) rows: Vec<T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }
}

impl<T> Table<T> {
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub(crate) fn id(&self, i: u32) -> &str {
        self.ids.get(i as usize).map_or("?", |s| s)
    }

    pub(crate) fn row(&self, i: u32) -> Option<&T> {
        self.rows.get(i as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds an id; `false` (and nothing added) when it is taken.
    pub(crate) fn add_id(&mut self, id: &str) -> bool {
        if self.index.contains_key(id) {
            return false;
        }
        let n = u32::try_from(self.ids.len()).unwrap_or(NONE);
        self.ids.push(id.into());
        self.index.insert(id.into(), n);
        true
    }
}

/// An edge to another entry, with the edge's own validity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edge {
    pub(crate) to: u32,
    pub(crate) span: Span,
}

pub(crate) type Name = Option<Box<str>>;

#[derive(Debug, Clone)]
pub(crate) struct ClassRow {
    pub(crate) name: Name,
    pub(crate) description: Name,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct SystemRow {
    pub(crate) name: Name,
    pub(crate) classification: Option<u32>,
    pub(crate) required_loa: Option<Loa>,
    pub(crate) required_attestation: Option<AttestationKind>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct RightRow {
    pub(crate) name: Name,
    pub(crate) system: u32,
    pub(crate) class: u32,
    pub(crate) action: Name,
    pub(crate) object_type: Name,
    pub(crate) required_loa: Option<Loa>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RuleSpec {
    Amount(Amount),
    Window {
        first_working_days: Option<u32>,
        calendar: Option<Calendar>,
        from: Option<TimeOfDay>,
        to: Option<TimeOfDay>,
    },
    Sod(SodMode),
}

#[derive(Debug, Clone)]
pub(crate) struct RuleRow {
    pub(crate) name: Name,
    pub(crate) description: Name,
    pub(crate) spec: RuleSpec,
    pub(crate) rights: Vec<Edge>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct RoleRow {
    pub(crate) name: Name,
    pub(crate) description: Name,
    pub(crate) classes: Vec<Edge>,
    pub(crate) rights: Vec<Edge>,
    pub(crate) inherits: Vec<Edge>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct OrgRow {
    pub(crate) name: Name,
    pub(crate) parent: Option<Edge>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct PersonRow {
    pub(crate) name: Name,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Person(u32),
    System(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub(crate) name: Name,
    pub(crate) subject: Subject,
    pub(crate) span: Span,
}

/// A restriction, compiled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Restr {
    pub(crate) kind: ScopeKind,
    pub(crate) id: u32,
    pub(crate) include_children: bool,
    pub(crate) span: Span,
}

/// A range in one of the arenas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Slice {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Slice {
    pub(crate) fn of<T>(self, arena: &[T]) -> &[T] {
        let s = self.start as usize;
        arena.get(s..s + self.len as usize).unwrap_or(&[])
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AssignmentRow {
    pub(crate) user: u32,
    pub(crate) roles: Slice,
    pub(crate) restrictions: Slice,
    pub(crate) assigned_by: Option<u32>,
    pub(crate) attestation: Option<u32>,
    pub(crate) span: Span,
    pub(crate) live: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AttestationRow {
    pub(crate) name: Name,
    pub(crate) issuer: (IssuerKind, u32),
    pub(crate) kind: AttestationKind,
    pub(crate) user: Option<u32>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssignTarget {
    Role(u32),
    Class(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct AssignRightRow {
    pub(crate) user: u32,
    pub(crate) target: AssignTarget,
    pub(crate) restrictions: Slice,
    pub(crate) span: Span,
}

/// One assigned role of a user, with the assignment's and the role edge's periods.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HotEdge {
    pub(crate) assignment: u32,
    pub(crate) role: u32,
    pub(crate) assignment_span: Span,
    pub(crate) edge_span: Span,
}

/// One right in a role's closure: granted through `path` (from the role down to the role
/// that holds the right directly) while `span` lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant {
    pub(crate) right: u32,
    pub(crate) path: Slice,
    pub(crate) span: Span,
}

/// The loaded access model. Build it with [`Model::load`]; ask it with
/// [`Model::decide`](crate::Model::decide) and
/// [`Model::effective_rights`](crate::Model::effective_rights); change it with
/// [`Model::assign`](crate::Model::assign), [`Model::insert_rule`](crate::Model::insert_rule)
/// and [`Model::end_assignment`](crate::Model::end_assignment); write it with
/// [`Model::to_document`].
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub(crate) classes: Table<ClassRow>,
    pub(crate) systems: Table<SystemRow>,
    pub(crate) rights: Table<RightRow>,
    pub(crate) rules: Table<RuleRow>,
    pub(crate) roles: Table<RoleRow>,
    pub(crate) orgs: Table<OrgRow>,
    pub(crate) persons: Table<PersonRow>,
    pub(crate) users: Table<UserRow>,
    pub(crate) assignments: Table<AssignmentRow>,
    pub(crate) attestations: Table<AttestationRow>,
    pub(crate) assign_rights: Table<AssignRightRow>,
    /// The roles of every assignment, back to back.
    pub(crate) role_edges: Vec<Edge>,
    /// The restrictions of every assignment and assign right, back to back.
    pub(crate) restrictions: Vec<Restr>,
    pub(crate) by_user: Vec<Vec<u32>>,
    pub(crate) assign_rights_by_user: Vec<Vec<u32>>,
    /// (rule, edge validity) per right.
    pub(crate) rules_by_right: Vec<Vec<(u32, Span)>>,
    /// Per role, its closure sorted by right.
    pub(crate) closure: Vec<Box<[Grant]>>,
    /// Per right, the roles granting it with the grant, sorted by role (the closure inverted:
    /// a decision touches one small array instead of one closure per assigned role).
    pub(crate) by_right: Vec<Box<[(u32, Grant)]>>,
    /// Per user, the (assignment, role) pairs of its live assignments, contiguous.
    pub(crate) user_edges: Vec<Vec<HotEdge>>,
    /// Inheritance paths, back to back.
    pub(crate) paths: Vec<u32>,
}

/// Collects problems while a document (or one entry) is compiled.
pub(crate) struct Compiler<'m> {
    pub(crate) m: &'m Model,
    pub(crate) problems: Vec<Problem>,
}

impl<'m> Compiler<'m> {
    pub(crate) fn new(m: &'m Model) -> Self {
        Self {
            m,
            problems: Vec::new(),
        }
    }

    pub(crate) fn problem(
        &mut self,
        section: Section,
        id: &str,
        kind: ProblemKind,
        message: String,
    ) {
        self.problems.push(Problem::new(section, id, kind, message));
    }

    pub(crate) fn period(
        &mut self,
        section: Section,
        id: &str,
        what: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Span {
        match ValidityPeriod::new(from.map(|t| t.0), to.map(|t| t.0)) {
            Ok(p) => p.span(),
            Err(e) => {
                let what = if what.is_empty() {
                    String::new()
                } else {
                    format!("{what}: ")
                };
                self.problem(section, id, ProblemKind::InvalidField, format!("{what}{e}"));
                Span::ALWAYS
            }
        }
    }

    fn lookup(&self, target: Section, rid: &str) -> Option<u32> {
        let m = self.m;
        match target {
            Section::Classifications => m.classes.get(rid),
            Section::ItSystems => m.systems.get(rid),
            Section::Rights => m.rights.get(rid),
            Section::Rules => m.rules.get(rid),
            Section::Roles => m.roles.get(rid),
            Section::Organisations => m.orgs.get(rid),
            Section::Persons => m.persons.get(rid),
            Section::Users => m.users.get(rid),
            Section::Assignments => m.assignments.get(rid),
            Section::Attestations => m.attestations.get(rid),
            Section::AssignRights => m.assign_rights.get(rid),
        }
    }

    pub(crate) fn resolve(
        &mut self,
        section: Section,
        id: &str,
        field: &str,
        target: Section,
        rid: &str,
    ) -> u32 {
        match self.lookup(target, rid) {
            Some(i) => i,
            None => {
                self.problem(
                    section,
                    id,
                    ProblemKind::DanglingReference,
                    format!(
                        "{field} names {} {rid:?}, which does not exist",
                        target.noun()
                    ),
                );
                NONE
            }
        }
    }

    pub(crate) fn edges(
        &mut self,
        section: Section,
        id: &str,
        field: &str,
        target: Section,
        refs: &[Ref],
    ) -> Vec<Edge> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let to = self.resolve(section, id, field, target, &r.id);
            let span = self.period(
                section,
                id,
                &format!("{field} {:?}", r.id),
                r.valid_from,
                r.valid_to,
            );
            if out.iter().any(|e: &Edge| e.to == to && to != NONE) {
                self.problem(
                    section,
                    id,
                    ProblemKind::InvalidField,
                    format!("{field} names {:?} twice", r.id),
                );
            }
            out.push(Edge { to, span });
        }
        out
    }

    pub(crate) fn restriction(
        &mut self,
        section: Section,
        id: &str,
        r: &doc::UserRoleRestriction,
    ) -> Restr {
        let target = match r.kind {
            ScopeKind::Organisation => Section::Organisations,
            ScopeKind::Person => Section::Persons,
            ScopeKind::ItSystem => Section::ItSystems,
        };
        let rid = self.resolve(section, id, "restrictions", target, &r.id);
        if r.include_children && r.kind != ScopeKind::Organisation {
            self.problem(
                section,
                id,
                ProblemKind::InvalidField,
                format!("restriction to {} {:?} has include_children, which only an organisation can have", r.kind.as_str(), r.id),
            );
        }
        let span = self.period(
            section,
            id,
            &format!("restriction {:?}", r.id),
            r.valid_from,
            r.valid_to,
        );
        Restr {
            kind: r.kind,
            id: rid,
            include_children: r.include_children,
            span,
        }
    }

    pub(crate) fn rule(&mut self, r: &doc::AccessRule) -> RuleRow {
        let sec = Section::Rules;
        let id = r.id.as_str();
        let span = self.period(sec, id, "", r.valid_from, r.valid_to);
        let rights = self.edges(sec, id, "rights", Section::Rights, &r.rights);
        let mut stray = Vec::new();
        let mut field = |present: bool, name: &'static str, allowed: bool| {
            if present && !allowed {
                stray.push(name);
            }
        };
        let (amount, window, sod) = (
            r.kind == RuleKind::AmountLimit,
            r.kind == RuleKind::TimeWindow,
            r.kind == RuleKind::SeparationOfDuties,
        );
        field(r.max_amount.is_some(), "max_amount", amount);
        field(r.first_working_days.is_some(), "first_working_days", window);
        field(r.calendar.is_some(), "calendar", window);
        field(r.from_time.is_some(), "from_time", window);
        field(r.to_time.is_some(), "to_time", window);
        field(r.mode.is_some(), "mode", sod);
        for name in stray {
            self.problem(
                sec,
                id,
                ProblemKind::InvalidField,
                format!(
                    "{name} does not belong to a rule of kind {}",
                    kind_name(r.kind)
                ),
            );
        }
        if r.rights.is_empty() {
            self.problem(
                sec,
                id,
                ProblemKind::InvalidField,
                "rights is empty: a rule applies to at least one right".into(),
            );
        }
        let spec = match r.kind {
            RuleKind::AmountLimit => match r.max_amount {
                Some(a) => RuleSpec::Amount(a),
                None => {
                    self.problem(
                        sec,
                        id,
                        ProblemKind::InvalidField,
                        "an amount_limit rule needs max_amount".into(),
                    );
                    RuleSpec::Amount(Amount::ZERO)
                }
            },
            RuleKind::TimeWindow => {
                if let Some(n) = r.first_working_days {
                    if !(1..=23).contains(&n) {
                        self.problem(
                            sec,
                            id,
                            ProblemKind::InvalidField,
                            format!("first_working_days is {n}; expected 1 to 23"),
                        );
                    }
                    if r.calendar.is_none() {
                        self.problem(
                            sec,
                            id,
                            ProblemKind::InvalidField,
                            "first_working_days needs a calendar (DK, SE or NO)".into(),
                        );
                    }
                }
                if r.first_working_days.is_none()
                    && r.calendar.is_none()
                    && r.from_time.is_none()
                    && r.to_time.is_none()
                {
                    self.problem(
                        sec,
                        id,
                        ProblemKind::InvalidField,
                        "a time_window rule needs first_working_days, calendar, from_time or to_time".into(),
                    );
                }
                if let (Some(f), Some(t)) = (r.from_time, r.to_time) {
                    if f == t {
                        self.problem(
                            sec,
                            id,
                            ProblemKind::InvalidField,
                            format!("from_time and to_time are both {f}: an empty window"),
                        );
                    }
                }
                RuleSpec::Window {
                    first_working_days: r.first_working_days,
                    calendar: r.calendar,
                    from: r.from_time,
                    to: r.to_time,
                }
            }
            RuleKind::SeparationOfDuties => {
                if r.rights.len() < 2 {
                    self.problem(
                        sec,
                        id,
                        ProblemKind::InvalidField,
                        "separation of duties needs at least two rights".into(),
                    );
                }
                match r.mode {
                    Some(m) => RuleSpec::Sod(m),
                    None => {
                        self.problem(
                            sec,
                            id,
                            ProblemKind::InvalidField,
                            "a separation_of_duties rule needs mode (static or object)".into(),
                        );
                        RuleSpec::Sod(SodMode::Static)
                    }
                }
            }
        };
        RuleRow {
            name: boxed(&r.name),
            description: boxed(&r.description),
            spec,
            rights,
            span,
        }
    }
}

pub(crate) fn kind_name(k: RuleKind) -> &'static str {
    match k {
        RuleKind::AmountLimit => "amount_limit",
        RuleKind::TimeWindow => "time_window",
        RuleKind::SeparationOfDuties => "separation_of_duties",
    }
}

fn boxed(s: &Option<String>) -> Name {
    s.as_deref().map(Into::into)
}

fn unboxed(s: &Name) -> Option<String> {
    s.as_deref().map(str::to_owned)
}

fn ts(v: i64, open: i64) -> Option<Timestamp> {
    if v == open {
        None
    } else {
        chrono::DateTime::from_timestamp_micros(v).map(Timestamp)
    }
}

pub(crate) fn from_of(s: Span) -> Option<Timestamp> {
    ts(s.from, i64::MIN)
}

pub(crate) fn to_of(s: Span) -> Option<Timestamp> {
    ts(s.to, i64::MAX)
}

fn n(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NONE)
}

impl Model {
    /// Loads a document, all or nothing. Every duplicate id, dangling reference, invalid
    /// field, cycle (role inheritance, organisation parents) and static separation-of-duties
    /// violation is collected and returned together in [`AccessError::Invalid`].
    pub fn load(d: &Document) -> Result<Model, AccessError> {
        let mut m = Model::default();
        let mut dup = Vec::new();
        macro_rules! ids {
            ($table:ident, $list:expr, $sec:expr) => {
                for e in &$list {
                    if !m.$table.add_id(&e.id) {
                        dup.push(Problem::new(
                            $sec,
                            &e.id,
                            ProblemKind::DuplicateId,
                            format!("the id {:?} is used by more than one {}", e.id, $sec.noun()),
                        ));
                    }
                }
            };
        }
        ids!(classes, d.classifications, Section::Classifications);
        ids!(systems, d.it_systems, Section::ItSystems);
        ids!(rights, d.rights, Section::Rights);
        ids!(rules, d.rules, Section::Rules);
        ids!(roles, d.roles, Section::Roles);
        ids!(orgs, d.organisations, Section::Organisations);
        ids!(persons, d.persons, Section::Persons);
        ids!(users, d.users, Section::Users);
        ids!(assignments, d.assignments, Section::Assignments);
        ids!(attestations, d.attestations, Section::Attestations);
        ids!(assign_rights, d.assign_rights, Section::AssignRights);

        let mut c = Compiler::new(&m);
        c.problems = dup;
        let compiled = compile_rows(&mut c, d);
        let mut problems = c.problems;
        let rows = compiled;
        rows.install(&mut m);
        problems.extend(m.cycles());
        if !problems.is_empty() {
            return Err(AccessError::Invalid(problems));
        }
        m.build_indexes();
        let violations = m.sod_violations();
        if !violations.is_empty() {
            let mut problems = Vec::new();
            for v in &violations {
                for a in &v.assignments {
                    let msg = v.describe();
                    if !problems
                        .iter()
                        .any(|p: &Problem| p.id == *a && p.message == msg)
                    {
                        problems.push(Problem::new(
                            Section::Assignments,
                            a,
                            ProblemKind::SeparationOfDuties,
                            msg,
                        ));
                    }
                }
            }
            return Err(AccessError::Invalid(problems));
        }
        Ok(m)
    }

    /// Parses (JSON or YAML) and loads a document.
    pub fn from_text(text: &str) -> Result<Model, AccessError> {
        Self::load(&Document::parse(text)?)
    }

    /// Every role and organisation on a cycle.
    fn cycles(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let role_adj: Vec<Vec<u32>> = self
            .roles
            .rows
            .iter()
            .map(|r| {
                r.inherits
                    .iter()
                    .map(|e| e.to)
                    .filter(|t| *t != NONE)
                    .collect()
            })
            .collect();
        for scc in cyclic_components(&role_adj) {
            let names: Vec<&str> = scc.iter().map(|i| self.roles.id(*i)).collect();
            for i in &scc {
                out.push(Problem::new(
                    Section::Roles,
                    self.roles.id(*i),
                    ProblemKind::Cycle,
                    format!("role inheritance is circular: {}", names.join(" → ")),
                ));
            }
        }
        let org_adj: Vec<Vec<u32>> = self
            .orgs
            .rows
            .iter()
            .map(|o| {
                o.parent
                    .iter()
                    .map(|e| e.to)
                    .filter(|t| *t != NONE)
                    .collect()
            })
            .collect();
        for scc in cyclic_components(&org_adj) {
            let names: Vec<&str> = scc.iter().map(|i| self.orgs.id(*i)).collect();
            for i in &scc {
                out.push(Problem::new(
                    Section::Organisations,
                    self.orgs.id(*i),
                    ProblemKind::Cycle,
                    format!("organisation parents are circular: {}", names.join(" → ")),
                ));
            }
        }
        out
    }

    pub(crate) fn build_indexes(&mut self) {
        let mut by_user = vec![Vec::new(); self.users.len()];
        for (i, a) in self.assignments.rows.iter().enumerate() {
            if let Some(v) = by_user.get_mut(a.user as usize) {
                v.push(n(i));
            }
        }
        self.by_user = by_user;
        let mut ar_by_user = vec![Vec::new(); self.users.len()];
        for (i, a) in self.assign_rights.rows.iter().enumerate() {
            if let Some(v) = ar_by_user.get_mut(a.user as usize) {
                v.push(n(i));
            }
        }
        self.assign_rights_by_user = ar_by_user;
        let mut rules_by_right = vec![Vec::new(); self.rights.len()];
        for (i, r) in self.rules.rows.iter().enumerate() {
            for e in &r.rights {
                if let Some(v) = rules_by_right.get_mut(e.to as usize) {
                    v.push((n(i), e.span));
                }
            }
        }
        self.rules_by_right = rules_by_right;
        self.compute_closure();
        let mut by_right: Vec<Vec<(u32, Grant)>> = vec![Vec::new(); self.rights.len()];
        for (role, grants) in self.closure.iter().enumerate() {
            for g in grants.iter() {
                if let Some(v) = by_right.get_mut(g.right as usize) {
                    v.push((n(role), *g));
                }
            }
        }
        self.by_right = by_right.into_iter().map(Vec::into_boxed_slice).collect();
        let mut user_edges: Vec<Vec<HotEdge>> = Vec::with_capacity(self.users.len());
        for list in &self.by_user {
            let mut v = Vec::with_capacity(list.len());
            for &a in list {
                if let Some(ar) = self.assignments.row(a) {
                    push_hot(&mut v, a, ar, &self.role_edges);
                }
            }
            user_edges.push(v);
        }
        self.user_edges = user_edges;
    }

    /// The grants of `right` by `role` (through its closure), from the inverted index.
    #[inline]
    pub(crate) fn granting(&self, right: u32, role: u32) -> &[(u32, Grant)] {
        let Some(list) = self.by_right.get(right as usize) else {
            return &[];
        };
        let lo = list.partition_point(|(r, _)| *r < role);
        let hi = lo
            + list
                .get(lo..)
                .map_or(0, |rest| rest.partition_point(|(r, _)| *r == role));
        list.get(lo..hi).unwrap_or(&[])
    }

    /// For every role, the rights it grants (directly and inherited), breadth first so the
    /// shortest path comes first; a path whose period is covered by an earlier path to the same
    /// right (or the same ancestor) is dropped, which keeps diamonds from multiplying.
    fn compute_closure(&mut self) {
        let mut closure = Vec::with_capacity(self.roles.len());
        let mut paths: Vec<u32> = Vec::new();
        let mut queue: VecDeque<(u32, Vec<u32>, Span)> = VecDeque::new();
        let mut seen: HashMap<u32, Vec<Span>> = HashMap::new();
        let mut by_right: HashMap<u32, Vec<usize>> = HashMap::new();
        for start in 0..self.roles.len() {
            let start = n(start);
            let mut grants: Vec<Grant> = Vec::new();
            queue.clear();
            seen.clear();
            by_right.clear();
            let Some(r0) = self.roles.row(start) else {
                continue;
            };
            queue.push_back((start, vec![start], r0.span));
            while let Some((role, path, span)) = queue.pop_front() {
                let Some(row) = self.roles.row(role) else {
                    continue;
                };
                let seen_spans = seen.entry(role).or_default();
                if seen_spans.iter().any(|s| s.covers(span)) {
                    continue;
                }
                seen_spans.push(span);
                for e in &row.rights {
                    let Some(right) = self.rights.row(e.to) else {
                        continue;
                    };
                    let g_span = span.and(e.span).and(right.span);
                    if g_span.is_empty() {
                        continue;
                    }
                    let existing = by_right.entry(e.to).or_default();
                    if existing.iter().any(|&gi| {
                        grants
                            .get(gi)
                            .is_some_and(|g: &Grant| g.span.covers(g_span))
                    }) {
                        continue;
                    }
                    let start_at = n(paths.len());
                    paths.extend_from_slice(&path);
                    existing.push(grants.len());
                    grants.push(Grant {
                        right: e.to,
                        path: Slice {
                            start: start_at,
                            len: n(path.len()),
                        },
                        span: g_span,
                    });
                }
                for e in &row.inherits {
                    let Some(parent) = self.roles.row(e.to) else {
                        continue;
                    };
                    let p_span = span.and(e.span).and(parent.span);
                    if p_span.is_empty() || path.contains(&e.to) {
                        continue;
                    }
                    let mut p = path.clone();
                    p.push(e.to);
                    queue.push_back((e.to, p, p_span));
                }
            }
            grants.sort_by_key(|g| g.right);
            closure.push(grants.into_boxed_slice());
        }
        self.closure = closure;
        self.paths = paths;
    }

    /// The closure entries of `role` for `right`.
    #[inline]
    pub(crate) fn grants(&self, role: u32, right: u32) -> &[Grant] {
        let Some(c) = self.closure.get(role as usize) else {
            return &[];
        };
        let lo = c.partition_point(|g| g.right < right);
        let hi = lo
            + c.get(lo..)
                .map_or(0, |rest| rest.partition_point(|g| g.right == right));
        c.get(lo..hi).unwrap_or(&[])
    }

    pub(crate) fn path_ids(&self, path: Slice) -> Vec<String> {
        path.of(&self.paths)
            .iter()
            .map(|r| self.roles.id(*r).to_owned())
            .collect()
    }

    /// Writes the model back as a document (the same format [`Model::load`] reads).
    pub fn to_document(&self) -> Document {
        let edge_refs = |edges: &[Edge], t: &dyn Fn(u32) -> String| -> Vec<Ref> {
            edges
                .iter()
                .map(|e| Ref {
                    id: t(e.to),
                    valid_from: from_of(e.span),
                    valid_to: to_of(e.span),
                })
                .collect()
        };
        let restr = |s: Slice| -> Vec<doc::UserRoleRestriction> {
            s.of(&self.restrictions)
                .iter()
                .map(|r| doc::UserRoleRestriction {
                    kind: r.kind,
                    id: self.scope_id(r.kind, r.id).to_owned(),
                    include_children: r.include_children,
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect()
        };
        let role_id = |i: u32| self.roles.id(i).to_owned();
        let right_id = |i: u32| self.rights.id(i).to_owned();
        let class_id = |i: u32| self.classes.id(i).to_owned();
        let org_id = |i: u32| self.orgs.id(i).to_owned();
        Document {
            classifications: self
                .classes
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::Classification {
                    id: self.classes.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    description: unboxed(&r.description),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            it_systems: self
                .systems
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::ItSystem {
                    id: self.systems.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    classification: r.classification.map(class_id),
                    required_loa: r.required_loa,
                    required_attestation: r.required_attestation,
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            rights: self
                .rights
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::AccessRight {
                    id: self.rights.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    it_system: self.systems.id(r.system).to_owned(),
                    classification: self.classes.id(r.class).to_owned(),
                    action: unboxed(&r.action),
                    object_type: unboxed(&r.object_type),
                    required_loa: r.required_loa,
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            rules: self
                .rules
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut out = doc::AccessRule {
                        id: self.rules.id(n(i)).to_owned(),
                        name: unboxed(&r.name),
                        description: unboxed(&r.description),
                        kind: RuleKind::AmountLimit,
                        max_amount: None,
                        first_working_days: None,
                        calendar: None,
                        from_time: None,
                        to_time: None,
                        mode: None,
                        rights: edge_refs(&r.rights, &right_id),
                        valid_from: from_of(r.span),
                        valid_to: to_of(r.span),
                    };
                    match r.spec {
                        RuleSpec::Amount(a) => out.max_amount = Some(a),
                        RuleSpec::Window {
                            first_working_days,
                            calendar,
                            from,
                            to,
                        } => {
                            out.kind = RuleKind::TimeWindow;
                            out.first_working_days = first_working_days;
                            out.calendar = calendar;
                            out.from_time = from;
                            out.to_time = to;
                        }
                        RuleSpec::Sod(mode) => {
                            out.kind = RuleKind::SeparationOfDuties;
                            out.mode = Some(mode);
                        }
                    }
                    out
                })
                .collect(),
            roles: self
                .roles
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::UserRole {
                    id: self.roles.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    description: unboxed(&r.description),
                    classifications: edge_refs(&r.classes, &class_id),
                    rights: edge_refs(&r.rights, &right_id),
                    inherits: edge_refs(&r.inherits, &role_id),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            organisations: self
                .orgs
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::Organisation {
                    id: self.orgs.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    parent: r.parent.map(|e| Ref {
                        id: org_id(e.to),
                        valid_from: from_of(e.span),
                        valid_to: to_of(e.span),
                    }),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            persons: self
                .persons
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::Person {
                    id: self.persons.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            users: self
                .users
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let (person, it_system) = match r.subject {
                        Subject::Person(p) => (Some(self.persons.id(p).to_owned()), None),
                        Subject::System(s) => (None, Some(self.systems.id(s).to_owned())),
                    };
                    doc::User {
                        id: self.users.id(n(i)).to_owned(),
                        name: unboxed(&r.name),
                        person,
                        it_system,
                        valid_from: from_of(r.span),
                        valid_to: to_of(r.span),
                    }
                })
                .collect(),
            assignments: self
                .assignments
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.live)
                .map(|(i, r)| doc::UserRoleAssignment {
                    id: self.assignments.id(n(i)).to_owned(),
                    user: self.users.id(r.user).to_owned(),
                    roles: edge_refs(r.roles.of(&self.role_edges), &role_id),
                    restrictions: restr(r.restrictions),
                    assigned_by: r.assigned_by.map(|u| self.users.id(u).to_owned()),
                    attestation: r.attestation.map(|a| self.attestations.id(a).to_owned()),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            attestations: self
                .attestations
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| doc::UserRoleAttestation {
                    id: self.attestations.id(n(i)).to_owned(),
                    name: unboxed(&r.name),
                    issuer: doc::AttestationIssuer {
                        kind: r.issuer.0,
                        id: self.issuer_id(r.issuer.0, r.issuer.1).to_owned(),
                    },
                    kind: r.kind,
                    user: r.user.map(|u| self.users.id(u).to_owned()),
                    valid_from: from_of(r.span),
                    valid_to: to_of(r.span),
                })
                .collect(),
            assign_rights: self
                .assign_rights
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let (role, classification) = match r.target {
                        AssignTarget::Role(x) => (Some(role_id(x)), None),
                        AssignTarget::Class(x) => (None, Some(class_id(x))),
                    };
                    doc::AssignRight {
                        id: self.assign_rights.id(n(i)).to_owned(),
                        user: self.users.id(r.user).to_owned(),
                        role,
                        classification,
                        restrictions: restr(r.restrictions),
                        valid_from: from_of(r.span),
                        valid_to: to_of(r.span),
                    }
                })
                .collect(),
            provisioning: doc::Provisioning::default(),
        }
    }

    pub(crate) fn scope_id(&self, kind: ScopeKind, i: u32) -> &str {
        match kind {
            ScopeKind::Organisation => self.orgs.id(i),
            ScopeKind::Person => self.persons.id(i),
            ScopeKind::ItSystem => self.systems.id(i),
        }
    }

    fn issuer_id(&self, kind: IssuerKind, i: u32) -> &str {
        match kind {
            IssuerKind::Organisation => self.orgs.id(i),
            IssuerKind::Person => self.persons.id(i),
            IssuerKind::User => self.users.id(i),
            IssuerKind::ItSystem => self.systems.id(i),
        }
    }

    /// Whether the model has a user with this id (valid now or not).
    pub fn has_user(&self, id: &str) -> bool {
        self.users.get(id).is_some()
    }

    /// Whether the model has an IT system with this id.
    pub fn has_it_system(&self, id: &str) -> bool {
        self.systems.get(id).is_some()
    }

    /// Who user `id` is: `(Some(person), None)` for a person's user, `(None, Some(it_system))`
    /// for an IT system's; None when the model has no such user.
    pub fn user_subject(&self, id: &str) -> Option<(Option<&str>, Option<&str>)> {
        let row = self.users.row(self.users.get(id)?)?;
        Some(match row.subject {
            Subject::Person(p) => (Some(self.persons.id(p)), None),
            Subject::System(s) => (None, Some(self.systems.id(s))),
        })
    }

    /// How many entries each section holds (for logs and metrics).
    pub fn counts(&self) -> Vec<(Section, usize)> {
        vec![
            (Section::Classifications, self.classes.len()),
            (Section::ItSystems, self.systems.len()),
            (Section::Rights, self.rights.len()),
            (Section::Rules, self.rules.len()),
            (Section::Roles, self.roles.len()),
            (Section::Organisations, self.orgs.len()),
            (Section::Persons, self.persons.len()),
            (Section::Users, self.users.len()),
            (
                Section::Assignments,
                self.assignments.rows.iter().filter(|a| a.live).count(),
            ),
            (Section::Attestations, self.attestations.len()),
            (Section::AssignRights, self.assign_rights.len()),
        ]
    }
}

pub(crate) fn push_hot(v: &mut Vec<HotEdge>, a: u32, ar: &AssignmentRow, role_edges: &[Edge]) {
    if !ar.live {
        return;
    }
    for e in ar.roles.of(role_edges) {
        v.push(HotEdge {
            assignment: a,
            role: e.to,
            assignment_span: ar.span,
            edge_span: e.span,
        });
    }
}

/// Rows compiled from a document, installed into the model once all are compiled.
struct Rows {
    classes: Vec<ClassRow>,
    systems: Vec<SystemRow>,
    rights: Vec<RightRow>,
    rules: Vec<RuleRow>,
    roles: Vec<RoleRow>,
    orgs: Vec<OrgRow>,
    persons: Vec<PersonRow>,
    users: Vec<UserRow>,
    assignments: Vec<AssignmentRow>,
    attestations: Vec<AttestationRow>,
    assign_rights: Vec<AssignRightRow>,
    role_edges: Vec<Edge>,
    restrictions: Vec<Restr>,
}

impl Rows {
    fn install(self, m: &mut Model) {
        m.classes.rows = self.classes;
        m.systems.rows = self.systems;
        m.rights.rows = self.rights;
        m.rules.rows = self.rules;
        m.roles.rows = self.roles;
        m.orgs.rows = self.orgs;
        m.persons.rows = self.persons;
        m.users.rows = self.users;
        m.assignments.rows = self.assignments;
        m.attestations.rows = self.attestations;
        m.assign_rights.rows = self.assign_rights;
        m.role_edges = self.role_edges;
        m.restrictions = self.restrictions;
    }
}

/// Compiles every entry; entries whose id was a duplicate are compiled too (their problems
/// are reported) but only the first of each id is kept.
fn compile_rows(c: &mut Compiler<'_>, d: &Document) -> Rows {
    let mut rows = Rows {
        classes: Vec::with_capacity(d.classifications.len()),
        systems: Vec::with_capacity(d.it_systems.len()),
        rights: Vec::with_capacity(d.rights.len()),
        rules: Vec::with_capacity(d.rules.len()),
        roles: Vec::with_capacity(d.roles.len()),
        orgs: Vec::with_capacity(d.organisations.len()),
        persons: Vec::with_capacity(d.persons.len()),
        users: Vec::with_capacity(d.users.len()),
        assignments: Vec::with_capacity(d.assignments.len()),
        attestations: Vec::with_capacity(d.attestations.len()),
        assign_rights: Vec::with_capacity(d.assign_rights.len()),
        role_edges: Vec::new(),
        restrictions: Vec::new(),
    };
    // Keeps a row only when its id is the first with that id (its interned index is next).
    macro_rules! keep {
        ($vec:expr, $table:ident, $id:expr, $row:expr) => {{
            let row = $row;
            if c.m.$table.get($id) == Some(n($vec.len())) {
                $vec.push(row);
            }
        }};
    }
    for e in &d.classifications {
        let span = c.period(
            Section::Classifications,
            &e.id,
            "",
            e.valid_from,
            e.valid_to,
        );
        keep!(
            rows.classes,
            classes,
            &e.id,
            ClassRow {
                name: boxed(&e.name),
                description: boxed(&e.description),
                span,
            }
        );
    }
    for e in &d.it_systems {
        let sec = Section::ItSystems;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let classification = e
            .classification
            .as_deref()
            .map(|x| c.resolve(sec, &e.id, "classification", Section::Classifications, x));
        keep!(
            rows.systems,
            systems,
            &e.id,
            SystemRow {
                name: boxed(&e.name),
                classification,
                required_loa: e.required_loa,
                required_attestation: e.required_attestation,
                span,
            }
        );
    }
    for e in &d.rights {
        let sec = Section::Rights;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let system = c.resolve(sec, &e.id, "it_system", Section::ItSystems, &e.it_system);
        let class = c.resolve(
            sec,
            &e.id,
            "classification",
            Section::Classifications,
            &e.classification,
        );
        keep!(
            rows.rights,
            rights,
            &e.id,
            RightRow {
                name: boxed(&e.name),
                system,
                class,
                action: boxed(&e.action),
                object_type: boxed(&e.object_type),
                required_loa: e.required_loa,
                span,
            }
        );
    }
    for e in &d.rules {
        let row = c.rule(e);
        keep!(rows.rules, rules, &e.id, row);
    }
    for e in &d.roles {
        let sec = Section::Roles;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        if e.classifications.is_empty() {
            c.problem(
                sec,
                &e.id,
                ProblemKind::InvalidField,
                "classifications is empty: a role has at least its owner classification".into(),
            );
        }
        let classes = c.edges(
            sec,
            &e.id,
            "classifications",
            Section::Classifications,
            &e.classifications,
        );
        let rights = c.edges(sec, &e.id, "rights", Section::Rights, &e.rights);
        let inherits = c.edges(sec, &e.id, "inherits", Section::Roles, &e.inherits);
        keep!(
            rows.roles,
            roles,
            &e.id,
            RoleRow {
                name: boxed(&e.name),
                description: boxed(&e.description),
                classes,
                rights,
                inherits,
                span,
            }
        );
    }
    for e in &d.organisations {
        let sec = Section::Organisations;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let parent = e
            .parent
            .as_ref()
            .map(|p| {
                c.edges(
                    sec,
                    &e.id,
                    "parent",
                    Section::Organisations,
                    std::slice::from_ref(p),
                )
            })
            .and_then(|v| v.first().copied());
        keep!(
            rows.orgs,
            orgs,
            &e.id,
            OrgRow {
                name: boxed(&e.name),
                parent,
                span,
            }
        );
    }
    for e in &d.persons {
        let span = c.period(Section::Persons, &e.id, "", e.valid_from, e.valid_to);
        keep!(
            rows.persons,
            persons,
            &e.id,
            PersonRow {
                name: boxed(&e.name),
                span,
            }
        );
    }
    for e in &d.users {
        let sec = Section::Users;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let subject = match (&e.person, &e.it_system) {
            (Some(p), None) => {
                Subject::Person(c.resolve(sec, &e.id, "person", Section::Persons, p))
            }
            (None, Some(s)) => {
                Subject::System(c.resolve(sec, &e.id, "it_system", Section::ItSystems, s))
            }
            _ => {
                c.problem(sec, &e.id, ProblemKind::InvalidField, "a user is either a person or an IT system: give exactly one of person and it_system".into());
                Subject::Person(NONE)
            }
        };
        keep!(
            rows.users,
            users,
            &e.id,
            UserRow {
                name: boxed(&e.name),
                subject,
                span,
            }
        );
    }
    for e in &d.attestations {
        let sec = Section::Attestations;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let target = match e.issuer.kind {
            IssuerKind::Organisation => Section::Organisations,
            IssuerKind::Person => Section::Persons,
            IssuerKind::User => Section::Users,
            IssuerKind::ItSystem => Section::ItSystems,
        };
        let issuer = c.resolve(sec, &e.id, "issuer", target, &e.issuer.id);
        let user = e
            .user
            .as_deref()
            .map(|u| c.resolve(sec, &e.id, "user", Section::Users, u));
        keep!(
            rows.attestations,
            attestations,
            &e.id,
            AttestationRow {
                name: boxed(&e.name),
                issuer: (e.issuer.kind, issuer),
                kind: e.kind,
                user,
                span,
            }
        );
    }
    for e in &d.assignments {
        let row = compile_assignment(
            c,
            e,
            &mut rows.role_edges,
            &mut rows.restrictions,
            &rows.attestations,
        );
        keep!(rows.assignments, assignments, &e.id, row);
    }
    for e in &d.assign_rights {
        let sec = Section::AssignRights;
        let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
        let user = c.resolve(sec, &e.id, "user", Section::Users, &e.user);
        let target = match (&e.role, &e.classification) {
            (Some(r), None) => AssignTarget::Role(c.resolve(sec, &e.id, "role", Section::Roles, r)),
            (None, Some(k)) => AssignTarget::Class(c.resolve(
                sec,
                &e.id,
                "classification",
                Section::Classifications,
                k,
            )),
            _ => {
                c.problem(
                    sec,
                    &e.id,
                    ProblemKind::InvalidField,
                    "an assign right names exactly one of role and classification".into(),
                );
                AssignTarget::Role(NONE)
            }
        };
        let start = n(rows.restrictions.len());
        for r in &e.restrictions {
            let r = c.restriction(sec, &e.id, r);
            rows.restrictions.push(r);
        }
        keep!(
            rows.assign_rights,
            assign_rights,
            &e.id,
            AssignRightRow {
                user,
                target,
                restrictions: Slice {
                    start,
                    len: n(e.restrictions.len()),
                },
                span,
            }
        );
    }
    rows
}

/// Compiles one assignment, appending its roles and restrictions to the arenas.
pub(crate) fn compile_assignment(
    c: &mut Compiler<'_>,
    e: &doc::UserRoleAssignment,
    role_edges: &mut Vec<Edge>,
    restrictions: &mut Vec<Restr>,
    attestations: &[AttestationRow],
) -> AssignmentRow {
    let sec = Section::Assignments;
    let span = c.period(sec, &e.id, "", e.valid_from, e.valid_to);
    let user = c.resolve(sec, &e.id, "user", Section::Users, &e.user);
    if e.roles.is_empty() {
        c.problem(
            sec,
            &e.id,
            ProblemKind::InvalidField,
            "roles is empty: an assignment assigns at least one role".into(),
        );
    }
    let roles = c.edges(sec, &e.id, "roles", Section::Roles, &e.roles);
    let assigned_by = e
        .assigned_by
        .as_deref()
        .map(|u| c.resolve(sec, &e.id, "assigned_by", Section::Users, u));
    let attestation = e
        .attestation
        .as_deref()
        .map(|a| c.resolve(sec, &e.id, "attestation", Section::Attestations, a));
    if let (Some(a), Some(b)) = (assigned_by, Some(user)) {
        if a == b && a != NONE {
            c.problem(
                sec,
                &e.id,
                ProblemKind::InvalidField,
                format!("user {:?} cannot assign roles to itself", e.user),
            );
        }
    }
    if let Some(att) = attestation.and_then(|a| attestations.get(a as usize)) {
        if let Some(au) = att.user {
            if au != user && user != NONE && au != NONE {
                c.problem(
                    sec,
                    &e.id,
                    ProblemKind::InvalidField,
                    format!(
                        "attestation {:?} authenticates another user than {:?}",
                        e.attestation.as_deref().unwrap_or(""),
                        e.user
                    ),
                );
            }
        }
    }
    let r_start = n(role_edges.len());
    role_edges.extend(roles);
    let s_start = n(restrictions.len());
    for r in &e.restrictions {
        let r = c.restriction(sec, &e.id, r);
        restrictions.push(r);
    }
    AssignmentRow {
        user,
        roles: Slice {
            start: r_start,
            len: n(e.roles.len()),
        },
        restrictions: Slice {
            start: s_start,
            len: n(e.restrictions.len()),
        },
        assigned_by,
        attestation,
        span,
        live: true,
    }
}

/// The strongly connected components of `adj` that contain a cycle (size > 1 or a
/// self-loop), by an iterative Tarjan (no recursion: a long chain cannot overflow the stack).
fn cyclic_components(adj: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let len = adj.len();
    let mut index = vec![u32::MAX; len];
    let mut low = vec![0u32; len];
    let mut on_stack = vec![false; len];
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0u32;
    let mut work: Vec<(u32, usize)> = Vec::new();
    for root in 0..len {
        if index.get(root).copied() != Some(u32::MAX) {
            continue;
        }
        work.push((n(root), 0));
        while let Some(&(v, next)) = work.last() {
            let vi = v as usize;
            if next == 0 && index.get(vi).copied() == Some(u32::MAX) {
                if let (Some(ix), Some(lw), Some(os)) =
                    (index.get_mut(vi), low.get_mut(vi), on_stack.get_mut(vi))
                {
                    *ix = counter;
                    *lw = counter;
                    *os = true;
                }
                counter += 1;
                stack.push(v);
            }
            if let Some(w) = adj.get(vi).and_then(|s| s.get(next)).copied() {
                if let Some(top) = work.last_mut() {
                    top.1 += 1;
                }
                let wi = w as usize;
                match index.get(wi).copied() {
                    Some(u32::MAX) => work.push((w, 0)),
                    Some(w_index) if on_stack.get(wi).copied().unwrap_or(false) => {
                        if let Some(lw) = low.get_mut(vi) {
                            *lw = (*lw).min(w_index);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            work.pop();
            let v_low = low.get(vi).copied().unwrap_or(0);
            if let Some(&(parent, _)) = work.last() {
                if let Some(pl) = low.get_mut(parent as usize) {
                    *pl = (*pl).min(v_low);
                }
            }
            if index.get(vi).copied() == Some(v_low) {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    if let Some(os) = on_stack.get_mut(w as usize) {
                        *os = false;
                    }
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = adj.get(vi).is_some_and(|s| s.contains(&v));
                if comp.len() > 1 || self_loop {
                    comp.reverse();
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cyclic_components;

    #[test]
    fn components_with_cycles() {
        // 0 → 1 → 2 → 0, 3 → 3, 4 → 0, 5 alone, 6 → 7 → 6
        let adj = vec![
            vec![1],
            vec![2],
            vec![0],
            vec![3],
            vec![0],
            vec![],
            vec![7],
            vec![6],
        ];
        let mut got: Vec<Vec<u32>> = cyclic_components(&adj)
            .into_iter()
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        got.sort();
        assert_eq!(got, vec![vec![0, 1, 2], vec![3], vec![6, 7]]);
        // A long chain does not overflow the stack.
        let chain: Vec<Vec<u32>> = (0..200_000u32)
            .map(|i| if i + 1 < 200_000 { vec![i + 1] } else { vec![] })
            .collect();
        assert!(cyclic_components(&chain).is_empty());
    }
}
