//! tillit-core: the small shared vocabulary of Tillit.
//!
//! Identifiers ([`OrgId`], [`ApiTokenId`]), the Nordic [`Country`] and
//! [`OrganisationNumber`] types, the [`Clock`] seam and cursor pagination
//! ([`Page`], [`PageRequest`]), and levels of assurance ([`Loa`], [`LoginAssurance`]). Pure: no I/O, no async, no database.
//! Only [`SystemClock`] and the `new()` id constructors read the wall clock;
//! domain code takes a `&dyn Clock` or a `DateTime<Utc>` instead.
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

mod clock;
mod country;
mod error;
mod ids;
mod loa;
mod orgnum;
mod page;

pub use clock::{Clock, FixedClock, SystemClock};
pub use country::Country;
pub use error::CoreError;
pub use ids::{ApiTokenId, OrgId};
pub use loa::{Loa, LoaVocabulary, LoginAssurance};
pub use orgnum::OrganisationNumber;
pub use page::{Page, PageRequest};
