//! The declarative access document: every concept of the model as it is written, imported
//! (JSON or YAML) and exported (JSON). Its JSON Schema is `schema/access-document.schema.json`.
//!
//! Each entry has an `id` (unique in its section) and optional `valid_from` / `valid_to`
//! (its virkningsperiode). A reference to another entry in a list (`rights`, `inherits`,
//! `roles`, `classifications`) or in `parent` is either the other entry's id or, when the
//! edge itself has a validity period, `{"id": …, "valid_from": …, "valid_to": …}`.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tillit_core::Loa;

use crate::calendar::Calendar;
use crate::time::{TimeOfDay, Timestamp};
use crate::AccessError;

/// A whole access document (the model in its declarative form).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Classifications (klassifikationer).
    #[serde(default)]
    pub classifications: Vec<Classification>,
    /// IT systems (it-systemer).
    #[serde(default)]
    pub it_systems: Vec<ItSystem>,
    /// Access rights (adgangsrettigheder).
    #[serde(default)]
    pub rights: Vec<AccessRight>,
    /// Access rules (adgangsregler).
    #[serde(default)]
    pub rules: Vec<AccessRule>,
    /// User roles (brugerroller).
    #[serde(default)]
    pub roles: Vec<UserRole>,
    /// Organisations.
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    /// Persons.
    #[serde(default)]
    pub persons: Vec<Person>,
    /// Users (brugere).
    #[serde(default)]
    pub users: Vec<User>,
    /// User role assignments (brugerrolletildelinger).
    #[serde(default)]
    pub assignments: Vec<UserRoleAssignment>,
    /// User role attestations (brugerrolleattester).
    #[serde(default)]
    pub attestations: Vec<UserRoleAttestation>,
    /// Rights to assign roles (retten til at tildele brugerrolle).
    #[serde(default)]
    pub assign_rights: Vec<AssignRight>,
    /// What provisioning (SCIM 2.0) keeps beside the model: its users' and groups' attributes
    /// the model has no place for. The model itself ignores it; the users, persons and
    /// assignments provisioning makes are ordinary entries of the sections above.
    #[serde(default, skip_serializing_if = "Provisioning::is_empty")]
    pub provisioning: Provisioning,
}

/// Provisioning state: one entry per user and group made through SCIM.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioning {
    /// Provisioned users (each names a user of `users`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<ProvisionedUser>,
    /// Provisioned groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ProvisionedGroup>,
}

impl Provisioning {
    /// Nothing provisioned.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// A user made through SCIM: the model's user `id` (its person has the same id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedUser {
    /// The user's id in `users` (and its person's in `persons`); the SCIM resource id.
    pub id: String,
    /// SCIM `userName`: unique among provisioned users that are not deleted, ignoring case.
    pub user_name: String,
    /// SCIM `externalId`: the provisioning client's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `active` as the client last set it (absent: not said, which means active). A user whose
    /// virkningsperiode has ended is inactive whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// When it was provisioned.
    pub created: Timestamp,
    /// When SCIM last changed it.
    pub last_modified: Timestamp,
    /// When it was deleted through SCIM (the user, ended, stays in the model for history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Timestamp>,
}

/// A group made through SCIM: its members are assigned the group's `roles`, limited by its
/// `restrictions`, each membership one assignment of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedGroup {
    /// The SCIM resource id.
    pub id: String,
    /// SCIM `displayName`.
    pub display_name: String,
    /// SCIM `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The roles every member is assigned. Set by an access administrator in the document,
    /// never through SCIM (a directory must not decide which rights its groups carry).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Where those assignments apply (none: everywhere).
    #[serde(default)]
    pub restrictions: Vec<UserRoleRestriction>,
    /// The members.
    #[serde(default)]
    pub members: Vec<GroupMember>,
    /// When it was provisioned.
    pub created: Timestamp,
    /// When SCIM last changed it.
    pub last_modified: Timestamp,
    /// When it was deleted through SCIM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Timestamp>,
}

/// One member of a provisioned group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMember {
    /// The member's user id.
    pub user: String,
    /// The open assignment of the group's roles to this member, if any (none while the group
    /// has no roles or the user is inactive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
}

/// Largest document accepted by [`Document::parse`] (bytes); larger ones are refused before
/// parsing so an upload cannot exhaust memory.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024 * 1024;

impl Document {
    /// How many entries each section holds, as written.
    pub fn counts(&self) -> Vec<(crate::Section, usize)> {
        use crate::Section;
        vec![
            (Section::Classifications, self.classifications.len()),
            (Section::ItSystems, self.it_systems.len()),
            (Section::Rights, self.rights.len()),
            (Section::Rules, self.rules.len()),
            (Section::Roles, self.roles.len()),
            (Section::Organisations, self.organisations.len()),
            (Section::Persons, self.persons.len()),
            (Section::Users, self.users.len()),
            (Section::Assignments, self.assignments.len()),
            (Section::Attestations, self.attestations.len()),
            (Section::AssignRights, self.assign_rights.len()),
        ]
    }

    /// Parses JSON (when the first non-blank character is `{`) or YAML.
    pub fn parse(text: &str) -> Result<Document, AccessError> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_yaml(text)
        }
    }

    /// Parses a JSON document.
    pub fn from_json(text: &str) -> Result<Document, AccessError> {
        check_size(text)?;
        serde_json::from_str(text).map_err(|e| AccessError::Parse(e.to_string()))
    }

    /// Parses a YAML document.
    pub fn from_yaml(text: &str) -> Result<Document, AccessError> {
        check_size(text)?;
        serde_norway::from_str(text).map_err(|e| AccessError::Parse(e.to_string()))
    }

    /// Writes the document as pretty JSON.
    pub fn to_json(&self) -> Result<String, AccessError> {
        serde_json::to_string_pretty(self).map_err(|e| AccessError::Write(e.to_string()))
    }
}

fn check_size(text: &str) -> Result<(), AccessError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(AccessError::Parse(format!(
            "document is {} bytes; at most {MAX_DOCUMENT_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(())
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A reference to another entry, optionally with the edge's own validity period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ref {
    /// The referenced entry's id.
    pub id: String,
    /// Start of the edge's validity (inclusive).
    pub valid_from: Option<Timestamp>,
    /// End of the edge's validity (exclusive).
    pub valid_to: Option<Timestamp>,
}

impl Ref {
    /// A reference without a validity period of its own.
    pub fn to(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            valid_from: None,
            valid_to: None,
        }
    }
}

impl From<&str> for Ref {
    fn from(id: &str) -> Self {
        Self::to(id)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatedRef {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_to: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RefRepr {
    Id(String),
    Dated(DatedRef),
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.valid_from.is_none() && self.valid_to.is_none() {
            s.serialize_str(&self.id)
        } else {
            DatedRef {
                id: self.id.clone(),
                valid_from: self.valid_from,
                valid_to: self.valid_to,
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RefRepr::deserialize(d) {
            Ok(RefRepr::Id(id)) => Ok(Ref::to(id)),
            Ok(RefRepr::Dated(r)) => Ok(Ref {
                id: r.id,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
            }),
            Err(_) => Err(serde::de::Error::custom(
                "expected an id, or {\"id\", \"valid_from\", \"valid_to\"} with no other fields",
            )),
        }
    }
}

/// Classification (klassifikation): an owner namespace for roles and rights, e.g.
/// "Fællesoffentlig", "Sundhed", "Økonomistyrelsen".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// IT system (it-system): a service, application or register that uses rights and roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItSystem {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The classification the system belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// The login level every right of this system requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_loa: Option<Loa>,
    /// The weakest attestation kind this system accepts for an assignment that grants one of
    /// its rights (e.g. `digital_signature`: a power of attorney signed digitally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_attestation: Option<AttestationKind>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// Access right (adgangsrettighed): an action on an object type in an IT system, e.g.
/// "Ordinationsret", "Opdatere en patientjournal".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRight {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IT system the right is exercised in.
    pub it_system: String,
    /// The one classification of the right.
    pub classification: String,
    /// The action ("create", "update", "approve", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The object type acted on ("case", "patient record", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    /// The login level the right requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_loa: Option<Loa>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// The kinds of access rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// An amount ceiling (`max_amount`).
    AmountLimit,
    /// A time window (`first_working_days` with `calendar`, and/or `from_time`/`to_time`).
    TimeWindow,
    /// Separation of duties between the rule's rights (`mode`).
    SeparationOfDuties,
}

/// The two modes of separation of duties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SodMode {
    /// No user may hold two of the rights (checked at assignment and at import).
    Static,
    /// No user (nor another user of the same person) may exercise two of the rights on the
    /// same object (checked at decision time against the recorded exercises).
    Object,
}

/// Access rule (adgangsregel) limiting one or more rights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The rule as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which kind of rule.
    pub kind: RuleKind,
    /// `amount_limit`: the largest allowed amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<Amount>,
    /// `time_window`: only the first N working days of the month (needs `calendar`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_working_days: Option<u32>,
    /// `time_window`: the holiday calendar for working days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<Calendar>,
    /// `time_window`: earliest local time of day (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<TimeOfDay>,
    /// `time_window`: latest local time of day (exclusive); before `from_time` wraps midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<TimeOfDay>,
    /// `separation_of_duties`: static or per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SodMode>,
    /// The rights the rule applies to (for separation of duties: the mutually exclusive ones).
    #[serde(default)]
    pub rights: Vec<Ref>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// User role (brugerrolle): a group of rights assigned en bloc; may inherit the rights of
/// other roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRole {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The classifications of the role: the first is its owner; the others are those it is
    /// shared into (by agreement), each edge with its own validity.
    pub classifications: Vec<Ref>,
    /// The rights the role groups directly.
    #[serde(default)]
    pub rights: Vec<Ref>,
    /// The roles whose rights this role inherits (arver fra).
    #[serde(default)]
    pub inherits: Vec<Ref>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// Organisation (myndighed, virksomhed, interessefællesskab), optionally under a parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The parent organisation (the edge may have its own validity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Ref>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// Person: a natural person, who may act as several users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// User (bruger): a person or an IT system identified by a credential. Exactly one of
/// `person` and `it_system`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique id (e.g. the credential's user name, "RIGET1747").
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The person acting as this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The IT system acting as this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub it_system: Option<String>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// What a restriction or a decision's scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// An organisation.
    Organisation,
    /// A person.
    Person,
    /// An IT system.
    ItSystem,
}

impl ScopeKind {
    /// The name used in documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Person => "person",
            Self::ItSystem => "it_system",
        }
    }
}

/// User role restriction (brugerrollerestriktion): what an assignment (or an assign right)
/// is limited to — an organisation (with its sub-organisations when `include_children`),
/// a person or an IT system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoleRestriction {
    /// What the id names.
    pub kind: ScopeKind,
    /// The organisation's, person's or IT system's id.
    pub id: String,
    /// For an organisation: also its sub-organisations (transitively).
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_children: bool,
    /// Start of the restriction's validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// End of the restriction's validity (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// User role assignment (brugerrolletildeling): roles given to one user, limited by
/// restrictions, attested, and made by another user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoleAssignment {
    /// Unique id.
    pub id: String,
    /// The user the roles are assigned to.
    pub user: String,
    /// The roles assigned (each edge may have its own validity).
    pub roles: Vec<Ref>,
    /// Limits; none means the roles apply everywhere. When some are given but none is valid
    /// at a time, the assignment allows nothing at that time.
    #[serde(default)]
    pub restrictions: Vec<UserRoleRestriction>,
    /// The user who made the assignment (absent only for assignments made by the
    /// installation itself, such as the first administrator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
    /// The attestation documenting the assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// How an assignment was attested, weakest first (the order used for an IT system's
/// `required_attestation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationKind {
    /// A declaration on trust and honour (tro og love-erklæring).
    SelfDeclaration,
    /// A consent (samtykke), e.g. to pass on health data.
    Consent,
    /// A power of attorney (fuldmagt).
    PowerOfAttorney,
    /// An employment contract (ansættelseskontrakt).
    EmploymentContract,
    /// Signed with a digital signature.
    DigitalSignature,
}

impl AttestationKind {
    /// The name used in documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SelfDeclaration => "self_declaration",
            Self::Consent => "consent",
            Self::PowerOfAttorney => "power_of_attorney",
            Self::EmploymentContract => "employment_contract",
            Self::DigitalSignature => "digital_signature",
        }
    }
}

/// What kind of party an attestation issuer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerKind {
    /// An organisation ("Århus Kommune").
    Organisation,
    /// A person.
    Person,
    /// A user ("Brugeradministrator Jens Jensen").
    User,
    /// An IT system ("Security Token Service").
    ItSystem,
}

/// Attestation issuer (attestudsteder): the party that issued an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationIssuer {
    /// What the id names.
    pub kind: IssuerKind,
    /// The issuer's id in its section.
    pub id: String,
}

/// User role attestation (brugerrolleattest): the document behind one or more assignments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoleAttestation {
    /// Unique id.
    pub id: String,
    /// Display name ("Ansættelseskontrakt ift. Økonomiministeriet").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who issued it.
    pub issuer: AttestationIssuer,
    /// How it was attested.
    pub kind: AttestationKind,
    /// The one user it authenticates; an assignment using it must be that user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// The right to assign a role (retten til at tildele brugerrolle): delegated
/// administration. `user` may assign `role` — or any role classified (owned or shared) in
/// `classification` — within `restrictions` (none: anywhere), also to another organisation's
/// users. Exactly one of `role` and `classification`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRight {
    /// Unique id.
    pub id: String,
    /// The administrator who may assign.
    pub user: String,
    /// The role that may be assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Or: every role in this classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Where assignments made under this right may apply.
    #[serde(default)]
    pub restrictions: Vec<UserRoleRestriction>,
    /// Virkningsperiode start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    /// Virkningsperiode end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
}

/// A non-negative, finite amount (for amount ceilings); the currency is the IT system's.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Amount(f64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0.0);

    /// An amount; `None` when negative, NaN or infinite.
    pub fn new(v: f64) -> Option<Amount> {
        (v.is_finite() && v >= 0.0).then_some(Amount(v))
    }

    /// The value.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl FromStr for Amount {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<f64>()
            .ok()
            .and_then(Amount::new)
            .ok_or_else(|| AccessError::InvalidValue {
                what: "amount",
                value: s.to_owned(),
                expected: "a finite number ≥ 0",
            })
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Amount::new(v).ok_or_else(|| serde::de::Error::custom("expected a finite amount ≥ 0"))
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
