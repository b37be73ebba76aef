//! SCIM Users and Groups on the access document: rendering, reading a client's representation,
//! PATCH on the representation, and keeping the model's users, persons and assignments in step
//! (see the parent module's doc for the mapping).

use std::collections::BTreeSet;

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tillit_access::scim::{parse_path, AttrPath, Filter, PatchPath};
use tillit_access::{
    Document, GroupMember, Person, ProvisionedGroup, ProvisionedUser, Ref, Timestamp, User,
    UserRoleAssignment,
};

use super::ScimError;

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Longest userName, displayName or externalId accepted, in characters.
const MAX_TEXT_CHARS: usize = 256;

/// Most members a group may have.
pub(crate) const MAX_MEMBERS: usize = 10_000;

/// Most operations in one PATCH request.
const MAX_OPERATIONS: usize = 100;

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Group,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub(crate) fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    pub(crate) fn schema(self) -> &'static str {
        match self {
            Kind::User => USER_SCHEMA,
            Kind::Group => GROUP_SCHEMA,
        }
    }

    /// `user` or `group`, for audit actions.
    pub(crate) fn audit(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether string comparisons on `attr` are case-exact (RFC 7643: `id`, `externalId`, member
/// `value`s and references are; names are not).
pub(crate) fn case_exact(attr: &AttrPath) -> bool {
    let last = attr.sub.as_deref().unwrap_or(&attr.name);
    ["id", "externalId", "value", "$ref"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(last))
        || attr.name.eq_ignore_ascii_case("id")
}

/// Whether the model's user `id` is valid at `now`.
pub(crate) fn user_active(d: &Document, id: &str, now: DateTime<Utc>) -> bool {
    d.users.iter().find(|u| u.id == id).is_some_and(|u| {
        u.valid_from.is_none_or(|f| f.0 <= now) && u.valid_to.is_none_or(|t| now < t.0)
    })
}

/// The live (not deleted) provisioned user `id`.
pub(crate) fn live_user<'d>(d: &'d Document, id: &str) -> Option<&'d ProvisionedUser> {
    d.provisioning
        .users
        .iter()
        .find(|u| u.id == id && u.deleted.is_none())
}

pub(crate) fn live_group<'d>(d: &'d Document, id: &str) -> Option<&'d ProvisionedGroup> {
    d.provisioning
        .groups
        .iter()
        .find(|g| g.id == id && g.deleted.is_none())
}

fn location(base: &str, kind: Kind, id: &str) -> String {
    format!("{base}/scim/v2/{}/{id}", kind.endpoint())
}

/// The weak ETag of a representation (without its `meta.version`).
fn etag(resource: &Value) -> String {
    let text = resource.to_string();
    let digest = hex::encode(tillit_crypto::sha256(text.as_bytes()));
    format!("W/\"{}\"", digest.get(..20).unwrap_or(&digest))
}

fn with_meta(
    mut resource: Value,
    kind: Kind,
    id: &str,
    base: &str,
    created: &Timestamp,
    modified: &Timestamp,
) -> Value {
    let mut meta = json!({
        "resourceType": kind.name(),
        "created": time(created.0),
        "lastModified": time(modified.0),
        "location": location(base, kind, id),
    });
    let version = etag(&json!([&resource, &meta]));
    if let Some(m) = meta.as_object_mut() {
        m.insert("version".into(), Value::String(version));
    }
    if let Some(o) = resource.as_object_mut() {
        o.insert("meta".into(), meta);
    }
    resource
}

/// A provisioned user as SCIM renders it.
pub(crate) fn render_user(
    d: &Document,
    rec: &ProvisionedUser,
    base: &str,
    now: DateTime<Utc>,
) -> Value {
    let mut o = Map::new();
    o.insert("schemas".into(), json!([USER_SCHEMA]));
    o.insert("id".into(), json!(rec.id));
    if let Some(x) = &rec.external_id {
        o.insert("externalId".into(), json!(x));
    }
    o.insert("userName".into(), json!(rec.user_name));
    if let Some(name) = d
        .persons
        .iter()
        .find(|p| p.id == rec.id)
        .and_then(|p| p.name.as_ref())
    {
        o.insert("displayName".into(), json!(name));
    }
    // An ended user is inactive whatever the client last said; otherwise what it said.
    let active = if user_active(d, &rec.id, now) {
        rec.active
    } else {
        Some(false)
    };
    if let Some(a) = active {
        o.insert("active".into(), json!(a));
    }
    with_meta(
        Value::Object(o),
        Kind::User,
        &rec.id,
        base,
        &rec.created,
        &rec.last_modified,
    )
}

/// A provisioned group as SCIM renders it.
pub(crate) fn render_group(rec: &ProvisionedGroup, base: &str) -> Value {
    let mut o = Map::new();
    o.insert("schemas".into(), json!([GROUP_SCHEMA]));
    o.insert("id".into(), json!(rec.id));
    if let Some(x) = &rec.external_id {
        o.insert("externalId".into(), json!(x));
    }
    o.insert("displayName".into(), json!(rec.display_name));
    if !rec.members.is_empty() {
        let members: Vec<Value> = rec
            .members
            .iter()
            .map(|m| json!({"value": m.user, "$ref": location(base, Kind::User, &m.user)}))
            .collect();
        o.insert("members".into(), Value::Array(members));
    }
    with_meta(
        Value::Object(o),
        Kind::Group,
        &rec.id,
        base,
        &rec.created,
        &rec.last_modified,
    )
}

/// The rendered resource `id` of `kind`, if it is live.
pub(crate) fn render(
    d: &Document,
    kind: Kind,
    id: &str,
    base: &str,
    now: DateTime<Utc>,
) -> Option<Value> {
    match kind {
        Kind::User => live_user(d, id).map(|r| render_user(d, r, base, now)),
        Kind::Group => live_group(d, id).map(|r| render_group(r, base)),
    }
}

/// Every live resource of `kind`, rendered.
pub(crate) fn render_all(d: &Document, kind: Kind, base: &str, now: DateTime<Utc>) -> Vec<Value> {
    match kind {
        Kind::User => d
            .provisioning
            .users
            .iter()
            .filter(|u| u.deleted.is_none())
            .map(|u| render_user(d, u, base, now))
            .collect(),
        Kind::Group => d
            .provisioning
            .groups
            .iter()
            .filter(|g| g.deleted.is_none())
            .map(|g| render_group(g, base))
            .collect(),
    }
}

/// `meta.version` of a rendered resource.
pub(crate) fn version_of(resource: &Value) -> Option<&str> {
    resource.get("meta")?.get("version")?.as_str()
}

// ---------------------------------------------------------------------------------------------
// Reading a client's representation

fn get_ci<'v>(o: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
}

fn text(o: &Map<String, Value>, name: &str, required: bool) -> Result<Option<String>, ScimError> {
    match get_ci(o, name) {
        None if required => Err(invalid(format!("{name} is required"))),
        None => Ok(None),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if s.trim().is_empty() && required {
                return Err(invalid(format!("{name} must not be empty")));
            }
            if n > MAX_TEXT_CHARS {
                return Err(invalid(format!(
                    "{name} is longer than {MAX_TEXT_CHARS} characters"
                )));
            }
            if s.chars().any(char::is_control) {
                return Err(invalid(format!("{name} contains control characters")));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

fn check_schemas(o: &Map<String, Value>, kind: Kind) -> Result<(), ScimError> {
    match get_ci(o, "schemas") {
        None => Ok(()),
        Some(Value::Array(list))
            if list.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(kind.schema()))
            }) =>
        {
            Ok(())
        }
        Some(_) => Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("schemas must list {}", kind.schema()),
        )),
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, ScimError> {
    v.as_object().ok_or_else(|| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "the body must be a JSON object",
        )
    })
}

/// A User as a client writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserInput {
    pub(crate) user_name: String,
    pub(crate) display_name: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) active: Option<bool>,
}

pub(crate) fn user_input(v: &Value) -> Result<UserInput, ScimError> {
    let o = object(v)?;
    check_schemas(o, Kind::User)?;
    let active = match get_ci(o, "active") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        // Some directories send "True" / "False".
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => return Err(invalid("active must be true or false")),
    };
    Ok(UserInput {
        user_name: text(o, "userName", true)?.unwrap_or_default(),
        display_name: text(o, "displayName", false)?,
        external_id: text(o, "externalId", false)?,
        active,
    })
}

/// A Group as a client writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupInput {
    pub(crate) display_name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) members: Vec<String>,
}

pub(crate) fn group_input(v: &Value) -> Result<GroupInput, ScimError> {
    let o = object(v)?;
    check_schemas(o, Kind::Group)?;
    let mut members: Vec<String> = Vec::new();
    match get_ci(o, "members") {
        None => {}
        Some(Value::Array(list)) => {
            if list.len() > MAX_MEMBERS {
                return Err(invalid(format!("at most {MAX_MEMBERS} members")));
            }
            for m in list {
                let value = m
                    .as_object()
                    .and_then(|m| get_ci(m, "value"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid("each member is an object with a string value (a User id)")
                    })?;
                if !members.iter().any(|x| x == value) {
                    members.push(value.to_owned());
                }
            }
        }
        Some(_) => return Err(invalid("members must be an array")),
    }
    Ok(GroupInput {
        display_name: text(o, "displayName", true)?.unwrap_or_default(),
        external_id: text(o, "externalId", false)?,
        members,
    })
}

// ---------------------------------------------------------------------------------------------
// PATCH on the representation

fn find_key(o: &Map<String, Value>, name: &str) -> String {
    o.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
}

/// Applies a PatchOp body (RFC 7644 §3.5.2) to `resource` (its representation without `meta`).
pub(crate) fn apply_patch(resource: &mut Value, kind: Kind, body: &Value) -> Result<(), ScimError> {
    let b = object(body)?;
    let schemas_ok = get_ci(b, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("schemas must be [\"{PATCH_SCHEMA}\"]"),
        ));
    }
    let ops = get_ci(b, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "Operations must be an array",
            )
        })?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            format!("Operations holds 1 to {MAX_OPERATIONS} operations"),
        ));
    }
    for op in ops {
        let op = object(op)?;
        let name = get_ci(op, "op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let path = match get_ci(op, "path") {
            None => None,
            Some(Value::String(p)) => {
                Some(parse_path(p).map_err(|e| invalid_path(format!("path: {e}")))?)
            }
            Some(_) => return Err(invalid_path("path must be a string")),
        };
        let value = get_ci(op, "value").cloned();
        match (name.as_str(), path, value) {
            ("remove", None, _) => return Err(no_target("remove needs a path")),
            ("remove", Some(p), _) => apply_one(resource, kind, Op::Remove, &p, Value::Null)?,
            ("add" | "replace", None, Some(Value::Object(attrs))) => {
                let op = if name == "add" { Op::Add } else { Op::Replace };
                for (k, v) in attrs {
                    // Some clients write sub-attributes as dotted keys ("name.givenName").
                    let p = parse_path(&k).map_err(|e| invalid_path(format!("{k}: {e}")))?;
                    apply_one(resource, kind, op, &p, v)?;
                }
            }
            ("add" | "replace", None, _) => {
                return Err(invalid(
                    "an add or replace without a path needs an object value",
                ))
            }
            ("add" | "replace", Some(_), None) => {
                return Err(invalid("add and replace need a value"))
            }
            ("add", Some(p), Some(v)) => apply_one(resource, kind, Op::Add, &p, v)?,
            ("replace", Some(p), Some(v)) => apply_one(resource, kind, Op::Replace, &p, v)?,
            _ => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidSyntax"),
                    "op must be add, replace or remove",
                ))
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn apply_one(
    resource: &mut Value,
    kind: Kind,
    op: Op,
    path: &PatchPath,
    value: Value,
) -> Result<(), ScimError> {
    if let Some(uri) = &path.attr.uri {
        if !uri.eq_ignore_ascii_case(kind.schema()) {
            return Err(invalid_path(format!(
                "{uri} is not a schema of this resource"
            )));
        }
    }
    let name = path.attr.name.as_str();
    if ["id", "meta", "schemas"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
    {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("mutability"),
            format!("{name} cannot be changed"),
        ));
    }
    let o = resource.as_object_mut().ok_or_else(|| {
        ScimError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "resource is not an object",
        )
    })?;
    let key = find_key(o, name);
    match &path.filter {
        None => match (&path.attr.sub, op) {
            (Some(sub), Op::Remove) => {
                if let Some(Value::Object(inner)) = o.get_mut(&key) {
                    let k = find_key(inner, sub);
                    inner.remove(&k);
                }
            }
            (Some(sub), _) => {
                let entry = o.entry(key).or_insert_with(|| Value::Object(Map::new()));
                let inner = entry
                    .as_object_mut()
                    .ok_or_else(|| invalid_path(format!("{name} has no sub-attributes")))?;
                let k = find_key(inner, sub);
                inner.insert(k, value);
            }
            (None, Op::Remove) => {
                o.remove(&key);
            }
            (None, Op::Add) => match (o.get_mut(&key), value) {
                (Some(Value::Array(existing)), Value::Array(more)) => {
                    for v in more {
                        if !existing.contains(&v) {
                            existing.push(v);
                        }
                    }
                }
                (Some(Value::Array(existing)), v) => {
                    if !existing.contains(&v) {
                        existing.push(v);
                    }
                }
                (_, v) => {
                    o.insert(key, v);
                }
            },
            (None, Op::Replace) => {
                o.insert(key, value);
            }
        },
        Some(filter) => {
            let list = match o.get_mut(&key) {
                Some(Value::Array(list)) => list,
                _ if op == Op::Remove => return Ok(()),
                _ => return Err(no_target(format!("{name} has no values to match"))),
            };
            let hit = |v: &Value, f: &Filter| f.matches(v, &case_exact);
            match (op, &path.sub) {
                (Op::Remove, None) => list.retain(|v| !hit(v, filter)),
                (Op::Remove, Some(sub)) => {
                    for v in list.iter_mut().filter(|v| hit(v, filter)) {
                        if let Some(inner) = v.as_object_mut() {
                            let k = find_key(inner, sub);
                            inner.remove(&k);
                        }
                    }
                }
                (_, sub) => {
                    let mut matched = 0;
                    for v in list.iter_mut() {
                        if !hit(v, filter) {
                            continue;
                        }
                        matched += 1;
                        match sub {
                            None => *v = value.clone(),
                            Some(sub) => {
                                if let Some(inner) = v.as_object_mut() {
                                    let k = find_key(inner, sub);
                                    inner.insert(k, value.clone());
                                }
                            }
                        }
                    }
                    if matched == 0 {
                        return Err(no_target(format!("no value of {name} matches the filter")));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Changes of the document

fn conflict(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
}

fn not_found(kind: Kind, id: &str) -> ScimError {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        format!("no {} {id}", kind.name()),
    )
}

fn user_name_taken(d: &Document, name: &str, except: Option<&str>) -> bool {
    d.provisioning.users.iter().any(|u| {
        u.deleted.is_none()
            && Some(u.id.as_str()) != except
            && u.user_name.to_lowercase() == name.to_lowercase()
    })
}

/// Provisions a new user (and its person) with id `id`.
pub(crate) fn create_user(
    d: &mut Document,
    id: &str,
    input: UserInput,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    if user_name_taken(d, &input.user_name, None) {
        return Err(conflict(format!("userName {:?} is taken", input.user_name)));
    }
    if d.users.iter().any(|u| u.id == id) || d.persons.iter().any(|p| p.id == id) {
        return Err(conflict(format!(
            "the access model has a user or person {id} already"
        )));
    }
    d.persons.push(Person {
        id: id.to_owned(),
        name: input.display_name.clone(),
        valid_from: None,
        valid_to: None,
    });
    d.users.push(User {
        id: id.to_owned(),
        name: Some(input.user_name.clone()),
        person: Some(id.to_owned()),
        it_system: None,
        valid_from: None,
        valid_to: None,
    });
    d.provisioning.users.push(ProvisionedUser {
        id: id.to_owned(),
        user_name: input.user_name,
        external_id: input.external_id,
        active: input.active,
        created: Timestamp(now),
        last_modified: Timestamp(now),
        deleted: None,
    });
    if input.active == Some(false) {
        set_active(d, id, false, now);
    }
    Ok(())
}

/// Replaces a user's attributes. `active` absent leaves the activation as it is (an omitted
/// attribute never reactivates anyone).
pub(crate) fn replace_user(
    d: &mut Document,
    id: &str,
    input: UserInput,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    if live_user(d, id).is_none() {
        return Err(not_found(Kind::User, id));
    }
    if user_name_taken(d, &input.user_name, Some(id)) {
        return Err(conflict(format!("userName {:?} is taken", input.user_name)));
    }
    if let Some(p) = d.persons.iter_mut().find(|p| p.id == id) {
        p.name = input.display_name.clone();
    }
    if let Some(u) = d.users.iter_mut().find(|u| u.id == id) {
        u.name = Some(input.user_name.clone());
    }
    if let Some(r) = d
        .provisioning
        .users
        .iter_mut()
        .find(|u| u.id == id && u.deleted.is_none())
    {
        r.user_name = input.user_name;
        r.external_id = input.external_id;
        if input.active.is_some() {
            r.active = input.active;
        }
        r.last_modified = Timestamp(now);
    }
    if let Some(a) = input.active {
        set_active(d, id, a, now);
    }
    Ok(())
}

/// Like [`replace_user`], except that an absent `active` means active (a PATCH that removed it).
pub(crate) fn patch_user(
    d: &mut Document,
    id: &str,
    input: UserInput,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    let active = input.active;
    replace_user(d, id, input, now)?;
    if active.is_none() {
        if let Some(r) = d
            .provisioning
            .users
            .iter_mut()
            .find(|u| u.id == id && u.deleted.is_none())
        {
            r.active = None;
        }
        set_active(d, id, true, now);
    }
    Ok(())
}

/// Ends (from `now`) or reopens a user. Ending also ends every open assignment of the user;
/// reopening takes away an end that has passed (a later, planned end stays).
pub(crate) fn set_active(d: &mut Document, id: &str, active: bool, now: DateTime<Utc>) {
    let Some(u) = d.users.iter_mut().find(|u| u.id == id) else {
        return;
    };
    if active {
        if u.valid_to.is_some_and(|t| t.0 <= now) {
            u.valid_to = None;
        }
        return;
    }
    if u.valid_to.is_none_or(|t| now < t.0) {
        u.valid_to = Some(Timestamp(now));
    }
    let open: Vec<String> = d
        .assignments
        .iter()
        .filter(|a| a.user == id && a.valid_to.is_none_or(|t| now < t.0))
        .map(|a| a.id.clone())
        .collect();
    for a in open {
        end_assignment(d, &a, now);
    }
}

/// Ends an assignment at `now`; one that has not begun by then is removed.
fn end_assignment(d: &mut Document, id: &str, now: DateTime<Utc>) {
    let Some(i) = d.assignments.iter().position(|a| a.id == id) else {
        return;
    };
    let begun = d
        .assignments
        .get(i)
        .and_then(|a| a.valid_from)
        .is_none_or(|f| f.0 < now);
    if begun {
        if let Some(a) = d.assignments.get_mut(i) {
            if a.valid_to.is_none_or(|t| now < t.0) {
                a.valid_to = Some(Timestamp(now));
            }
        }
    } else {
        d.assignments.remove(i);
    }
}

/// Deletes a user: ended (with its assignments) and gone from SCIM; the model keeps it.
pub(crate) fn delete_user(d: &mut Document, id: &str, now: DateTime<Utc>) -> Result<(), ScimError> {
    if live_user(d, id).is_none() {
        return Err(not_found(Kind::User, id));
    }
    set_active(d, id, false, now);
    if let Some(r) = d
        .provisioning
        .users
        .iter_mut()
        .find(|u| u.id == id && u.deleted.is_none())
    {
        r.deleted = Some(Timestamp(now));
        r.last_modified = Timestamp(now);
    }
    for g in d
        .provisioning
        .groups
        .iter_mut()
        .filter(|g| g.deleted.is_none())
    {
        if g.members.iter().any(|m| m.user == id) {
            g.last_modified = Timestamp(now);
        }
    }
    // Its memberships' assignments were ended with the user; the memberships go.
    for g in d.provisioning.groups.iter_mut() {
        g.members.retain(|m| m.user != id);
    }
    Ok(())
}

fn check_members(d: &Document, members: &[String]) -> Result<(), ScimError> {
    for m in members {
        if live_user(d, m).is_none() {
            return Err(invalid(format!("member {m} is not a User of this service")));
        }
    }
    Ok(())
}

/// Sets a group's members, ending the assignments of those who leave.
fn set_members(d: &mut Document, gid: &str, members: Vec<String>, now: DateTime<Utc>) {
    let Some(g) = d
        .provisioning
        .groups
        .iter_mut()
        .find(|g| g.id == gid && g.deleted.is_none())
    else {
        return;
    };
    let keep: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let leaving: Vec<String> = g
        .members
        .iter()
        .filter(|m| !keep.contains(m.user.as_str()))
        .filter_map(|m| m.assignment.clone())
        .collect();
    let mut next: Vec<GroupMember> = Vec::with_capacity(members.len());
    for user in members {
        let assignment = g
            .members
            .iter()
            .find(|m| m.user == user)
            .and_then(|m| m.assignment.clone());
        next.push(GroupMember { user, assignment });
    }
    g.members = next;
    for a in leaving {
        end_assignment(d, &a, now);
    }
}

pub(crate) fn create_group(
    d: &mut Document,
    id: &str,
    input: GroupInput,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    check_members(d, &input.members)?;
    if d.provisioning.groups.iter().any(|g| g.id == id) {
        return Err(conflict(format!("a group {id} exists already")));
    }
    d.provisioning.groups.push(ProvisionedGroup {
        id: id.to_owned(),
        display_name: input.display_name,
        external_id: input.external_id,
        roles: Vec::new(),
        restrictions: Vec::new(),
        members: input
            .members
            .into_iter()
            .map(|user| GroupMember {
                user,
                assignment: None,
            })
            .collect(),
        created: Timestamp(now),
        last_modified: Timestamp(now),
        deleted: None,
    });
    Ok(())
}

pub(crate) fn replace_group(
    d: &mut Document,
    id: &str,
    input: GroupInput,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    if live_group(d, id).is_none() {
        return Err(not_found(Kind::Group, id));
    }
    check_members(d, &input.members)?;
    if let Some(g) = d
        .provisioning
        .groups
        .iter_mut()
        .find(|g| g.id == id && g.deleted.is_none())
    {
        g.display_name = input.display_name;
        g.external_id = input.external_id;
        g.last_modified = Timestamp(now);
    }
    set_members(d, id, input.members, now);
    Ok(())
}

pub(crate) fn delete_group(
    d: &mut Document,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), ScimError> {
    if live_group(d, id).is_none() {
        return Err(not_found(Kind::Group, id));
    }
    set_members(d, id, Vec::new(), now);
    if let Some(g) = d
        .provisioning
        .groups
        .iter_mut()
        .find(|g| g.id == id && g.deleted.is_none())
    {
        g.deleted = Some(Timestamp(now));
        g.last_modified = Timestamp(now);
    }
    Ok(())
}

/// Brings the model's assignments in step with the groups: every member of a live group with
/// roles who is active holds one open assignment of exactly the group's roles and restrictions;
/// any other assignment a membership made is ended. `assigned_by` is the provisioning caller's
/// user (none for an administrator token). `new_id` makes assignment ids.
pub(crate) fn reconcile(
    d: &mut Document,
    now: DateTime<Utc>,
    assigned_by: Option<&str>,
    new_id: &mut dyn FnMut() -> String,
) {
    let mut to_end: Vec<String> = Vec::new();
    let mut to_add: Vec<UserRoleAssignment> = Vec::new();
    let users_active: Vec<(String, bool)> = d
        .provisioning
        .users
        .iter()
        .map(|u| {
            (
                u.id.clone(),
                u.deleted.is_none() && user_active(d, &u.id, now),
            )
        })
        .collect();
    let is_active = |id: &str| users_active.iter().any(|(u, a)| u == id && *a);
    let assignments = &d.assignments;
    for g in d.provisioning.groups.iter_mut() {
        let live = g.deleted.is_none() && !g.roles.is_empty();
        let roles: Vec<Ref> = g.roles.iter().map(|r| Ref::to(r.as_str())).collect();
        for m in g.members.iter_mut() {
            let desired = live && is_active(&m.user);
            if let Some(aid) = m.assignment.clone() {
                let current = assignments.iter().find(|a| a.id == aid).filter(|a| {
                    a.valid_to.is_none_or(|t| now < t.0)
                        && a.user == m.user
                        && a.roles == roles
                        && a.restrictions == g.restrictions
                });
                if !desired || current.is_none() {
                    to_end.push(aid);
                    m.assignment = None;
                }
            }
            if desired && m.assignment.is_none() {
                let id = new_id();
                to_add.push(UserRoleAssignment {
                    id: id.clone(),
                    user: m.user.clone(),
                    roles: roles.clone(),
                    restrictions: g.restrictions.clone(),
                    assigned_by: assigned_by.map(str::to_owned),
                    attestation: None,
                    valid_from: Some(Timestamp(now)),
                    valid_to: None,
                });
                m.assignment = Some(id);
            }
        }
    }
    for a in to_end {
        end_assignment(d, &a, now);
    }
    d.assignments.extend(to_add);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(v: Value) -> Result<UserInput, ScimError> {
        user_input(&v)
    }

    #[test]
    fn user_representations() {
        let ok = |n: &str, d: Option<&str>, a: Option<bool>| UserInput {
            user_name: n.into(),
            display_name: d.map(str::to_owned),
            external_id: None,
            active: a,
        };
        let cases: Vec<(Value, Result<UserInput, &str>)> = vec![
            (
                json!({"userName": "bjensen"}),
                Ok(ok("bjensen", None, None)),
            ),
            (
                json!({"schemas": [USER_SCHEMA], "USERNAME": "b", "displayName": "B J", "active": "False"}),
                Ok(ok("b", Some("B J"), Some(false))),
            ),
            (
                json!({"userName": "b", "active": true, "displayName": null}),
                Ok(ok("b", None, Some(true))),
            ),
            (
                json!({"userName": "b", "title": "ignored"}),
                Ok(ok("b", None, None)),
            ),
            (json!({}), Err("userName is required")),
            (json!({"userName": " "}), Err("must not be empty")),
            (json!({"userName": 5}), Err("must be a string")),
            (
                json!({"userName": "b", "active": "yes"}),
                Err("active must be"),
            ),
            (json!({"userName": "a\u{0}b"}), Err("control")),
            (json!({"userName": "x".repeat(257)}), Err("longer than")),
            (
                json!({"schemas": [GROUP_SCHEMA], "userName": "b"}),
                Err("schemas must list"),
            ),
            (json!(["userName"]), Err("JSON object")),
        ];
        for (v, want) in cases {
            match (user(v.clone()), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{v}"),
                (Err(e), Err(want)) => assert!(e.detail.contains(want), "{v}: {}", e.detail),
                (got, want) => panic!("{v}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn patches_on_representations() {
        let base = json!({
            "schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G",
            "members": [{"value": "a"}, {"value": "b"}]
        });
        let patch = |ops: Value| json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        // (operations, the members' values afterwards or the error's scimType)
        let cases: Vec<(Value, Result<Vec<&str>, &str>)> = vec![
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "c"}]}]),
                Ok(vec!["a", "b", "c"]),
            ),
            (
                json!([{"op": "Add", "path": "members", "value": [{"value": "a"}]}]),
                Ok(vec!["a", "b"]),
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
                Ok(vec!["b"]),
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"zz\"]"}]),
                Ok(vec!["a", "b"]),
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]),
                Ok(vec![]),
            ),
            (json!([{"op": "remove", "path": "members"}]), Ok(vec![])),
            (
                json!([{"op": "replace", "path": "members", "value": [{"value": "d"}]}]),
                Ok(vec!["d"]),
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"b\"]", "value": {"value": "e"}}]),
                Ok(vec!["a", "e"]),
            ),
            (
                json!([{"op": "replace", "value": {"members": [{"value": "f"}]}}]),
                Ok(vec!["f"]),
            ),
            (
                json!([{"op": "add", "value": {"members": [{"value": "f"}]}}]),
                Ok(vec!["a", "b", "f"]),
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"zz\"]", "value": {"value": "e"}}]),
                Err("noTarget"),
            ),
            (json!([{"op": "remove"}]), Err("noTarget")),
            (
                json!([{"op": "remove", "path": "members[value eq"}]),
                Err("invalidPath"),
            ),
            (
                json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:members"}]),
                Err("invalidPath"),
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                Err("mutability"),
            ),
            (
                json!([{"op": "move", "path": "members"}]),
                Err("invalidSyntax"),
            ),
            (
                json!([{"op": "add", "path": "members"}]),
                Err("invalidValue"),
            ),
            (json!([]), Err("invalidSyntax")),
        ];
        for (ops, want) in cases {
            let mut r = base.clone();
            let got = apply_patch(&mut r, Kind::Group, &patch(ops.clone()))
                .map(|()| group_input(&r).unwrap().members);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{ops}"),
                (Err(e), Err(want)) => assert_eq!(e.scim_type, Some(want), "{ops}: {}", e.detail),
                (got, want) => panic!("{ops}: {got:?} vs {want:?}"),
            }
        }
        // Without the PatchOp schema the body is refused.
        let mut r = base.clone();
        let e = apply_patch(&mut r, Kind::Group, &json!({"Operations": []})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        // Users: active, a dotted key, a URN path.
        let mut u = json!({"schemas": [USER_SCHEMA], "id": "u", "userName": "b", "active": true});
        apply_patch(&mut u, Kind::User, &patch(json!([
            {"op": "replace", "value": {"active": "False", "displayName": "B"}},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "c"},
            {"op": "add", "path": "externalId", "value": "x-1"},
        ]))).unwrap();
        let input = user_input(&u).unwrap();
        assert_eq!(
            (
                input.user_name.as_str(),
                input.display_name.as_deref(),
                input.external_id.as_deref(),
                input.active
            ),
            ("c", Some("B"), Some("x-1"), Some(false))
        );
    }
}
