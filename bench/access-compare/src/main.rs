//! Issue 9, item 9: Tillit's access engine against `cedar-policy` and `casbin`, each deciding an
//! equivalent policy over one generated model (`tillit_access::generate`, the benchmark's shape
//! scaled to `--users`).
//!
//! The policy all three decide: user U may exercise right R in organisation O when one of U's
//! assignments gives a role whose rights — its own and, transitively, those of the roles it
//! inherits (depth 5) — contain R, and the assignment is unrestricted, restricted to O, or
//! restricted to an ancestor of O with its sub-organisations. The generator's amount and
//! working-day rules are removed from the document for this comparison (Cedar and Casbin would
//! need them as attribute conditions; they cost Tillit one table lookup per decision), and the
//! checks carry no amount.
//!
//! The encodings, each the idiomatic one for its engine:
//! - **Cedar**: a group entity per (role, restriction) pair — `Grant::"A|k"` with `k` one of `*`
//!   (everywhere), `=O` (only O), `<O` (O and below) — whose parents are the grants of the roles
//!   A inherits (same `k`) and a `Perm::"R|k"` per right of A; a user's parents are the grants
//!   of their assignments. One policy: `permit(principal, action == Action::"exercise",
//!   resource) when { principal in context.candidates };` where the request's context lists the
//!   `Perm`s that would allow it: `R|*`, `R|=O`, and `R|<A` for O and each of its ancestors.
//!   (Cedar computes the entity hierarchy's transitive closure when it loads the entities.)
//! - **Casbin**: RBAC with domains and a domain-matching function (`key_match`): domains are
//!   organisation paths (`/o0/o3/o37/`), a restriction with sub-organisations is the pattern
//!   `/o0/o3/*`, unrestricted is `*`; `g = user, role, domain` per assignment, `g = A, B, *` per
//!   inheritance, `p = role, right` per right of a role; matcher
//!   `r.obj == p.obj && g(r.sub, p.sub, r.dom)` (the cheap comparison first).
//!
//! Each engine runs in its own process (`--engine`), so that its memory is its own: the report is
//! the load time, the resident memory the loaded policy adds, and p50/p99/mean per decision over
//! the same checks, after one untimed pass. The decisions are written to `--out` (one `0`/`1`
//! per check) so that the driver script can check that the three engines agree on every check.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tillit_access::generate::{self, Params};
use tillit_access::{CheckRequest, Document, Model};

struct Args {
    engine: String,
    users: usize,
    checks: usize,
    out: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        engine: String::new(),
        users: 10_000,
        checks: 10_000,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--engine" => a.engine = value()?,
            "--users" => a.users = value()?.parse()?,
            "--checks" => a.checks = value()?.parse()?,
            "--out" => a.out = Some(value()?),
            _ => bail!("unknown argument {flag}; usage: --engine tillit|cedar|casbin [--users N] [--checks N] [--out FILE]"),
        }
    }
    if !["tillit", "cedar", "casbin"].contains(&a.engine.as_str()) {
        bail!("--engine must be tillit, cedar or casbin");
    }
    Ok(a)
}

/// The benchmark's shape scaled to `users` (as `tillit access generate --users` scales it).
fn params(users: usize) -> Params {
    let b = Params::BENCHMARK;
    let scale = |n: usize| (n * users / b.users).max(1);
    Params {
        users,
        roles: scale(b.roles).max(b.depth),
        rights: scale(b.rights),
        assignments: scale(b.assignments),
        organisations: scale(b.organisations).max(10),
        ..b
    }
}

/// Resident memory of this process (KiB), from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One check, reduced to what the three engines are asked.
struct Check {
    user: String,
    right: String,
    org: String,
}

/// Organisation parents and paths.
struct Orgs {
    parent: HashMap<String, String>,
}

impl Orgs {
    fn new(d: &Document) -> Self {
        Self {
            parent: d
                .organisations
                .iter()
                .filter_map(|o| o.parent.as_ref().map(|p| (o.id.clone(), p.id.clone())))
                .collect(),
        }
    }

    /// `org` and its ancestors, nearest first.
    fn chain(&self, org: &str) -> Vec<String> {
        let mut out = vec![org.to_owned()];
        while let Some(p) = self.parent.get(out.last().map_or("", String::as_str)) {
            if out.contains(p) {
                break;
            }
            out.push(p.clone());
        }
        out
    }

    /// `/o0/o3/o37/`: the root first.
    fn path(&self, org: &str) -> String {
        let mut chain = self.chain(org);
        chain.reverse();
        format!("/{}/", chain.join("/"))
    }
}

trait Engine {
    fn decide(&self, c: &Check) -> anyhow::Result<bool>;
}

struct Tillit {
    model: Model,
    requests: Vec<CheckRequest>,
    now: chrono::DateTime<chrono::Utc>,
    index: std::cell::Cell<usize>,
}

impl Engine for Tillit {
    fn decide(&self, _c: &Check) -> anyhow::Result<bool> {
        let i = self.index.get();
        self.index.set((i + 1) % self.requests.len());
        Ok(self.model.decide(&self.requests[i], self.now, &[]).allowed)
    }
}

fn restriction_key(a: &tillit_access::UserRoleAssignment) -> String {
    match a.restrictions.first() {
        None => "*".into(),
        Some(r) if r.include_children => format!("<{}", r.id),
        Some(r) => format!("={}", r.id),
    }
}

struct Cedar {
    entities: cedar_policy::Entities,
    policies: cedar_policy::PolicySet,
    authorizer: cedar_policy::Authorizer,
    action: cedar_policy::EntityUid,
    orgs: Orgs,
    user_type: cedar_policy::EntityTypeName,
    perm_type: cedar_policy::EntityTypeName,
    right_type: cedar_policy::EntityTypeName,
}

fn uid(ty: &cedar_policy::EntityTypeName, id: &str) -> cedar_policy::EntityUid {
    cedar_policy::EntityUid::from_type_name_and_id(ty.clone(), cedar_policy::EntityId::new(id))
}

impl Cedar {
    fn load(d: &Document) -> anyhow::Result<Self> {
        use cedar_policy::{Entity, EntityTypeName};
        let user_type = EntityTypeName::from_str("User")?;
        let grant_type = EntityTypeName::from_str("Grant")?;
        let perm_type = EntityTypeName::from_str("Perm")?;
        let right_type = EntityTypeName::from_str("Right")?;
        let roles: HashMap<&str, &tillit_access::UserRole> =
            d.roles.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut user_parents: HashMap<&str, HashSet<cedar_policy::EntityUid>> = HashMap::new();
        let mut grants: HashMap<String, HashSet<cedar_policy::EntityUid>> = HashMap::new();
        let mut todo: Vec<(String, String)> = Vec::new();
        for a in &d.assignments {
            let key = restriction_key(a);
            for r in &a.roles {
                let id = format!("{}|{key}", r.id);
                user_parents
                    .entry(a.user.as_str())
                    .or_default()
                    .insert(uid(&grant_type, &id));
                todo.push((r.id.clone(), key.clone()));
            }
        }
        let mut perms: HashSet<String> = HashSet::new();
        while let Some((role, key)) = todo.pop() {
            let id = format!("{role}|{key}");
            if grants.contains_key(&id) {
                continue;
            }
            let mut parents = HashSet::new();
            if let Some(r) = roles.get(role.as_str()) {
                for inherited in &r.inherits {
                    parents.insert(uid(&grant_type, &format!("{}|{key}", inherited.id)));
                    todo.push((inherited.id.clone(), key.clone()));
                }
                for right in &r.rights {
                    let p = format!("{}|{key}", right.id);
                    parents.insert(uid(&perm_type, &p));
                    perms.insert(p);
                }
            }
            grants.insert(id, parents);
        }
        let entities = user_parents
            .into_iter()
            .map(|(u, parents)| Entity::new_no_attrs(uid(&user_type, u), parents))
            .chain(
                grants
                    .into_iter()
                    .map(|(g, parents)| Entity::new_no_attrs(uid(&grant_type, &g), parents)),
            )
            .chain(
                perms
                    .iter()
                    .map(|p| Entity::new_no_attrs(uid(&perm_type, p), HashSet::new())),
            );
        let entities = cedar_policy::Entities::from_entities(entities, None)?;
        let policies = cedar_policy::PolicySet::from_str(
            r#"permit(principal, action == Action::"exercise", resource) when { principal in context.candidates };"#,
        )?;
        Ok(Self {
            entities,
            policies,
            authorizer: cedar_policy::Authorizer::new(),
            action: cedar_policy::EntityUid::from_str(r#"Action::"exercise""#)?,
            orgs: Orgs::new(d),
            user_type,
            perm_type,
            right_type,
        })
    }
}

impl Engine for Cedar {
    fn decide(&self, c: &Check) -> anyhow::Result<bool> {
        use cedar_policy::RestrictedExpression as E;
        let r = &c.right;
        let mut candidates = vec![
            E::new_entity_uid(uid(&self.perm_type, &format!("{r}|*"))),
            E::new_entity_uid(uid(&self.perm_type, &format!("{r}|={}", c.org))),
        ];
        for o in self.orgs.chain(&c.org) {
            candidates.push(E::new_entity_uid(uid(
                &self.perm_type,
                &format!("{r}|<{o}"),
            )));
        }
        let context = cedar_policy::Context::from_pairs([(
            "candidates".to_string(),
            E::new_set(candidates),
        )])?;
        let request = cedar_policy::Request::new(
            uid(&self.user_type, &c.user),
            self.action.clone(),
            uid(&self.right_type, r),
            context,
            None,
        )?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities);
        Ok(response.decision() == cedar_policy::Decision::Allow)
    }
}

struct Casbin {
    enforcer: casbin::Enforcer,
    orgs: Orgs,
}

const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, dom, obj

[policy_definition]
p = sub, obj

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && g(r.sub, p.sub, r.dom)
"#;

impl Casbin {
    async fn load(d: &Document) -> anyhow::Result<Self> {
        use casbin::{CoreApi, MgmtApi, RoleManager};
        let orgs = Orgs::new(d);
        let model = casbin::DefaultModel::from_str(CASBIN_MODEL).await?;
        let mut enforcer = casbin::Enforcer::new(model, casbin::MemoryAdapter::default()).await?;
        let mut rm = casbin::DefaultRoleManager::new(10);
        rm.matching_fn(None, Some(casbin::function_map::key_match));
        enforcer.set_role_manager(Arc::new(parking_lot::RwLock::new(rm)))?;
        let mut inherits = Vec::new();
        let mut policies = Vec::new();
        for r in &d.roles {
            for i in &r.inherits {
                inherits.push(vec![r.id.clone(), i.id.clone(), "*".into()]);
            }
            for right in &r.rights {
                policies.push(vec![r.id.clone(), right.id.clone()]);
            }
        }
        enforcer.add_grouping_policies(inherits).await?;
        enforcer.add_policies(policies).await?;
        let mut links = Vec::new();
        for a in &d.assignments {
            let domain = match a.restrictions.first() {
                None => "*".to_string(),
                Some(r) if r.include_children => format!("{}*", orgs.path(&r.id)),
                Some(r) => orgs.path(&r.id),
            };
            for role in &a.roles {
                links.push(vec![a.user.clone(), role.id.clone(), domain.clone()]);
            }
        }
        enforcer.add_grouping_policies(links).await?;
        Ok(Self { enforcer, orgs })
    }
}

impl Engine for Casbin {
    fn decide(&self, c: &Check) -> anyhow::Result<bool> {
        use casbin::CoreApi;
        Ok(self.enforcer.enforce((
            c.user.as_str(),
            self.orgs.path(&c.org).as_str(),
            c.right.as_str(),
        ))?)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let params = params(a.users);
    let mut doc = generate::generate(&params);
    doc.rules.clear();
    let mut requests = generate::checks(&doc, a.checks, 1);
    for r in &mut requests {
        r.amount = None;
    }
    let checks: Vec<Check> = requests
        .iter()
        .map(|r| Check {
            user: r.user.clone(),
            right: r.right.clone(),
            org: r.scope.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
        })
        .collect();
    let before = rss_kib();
    let started = Instant::now();
    let engine: Box<dyn Engine> = match a.engine.as_str() {
        "tillit" => Box::new(Tillit {
            model: Model::load(&doc).map_err(|e| anyhow::anyhow!("{e}"))?,
            now: requests
                .first()
                .and_then(|r| r.at)
                .map_or_else(chrono::Utc::now, |t| t.0),
            requests,
            index: std::cell::Cell::new(0),
        }),
        "cedar" => Box::new(Cedar::load(&doc)?),
        _ => Box::new(
            tokio::runtime::Builder::new_current_thread()
                .build()?
                .block_on(Casbin::load(&doc))?,
        ),
    };
    let load = started.elapsed();
    let model_kib = rss_kib().saturating_sub(before);
    // One untimed pass (caches, page faults), then the timed one.
    let mut decisions = Vec::with_capacity(checks.len());
    for c in &checks {
        decisions.push(engine.decide(c)?);
    }
    let mut times = Vec::with_capacity(checks.len());
    for (c, first) in checks.iter().zip(&decisions) {
        let t = Instant::now();
        let allowed = engine.decide(c)?;
        times.push(t.elapsed());
        if allowed != *first {
            bail!("{} decided the same check two ways", a.engine);
        }
    }
    let total: Duration = times.iter().sum();
    times.sort_unstable();
    let allowed = decisions.iter().filter(|d| **d).count();
    if let Some(out) = &a.out {
        let bits: String = decisions
            .iter()
            .map(|d| if *d { '1' } else { '0' })
            .collect();
        std::fs::write(out, bits + "\n").with_context(|| format!("cannot write {out}"))?;
    }
    println!(
        "{{\"engine\":\"{}\",\"users\":{},\"assignments\":{},\"roles\":{},\"rights\":{},\"checks\":{},\"allowed\":{},\"load_s\":{:.2},\"model_mib\":{:.0},\"p50_us\":{:.2},\"p99_us\":{:.2},\"mean_us\":{:.2}}}",
        a.engine,
        params.users,
        params.assignments,
        params.roles,
        params.rights,
        checks.len(),
        allowed,
        load.as_secs_f64(),
        model_kib as f64 / 1024.0,
        percentile(&times, 0.50).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        total.as_secs_f64() * 1e6 / times.len().max(1) as f64,
    );
    Ok(())
}
