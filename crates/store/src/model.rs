//! The rows the store reads and writes, as domain types.

use chrono::{DateTime, Utc};
use tillit_core::{ApiTokenId, Country, OrgId, OrganisationNumber};

/// Which tenant a query on tenant-owned rows is about.
///
/// Every query on tenant-owned rows takes one: `Org(a)` sees only rows with `org_id = a`,
/// `Installation` sees only installation-wide rows (`org_id IS NULL`), never a tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Rows that belong to the installation itself (no organisation).
    Installation,
    /// Rows that belong to one organisation.
    Org(OrgId),
}

impl Scope {
    /// The `org_id` column value of rows in this scope.
    pub fn org_id(self) -> Option<OrgId> {
        match self {
            Self::Installation => None,
            Self::Org(id) => Some(id),
        }
    }

    /// The scope of a row with this `org_id`.
    pub fn of(org_id: Option<OrgId>) -> Self {
        org_id.map_or(Self::Installation, Self::Org)
    }
}

/// An organisation to create. The caller chooses the id (so the audit event can name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrg {
    /// A fresh UUIDv7.
    pub id: OrgId,
    /// Display name, e.g. "Ankeborgs kommun".
    pub name: String,
    /// The validated organisation number; its country is the organisation's country.
    pub org_number: OrganisationNumber,
}

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Identifier.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Country of registration.
    pub country: Country,
    /// National organisation number (unique per country).
    pub org_number: OrganisationNumber,
    /// When it was created (microsecond precision).
    pub created_at: DateTime<Utc>,
}

/// The scope string of a super-admin API token.
pub const SCOPE_SUPER_ADMIN: &str = "super-admin";

/// An API token to create. Only the SHA-256 of the secret is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// A fresh UUIDv7.
    pub id: ApiTokenId,
    /// The organisation it acts for; None for installation-wide (super-admin) tokens.
    pub org_id: Option<OrgId>,
    /// A label for people ("bootstrap", "ci").
    pub name: String,
    /// SHA-256 of the secret.
    pub token_hash: [u8; 32],
    /// What it may do; [`SCOPE_SUPER_ADMIN`] for now.
    pub scope: String,
}

/// A stored API token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Identifier.
    pub id: ApiTokenId,
    /// The organisation it acts for, None for installation-wide tokens.
    pub org_id: Option<OrgId>,
    /// Label.
    pub name: String,
    /// SHA-256 of the secret.
    pub token_hash: [u8; 32],
    /// What it may do.
    pub scope: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a signing key may still sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Signs new objects.
    Active,
    /// Kept to verify what it signed; signs nothing new.
    Retired,
}

impl KeyStatus {
    /// The stored text ("active", "retired").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A signing key to store. The private key arrives already sealed (AEAD) by the caller:
/// the store never sees a plaintext private key.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSigningKey {
    /// RFC 7638 JWK thumbprint; unique across the installation.
    pub kid: String,
    /// Owner; None for installation keys (e.g. the audit tree-head key).
    pub org_id: Option<OrgId>,
    /// What it signs: "audit", "issuer", "trust-list", ...
    pub purpose: String,
    /// JOSE algorithm name ("ES256", "EdDSA").
    pub alg: String,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
    /// `tillit_crypto::seal::seal` output of the private JWK.
    pub sealed_private: Vec<u8>,
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// RFC 7638 JWK thumbprint.
    pub kid: String,
    /// Owner; None for installation keys.
    pub org_id: Option<OrgId>,
    /// What it signs.
    pub purpose: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
    /// The sealed private JWK.
    pub sealed_private: Vec<u8>,
    /// Active or retired.
    pub status: KeyStatus,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A signed Merkle tree head (RFC 9162) over the audit log's first `tree_size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHeadRecord {
    /// Number of entries covered (seq 1..=tree_size).
    pub tree_size: u64,
    /// Merkle tree hash of those entries.
    pub root_hash: [u8; 32],
    /// When it was signed (microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// `kid` of the signing key.
    pub key_id: String,
    /// The signature, as produced by the audit crate.
    pub signature: Vec<u8>,
}

/// The response to a creating request sent with an `Idempotency-Key`, kept so that a retry with
/// the same key gets it again instead of creating a second resource (DESIGN.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// The authenticated principal that sent the request; keys are per actor.
    pub actor: String,
    /// The client's key (1–255 visible ASCII characters, checked by the server).
    pub key: String,
    /// SHA-256 of the request as the server understood it (method, path, parsed body).
    pub request_hash: [u8; 32],
    /// The success status sent (2xx).
    pub status: u16,
    /// The `Location` header sent, if any.
    pub location: Option<String>,
    /// The JSON body sent.
    pub body: String,
    /// When it was stored (microsecond precision).
    pub created_at: DateTime<Utc>,
}

/// Truncates to microseconds, the precision both backends store: a time written and read back
/// compares equal to `micros(t)`.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
