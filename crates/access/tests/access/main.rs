//! The access crate's tests: one binary (one link), data-driven tables per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin;
mod examples;
mod generate;
mod import;
mod rules;
mod sod;
mod support;
mod validity;
