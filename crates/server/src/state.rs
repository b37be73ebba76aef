//! The state every handler sees.

use std::sync::Arc;

use tillit_store::Store;
use tokio::sync::Notify;

use crate::access::AccessCache;
use crate::auth::TokenCache;
use crate::config::Config;
use crate::keys::KeyService;
use crate::metrics::Metrics;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Request metrics.
    pub metrics: Metrics,
    /// Signing keys (sealed at rest under the master key).
    pub keys: KeyService,
    /// Woken after every audited write so the tree-head job can count new entries.
    pub audit_written: Arc<Notify>,
    /// The compiled access model in force, refreshed from the store (see `access`).
    pub access: AccessCache,
    /// Token lookups, trusted for `auth::TOKEN_CACHE_TTL`.
    pub tokens: TokenCache,
    /// OpenID providers' metadata and keys, and the outbound HTTP client.
    pub oidc: crate::oidc::OidcCache,
}
