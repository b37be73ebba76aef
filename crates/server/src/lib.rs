//! tillit-server: the HTTP edge of Tillit (axum), its configuration, start-up and background jobs.
//!
//! Handlers are thin: parse, authenticate/authorize ([`auth`]), call the store (which writes the
//! audit entry in the same transaction), answer. Every error is rendered as an RFC 9457 problem
//! by [`error`]. The operations behind the CLI's `admin bootstrap`, `audit export|verify` and
//! `backup` live in [`ops`] so the binary stays a thin shell.
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

pub mod access;
mod access_api;
pub mod app;
pub mod attestations;
mod audit_api;
pub mod auth;
pub mod batches;
pub mod config;
pub mod error;
pub mod headers;
mod health;
mod idempotency;
pub mod jobs;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod oid4vci;
mod oidc;
pub mod openapi;
pub mod ops;
mod orgs;
mod paging;
pub mod runtime;
mod scim;
mod state;
pub mod tls;
mod tokens_api;
pub mod tree_heads;
pub mod trust;

pub use config::Config;
pub use runtime::{serve, start, start_with, RunningServer, ServerError};
pub use state::AppState;
