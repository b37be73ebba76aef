use std::fmt;

use serde::Serialize;
use thiserror::Error;

/// The one error type of the access crate.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AccessError {
    /// A document that is not well-formed JSON or YAML, or that does not have the document's
    /// shape (an unknown field, a missing `id`, a wrong type). Nothing was loaded.
    #[error("the access document cannot be read: {0}")]
    Parse(String),
    /// A well-formed document that was refused whole; every offending entry is named.
    #[error("the access document was refused ({} problem{}): {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, ProblemList(.0))]
    Invalid(Vec<Problem>),
    /// A validity period that ends before (or when) it starts.
    #[error("validity period ends ({to}) before it starts ({from})")]
    InvalidPeriod {
        /// The start, RFC 3339.
        from: String,
        /// The end, RFC 3339.
        to: String,
    },
    /// A single value that does not have its type's form (a time of day, an amount, ...).
    #[error("invalid {what} {value:?}: {expected}")]
    InvalidValue {
        /// Which kind of value.
        what: &'static str,
        /// The input as given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// An identifier that names no entry of the model.
    #[error("unknown {section} {id:?}")]
    Unknown {
        /// The section the id was looked up in.
        section: Section,
        /// The id.
        id: String,
    },
    /// A proposed assignment that the model refuses; each reason is plain language.
    #[error("assignment refused: {}", .reasons.join("; "))]
    AssignmentRefused {
        /// Why, one sentence each.
        reasons: Vec<String>,
    },
    /// Writing the document failed (not expected for documents this crate built).
    #[error("the access document cannot be written: {0}")]
    Write(String),
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The sections (top-level arrays) of an access document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// `classifications`
    Classifications,
    /// `it_systems`
    ItSystems,
    /// `rights`
    Rights,
    /// `rules`
    Rules,
    /// `roles`
    Roles,
    /// `organisations`
    Organisations,
    /// `persons`
    Persons,
    /// `users`
    Users,
    /// `assignments`
    Assignments,
    /// `attestations`
    Attestations,
    /// `assign_rights`
    AssignRights,
}

impl Section {
    /// The array's name in the document.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Classifications => "classifications",
            Self::ItSystems => "it_systems",
            Self::Rights => "rights",
            Self::Rules => "rules",
            Self::Roles => "roles",
            Self::Organisations => "organisations",
            Self::Persons => "persons",
            Self::Users => "users",
            Self::Assignments => "assignments",
            Self::Attestations => "attestations",
            Self::AssignRights => "assign_rights",
        }
    }

    /// The singular noun for messages ("role", "IT system", ...).
    pub const fn noun(self) -> &'static str {
        match self {
            Self::Classifications => "classification",
            Self::ItSystems => "IT system",
            Self::Rights => "right",
            Self::Rules => "rule",
            Self::Roles => "role",
            Self::Organisations => "organisation",
            Self::Persons => "person",
            Self::Users => "user",
            Self::Assignments => "assignment",
            Self::Attestations => "attestation",
            Self::AssignRights => "assign right",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// One reason a document was refused, naming the entry (`section[id]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The section of the offending entry.
    pub section: Section,
    /// The offending entry's id.
    pub id: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The problem in plain language.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(section: Section, id: &str, kind: ProblemKind, message: String) -> Self {
        Self {
            section,
            id: id.to_owned(),
            kind,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]: {}",
            self.section.as_str(),
            self.id,
            self.message
        )
    }
}

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Two entries of one section share an id.
    DuplicateId,
    /// A reference to an entry that does not exist (or is of the wrong kind).
    DanglingReference,
    /// The entry is on a cycle (role inheritance, organisation parents).
    Cycle,
    /// A static separation-of-duties rule is violated by the entry (an assignment).
    SeparationOfDuties,
    /// A field value that is not allowed (a period ending before it starts, a rule without
    /// its parameters, both `person` and `it_system` on a user, ...).
    InvalidField,
}
