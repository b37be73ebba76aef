//! Attestation formats and the one verification pipeline.
//!
//! Pure: no I/O, no async, no clock (the verification time comes in
//! [`report::VerifyOptions`]), no key material except what the caller passes.
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

pub mod base45;
pub mod bundle;
pub mod cose;
pub mod cwt;
pub mod deflate;
pub mod error;
pub mod hcert;
pub mod oid4vci;
pub mod qr;
pub mod render;
pub mod report;
pub mod sdjwt;
pub mod service;
pub mod status_list;
pub mod trust;
pub mod verify;

pub use error::CredentialError;
