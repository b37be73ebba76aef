//! A deterministic generator of large models, for tests (small) and the benchmark (issue 9:
//! 100,000 users, 2,000 roles with inheritance depth 5, 20,000 rights, 1,000,000 assignments
//! with restrictions), and of checks against them.
//!
//! Shape: roles in `depth` layers; a role of layer `l` inherits one (sometimes two) roles of
//! layer `l + 1`, so an assignment of a layer-0 role reaches its rights through paths of up to
//! `depth` roles. Each role holds `rights / roles` rights directly. Organisations form a
//! 10-ary tree. 70 % of assignments are restricted to one organisation (half of those with
//! its sub-organisations). Every 100th right has an amount ceiling, every 250th a "first 5
//! working days" window. Ids: `c{i}`, `s{i}`, `r{i}`, `g{layer}-{i}`, `o{i}`, `p{i}`, `u{i}`,
//! `a{i}`; the administrator is `admin`.

use crate::calendar::Calendar;
use crate::decide::CheckRequest;
use crate::document::*;
use crate::time::Timestamp;
use crate::Loa;

/// Sizes of a generated model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Users (besides `admin`).
    pub users: usize,
    /// Roles, spread over `depth` layers.
    pub roles: usize,
    /// Inheritance depth (layers).
    pub depth: usize,
    /// Rights.
    pub rights: usize,
    /// Assignments.
    pub assignments: usize,
    /// Organisations.
    pub organisations: usize,
    /// IT systems.
    pub it_systems: usize,
    /// The random seed.
    pub seed: u64,
}

impl Params {
    /// The benchmark's size (issue 9).
    pub const BENCHMARK: Params = Params {
        users: 100_000,
        roles: 2_000,
        depth: 5,
        rights: 20_000,
        assignments: 1_000_000,
        organisations: 1_000,
        it_systems: 20,
        seed: 9,
    };

    /// A small model with the same shape, for tests.
    pub const SMALL: Params = Params {
        users: 200,
        roles: 50,
        depth: 5,
        rights: 500,
        assignments: 2_000,
        organisations: 40,
        it_systems: 4,
        seed: 9,
    };
}

/// SplitMix64: small, fast, deterministic; not for secrets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn role_id(p: &Params, i: usize) -> String {
    let per_layer = (p.roles / p.depth.max(1)).max(1);
    format!("g{}-{i}", (i / per_layer).min(p.depth.saturating_sub(1)))
}

/// Generates a model document of size `p`; it loads without problems.
#[allow(clippy::field_reassign_with_default)] // sections are filled one by one, in order
pub fn generate(p: &Params) -> Document {
    let mut rng = Rng(p.seed);
    let classes = 10usize;
    let depth = p.depth.max(1);
    let per_layer = (p.roles / depth).max(1);
    let per_role = (p.rights / p.roles.max(1)).max(1);
    let mut d = Document::default();
    d.classifications = (0..classes)
        .map(|i| Classification {
            id: format!("c{i}"),
            name: None,
            description: None,
            valid_from: None,
            valid_to: None,
        })
        .collect();
    d.it_systems = (0..p.it_systems.max(1))
        .map(|i| ItSystem {
            id: format!("s{i}"),
            name: None,
            classification: Some(format!("c{}", i % classes)),
            required_loa: (i % 2 == 1).then_some(Loa::Substantial),
            required_attestation: None,
            valid_from: None,
            valid_to: None,
        })
        .collect();
    d.rights = (0..p.rights)
        .map(|i| AccessRight {
            id: format!("r{i}"),
            name: None,
            it_system: format!("s{}", i % p.it_systems.max(1)),
            classification: format!("c{}", i % classes),
            action: None,
            object_type: None,
            required_loa: None,
            valid_from: None,
            valid_to: None,
        })
        .collect();
    d.rules = (0..p.rights)
        .filter(|i| i % 100 == 7 || i % 250 == 3)
        .map(|i| {
            let amount = i % 100 == 7;
            AccessRule {
                id: format!("rule-r{i}"),
                name: None,
                description: None,
                kind: if amount {
                    RuleKind::AmountLimit
                } else {
                    RuleKind::TimeWindow
                },
                max_amount: amount.then(|| Amount::new(10_000.0)).flatten(),
                first_working_days: (!amount).then_some(5),
                calendar: (!amount).then_some(Calendar::Dk),
                from_time: None,
                to_time: None,
                mode: None,
                rights: vec![Ref::to(format!("r{i}"))],
                valid_from: None,
                valid_to: None,
            }
        })
        .collect();
    d.roles = (0..p.roles)
        .map(|i| {
            let layer = (i / per_layer).min(depth - 1);
            let mut inherits = Vec::new();
            if layer + 1 < depth {
                let next_start = (layer + 1) * per_layer;
                let next_len = if layer + 2 == depth {
                    p.roles.saturating_sub(next_start)
                } else {
                    per_layer
                };
                let a = next_start + (i % per_layer) % next_len.max(1);
                inherits.push(Ref::to(role_id(p, a)));
                if rng.chance(50) {
                    let b = next_start + rng.below(next_len.max(1));
                    if b != a {
                        inherits.push(Ref::to(role_id(p, b)));
                    }
                }
            }
            let rights = (0..per_role)
                .map(|k| Ref::to(format!("r{}", (i * per_role + k) % p.rights.max(1))))
                .collect();
            UserRole {
                id: role_id(p, i),
                name: None,
                description: None,
                classifications: vec![Ref::to(format!("c{}", i % classes))],
                rights,
                inherits,
                valid_from: None,
                valid_to: None,
            }
        })
        .collect();
    d.organisations = (0..p.organisations)
        .map(|i| Organisation {
            id: format!("o{i}"),
            name: None,
            parent: (i > 0).then(|| Ref::to(format!("o{}", (i - 1) / 10))),
            valid_from: None,
            valid_to: None,
        })
        .collect();
    let persons = (p.users * 9 / 10).max(1);
    d.persons = (0..persons)
        .map(|i| Person {
            id: format!("p{i}"),
            name: None,
            valid_from: None,
            valid_to: None,
        })
        .chain(std::iter::once(Person {
            id: "p-admin".into(),
            name: None,
            valid_from: None,
            valid_to: None,
        }))
        .collect();
    d.users = (0..p.users)
        .map(|i| User {
            id: format!("u{i}"),
            name: None,
            person: Some(format!("p{}", i % persons)),
            it_system: None,
            valid_from: None,
            valid_to: None,
        })
        .chain(std::iter::once(User {
            id: "admin".into(),
            name: None,
            person: Some("p-admin".into()),
            it_system: None,
            valid_from: None,
            valid_to: None,
        }))
        .collect();
    d.assignments = (0..p.assignments)
        .map(|i| {
            let role = if rng.chance(50) {
                rng.below(per_layer.min(p.roles))
            } else {
                rng.below(p.roles)
            };
            let restrictions = if rng.chance(70) {
                vec![UserRoleRestriction {
                    kind: ScopeKind::Organisation,
                    id: format!("o{}", rng.below(p.organisations.max(1))),
                    include_children: rng.chance(50),
                    valid_from: None,
                    valid_to: None,
                }]
            } else {
                Vec::new()
            };
            UserRoleAssignment {
                id: format!("a{i}"),
                user: format!("u{}", i % p.users.max(1)),
                roles: vec![Ref::to(role_id(p, role))],
                restrictions,
                assigned_by: Some("admin".into()),
                attestation: None,
                valid_from: None,
                valid_to: None,
            }
        })
        .collect();
    d.assign_rights = (0..classes)
        .map(|i| AssignRight {
            id: format!("admin-c{i}"),
            user: "admin".into(),
            role: None,
            classification: Some(format!("c{i}")),
            restrictions: Vec::new(),
            valid_from: None,
            valid_to: None,
        })
        .collect();
    if p.organisations == 0 {
        for a in &mut d.assignments {
            a.restrictions.clear();
        }
    }
    d
}

/// `n` checks against a document from [`generate`]: each picks an assignment's user and a
/// right of the assigned role or of a random role, an organisation scope that is the
/// assignment's restriction, one of its children or a random one, and an amount; at 10:00 on
/// 2 June 2025 (a working day) with Substantial. Roughly half are allowed.
pub fn checks(d: &Document, n: usize, seed: u64) -> Vec<CheckRequest> {
    let mut rng = Rng(seed ^ 0x5EED);
    let at = Timestamp(chrono::DateTime::from_timestamp(1_748_858_400, 0).unwrap_or_default());
    let mut out = Vec::with_capacity(n);
    if d.assignments.is_empty() || d.roles.is_empty() {
        return out;
    }
    for _ in 0..n {
        let Some(a) = d.assignments.get(rng.below(d.assignments.len())) else {
            continue;
        };
        let role_id = if rng.chance(80) {
            a.roles.first().map(|r| r.id.as_str())
        } else {
            d.roles.get(rng.below(d.roles.len())).map(|r| r.id.as_str())
        };
        let role = role_id.and_then(|id| d.roles.iter().find(|r| r.id == id));
        let right = role
            .and_then(|r| r.rights.get(rng.below(r.rights.len())))
            .map(|r| r.id.clone())
            .unwrap_or_else(|| "r0".into());
        let scope = match a.restrictions.first() {
            Some(x) if rng.chance(80) => x.id.clone(),
            _ => format!("o{}", rng.below(d.organisations.len().max(1))),
        };
        let mut c = CheckRequest::new(a.user.clone(), right)
            .scope(ScopeKind::Organisation, scope)
            .loa(Loa::Substantial);
        c.at = Some(at);
        c.amount = Amount::new(rng.below(20_000) as f64);
        out.push(c);
    }
    out
}
