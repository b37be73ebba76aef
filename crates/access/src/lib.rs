//! tillit-access: the Danish common public user-management model ("Begrebsmodel til
//! brugerstyring" 1.1) with NSIS levels of assurance, and its decision engine.
//!
//! # Shape
//! - [`Document`] is the model in its declarative form — every concept of the standard as a
//!   serde type ([`User`], [`UserRole`], [`AccessRight`], [`AccessRule`], [`Classification`],
//!   [`ItSystem`], [`Organisation`], [`Person`], [`UserRoleRestriction`],
//!   [`UserRoleAssignment`], [`UserRoleAttestation`], [`AttestationIssuer`], [`AssignRight`]),
//!   read from JSON or YAML and written as JSON (schema: `schema/access-document.schema.json`).
//! - [`Model::load`] compiles a document, all or nothing, into an indexed [`Model`]: interned
//!   ids, assignments by user, and each role's rights closure with inheritance paths and the
//!   period each path is valid in.
//! - [`Model::decide`] answers a [`CheckRequest`] with a [`Decision`] (allowed, plain-English
//!   reasons, and `via` the assignment, role and path); [`Model::effective_rights`] lists a
//!   user's rights at a time; [`Model::check_assignment`] / [`Model::assign`] enforce
//!   delegated administration and static separation of duties; [`Model::insert_rule`]
//!   re-checks existing assignments against a new rule.
//! - [`calendar`]: Danish, Swedish and Norwegian holidays, computed; [`nordic_local_time`].
//! - [`generate`]: a deterministic generator of large models for tests and benchmarks.
//!
//! # Invariants
//! Pure: no I/O, no clock (every time is an argument), no async. Every entity and edge has a
//! validity period that decisions evaluate at the decision's time.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod admin;
pub mod calendar;
mod decide;
mod document;
mod error;
pub mod generate;
mod model;
pub mod scim;
mod time;

pub use admin::{AssignmentCheck, SodViolation};
pub use calendar::Calendar;
pub use decide::{CheckRequest, Decision, EffectiveGrant, EffectiveRight, Exercise, Scope, Via};
pub use document::{
    AccessRight, AccessRule, Amount, AssignRight, AttestationIssuer, AttestationKind,
    Classification, Document, GroupMember, IssuerKind, ItSystem, Organisation, Person,
    ProvisionedGroup, ProvisionedUser, Provisioning, Ref, RuleKind, ScopeKind, SodMode, User,
    UserRole, UserRoleAssignment, UserRoleAttestation, UserRoleRestriction, MAX_DOCUMENT_BYTES,
};
pub use error::{AccessError, Problem, ProblemKind, Section};
pub use model::Model;
pub use tillit_core::{Loa, LoaVocabulary, LoginAssurance};
pub use time::{nordic_local_time, TimeOfDay, Timestamp, ValidityPeriod};
